//! Shared-memory buffers from Python: `SharedBuffer(name, dtype)` creates
//! one with a numpy structured dtype as its layout, `open_shared(name)`
//! opens any existing one; `SharedReader` is a per-consumer cursor and
//! `SharedSubscription` an asyncio queue fed across processes. Also the
//! mapping of shared-buffer errors and the listing used by the `rtstate`
//! command.
//!
//! States come back as `FastDroneState` when the buffer's layout is
//! `FastDroneState`'s, otherwise as numpy structured records
//! (`numpy.void`, fields by name). `update_state` takes the same, a dict
//! or a tuple. An `f64` field named `timestamp` is the state's own time.
//!
//! # Wake-ups across processes
//!
//! Blocking waits release the interpreter and sleep on the buffer's futex.
//! `wait_for_update_async` and subscriptions run the wait on a Rust
//! thread, which hands results to the event loop with
//! `loop.call_soon_threadsafe`; the thread holds the interpreter only for
//! that call.

use super::errors::RtStateError;
use super::snapshot::PyStateSnapshot;
use super::states::PyFastDroneState;
use crate::layout::{ElementType, Field, Layout, PodLayout};
use crate::shm::{self, CreateOptions, RawBuffer, RawReader, RawSnapshot, ShmError};
use crate::sync::{lock, Mutex};
use crate::{duration_from_secs, Error, FastDroneState};
use pyo3::exceptions::{PyFileNotFoundError, PyKeyError, PyOSError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyList, PyTuple};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

pyo3::create_exception!(
    rtstate,
    WriterBusyError,
    RtStateError,
    "Another running process is the shared buffer's writer (its pid is in the message)."
);

/// The Python exception for a shared-buffer error: a bad name or file is a
/// `ValueError`, another layout a `TypeError`, a missing buffer a
/// `FileNotFoundError`, a live writer elsewhere a `WriterBusyError`.
pub(crate) fn shm_error(error: &ShmError, message: String) -> PyErr {
    match error {
        ShmError::InvalidName { .. }
        | ShmError::InvalidArgument { .. }
        | ShmError::NotABuffer { .. } => PyValueError::new_err(message),
        ShmError::LayoutMismatch { .. } => PyTypeError::new_err(message),
        ShmError::NotFound { .. } => PyFileNotFoundError::new_err(message),
        ShmError::WriterBusy { .. } => WriterBusyError::new_err(message),
        ShmError::Io { .. } => PyOSError::new_err(message),
    }
}

fn numpy(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    static NUMPY: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    NUMPY
        .get_or_try_init(py, || Ok::<_, PyErr>(py.import("numpy")?.unbind()))
        .map(|m| m.bind(py))
}

fn numpy_code(element: ElementType) -> &'static str {
    match element {
        ElementType::F64 => "<f8",
        ElementType::F32 => "<f4",
        ElementType::I64 => "<i8",
        ElementType::U64 => "<u8",
        ElementType::I32 => "<i4",
        ElementType::U32 => "<u4",
        ElementType::U8 => "u1",
        ElementType::Bool => "?",
    }
}

/// The numpy structured dtype of a layout (offsets and size kept).
fn dtype_of<'py>(py: Python<'py>, layout: &Layout) -> PyResult<Bound<'py, PyAny>> {
    let names = PyList::empty(py);
    let formats = PyList::empty(py);
    let offsets = PyList::empty(py);
    for f in layout.fields() {
        names.append(&f.name)?;
        if f.count == 1 {
            formats.append(numpy_code(f.element))?;
        } else {
            formats.append((numpy_code(f.element), (f.count,)))?;
        }
        offsets.append(f.offset)?;
    }
    let spec = PyDict::new(py);
    spec.set_item("names", names)?;
    spec.set_item("formats", formats)?;
    spec.set_item("offsets", offsets)?;
    spec.set_item("itemsize", layout.size())?;
    numpy(py)?.getattr("dtype")?.call1((spec,))
}

