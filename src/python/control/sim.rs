//! `SimVehicle`: the Rust simulation, steppable from Python or run by a Rust
//! loop that applies a command buffer's latest command.

use super::super::buffers::PyStateBuffer;
use super::super::convert::now;
use super::super::convert::{array_n, type_name, Timeout};
use super::super::states::PyFastDroneState;
use super::args::{
    Drag, Gravity, Mass, PitchRate, RateHz, RateTimeConstant, RollRate, StepDt, Thrust, YawRate,
};
use super::wrapper::PyRealTimeControlWrapper;
use super::{loop_config, Runner};
use crate::control::pid::Command;
use crate::control::sim::{Simulation, Vehicle};
use crate::control::RtPolicy;
use crate::sync::{lock, Mutex};
use crate::SlotRing;
use crate::Source;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;

/// `rtstate.control.sim::Vehicle`, steppable from Python or by a Rust loop
/// that applies the latest command of a wrapper (or of `set_command`).
#[pyclass(frozen, weakref, module = "rtstate", name = "SimVehicle")]
pub struct PySimVehicle {
    sim: Simulation,
    command: SlotRing<Command>,
    runner: Mutex<Option<Runner>>,
}

#[pymethods]
impl PySimVehicle {
    #[new]
    #[pyo3(signature = (mass=Mass(1.0), gravity=Gravity(9.81), *, drag=Drag(0.0), disturbance=None,
        rate_time_constant=RateTimeConstant(0.03)),
        text_signature = "(mass=1.0, gravity=9.81, *, drag=0.0, disturbance=None, rate_time_constant=0.03)")]
    fn new(
        mass: Mass,
        gravity: Gravity,
        drag: Drag,
        disturbance: Option<Bound<'_, PyAny>>,
        rate_time_constant: RateTimeConstant,
    ) -> PyResult<Self> {
        let disturbance = match disturbance.filter(|d| !d.is_none()) {
            None => [0.0; 3],
            Some(d) => array_n::<3>(&d, "disturbance", Some("N"))?,
        };
        let mut v = Vehicle::new(mass.0, gravity.0);
        v.drag = drag.0;
        v.disturbance = disturbance;
        v.rate_time_constant = rate_time_constant.0;
        Ok(PySimVehicle {
            sim: Simulation::new(v),
            command: SlotRing::new(4)?,
            runner: Mutex::new(None),
        })
    }

    /// The true state now.
    fn measurement(&self) -> PyFastDroneState {
        PyFastDroneState::wrap(self.sim.measurement())
    }

    /// Simulated time, s.
    #[getter]
    fn time(&self) -> f64 {
        self.sim.time()
    }

    /// Sets the command a running sim loop applies when it follows no
    /// controller.
    #[pyo3(signature = (thrust, roll_rate=RollRate(0.0), pitch_rate=PitchRate(0.0),
        yaw_rate=YawRate(0.0)),
        text_signature = "($self, thrust, roll_rate=0.0, pitch_rate=0.0, yaw_rate=0.0)")]
    fn set_command(
        &self,
        thrust: Thrust,
        roll_rate: RollRate,
        pitch_rate: PitchRate,
        yaw_rate: YawRate,
    ) -> PyResult<()> {
        let c = Command {
            timestamp: now(),
            thrust: thrust.0,
            roll_rate: roll_rate.0,
            pitch_rate: pitch_rate.0,
            yaw_rate: yaw_rate.0,
        };
        self.command
            .publish(c, Source::intern("python"))
            .map_err(|e| PyErr::from(e.error))?;
        Ok(())
    }

    /// Advances the simulation by `dt` s under a command.
    #[pyo3(signature = (thrust, roll_rate=RollRate(0.0), pitch_rate=PitchRate(0.0),
        yaw_rate=YawRate(0.0), dt=StepDt(0.001)),
        text_signature = "($self, thrust, roll_rate=0.0, pitch_rate=0.0, yaw_rate=0.0, dt=0.001)")]
    fn step(
        &self,
        thrust: Thrust,
        roll_rate: RollRate,
        pitch_rate: PitchRate,
        yaw_rate: YawRate,
        dt: StepDt,
    ) {
        let c = Command {
            timestamp: 0.0,
            thrust: thrust.0,
            roll_rate: roll_rate.0,
            pitch_rate: pitch_rate.0,
            yaw_rate: yaw_rate.0,
        };
        self.sim.step(&c, dt.0);
    }

    /// Runs the simulation on a Rust loop at `rate_hz`: each tick it applies
    /// the latest command of `controller` (a `RealTimeControlWrapper`) or of
    /// `set_command`, advances by the measured tick interval (substeps of
    /// ≤ 1 ms), and publishes the true state to `state_buffer` (a
    /// `FastDroneStateBuffer`) if given. Before the first command the
    /// vehicle is held still.
    #[pyo3(signature = (rate_hz=RateHz(1000.0), controller=None, state_buffer=None),
        text_signature = "($self, rate_hz=1000.0, controller=None, state_buffer=None)")]
    fn start(
        &self,
        py: Python<'_>,
        rate_hz: RateHz,
        controller: Option<Bound<'_, PyAny>>,
        state_buffer: Option<Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let rate_hz = rate_hz.0;
        let controller = controller
            .filter(|c| !c.is_none())
            .map(|c| {
                c.cast_into::<PyRealTimeControlWrapper>().map_err(|e| {
                    PyTypeError::new_err(format!(
                        "`controller` must be a RealTimeControlWrapper or None, got {}",
                        type_name(&e.into_inner())
                    ))
                })
            })
            .transpose()?;
        let state_buffer = state_buffer
            .filter(|b| !b.is_none())
            .map(|b| {
                b.cast_into::<PyStateBuffer>().map_err(|e| {
                    PyTypeError::new_err(format!(
                        "`state_buffer` must be a FastDroneStateBuffer or None, got {}",
                        type_name(&e.into_inner())
                    ))
                })
            })
            .transpose()?;
        let commands = match &controller {
            Some(c) => c.get().autopilot.command.clone(),
            None => self.command.clone(),
        };
        let truth = match state_buffer.as_ref().map(|b| b.get().store.fast_ring()) {
            None => None,
            Some(Some(ring)) => Some(ring.clone()),
            Some(None) => {
                return Err(PyTypeError::new_err(
                    "`state_buffer` must be an in-process FastDroneStateBuffer or None",
                ))
            }
        };
        let config = loop_config(
            rate_hz,
            None,
            0,
            None,
            false,
            None,
            RtPolicy::Warn,
            false,
            "rtstate-sim",
            "rate_hz",
        )?;
        let runner = Runner::new(config)?;
        runner.start(py, || {}, self.sim.tick(commands, truth))?;
        let old = lock(&self.runner).replace(runner);
        drop(old);
        Ok(())
    }

    /// Stops the sim loop.
    #[pyo3(signature = (timeout=Timeout::secs(1)),
        text_signature = "($self, timeout=1.0)")]
    fn stop(&self, py: Python<'_>, timeout: Timeout) -> PyResult<()> {
        let runner = lock(&self.runner).take();
        if let Some(r) = runner {
            r.stop(py, timeout.0)?;
        }
        Ok(())
    }

    /// Whether the sim loop runs.
    fn is_running(&self) -> bool {
        lock(&self.runner).as_ref().is_some_and(Runner::is_running)
    }
}
