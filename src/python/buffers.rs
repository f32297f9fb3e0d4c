//! The buffers: `ThreadSafeStateBuffer` (any Python type, on the Rust
//! `StateBuffer`; `FastDroneState` on the Rust `SlotRing`),
//! `DroneStateBuffer`, `FastDroneStateBuffer`, and per-consumer `Reader`s.
//! Each method converts its arguments and calls the buffer's `dyn`
//! [`Store`] (the one place the two kinds differ); the snapshots it returns
//! come from the buffer's cache ([`Snapshots`]).

use super::construct::{bind_config, new_config, BASE_PARAMS, FAST_PARAMS, TYPED_PARAMS};
use super::convert::{
    clock_arg, finite, metadata as metadata_arg, now_on, qualified_name, source_text, text_arg,
    type_name, BufferSize, MaxAge, PolicyArg, QueueSize, SourceArg, Timeout,
};
use super::estimated::drone_state_from_estimate;
use super::reader::PyReader;
use super::snapshot::PyStateSnapshot;
use super::states::{to_drone_state, PyDroneState, PyFastDroneState};
use super::store::{store_for, Snapshots, Store};
use super::wait::wait_in_slices;
use crate::sync::{lock, Mutex};
use crate::{Error, Source, Statistics, Version};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple, PyType};
use std::sync::Arc;
use std::time::Duration;

/// A versioned, thread-safe state buffer (DART-Planner's
/// `ThreadSafeStateBuffer`).
///
/// `clock`, a callable returning seconds, is the time base of staleness
/// (`StateSnapshot.age`, the statistics' `latest_age`, the manager's AGE);
/// None is the wall clock.
#[pyclass(frozen, subclass, module = "rtstate", name = "ThreadSafeStateBuffer")]
pub struct PyStateBuffer {
    pub(crate) store: Arc<dyn Store>,
    state_type: Py<PyType>,
    pub(crate) snapshots: Snapshots,
    last_source: Mutex<Option<(Py<PyString>, Source)>>,
}

impl PyStateBuffer {
    /// A buffer of `state_type` (DroneState if None) on the wall clock
    /// (the control wrapper's default buffers); a `buffer_size` the core
    /// cannot allocate is a `ValueError`.
    pub(crate) fn create(
        py: Python<'_>,
        buffer_size: usize,
        state_type: Option<Bound<'_, PyType>>,
    ) -> PyResult<Self> {
        Self::build(py, buffer_size, state_type, None, None)
    }

    /// `buffer_size` was checked with the arguments (`convert::size`,
    /// 1 to `MAX_BUFFER_SIZE`); the core refuses what it cannot allocate.
    /// `shared`: the name of a shared-memory buffer to create (and write)
    /// instead of one in this process (FastDroneState only).
    fn build(
        py: Python<'_>,
        buffer_size: usize,
        state_type: Option<Bound<'_, PyType>>,
        clock: Option<Py<PyAny>>,
        shared: Option<&str>,
    ) -> PyResult<Self> {
        let state_type = state_type.unwrap_or_else(|| py.get_type::<PyDroneState>());
        let store = store_for(&state_type, buffer_size, shared).map_err(|e| match e {
            Error::InvalidArgument {
                name: "shared",
                reason,
            } => PyValueError::new_err(format!("`shared`: {reason}")),
            Error::InvalidArgument { reason, .. } => {
                PyValueError::new_err(format!("`buffer_size` (the history capacity) {reason}"))
            }
            e => e.into(),
        })?;
        Ok(PyStateBuffer {
            store,
            state_type: state_type.unbind(),
            snapshots: Snapshots::new(buffer_size, clock),
            last_source: Mutex::new(None),
        })
    }