fn element_of(base: &Bound<'_, PyAny>, field: &str) -> PyResult<ElementType> {
    let kind: String = base.getattr("kind")?.extract()?;
    let size: usize = base.getattr("itemsize")?.extract()?;
    let order: String = base.getattr("byteorder")?.extract()?;
    let little = cfg!(target_endian = "little");
    if order == ">" || (order == "=" && !little) {
        return Err(PyValueError::new_err(format!(
            "dtype: field `{field}` is big-endian; shared layouts are little-endian"
        )));
    }
    Ok(match (kind.as_str(), size) {
        ("f", 8) => ElementType::F64,
        ("f", 4) => ElementType::F32,
        ("i", 8) => ElementType::I64,
        ("u", 8) => ElementType::U64,
        ("i", 4) => ElementType::I32,
        ("u", 4) => ElementType::U32,
        ("u", 1) => ElementType::U8,
        ("b", 1) => ElementType::Bool,
        _ => {
            return Err(PyValueError::new_err(format!(
            "dtype: field `{field}` has type {}; allowed: f64, f32, i64, u64, i32, u32, u8, bool",
            base.str()?
        )))
        }
    })
}

/// The layout of a numpy structured dtype (anything `numpy.dtype()`
/// accepts).
fn layout_of(dtype: &Bound<'_, PyAny>) -> PyResult<Layout> {
    let py = dtype.py();
    let dtype = numpy(py)?.getattr("dtype")?.call1((dtype,))?;
    let names = dtype.getattr("names")?;
    if names.is_none() {
        return Err(PyTypeError::new_err(format!(
            "dtype: {} is not a structured dtype (give fields, e.g. [('x', 'f8'), ('v', 'f8', 3)])",
            dtype.str()?
        )));
    }
    let fields_map = dtype.getattr("fields")?;
    let mut fields = Vec::new();
    for name in names.try_iter()? {
        let name: String = name?.extract()?;
        let entry = fields_map.get_item(&name)?;
        let sub = entry.get_item(0)?;
        let offset: usize = entry.get_item(1)?.extract()?;
        let (base, count) = if sub.getattr("subdtype")?.is_none() {
            (sub, 1usize)
        } else {
            let subdtype = sub.getattr("subdtype")?;
            let shape: Vec<usize> = subdtype.get_item(1)?.extract()?;
            (subdtype.get_item(0)?, shape.iter().product())
        };
        if base.getattr("names")?.is_truthy()? {
            return Err(PyValueError::new_err(format!(
                "dtype: field `{name}` is nested; shared layouts are flat"
            )));
        }
        fields.push(Field {
            element: element_of(&base, &name)?,
            name,
            count,
            offset,
        });
    }
    let size: usize = dtype.getattr("itemsize")?.extract()?;
    Layout::new(fields, size).map_err(|e| PyValueError::new_err(format!("dtype: {}", e.0)))
}

/// A snapshot built for the publish at `(base, seq)`.
type Cached = ((u64, u64), Py<PyStateSnapshot>);

/// A shared-memory buffer: created with `SharedBuffer(name, dtype)` (this
/// process becomes its writer) or opened with `open_shared(name)`.
#[pyclass(frozen, module = "rtstate", name = "SharedBuffer")]
pub struct PySharedBuffer {
    buffer: RawBuffer,
    /// The snapshot built for the latest read, by sequence number: repeated
    /// reads of one publish return the same object (as in-process).
    last: Mutex<Option<Cached>>,
    dtype: Py<PyAny>,
    fast: bool,
}

impl PySharedBuffer {
    fn wrap(py: Python<'_>, buffer: RawBuffer, raw: bool) -> PyResult<Self> {
        let layout = buffer.layout().clone();
        Ok(PySharedBuffer {
            last: Mutex::new(None),
            dtype: dtype_of(py, &layout)?.unbind(),
            fast: !raw && layout == FastDroneState::layout(),
            buffer,
        })
    }

    fn state(&self, py: Python<'_>, bytes: &[u8]) -> PyResult<Py<PyAny>> {
        if self.fast {
            let state: FastDroneState = bytemuck::pod_read_unaligned(bytes);
            return Ok(Py::new(py, PyFastDroneState::wrap(state))?.into_any());
        }
        let array = numpy(py)?
            .getattr("frombuffer")?
            .call1((PyByteArray::new(py, bytes), self.dtype.bind(py)))?;
        Ok(array.get_item(0)?.unbind())
    }

