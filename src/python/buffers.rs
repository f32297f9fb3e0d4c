//! The buffers: `ThreadSafeStateBuffer` (any Python type, on the Rust
//! `StateBuffer`; `FastDroneState` on the Rust `SlotRing`),
//! `DroneStateBuffer`, `FastDroneStateBuffer`, and per-consumer `Reader`s.
//!
//! Each buffer caches the `StateSnapshot` objects it built, one per history
//! slot, keyed by (version, publish time): repeated reads of one version
//! return the same Python object and allocate nothing. The cache's mutex is
//! taken only by threads attached to Python, and nothing inside it calls
//! Python (objects it evicts are dropped after it is released).

use super::convert::{now, type_name};
use super::estimated::drone_state_from_estimate;
use super::snapshot::PyStateSnapshot;
use super::states::{own_timestamp, PyDroneState, PyFastDroneState};
use crate::sync::{lock, AtomicU64, Mutex, Ordering};
use crate::{
    duration_from_secs, Error, FastDroneState, Reader, SlotRing, Snapshot, Source, State,
    StateBuffer, Statistics, Version,
};
use pyo3::exceptions::PyTypeError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyType};
use std::collections::VecDeque;
use std::sync::Arc;

/// A Python state as stored in a `StateBuffer`: the object, its own
/// timestamp (read once at publish) and the publisher's metadata.
pub(crate) struct Entry {
    pub(crate) state: Py<PyAny>,
    timestamp: Option<f64>,
    metadata: Option<Py<PyDict>>,
}

impl State for Entry {
    fn timestamp(&self) -> Option<f64> {
        self.timestamp
    }
}

/// The Rust buffer under a Python one.
pub(crate) enum Store {
    /// Any Python object, on the arc-swap buffer.
    Objects(StateBuffer<Entry>),
    /// `FastDroneState` on the slot ring; metadata, which plain data cannot
    /// hold, is kept beside it by version (written only by Python threads).
    Fast {
        ring: SlotRing<FastDroneState>,
        metadata: Mutex<VecDeque<(Version, Py<PyDict>)>>,
    },
}

/// What a read found, whichever the store.
enum Found {
    Object(Arc<Snapshot<Entry>>),
    Fast(Snapshot<FastDroneState>),
}

impl Found {
    fn key(&self) -> (Version, u64) {
        match self {
            Found::Object(s) => (s.version, s.published_ns),
            Found::Fast(s) => (s.version, s.published_ns),
        }
    }
}

struct Cached {
    key: (Version, u64),
    snapshot: Py<PyStateSnapshot>,
}

/// A versioned, thread-safe state buffer (DART-Planner's
/// `ThreadSafeStateBuffer`).
#[pyclass(frozen, subclass, module = "rtstate", name = "ThreadSafeStateBuffer")]
pub struct PyStateBuffer {
    pub(crate) store: Store,
    state_type: Py<PyType>,
    capacity: usize,
    cache: Mutex<Vec<Option<Cached>>>,
    last_source: Mutex<Option<(Py<PyString>, Source)>>,
    last_read: AtomicU64,
}

impl PyStateBuffer {
    pub(crate) fn create(
        py: Python<'_>,
        buffer_size: usize,
        state_type: Option<Bound<'_, PyType>>,
    ) -> PyResult<Self> {
        let state_type = state_type.unwrap_or_else(|| py.get_type::<PyDroneState>());
        let store = if state_type.is(py.get_type::<PyFastDroneState>()) {
            Store::Fast {
                ring: SlotRing::checked(buffer_size)?,
                metadata: Mutex::new(VecDeque::new()),
            }
        } else {
            Store::Objects(StateBuffer::checked(buffer_size)?)
        };
        Ok(PyStateBuffer {
            store,
            state_type: state_type.unbind(),
            capacity: buffer_size,
            cache: Mutex::new((0..buffer_size).map(|_| None).collect()),
            last_source: Mutex::new(None),
            last_read: AtomicU64::new(0),
        })
    }

