//! Shared-memory buffers from Python: the mapping of their errors.

use super::errors::RtStateError;
use crate::shm::ShmError;
use pyo3::exceptions::{PyFileNotFoundError, PyOSError, PyTypeError, PyValueError};
use pyo3::prelude::*;

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

/// Adds the shared-buffer classes and functions to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("WriterBusyError", m.py().get_type::<WriterBusyError>())?;
    Ok(())
}
