//! How the buffer classes take their constructor arguments: `__new__`
//! binds `buffer_size`, `state_type` and `clock` (a Python subclass with
//! its own `__init__` keeps its own parameters), with DART-Planner's
//! positional order and messages that name the argument.

use super::convert::{clock_arg, size, text_arg, type_name, MAX_BUFFER_SIZE};
use pyo3::exceptions::PyTypeError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple, PyType};

/// The parameters of `ThreadSafeStateBuffer`.
pub(super) const BASE_PARAMS: [&str; 3] = ["buffer_size", "state_type", "clock"];
/// The parameters of `DroneStateBuffer`.
pub(super) const TYPED_PARAMS: [&str; 2] = ["buffer_size", "clock"];
/// The parameters of `FastDroneStateBuffer` (`shared`: the name of a
/// shared-memory buffer to create and write).
pub(super) const FAST_PARAMS: [&str; 3] = ["buffer_size", "clock", "shared"];

/// What a buffer class is built from.
pub(super) struct Config {
    pub(super) buffer_size: Option<usize>,
    pub(super) state_type: Option<Py<PyType>>,
    pub(super) clock: Option<Py<PyAny>>,
    pub(super) shared: Option<String>,
}

/// Binds `args`/`kwargs` to the parameters `names` (a prefix of
/// `buffer_size, state_type, clock, shared`) of `class` (for messages).
pub(super) fn bind_config(
    class: &str,
    names: &[&str],
    args: &Bound<'_, PyTuple>,
    kwargs: Option<&Bound<'_, PyDict>>,
) -> PyResult<Config> {
    if args.len() > names.len() {
        return Err(PyTypeError::new_err(format!(
            "{class}() takes at most {} positional arguments ({}), got {}",
            names.len(),
            names.join(", "),
            args.len()
        )));
    }
    let mut values: Vec<Option<Bound<'_, PyAny>>> = vec![None; names.len()];
    for (i, a) in args.iter().enumerate() {
        values[i] = Some(a);
    }
    if let Some(kwargs) = kwargs {
        for (k, v) in kwargs.iter() {
            let key: String = k.extract()?;
            let Some(i) = names.iter().position(|n| *n == key) else {
                return Err(PyTypeError::new_err(format!(
                    "{class}() got an unexpected keyword argument `{key}`"
                )));
            };
            if values[i].is_some() {
                return Err(PyTypeError::new_err(format!(
                    "{class}() got multiple values for argument `{key}`"
                )));
            }
            values[i] = Some(v);
        }
    }
    let get = |name: &str| {
        names
            .iter()
            .position(|n| *n == name)
            .and_then(|i| values[i].clone())
            .filter(|v| !v.is_none())
    };
    // `buffer_size=None` is not "the default": DART-Planner's is an int.
    let buffer_size = names
        .iter()
        .position(|n| *n == "buffer_size")
        .and_then(|i| values[i].clone())
        .map(|v| size(&v, "buffer_size", MAX_BUFFER_SIZE))
        .transpose()?;
    let state_type = get("state_type")
        .map(|v| {
            v.cast_into::<PyType>().map(Bound::unbind).map_err(|e| {
                PyTypeError::new_err(format!(
                    "`state_type` expects a class, got {}",
                    type_name(e.into_inner().as_any())
                ))
            })
        })
        .transpose()?;
    let clock = clock_arg(get("clock").as_ref())?;
    let shared = get("shared").map(|v| text_arg(&v, "shared")).transpose()?;
    Ok(Config {
        buffer_size,
        state_type,
        clock,
        shared,
    })
}

/// The configuration `__new__` builds `native` from for a call on `cls`.
/// A Python subclass that defines its own `__init__` has its own
/// parameters: only the keyword arguments named like ours are taken, the
/// rest are left to its `__init__`.
pub(super) fn new_config(
    cls: &Bound<'_, PyType>,
    native: &Bound<'_, PyType>,
    names: &[&str],
    args: &Bound<'_, PyTuple>,
    kwargs: Option<&Bound<'_, PyDict>>,
) -> PyResult<Config> {
    let py = cls.py();
    let class = native.name()?.to_string();
    let own_init = !cls.is(native)
        && !cls
            .getattr(intern!(py, "__init__"))?
            .is(native.getattr(intern!(py, "__init__"))?);
    if !own_init {
        return bind_config(&class, names, args, kwargs);
    }
    let known = PyDict::new(py);
    if let Some(kwargs) = kwargs {
        for (k, v) in kwargs.iter() {
            if names.iter().any(|n| k.eq(*n).unwrap_or(false)) {
                known.set_item(k, v)?;
            }
        }
    }
    bind_config(&class, names, &PyTuple::empty(py), Some(&known))
}
