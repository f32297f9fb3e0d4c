//! The control loop for Python: `ControlLoop` (a Python callable on the Rust
//! fixed-rate loop), `RealTimeControlWrapper` (the Rust autopilot on its own
//! thread, DART-Planner's API) and `SimVehicle` (the Rust simulation driven
//! by a command buffer). Arguments are converted in `args` (errors name the
//! argument); the test and benchmark aids are in `python/testing.rs`.
//!
//! # Threading
//!
//! Every loop runs on a Rust thread of its own. It attaches to Python
//! (`Python::attach`) only to call a Python callable: the `ControlLoop`'s
//! callback each tick, and the wrapper's state/command callbacks only when
//! one is set (the autopilot itself never touches Python).
//!
//! No lock is held across a wait, and no wait holds the interpreter:
//!
//! - A [`Runner`] keeps the loop's [`Handle`] in an `Arc` behind a mutex
//!   that is held only to read or swap it. `is_running()` and `get_stats()`
//!   are that brief lock and atomic loads, so any thread can call them at
//!   any time, the loop's own callback included.
//! - `stop()` and `run()` wait on a clone of the handle, detached from the
//!   interpreter, in slices of at most 50 ms with signals checked between
//!   them (Ctrl-C raises `KeyboardInterrupt`; `run` stops the loop first).
//!   A loop thread can therefore always take the GIL to finish its tick.
//! - `start()` claims a `starting` flag under the mutex, so that of
//!   concurrent calls exactly one spawns a loop (the others raise
//!   `AlreadyRunningError`); the loop is spawned gated and its handle is
//!   stored before its first tick, so a tick that looks at its own loop
//!   finds it.
//! - A timeout or duration of +inf or too large to represent means no
//!   limit; negative or NaN is a `ValueError` naming the argument.
//!
//! # Callback errors
//!
//! An exception raised by a callback is counted (the loop's `errors`), its
//! `"Type: message"` kept as `last_error`, and the exception object kept;
//! `raise_last_error()` raises `rtstate.CallbackError` with the original as
//! `__cause__`. The loop goes on unless `stop_on_error` is set; a loop that
//! stopped on an error raises the same from `stop()` and `run()`.

