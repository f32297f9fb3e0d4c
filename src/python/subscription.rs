//! Subscriptions from Python: `buffer.subscribe()` returns a
//! [`PySubscription`], used like an `asyncio.Queue` (`await get()`,
//! `get_nowait()`, `async for`) or as a blocking iterator from a thread;
//! events are [`PyUpdateEvent`]s, read as dicts or attributes.
//!
//! # Wake-up
//!
//! Each subscription owns a nonblocking wake-up descriptor: an `eventfd` on
//! Linux, a Unix socket pair elsewhere. Its write side is inside a std
//! [`Waker`] ([`FdWaker`]): waking is one `write` (one syscall, no
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

use super::buffers::{Entry, PyStateBuffer, Store};
use super::states::PyFastDroneState;
use super::testing;
use crate::{
    duration_from_secs, Error, FastDroneState, Policy, Snapshot, Source, Subscription,
    SubscriptionCounters, MAX_CAPACITY,
};
use pyo3::exceptions::{PyKeyError, PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyString, PyType};
use std::io::Write;
use std::os::fd::IntoRawFd;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

/// The event keys, in DART-Planner's order.
const KEYS: [&str; 4] = ["state", "version", "timestamp", "source"];

/// The longest a blocking receive waits between two checks for signals
/// (Ctrl-C); an event wakes it at once.
const SIGNAL_CHECK: Duration = Duration::from_millis(100);

// ---------------------------------------------------------------------------
// The waker
// ---------------------------------------------------------------------------

/// A std waker that makes a descriptor readable: callable from any thread,
/// no interpreter needed.
struct FdWaker {
    file: std::fs::File,
}

impl Wake for FdWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // An eventfd adds 1 to its counter (8 bytes, native order); a socket
        // takes one byte. Either way the read side becomes readable. A full
        // socket (EAGAIN) already holds an unread wake-up, an eventfd cannot
        // overflow before 2^64 − 2 unread wake-ups; any other error leaves
        // nothing to do (the reader is gone).
        let one = 1u64.to_ne_bytes();
        let len = if cfg!(target_os = "linux") { 8 } else { 1 };
        let _ = (&self.file).write(&one[..len]);
    }
}

/// A waker and the raw read side of its descriptor (nonblocking,
/// close-on-exec), whose ownership passes to the caller. On Linux both
/// sides are descriptors of one `eventfd`, so that the glue can close its
/// side without closing the waker's.
#[cfg(target_os = "linux")]
fn fd_waker() -> PyResult<(Waker, i32)> {
    let write = crate::control::rt::eventfd()?;
    let read = write.try_clone()?;
    let file = std::fs::File::from(write);
    Ok((Waker::from(Arc::new(FdWaker { file })), read.into_raw_fd()))
}

/// A waker and the raw read end of its socket pair (elsewhere than Linux).
#[cfg(not(target_os = "linux"))]
fn fd_waker() -> PyResult<(Waker, i32)> {
    let (tx, rx) = std::os::unix::net::UnixStream::pair()?;
    tx.set_nonblocking(true)?;
    rx.set_nonblocking(true)?;
    let file = std::fs::File::from(std::os::fd::OwnedFd::from(tx));
    Ok((Waker::from(Arc::new(FdWaker { file })), rx.into_raw_fd()))
}

// ---------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------

/// What a subscription carries, whichever the store.
enum EventData {
    Object(Arc<Snapshot<Entry>>),
    Fast(Snapshot<FastDroneState>),
    /// Rebuilt from a pickle or a deep copy: the values themselves.
    Plain {
        state: Py<PyAny>,
        version: u64,
        timestamp: f64,
        published_at: f64,
        source: Py<PyString>,
    },
}

impl EventData {
    fn version(&self) -> u64 {
        match self {
            EventData::Object(s) => s.version,
            EventData::Fast(s) => s.version,
            EventData::Plain { version, .. } => *version,
        }
    }
    fn timestamp(&self) -> f64 {
        match self {
            EventData::Object(s) => s.timestamp,
            EventData::Fast(s) => s.timestamp,
            EventData::Plain { timestamp, .. } => *timestamp,
        }
    }
    fn published_at(&self) -> f64 {
        match self {
            EventData::Object(s) => s.published_at,
            EventData::Fast(s) => s.published_at,
            EventData::Plain { published_at, .. } => *published_at,
        }
    }
    fn source<'py>(&self, py: Python<'py>) -> Bound<'py, PyString> {
        let interned = |s: Source| PyString::intern(py, s.as_str());
        match self {
            EventData::Object(s) => interned(s.source),
            EventData::Fast(s) => interned(s.source),
            EventData::Plain { source, .. } => source.bind(py).clone(),
        }
    }
}

/// Rebuilds an `UpdateEvent` from its values (its pickle).
#[pyfunction]
pub(crate) fn _update_event(
    py: Python<'_>,
    state: Py<PyAny>,
    version: u64,
    timestamp: f64,
    source: Bound<'_, PyString>,
    published_at: f64,
) -> PyResult<Py<PyUpdateEvent>> {
    PyUpdateEvent::new(
        py,
        EventData::Plain {
            state,
            version,
            timestamp,
            published_at,
            source: source.unbind(),
        },
    )
}