    fn snapshot(&self, py: Python<'_>, s: RawSnapshot) -> PyResult<Py<PyStateSnapshot>> {
        let state = self.state(py, &s.bytes)?;
        Py::new(
            py,
            PyStateSnapshot {
                state,
                timestamp: s.timestamp,
                version: s.version,
                source: pyo3::types::PyString::new(py, s.source.as_deref().unwrap_or("unknown"))
                    .unbind(),
                metadata: crate::python::convert::readonly_mapping(py, None)?.unbind(),
                published_at: s.published_at,
                clock: None,
            },
        )
    }

    fn snapshots(
        &self,
        py: Python<'_>,
        s: Option<RawSnapshot>,
    ) -> PyResult<Option<Py<PyStateSnapshot>>> {
        s.map(|s| self.snapshot(py, s)).transpose()
    }

    /// The latest snapshot, counted as a read: the object built for the
    /// same publish last time if there is one (a check of two words).
    fn latest_cached(&self, py: Python<'_>) -> PyResult<Option<Py<PyStateSnapshot>>> {
        let position = self.buffer.position();
        if let Some((cached, snap)) = &*lock(&self.last) {
            if *cached == position {
                self.buffer.count_reads(1);
                return Ok(Some(snap.clone_ref(py)));
            }
        }
        let Some(raw) = self.buffer.latest() else {
            return Ok(None);
        };
        let key = (raw.seq - raw.version, raw.seq);
        let snap = self.snapshot(py, raw)?;
        *lock(&self.last) = Some((key, snap.clone_ref(py)));
        Ok(Some(snap))
    }

    /// The bytes of `state` in this buffer's layout.
    fn bytes_of(&self, state: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
        let py = state.py();
        if self.fast {
            if let Ok(fast) = state.cast::<PyFastDroneState>() {
                return Ok(bytemuck::bytes_of(&fast.get().inner).to_vec());
            }
        }
        let np = numpy(py)?;
        let dtype = self.dtype.bind(py);
        let record = np.getattr("zeros")?.call1(((), dtype))?;
        if let Ok(dict) = state.cast::<PyDict>() {
            let names: Vec<String> = dtype.getattr("names")?.extract()?;
            for (key, value) in dict.iter() {
                let key: String = key.extract().map_err(|_| {
                    PyTypeError::new_err("state: dict keys must be field names (str)")
                })?;
                if !names.contains(&key) {
                    return Err(PyKeyError::new_err(format!(
                        "state: no field `{key}` in the layout (fields: {})",
                        names.join(", ")
                    )));
                }
                record
                    .set_item(&key, value)
                    .map_err(|e| PyValueError::new_err(format!("state: field `{key}`: {e}")))?;
            }
            if let Some(missing) = names
                .iter()
                .find(|n| !dict.contains(n.as_str()).unwrap_or(false))
            {
                return Err(PyKeyError::new_err(format!(
                    "state: field `{missing}` is missing"
                )));
            }
        } else if state.is_instance_of::<PyTuple>() {
            let array = np
                .getattr("array")?
                .call1((PyList::new(py, [state])?, dtype))
                .map_err(|e| PyValueError::new_err(format!("state: {e}")))?;
            record.set_item((), array.get_item(0)?)?;
        } else if state.hasattr("dtype")? {
            let given = state.getattr("dtype")?;
            if !given.eq(dtype)? {
                return Err(PyTypeError::new_err(format!(
                    "state: record dtype {} differs from the buffer's {}",
                    given.str()?,
                    dtype.str()?
                )));
            }
            record.set_item((), state)?;
        } else {
            return Err(PyTypeError::new_err(format!(
                "state: expected a dict, a tuple or a numpy record of dtype {}{}, got {}",
                dtype.str()?,
                if self.fast {
                    " (or a FastDroneState)"
                } else {
                    ""
                },
                state.get_type().name()?
            )));
        }
        let bytes = record.call_method0("tobytes")?;
        Ok(bytes.cast::<PyBytes>()?.as_bytes().to_vec())
    }

