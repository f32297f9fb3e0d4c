//! `StateSnapshot`: one published state with its version, times and source.

use super::convert::{
    finite, metadata as metadata_arg, now_on, readonly_mapping, source_text, type_name,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyString, PyTuple};

/// An immutable snapshot: `state`, `timestamp` (the state's own time, else
/// the publish time), `version`, `source`, `metadata` (a read-only mapping),
/// `published_at`.
#[pyclass(frozen, module = "rtstate", name = "StateSnapshot")]
pub struct PyStateSnapshot {
    /// The state.
    #[pyo3(get)]
    pub(crate) state: Py<PyAny>,
    /// The state's own time, else the publish time (seconds).
    #[pyo3(get)]
    pub(crate) timestamp: f64,
    /// The buffer's version of this publish (1 for the first).
    #[pyo3(get)]
    pub(crate) version: u64,
    /// Who published it.
    #[pyo3(get)]
    pub(crate) source: Py<PyString>,
    /// What the publisher attached: a read-only mapping over a copy
    /// (`convert::readonly_mapping`).
    #[pyo3(get)]
    pub(crate) metadata: Py<PyAny>,
    /// Wall-clock seconds when it was published.
    #[pyo3(get)]
    pub(crate) published_at: f64,
    /// The clock `age` is measured on (the buffer's; None: the wall clock).
    pub(crate) clock: Option<Py<PyAny>>,
}

#[pymethods]
impl PyStateSnapshot {
    #[new]
    #[pyo3(signature = (state, timestamp, version, source=None, metadata=None, published_at=None))]
    fn new(
        py: Python<'_>,
        state: Py<PyAny>,
        timestamp: &Bound<'_, PyAny>,
        version: &Bound<'_, PyAny>,
        source: Option<&Bound<'_, PyAny>>,
        metadata: Option<&Bound<'_, PyAny>>,
        published_at: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let timestamp = finite(timestamp, "timestamp")?;
        if version.is_instance_of::<PyBool>() {
            return Err(PyTypeError::new_err("`version` expects an int, got bool"));
        }
        let version = version
            .extract::<i128>()
            .map_err(|_| {
                PyTypeError::new_err(format!(
                    "`version` expects an int, got {}",
                    type_name(version)
                ))
            })
            .and_then(|v| {
                u64::try_from(v).map_err(|_| {
                    PyValueError::new_err(format!(
                        "`version` must be from 0 to {}, got {v}",
                        u64::MAX
                    ))
                })
            })?;
        let source = match source.filter(|s| !s.is_none()) {
            Some(s) => source_text(s)?.clone().unbind(),
            None => PyString::new(py, "unknown").unbind(),
        };
        let published_at = match published_at.filter(|p| !p.is_none()) {
            Some(p) => finite(p, "published_at")?,
            None => timestamp,
        };
        let metadata = readonly_mapping(py, metadata_arg(metadata)?)?.unbind();
        Ok(PyStateSnapshot {
            state,
            timestamp,
            version,
            source,
            metadata,
            published_at,
            clock: None,
        })
    }

    /// Seconds since `timestamp`, on the buffer's clock (the wall clock
    /// unless the buffer was given `clock=`). A state stamped in another
    /// time base (simulation time against the wall clock) has a meaningless
    /// age: give the buffer the clock its timestamps come from.
    #[getter]
    fn age(&self, py: Python<'_>) -> PyResult<f64> {
        Ok(now_on(py, self.clock.as_ref())? - self.timestamp)
    }

    /// Equal when every field is (the states compared with `==`).
    fn __eq__(&self, other: &Bound<'_, PyAny>) -> PyResult<bool> {
        let py = other.py();
        let Ok(o) = other.cast::<PyStateSnapshot>() else {
            return Ok(false);
        };
        let o = o.get();
        Ok(self.version == o.version
            && self.timestamp.to_bits() == o.timestamp.to_bits()
            && self.published_at.to_bits() == o.published_at.to_bits()
            && self.source.bind(py).as_any().eq(o.source.bind(py))?
            && self.metadata.bind(py).eq(o.metadata.bind(py))?
            && self.state.bind(py).eq(o.state.bind(py))?)
    }

    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let metadata = py.get_type::<PyDict>().call1((self.metadata.bind(py),))?;
        (
            py.get_type::<Self>(),
            (
                self.state.clone_ref(py),
                self.timestamp,
                self.version,
                self.source.clone_ref(py),
                metadata,
                self.published_at,
            ),
        )
            .into_pyobject(py)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "StateSnapshot(version={}, timestamp={}, source={}, state={})",
            self.version,
            self.timestamp,
            self.source.bind(py).repr()?,
            self.state.bind(py).repr()?
        ))
    }
}
