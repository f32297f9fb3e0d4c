//! Subscriptions from Python: `buffer.subscribe()` returns a
//! [`PySubscription`], used like an `asyncio.Queue` (`await get()`,
//! `get_nowait()`, `async for`) or as a blocking iterator from a thread;
//! events are [`PyUpdateEvent`]s, read as dicts or attributes.
//!
//! # Wake-up
//!
//! Each subscription owns a nonblocking wake-up descriptor: an `eventfd` on
//! Linux, a Unix socket pair elsewhere. Its write side is inside a std
//! [`Waker`] (`waker::FdWaker`): waking is one `write` (one syscall, no
//! interpreter; a full socket's `EAGAIN` already means "readable"). The
//! read side belongs to the Python glue (`rtstate/_asyncio.py`), which
//! registers it with the running loop (`loop.add_reader`) at the first
//! `get()` and keeps it registered while the subscription is used: a
//! `get()` that has to wait costs no `epoll_ctl`.
//!
//! 1. `get()` calls `_poll()`: the core's `poll_recv` takes a queued event,
//!    or registers the waker with the queue's notifier and reports pending.
//! 2. Pending: the task parks on a future.
//! 3. A publish from any thread (a Rust thread that never attaches to
//!    Python included) calls the notifier, which invokes the waker only if
//!    one is registered, and deregisters it (nobody waiting costs the
//!    writer a fence and a load): one `write`.
//! 4. The loop sees the descriptor readable; the callback drains it (one
//!    `read` however many wake-ups were written) and completes the pending
//!    futures; each task calls `_poll()` again and takes an event.
//!
//! Batching: after a wake the waker stays deregistered until a `_poll()`
//! finds the queue empty, so events that arrive faster than the loop
//! drains them cost the writers no syscall, and the consumer takes them
//! with `_poll()` alone (no wait, no syscall) until the queue is empty.
//!
//! The descriptor is drained before the queue is polled again, so a
//! wake-up written after a poll is never lost; a stale one costs one
//! spurious round. A cancelled `get()` leaves the event in the Rust queue
//! (an event is taken only by a `_poll()` that returns it) and the reader
//! registered for the next `get()`. The registration is removed when the
//! subscription ends (a `get()` that meets `ClosedError`, `close()`) or is
//! garbage collected, and the descriptor closed after it.
//!
//! # Decisions
//!
//! - **Closed:** `close()`, `buffer.unsubscribe(queue)`, `buffer.reset()`
//!   end the subscription. Events already queued can still be taken; then
//!   `get()` and `get_nowait()` raise `rtstate.ClosedError` and `async for`
//!   and the blocking iterators stop. `get_nowait()` on an open, empty
//!   queue raises `asyncio.QueueEmpty`.
//! - **Events** hold the Rust snapshot and build Python objects on access
//!   on the consumer's side (the state once, then cached).

use super::buffers::PyStateBuffer;
use super::convert::Timeout;
use super::store::{Event, Queue};
use super::testing;
use super::wait::wait_in_slices;

mod event;
mod waker;

use crate::{duration_from_secs, Error, Policy, MAX_CAPACITY};
use event::_update_event;
pub use event::PyUpdateEvent;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyType};
use std::task::{Context, Poll, Waker};
use waker::fd_waker;

fn policy_name(policy: Policy) -> &'static str {
    match policy {
        Policy::DropOldest => "drop_oldest",
        Policy::DropNewest => "drop_newest",
        Policy::KeepLatest => "keep_latest",
    }
}

fn parse_policy(policy: &str) -> PyResult<Policy> {
    match policy {
        "drop_oldest" => Ok(Policy::DropOldest),
        "drop_newest" => Ok(Policy::DropNewest),
        "keep_latest" => Ok(Policy::KeepLatest),
        other => Err(PyValueError::new_err(format!(
            "policy must be \"drop_oldest\", \"drop_newest\" or \"keep_latest\", got {other:?}"
        ))),
    }
}

/// `rtstate._asyncio.<name>`, imported once.
fn glue<'py>(
    py: Python<'py>,
    cell: &'static PyOnceLock<Py<PyAny>>,
    name: &str,
) -> PyResult<&'py Bound<'py, PyAny>> {
    cell.import(py, "rtstate._asyncio", name)
}