    /// The name shown in the manager's table.
    pub(crate) fn type_label(&self) -> &'static str {
        match &self.store {
            Store::Fast { .. } => "FastDroneState",
            Store::Objects(_) => "PyObject",
        }
    }

    fn source(&self, source: &Bound<'_, PyString>) -> PyResult<Source> {
        {
            let last = lock(&self.last_source);
            if let Some((s, id)) = &*last {
                if s.bind(source.py()).is(source) {
                    return Ok(*id);
                }
            }
        }
        let id = Source::intern(&source.to_cow()?);
        let old = lock(&self.last_source).replace((source.clone().unbind(), id));
        drop(old);
        Ok(id)
    }

    pub(crate) fn version(&self) -> Version {
        match &self.store {
            Store::Objects(b) => b.version(),
            Store::Fast { ring, .. } => ring.version(),
        }
    }

    pub(crate) fn statistics_core(&self) -> Statistics {
        match &self.store {
            Store::Objects(b) => b.statistics(),
            Store::Fast { ring, .. } => ring.statistics(),
        }
    }

    pub(crate) fn publish(
        &self,
        state: &Bound<'_, PyAny>,
        source: &Bound<'_, PyString>,
        metadata: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Version> {
        let py = state.py();
        let metadata = match metadata {
            Some(m) if !m.is_none() => Some(
                py.get_type::<PyDict>()
                    .call1((m,))?
                    .cast_into::<PyDict>()?
                    .unbind(),
            ),
            _ => None,
        };
        let source = self.source(source)?;
        match &self.store {
            Store::Objects(buffer) => {
                if !state.is_instance(self.state_type.bind(py))? {
                    return Err(PyTypeError::new_err(format!(
                        "expected {}, got {}",
                        self.state_type.bind(py).name()?,
                        type_name(state)
                    )));
                }
                let entry = Entry {
                    state: state.clone().unbind(),
                    timestamp: own_timestamp(state),
                    metadata,
                };
                buffer.publish(entry, source).map_err(|e| e.error.into())
            }
            Store::Fast {
                ring,
                metadata: side,
            } => {
                let fast = PyFastDroneState::extract_state(state)?;
                let Some(metadata) = metadata else {
                    return ring.publish(fast, source).map_err(|e| e.error.into());
                };
                let evicted;
                let version = {
                    let mut side = lock(side);
                    let version = ring
                        .publish(fast, source)
                        .map_err(|e| PyErr::from(e.error))?;
                    side.push_back((version, metadata));
                    let excess = side.len().saturating_sub(self.capacity);
                    evicted = side.drain(..excess).collect::<Vec<_>>();
                    version
                };
                drop(evicted);
                Ok(version)
            }
        }
    }

    fn latest_found(&self) -> Option<Found> {
        match &self.store {
            Store::Objects(b) => b.latest().map(Found::Object),
            Store::Fast { ring, .. } => ring.latest().map(Found::Fast),
        }
    }

    /// The `StateSnapshot` for `found`, from the cache or built (and cached).
    fn snapshot(&self, py: Python<'_>, found: Found) -> PyResult<Py<PyStateSnapshot>> {
        let key = found.key();
        let slot = (key.0 % self.capacity as u64) as usize;
        {
            let cache = lock(&self.cache);
            if let Some(Some(c)) = cache.get(slot) {
                if c.key == key {
                    return Ok(c.snapshot.clone_ref(py));
                }
            }
        }
        // A version read for the first time: the clock is read here, not on
        // every read (it would double the cost of a cached read).
        self.count_read();
        let snapshot = match found {
            Found::Object(s) => PyStateSnapshot {
                state: s.state.state.clone_ref(py),
                timestamp: s.timestamp,
                version: s.version,
                source: PyString::intern(py, s.source.as_str()).unbind(),
                metadata: match &s.state.metadata {
                    Some(m) => m.bind(py).copy()?.unbind(),
                    None => PyDict::new(py).unbind(),
                },
                published_at: s.published_at,
            },
            Found::Fast(s) => {
                let metadata = match &self.store {
                    Store::Fast { metadata, .. } => lock(metadata)
                        .iter()
                        .find(|(v, _)| *v == s.version)
                        .map(|(_, m)| m.clone_ref(py)),
                    Store::Objects(_) => None,
                };
                PyStateSnapshot {
                    state: Py::new(py, PyFastDroneState::wrap(s.state))?.into_any(),
                    timestamp: s.timestamp,
                    version: s.version,
                    source: PyString::intern(py, s.source.as_str()).unbind(),
                    metadata: match metadata {
                        Some(m) => m.bind(py).copy()?.unbind(),
                        None => PyDict::new(py).unbind(),
                    },
                    published_at: s.published_at,
                }
            }
        };
        let snapshot = Py::new(py, snapshot)?;
        let evicted = lock(&self.cache).get_mut(slot).and_then(|c| {
            c.replace(Cached {
                key,
                snapshot: snapshot.clone_ref(py),
            })
        });
        drop(evicted);
        Ok(snapshot)
    }

    /// Records `last_read_time`: the wall time of the latest read that
    /// picked up a snapshot not read before.
    fn count_read(&self) {
        // ORDERING: a statistic; nothing else hangs on it.
        self.last_read.store(now().to_bits(), Ordering::Relaxed);
    }

    pub(crate) fn latest(&self, py: Python<'_>) -> PyResult<Option<Py<PyStateSnapshot>>> {
        let Some(found) = self.latest_found() else {
            return Ok(None);
        };
        self.snapshot(py, found).map(Some)
    }

    fn wait_after(
        &self,
        py: Python<'_>,
        after: Version,
        timeout: f64,
    ) -> PyResult<Option<Py<PyStateSnapshot>>> {
        let timeout = duration_from_secs("timeout", timeout)?;
        let result = match &self.store {
            Store::Objects(b) => {
                let b = b.clone();
                py.detach(move || b.wait_for_update(after, timeout))
            }
            Store::Fast { ring, .. } => {
                let ring = ring.clone();
                py.detach(move || ring.wait_for_update(after, timeout))
            }
        };
        match result {
            Ok(_) => self.latest(py),
            Err(Error::Timeout(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The statistics as DART-Planner's dict plus ours.
    pub(crate) fn statistics_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.statistics_core();
        let d = PyDict::new(py);
        d.set_item(intern!(py, "updates"), s.updates)?;
        d.set_item(intern!(py, "reads"), s.reads)?;
        d.set_item(intern!(py, "stale_reads"), s.stale_reads)?;
        d.set_item(intern!(py, "current_version"), s.current_version)?;
        d.set_item(
            intern!(py, "last_update_time"),
            s.last_update_time.unwrap_or(0.0),
        )?;
        // ORDERING: a statistic.
        let last_read = f64::from_bits(self.last_read.load(Ordering::Relaxed));
        d.set_item(intern!(py, "last_read_time"), last_read)?;
        d.set_item(intern!(py, "subscriber_count"), s.subscribers)?;
        d.set_item(intern!(py, "buffer_size"), self.capacity)?;
        d.set_item(intern!(py, "lost"), s.lost)?;
        d.set_item(intern!(py, "readers"), s.readers)?;
        d.set_item(intern!(py, "history_len"), s.history_len)?;
        d.set_item(intern!(py, "updates_per_sec"), s.updates_per_sec)?;
        d.set_item(intern!(py, "reads_per_sec"), s.reads_per_sec)?;
        d.set_item(
            intern!(py, "latest_age"),
            s.latest_age.map(|a| a.as_secs_f64()),
        )?;
        d.set_item(intern!(py, "delivered"), s.subscriptions.delivered)?;
        d.set_item(intern!(py, "dropped"), s.subscriptions.dropped)?;
        d.set_item(intern!(py, "gaps"), s.subscriptions.gaps)?;
        d.set_item(intern!(py, "duplicates"), s.subscriptions.duplicates)?;
        d.set_item(intern!(py, "waiting"), s.waiting)?;
        Ok(d)
    }

    pub(crate) fn reset_all(&self) {
        let (evicted_meta, evicted_cache);
        match &self.store {
            Store::Objects(b) => {
                b.reset();
                evicted_meta = Vec::new();
            }
            Store::Fast { ring, metadata } => {
                let mut side = lock(metadata);
                ring.reset();
                evicted_meta = side.drain(..).collect::<Vec<_>>();
            }
        }
        evicted_cache = lock(&self.cache)
            .iter_mut()
            .map(Option::take)
            .collect::<Vec<_>>();
        // ORDERING: a statistic.
        self.last_read.store(0, Ordering::Relaxed);
        drop((evicted_meta, evicted_cache));
    }
}

#[pymethods]
impl PyStateBuffer {
    #[new]
    #[pyo3(signature = (buffer_size=10, state_type=None))]
    fn new(
        py: Python<'_>,
        buffer_size: usize,
        state_type: Option<Bound<'_, PyType>>,
    ) -> PyResult<Self> {
        Self::create(py, buffer_size, state_type)
    }

    /// The most snapshots the history holds.
    #[getter]
    fn buffer_size(&self) -> usize {
        self.capacity
    }

    /// The type of state accepted.
    #[getter]
    fn state_type(&self, py: Python<'_>) -> Py<PyType> {
        self.state_type.clone_ref(py)
    }

    /// The latest version (0 before the first update).
    #[getter]
    #[pyo3(name = "version")]
    fn py_version(&self) -> Version {
        self.version()
    }

    /// Publishes `state`; returns its version.
    #[pyo3(signature = (state, source=None, metadata=None))]
    fn update_state(
        &self,
        state: &Bound<'_, PyAny>,
        source: Option<&Bound<'_, PyString>>,
        metadata: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Version> {
        let py = state.py();
        let unknown = intern!(py, "unknown");
        self.publish(state, source.unwrap_or(unknown), metadata)
    }

    /// The latest snapshot, or None before the first update.
    fn get_latest_state(&self, py: Python<'_>) -> PyResult<Option<Py<PyStateSnapshot>>> {
        self.latest(py)
    }

    /// The held snapshot nearest `target_time`, if within `max_age` of it;
    /// otherwise None, counted as a stale read.
    #[pyo3(signature = (target_time, max_age=0.1))]
    fn get_state_at_time(
        &self,
        py: Python<'_>,
        target_time: f64,
        max_age: f64,
    ) -> PyResult<Option<Py<PyStateSnapshot>>> {
        let max_age = duration_from_secs("max_age", max_age)?;
        let found = match &self.store {
            Store::Objects(b) => b.state_at(target_time, max_age).map(Found::Object),
            Store::Fast { ring, .. } => ring.state_at(target_time, max_age).map(Found::Fast),
        };
        found.map(|f| self.snapshot(py, f)).transpose()
    }

    /// The snapshots held, oldest first (at most `buffer_size`).
    fn get_history<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let found: Vec<Found> = match &self.store {
            Store::Objects(b) => b.history().into_iter().map(Found::Object).collect(),
            Store::Fast { ring, .. } => ring.history().into_iter().map(Found::Fast).collect(),
        };
        let snapshots = found
            .into_iter()
            .map(|f| self.snapshot(py, f))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, snapshots)
    }

    /// Blocks (the interpreter released) until a newer version is published;
    /// returns its snapshot, or None after `timeout` seconds.
    #[pyo3(signature = (timeout=1.0))]
    fn wait_for_update(
        &self,
        py: Python<'_>,
        timeout: f64,
    ) -> PyResult<Option<Py<PyStateSnapshot>>> {
        self.wait_after(py, self.version(), timeout)
    }

    /// Counters and rates (DART-Planner's keys plus rtstate's).
    fn get_statistics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.statistics_dict(py)
    }

    /// Forgets every state, the version and the statistics.
    fn reset(&self) {
        self.reset_all()
    }

    /// A subscription to every publish from now on, used like an
    /// `asyncio.Queue` (see `subscription.rs`).
    #[pyo3(signature = (queue_size=10, policy="drop_oldest"))]
    fn subscribe(
        slf: &Bound<'_, Self>,
        queue_size: i64,
        policy: &str,
    ) -> PyResult<super::subscription::PySubscription> {
        super::subscription::subscribe(slf, queue_size, policy)
    }

    /// Ends `queue`, a subscription of this buffer.
    fn unsubscribe(slf: &Bound<'_, Self>, queue: &Bound<'_, PyAny>) -> PyResult<()> {
        super::subscription::unsubscribe(slf, queue)
    }

    /// Awaitable: the snapshot of the next publish, or None after `timeout`.
    #[pyo3(signature = (timeout=1.0))]
    fn wait_for_update_async<'py>(
        slf: &Bound<'py, Self>,
        timeout: f64,
    ) -> PyResult<Bound<'py, PyAny>> {
        super::subscription::wait_for_update_async(slf, timeout)
    }

    /// A new per-consumer reader.
    fn reader(slf: &Bound<'_, Self>) -> PyReader {
        let kind = match &slf.get().store {
            Store::Objects(b) => ReaderKind::Objects(b.reader()),
            Store::Fast { ring, .. } => ReaderKind::Fast(ring.reader()),
        };
        PyReader {
            reader: Mutex::new(kind),
            buffer: slf.clone().unbind(),
        }
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "<{} state_type={} buffer_size={} version={}>",
            "ThreadSafeStateBuffer",
            self.state_type.bind(py).name()?,
            self.capacity,
            self.version()
        ))
    }
}