    fn wait_after(
        &self,
        py: Python<'_>,
        after: u64,
        timeout: f64,
    ) -> PyResult<Option<Py<PyStateSnapshot>>> {
        let timeout = duration_from_secs("timeout", timeout)?;
        let buffer = self.buffer.clone();
        match py.detach(move || buffer.wait_for_update(after, timeout)) {
            Ok(_) => {
                let s = self.buffer.latest();
                self.snapshots(py, s)
            }
            Err(Error::Timeout(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

#[pymethods]
impl PySharedBuffer {
    /// Creates shared buffer `name` with the layout of the numpy structured
    /// `dtype` and a history of `buffer_size` states, and becomes its
    /// writer. An existing buffer of that name is taken over if its writer
    /// has exited (the version sequence continues); a running writer
    /// elsewhere raises `WriterBusyError`, another layout `TypeError`.
    /// `mode` is the file's permission bits (default owner-only);
    /// `directory` overrides `$RTSTATE_SHM_DIR` (default `/dev/shm`).
    #[new]
    #[pyo3(signature = (name, dtype, buffer_size=8, mode=0o600, directory=None))]
    fn new(
        py: Python<'_>,
        name: &str,
        dtype: &Bound<'_, PyAny>,
        buffer_size: i64,
        mode: u32,
        directory: Option<PathBuf>,
    ) -> PyResult<Self> {
        let layout = layout_of(dtype)?;
        let capacity = positive("buffer_size", buffer_size)?;
        let options = CreateOptions {
            mode,
            ..CreateOptions::default()
        };
        let dir = directory.unwrap_or_else(shm::name::shm_dir);
        let buffer = py.detach(|| RawBuffer::create_in(&dir, name, &layout, capacity, options))?;
        Self::wrap(py, buffer, false)
    }

    /// The buffer's name.
    #[getter]
    fn name(&self) -> String {
        self.buffer.name().to_string()
    }

    /// The layout as a numpy structured dtype.
    #[getter]
    fn dtype(&self, py: Python<'_>) -> Py<PyAny> {
        self.dtype.clone_ref(py)
    }

    /// The layout, as the header records it.
    #[getter]
    fn layout(&self) -> String {
        self.buffer.layout().to_string()
    }

    /// The layout's hash (FNV-1a 64 of its encoded form).
    #[getter]
    fn layout_hash(&self) -> u64 {
        self.buffer.layout().hash()
    }

    /// The most states the history holds.
    #[getter]
    fn buffer_size(&self) -> usize {
        self.buffer.capacity()
    }

    /// The latest version (0 before the first update).
    #[getter]
    fn version(&self) -> u64 {
        self.buffer.version()
    }

    /// Whether this handle is the buffer's writer.
    #[getter]
    fn is_writer(&self) -> bool {
        self.buffer.is_writer()
    }

    /// The file backing the buffer.
    #[getter]
    fn path(&self) -> PathBuf {
        self.buffer.region().path().to_path_buf()
    }

    /// Publishes `state` (a dict, a tuple or a numpy record of the layout;
    /// a `FastDroneState` for that layout); returns its version. The first
    /// update through a handle from `open_shared` makes it the writer (a
    /// running writer elsewhere raises `WriterBusyError`).
    #[pyo3(signature = (state, source=None))]
    fn update_state(&self, state: &Bound<'_, PyAny>, source: Option<&str>) -> PyResult<u64> {
        let bytes = self.bytes_of(state)?;
        Ok(self
            .buffer
            .publish(&bytes, None, source.unwrap_or("unknown"))?)
    }

    /// The latest snapshot, or None before the first update.
    fn get_latest_state(&self, py: Python<'_>) -> PyResult<Option<Py<PyStateSnapshot>>> {
        self.latest_cached(py)
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
        let s = self.buffer.state_at(target_time, max_age);
        self.snapshots(py, s)
    }

    /// The snapshots held, oldest first (at most `buffer_size`).
    fn get_history<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let snapshots = self
            .buffer
            .history()
            .into_iter()
            .map(|s| self.snapshot(py, s))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, snapshots)
    }

    /// Blocks (the interpreter released, asleep on the buffer's futex)
    /// until a newer version is published, in any process; returns its
    /// snapshot, or None after `timeout` seconds.
    #[pyo3(signature = (timeout=1.0))]
    fn wait_for_update(
        &self,
        py: Python<'_>,
        timeout: f64,
    ) -> PyResult<Option<Py<PyStateSnapshot>>> {
        self.wait_after(py, self.buffer.version(), timeout)
    }

    /// Awaitable: the snapshot of the next publish (from any process), or
    /// None after `timeout` seconds. The wait runs on a Rust thread.
    #[pyo3(signature = (timeout=1.0))]
    fn wait_for_update_async<'py>(
        slf: &Bound<'py, Self>,
        timeout: f64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let timeout = duration_from_secs("timeout", timeout)?;
        let event_loop = py.import("asyncio")?.call_method0("get_running_loop")?;
        let future = event_loop.call_method0("create_future")?;
        let buffer = slf.get().buffer.clone();
        let after = buffer.version();
        let (this, fut, lp) = (
            slf.clone().unbind(),
            future.clone().unbind(),
            event_loop.unbind(),
        );
        std::thread::Builder::new()
            .name("rtstate-shared-wait".into())
            .spawn(move || {
                let outcome = buffer.wait_for_update(after, timeout);
                Python::attach(|py| {
                    let this = this.bind(py).get();
                    let result = match outcome {
                        Ok(_) => this
                            .snapshots(py, this.buffer.latest())
                            .map(|s| s.map_or_else(|| py.None(), Py::into_any)),
                        Err(Error::Timeout(_)) => Ok(py.None()),
                        Err(e) => Err(PyErr::from(e)),
                    };
                    let _ = resolve(py, lp.bind(py), fut.bind(py), result);
                });
            })
            .map_err(|e| PyOSError::new_err(format!("cannot start a thread: {e}")))?;
        Ok(future)
    }

    /// A new per-consumer reader (counts its own reads and lost versions
    /// into the header, visible to every process).
    fn reader(slf: &Bound<'_, Self>) -> PySharedReader {
        PySharedReader {
            reader: Mutex::new(slf.get().buffer.reader()),
            buffer: slf.clone().unbind(),
        }
    }

    /// An asyncio queue of every publish from now on (from any process),
    /// holding at most `queue_size` snapshots: when the consumer falls
    /// behind, the oldest are dropped and counted. Call it with an event
    /// loop running.
    #[pyo3(signature = (queue_size=10))]
    fn subscribe(slf: &Bound<'_, Self>, queue_size: i64) -> PyResult<PySharedSubscription> {
        PySharedSubscription::start(slf, positive("queue_size", queue_size)?)
    }

    /// Counters summed over every process that has the buffer open.
    fn get_statistics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.buffer.statistics();
        let d = PyDict::new(py);
        d.set_item("updates", s.updates)?;
        d.set_item("current_version", s.current_version)?;
        d.set_item("reads", s.reads)?;
        d.set_item("stale_reads", s.stale_reads)?;
        d.set_item("lost", s.lost)?;
        d.set_item("readers", s.readers)?;
        d.set_item("processes", s.processes)?;
        d.set_item("waiting", s.waiting)?;
        d.set_item("buffer_size", s.capacity)?;
        d.set_item("writer_pid", s.writer_pid)?;
        d.set_item("writer_alive", s.writer_alive)?;
        d.set_item("latest_age", s.latest_age)?;
        d.set_item("last_update_time", s.last_update_time.unwrap_or(0.0))?;
        d.set_item("closed", s.closed)?;
        Ok(d)
    }

    /// Forgets every state (versions restart at 1). Makes this handle the
    /// writer if it is not.
    fn reset(&self) -> PyResult<()> {
        Ok(self.buffer.reset()?)
    }

    /// Closes the buffer for every process: updates fail, waits end.
    fn close(&self) {
        self.buffer.close()
    }

    fn __repr__(&self) -> String {
        format!(
            "SharedBuffer(name={:?}, version={}, layout={})",
            self.buffer.name(),
            self.buffer.version(),
            self.buffer.layout()
        )
    }
}

fn positive(name: &'static str, value: i64) -> PyResult<usize> {
    if value < 1 {
        return Err(PyValueError::new_err(format!(
            "invalid argument `{name}`: must be at least 1, got {value}"
        )));
    }
    usize::try_from(value).map_err(|_| PyValueError::new_err(format!("`{name}` is too large")))
}

/// Completes `future` on `event_loop` from any thread (ignored if the
/// future was cancelled or the loop closed).
fn resolve(
    py: Python<'_>,
    event_loop: &Bound<'_, PyAny>,
    future: &Bound<'_, PyAny>,
    result: PyResult<Py<PyAny>>,
) -> PyResult<()> {
    static SETTER: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let setter = SETTER.get_or_try_init(py, || {
        let code = c"def _set(fut, ok, value):\n    if not fut.done():\n        (fut.set_result if ok else fut.set_exception)(value)\n";
        let module = PyModule::from_code(py, code, c"rtstate_shared_set.py", c"rtstate_shared_set")?;
        Ok::<_, PyErr>(module.getattr("_set")?.unbind())
    })?;
    let (ok, value) = match result {
        Ok(v) => (true, v),
        Err(e) => (false, e.into_value(py).into_any()),
    };
    event_loop
        .call_method1("call_soon_threadsafe", (setter.bind(py), future, ok, value))
        .map(|_| ())
}

/// Opens existing shared buffer `name` from any process. Its layout comes
/// from the buffer's header: states are `FastDroneState`s for that layout,
/// numpy records otherwise (always records with `raw=True`). `directory`
/// overrides `$RTSTATE_SHM_DIR` (default `/dev/shm`).
#[pyfunction]
#[pyo3(signature = (name, raw=false, directory=None))]
pub(crate) fn open_shared(
    py: Python<'_>,
    name: &str,
    raw: bool,
    directory: Option<PathBuf>,
) -> PyResult<PySharedBuffer> {
    let dir = directory.unwrap_or_else(shm::name::shm_dir);
    let buffer = py.detach(|| RawBuffer::open_in(&dir, name))?;
    PySharedBuffer::wrap(py, buffer, raw)
}

/// One consumer's cursor on a shared buffer.
#[pyclass(frozen, module = "rtstate", name = "SharedReader")]
pub struct PySharedReader {
    reader: Mutex<RawReader>,
    buffer: Py<PySharedBuffer>,
}

#[pymethods]
impl PySharedReader {
    /// Whether a version newer than the last one read exists.
    fn updated(&self) -> bool {
        lock(&self.reader).updated()
    }