/// A buffer's events for one consumer, used like an `asyncio.Queue`
/// (`await get()`, `get_nowait()`, `qsize()`, `empty()`, `full()`,
/// `maxsize`, `async for`) or from a thread (`for event in queue`,
/// `queue.iter(timeout)`). The writer never waits for it: a full queue
/// drops per its policy and counts the drop.
#[pyclass(frozen, module = "rtstate", name = "Subscription")]
pub struct PySubscription {
    queue: Box<dyn Queue>,
    waker: Waker,
    /// `rtstate._asyncio._Waiters`: the read end and the pending futures.
    waiters: Py<PyAny>,
    buffer: Py<PyStateBuffer>,
}

impl PySubscription {
    fn event(
        &self,
        py: Python<'_>,
        r: Result<Box<dyn Event>, Error>,
    ) -> PyResult<Py<PyUpdateEvent>> {
        PyUpdateEvent::new(py, r?)
    }
}

#[pymethods]
impl PySubscription {
    /// Awaitable: the next event, waiting without polling until one is
    /// published; `ClosedError` once the subscription ended and is drained.
    /// Cancelling it loses no event.
    fn get<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        static GET: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        let py = slf.py();
        glue(py, &GET, "get")?.call1((slf, slf.get().waiters.bind(py)))
    }

    /// The next event without waiting: `asyncio.QueueEmpty` if none,
    /// `ClosedError` once ended and drained.
    fn get_nowait(&self, py: Python<'_>) -> PyResult<Py<PyUpdateEvent>> {
        static QUEUE_EMPTY: PyOnceLock<Py<PyType>> = PyOnceLock::new();
        match self.queue.try_recv() {
            Err(Error::Empty) => Err(PyErr::from_type(
                QUEUE_EMPTY.import(py, "asyncio", "QueueEmpty")?.clone(),
                (),
            )),
            r => self.event(py, r),
        }
    }

    /// The next event, or None with the waker registered (used by the
    /// asyncio glue); `ClosedError` once ended and drained.
    fn _poll(&self, py: Python<'_>) -> PyResult<Option<Py<PyUpdateEvent>>> {
        match self.queue.poll_recv(&mut Context::from_waker(&self.waker)) {
            Poll::Pending => Ok(None),
            Poll::Ready(r) => self.event(py, r).map(Some),
        }
    }

    /// Blocks (the interpreter released) for the next event; None after
    /// `timeout` seconds (None: no limit) or once ended and drained.
    #[pyo3(signature = (timeout=Timeout(None)), text_signature = "($self, timeout=None)")]
    fn _recv(&self, py: Python<'_>, timeout: Timeout) -> PyResult<Option<Py<PyUpdateEvent>>> {
        let queue = &self.queue;
        let event = wait_in_slices(py, timeout.0, |slice| match queue.recv_timeout(slice) {
            Err(Error::Closed) => Ok(None),
            r => r.map(Some),
        })?;
        match event.flatten() {
            Some(e) => self.event(py, Ok(e)).map(Some),
            None => Ok(None),
        }
    }

    /// A blocking iterator over events (the interpreter released while it
    /// waits); it ends when the subscription ends and is drained, or when no
    /// event arrives within `timeout` seconds (None: no limit).
    #[pyo3(signature = (timeout=None))]
    fn iter<'py>(slf: &Bound<'py, Self>, timeout: Option<f64>) -> PyResult<Bound<'py, PyAny>> {
        static ITERATE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        if let Some(t) = timeout {
            duration_from_secs("timeout", t)?;
        }
        glue(slf.py(), &ITERATE, "iterate")?.call1((slf, timeout))
    }

    fn __iter__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        Self::iter(slf, None)
    }

    fn __aiter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __anext__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        static ANEXT: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        let py = slf.py();
        glue(py, &ANEXT, "anext")?.call1((slf, slf.get().waiters.bind(py)))
    }

    /// The asyncio glue's state (`rtstate._asyncio._Waiters`).
    #[getter]
    fn _waiters(&self, py: Python<'_>) -> Py<PyAny> {
        self.waiters.clone_ref(py)
    }

    /// Events queued now.
    fn qsize(&self) -> usize {
        self.queue.len()
    }

    /// Whether no event is queued now.
    fn empty(&self) -> bool {
        self.qsize() == 0
    }

    /// Whether the queue is full now (the next publish drops an event).
    fn full(&self) -> bool {
        self.queue.is_full()
    }

    /// The queue's capacity (1 for `keep_latest`).
    #[getter]
    fn maxsize(&self) -> usize {
        self.queue.capacity()
    }

    /// `"drop_oldest"`, `"drop_newest"` or `"keep_latest"`.
    #[getter]
    fn policy(&self) -> &'static str {
        policy_name(self.queue.policy())
    }

    /// Whether the subscription has ended (it may still hold events).
    #[getter]
    fn closed(&self) -> bool {
        self.queue.is_closed()
    }

    /// Ends the subscription: the buffer stops filling it and pending
    /// `get()`s wake; queued events can still be taken.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        self.queue.close();
        // The asyncio glue removes its reader from the loop.
        self.waiters.call_method0(py, intern!(py, "_closed"))?;
        Ok(())
    }

    /// For `asyncio.Queue` compatibility; does nothing.
    fn task_done(&self) {}

    /// `{"delivered", "dropped", "gaps", "duplicates"}` of this subscription.
    #[getter]
    fn counters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let c = self.queue.counters();
        let d = PyDict::new(py);
        d.set_item(intern!(py, "delivered"), c.delivered)?;
        d.set_item(intern!(py, "dropped"), c.dropped)?;
        d.set_item(intern!(py, "gaps"), c.gaps)?;
        d.set_item(intern!(py, "duplicates"), c.duplicates)?;
        Ok(d)
    }

    /// The counters plus `qsize maxsize policy closed`.
    fn get_statistics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = self.counters(py)?;
        d.set_item(intern!(py, "qsize"), self.qsize())?;
        d.set_item(intern!(py, "maxsize"), self.maxsize())?;
        d.set_item(intern!(py, "policy"), self.policy())?;
        d.set_item(intern!(py, "closed"), self.closed())?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        format!(
            "<Subscription policy={} maxsize={} qsize={} closed={}>",
            self.policy(),
            self.maxsize(),
            self.qsize(),
            if self.closed() { "True" } else { "False" }
        )
    }
}