/// A buffer of `DroneState` (DART-Planner's `DroneStateBuffer`).
#[pyclass(frozen, extends = PyStateBuffer, module = "rtstate", name = "DroneStateBuffer")]
pub struct PyDroneStateBuffer;

#[pymethods]
impl PyDroneStateBuffer {
    #[new]
    #[pyo3(signature = (buffer_size=10))]
    fn new(py: Python<'_>, buffer_size: usize) -> PyResult<PyClassInitializer<Self>> {
        let base = PyStateBuffer::create(py, buffer_size, Some(py.get_type::<PyDroneState>()))?;
        Ok(PyClassInitializer::from(base).add_subclass(PyDroneStateBuffer))
    }

    /// Publishes an estimator's output: anything with `.pose` and `.twist`
    /// is converted to a `DroneState`; a `DroneState` is taken as is.
    #[pyo3(signature = (estimated_state, source=None))]
    fn update_from_estimator(
        slf: &Bound<'_, Self>,
        estimated_state: &Bound<'_, PyAny>,
        source: Option<&Bound<'_, PyString>>,
    ) -> PyResult<Version> {
        let py = slf.py();
        let source = source.unwrap_or(intern!(py, "estimator"));
        let base = slf.as_super().get();
        let is_estimate = !estimated_state.is_instance_of::<PyDroneState>()
            && estimated_state.hasattr(intern!(py, "pose"))?
            && estimated_state.hasattr(intern!(py, "twist"))?;
        if is_estimate {
            let state = Bound::new(
                py,
                PyDroneState::wrap(drone_state_from_estimate(estimated_state)?),
            )?;
            base.publish(state.as_any(), source, None)
        } else {
            base.publish(estimated_state, source, None)
        }
    }
}