    /// The latest snapshot (even if already read).
    fn read(&self, py: Python<'_>) -> PyResult<Option<Py<PyStateSnapshot>>> {
        let s = {
            let mut reader = lock(&self.reader);
            let s = reader.read();
            reader.flush();
            s
        };
        self.buffer.get().snapshots(py, s)
    }

    /// The latest snapshot if newer than the last one read, else None.
    fn read_if_updated(&self, py: Python<'_>) -> PyResult<Option<Py<PyStateSnapshot>>> {
        let s = {
            let mut reader = lock(&self.reader);
            let s = reader.read_if_updated();
            reader.flush();
            s
        };
        self.buffer.get().snapshots(py, s)
    }

    /// Blocks (the interpreter released) until a version newer than the
    /// last one read exists, then reads it; None after `timeout` seconds.
    #[pyo3(signature = (timeout=1.0))]
    fn wait(&self, py: Python<'_>, timeout: f64) -> PyResult<Option<Py<PyStateSnapshot>>> {
        let timeout = duration_from_secs("timeout", timeout)?;
        let after = lock(&self.reader).last_version();
        let buffer = self.buffer.get().buffer.clone();
        match py.detach(move || buffer.wait_for_update(after, timeout)) {
            Ok(_) => self.read_if_updated(py),
            Err(Error::Timeout(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Versions published after this reader's creation that it never read.
    #[getter]
    fn lost(&self) -> u64 {
        lock(&self.reader).lost()
    }

    /// The last version read (0 before the first read).
    #[getter]
    fn last_version(&self) -> u64 {
        lock(&self.reader).last_version()
    }

    /// Reads made through this reader.
    #[getter]
    fn reads(&self) -> u64 {
        lock(&self.reader).reads()
    }
}

struct SubState {
    stop: AtomicBool,
    delivered: AtomicU64,
    dropped: AtomicU64,
}

/// An asyncio queue fed by a Rust thread that sleeps on the shared
/// buffer's futex: `await get()`, `get_nowait()`, `async for`.
#[pyclass(frozen, module = "rtstate", name = "SharedSubscription")]
pub struct PySharedSubscription {
    queue: Py<PyAny>,
    state: Arc<SubState>,
}

impl PySharedSubscription {
    fn start(buffer: &Bound<'_, PySharedBuffer>, size: usize) -> PyResult<Self> {
        let py = buffer.py();
        let asyncio = py.import("asyncio")?;
        let event_loop = asyncio.call_method0("get_running_loop")?.unbind();
        let queue = asyncio.getattr("Queue")?.call1((size,))?.unbind();
        let state = Arc::new(SubState {
            stop: AtomicBool::new(false),
            delivered: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        });
        let (this, q, st) = (
            buffer.clone().unbind(),
            queue.clone_ref(py),
            Arc::clone(&state),
        );
        let raw = buffer.get().buffer.clone();
        let mut last = raw.version();
        std::thread::Builder::new()
            .name("rtstate-shared-subscription".into())
            .spawn(move || loop {
                // ORDERING: a flag checked every wait; nothing hangs on it.
                if st.stop.load(Ordering::Relaxed) {
                    return;
                }
                match raw.wait_for_update(last, Duration::from_millis(100)) {
                    Err(Error::Timeout(_)) => continue,
                    Err(_) => return,
                    Ok(_) => {}
                }
                if raw.version() < last {
                    last = 0; // the buffer was reset
                }
                let fresh: Vec<RawSnapshot> = raw
                    .history()
                    .into_iter()
                    .filter(|s| s.version > last)
                    .collect();
                let (Some(first), Some(top)) = (fresh.first(), fresh.last()) else {
                    continue;
                };
                // Versions the history no longer held count as dropped.
                let skipped = first.version - (last + 1);
                last = top.version;
                let ok = Python::attach(|py| -> PyResult<()> {
                    let b = this.bind(py).get();
                    let items = fresh
                        .into_iter()
                        .map(|s| b.snapshot(py, s))
                        .collect::<PyResult<Vec<_>>>()?;
                    let deliver = PyOnceLockDeliver::get(py)?;
                    event_loop.bind(py).call_method1(
                        "call_soon_threadsafe",
                        (
                            deliver,
                            q.bind(py),
                            PyList::new(py, items)?,
                            SubCounters(Arc::clone(&st)),
                            skipped,
                        ),
                    )?;
                    Ok(())
                });
                if ok.is_err() {
                    return; // the loop is closed
                }
            })
            .map_err(|e| PyOSError::new_err(format!("cannot start a thread: {e}")))?;
        Ok(PySharedSubscription { queue, state })
    }
}

/// The counters a delivery updates (passed through the event loop).
#[pyclass(frozen, module = "rtstate", name = "_SubCounters")]
struct SubCounters(Arc<SubState>);

#[pymethods]
impl SubCounters {
    fn count(&self, delivered: u64, dropped: u64) {
        // ORDERING: statistics.
        self.0.delivered.fetch_add(delivered, Ordering::Relaxed);
        self.0.dropped.fetch_add(dropped, Ordering::Relaxed);
    }
}

/// The Python function that puts a batch into the queue on the loop's
/// thread, dropping the oldest when full.
struct PyOnceLockDeliver;

impl PyOnceLockDeliver {
    fn get(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
        static DELIVER: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        DELIVER
            .get_or_try_init(py, || {
                let code = c"def _deliver(queue, items, counters, skipped):\n    dropped = skipped\n    for item in items:\n        if queue.full():\n            queue.get_nowait()\n            dropped += 1\n        queue.put_nowait(item)\n    counters.count(len(items), dropped)\n";
                let module = PyModule::from_code(py, code, c"rtstate_shared_deliver.py", c"rtstate_shared_deliver")?;
                Ok::<_, PyErr>(module.getattr("_deliver")?.unbind())
            })
            .map(|f| f.bind(py))
    }
}

#[pymethods]
impl PySharedSubscription {
    /// Awaitable: the next snapshot.
    fn get<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.queue.bind(py).call_method0("get")
    }

    /// The next snapshot if one is queued; else `asyncio.QueueEmpty`.
    fn get_nowait<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.queue.bind(py).call_method0("get_nowait")
    }

    /// Snapshots queued.
    fn qsize(&self, py: Python<'_>) -> PyResult<usize> {
        self.queue.bind(py).call_method0("qsize")?.extract()
    }

    /// Snapshots put into the queue so far.
    #[getter]
    fn delivered(&self) -> u64 {
        // ORDERING: a statistic.
        self.state.delivered.load(Ordering::Relaxed)
    }

    /// Snapshots dropped because the consumer fell behind.
    #[getter]
    fn dropped(&self) -> u64 {
        // ORDERING: a statistic.
        self.state.dropped.load(Ordering::Relaxed)
    }

    /// Stops the feeding thread (within 0.1 s).
    fn close(&self) {
        // ORDERING: a flag; see the thread's loop.
        self.state.stop.store(true, Ordering::Relaxed);
    }

    fn __aiter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.get(py)
    }
}

impl Drop for PySharedSubscription {
    fn drop(&mut self) {
        // ORDERING: a flag; see the thread's loop.
        self.state.stop.store(true, Ordering::Relaxed);
    }
}

fn listing_dict<'py>(py: Python<'py>, l: &shm::Listing) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("name", &l.name)?;
    d.set_item("path", &l.path)?;
    match &l.status {
        Ok(b) => {
            d.set_item("valid", true)?;
            d.set_item("layout", b.layout.to_string())?;
            d.set_item("version", b.version)?;
            d.set_item("buffer_size", b.capacity)?;
            d.set_item("writer_pid", b.writer_pid)?;
            d.set_item("writer_alive", b.writer_alive)?;
            d.set_item("attached", b.attached)?;
            d.set_item("reads", b.counts.reads)?;
            d.set_item("lost", b.counts.lost)?;
            d.set_item("stale_reads", b.counts.stale)?;
            d.set_item("readers", b.counts.readers)?;
            d.set_item("processes", b.counts.processes)?;
            d.set_item("waiting", b.waiting)?;
        }
        Err(reason) => {
            d.set_item("valid", false)?;
            d.set_item("error", reason)?;
        }
    }
    Ok(d)
}