use super::convert::{type_name, Timeout};
use super::wait::wait_until_done;
use crate::control::{
    ControlLoop, Flow, Handle, LoopConfig, LoopStats, Percentiles, RtPolicy, RtSettings,
    StopReason, Tick, TickResult,
};
use crate::sync::{lock, Arc, Mutex};
use crate::Error;
use pyo3::exceptions::{PyTimeoutError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use std::sync::Weak;
use std::time::{Duration, Instant};

mod args;
mod sim;
mod wrapper;

use args::{
    CpuAffinity, FrequencyHz, LockMemory, Priority, RealtimePolicy, RunDuration, SpinUs,
    StopOnError, TimerSlackNs,
};

pyo3::create_exception!(
    rtstate,
    CallbackError,
    super::errors::RtStateError,
    "A Python callback run by a control loop raised; the original exception is `__cause__`."
);

// ---------------------------------------------------------------- runner --

/// What a runner holds. Its mutex is held only to read or swap these two
/// fields: never across a wait, a spawn or foreign code, so any thread (a
/// loop's own tick included) can take it at any time.
#[derive(Default)]
struct Current {
    /// The loop last started (shared: waits happen on a clone, unlocked).
    handle: Option<Arc<Handle>>,
    /// A `start` is spawning a loop: another `start` is refused.
    starting: bool,
    /// A `stop` came while `starting`: the new loop is stopped before its
    /// first tick.
    stop_while_starting: bool,
}

/// A runner's state, shared with the registry that `_stop_all_loops` (run
/// at interpreter exit) walks.
type Slot = Mutex<Current>;

static LOOPS: Mutex<Vec<Weak<Slot>>> = Mutex::new(Vec::new());

/// `Instant::now() + limit`, or `None` (no deadline) when there is no limit
/// or it does not fit.
fn deadline(limit: Option<Duration>) -> Option<Instant> {
    limit.and_then(|d| Instant::now().checked_add(d))
}

/// Starts, stops and reports one loop, whatever its tick.
pub(super) struct Runner {
    config: LoopConfig,
    slot: Arc<Slot>,
}

impl Runner {
    fn new(config: LoopConfig) -> PyResult<Self> {
        config.validate()?;
        let slot = Arc::new(Mutex::new(Current::default()));
        let mut loops = lock(&LOOPS);
        loops.retain(|w| w.strong_count() > 0);
        loops.push(Arc::downgrade(&slot));
        Ok(Runner { config, slot })
    }

    /// The loop last started, if any (a brief lock, no wait).
    fn handle(&self) -> Option<Arc<Handle>> {
        lock(&self.slot).handle.clone()
    }

    /// Whether the loop thread is ticking. A brief lock and an atomic load:
    /// callable from any thread, a tick included (the handle is stored
    /// before the first tick runs).
    fn is_running(&self) -> bool {
        self.handle().is_some_and(|h| h.is_running())
    }

    /// Spawns the loop (detached from Python while the thread applies its
    /// real-time settings). Of concurrent calls exactly one starts a loop;
    /// `Ok(false)` (nothing started) if one is running or being started.
    /// `prepare` runs once the start is claimed, before the spawn.
    fn start<F>(&self, py: Python<'_>, prepare: impl FnOnce(), tick: F) -> PyResult<bool>
    where
        F: FnMut(&Tick) -> TickResult + Send + 'static,
    {
        {
            let mut current = lock(&self.slot);
            if current.starting || current.handle.as_ref().is_some_and(|h| h.is_running()) {
                return Ok(false);
            }
            current.starting = true;
        }
        prepare();
        let config = self.config.clone();
        let spawned = py.detach(move || ControlLoop::spawn_gated(config, tick));
        let (old, gate) = {
            let mut current = lock(&self.slot);
            current.starting = false;
            let stop = std::mem::take(&mut current.stop_while_starting);
            match spawned {
                Ok((h, gate)) => {
                    if stop {
                        h.request_stop();
                    }
                    (current.handle.replace(Arc::new(h)), gate)
                }
                Err(e) => return Err(e.into()),
            }
        };
        // The handle is in place: its ticks may look for it.
        gate.open();
        // The previous (finished) loop's handle, dropped unlocked.
        drop(old);
        Ok(true)
    }

    /// Asks the loop to stop and waits up to `timeout` (detached, signals
    /// checked every 50 ms). `None` if it was never started.
    fn stop(&self, py: Python<'_>, timeout: Option<Duration>) -> PyResult<Option<LoopStats>> {
        let handle = {
            let mut current = lock(&self.slot);
            if current.starting {
                // The loop being spawned will stop before its first tick.
                current.stop_while_starting = true;
            }
            current.handle.clone()
        };
        let Some(handle) = handle else {
            return Ok(None);
        };
        handle.request_stop();
        if !wait_until_done(py, timeout, |slice| handle.wait(slice))? {
            return Err(PyTimeoutError::new_err(format!(
                "the loop did not stop within {:.3} s (a tick is still running); \
                 it has been asked to stop and will after the tick returns",
                timeout.unwrap_or_default().as_secs_f64()
            )));
        }
        // Finished: joining does not wait for a tick.
        py.detach(move || handle.stop(Duration::MAX))
            .map(Some)
            .map_err(Into::into)
    }

    fn stats(&self) -> PyResult<LoopStats> {
        if let Some(h) = self.handle() {
            return Ok(h.stats());
        }
        // Never started: the zeros of a loop that has not run.
        Ok(ControlLoop::new(self.config.clone(), |_: &Tick| Ok(Flow::Continue))?.stats())
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        if let Some(h) = self.handle() {
            h.request_stop();
        }
    }
}

/// Stops every loop still running (the package calls it at exit, before
/// the interpreter finalises, so that no loop thread attaches to a dying
/// interpreter). Returns how many were running.
#[pyfunction]
#[pyo3(signature = (timeout=1.0))]
pub(crate) fn _stop_all_loops(py: Python<'_>, timeout: f64) -> usize {
    let timeout = Duration::from_secs_f64(if timeout.is_nan() {
        0.0
    } else {
        timeout.clamp(0.0, 60.0)
    });
    let handles: Vec<Arc<Handle>> = lock(&LOOPS)
        .iter()
        .filter_map(Weak::upgrade)
        .filter_map(|slot| lock(&slot).handle.clone())
        .collect();
    py.detach(move || {
        let mut n = 0;
        for h in handles {
            if h.is_running() {
                n += 1;
            }
            let _ = h.stop(timeout);
        }
        n
    })
}

/// The loop configuration from the Python keywords.
#[allow(clippy::too_many_arguments)]
pub(super) fn loop_config(
    frequency_hz: f64,
    spin_us: Option<f64>,
    priority: i32,
    cpu_affinity: Option<Vec<usize>>,
    lock_memory: bool,
    timer_slack_ns: Option<u64>,
    policy: RtPolicy,
    stop_on_error: bool,
    name: &str,
    rate_name: &str,
) -> PyResult<LoopConfig> {
    let mut config = LoopConfig::from_rate_hz(frequency_hz)
        .map_err(|_| {
            PyValueError::new_err(format!(
                "`{rate_name}` must be finite, > 0 and at most 1e9 Hz, got {frequency_hz}"
            ))
        })?
        .with_name(name)
        .with_stop_on_error(stop_on_error)
        .with_real_time(
            RtSettings {
                fifo_priority: (priority > 0).then_some(priority),
                cpu_affinity,
                lock_memory,
                // None: the loop's default slack; 0: leave the kernel's.
                timer_slack: match timer_slack_ns {
                    None => Some(rtstate_default_slack()),
                    Some(0) => None,
                    Some(ns) => Some(Duration::from_nanos(ns)),
                },
            },
            policy,
        );
    if let Some(us) = spin_us {
        let spin = Duration::try_from_secs_f64(us * 1e-6).map_err(|_| {
            PyValueError::new_err(format!("`spin_us` must be finite and ≥ 0, got {us}"))
        })?;
        config = config.with_spin(spin);
    }
    config.validate()?;
    Ok(config)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn percentiles<'py>(py: Python<'py>, p: &Percentiles) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("p50", ms(p.p50))?;
    d.set_item("p90", ms(p.p90))?;
    d.set_item("p99", ms(p.p99))?;
    d.set_item("max", ms(p.max))?;
    d.set_item("count", p.count)?;
    Ok(d)
}

fn stop_reason(r: StopReason) -> &'static str {
    match r {
        StopReason::Requested => "requested",
        StopReason::Flow => "callback",
        StopReason::Completed => "completed",
        StopReason::Error => "error",
        StopReason::Panicked => "panicked",
        StopReason::RealTime => "real_time",
    }
}

