//! `StateManager`: a named registry of buffers, on the Rust `StateManager`
//! (which owns the names and the statistics), with the Python buffer
//! objects kept beside it so that `get_buffer` returns them.

use super::buffers::PyStateBuffer;
use super::convert::{clock_arg, text_arg, type_name, ReplaceArg, SourceArg};
use super::snapshot::PyStateSnapshot;
use crate::sync::{lock, Mutex};
use crate::{render_table, Error, StateManager, Version};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList};
use std::collections::BTreeMap;
use std::time::Duration;

/// A buffer name: a `str` that encodes as UTF-8, named `name` in errors.
fn name_arg(value: &Bound<'_, PyAny>) -> PyResult<String> {
    text_arg(value, "name")
}

/// A named registry of buffers (DART-Planner's `StateManager`). `clock`, a
/// callable returning seconds, is the time base of the table's AGE for
/// buffers that have no clock of their own (None: the wall clock).
#[pyclass(frozen, module = "rtstate", name = "StateManager")]
pub struct PyStateManager {
    core: StateManager,
    objects: Mutex<BTreeMap<String, Py<PyStateBuffer>>>,
    clock: Option<Py<PyAny>>,
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

    fn with_clock(clock: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        Ok(PyStateManager {
            core: StateManager::new(),
            objects: Mutex::new(BTreeMap::new()),
            clock: clock_arg(clock)?,
        })
    }
}

#[pymethods]
impl PyStateManager {
    #[new]
    #[pyo3(signature = (clock=None))]
    fn new(clock: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        Self::with_clock(clock)
    }

    /// Registers `buffer` under `name`. A name already taken is replaced,
    /// with a `UserWarning` (as DART-Planner does); `replace=False` refuses
    /// it with `ValueError` instead.
    #[pyo3(signature = (name, buffer, replace=ReplaceArg(true)), text_signature = "($self, name, buffer, replace=True)")]
    fn register_buffer(
        &self,
        name: &Bound<'_, PyAny>,
        buffer: &Bound<'_, PyAny>,
        replace: ReplaceArg,
    ) -> PyResult<()> {
        let replace = replace.0;
        static WARN: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        let py = name.py();
        let name = name_arg(name)?;
        let b = buffer.cast::<PyStateBuffer>().map_err(|_| {
            PyTypeError::new_err(format!(
                "`buffer` expects a ThreadSafeStateBuffer, got {}",
                type_name(buffer)
            ))
        })?;
        let taken = lock(&self.objects).contains_key(&name);
        if taken {
            if !replace {
                return Err(Error::AlreadyRegistered(name).into());
            }
            // Outside the lock: a warning filter may run any code, or raise.
            WARN.import(py, "warnings", "warn")?.call1((format!(
                "a buffer named {name:?} is already registered; it is replaced"
            ),))?;
        }
        let inner = b.get();
        let displaced = {
            let mut objects = lock(&self.objects);
            if objects.contains_key(&name) {
                self.core.unregister(&name)?;
            }
            inner
                .store
                .register(&self.core, &name, inner.type_label(py))?;
            objects.insert(name, b.clone().unbind())
        };
        drop(displaced);
        Ok(())
    }

    /// Removes the buffer named `name` (KeyError if none).
    fn unregister_buffer(&self, name: &Bound<'_, PyAny>) -> PyResult<()> {
        let name = name_arg(name)?;
        let removed = {
            let mut objects = lock(&self.objects);
            self.core.unregister(&name)?;
            objects.remove(&name)
        };
        drop(removed);
        Ok(())
    }

    /// The buffer named `name`, or None.
    fn get_buffer(
        &self,
        py: Python<'_>,
        name: &Bound<'_, PyAny>,
    ) -> PyResult<Option<Py<PyStateBuffer>>> {
        Ok(self.buffer(py, &name_arg(name)?))
    }

    /// The latest snapshot of the buffer named `name`, or None (also for an
    /// unknown name, as DART-Planner).
    fn get_latest_state(
        &self,
        py: Python<'_>,
        name: &Bound<'_, PyAny>,
    ) -> PyResult<Option<Py<PyStateSnapshot>>> {
        match self.buffer(py, &name_arg(name)?) {
            Some(b) => b.get().latest(py),
            None => Ok(None),
        }
    }

    /// Publishes into the buffer named `name` (KeyError if none: a write
    /// must not vanish).
    #[pyo3(signature = (name, state, source=SourceArg(None), metadata=None), text_signature = "($self, name, state, source=None, metadata=None)")]
    fn update_state(
        &self,
        name: &Bound<'_, PyAny>,
        state: &Bound<'_, PyAny>,
        source: SourceArg,
        metadata: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Version> {
        let py = state.py();
        let name = name_arg(name)?;
        let buffer = self.buffer(py, &name).ok_or(Error::UnknownName(name))?;
        buffer
            .get()
            .publish(state, &source.or(py, "unknown"), metadata)
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

    /// A table of every buffer, like PX4's `uorb top`: name, state type,
    /// version, rates, readers, subscribers, losses and the AGE of the
    /// latest state, on the buffer's clock (else the manager's, else the
    /// wall clock). An age is only meaningful when the states' timestamps
    /// come from that clock.
    fn table(&self, py: Python<'_>) -> PyResult<String> {
        let buffers: BTreeMap<String, Py<PyStateBuffer>> = self.all(py).into_iter().collect();
        let mut rows = self.core.infos();
        for row in &mut rows {
            let Some(b) = buffers.get(&row.name) else {
                continue;
            };
            let b = b.get();
            row.type_name = b.state_type_name(py);
            row.statistics.latest_age = b
                .latest_age(py, self.clock.as_ref())?
                .map(|a| Duration::try_from_secs_f64(a.max(0.0)).unwrap_or(Duration::MAX));
        }
        Ok(render_table(&rows))
    }

    /// The staleness clock given (None: the wall clock).
    #[getter]
    fn clock(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.clock.as_ref().map(|c| c.clone_ref(py))
    }

    fn __len__(&self) -> usize {
        lock(&self.objects).len()
    }

    fn __contains__(&self, name: &Bound<'_, PyAny>) -> bool {
        name_arg(name).is_ok_and(|n| lock(&self.objects).contains_key(&n))
    }
}

/// A `StateManager` (DART-Planner's factory).
#[pyfunction]
#[pyo3(signature = (clock=None))]
pub(crate) fn create_state_manager(clock: Option<&Bound<'_, PyAny>>) -> PyResult<PyStateManager> {
    PyStateManager::with_clock(clock)
}