/// Every shared buffer in `directory` (default `$RTSTATE_SHM_DIR` or
/// `/dev/shm`), as dicts (for `rtstate list`).
#[pyfunction]
#[pyo3(signature = (directory=None))]
pub(crate) fn _shared_list<'py>(
    py: Python<'py>,
    directory: Option<PathBuf>,
) -> PyResult<Bound<'py, PyList>> {
    let listing = shm::list(directory.as_deref()).map_err(Error::from)?;
    let items = listing
        .iter()
        .map(|l| listing_dict(py, l))
        .collect::<PyResult<Vec<_>>>()?;
    PyList::new(py, items)
}

/// Removes the buffers no running process has open (and, with `invalid`,
/// files named like buffers that are not valid ones); returns their names.
#[pyfunction]
#[pyo3(signature = (directory=None, invalid=false))]
pub(crate) fn _shared_clean(directory: Option<PathBuf>, invalid: bool) -> PyResult<Vec<String>> {
    Ok(shm::clean(directory.as_deref(), invalid).map_err(Error::from)?)
}

/// Removes shared buffer `name`'s file (processes that have it open keep
/// their mapping).
#[pyfunction]
#[pyo3(signature = (name, directory=None))]
pub(crate) fn _shared_remove(name: &str, directory: Option<PathBuf>) -> PyResult<()> {
    let dir = directory.unwrap_or_else(shm::name::shm_dir);
    let path = shm::name::path_in(&dir, name).map_err(Error::from)?;
    std::fs::remove_file(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            PyFileNotFoundError::new_err(format!("no shared buffer `{name}` ({})", path.display()))
        }
        _ => PyOSError::new_err(format!("{}: {e}", path.display())),
    })
}

/// The directory holding shared buffers.
#[pyfunction]
pub(crate) fn _shared_dir() -> PathBuf {
    shm::name::shm_dir()
}

/// Adds the shared-buffer classes and functions to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("WriterBusyError", m.py().get_type::<WriterBusyError>())?;
    m.add_class::<PySharedBuffer>()?;
    m.add_class::<PySharedReader>()?;
    m.add_class::<PySharedSubscription>()?;
    m.add_function(wrap_pyfunction!(open_shared, m)?)?;
    m.add_function(wrap_pyfunction!(_shared_list, m)?)?;
    m.add_function(wrap_pyfunction!(_shared_clean, m)?)?;
    m.add_function(wrap_pyfunction!(_shared_dir, m)?)?;
    m.add_function(wrap_pyfunction!(_shared_remove, m)?)?;
    Ok(())
}