/// A loop's statistics as a dict: DART-Planner's keys plus ours.
pub(super) fn stats_dict<'py>(py: Python<'py>, s: &LoopStats) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("iteration_count", s.iteration_count)?;
    d.set_item("missed_deadlines", s.overruns)?;
    d.set_item("frequency_target_hz", s.frequency_target_hz())?;
    d.set_item("frequency_actual_hz", s.frequency_actual_hz)?;
    d.set_item("mean_execution_time_ms", ms(s.execution_mean))?;
    d.set_item("max_execution_time_ms", ms(s.execution_max))?;
    d.set_item("min_execution_time_ms", ms(s.execution_min))?;
    d.set_item("jitter_rms_ms", ms(s.jitter_rms))?;
    d.set_item("success_rate", s.success_rate())?;
    d.set_item("overruns", s.overruns)?;
    d.set_item("missed_ticks", s.missed_ticks)?;
    d.set_item("errors", s.errors)?;
    d.set_item("last_error", s.last_error.as_deref())?;
    d.set_item("last_panic", s.last_panic.as_deref())?;
    d.set_item("period_ms", percentiles(py, &s.period)?)?;
    d.set_item("period_error_ms", percentiles(py, &s.period_error)?)?;
    d.set_item("lateness_ms", percentiles(py, &s.lateness)?)?;
    d.set_item("cpu_time_s", s.cpu_time.as_secs_f64())?;
    d.set_item("elapsed_s", s.elapsed.as_secs_f64())?;
    d.set_item("running", s.running)?;
    d.set_item("stop_reason", s.stop_reason.map(stop_reason))?;
    let rt = PyList::empty(py);
    for st in &s.real_time.settings {
        let e = PyDict::new(py);
        e.set_item("setting", st.setting)?;
        e.set_item("requested", &st.requested)?;
        e.set_item("applied", st.outcome.is_ok())?;
        e.set_item("reason", st.outcome.as_ref().err())?;
        rt.append(e)?;
    }
    d.set_item("real_time", rt)?;
    Ok(d)
}

// ------------------------------------------------------- callback errors --

