//! The one dispatch point between the two kinds of Python buffer.
//!
//! A Python buffer holds its core buffer as a `dyn` [`Store`], implemented
//! once, generically, for an [`Annotated`] buffer whose state type is a
//! [`PyState`] (the publisher's metadata lives in the annotation). What
//! differs between the kinds is only the conversion of a state in and out:
//!
//! - [`Entry`] (any Python object, on a `StateBuffer`);
//! - [`FastDroneState`] (plain data, on a `SlotRing`).
//!
//! Readers ([`Cursor`]) and subscriptions ([`Queue`], [`Event`]) are
//! dispatched the same way, so the `#[pymethods]` of `buffers.rs` and
//! `subscription/` call one method each.

use super::convert::{now, qualified_name, readonly_mapping, type_name};
use super::snapshot::PyStateSnapshot;
use super::states::{own_timestamp, to_drone_state, PyDroneState, PyFastDroneState};
use super::wait::wait_in_slices;
use crate::buffer::{ItemOf, StateOf};
use crate::storage::Storage;
use crate::sync::{lock, AtomicU64, Mutex, Ordering};
use crate::{
    Annotated, Error, FastDroneState, Policy, Reader, SlotRing, Snapshot, Source, State,
    StateBuffer, StateManager, Statistics, Subscription, SubscriptionCounters, Version,
};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyType};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// A Python state as stored in a `StateBuffer`: the object and its own
/// timestamp (read once at publish).
pub(crate) struct Entry {
    pub(crate) state: Py<PyAny>,
    timestamp: Option<f64>,
    /// A `DroneState`'s unit-stripped twin, taken at publish (a copy of
    /// its fields): what a recorder or a live server writes for it,
    /// read on their threads without the GIL. None for other objects.
    pub(crate) fast: Option<FastDroneState>,
}

impl State for Entry {
    fn timestamp(&self) -> Option<f64> {
        self.timestamp
    }
}

/// A state type a Python buffer can hold: how a Python object goes in and
/// comes out.
pub(crate) trait PyState: Sized + Send + Sync + 'static {
    /// Checks and converts `state` for a buffer of `state_type` (named
    /// `state` in messages).
    fn from_python(state: &Bound<'_, PyAny>, state_type: &Bound<'_, PyType>) -> PyResult<Self>;
    /// The Python object of a stored state.
    fn to_python(&self, py: Python<'_>) -> PyResult<Py<PyAny>>;
}

impl PyState for Entry {
    fn from_python(state: &Bound<'_, PyAny>, state_type: &Bound<'_, PyType>) -> PyResult<Self> {
        let py = state.py();
        // A buffer of rtstate's DroneState takes another library's
        // DroneState-like objects too, converted with the same checks.
        let converted;
        let state = match state_type.is(py.get_type::<PyDroneState>()) {
            true => match to_drone_state(state, "state")? {
                Some(d) => {
                    converted = Bound::new(py, PyDroneState::wrap(d))?.into_any();
                    &converted
                }
                None => state,
            },
            false => state,
        };
        if !state.is_instance(state_type)? {
            return Err(PyTypeError::new_err(format!(
                "`state` expects {}, got {}",
                qualified_name(state_type),
                type_name(state)
            )));
        }
        Ok(Entry {
            state: state.clone().unbind(),
            timestamp: own_timestamp(state)?,
            fast: state
                .cast::<PyDroneState>()
                .ok()
                .map(|d| d.get().inner.to_fast_state()),
        })
    }

    fn to_python(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(self.state.clone_ref(py))
    }
}

impl PyState for FastDroneState {
    fn from_python(state: &Bound<'_, PyAny>, _: &Bound<'_, PyType>) -> PyResult<Self> {
        PyFastDroneState::extract_state(state)
    }

    fn to_python(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(Py::new(py, PyFastDroneState::wrap(*self))?.into_any())
    }
}

/// A snapshot as the core hands it out (`Snapshot<T>` by value or in an
/// `Arc`), of a [`PyState`].
pub(crate) trait Item: Send + Sync + 'static {
    type State: PyState;
    fn snapshot(&self) -> &Snapshot<Self::State>;
}

