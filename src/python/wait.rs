//! Blocking waits from Python: the interpreter released, in slices short
//! enough that Ctrl-C (any signal handler) runs within one slice.

use crate::Error;
use pyo3::prelude::*;
use std::time::{Duration, Instant};

/// The longest a blocking wait sleeps without the interpreter before it
/// checks for signals.
pub(crate) const WAIT_SLICE: Duration = Duration::from_millis(50);

/// Waits in slices of at most [`WAIT_SLICE`] with the interpreter
/// released, checking for signals between slices, until `wait(slice)`
/// returns something other than `Error::Timeout` or `timeout` (`None`: no
/// limit; one too large for a deadline is no limit too) has passed.
/// `Ok(None)` on timeout; a signal handler's exception is returned.
pub(crate) fn wait_in_slices<T: Send>(
    py: Python<'_>,
    timeout: Option<Duration>,
    wait: impl Fn(Duration) -> Result<T, Error> + Sync,
) -> PyResult<Option<T>> {
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    loop {
        let slice = match deadline {
            Some(d) => d.saturating_duration_since(Instant::now()).min(WAIT_SLICE),
            None => WAIT_SLICE,
        };
        match py.detach(|| wait(slice)) {
            Ok(v) => return Ok(Some(v)),
            Err(Error::Timeout(_)) => {}
            Err(e) => return Err(e.into()),
        }
        py.check_signals()?;
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(None);
        }
    }
}

/// [`wait_in_slices`] for a wait that reports `true` once done.
pub(crate) fn wait_until_done(
    py: Python<'_>,
    timeout: Option<Duration>,
    done: impl Fn(Duration) -> bool + Sync,
) -> PyResult<bool> {
    let waited = wait_in_slices(py, timeout, |slice| {
        done(slice).then_some(()).ok_or(Error::Timeout(slice))
    })?;
    Ok(waited.is_some())
}
