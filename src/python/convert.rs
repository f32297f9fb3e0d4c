//! Conversions of Python values (sequences, ndarrays, pint quantities from
//! any registry) to SI floats, and of floats back to read-only ndarrays or
//! quantities. The unit arithmetic itself is pint's, called through the
//! glue in `rtstate/_units.py`.

use crate::Error;
use numpy::{AllowTypeChange, PyArray1, PyArrayLikeDyn, PyUntypedArrayMethods};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyFunction, PySet, PyString};
use std::time::{SystemTime, UNIX_EPOCH};

/// Wall-clock seconds now (`time.time()`).
pub(crate) fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn glue<'py>(
    py: Python<'py>,
    cell: &'static PyOnceLock<Py<PyFunction>>,
    name: &str,
) -> PyResult<&'py Bound<'py, PyFunction>> {
    cell.import(py, "rtstate._units", name)
}

/// `rtstate._units.to_si(value, unit)`: `(magnitude in unit, None)` or
/// `(None, "units given")` when the dimension is wrong.
fn to_si<'py>(
    value: &Bound<'py, PyAny>,
    unit: &str,
) -> PyResult<(Option<Bound<'py, PyAny>>, Option<String>)> {
    static TO_SI: PyOnceLock<Py<PyFunction>> = PyOnceLock::new();
    glue(value.py(), &TO_SI, "to_si")?
        .call1((value, unit))?
        .extract()
}

/// `rtstate._units.quantity(array, unit)`: a pint quantity on the
/// application registry where pint is installed, else the array itself.
pub(crate) fn quantity<'py>(array: Bound<'py, PyAny>, unit: &str) -> PyResult<Bound<'py, PyAny>> {
    static QUANTITY: PyOnceLock<Py<PyFunction>> = PyOnceLock::new();
    glue(array.py(), &QUANTITY, "quantity")?.call1((array, unit))
}

/// A read-only float64 ndarray holding a copy of `values`.
pub(crate) fn readonly_array<'py>(py: Python<'py>, values: &[f64]) -> PyResult<Bound<'py, PyAny>> {
    let array = PyArray1::from_slice(py, values).into_any();
    array
        .getattr(intern!(py, "flags"))?
        .setattr(intern!(py, "writeable"), false)?;
    Ok(array)
}

/// A read-only float64 quantity (or plain array, without pint) in `unit`.
pub(crate) fn readonly_quantity<'py>(
    py: Python<'py>,
    values: &[f64],
    unit: &str,
) -> PyResult<Py<PyAny>> {
    Ok(quantity(readonly_array(py, values)?, unit)?.unbind())
}

/// Whether `value` looks like a pint quantity (has `magnitude` and `units`).
fn is_quantity(value: &Bound<'_, PyAny>) -> PyResult<bool> {
    let py = value.py();
    Ok(value.hasattr(intern!(py, "magnitude"))? && value.hasattr(intern!(py, "units"))?)
}

/// The floats of `value` for `field`: a sequence or ndarray of numbers
/// (taken as SI), or a pint quantity of any registry converted to `unit`
/// (`None` for a unitless field, which accepts a dimensionless quantity).
/// Strings, bytes, dicts and sets are refused with `TypeError`.
pub(crate) fn floats(
    value: &Bound<'_, PyAny>,
    field: &'static str,
    unit: Option<&str>,
) -> PyResult<Vec<f64>> {
    if value.is_instance_of::<PyString>()
        || value.is_instance_of::<PyBytes>()
        || value.is_instance_of::<PyDict>()
        || value.is_instance_of::<PySet>()
    {
        return Err(PyTypeError::new_err(format!(
            "field `{field}` expects a sequence of numbers{}, got {}",
            unit.map(|u| format!(" or a quantity in {u}"))
                .unwrap_or_default(),
            type_name(value)
        )));
    }
    let converted;
    let value = if is_quantity(value)? {
        let (magnitude, got) = to_si(value, unit.unwrap_or("dimensionless"))?;
        match magnitude {
            Some(m) => {
                converted = m;
                &converted
            }
            None => {
                return Err(Error::Units {
                    field,
                    expected: unit.unwrap_or("dimensionless").to_owned(),
                    got: got.unwrap_or_default(),
                }
                .into())
            }
        }
    } else {
        value
    };
    let array: PyArrayLikeDyn<'_, f64, AllowTypeChange> = value.extract().map_err(|_| {
        PyTypeError::new_err(format!(
            "field `{field}` expects a sequence of numbers, got {}",
            type_name(value)
        ))
    })?;
    if array.ndim() > 1 {
        return Err(PyValueError::new_err(format!(
            "field `{field}` must be one-dimensional, got shape {:?}",
            array.shape()
        )));
    }
    Ok(array.as_array().iter().copied().collect())
}

/// `floats` of exactly `N` values.
pub(crate) fn array_n<const N: usize>(
    value: &Bound<'_, PyAny>,
    field: &'static str,
    unit: Option<&str>,
) -> PyResult<[f64; N]> {
    let values = floats(value, field, unit)?;
    <[f64; N]>::try_from(values.as_slice()).map_err(|_| {
        Error::Shape {
            field,
            expected: N,
            got: values.len(),
        }
        .into()
    })
}

/// `array_n`, or `default` where `value` is `None`.
pub(crate) fn array_or<const N: usize>(
    value: Option<&Bound<'_, PyAny>>,
    field: &'static str,
    unit: Option<&str>,
    default: [f64; N],
) -> PyResult<[f64; N]> {
    match value {
        Some(v) if !v.is_none() => array_n(v, field, unit),
        _ => Ok(default),
    }
}

/// A timestamp in seconds: a number, a pint time quantity, or `None` (now).
pub(crate) fn timestamp(value: Option<&Bound<'_, PyAny>>) -> PyResult<f64> {
    match value {
        None => Ok(now()),
        Some(v) if v.is_none() => Ok(now()),
        Some(v) if is_quantity(v)? => {
            let values = floats(v, "timestamp", Some("s"))?;
            values
                .first()
                .copied()
                .filter(|_| values.len() == 1)
                .ok_or_else(|| {
                    Error::Shape {
                        field: "timestamp",
                        expected: 1,
                        got: values.len(),
                    }
                    .into()
                })
        }
        Some(v) => v.extract::<f64>().map_err(|_| {
            PyTypeError::new_err(format!(
                "field `timestamp` expects a number of seconds, got {}",
                type_name(v)
            ))
        }),
    }
}

/// The name of `value`'s type, for messages.
pub(crate) fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".to_owned())
}