// ---------------------------------------------------------------------------
// The buffer's methods (called from `buffers.rs`)
// ---------------------------------------------------------------------------

/// `buffer.subscribe(queue_size, policy)`.
pub(crate) fn subscribe(
    buffer: &Bound<'_, PyStateBuffer>,
    queue_size: i64,
    policy: &str,
) -> PyResult<PySubscription> {
    static WAITERS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let py = buffer.py();
    let policy = parse_policy(policy)?;
    let capacity = usize::try_from(queue_size)
        .ok()
        .filter(|c| (1..=MAX_CAPACITY).contains(c))
        .ok_or_else(|| {
            PyValueError::new_err(format!(
                "queue_size must be between 1 and {MAX_CAPACITY}, got {queue_size}"
            ))
        })?;
    let queue = buffer.get().store.subscribe(capacity, policy)?;
    let (waker, fd) = fd_waker()?;
    let waiters = glue(py, &WAITERS, "_Waiters")?.call1((fd,))?.unbind();
    Ok(PySubscription {
        queue,
        waker,
        waiters,
        buffer: buffer.clone().unbind(),
    })
}

/// `buffer.unsubscribe(queue)`: ends a subscription of this buffer.
pub(crate) fn unsubscribe(
    buffer: &Bound<'_, PyStateBuffer>,
    queue: &Bound<'_, PyAny>,
) -> PyResult<()> {
    let sub = queue.cast::<PySubscription>().map_err(|_| {
        PyTypeError::new_err(format!(
            "expected a Subscription, got {}",
            super::convert::type_name(queue)
        ))
    })?;
    let sub = sub.get();
    if !sub.buffer.bind(buffer.py()).is(buffer) {
        return Err(PyValueError::new_err(
            "queue is a subscription of another buffer",
        ));
    }
    sub.close(buffer.py())
}

/// `buffer.wait_for_update_async(timeout)`: an awaitable of the snapshot of
/// the next publish after this call, or None after `timeout` seconds. It
/// waits on an internal keep-latest subscription made now, so a publish
/// between this call and the first `await` counts.
pub(crate) fn wait_for_update_async<'py>(
    buffer: &Bound<'py, PyStateBuffer>,
    timeout: f64,
) -> PyResult<Bound<'py, PyAny>> {
    static WAIT: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let py = buffer.py();
    // +inf (or a value too large for a Duration) waits without limit.
    if timeout.is_nan() || timeout < 0.0 {
        return Err(PyValueError::new_err(format!(
            "`timeout` must be a number of seconds ≥ 0, got {timeout}"
        )));
    }
    let sub = Bound::new(py, subscribe(buffer, 1, "keep_latest")?)?;
    let waiters = sub.get().waiters.clone_ref(py);
    glue(py, &WAIT, "wait_for_update")?.call1((buffer, sub, waiters, timeout))
}

/// Adds the classes to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PySubscription>()?;
    m.add_class::<PyUpdateEvent>()?;
    m.add_function(wrap_pyfunction!(_update_event, m)?)?;
    testing::register(m)
}