/// The last exception a loop's Python callbacks raised.
#[derive(Default)]
pub(super) struct LastError(Mutex<Option<PyErr>>);

impl LastError {
    /// Keeps `err`; returns its `"Type: message"`.
    fn keep(&self, py: Python<'_>, err: PyErr) -> String {
        let msg = describe(py, &err);
        let old = lock(&self.0).replace(err);
        // Dropped outside the lock: a `__del__` may run Python code.
        drop(old);
        msg
    }

    fn get(&self, py: Python<'_>) -> Option<PyErr> {
        lock(&self.0).as_ref().map(|e| e.clone_ref(py))
    }

    fn clear(&self) {
        let old = lock(&self.0).take();
        drop(old);
    }

    /// `CallbackError(message)` from the kept exception, or `None`.
    fn to_raise(&self, py: Python<'_>, what: &str) -> Option<PyErr> {
        let cause = self.get(py)?;
        let err = CallbackError::new_err(format!("{what} raised {}", describe(py, &cause)));
        err.set_cause(py, Some(cause));
        Some(err)
    }
}

fn describe(py: Python<'_>, err: &PyErr) -> String {
    let name = err
        .get_type(py)
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "Exception".into());
    format!("{name}: {}", err.value(py))
}

// ------------------------------------------------------------ ControlLoop --

/// A Python callable run at a fixed rate on a Rust thread.
#[pyclass(frozen, weakref, module = "rtstate", name = "ControlLoop")]
pub struct PyControlLoop {
    callback: Py<PyAny>,
    frequency_hz: f64,
    runner: Runner,
    last_error: Arc<LastError>,
}

impl PyControlLoop {
    fn raise_if_stopped_on_error(&self, py: Python<'_>, stats: &LoopStats) -> PyResult<()> {
        if stats.stop_reason == Some(StopReason::Error) {
            if let Some(e) = self.last_error.to_raise(py, "the control loop's callback") {
                return Err(e);
            }
        }
        Ok(())
    }
}