/// One publish as a subscriber receives it: `event["version"]` or
/// `event.version`, with keys `state version timestamp source`.
#[pyclass(frozen, module = "rtstate", name = "UpdateEvent")]
pub struct PyUpdateEvent {
    data: EventData,
    state: PyOnceLock<Py<PyAny>>,
}

impl PyUpdateEvent {
    fn new(py: Python<'_>, data: EventData) -> PyResult<Py<PyUpdateEvent>> {
        Py::new(
            py,
            PyUpdateEvent {
                data,
                state: PyOnceLock::new(),
            },
        )
    }

    fn value(&self, py: Python<'_>, key: &str) -> PyResult<Option<Py<PyAny>>> {
        Ok(Some(match key {
            "state" => self.state(py)?,
            "version" => self.data.version().into_pyobject(py)?.into_any().unbind(),
            "timestamp" => self.data.timestamp().into_pyobject(py)?.into_any().unbind(),
            "source" => self.data.source(py).into_any().unbind(),
            _ => return Ok(None),
        }))
    }
}

#[pymethods]
impl PyUpdateEvent {
    /// The state published (built on first access, then the same object).
    #[getter]
    fn state(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.state
            .get_or_try_init(py, || match &self.data {
                EventData::Object(s) => Ok(s.state.state.clone_ref(py)),
                EventData::Fast(s) => Ok(Py::new(py, PyFastDroneState::wrap(s.state))?.into_any()),
                EventData::Plain { state, .. } => Ok(state.clone_ref(py)),
            })
            .map(|s| s.clone_ref(py))
    }

    /// The buffer's version of this publish.
    #[getter]
    fn version(&self) -> u64 {
        self.data.version()
    }

    /// The state's own time, else the publish time (wall-clock seconds).
    #[getter]
    fn timestamp(&self) -> f64 {
        self.data.timestamp()
    }

    /// Who published it.
    #[getter]
    fn source<'py>(&self, py: Python<'py>) -> Bound<'py, PyString> {
        self.data.source(py)
    }

    /// Wall-clock seconds when it was published.
    #[getter]
    fn published_at(&self) -> f64 {
        self.data.published_at()
    }

    fn __getitem__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let found = match key.cast::<PyString>() {
            Ok(k) => self.value(py, &k.to_cow()?)?,
            Err(_) => None,
        };
        found.ok_or_else(|| PyKeyError::new_err(key.clone().unbind()))
    }

    /// The value of `key`, or `default`.
    #[pyo3(signature = (key, default=None))]
    fn get(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        default: Option<Py<PyAny>>,
    ) -> PyResult<Option<Py<PyAny>>> {
        match key.cast::<PyString>() {
            Ok(k) => Ok(self.value(py, &k.to_cow()?)?.or(default)),
            Err(_) => Ok(default),
        }
    }

    fn __contains__(&self, key: &Bound<'_, PyAny>) -> bool {
        key.cast::<PyString>()
            .ok()
            .and_then(|k| k.to_cow().ok().map(|k| KEYS.contains(&&*k)))
            .unwrap_or(false)
    }

    fn __len__(&self) -> usize {
        KEYS.len()
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.keys(py)?.try_iter().map(Bound::into_any)
    }

    /// `["state", "version", "timestamp", "source"]`.
    fn keys<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, KEYS)
    }

    /// The values, in the order of `keys()`.
    fn values<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let values = KEYS
            .iter()
            .map(|k| self.value(py, k).map(Option::unwrap))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, values)
    }

    /// `(key, value)` pairs, in the order of `keys()`.
    fn items<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let items = KEYS
            .iter()
            .map(|k| Ok((*k, self.value(py, k)?.unwrap())))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, items)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "UpdateEvent(version={}, timestamp={:?}, source={}, state={})",
            self.data.version(),
            self.data.timestamp(),
            self.data.source(py).repr()?,
            self.state(py)?.bind(py).repr()?
        ))
    }

    /// Pickles as its values (the state pickled as itself).
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let me = slf.get();
        static REBUILD: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        let rebuild = REBUILD.import(py, "rtstate._rtstate", "_update_event")?;
        let args = (
            me.state(py)?,
            me.data.version(),
            me.data.timestamp(),
            me.data.source(py),
            me.data.published_at(),
        );
        (rebuild, args).into_pyobject(py).map(Bound::into_any)
    }

    /// Events are immutable: a copy is the event itself.
    fn __copy__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    /// A new event whose state is a deep copy.
    fn __deepcopy__(&self, py: Python<'_>, memo: Bound<'_, PyAny>) -> PyResult<Py<PyUpdateEvent>> {
        static DEEPCOPY: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        let state = DEEPCOPY
            .import(py, "copy", "deepcopy")?
            .call1((self.state(py)?, memo))?
            .unbind();
        _update_event(
            py,
            state,
            self.data.version(),
            self.data.timestamp(),
            self.data.source(py),
            self.data.published_at(),
        )
    }
}

