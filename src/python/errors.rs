//! The mapping of [`Error`] to Python exceptions.
//!
//! Built-ins where Python has a meaning (`ValueError`, `TypeError`,
//! `KeyError`, `TimeoutError`); otherwise a small hierarchy under
//! `rtstate.RtStateError`. A wrong unit raises `rtstate.DimensionalityError`,
//! defined in the Python glue (`rtstate/_units.py`) because it must also
//! derive from `pint.DimensionalityError` where pint is installed.

use crate::Error;
use pyo3::exceptions::{PyException, PyKeyError, PyTimeoutError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

pyo3::create_exception!(
    rtstate,
    RtStateError,
    PyException,
    "Base of the errors rtstate raises that no built-in exception describes."
);
pyo3::create_exception!(
    rtstate,
    ClosedError,
    RtStateError,
    "The buffer or subscription is closed."
);
pyo3::create_exception!(
    rtstate,
    EmptyError,
    RtStateError,
    "Nothing is ready now (a non-blocking receive)."
);
pyo3::create_exception!(
    rtstate,
    RealTimeError,
    RtStateError,
    "A real-time setting (priority, affinity) could not be applied under the strict policy."
);
pyo3::create_exception!(
    rtstate,
    AlreadyRunningError,
    RtStateError,
    "A control loop is already running."
);
pyo3::create_exception!(
    rtstate,
    PanickedError,
    RtStateError,
    "A control loop's tick panicked in Rust."
);

/// `rtstate._units.DimensionalityError`, imported once.
fn dimensionality_error(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    static CLASS: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    CLASS.import(py, "rtstate._units", "DimensionalityError")
}

impl From<Error> for PyErr {
    fn from(error: Error) -> PyErr {
        let message = error.to_string();
        match error {
            Error::NonFinite { .. }
            | Error::Shape { .. }
            | Error::NonUnitQuaternion { .. }
            | Error::InvalidArgument { .. }
            | Error::VersionNotNewer { .. }
            | Error::AlreadyRegistered(_) => PyValueError::new_err(message),
            Error::Units {
                field,
                expected,
                got,
            } => Python::attach(|py| match dimensionality_error(py) {
                Ok(class) => PyErr::from_type(class.clone(), (field, expected, got, message)),
                Err(import_error) => {
                    let err = PyValueError::new_err(message);
                    err.set_cause(py, Some(import_error));
                    err
                }
            }),
            Error::UnknownName(name) => PyKeyError::new_err(name),
            Error::TypeMismatch { .. } => PyTypeError::new_err(message),
            Error::Closed => ClosedError::new_err(message),
            Error::Timeout(_) => PyTimeoutError::new_err(message),
            Error::Empty => EmptyError::new_err(message),
            Error::RealTime { .. } => RealTimeError::new_err(message),
            Error::AlreadyRunning => AlreadyRunningError::new_err(message),
            Error::Panicked(_) => PanickedError::new_err(message),
            Error::Shared(e) => crate::python::shared::shm_error(&e, message),
        }
    }
}

/// Adds the exception classes to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("RtStateError", py.get_type::<RtStateError>())?;
    m.add("ClosedError", py.get_type::<ClosedError>())?;
    m.add("EmptyError", py.get_type::<EmptyError>())?;
    m.add("RealTimeError", py.get_type::<RealTimeError>())?;
    m.add("AlreadyRunningError", py.get_type::<AlreadyRunningError>())?;
    m.add("PanickedError", py.get_type::<PanickedError>())?;
    Ok(())
}

/// Raises `Error::*` from Python, for the tests of this mapping (one per
/// variant): `_raise_error("closed")` raises what a closed buffer raises.
#[pyfunction]
#[pyo3(signature = (variant))]
pub(crate) fn _raise_error(variant: &str) -> PyResult<()> {
    let error = match variant {
        "non_finite" => Error::NonFinite { field: "position" },
        "shape" => Error::Shape {
            field: "position",
            expected: 3,
            got: 2,
        },
        "units" => Error::Units {
            field: "velocity",
            expected: "meter / second".into(),
            got: "meter".into(),
        },
        "non_unit_quaternion" => Error::NonUnitQuaternion {
            field: "attitude",
            norm: 0.0,
        },
        "invalid_argument" => Error::InvalidArgument {
            name: "timeout",
            reason: "must not be negative".into(),
        },
        "unknown_name" => Error::UnknownName("nope".into()),
        "already_registered" => Error::AlreadyRegistered("taken".into()),
        "type_mismatch" => Error::TypeMismatch {
            name: "fast".into(),
            requested: "DroneState",
            actual: "FastDroneState",
        },
        "closed" => Error::Closed,
        "timeout" => Error::Timeout(std::time::Duration::from_millis(5)),
        "empty" => Error::Empty,
        "real_time" => Error::RealTime {
            setting: "sched_fifo",
            reason: "permission denied".into(),
        },
        "already_running" => Error::AlreadyRunning,
        "panicked" => Error::Panicked("boom".into()),
        other => return Err(PyValueError::new_err(format!("unknown variant `{other}`"))),
    };
    Err(error.into())
}
