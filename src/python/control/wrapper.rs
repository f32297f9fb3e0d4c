//! `RealTimeControlWrapper`: DART-Planner's wrapper on the Rust autopilot,
//! with Python callbacks called from the loop thread only when set.

use super::super::buffers::{PyDroneStateBuffer, PyFastDroneStateBuffer, PyStateBuffer};
use super::super::convert::{floats, now, real, type_name, Timeout};
use super::super::estimated::drone_state_from_estimate;
use super::super::states::{PyDroneState, PyFastDroneState};
use super::super::store::Entry;
use super::super::subscription;
use super::args::{
    callback_arg, gain, CpuAffinity, FrequencyHz, LockMemory, Priority, RealtimePolicy, SpinUs,
    TimerSlackNs, UseFastState,
};
use super::{loop_config, stats_dict, LastError, Runner};
use crate::control::pid::{Command, Config, Gains, Setpoint, StageGains};
use crate::control::Relaxed;
use crate::control::RtPolicy;
use crate::control::{Autopilot, Tick};
use crate::sync::Arc;
use crate::{Error, FastDroneState, SlotRing, Source, StateBuffer, Version};
use arc_swap::ArcSwapOption;
use pyo3::exceptions::PyTypeError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

/// The default buffer sizes (those of the Python classes).
const DEFAULT_FAST_SIZE: usize = 5;
const DEFAULT_OBJECT_SIZE: usize = 10;

/// The wrapper's Python callbacks, read lock-free by the loop.
#[derive(Default)]
struct Callbacks {
    state: ArcSwapOption<Py<PyAny>>,
    command: ArcSwapOption<Py<PyAny>>,
    error: ArcSwapOption<Py<PyAny>>,
    errors: Relaxed,
    calls: Relaxed,
    last_error: LastError,
}

impl Callbacks {
    /// Counts and keeps `err`, hands its message to the error callback (whose
    /// own exception is reported as unraisable); returns the message.
    fn failed(&self, py: Python<'_>, err: PyErr) -> String {
        self.errors.add(1);
        let msg = self.last_error.keep(py, err);
        if let Some(cb) = self.error.load_full() {
            if let Err(e) = cb.call1(py, (msg.as_str(),)) {
                e.write_unraisable(py, Some(cb.bind(py)));
            }
        }
        msg
    }
}

fn command_dict<'py>(py: Python<'py>, c: &Command) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item(intern!(py, "thrust"), c.thrust)?;
    d.set_item(intern!(py, "roll_rate"), c.roll_rate)?;
    d.set_item(intern!(py, "pitch_rate"), c.pitch_rate)?;
    d.set_item(intern!(py, "yaw_rate"), c.yaw_rate)?;
    d.set_item(intern!(py, "timestamp"), c.timestamp)?;
    Ok(d)
}

/// The wrapper's own counters (DART-Planner's `wrapper` stats).
#[derive(Default)]
struct Counters {
    state_updates: Relaxed,
    command_updates: Relaxed,
    last_state_time: Relaxed,
    last_command_time: Relaxed,
}

/// The autopilot's ring beside a buffer of Python objects.
struct Mirror {
    ring: SlotRing<FastDroneState>,
    objects: StateBuffer<Entry>,
}

/// DART-Planner's `RealTimeControlWrapper` on the Rust autopilot.
#[pyclass(frozen, weakref, module = "rtstate", name = "RealTimeControlWrapper")]
pub struct PyRealTimeControlWrapper {
    frequency_hz: f64,
    priority: i32,
    use_fast_state: bool,
    state_buffer: Py<PyStateBuffer>,
    /// When `state_buffer` is not a fast one: the ring the autopilot reads,
    /// fed by `update_state`, and the buffer it mirrors (whose reset
    /// empties the mirror).
    mirror: Option<Mirror>,
    pub(super) autopilot: Autopilot,
    runner: Runner,
    callbacks: Arc<Callbacks>,
    counters: Counters,
}

fn stage_dict<'py>(py: Python<'py>, s: &StageGains) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("kp", s.kp.to_vec())?;
    d.set_item("ki", s.ki.to_vec())?;
    d.set_item("kd", s.kd.to_vec())?;
    d.set_item("integral_limit", s.integral_limit.to_vec())?;
    d.set_item("output_limit", s.output_limit.to_vec())?;
    d.set_item("derivative_tau", s.derivative_tau)?;
    Ok(d)
}

