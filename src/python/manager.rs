//! `StateManager`: a named registry of buffers, on the Rust `StateManager`
//! (which owns the names, the statistics and the `uorb top` table), with the
//! Python buffer objects kept beside it so that `get_buffer` returns them.

use super::buffers::{PyStateBuffer, Store};
use super::convert::type_name;
use super::snapshot::PyStateSnapshot;
use crate::sync::{lock, Mutex};
use crate::{Error, StateManager, Version};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};
use std::collections::BTreeMap;

/// A named registry of buffers (DART-Planner's `StateManager`).
#[pyclass(frozen, module = "rtstate", name = "StateManager")]
pub struct PyStateManager {
    core: StateManager,
    objects: Mutex<BTreeMap<String, Py<PyStateBuffer>>>,
}

impl PyStateManager {
    fn buffer(&self, py: Python<'_>, name: &str) -> Option<Py<PyStateBuffer>> {
        lock(&self.objects).get(name).map(|b| b.clone_ref(py))
    }

    fn all(&self, py: Python<'_>) -> Vec<(String, Py<PyStateBuffer>)> {
        lock(&self.objects)
            .iter()
            .map(|(n, b)| (n.clone(), b.clone_ref(py)))
            .collect()
    }
}

#[pymethods]
impl PyStateManager {
    #[new]
    fn new() -> Self {
        PyStateManager {
            core: StateManager::new(),
            objects: Mutex::new(BTreeMap::new()),
        }
    }

    /// Registers `buffer` under `name` (a name already taken raises ValueError).
    fn register_buffer(&self, name: &str, buffer: &Bound<'_, PyAny>) -> PyResult<()> {
        let b = buffer.cast::<PyStateBuffer>().map_err(|_| {
            PyTypeError::new_err(format!(
                "expected a ThreadSafeStateBuffer, got {}",
                type_name(buffer)
            ))
        })?;
        let mut objects = lock(&self.objects);
        let inner = b.get();
        match &inner.store {
            Store::Objects(sb) => self
                .core
                .register_as(name, sb.clone(), inner.type_label())?,
            Store::Fast { ring, .. } => {
                self.core
                    .register_as(name, ring.clone(), inner.type_label())?
            }
        }
        objects.insert(name.to_owned(), b.clone().unbind());
        Ok(())
    }

    /// Removes the buffer named `name` (KeyError if none).
    fn unregister_buffer(&self, name: &str) -> PyResult<()> {
        let removed = {
            let mut objects = lock(&self.objects);
            self.core.unregister(name)?;
            objects.remove(name)
        };
        drop(removed);
        Ok(())
    }

    /// The buffer named `name`, or None.
    fn get_buffer(&self, py: Python<'_>, name: &str) -> Option<Py<PyStateBuffer>> {
        self.buffer(py, name)
    }

    /// The latest snapshot of the buffer named `name`, or None (also for an
    /// unknown name, as DART-Planner).
    fn get_latest_state(
        &self,
        py: Python<'_>,
        name: &str,
    ) -> PyResult<Option<Py<PyStateSnapshot>>> {
        match self.buffer(py, name) {
            Some(b) => b.get().latest(py),
            None => Ok(None),
        }
    }

    /// Publishes into the buffer named `name` (KeyError if none).
    #[pyo3(signature = (name, state, source=None, metadata=None))]
    fn update_state(
        &self,
        name: &str,
        state: &Bound<'_, PyAny>,
        source: Option<&Bound<'_, PyString>>,
        metadata: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Version> {
        let py = state.py();
        let buffer = self
            .buffer(py, name)
            .ok_or_else(|| PyErr::from(Error::UnknownName(name.to_owned())))?;
        let unknown = pyo3::intern!(py, "unknown");
        buffer
            .get()
            .publish(state, source.unwrap_or(unknown), metadata)
    }

    /// Statistics of every buffer, by name.
    fn get_all_statistics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let out = PyDict::new(py);
        for (name, b) in self.all(py) {
            out.set_item(name, b.get().statistics_dict(py)?)?;
        }
        Ok(out)
    }

    /// Resets every buffer.
    fn reset_all(&self, py: Python<'_>) {
        for (_, b) in self.all(py) {
            b.get().reset_all();
        }
    }

    /// The registered names, sorted.
    fn names<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.core.names())
    }

    /// A table of every buffer, like PX4's `uorb top`.
    fn table(&self) -> String {
        self.core.table()
    }

    fn __len__(&self) -> usize {
        lock(&self.objects).len()
    }

    fn __contains__(&self, name: &str) -> bool {
        lock(&self.objects).contains_key(name)
    }
}

/// A `StateManager` (DART-Planner's factory).
#[pyfunction]
pub(crate) fn create_state_manager() -> PyStateManager {
    PyStateManager::new()
}
