//! `StateSnapshot`: one published state with its version, times and source.

use super::convert::now;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

/// An immutable snapshot: `state`, `timestamp` (the state's own time, else
/// the publish time), `version`, `source`, `metadata`, `published_at`.
#[pyclass(frozen, module = "rtstate", name = "StateSnapshot")]
pub struct PyStateSnapshot {
    /// The state.
    #[pyo3(get)]
    pub(crate) state: Py<PyAny>,
    /// The state's own time, else the publish time (wall-clock seconds).
    #[pyo3(get)]
    pub(crate) timestamp: f64,
    /// The buffer's version of this publish (1 for the first).
    #[pyo3(get)]
    pub(crate) version: u64,
    /// Who published it.
    #[pyo3(get)]
    pub(crate) source: Py<PyString>,
    /// What the publisher attached (a copy of the dict given).
    #[pyo3(get)]
    pub(crate) metadata: Py<PyDict>,
    /// Wall-clock seconds when it was published.
    #[pyo3(get)]
    pub(crate) published_at: f64,
}

#[pymethods]
impl PyStateSnapshot {
    #[new]
    #[pyo3(signature = (state, timestamp, version, source="unknown", metadata=None, published_at=None))]
    fn new(
        py: Python<'_>,
        state: Py<PyAny>,
        timestamp: f64,
        version: u64,
        source: &str,
        metadata: Option<&Bound<'_, PyDict>>,
        published_at: Option<f64>,
    ) -> PyResult<Self> {
        Ok(PyStateSnapshot {
            state,
            timestamp,
            version,
            source: PyString::new(py, source).unbind(),
            metadata: match metadata {
                Some(m) => m.copy()?.unbind(),
                None => PyDict::new(py).unbind(),
            },
            published_at: published_at.unwrap_or(timestamp),
        })
    }

    /// Seconds since `timestamp` (wall clock).
    #[getter]
    fn age(&self) -> f64 {
        now() - self.timestamp
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