impl<T: PyState> Item for Snapshot<T> {
    type State = T;
    fn snapshot(&self) -> &Snapshot<T> {
        self
    }
}

impl<T: PyState> Item for Arc<Snapshot<T>> {
    type State = T;
    fn snapshot(&self) -> &Snapshot<T> {
        self
    }
}

/// One publish as a subscription carries it: a core snapshot, or one
/// rebuilt from its values (a pickle or a deep copy).
pub(crate) trait Event: Send + Sync + 'static {
    fn version(&self) -> Version;
    fn timestamp(&self) -> f64;
    fn published_at(&self) -> f64;
    fn source<'py>(&self, py: Python<'py>) -> Bound<'py, PyString>;
    /// The state (built on each call: the event caches it).
    fn state(&self, py: Python<'_>) -> PyResult<Py<PyAny>>;
}

impl<I: Item> Event for I {
    fn version(&self) -> Version {
        self.snapshot().version
    }
    fn timestamp(&self) -> f64 {
        self.snapshot().timestamp
    }
    fn published_at(&self) -> f64 {
        self.snapshot().published_at
    }
    fn source<'py>(&self, py: Python<'py>) -> Bound<'py, PyString> {
        PyString::intern(py, self.snapshot().source.as_str())
    }
    fn state(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.snapshot().state.to_python(py)
    }
}

/// The Python snapshots a buffer built, one per history slot, keyed by
/// (version, publish time): repeated reads of one version return the same
/// object and allocate nothing. The mutex is taken only by threads attached
/// to Python, and nothing inside it calls Python (objects it evicts are
/// dropped after it is released).
pub(crate) struct Snapshots {
    cached: Mutex<Vec<Option<Cached>>>,
    /// The clock `StateSnapshot.age` is measured on (None: the wall clock).
    pub(crate) clock: Option<Py<PyAny>>,
    /// Wall time (f64 bits) of the latest read of a snapshot not read
    /// before (0: none since the last reset).
    last_read: AtomicU64,
}

struct Cached {
    key: (Version, u64),
    snapshot: Py<PyStateSnapshot>,
}

impl Snapshots {
    pub(crate) fn new(capacity: usize, clock: Option<Py<PyAny>>) -> Self {
        Snapshots {
            cached: Mutex::new((0..capacity).map(|_| None).collect()),
            clock,
            last_read: AtomicU64::new(0),
        }
    }

    /// The `StateSnapshot` of `s`, from the cache or built (and cached);
    /// `metadata` is asked only when it is built.
    fn get<T: PyState>(
        &self,
        py: Python<'_>,
        s: &Snapshot<T>,
        metadata: impl FnOnce() -> Option<Py<PyDict>>,
    ) -> PyResult<Py<PyStateSnapshot>> {
        let key = (s.version, s.published_ns);
        let slot = {
            let cached = lock(&self.cached);
            let slot = (key.0 % cached.len() as u64) as usize;
            if let Some(Some(c)) = cached.get(slot) {
                if c.key == key {
                    return Ok(c.snapshot.clone_ref(py));
                }
            }
            slot
        };
        // A version read for the first time: the clock is read here, not on
        // every read (it would double the cost of a cached read).
        // ORDERING: a statistic; nothing else hangs on it.
        self.last_read.store(now().to_bits(), Ordering::Relaxed);
        let metadata = metadata().map(|m| m.bind(py).copy()).transpose()?;
        let snapshot = Py::new(
            py,
            PyStateSnapshot {
                state: s.state.to_python(py)?,
                timestamp: s.timestamp,
                version: s.version,
                source: PyString::intern(py, s.source.as_str()).unbind(),
                metadata: readonly_mapping(py, metadata)?.unbind(),
                published_at: s.published_at,
                clock: self.clock.as_ref().map(|c| c.clone_ref(py)),
            },
        )?;
        let evicted = lock(&self.cached).get_mut(slot).and_then(|c| {
            c.replace(Cached {
                key,
                snapshot: snapshot.clone_ref(py),
            })
        });
        drop(evicted);
        Ok(snapshot)
    }