impl PyRealTimeControlWrapper {
    fn buffer<'py>(&self, py: Python<'py>) -> &Bound<'py, PyStateBuffer> {
        self.state_buffer.bind(py)
    }

    fn gains(&self) -> Gains {
        self.autopilot
            .gains
            .latest()
            .map(|s| s.state)
            .unwrap_or(self.autopilot.config().gains)
    }

    fn setpoint(&self) -> Setpoint {
        self.autopilot
            .setpoint
            .latest()
            .map(|s| s.state)
            .unwrap_or_default()
    }
}

#[pymethods]
impl PyRealTimeControlWrapper {
    #[new]
    #[pyo3(signature = (frequency_hz=FrequencyHz(1000.0), priority=Priority(0), state_buffer=None,
        use_fast_state=UseFastState(true), *, spin_us=SpinUs(None), cpu_affinity=CpuAffinity(None),
        lock_memory=LockMemory(false), timer_slack_ns=TimerSlackNs(None),
        realtime_policy=RealtimePolicy(RtPolicy::Warn)),
        text_signature = "(frequency_hz=1000.0, priority=0, state_buffer=None, \
        use_fast_state=True, *, spin_us=None, cpu_affinity=None, lock_memory=False, \
        timer_slack_ns=None, realtime_policy='warn')")]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        frequency_hz: FrequencyHz,
        priority: Priority,
        state_buffer: Option<Bound<'_, PyAny>>,
        use_fast_state: UseFastState,
        spin_us: SpinUs,
        cpu_affinity: CpuAffinity,
        lock_memory: LockMemory,
        timer_slack_ns: TimerSlackNs,
        realtime_policy: RealtimePolicy,
    ) -> PyResult<Self> {
        let (frequency_hz, priority, use_fast_state) =
            (frequency_hz.0, priority.0, use_fast_state.0);
        let config = loop_config(
            frequency_hz,
            spin_us.0,
            priority,
            cpu_affinity.0,
            lock_memory.0,
            timer_slack_ns.0,
            realtime_policy.0,
            false,
            "rtstate-autopilot",
            "frequency_hz",
        )?;
        let buffer: Bound<'_, PyStateBuffer> = match state_buffer.filter(|b| !b.is_none()) {
            Some(b) => b.cast_into::<PyStateBuffer>().map_err(|e| {
                PyTypeError::new_err(format!(
                    "`state_buffer` must be a ThreadSafeStateBuffer or None, got {}",
                    type_name(&e.into_inner())
                ))
            })?,
            None if use_fast_state => {
                let base = PyStateBuffer::create(
                    py,
                    DEFAULT_FAST_SIZE,
                    Some(py.get_type::<PyFastDroneState>()),
                )?;
                let init = PyClassInitializer::from(base).add_subclass(PyFastDroneStateBuffer);
                Bound::new(py, init)?.into_super()
            }
            None => {
                let base = PyStateBuffer::create(
                    py,
                    DEFAULT_OBJECT_SIZE,
                    Some(py.get_type::<PyDroneState>()),
                )?;
                let init = PyClassInitializer::from(base).add_subclass(PyDroneStateBuffer);
                Bound::new(py, init)?.into_super()
            }
        };
        let store = &buffer.get().store;
        let (ring, mirror) = match (store.fast_ring(), store.objects()) {
            (Some(ring), _) => (ring.clone(), None),
            (None, None) => {
                return Err(PyTypeError::new_err(
                    "`state_buffer`: a shared-memory FastDroneStateBuffer cannot drive the \
                     wrapper's autopilot (it reads an in-process ring); pass an in-process \
                     buffer, and mirror the shared one into it",
                ))
            }
            (None, objects) => {
                let ring = SlotRing::checked(8)?;
                let mirror = objects.map(|objects| Mirror {
                    ring: ring.clone(),
                    objects: objects.clone(),
                });
                (ring, mirror)
            }
        };
        let autopilot = Autopilot::new(ring, Config::default())?;
        Ok(PyRealTimeControlWrapper {
            frequency_hz,
            priority,
            use_fast_state,
            state_buffer: buffer.unbind(),
            mirror,
            autopilot,
            runner: Runner::new(config)?,
            callbacks: Arc::default(),
            counters: Counters::default(),
        })
    }

    /// The loop's target rate, Hz.
    #[getter]
    fn frequency_hz(&self) -> f64 {
        self.frequency_hz
    }

    /// The SCHED_FIFO priority requested (0: normal scheduling).
    #[getter]
    fn priority(&self) -> i32 {
        self.priority
    }

    /// Whether the default state buffer is a `FastDroneStateBuffer`.
    #[getter]
    fn use_fast_state(&self) -> bool {
        self.use_fast_state
    }

    /// The buffer the controller's state is published to.
    #[getter]
    fn state_buffer(&self, py: Python<'_>) -> Py<PyStateBuffer> {
        self.state_buffer.clone_ref(py)
    }

    /// Starts the autopilot loop (does nothing if it runs; of concurrent
    /// calls one starts it).
    fn start(&self, py: Python<'_>) -> PyResult<()> {
        if self.runner.is_running() {
            return Ok(());
        }
        let mut autopilot_tick = self.autopilot.tick()?;
        let callbacks = self.callbacks.clone();
        let mut states = self.autopilot.state.reader();
        let mut commands = self.autopilot.command.reader();
        let mirror = self
            .mirror
            .as_ref()
            .map(|m| (m.ring.clone(), m.objects.clone()));
        let tick = move |t: &Tick| {
            if let Some((ring, objects)) = &mirror {
                // The buffer was reset (and nothing published since): the
                // autopilot must not go on commanding from the state it
                // forgot. (A reset racing an `update_state` can empty the
                // mirror of that state too: the autopilot then waits for
                // the next, the safe side.)
                if objects.peek().is_none() && ring.peek().is_some() {
                    ring.reset();
                }
            }
            let flow = autopilot_tick(t)?;
            let want_state = callbacks.state.load().is_some();
            let want_command = callbacks.command.load().is_some();
            if !(want_state || want_command) {
                return Ok(flow);
            }
            let state = want_state.then(|| states.read_if_updated()).flatten();
            let command = want_command.then(|| commands.read_if_updated()).flatten();
            if state.is_none() && command.is_none() {
                return Ok(flow);
            }
            Python::attach(|py| {
                let mut failure = None;
                if let (Some(s), Some(cb)) = (state, callbacks.state.load_full()) {
                    callbacks.calls.add(1);
                    let arg = Py::new(py, PyDroneState::wrap(crate::DroneState::from(s.state)));
                    if let Err(e) = arg.and_then(|a| cb.call1(py, (a,))) {
                        failure = Some(callbacks.failed(py, e));
                    }
                }
                if let (Some(c), Some(cb)) = (command, callbacks.command.load_full()) {
                    callbacks.calls.add(1);
                    let arg = command_dict(py, &c.state);
                    if let Err(e) = arg.and_then(|a| cb.call1(py, (a,))) {
                        failure = Some(callbacks.failed(py, e));
                    }
                }
                match failure {
                    Some(msg) => Err(msg),
                    None => Ok(flow),
                }
            })
        };
        // `false`: another thread started it meanwhile, which is what was
        // asked.
        self.runner.start(py, || {}, tick).map(|_| ())
    }

    /// Stops the loop, waiting up to `timeout` s (`TimeoutError` if a
    /// callback still runs then; the loop stops after it returns).
    #[pyo3(signature = (timeout=Timeout::secs(1)),
        text_signature = "($self, timeout=1.0)")]
    fn stop(&self, py: Python<'_>, timeout: Timeout) -> PyResult<()> {
        self.runner.stop(py, timeout.0).map(|_| ())
    }

    /// Whether the loop thread is ticking.
    fn is_running(&self) -> bool {
        self.runner.is_running()
    }

    /// Publishes the vehicle state for the controller: a `DroneState`, a
    /// `FastDroneState`, or an estimate with `.pose` and `.twist`
    /// (converted). Returns the state buffer's version.
    #[pyo3(signature = (state, source=None))]
    fn update_state(
        &self,
        py: Python<'_>,
        state: Bound<'_, PyAny>,
        source: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Version> {
        let source = match source.filter(|s| !s.is_none()) {
            None => intern!(py, "external").clone(),
            Some(s) => s.cast_into::<PyString>().map_err(|e| {
                PyTypeError::new_err(format!(
                    "`source` expects a str, got {}",
                    type_name(&e.into_inner())
                ))
            })?,
        };
        let mut state = state;
        let plain =
            state.is_instance_of::<PyDroneState>() || state.is_instance_of::<PyFastDroneState>();
        if !plain && state.hasattr(intern!(py, "pose"))? && state.hasattr(intern!(py, "twist"))? {
            state =
                Bound::new(py, PyDroneState::wrap(drone_state_from_estimate(&state)?))?.into_any();
        }
        let buffer = self.buffer(py).get();
        let Some(mirror) = &self.mirror else {
            // The buffer converts and checks before it publishes.
            let version = buffer.publish(&state, &source, None)?;
            self.note_state();
            return Ok(version);
        };
        // Convert and check everything first: a state refused here leaves
        // the buffer and the mirror untouched.
        let fast = PyFastDroneState::extract_state(&state)?;
        let mirror_source = Source::try_intern(&source.to_cow()?)?;
        if let Ok(f) = state.cast::<PyFastDroneState>() {
            let d = crate::DroneState::from(f.get().inner);
            state = Bound::new(py, PyDroneState::wrap(d))?.into_any();
        }
        let version = buffer.publish(&state, &source, None)?;
        mirror
            .ring
            .publish(fast, mirror_source)
            .map_err(|e| PyErr::from(e.error))?;
        self.note_state();
        Ok(version)
    }

    /// Sets what the controller tracks. Each argument left None keeps its
    /// current value. Units: m, m/s, rad (roll, pitch, yaw: yaw is tracked,
    /// roll/pitch are feed-forward), rad/s, N (hover thrust; 0 = m·g);
    /// pint quantities are converted. NaN/inf raise `ValueError` naming the
    /// field.
    #[pyo3(signature = (position_setpoint=None, velocity_setpoint=None, attitude_setpoint=None,
        angular_velocity_setpoint=None, thrust=None))]
    fn update_command(
        &self,
        position_setpoint: Option<Bound<'_, PyAny>>,
        velocity_setpoint: Option<Bound<'_, PyAny>>,
        attitude_setpoint: Option<Bound<'_, PyAny>>,
        angular_velocity_setpoint: Option<Bound<'_, PyAny>>,
        thrust: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Version> {
        use super::super::convert::array_or;
        let mut sp = self.setpoint();
        sp.position = array_or(
            position_setpoint.as_ref(),
            "position_setpoint",
            Some("m"),
            sp.position,
        )?;
        sp.velocity = array_or(
            velocity_setpoint.as_ref(),
            "velocity_setpoint",
            Some("m/s"),
            sp.velocity,
        )?;
        sp.attitude = array_or(
            attitude_setpoint.as_ref(),
            "attitude_setpoint",
            Some("rad"),
            sp.attitude,
        )?;
        sp.angular_velocity = array_or(
            angular_velocity_setpoint.as_ref(),
            "angular_velocity_setpoint",
            Some("rad/s"),
            sp.angular_velocity,
        )?;
        if let Some(t) = thrust.filter(|t| !t.is_none()) {
            sp.thrust = match real(&t, "thrust") {
                Ok(x) => x,
                Err(_) => {
                    let xs = floats(&t, "thrust", Some("N"))?;
                    match xs.as_slice() {
                        [x] => *x,
                        _ => {
                            return Err(Error::Shape {
                                field: "thrust",
                                expected: 1,
                                got: xs.len(),
                            }
                            .into())
                        }
                    }
                }
            };
        }
        let version = self.autopilot.set_setpoint(sp)?;
        self.counters.command_updates.add(1);
        self.counters.last_command_time.set_f64(now());
        Ok(version)
    }

    /// The setpoint tracked now, as a dict of the `update_command` fields.
    fn get_setpoint<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let sp = self.setpoint();
        let d = PyDict::new(py);
        d.set_item("position_setpoint", sp.position.to_vec())?;
        d.set_item("velocity_setpoint", sp.velocity.to_vec())?;
        d.set_item("attitude_setpoint", sp.attitude.to_vec())?;
        d.set_item("angular_velocity_setpoint", sp.angular_velocity.to_vec())?;
        d.set_item("thrust", sp.thrust)?;
        Ok(d)
    }

    /// Sets PID gains; each is a number (all axes) or three numbers, and
    /// None keeps the current value. DART-Planner's names map onto the
    /// cascade: `*_pos` → the position stage (position error → velocity
    /// setpoint), `*_att` → the attitude stage (attitude error → rates);
    /// ours add `*_vel` (velocity error → acceleration) and `*_rate`
    /// (body-rate correction).
    #[pyo3(signature = (kp_pos=None, ki_pos=None, kd_pos=None, kp_att=None, ki_att=None,
        kd_att=None, *, kp_vel=None, ki_vel=None, kd_vel=None, kp_rate=None, ki_rate=None,
        kd_rate=None))]
    #[allow(clippy::too_many_arguments)]
    fn set_gains(
        &self,
        kp_pos: Option<Bound<'_, PyAny>>,
        ki_pos: Option<Bound<'_, PyAny>>,
        kd_pos: Option<Bound<'_, PyAny>>,
        kp_att: Option<Bound<'_, PyAny>>,
        ki_att: Option<Bound<'_, PyAny>>,
        kd_att: Option<Bound<'_, PyAny>>,
        kp_vel: Option<Bound<'_, PyAny>>,
        ki_vel: Option<Bound<'_, PyAny>>,
        kd_vel: Option<Bound<'_, PyAny>>,
        kp_rate: Option<Bound<'_, PyAny>>,
        ki_rate: Option<Bound<'_, PyAny>>,
        kd_rate: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Version> {
        let mut g = self.gains();
        let set = |stage: &mut StageGains,
                   kp: &Option<Bound<'_, PyAny>>,
                   ki: &Option<Bound<'_, PyAny>>,
                   kd: &Option<Bound<'_, PyAny>>,
                   names: [&'static str; 3]|
         -> PyResult<()> {
            if let Some(v) = gain(kp.as_ref(), names[0])? {
                stage.kp = v;
            }
            if let Some(v) = gain(ki.as_ref(), names[1])? {
                stage.ki = v;
            }
            if let Some(v) = gain(kd.as_ref(), names[2])? {
                stage.kd = v;
            }
            Ok(())
        };
        set(
            &mut g.position,
            &kp_pos,
            &ki_pos,
            &kd_pos,
            ["kp_pos", "ki_pos", "kd_pos"],
        )?;
        set(
            &mut g.velocity,
            &kp_vel,
            &ki_vel,
            &kd_vel,
            ["kp_vel", "ki_vel", "kd_vel"],
        )?;
        set(
            &mut g.attitude,
            &kp_att,
            &ki_att,
            &kd_att,
            ["kp_att", "ki_att", "kd_att"],
        )?;
        set(
            &mut g.rate,
            &kp_rate,
            &ki_rate,
            &kd_rate,
            ["kp_rate", "ki_rate", "kd_rate"],
        )?;
        Ok(self.autopilot.set_gains(g)?)
    }

    /// The gains in use: `{"position", "velocity", "attitude", "rate"}`, each
    /// a dict of `kp ki kd integral_limit output_limit derivative_tau`.
    fn get_gains<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let g = self.gains();
        let d = PyDict::new(py);
        d.set_item("position", stage_dict(py, &g.position)?)?;
        d.set_item("velocity", stage_dict(py, &g.velocity)?)?;
        d.set_item("attitude", stage_dict(py, &g.attitude)?)?;
        d.set_item("rate", stage_dict(py, &g.rate)?)?;
        Ok(d)
    }

    /// The latest state snapshot (the state buffer's).
    fn get_latest_state(
        &self,
        py: Python<'_>,
    ) -> PyResult<Option<Py<super::super::snapshot::PyStateSnapshot>>> {
        self.buffer(py).get().latest(py)
    }

    /// The state nearest `target_time` within `max_age` (the buffer's).
    /// Arguments are checked (and named in errors) by the buffer.
    #[pyo3(signature = (target_time, max_age=None), text_signature = "($self, target_time, max_age=0.1)")]
    fn get_state_at_time<'py>(
        &self,
        py: Python<'py>,
        target_time: Bound<'py, PyAny>,
        max_age: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let max_age = match max_age {
            Some(m) => m,
            None => 0.1f64.into_pyobject(py)?.into_any(),
        };
        self.buffer(py)
            .call_method1(intern!(py, "get_state_at_time"), (target_time, max_age))
    }

    /// Blocks (interpreter released, signals checked every 50 ms, so
    /// Ctrl-C arrives promptly) for the next state; None after `timeout` s
    /// (+inf or too large to represent: no limit).
    #[pyo3(signature = (timeout=Timeout::secs(1)),
        text_signature = "($self, timeout=1.0)")]
    fn wait_for_state_update(
        &self,
        py: Python<'_>,
        timeout: Timeout,
    ) -> PyResult<Option<Py<super::super::snapshot::PyStateSnapshot>>> {
        let buffer = self.buffer(py).get();
        buffer.wait_after(py, buffer.version(), timeout.0)
    }

    /// Awaits the next state; None after `timeout` s (the buffer's
    /// `wait_for_update_async`, called directly).
    #[pyo3(signature = (timeout=Timeout::secs(1)),
        text_signature = "($self, timeout=1.0)")]
    fn wait_for_state_update_async<'py>(
        &self,
        py: Python<'py>,
        timeout: Timeout,
    ) -> PyResult<Bound<'py, PyAny>> {
        let secs = timeout.0.map_or(f64::INFINITY, |d| d.as_secs_f64());
        subscription::wait_for_update_async(self.buffer(py), secs)
    }

    /// Calls `callback(DroneState)` from the loop thread for each new state
    /// version the controller reads (None removes it).
    /// `TypeError` if it is neither callable nor None.
    fn set_state_update_callback(&self, callback: Option<Bound<'_, PyAny>>) -> PyResult<()> {
        let callback = callback_arg(callback, "callback")?;
        let old = self.callbacks.state.swap(callback.map(std::sync::Arc::new));
        drop(old);
        Ok(())
    }

    /// Calls `callback(dict)` (`thrust roll_rate pitch_rate yaw_rate
    /// timestamp`) from the loop thread after each command (None removes it).
    /// `TypeError` if it is neither callable nor None.
    fn set_command_update_callback(&self, callback: Option<Bound<'_, PyAny>>) -> PyResult<()> {
        let callback = callback_arg(callback, "callback")?;
        let old = self
            .callbacks
            .command
            .swap(callback.map(std::sync::Arc::new));
        drop(old);
        Ok(())
    }

    /// Calls `callback(message: str)` when a state or command callback
    /// raises (None removes it).
    /// `TypeError` if it is neither callable nor None.
    fn set_error_callback(&self, callback: Option<Bound<'_, PyAny>>) -> PyResult<()> {
        let callback = callback_arg(callback, "callback")?;
        let old = self.callbacks.error.swap(callback.map(std::sync::Arc::new));
        drop(old);
        Ok(())
    }

    /// The last exception a callback raised, or None.
    fn last_exception(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.callbacks
            .last_error
            .get(py)
            .map(|e| e.into_value(py).into_any())
    }

    /// Raises `CallbackError` with the last callback exception as
    /// `__cause__`; does nothing if none raised.
    fn raise_last_error(&self, py: Python<'_>) -> PyResult<()> {
        match self.callbacks.last_error.to_raise(py, "a wrapper callback") {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// The latest command as a dict (`thrust roll_rate pitch_rate yaw_rate
    /// timestamp`), or None before the first.
    fn get_latest_command<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        self.autopilot
            .command
            .latest()
            .map(|c| command_dict(py, &c.state))
            .transpose()
    }

    /// The loop's statistics (DART-Planner's keys plus percentiles, counts
    /// and the real-time settings).
    fn get_control_stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        stats_dict(py, &self.runner.stats()?)
    }

    /// The state buffer's statistics.
    fn get_state_buffer_stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.buffer(py).get().statistics_dict(py)
    }

    /// The wrapper's own counters.
    fn get_wrapper_stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let c = &self.counters;
        let cb = &self.callbacks;
        let d = PyDict::new(py);
        d.set_item("control_iterations", self.runner.stats()?.iteration_count)?;
        d.set_item("state_updates", c.state_updates.get())?;
        d.set_item("command_updates", c.command_updates.get())?;
        d.set_item("errors", cb.errors.get())?;
        d.set_item("callback_calls", cb.calls.get())?;
        d.set_item("last_state_time", c.last_state_time.get_f64())?;
        d.set_item("last_command_time", c.last_command_time.get_f64())?;
        d.set_item("commands_published", self.autopilot.command.version())?;
        Ok(d)
    }

    /// `{"control_loop", "state_buffer", "wrapper", "running", "frequency_hz"}`.
    fn get_combined_stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("control_loop", self.get_control_stats(py)?)?;
        d.set_item("state_buffer", self.get_state_buffer_stats(py)?)?;
        d.set_item("wrapper", self.get_wrapper_stats(py)?)?;
        d.set_item("running", self.is_running())?;
        d.set_item("frequency_hz", self.frequency_hz)?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        format!(
            "<RealTimeControlWrapper {} Hz running={}>",
            self.frequency_hz,
            self.runner.is_running()
        )
    }
}

impl PyRealTimeControlWrapper {
    fn note_state(&self) {
        self.counters.state_updates.add(1);
        self.counters.last_state_time.set_f64(now());
    }
}