#[pymethods]
impl PyControlLoop {
    #[new]
    #[pyo3(signature = (callback, frequency_hz=FrequencyHz(1000.0), *, spin_us=SpinUs(None),
        priority=Priority(0), cpu_affinity=CpuAffinity(None), lock_memory=LockMemory(false),
        timer_slack_ns=TimerSlackNs(None), realtime_policy=RealtimePolicy(RtPolicy::Warn),
        stop_on_error=StopOnError(false)),
        text_signature = "(callback, frequency_hz=1000.0, *, spin_us=None, priority=0, \
        cpu_affinity=None, lock_memory=False, timer_slack_ns=None, realtime_policy='warn', \
        stop_on_error=False)")]
    #[allow(clippy::too_many_arguments)]
    fn new(
        callback: Bound<'_, PyAny>,
        frequency_hz: FrequencyHz,
        spin_us: SpinUs,
        priority: Priority,
        cpu_affinity: CpuAffinity,
        lock_memory: LockMemory,
        timer_slack_ns: TimerSlackNs,
        realtime_policy: RealtimePolicy,
        stop_on_error: StopOnError,
    ) -> PyResult<Self> {
        if !callback.is_callable() {
            return Err(PyTypeError::new_err(format!(
                "`callback` must be callable, got {}",
                type_name(&callback)
            )));
        }
        let config = loop_config(
            frequency_hz.0,
            spin_us.0,
            priority.0,
            cpu_affinity.0,
            lock_memory.0,
            timer_slack_ns.0,
            realtime_policy.0,
            stop_on_error.0,
            "rtstate-pyloop",
            "frequency_hz",
        )?;
        Ok(PyControlLoop {
            callback: callback.unbind(),
            frequency_hz: frequency_hz.0,
            runner: Runner::new(config)?,
            last_error: Arc::default(),
        })
    }

    /// The target rate, Hz.
    #[getter]
    fn frequency_hz(&self) -> f64 {
        self.frequency_hz
    }

    /// The callable.
    #[getter]
    fn callback(&self, py: Python<'_>) -> Py<PyAny> {
        self.callback.clone_ref(py)
    }

    /// Starts the loop on its own thread. `AlreadyRunningError` if it runs
    /// (of concurrent calls exactly one starts it); `RealTimeError` under
    /// the strict policy if a setting was refused.
    fn start(&self, py: Python<'_>) -> PyResult<()> {
        let callback = self.callback.clone_ref(py);
        let last_error = self.last_error.clone();
        let tick = move |_t: &Tick| {
            Python::attach(|py| match callback.call0(py) {
                Ok(r) => {
                    if r.bind(py).is(pyo3::types::PyBool::new(py, false)) {
                        Ok(Flow::Stop)
                    } else {
                        Ok(Flow::Continue)
                    }
                }
                Err(e) => Err(last_error.keep(py, e)),
            })
        };
        if self.runner.start(py, || self.last_error.clear(), tick)? {
            Ok(())
        } else {
            Err(Error::AlreadyRunning.into())
        }
    }

    /// Asks the loop to stop and waits up to `timeout` s for it (+inf or a
    /// value too large to represent: no limit). Returns the final
    /// statistics (None if never started). `TimeoutError` if a callback
    /// still runs after `timeout` (the loop stops once it returns);
    /// `CallbackError` (original as `__cause__`) if the loop had stopped on
    /// a callback error (`stop_on_error`).
    #[pyo3(signature = (timeout=Timeout::secs(1)),
        text_signature = "($self, timeout=1.0)")]
    fn stop<'py>(&self, py: Python<'py>, timeout: Timeout) -> PyResult<Option<Bound<'py, PyDict>>> {
        let Some(stats) = self.runner.stop(py, timeout.0)? else {
            return Ok(None);
        };
        self.raise_if_stopped_on_error(py, &stats)?;
        stats_dict(py, &stats).map(Some)
    }

    /// Whether the loop thread is ticking (callable from any thread, the
    /// loop's own callback included).
    fn is_running(&self) -> bool {
        self.runner.is_running()
    }

    /// Starts the loop if needed and blocks the caller (interpreter
    /// released in 50 ms slices, signals checked between them) until it
    /// stops by itself or `duration` s have passed (None, +inf or a value
    /// too large to represent: no limit), then stops it and returns its
    /// statistics. Ctrl-C stops the loop and raises `KeyboardInterrupt`.
    #[pyo3(signature = (duration=RunDuration(None)), text_signature = "($self, duration=None)")]
    fn run<'py>(&self, py: Python<'py>, duration: RunDuration) -> PyResult<Bound<'py, PyDict>> {
        let until = deadline(duration.0);
        if !self.runner.is_running() {
            match self.start(py) {
                // Another thread started it meanwhile: wait on that run.
                Err(e) if e.is_instance_of::<super::errors::AlreadyRunningError>(py) => {}
                r => r?,
            }
        }
        let Some(handle) = self.runner.handle() else {
            return stats_dict(py, &self.runner.stats()?);
        };
        let remaining = until.map(|u| u.saturating_duration_since(Instant::now()));
        if let Err(e) = wait_until_done(py, remaining, |slice| handle.wait(slice)) {
            // A signal (Ctrl-C): stop the loop, then raise.
            let _ = self.runner.stop(py, Some(Duration::from_secs(1)));
            return Err(e);
        }
        let stats = match self.runner.stop(py, Some(Duration::from_secs(1)))? {
            Some(s) => s,
            None => self.runner.stats()?,
        };
        self.raise_if_stopped_on_error(py, &stats)?;
        stats_dict(py, &stats)
    }

    /// The loop's statistics now (see `RealTimeControlWrapper.get_control_stats`).
    fn get_stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        stats_dict(py, &self.runner.stats()?)
    }

    /// The last exception the callback raised, or None.
    fn last_exception(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.last_error.get(py).map(|e| e.into_value(py).into_any())
    }

    /// Raises `CallbackError` with the callback's last exception as
    /// `__cause__`; does nothing if the callback never raised.
    fn raise_last_error(&self, py: Python<'_>) -> PyResult<()> {
        match self.last_error.to_raise(py, "the control loop's callback") {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "<ControlLoop {} Hz running={}>",
            self.frequency_hz,
            self.runner.is_running()
        )
    }
}

/// Adds the classes and functions to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("CallbackError", py.get_type::<CallbackError>())?;
    m.add_class::<PyControlLoop>()?;
    m.add_class::<wrapper::PyRealTimeControlWrapper>()?;
    m.add_class::<sim::PySimVehicle>()?;
    m.add_function(wrap_pyfunction!(_stop_all_loops, m)?)?;
    Ok(())
}

fn rtstate_default_slack() -> Duration {
    crate::control::DEFAULT_TIMER_SLACK
}
