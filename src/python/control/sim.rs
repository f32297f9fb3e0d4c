//! `SimVehicle`: the Rust simulation, steppable from Python or run by a Rust
//! loop that applies a command buffer's latest command.

use super::super::buffers::{PyStateBuffer, Store};
use super::super::convert::now;
use super::super::states::PyFastDroneState;
use super::wrapper::PyRealTimeControlWrapper;
use super::{limit_from_secs, loop_config, Runner};
use crate::control::pid::Command;
use crate::control::sim::{Simulation, Vehicle};
use crate::sync::{lock, Mutex};
use crate::SlotRing;
use crate::Source;
use pyo3::exceptions::{PyTypeError, PyValueError};
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
    #[pyo3(signature = (mass=1.0, gravity=9.81, *, drag=0.0, disturbance=None, rate_time_constant=0.03))]
    fn new(
        mass: f64,
        gravity: f64,
        drag: f64,
        disturbance: Option<[f64; 3]>,
        rate_time_constant: f64,
    ) -> PyResult<Self> {
        for (name, v) in [
            ("mass", mass),
            ("gravity", gravity),
            ("rate_time_constant", rate_time_constant),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(PyValueError::new_err(format!(
                    "{name} must be finite and > 0, got {v}"
                )));
            }
        }
        let mut v = Vehicle::new(mass, gravity);
        v.drag = drag;
        v.disturbance = disturbance.unwrap_or_default();
        v.rate_time_constant = rate_time_constant;
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
    #[pyo3(signature = (thrust, roll_rate=0.0, pitch_rate=0.0, yaw_rate=0.0))]
    fn set_command(
        &self,
        thrust: f64,
        roll_rate: f64,
        pitch_rate: f64,
        yaw_rate: f64,
    ) -> PyResult<()> {
        let c = Command {
            timestamp: now(),
            thrust,
            roll_rate,
            pitch_rate,
            yaw_rate,
        };
        self.command
            .publish(c, Source::intern("python"))
            .map_err(|e| PyErr::from(e.error))?;
        Ok(())
    }

    /// Advances the simulation by `dt` s under a command.
    #[pyo3(signature = (thrust, roll_rate=0.0, pitch_rate=0.0, yaw_rate=0.0, dt=0.001))]
    fn step(&self, thrust: f64, roll_rate: f64, pitch_rate: f64, yaw_rate: f64, dt: f64) {
        let c = Command {
            timestamp: 0.0,
            thrust,
            roll_rate,
            pitch_rate,
            yaw_rate,
        };
        self.sim.step(&c, dt);
    }

    /// Runs the simulation on a Rust loop at `rate_hz`: each tick it applies
    /// the latest command of `controller` (a `RealTimeControlWrapper`) or of
    /// `set_command`, advances by the measured tick interval (substeps of
    /// ≤ 1 ms), and publishes the true state to `state_buffer` (a
    /// `FastDroneStateBuffer`) if given. Before the first command the
    /// vehicle is held still.
    #[pyo3(signature = (rate_hz=1000.0, controller=None, state_buffer=None))]
    fn start(
        &self,
        py: Python<'_>,
        rate_hz: f64,
        controller: Option<Bound<'_, PyRealTimeControlWrapper>>,
        state_buffer: Option<Bound<'_, PyStateBuffer>>,
    ) -> PyResult<()> {
        let commands = match &controller {
            Some(c) => c.get().autopilot.command.clone(),
            None => self.command.clone(),
        };
        let truth = match state_buffer.as_ref().map(|b| &b.get().store) {
            None => None,
            Some(Store::Fast { ring, .. }) => Some(ring.clone()),
            Some(Store::Objects(_)) => {
                return Err(PyTypeError::new_err(
                    "state_buffer must be a FastDroneStateBuffer",
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
            "warn",
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
    #[pyo3(signature = (timeout=1.0))]
    fn stop(&self, py: Python<'_>, timeout: f64) -> PyResult<()> {
        let timeout = limit_from_secs("timeout", timeout)?;
        let runner = lock(&self.runner).take();
        if let Some(r) = runner {
            r.stop(py, timeout)?;
        }
        Ok(())
    }

    /// Whether the sim loop runs.
    fn is_running(&self) -> bool {
        lock(&self.runner).as_ref().is_some_and(Runner::is_running)
    }
}
