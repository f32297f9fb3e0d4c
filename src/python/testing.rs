//! Test and benchmark aids (private names, not part of the API): a publisher
//! thread that never attaches to Python, and the Rust loops the loop
//! benchmark compares against.

use super::buffers::PyStateBuffer;
use super::convert::Timeout;
use super::errors::PanickedError;
use super::states::PyFastDroneState;
use crate::control::{bare_loop, ControlLoop, Flow, LoopConfig, Tick};
use crate::sync::{lock, Mutex};
use crate::{duration_from_secs, Error, FastDroneState, SlotRing, Source};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The publisher thread, before and after it is joined.
enum Joined {
    Running(JoinHandle<u64>),
    /// A `join` is joining it (no lock held while it does).
    Joining,
    Done(Option<u64>),
}

/// A Rust publisher thread started by `_publish_from_rust_thread`. Its
/// mutex is held only to look at or swap the state above, never across a
/// wait.
#[pyclass(frozen, module = "rtstate", name = "_RustPublisher")]
pub struct PyRustPublisher {
    thread: Mutex<Joined>,
}

#[pymethods]
impl PyRustPublisher {
    /// Waits (the interpreter released, signals checked) for the thread to
    /// finish; returns how many states it published, or None if `timeout`
    /// seconds passed. `PanickedError` if the thread panicked.
    #[pyo3(signature = (timeout=Timeout(None)), text_signature = "($self, timeout=None)")]
    fn join(&self, py: Python<'_>, timeout: Timeout) -> PyResult<Option<u64>> {
        let timeout = timeout.0;
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        while !self.is_finished() {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(None);
            }
            py.detach(|| std::thread::sleep(Duration::from_millis(1)));
            py.check_signals()?;
        }
        let mut guard = lock(&self.thread);
        let outcome = match std::mem::replace(&mut *guard, Joined::Joining) {
            Joined::Running(handle) => {
                drop(guard);
                // Finished: joining only waits for it to exit.
                let r = py.detach(move || handle.join().ok());
                *lock(&self.thread) = Joined::Done(r);
                r
            }
            Joined::Done(r) => {
                *guard = Joined::Done(r);
                r
            }
            // Another `join` is collecting it: wait for its outcome.
            Joined::Joining => {
                drop(guard);
                loop {
                    if let Joined::Done(r) = &*lock(&self.thread) {
                        break *r;
                    }
                    py.detach(|| std::thread::sleep(Duration::from_millis(1)));
                    py.check_signals()?;
                }
            }
        };
        outcome
            .map(Some)
            .ok_or_else(|| PanickedError::new_err("publisher thread panicked"))
    }

    /// Whether the thread has finished (a brief lock, no wait).
    fn is_finished(&self) -> bool {
        match &*lock(&self.thread) {
            Joined::Running(h) => h.is_finished(),
            Joined::Joining | Joined::Done(_) => true,
        }
    }
}

/// Testing aid: starts a Rust thread that publishes `states` (each a
/// `FastDroneState`) into a `FastDroneStateBuffer`, one every `interval_s`
/// seconds (source "rust-thread"), without ever attaching to Python.
/// Returns a handle whose `join()` returns how many were published.
#[pyfunction]
#[pyo3(signature = (buffer, states, interval_s=0.0))]
pub(crate) fn _publish_from_rust_thread(
    buffer: &Bound<'_, PyStateBuffer>,
    states: &Bound<'_, PyAny>,
    interval_s: f64,
) -> PyResult<PyRustPublisher> {
    let interval = duration_from_secs("interval_s", interval_s)?;
    let ring: SlotRing<FastDroneState> = match buffer.get().store.fast_ring() {
        Some(ring) => ring.clone(),
        None => {
            return Err(PyTypeError::new_err(
                "expected a buffer of FastDroneState (FastDroneStateBuffer)",
            ))
        }
    };
    let states = states
        .try_iter()?
        .map(|s| PyFastDroneState::extract_state(&s?))
        .collect::<PyResult<Vec<_>>>()?;
    let source = Source::intern("rust-thread");
    let handle = std::thread::Builder::new()
        .name("rtstate-rust-publisher".into())
        .spawn(move || {
            let mut published = 0;
            let start = Instant::now();
            for (i, state) in states.into_iter().enumerate() {
                if !interval.is_zero() {
                    // Absolute deadlines: sleep to start + i * interval.
                    // (An interval too long to add up: no more sleeps.)
                    let due = u32::try_from(i)
                        .ok()
                        .and_then(|i| interval.checked_mul(i))
                        .and_then(|d| start.checked_add(d));
                    if let Some(wait) = due.map(|d| d.saturating_duration_since(Instant::now())) {
                        std::thread::sleep(wait);
                    }
                }
                if ring.publish(state, source).is_ok() {
                    published += 1;
                }
            }
            published
        })?;
    Ok(PyRustPublisher {
        thread: Mutex::new(Joined::Running(handle)),
    })
}

/// Runs `ControlLoop` with a no-op Rust tick at `hz` for `secs` on the
/// calling thread (interpreter released); returns each tick's start in ns
/// since the first deadline.
#[pyfunction]
#[pyo3(signature = (hz, secs, spin_us=None))]
pub(crate) fn _bench_rust_loop(
    py: Python<'_>,
    hz: f64,
    secs: f64,
    spin_us: Option<f64>,
) -> PyResult<Vec<u64>> {
    let mut config = LoopConfig::from_rate_hz(hz)?;
    if let Some(us) = spin_us {
        config = config.with_spin(crate::duration_from_secs("spin_us", us * 1e-6)?);
    }
    let n = (secs * hz).max(0.0) as u64;
    py.detach(move || {
        let mut starts: Vec<u64> = Vec::with_capacity(n as usize);
        let mut first = None;
        let stats = {
            let mut l = ControlLoop::new(config, |t: &Tick| {
                let f = *first.get_or_insert(t.deadline_ns);
                starts.push(t.now_ns - f);
                Ok(Flow::Continue)
            })?;
            l.run_for(n)?
        };
        drop(stats);
        Ok::<_, Error>(starts)
    })
    .map_err(Into::into)
}

/// `control::bare_loop`: a bare `clock_nanosleep` absolute-deadline loop
/// at `hz` for `secs` (interpreter released); each tick's wake-up in ns
/// since its first deadline.
#[pyfunction]
pub(crate) fn _bare_loop(py: Python<'_>, hz: f64, secs: f64) -> PyResult<Vec<u64>> {
    let period = crate::duration_from_secs("hz", 1.0 / hz)?;
    let duration = crate::duration_from_secs("secs", secs)?;
    Ok(py.detach(move || bare_loop(period, duration)))
}

/// Adds the aids to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyRustPublisher>()?;
    m.add_function(wrap_pyfunction!(_publish_from_rust_thread, m)?)?;
    m.add_function(wrap_pyfunction!(_bench_rust_loop, m)?)?;
    m.add_function(wrap_pyfunction!(_bare_loop, m)?)?;
    Ok(())
}