/// A buffer of `FastDroneState` on the lock-free slot ring
/// (DART-Planner's `FastDroneStateBuffer`); a `DroneState` is converted.
#[pyclass(frozen, extends = PyStateBuffer, module = "rtstate", name = "FastDroneStateBuffer")]
pub struct PyFastDroneStateBuffer;

#[pymethods]
impl PyFastDroneStateBuffer {
    #[new]
    #[pyo3(signature = (buffer_size=5))]
    fn new(py: Python<'_>, buffer_size: usize) -> PyResult<PyClassInitializer<Self>> {
        let base = PyStateBuffer::create(py, buffer_size, Some(py.get_type::<PyFastDroneState>()))?;
        Ok(PyClassInitializer::from(base).add_subclass(PyFastDroneStateBuffer))
    }

    /// Publishes a `DroneState` converted to a `FastDroneState`.
    #[pyo3(signature = (drone_state, source=None))]
    fn update_from_drone_state(
        slf: &Bound<'_, Self>,
        drone_state: &Bound<'_, PyAny>,
        source: Option<&Bound<'_, PyString>>,
    ) -> PyResult<Version> {
        let py = slf.py();
        let d = drone_state.cast::<PyDroneState>().map_err(|_| {
            PyTypeError::new_err(format!(
                "expected DroneState, got {}",
                type_name(drone_state)
            ))
        })?;
        slf.as_super()
            .get()
            .publish(d.as_any(), source.unwrap_or(intern!(py, "converter")), None)
    }
}

