//! `Reader`: one consumer's cursor on a buffer, over the core's
//! [`Reader`](crate::Reader) (through the buffer's [`Cursor`]).

use super::buffers::PyStateBuffer;
use super::convert::Timeout;
use super::snapshot::PyStateSnapshot;
use super::store::Cursor;
use crate::Version;
use pyo3::prelude::*;

/// One consumer's cursor on a buffer: `updated()`, `read_if_updated()`,
/// `lost` (versions published after its creation that it never read).
#[pyclass(frozen, module = "rtstate", name = "Reader")]
pub struct PyReader {
    pub(super) cursor: Box<dyn Cursor>,
    pub(super) buffer: Py<PyStateBuffer>,
}

#[pymethods]
impl PyReader {
    /// Whether a version other than the last one read exists.
    fn updated(&self) -> bool {
        self.cursor.updated()
    }

    /// The latest snapshot if newer than the last one read, else None.
    fn read_if_updated(&self, py: Python<'_>) -> PyResult<Option<Py<PyStateSnapshot>>> {
        self.cursor
            .read_if_updated(py, &self.buffer.get().snapshots)
    }

    /// The latest snapshot (even if already read), or None before the first update.
    fn read(&self, py: Python<'_>) -> PyResult<Option<Py<PyStateSnapshot>>> {
        self.cursor.read(py, &self.buffer.get().snapshots)
    }

    /// Blocks (the interpreter released, Ctrl-C honoured) until a version
    /// newer than the last one read exists, then reads it; None after
    /// `timeout` seconds (None or infinity: no limit). A reset wakes it,
    /// and it goes on waiting for the first publish after the reset.
    #[pyo3(signature = (timeout=Timeout::secs(1)), text_signature = "($self, timeout=1.0)")]
    fn wait(&self, py: Python<'_>, timeout: Timeout) -> PyResult<Option<Py<PyStateSnapshot>>> {
        self.cursor
            .wait(py, &self.buffer.get().snapshots, timeout.0)
    }

    /// Versions published after this reader was created that it never read.
    #[getter]
    fn lost(&self) -> u64 {
        self.cursor.lost()
    }

    /// The last version read (0 before the first read).
    #[getter]
    fn last_version(&self) -> Version {
        self.cursor.last_version()
    }

    /// Reads made through this reader.
    #[getter]
    fn reads(&self) -> u64 {
        self.cursor.reads()
    }
}