// ---------------------------------------------------------------------------
// The subscription
// ---------------------------------------------------------------------------

/// The core subscription, whichever the store.
enum Kind {
    Objects(Subscription<Arc<Snapshot<Entry>>>),
    Fast(Subscription<Snapshot<FastDroneState>>),
}

/// Dispatches `$body` on the inner `Subscription` as `$s`.
macro_rules! with_sub {
    ($kind:expr, $s:ident => $body:expr) => {
        match $kind {
            Kind::Objects($s) => $body,
            Kind::Fast($s) => $body,
        }
    };
}

impl Kind {
    fn try_recv(&self) -> Result<EventData, Error> {
        match self {
            Kind::Objects(s) => s.try_recv().map(EventData::Object),
            Kind::Fast(s) => s.try_recv().map(EventData::Fast),
        }
    }

    fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Result<EventData, Error>> {
        match self {
            Kind::Objects(s) => s.poll_recv(cx).map(|r| r.map(EventData::Object)),
            Kind::Fast(s) => s.poll_recv(cx).map(|r| r.map(EventData::Fast)),
        }
    }

    fn recv_timeout(&self, timeout: Duration) -> Result<EventData, Error> {
        match self {
            Kind::Objects(s) => s.recv_timeout(timeout).map(EventData::Object),
            Kind::Fast(s) => s.recv_timeout(timeout).map(EventData::Fast),
        }
    }

    fn counters(&self) -> SubscriptionCounters {
        with_sub!(self, s => s.counters())
    }
}

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
    kind: Kind,
    waker: Waker,
    /// `rtstate._asyncio._Waiters`: the read end and the pending futures.
    waiters: Py<PyAny>,
    buffer: Py<PyStateBuffer>,
}

impl PySubscription {
    fn event(&self, py: Python<'_>, r: Result<EventData, Error>) -> PyResult<Py<PyUpdateEvent>> {
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
        match self.kind.try_recv() {
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
        match self.kind.poll_recv(&mut Context::from_waker(&self.waker)) {
            Poll::Pending => Ok(None),
            Poll::Ready(r) => self.event(py, r).map(Some),
        }
    }

    /// Blocks (the interpreter released) for the next event; None after
    /// `timeout` seconds (None: no limit) or once ended and drained.
    #[pyo3(signature = (timeout=None))]
    fn _recv(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<Py<PyUpdateEvent>>> {
        let timeout = timeout
            .map(|t| duration_from_secs("timeout", t))
            .transpose()?;
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        loop {
            let chunk = match deadline {
                Some(d) => d
                    .saturating_duration_since(Instant::now())
                    .min(SIGNAL_CHECK),
                None => SIGNAL_CHECK,
            };
            let kind = &self.kind;
            match py.detach(|| kind.recv_timeout(chunk)) {
                Err(Error::Timeout(_)) => {
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        return Ok(None);
                    }
                    py.check_signals()?;
                }
                Err(Error::Closed) => return Ok(None),
                r => return self.event(py, r).map(Some),
            }
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
        with_sub!(&self.kind, s => s.len())
    }

    /// Whether no event is queued now.
    fn empty(&self) -> bool {
        self.qsize() == 0
    }

    /// Whether the queue is full now (the next publish drops an event).
    fn full(&self) -> bool {
        with_sub!(&self.kind, s => s.is_full())
    }

    /// The queue's capacity (1 for `keep_latest`).
    #[getter]
    fn maxsize(&self) -> usize {
        with_sub!(&self.kind, s => s.capacity())
    }

    /// `"drop_oldest"`, `"drop_newest"` or `"keep_latest"`.
    #[getter]
    fn policy(&self) -> &'static str {
        policy_name(with_sub!(&self.kind, s => s.policy()))
    }

    /// Whether the subscription has ended (it may still hold events).
    #[getter]
    fn closed(&self) -> bool {
        with_sub!(&self.kind, s => s.is_closed())
    }

    /// Ends the subscription: the buffer stops filling it and pending
    /// `get()`s wake; queued events can still be taken.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        with_sub!(&self.kind, s => s.close());
        // The asyncio glue removes its reader from the loop.
        self.waiters.call_method0(py, intern!(py, "_closed"))?;
        Ok(())
    }

    /// For `asyncio.Queue` compatibility; does nothing.
    fn task_done(&self) {}

    /// `{"delivered", "dropped", "gaps", "duplicates"}` of this subscription.
    #[getter]
    fn counters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let c = self.kind.counters();
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
    let kind = match &buffer.get().store {
        Store::Objects(b) => Kind::Objects(b.subscribe(capacity, policy)?),
        Store::Fast { ring, .. } => Kind::Fast(ring.subscribe(capacity, policy)?),
    };
    let (waker, fd) = fd_waker()?;
    let waiters = glue(py, &WAITERS, "_Waiters")?.call1((fd,))?.unbind();
    Ok(PySubscription {
        kind,
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