    /// The name registered with the core manager.
    pub(crate) fn type_label(&self, py: Python<'_>) -> &'static str {
        if self
            .state_type
            .bind(py)
            .is(py.get_type::<PyFastDroneState>())
        {
            "FastDroneState"
        } else if self.state_type.bind(py).is(py.get_type::<PyDroneState>()) {
            "DroneState"
        } else {
            "object"
        }
    }

    /// Whether its states are rtstate `DroneState`s (its `state_type` is
    /// `DroneState` or a subclass): a recorder or a live server can write
    /// them (as their `FastDroneState` twins).
    pub(crate) fn holds_drone_states(&self, py: Python<'_>) -> bool {
        self.state_type
            .bind(py)
            .is_subclass_of::<PyDroneState>()
            .unwrap_or(false)
    }

    /// The name of the state type, for tables and messages: `DroneState`
    /// for rtstate's own, `module.qualname` for another library's.
    pub(crate) fn state_type_name(&self, py: Python<'_>) -> String {
        let ty = self.state_type.bind(py);
        let name = qualified_name(ty);
        name.strip_prefix("rtstate.")
            .map(str::to_owned)
            .unwrap_or(name)
    }

    /// Seconds since the latest state's timestamp on this buffer's clock
    /// (`fallback` where the buffer has none), or None before the first
    /// publish.
    pub(crate) fn latest_age(
        &self,
        py: Python<'_>,
        fallback: Option<&Py<PyAny>>,
    ) -> PyResult<Option<f64>> {
        let Some(timestamp) = self.store.latest_timestamp() else {
            return Ok(None);
        };
        let clock = self.snapshots.clock.as_ref().or(fallback);
        Ok(Some(now_on(py, clock)? - timestamp))
    }

    /// The interned `source`: refused (ValueError naming `source`) if the
    /// core's table refuses it; the last one is remembered, so a publisher
    /// that passes the same string each time interns it once.
    fn source(&self, source: &Bound<'_, PyString>) -> PyResult<Source> {
        source_text(source.as_any())?;
        {
            let last = lock(&self.last_source);
            if let Some((s, id)) = &*last {
                if s.bind(source.py()).is(source) {
                    return Ok(*id);
                }
            }
        }
        let id = Source::try_intern(&source.to_cow()?)?;
        let old = lock(&self.last_source).replace((source.clone().unbind(), id));
        drop(old);
        Ok(id)
    }

    pub(crate) fn version(&self) -> Version {
        self.store.version()
    }

    pub(crate) fn statistics_core(&self) -> Statistics {
        self.store.statistics()
    }

    /// Checks `metadata`, `source` and `state`, then publishes.
    pub(crate) fn publish(
        &self,
        state: &Bound<'_, PyAny>,
        source: &Bound<'_, PyString>,
        metadata: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Version> {
        let metadata = metadata_arg(metadata)?.map(Bound::unbind);
        let source = self.source(source)?;
        let state_type = self.state_type.bind(state.py());
        self.store.publish(state, state_type, source, metadata)
    }

    pub(crate) fn latest(&self, py: Python<'_>) -> PyResult<Option<Py<PyStateSnapshot>>> {
        self.store.latest(py, &self.snapshots)
    }

    /// Waits (in slices, Ctrl-C honoured) for a version after `after` (or
    /// the first publish after a reset); its snapshot, None after `timeout`
    /// (None: no limit).
    pub(crate) fn wait_after(
        &self,
        py: Python<'_>,
        after: Version,
        timeout: Option<Duration>,
    ) -> PyResult<Option<Py<PyStateSnapshot>>> {
        let store = &self.store;
        match wait_in_slices(py, timeout, |t| store.wait_for_update(after, t))? {
            Some(_) => self.latest(py),
            None => Ok(None),
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
        d.set_item(intern!(py, "last_read_time"), self.snapshots.last_read())?;
        d.set_item(intern!(py, "subscriber_count"), s.subscribers)?;
        d.set_item(intern!(py, "buffer_size"), s.capacity)?;
        d.set_item(intern!(py, "lost"), s.lost)?;
        d.set_item(intern!(py, "readers"), s.readers)?;
        d.set_item(intern!(py, "history_len"), s.history_len)?;
        d.set_item(intern!(py, "updates_per_sec"), s.updates_per_sec)?;
        d.set_item(intern!(py, "reads_per_sec"), s.reads_per_sec)?;
        d.set_item(intern!(py, "latest_age"), self.latest_age(py, None)?)?;
        d.set_item(intern!(py, "delivered"), s.subscriptions.delivered)?;
        d.set_item(intern!(py, "dropped"), s.subscriptions.dropped)?;
        d.set_item(intern!(py, "gaps"), s.subscriptions.gaps)?;
        d.set_item(intern!(py, "duplicates"), s.subscriptions.duplicates)?;
        d.set_item(intern!(py, "waiting"), s.waiting)?;
        Ok(d)
    }

    /// Forgets every state, the snapshots built and the statistics.
    pub(crate) fn reset_all(&self) {
        self.store.reset();
        self.snapshots.clear();
    }
}

/// `__init__` of the buffer classes: the configuration is fixed by
/// `__new__`; arguments given again here (a subclass's
/// `super().__init__(...)`) must agree with it.
fn check_init(
    slf: &Bound<'_, PyStateBuffer>,
    names: &[&str],
    args: &Bound<'_, PyTuple>,
    kwargs: Option<&Bound<'_, PyDict>>,
) -> PyResult<()> {
    let py = slf.py();
    let class = slf.get_type().name()?.to_string();
    let config = bind_config(&class, names, args, kwargs)?;
    let me = slf.get();
    let differs = config.buffer_size.is_some_and(|n| n != me.store.capacity())
        || config
            .state_type
            .as_ref()
            .is_some_and(|t| !t.bind(py).is(me.state_type.bind(py)))
        || config.clock.as_ref().is_some_and(|c| {
            let mine = me.snapshots.clock.as_ref();
            !mine.is_some_and(|m| m.bind(py).is(c.bind(py)))
        });
    if differs {
        return Err(PyTypeError::new_err(format!(
            "{class}: buffer_size, state_type and clock are fixed when the object is created; \
             a subclass with its own __init__ passes them as keywords to the class call \
             ({class}(..., buffer_size=20)) or overrides __new__"
        )));
    }
    Ok(())
}

#[pymethods]
impl PyStateBuffer {
    #[new]
    #[classmethod]
    #[pyo3(signature = (*args, **kwargs), text_signature = "(buffer_size=10, state_type=None, clock=None)")]
    fn new(
        cls: &Bound<'_, PyType>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let py = cls.py();
        let config = new_config(cls, &py.get_type::<Self>(), &BASE_PARAMS, args, kwargs)?;
        Self::build(
            py,
            config.buffer_size.unwrap_or(10),
            config.state_type.map(|t| t.into_bound(py)),
            config.clock,
            None,
        )
    }

    #[pyo3(signature = (*args, **kwargs))]
    fn __init__(
        slf: &Bound<'_, Self>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<()> {
        let names: &[&str] = if slf.is_instance_of::<PyFastDroneStateBuffer>() {
            &FAST_PARAMS
        } else if slf.is_instance_of::<PyDroneStateBuffer>() {
            &TYPED_PARAMS
        } else {
            &BASE_PARAMS
        };
        check_init(slf, names, args, kwargs)
    }

    /// The staleness clock given (None: the wall clock).
    #[getter(clock)]
    fn py_clock(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.snapshots.clock.as_ref().map(|c| c.clone_ref(py))
    }

    /// The most snapshots the history holds.
    #[getter]
    fn buffer_size(&self) -> usize {
        self.store.capacity()
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

    /// Publishes `state`; returns its version. A buffer of `DroneState`
    /// also takes another library's DroneState-like objects (converted);
    /// `metadata` is a dict with str keys, copied.
    #[pyo3(signature = (state, source=SourceArg(None), metadata=None), text_signature = "($self, state, source=None, metadata=None)")]
    fn update_state(
        &self,
        state: &Bound<'_, PyAny>,
        source: SourceArg,
        metadata: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Version> {
        self.publish(state, &source.or(state.py(), "unknown"), metadata)
    }

    /// The latest snapshot, or None before the first update.
    fn get_latest_state(&self, py: Python<'_>) -> PyResult<Option<Py<PyStateSnapshot>>> {
        self.latest(py)
    }

    /// The held snapshot whose timestamp is nearest `target_time`, if
    /// within `max_age` seconds of it; otherwise None, counted as a stale
    /// read. `target_time` is in the time base of the states' timestamps;
    /// None is now on the buffer's clock (the wall clock unless `clock=`
    /// was given), which makes it a freshness check.
    #[pyo3(signature = (target_time=None, max_age=MaxAge::secs(0.1)), text_signature = "($self, target_time=None, max_age=0.1)")]
    fn get_state_at_time(
        &self,
        py: Python<'_>,
        target_time: Option<&Bound<'_, PyAny>>,
        max_age: MaxAge,
    ) -> PyResult<Option<Py<PyStateSnapshot>>> {
        let target_time = match target_time.filter(|t| !t.is_none()) {
            Some(t) => finite(t, "target_time")?,
            None => now_on(py, self.snapshots.clock.as_ref())?,
        };
        self.store
            .state_at(py, &self.snapshots, target_time, max_age.0)
    }

    /// The snapshots held, oldest first (at most `buffer_size`).
    fn get_history<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.store.history(py, &self.snapshots)?)
    }

    /// Blocks (the interpreter released, Ctrl-C honoured) until a newer
    /// version is published; returns its snapshot, or None after `timeout`
    /// seconds (None or infinity: no limit).
    #[pyo3(signature = (timeout=Timeout::secs(1)), text_signature = "($self, timeout=1.0)")]
    fn wait_for_update(
        &self,
        py: Python<'_>,
        timeout: Timeout,
    ) -> PyResult<Option<Py<PyStateSnapshot>>> {
        self.wait_after(py, self.version(), timeout.0)
    }

    /// Counters and rates (DART-Planner's keys plus rtstate's);
    /// `latest_age` is measured on the buffer's clock.
    fn get_statistics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.statistics_dict(py)
    }

    /// Forgets every state, the version and the statistics.
    fn reset(&self) {
        self.reset_all()
    }

    /// A subscription to every publish from now on, used like an
    /// `asyncio.Queue` (`await queue.get()`); `queue_size` events at most
    /// (1 to `MAX_QUEUE_SIZE`), then `policy` decides (`"drop_oldest"`
    /// drops the oldest and counts it).
    #[pyo3(signature = (queue_size=QueueSize(10), policy=PolicyArg::drop_oldest()), text_signature = "($self, queue_size=10, policy='drop_oldest')")]
    fn subscribe(
        slf: &Bound<'_, Self>,
        queue_size: QueueSize,
        policy: PolicyArg,
    ) -> PyResult<super::subscription::PySubscription> {
        let queue_size = queue_size.0;
        super::subscription::subscribe(slf, queue_size as i64, &policy.0)
    }

    /// Ends `queue`, a subscription of this buffer.
    fn unsubscribe(slf: &Bound<'_, Self>, queue: &Bound<'_, PyAny>) -> PyResult<()> {
        if !queue.is_instance_of::<super::subscription::PySubscription>() {
            return Err(PyTypeError::new_err(format!(
                "`queue` expects an rtstate.Subscription, got {}",
                type_name(queue)
            )));
        }
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
        PyReader {
            cursor: Arc::clone(&slf.get().store).reader(),
            buffer: slf.clone().unbind(),
        }
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let py = slf.py();
        let me = slf.get();
        Ok(format!(
            "<{} state_type={} buffer_size={} version={}>",
            slf.get_type().name()?,
            me.state_type_name(py),
            me.store.capacity(),
            me.version()
        ))
    }
}

/// A buffer class fixed to `state_type`: the base buffer, then `class`.
fn typed<T: pyo3::PyClass<BaseType = PyStateBuffer>>(
    py: Python<'_>,
    state_type: Bound<'_, PyType>,
    buffer_size: usize,
    clock: Option<Py<PyAny>>,
    shared: Option<&str>,
    class: T,
) -> PyResult<PyClassInitializer<T>> {
    let base = PyStateBuffer::build(py, buffer_size, Some(state_type), clock, shared)?;
    Ok(PyClassInitializer::from(base).add_subclass(class))
}

/// `__new__` of a buffer class fixed to `state_type` (`buffer_size` by
/// default `default_size`), taking the parameters `names`.
fn typed_new<T: pyo3::PyClass<BaseType = PyStateBuffer>>(
    cls: &Bound<'_, PyType>,
    (args, kwargs): (&Bound<'_, PyTuple>, Option<&Bound<'_, PyDict>>),
    names: &[&str],
    state_type: Bound<'_, PyType>,
    default_size: usize,
    class: T,
) -> PyResult<PyClassInitializer<T>> {
    let py = cls.py();
    let config = new_config(cls, &py.get_type::<T>(), names, args, kwargs)?;
    let buffer_size = config.buffer_size.unwrap_or(default_size);
    let shared = config.shared.as_deref();
    typed(py, state_type, buffer_size, config.clock, shared, class)
}

/// A buffer of `DroneState` (DART-Planner's `DroneStateBuffer`).
#[pyclass(frozen, subclass, extends = PyStateBuffer, module = "rtstate", name = "DroneStateBuffer")]
pub struct PyDroneStateBuffer;

impl PyDroneStateBuffer {
    fn build(
        py: Python<'_>,
        buffer_size: usize,
        clock: Option<Py<PyAny>>,
    ) -> PyResult<PyClassInitializer<Self>> {
        let state_type = py.get_type::<PyDroneState>();
        typed(py, state_type, buffer_size, clock, None, PyDroneStateBuffer)
    }
}

#[pymethods]
impl PyDroneStateBuffer {
    #[new]
    #[classmethod]
    #[pyo3(signature = (*args, **kwargs), text_signature = "(buffer_size=10, clock=None)")]
    fn new(
        cls: &Bound<'_, PyType>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<PyClassInitializer<Self>> {
        let state_type = cls.py().get_type::<PyDroneState>();
        typed_new(cls, (args, kwargs), &TYPED_PARAMS, state_type, 10, Self)
    }

    /// Publishes an estimator's output: anything with `.pose` and `.twist`
    /// is converted to a `DroneState`; a `DroneState` is taken as is.
    #[pyo3(signature = (estimated_state, source=SourceArg(None)), text_signature = "($self, estimated_state, source=None)")]
    fn update_from_estimator(
        slf: &Bound<'_, Self>,
        estimated_state: &Bound<'_, PyAny>,
        source: SourceArg,
    ) -> PyResult<Version> {
        let py = slf.py();
        let source = &source.or(py, "estimator");
        let base = slf.as_super().get();
        let is_estimate = !estimated_state.is_instance_of::<PyDroneState>()
            && estimated_state.hasattr(intern!(py, "pose"))?
            && estimated_state.hasattr(intern!(py, "twist"))?;
        let converted = if is_estimate {
            Some(drone_state_from_estimate(estimated_state)?)
        } else {
            to_drone_state(estimated_state, "estimated_state")?
        };
        match converted {
            Some(d) => base.publish(
                Bound::new(py, PyDroneState::wrap(d))?.as_any(),
                source,
                None,
            ),
            None => base.publish(estimated_state, source, None),
        }
    }
}

/// A buffer of `FastDroneState` on the lock-free slot ring
/// (DART-Planner's `FastDroneStateBuffer`); a `DroneState` is converted.
#[pyclass(frozen, subclass, extends = PyStateBuffer, module = "rtstate", name = "FastDroneStateBuffer")]
pub struct PyFastDroneStateBuffer;

impl PyFastDroneStateBuffer {
    fn build(
        py: Python<'_>,
        buffer_size: usize,
        clock: Option<Py<PyAny>>,
        shared: Option<&str>,
    ) -> PyResult<PyClassInitializer<Self>> {
        let state_type = py.get_type::<PyFastDroneState>();
        typed(
            py,
            state_type,
            buffer_size,
            clock,
            shared,
            PyFastDroneStateBuffer,
        )
    }
}

#[pymethods]
impl PyFastDroneStateBuffer {
    #[new]
    #[classmethod]
    #[pyo3(signature = (*args, **kwargs), text_signature = "(buffer_size=5, clock=None, shared=None)")]
    fn new(
        cls: &Bound<'_, PyType>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<PyClassInitializer<Self>> {
        let state_type = cls.py().get_type::<PyFastDroneState>();
        typed_new(cls, (args, kwargs), &FAST_PARAMS, state_type, 5, Self)
    }

    /// Publishes a `DroneState` (rtstate's, or another library's
    /// DroneState-like object) converted to a `FastDroneState`.
    #[pyo3(signature = (drone_state, source=SourceArg(None)), text_signature = "($self, drone_state, source=None)")]
    fn update_from_drone_state(
        slf: &Bound<'_, Self>,
        drone_state: &Bound<'_, PyAny>,
        source: SourceArg,
    ) -> PyResult<Version> {
        let py = slf.py();
        let converted;
        let state = if drone_state.is_instance_of::<PyDroneState>() {
            drone_state
        } else {
            let d = to_drone_state(drone_state, "drone_state")?
                .ok_or_else(|| PyTypeError::new_err("expected a DroneState"))?;
            converted = Bound::new(py, PyDroneState::wrap(d))?.into_any();
            &converted
        };
        slf.as_super()
            .get()
            .publish(state, &source.or(py, "converter"), None)
    }
}

/// A `DroneStateBuffer` (DART-Planner's factory).
#[pyfunction]
#[pyo3(signature = (buffer_size=BufferSize(10), clock=None), text_signature = "(buffer_size=10, clock=None)")]
pub(crate) fn create_drone_state_buffer<'py>(
    py: Python<'py>,
    buffer_size: BufferSize,
    clock: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyDroneStateBuffer>> {
    let n = buffer_size.0;
    Bound::new(py, PyDroneStateBuffer::build(py, n, clock_arg(clock)?)?)
}

/// A `FastDroneStateBuffer` (DART-Planner's factory); `shared` names a
/// shared-memory buffer to create and write instead.
#[pyfunction]
#[pyo3(signature = (buffer_size=BufferSize(5), clock=None, shared=None), text_signature = "(buffer_size=5, clock=None, shared=None)")]
pub(crate) fn create_fast_state_buffer<'py>(
    py: Python<'py>,
    buffer_size: BufferSize,
    clock: Option<&Bound<'py, PyAny>>,
    shared: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyFastDroneStateBuffer>> {
    let n = buffer_size.0;
    let shared = shared
        .filter(|v| !v.is_none())
        .map(|v| text_arg(v, "shared"))
        .transpose()?;
    let init = PyFastDroneStateBuffer::build(py, n, clock_arg(clock)?, shared.as_deref())?;
    Bound::new(py, init)
}