enum ReaderKind {
    Objects(Reader<StateBuffer<Entry>>),
    Fast(Reader<SlotRing<FastDroneState>>),
}

/// One consumer's cursor on a buffer: `updated()`, `read_if_updated()`,
/// `lost` (versions published after its creation that it never read).
#[pyclass(frozen, module = "rtstate", name = "Reader")]
pub struct PyReader {
    reader: Mutex<ReaderKind>,
    buffer: Py<PyStateBuffer>,
}

impl PyReader {
    fn found(&self, py: Python<'_>, found: Option<Found>) -> PyResult<Option<Py<PyStateSnapshot>>> {
        found.map(|f| self.buffer.get().snapshot(py, f)).transpose()
    }
}

#[pymethods]
impl PyReader {
    /// Whether a version other than the last one read exists.
    fn updated(&self) -> bool {
        match &*lock(&self.reader) {
            ReaderKind::Objects(r) => r.updated(),
            ReaderKind::Fast(r) => r.updated(),
        }
    }

    /// The latest snapshot if newer than the last one read, else None.
    fn read_if_updated(&self, py: Python<'_>) -> PyResult<Option<Py<PyStateSnapshot>>> {
        let found = match &mut *lock(&self.reader) {
            ReaderKind::Objects(r) => r.read_if_updated().map(Found::Object),
            ReaderKind::Fast(r) => r.read_if_updated().map(Found::Fast),
        };
        self.found(py, found)
    }

