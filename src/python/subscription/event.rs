//! `UpdateEvent`: one publish as a subscriber receives it, holding the
//! Rust snapshot and building Python objects on the consumer's side.

use super::super::store::Event;
use pyo3::exceptions::PyKeyError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyList, PyString};

/// The event keys, in DART-Planner's order.
const KEYS: [&str; 4] = ["state", "version", "timestamp", "source"];

/// An event rebuilt from a pickle or a deep copy: the values themselves.
struct Plain {
    state: Py<PyAny>,
    version: u64,
    timestamp: f64,
    published_at: f64,
    source: Py<PyString>,
}

impl Event for Plain {
    fn version(&self) -> u64 {
        self.version
    }
    fn timestamp(&self) -> f64 {
        self.timestamp
    }
    fn published_at(&self) -> f64 {
        self.published_at
    }
    fn source<'py>(&self, py: Python<'py>) -> Bound<'py, PyString> {
        self.source.bind(py).clone()
    }
    fn state(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(self.state.clone_ref(py))
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
        Box::new(Plain {
            state,
            version,
            timestamp,
            published_at,
            source: source.unbind(),
        }),
    )
}

/// One publish as a subscriber receives it: `event["version"]` or
/// `event.version`, with keys `state version timestamp source`.
#[pyclass(frozen, module = "rtstate", name = "UpdateEvent")]
pub struct PyUpdateEvent {
    data: Box<dyn Event>,
    state: PyOnceLock<Py<PyAny>>,
}

impl PyUpdateEvent {
    pub(super) fn new(py: Python<'_>, data: Box<dyn Event>) -> PyResult<Py<PyUpdateEvent>> {
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
            .get_or_try_init(py, || self.data.state(py))
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