    /// `last_read_time`: the wall time of the latest read that picked up a
    /// snapshot not read before (0.0: none).
    pub(crate) fn last_read(&self) -> f64 {
        // ORDERING: a statistic.
        f64::from_bits(self.last_read.load(Ordering::Relaxed))
    }

    /// Forgets every snapshot (a reset).
    pub(crate) fn clear(&self) {
        let evicted = lock(&self.cached)
            .iter_mut()
            .map(Option::take)
            .collect::<Vec<_>>();
        // ORDERING: a statistic.
        self.last_read.store(0, Ordering::Relaxed);
        drop(evicted);
    }
}

type PySnapshot = PyResult<Option<Py<PyStateSnapshot>>>;

/// What a Python buffer does with its core buffer, whichever the kind.
pub(crate) trait Store: Send + Sync + 'static {
    fn version(&self) -> Version;
    fn capacity(&self) -> usize;
    fn statistics(&self) -> Statistics;
    /// The latest state's timestamp (counted as a read), if any.
    fn latest_timestamp(&self) -> Option<f64>;
    /// Converts (checked first) and publishes `state`.
    fn publish(
        &self,
        state: &Bound<'_, PyAny>,
        state_type: &Bound<'_, PyType>,
        source: Source,
        metadata: Option<Py<PyDict>>,
    ) -> PyResult<Version>;
    fn latest(&self, py: Python<'_>, snapshots: &Snapshots) -> PySnapshot;
    fn state_at(
        &self,
        py: Python<'_>,
        snapshots: &Snapshots,
        time: f64,
        max_age: Duration,
    ) -> PySnapshot;
    fn history(&self, py: Python<'_>, snapshots: &Snapshots) -> PyResult<Vec<Py<PyStateSnapshot>>>;
    fn wait_for_update(&self, after: Version, timeout: Duration) -> Result<Version, Error>;
    fn reset(&self);
    fn reader(self: Arc<Self>) -> Box<dyn Cursor>;
    fn subscribe(&self, capacity: usize, policy: Policy) -> Result<Box<dyn Queue>, Error>;
    /// Registers the core buffer with a core manager.
    fn register(
        &self,
        manager: &StateManager,
        name: &str,
        label: &'static str,
    ) -> Result<(), Error>;
    /// The ring of a buffer of `FastDroneState` (for Rust threads that
    /// publish or read it), None for the other kind.
    fn fast_ring(&self) -> Option<&SlotRing<FastDroneState>>;
    /// The core buffer of a buffer of Python objects, None for the other
    /// kind.
    fn objects(&self) -> Option<&StateBuffer<Entry>>;
}

/// A storage a Python buffer is built on: its state converts to and from
/// Python and its reads are [`Item`]s of that state (both kinds are).
pub(crate) trait PyStorage: Storage<Slots = Self::PySlots> {
    type PySlots: crate::storage::Slots<State = Self::State, Item = Self::Read>;
    /// The state held.
    type State: PyState;
    /// What a read returns.
    type Read: Item<State = Self::State>;
}

impl<S> PyStorage for S
where
    S: Storage,
    StateOf<S>: PyState,
    ItemOf<S>: Item<State = StateOf<S>>,
{
    type PySlots = S::Slots;
    type State = StateOf<S>;
    type Read = ItemOf<S>;
}

/// A Python buffer's core buffer: `Annotated` with each publish's metadata.
pub(crate) type Held<S> = Annotated<S, Py<PyDict>>;

/// The snapshot of `item` as Python, its metadata from `held`.
fn to_py<S: PyStorage>(
    held: &Held<S>,
    py: Python<'_>,
    snapshots: &Snapshots,
    item: &ItemOf<S>,
) -> PyResult<Py<PyStateSnapshot>> {
    let s = item.snapshot();
    snapshots.get(py, s, || held.with_value(s, |m| m.clone_ref(py)))
}

/// [`to_py`] of what a read found, if anything.
fn found<S: PyStorage>(
    held: &Held<S>,
    py: Python<'_>,
    snapshots: &Snapshots,
    item: Option<ItemOf<S>>,
) -> PySnapshot {
    item.map(|i| to_py(held, py, snapshots, &i)).transpose()
}

impl<S: PyStorage> Store for Held<S> {
    fn version(&self) -> Version {
        self.buffer().version()
    }
    fn capacity(&self) -> usize {
        self.buffer().capacity()
    }
    fn statistics(&self) -> Statistics {
        self.buffer().statistics()
    }
    fn latest_timestamp(&self) -> Option<f64> {
        self.buffer().latest().map(|i| i.snapshot().timestamp)
    }
    fn publish(
        &self,
        state: &Bound<'_, PyAny>,
        state_type: &Bound<'_, PyType>,
        source: Source,
        metadata: Option<Py<PyDict>>,
    ) -> PyResult<Version> {
        let state = StateOf::<S>::from_python(state, state_type)?;
        Annotated::publish(self, state, source, metadata).map_err(|e| e.error.into())
    }
    fn latest(&self, py: Python<'_>, snapshots: &Snapshots) -> PySnapshot {
        found(self, py, snapshots, self.buffer().latest())
    }
    fn state_at(
        &self,
        py: Python<'_>,
        snapshots: &Snapshots,
        time: f64,
        max_age: Duration,
    ) -> PySnapshot {
        found(self, py, snapshots, self.buffer().state_at(time, max_age))
    }
    fn history(&self, py: Python<'_>, snapshots: &Snapshots) -> PyResult<Vec<Py<PyStateSnapshot>>> {
        let items = self.buffer().history();
        items
            .iter()
            .map(|i| to_py(self, py, snapshots, i))
            .collect()
    }
    fn wait_for_update(&self, after: Version, timeout: Duration) -> Result<Version, Error> {
        self.buffer().wait_for_update(after, timeout)
    }
    fn reset(&self) {
        Annotated::reset(self)
    }
    fn reader(self: Arc<Self>) -> Box<dyn Cursor> {
        let reader = Mutex::new(self.buffer().reader());
        Box::new(HeldReader { held: self, reader })
    }
    fn subscribe(&self, capacity: usize, policy: Policy) -> Result<Box<dyn Queue>, Error> {
        Ok(Box::new(self.buffer().subscribe(capacity, policy)?))
    }
    fn register(
        &self,
        manager: &StateManager,
        name: &str,
        label: &'static str,
    ) -> Result<(), Error> {
        manager.register_as(name, self.buffer().clone(), label)
    }
    fn fast_ring(&self) -> Option<&SlotRing<FastDroneState>> {
        (self.buffer() as &dyn std::any::Any).downcast_ref()
    }
    fn objects(&self) -> Option<&StateBuffer<Entry>> {
        (self.buffer() as &dyn std::any::Any).downcast_ref()
    }
}

/// One consumer's cursor, whichever the kind.
pub(crate) trait Cursor: Send + Sync {
    fn updated(&self) -> bool;
    fn read(&self, py: Python<'_>, snapshots: &Snapshots) -> PySnapshot;
    fn read_if_updated(&self, py: Python<'_>, snapshots: &Snapshots) -> PySnapshot;
    /// The core's `Reader::wait` in slices (the interpreter released,
    /// Ctrl-C honoured); None after `timeout` (None: no limit).
    fn wait(&self, py: Python<'_>, snapshots: &Snapshots, timeout: Option<Duration>) -> PySnapshot;
    fn lost(&self) -> u64;
    fn last_version(&self) -> Version;
    fn reads(&self) -> u64;
}

struct HeldReader<S: PyStorage> {
    held: Arc<Held<S>>,
    /// Locked only for a read (never across a wait).
    reader: Mutex<Reader<crate::GenericBuffer<S>>>,
}

impl<S: PyStorage> Cursor for HeldReader<S> {
    fn updated(&self) -> bool {
        lock(&self.reader).updated()
    }
    fn read(&self, py: Python<'_>, snapshots: &Snapshots) -> PySnapshot {
        let item = lock(&self.reader).read();
        found(&self.held, py, snapshots, item)
    }
    fn read_if_updated(&self, py: Python<'_>, snapshots: &Snapshots) -> PySnapshot {
        let item = lock(&self.reader).read_if_updated();
        found(&self.held, py, snapshots, item)
    }
    fn wait(&self, py: Python<'_>, snapshots: &Snapshots, timeout: Option<Duration>) -> PySnapshot {
        let item = wait_in_slices(py, timeout, |slice| {
            Reader::wait_shared(&self.reader, slice)
        })?;
        found(&self.held, py, snapshots, item)
    }
    fn lost(&self) -> u64 {
        lock(&self.reader).lost()
    }
    fn last_version(&self) -> Version {
        lock(&self.reader).last_version()
    }
    fn reads(&self) -> u64 {
        lock(&self.reader).reads()
    }
}

/// A subscription's queue, whichever the kind.
pub(crate) trait Queue: Send + Sync {
    fn try_recv(&self) -> Result<Box<dyn Event>, Error>;
    fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Result<Box<dyn Event>, Error>>;
    fn recv_timeout(&self, timeout: Duration) -> Result<Box<dyn Event>, Error>;
    fn len(&self) -> usize;
    fn is_full(&self) -> bool;
    fn capacity(&self) -> usize;
    fn policy(&self) -> Policy;
    fn is_closed(&self) -> bool;
    fn close(&self);
    fn counters(&self) -> SubscriptionCounters;
}

fn boxed<E: Event>(e: E) -> Box<dyn Event> {
    Box::new(e)
}

impl<E: Event> Queue for Subscription<E> {
    fn try_recv(&self) -> Result<Box<dyn Event>, Error> {
        Subscription::try_recv(self).map(boxed)
    }
    fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Result<Box<dyn Event>, Error>> {
        Subscription::poll_recv(self, cx).map(|r| r.map(boxed))
    }
    fn recv_timeout(&self, timeout: Duration) -> Result<Box<dyn Event>, Error> {
        Subscription::recv_timeout(self, timeout).map(boxed)
    }
    fn len(&self) -> usize {
        Subscription::len(self)
    }
    fn is_full(&self) -> bool {
        Subscription::is_full(self)
    }
    fn capacity(&self) -> usize {
        Subscription::capacity(self)
    }
    fn policy(&self) -> Policy {
        Subscription::policy(self)
    }
    fn is_closed(&self) -> bool {
        Subscription::is_closed(self)
    }
    fn close(&self) {
        Subscription::close(self)
    }
    fn counters(&self) -> SubscriptionCounters {
        Subscription::counters(self)
    }
}

/// The core buffer of a Python buffer of `state_type`: a `SlotRing` for
/// rtstate's `FastDroneState` (in shared memory under the name `shared`,
/// created here and written by this process, if given), a `StateBuffer` of
/// objects otherwise (`shared` must then be None).
pub(crate) fn store_for(
    state_type: &Bound<'_, PyType>,
    capacity: usize,
    shared: Option<&str>,
) -> Result<Arc<dyn Store>, Error> {
    let py = state_type.py();
    let fast = state_type.is(py.get_type::<PyFastDroneState>());
    Ok(match shared {
        Some(name) if fast => Arc::new(Held::new(SlotRing::<FastDroneState>::create_shared(
            name, capacity,
        )?)),
        Some(_) => {
            return Err(Error::InvalidArgument {
                name: "shared",
                reason: "a shared-memory buffer holds plain data: use FastDroneStateBuffer, \
                         or SharedBuffer for a layout of your own"
                    .into(),
            })
        }
        None if fast => Arc::new(Held::new(SlotRing::<FastDroneState>::checked(capacity)?)),
        None => Arc::new(Held::new(StateBuffer::<Entry>::checked(capacity)?)),
    })
}