    /// The latest snapshot (even if already read), or None before the first update.
    fn read(&self, py: Python<'_>) -> PyResult<Option<Py<PyStateSnapshot>>> {
        let found = match &mut *lock(&self.reader) {
            ReaderKind::Objects(r) => r.read().map(Found::Object),
            ReaderKind::Fast(r) => r.read().map(Found::Fast),
        };
        self.found(py, found)
    }

    /// Blocks (the interpreter released) until a version newer than the
    /// last one read exists, then reads it; None after `timeout` seconds.
    #[pyo3(signature = (timeout=1.0))]
    fn wait(&self, py: Python<'_>, timeout: f64) -> PyResult<Option<Py<PyStateSnapshot>>> {
        let last = self.last_version();
        let buffer = self.buffer.get();
        if (buffer.version() == last || buffer.version() == 0)
            && buffer.wait_after(py, last, timeout)?.is_none()
        {
            return Ok(None);
        }
        self.read_if_updated(py)
    }

    /// Versions published after this reader was created that it never read.
    #[getter]
    fn lost(&self) -> u64 {
        match &*lock(&self.reader) {
            ReaderKind::Objects(r) => r.lost(),
            ReaderKind::Fast(r) => r.lost(),
        }
    }

    /// The last version read (0 before the first read).
    #[getter]
    fn last_version(&self) -> Version {
        match &*lock(&self.reader) {
            ReaderKind::Objects(r) => r.last_version(),
            ReaderKind::Fast(r) => r.last_version(),
        }
    }

    /// Reads made through this reader.
    #[getter]
    fn reads(&self) -> u64 {
        match &*lock(&self.reader) {
            ReaderKind::Objects(r) => r.reads(),
            ReaderKind::Fast(r) => r.reads(),
        }
    }
}

/// A `DroneStateBuffer` (DART-Planner's factory).
#[pyfunction]
#[pyo3(signature = (buffer_size=10))]
pub(crate) fn create_drone_state_buffer(
    py: Python<'_>,
    buffer_size: usize,
) -> PyResult<Bound<'_, PyDroneStateBuffer>> {
    Bound::new(py, PyDroneStateBuffer::new(py, buffer_size)?)
}

/// A `FastDroneStateBuffer` (DART-Planner's factory).
#[pyfunction]
#[pyo3(signature = (buffer_size=5))]
pub(crate) fn create_fast_state_buffer(
    py: Python<'_>,
    buffer_size: usize,
) -> PyResult<Bound<'_, PyFastDroneStateBuffer>> {
    Bound::new(py, PyFastDroneStateBuffer::new(py, buffer_size)?)
}
