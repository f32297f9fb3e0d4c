//! Conversions of Python values (sequences, ndarrays, pint quantities from
//! any registry) to SI floats, and of floats back to read-only ndarrays or
//! quantities. The unit arithmetic itself is pint's, called through the
//! glue in `rtstate/_units.py`.

use crate::Error;
use numpy::{
    AllowTypeChange, PyArrayDescrMethods, PyArrayLikeDyn, PyUntypedArray, PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{
    PyBool, PyBytes, PyComplex, PyDict, PyFloat, PyFunction, PyInt, PyList, PySet, PyString,
    PyTuple, PyType,
};
use std::time::Duration;

/// Wall-clock seconds now, on the core's clock (the clock that stamps
/// `published_at`), so that times read here and there agree.
pub(crate) fn now() -> f64 {
    crate::Clock::System.wall()
}

/// A user's clock for staleness: a callable returning seconds. `None` is
/// the wall clock.
pub(crate) fn clock_arg(value: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Py<PyAny>>> {
    match value.filter(|v| !v.is_none()) {
        None => Ok(None),
        Some(c) if c.is_callable() => Ok(Some(c.clone().unbind())),
        Some(c) => Err(PyTypeError::new_err(format!(
            "`clock` expects a callable returning seconds (or None for the wall clock), got {}",
            type_name(c)
        ))),
    }
}

/// Seconds now on `clock` (a user's callable), else on the wall clock.
pub(crate) fn now_on(py: Python<'_>, clock: Option<&Py<PyAny>>) -> PyResult<f64> {
    let Some(clock) = clock else {
        return Ok(now());
    };
    let value = clock.bind(py).call0()?;
    let t = real(&value, "clock").map_err(|_| {
        PyTypeError::new_err(format!(
            "`clock` must return a number of seconds, got {}",
            type_name(&value)
        ))
    })?;
    if t.is_finite() {
        Ok(t)
    } else {
        Err(PyValueError::new_err(format!(
            "`clock` returned {t}, not a finite number of seconds"
        )))
    }
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

/// A read-only float64 ndarray holding a copy of `values`. Its memory is a
/// `bytes` object, so it cannot be made writeable again
/// (`flags.writeable = True` raises `ValueError`): a snapshot's arrays are
/// shared by every reader.
pub(crate) fn readonly_array<'py>(py: Python<'py>, values: &[f64]) -> PyResult<Bound<'py, PyAny>> {
    static FROMBUFFER: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_ne_bytes()).collect();
    FROMBUFFER
        .import(py, "numpy", "frombuffer")?
        .call1((PyBytes::new(py, &bytes), intern!(py, "float64")))
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

/// `what` with `unit` appended for messages: "numbers or a quantity in m".
fn expects(unit: Option<&str>) -> String {
    format!(
        "a sequence of real numbers{}",
        unit.map(|u| format!(" or a quantity in {u}"))
            .unwrap_or_default()
    )
}

/// One element of a vector: a real number (int, float, a numpy integer or
/// float, or anything else with `__float__` that is not a bool, a complex,
/// a string or a date). Anything else is a `TypeError` naming `field`.
fn element(item: &Bound<'_, PyAny>, field: &str, index: usize) -> PyResult<f64> {
    let py = item.py();
    let refuse = |what: String| {
        PyTypeError::new_err(format!(
            "field `{field}` expects real numbers, got {what} at index {index}"
        ))
    };
    if item.is_instance_of::<PyBool>() {
        return Err(refuse("a bool".into()));
    }
    if item.is_instance_of::<PyFloat>() || item.is_instance_of::<PyInt>() {
        return item.extract::<f64>();
    }
    if item.is_none() {
        return Err(refuse("None".into()));
    }
    if item.is_instance_of::<PyString>()
        || item.is_instance_of::<PyBytes>()
        || item.is_instance_of::<PyComplex>()
        || is_quantity(item)?
    {
        return Err(refuse(type_name(item)));
    }
    if let Ok(dtype) = item.getattr(intern!(py, "dtype")) {
        let kind: String = dtype.getattr(intern!(py, "kind"))?.extract()?;
        if !matches!(kind.as_str(), "i" | "u" | "f") {
            return Err(refuse(format!("a numpy {}", dtype.str()?)));
        }
    }
    item.extract::<f64>().map_err(|_| refuse(type_name(item)))
}

/// `numpy.asarray`, imported once.
fn asarray<'py>(value: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    static ASARRAY: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let py = value.py();
    ASARRAY.import(py, "numpy", "asarray")?.call1((value,))
}

/// The floats of an ndarray (or anything `numpy.asarray` takes) for `field`:
/// one-dimensional, of integers or floats; an object array is checked
/// element by element.
/// A 0-d array (a scalar) is a `TypeError` unless `scalar_ok` (a scalar
/// quantity's magnitude, which is one value).
fn array_floats(
    value: &Bound<'_, PyAny>,
    field: &str,
    unit: Option<&str>,
    scalar_ok: bool,
) -> PyResult<Vec<f64>> {
    let array = asarray(value).map_err(|_| {
        PyTypeError::new_err(format!(
            "field `{field}` expects {}, got {}",
            expects(unit),
            type_name(value)
        ))
    })?;
    let array = array.cast_into::<PyUntypedArray>().map_err(|e| {
        PyTypeError::new_err(format!(
            "field `{field}` expects {}, got {}",
            expects(unit),
            type_name(e.into_inner().as_any())
        ))
    })?;
    if array.ndim() == 0 && scalar_ok {
        let item = array.call_method0(intern!(value.py(), "item"))?;
        return Ok(vec![element(&item, field, 0)?]);
    }
    if array.ndim() == 0 {
        return Err(PyTypeError::new_err(format!(
            "field `{field}` expects {}, got a single {}",
            expects(unit),
            type_name(value)
        )));
    }
    if array.ndim() > 1 {
        return Err(PyValueError::new_err(format!(
            "field `{field}` must be one-dimensional, got shape {:?}",
            array.shape()
        )));
    }
    let kind = array.dtype().kind();
    match kind {
        b'i' | b'u' | b'f' => {
            let typed: PyArrayLikeDyn<'_, f64, AllowTypeChange> = array.extract()?;
            Ok(typed.as_array().iter().copied().collect())
        }
        b'O' => array
            .try_iter()?
            .enumerate()
            .map(|(i, item)| element(&item?, field, i))
            .collect(),
        _ => Err(PyTypeError::new_err(format!(
            "field `{field}` expects real numbers, got an array of {}",
            match kind {
                b'b' => "bool".to_owned(),
                b'c' => "complex numbers".to_owned(),
                b'U' | b'S' => "strings".to_owned(),
                b'M' | b'm' => "dates or durations".to_owned(),
                _ => array.dtype().str()?.to_string(),
            }
        ))),
    }
}

/// The floats of `value` for `field`: a list, tuple or one-dimensional
/// ndarray of real numbers (taken as SI), or a pint quantity of any
/// registry converted to `unit` (`None` for a unitless field, which accepts
/// a dimensionless quantity). Bools, complex numbers, strings, dates and
/// `None` (alone or inside) are refused with a `TypeError` naming `field`.
/// A lone number is refused too, but a scalar quantity is one value (a
/// thrust of `Q_(10, "N")`); see [`vector`] for fields that want a sequence.
pub(crate) fn floats(
    value: &Bound<'_, PyAny>,
    field: &'static str,
    unit: Option<&str>,
) -> PyResult<Vec<f64>> {
    floats_of(value, field, unit, true)
}

/// [`floats`] for a field that is a sequence of any length (`motor_rpms`):
/// a scalar quantity is refused like a lone number.
pub(crate) fn vector(
    value: &Bound<'_, PyAny>,
    field: &'static str,
    unit: Option<&str>,
) -> PyResult<Vec<f64>> {
    floats_of(value, field, unit, false)
}

fn floats_of(
    value: &Bound<'_, PyAny>,
    field: &'static str,
    unit: Option<&str>,
    scalar_quantity_ok: bool,
) -> PyResult<Vec<f64>> {
    if value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>() {
        return value
            .try_iter()?
            .enumerate()
            .map(|(i, item)| {
                let item = item?;
                if item.is_instance_of::<PyList>() || item.is_instance_of::<PyTuple>() {
                    return Err(PyValueError::new_err(format!(
                        "field `{field}` must be one-dimensional, got a nested sequence at index {i}"
                    )));
                }
                element(&item, field, i)
            })
            .collect();
    }
    if value.is_instance_of::<PyString>()
        || value.is_instance_of::<PyBytes>()
        || value.is_instance_of::<PyDict>()
        || value.is_instance_of::<PySet>()
        || value.is_instance_of::<PyBool>()
        || value.is_none()
    {
        return Err(PyTypeError::new_err(format!(
            "field `{field}` expects {}, got {}",
            expects(unit),
            type_name(value)
        )));
    }
    if is_quantity(value)? {
        let expected = unit.unwrap_or("dimensionless");
        let (magnitude, got) = to_si(value, expected).map_err(|e| {
            let err = PyTypeError::new_err(format!("field `{field}`: {e}"));
            err.set_cause(value.py(), Some(e));
            err
        })?;
        return match magnitude {
            Some(m) => array_floats(&m, field, unit, scalar_quantity_ok),
            None => Err(Error::Units {
                field,
                expected: expected.to_owned(),
                got: got.unwrap_or_default(),
            }
            .into()),
        };
    }
    array_floats(value, field, unit, false)
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

/// A real number given for the argument or field `name` (an int, a float,
/// a numpy integer or float, or anything with `__float__` that is not a
/// bool, a complex, a string or a date); `TypeError` otherwise. NaN and
/// infinities pass: callers that refuse them say so.
pub(crate) fn real(value: &Bound<'_, PyAny>, name: &str) -> PyResult<f64> {
    if value.is_instance_of::<PyFloat>()
        || (value.is_instance_of::<PyInt>() && !value.is_instance_of::<PyBool>())
    {
        return value.extract::<f64>().map_err(|_| {
            PyValueError::new_err(format!(
                "`{name}` is too large, got {}",
                value.repr().map(|r| r.to_string()).unwrap_or_default()
            ))
        });
    }
    element(value, name, 0).map_err(|_| {
        PyTypeError::new_err(format!(
            "`{name}` expects a real number, got {}",
            type_name(value)
        ))
    })
}

/// A finite real number for `name` (`real`, then NaN and infinities are a
/// `ValueError`).
pub(crate) fn finite(value: &Bound<'_, PyAny>, name: &str) -> PyResult<f64> {
    let x = real(value, name)?;
    if x.is_finite() {
        Ok(x)
    } else {
        Err(PyValueError::new_err(format!(
            "`{name}` must be finite, got {x}"
        )))
    }
}

/// A timestamp in seconds: a number, a pint time quantity, or `None` (now,
/// on the wall clock).
pub(crate) fn timestamp(value: Option<&Bound<'_, PyAny>>) -> PyResult<f64> {
    match value {
        None => Ok(now()),
        Some(v) if v.is_none() => Ok(now()),
        Some(v) if is_quantity(v)? => {
            let (magnitude, got) = to_si(v, "s").map_err(|e| {
                let err = PyTypeError::new_err(format!("field `timestamp`: {e}"));
                err.set_cause(v.py(), Some(e));
                err
            })?;
            let Some(magnitude) = magnitude else {
                return Err(Error::Units {
                    field: "timestamp",
                    expected: "s".to_owned(),
                    got: got.unwrap_or_default(),
                }
                .into());
            };
            let array = asarray(&magnitude)?.cast_into::<PyUntypedArray>()?;
            if array.len() != 1 {
                return Err(Error::Shape {
                    field: "timestamp",
                    expected: 1,
                    got: array.len(),
                }
                .into());
            }
            let item = array.call_method0(intern!(v.py(), "item"))?;
            real(&item, "timestamp")
        }
        Some(v) => real(v, "timestamp").map_err(|_| {
            PyTypeError::new_err(format!(
                "field `timestamp` expects a number of seconds, got {}",
                type_name(v)
            ))
        }),
    }
}

/// A size argument (`buffer_size`, `queue_size`): an int (not a bool) from
/// 1 to `max`. Zero and negatives are a `ValueError` naming `name`, as is a
/// size above `max` (nothing is allocated); anything else a `TypeError`.
pub(crate) fn size(value: &Bound<'_, PyAny>, name: &str, max: usize) -> PyResult<usize> {
    static INDEX: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let py = value.py();
    let refuse_type =
        || PyTypeError::new_err(format!("`{name}` expects an int, got {}", type_name(value)));
    if value.is_instance_of::<PyBool>() {
        return Err(refuse_type());
    }
    let index = INDEX
        .import(py, "operator", "index")?
        .call1((value,))
        .map_err(|_| refuse_type())?;
    let what = match name {
        "buffer_size" => "`buffer_size` (the history capacity)".to_owned(),
        "queue_size" => "`queue_size` (the subscription's capacity)".to_owned(),
        _ => format!("`{name}`"),
    };
    if index.lt(1)? {
        return Err(PyValueError::new_err(format!(
            "{what} must be at least 1, got {index}"
        )));
    }
    match index.extract::<usize>() {
        Ok(n) if n <= max => Ok(n),
        _ => Err(PyValueError::new_err(format!(
            "{what} must be at most {max}, got {index}"
        ))),
    }
}

/// The publisher's `metadata`: `None`, or a mapping with `str` keys,
/// copied into a new dict (the caller's dict may change afterwards).
pub(crate) fn metadata<'py>(
    value: Option<&Bound<'py, PyAny>>,
) -> PyResult<Option<Bound<'py, PyDict>>> {
    static MAPPING: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    let Some(value) = value.filter(|v| !v.is_none()) else {
        return Ok(None);
    };
    let py = value.py();
    let dict = if let Ok(d) = value.cast::<PyDict>() {
        d.copy()?
    } else if value.is_instance(MAPPING.import(py, "collections.abc", "Mapping")?)? {
        py.get_type::<PyDict>()
            .call1((value,))?
            .cast_into::<PyDict>()?
    } else {
        return Err(PyTypeError::new_err(format!(
            "`metadata` expects a dict (or another mapping) with str keys, got {}",
            type_name(value)
        )));
    };
    for key in dict.keys() {
        if !key.is_instance_of::<PyString>() {
            return Err(PyTypeError::new_err(format!(
                "`metadata` keys must be str, got {}",
                type_name(&key)
            )));
        }
    }
    Ok(Some(dict))
}

/// `metadata` as a read-only mapping (`types.MappingProxyType`) over a
/// dict nobody else holds, so that one consumer cannot change what the
/// others see.
pub(crate) fn readonly_mapping<'py>(
    py: Python<'py>,
    dict: Option<Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    static PROXY: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    let dict = dict.unwrap_or_else(|| PyDict::new(py));
    PROXY
        .import(py, "types", "MappingProxyType")?
        .call1((dict,))
}

/// The text of a `source` argument: a `str` that encodes as UTF-8 (a lone
/// surrogate is a `ValueError` naming `source`).
pub(crate) fn source_text<'a>(value: &'a Bound<'_, PyAny>) -> PyResult<&'a Bound<'a, PyString>> {
    let text = value.cast::<PyString>().map_err(|_| {
        PyTypeError::new_err(format!("`source` expects a str, got {}", type_name(value)))
    })?;
    text.to_cow().map_err(|_| {
        PyValueError::new_err(
            "`source` is not valid Unicode (it holds a lone surrogate)".to_owned(),
        )
    })?;
    Ok(text)
}

/// The largest `buffer_size` (history length) a Python buffer accepts: the
/// core's [`MAX_HISTORY`](crate::MAX_HISTORY), 1 048 575 snapshots. Larger
/// sizes are refused before anything is allocated.
pub(crate) const MAX_BUFFER_SIZE: usize = crate::MAX_HISTORY;

/// A limit in seconds for `name` (a timeout, a run length): a real number,
/// not negative, not NaN. `None`, +infinity and values too large for a
/// `Duration` mean "no limit" (`None`).
pub(crate) fn limit(value: &Bound<'_, PyAny>, name: &'static str) -> PyResult<Option<Duration>> {
    if value.is_none() {
        return Ok(None);
    }
    let secs = real(value, name)?;
    if secs == f64::INFINITY {
        return Ok(None);
    }
    let d = crate::timeout_from_secs(name, secs)?;
    Ok((d != Duration::MAX).then_some(d))
}

/// A `timeout` argument (see [`limit`]); `None` is no limit.
pub(crate) fn timeout_arg(value: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Duration>> {
    value.map_or(Ok(None), |v| limit(v, "timeout"))
}

/// A `timeout` parameter (see [`timeout_arg`]): `None` is no limit.
pub(crate) struct Timeout(pub(crate) Option<Duration>);

impl Timeout {
    /// A default of `s` seconds.
    pub(crate) const fn secs(s: u64) -> Self {
        Timeout(Some(Duration::from_secs(s)))
    }
}

impl<'a, 'py> FromPyObject<'a, 'py> for Timeout {
    type Error = PyErr;
    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        timeout_arg(Some(&obj.to_owned())).map(Timeout)
    }
}

/// A `max_age` parameter: finite seconds, not negative.
pub(crate) struct MaxAge(pub(crate) Duration);

impl MaxAge {
    /// A default of `s` seconds (finite, not negative).
    pub(crate) fn secs(s: f64) -> Self {
        MaxAge(Duration::from_secs_f64(s))
    }
}

impl<'a, 'py> FromPyObject<'a, 'py> for MaxAge {
    type Error = PyErr;
    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        let secs = finite(&obj.to_owned(), "max_age")?;
        if secs < 0.0 {
            return Err(PyValueError::new_err(format!(
                "`max_age` must not be negative, got {secs}"
            )));
        }
        Ok(MaxAge(
            Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX),
        ))
    }
}

/// A `buffer_size` parameter: 1 to [`MAX_BUFFER_SIZE`].
pub(crate) struct BufferSize(pub(crate) usize);

impl<'a, 'py> FromPyObject<'a, 'py> for BufferSize {
    type Error = PyErr;
    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        size(&obj.to_owned(), "buffer_size", MAX_BUFFER_SIZE).map(BufferSize)
    }
}

/// A `queue_size` parameter: 1 to the core's `MAX_CAPACITY`.
pub(crate) struct QueueSize(pub(crate) usize);

impl<'a, 'py> FromPyObject<'a, 'py> for QueueSize {
    type Error = PyErr;
    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        size(&obj.to_owned(), "queue_size", crate::MAX_CAPACITY).map(QueueSize)
    }
}

/// A `source` parameter: a `str` (see [`source_text`]); `None` is the
/// method's default.
pub(crate) struct SourceArg(pub(crate) Option<Py<PyString>>);

impl SourceArg {
    /// The text given, else `default`.
    pub(crate) fn or<'py>(&self, py: Python<'py>, default: &str) -> Bound<'py, PyString> {
        match &self.0 {
            Some(s) => s.bind(py).clone(),
            None => PyString::intern(py, default).clone(),
        }
    }
}

impl<'a, 'py> FromPyObject<'a, 'py> for SourceArg {
    type Error = PyErr;
    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        if obj.is_none() {
            return Ok(SourceArg(None));
        }
        Ok(SourceArg(Some(
            source_text(&obj.to_owned())?.clone().unbind(),
        )))
    }
}

/// A `str` argument named `name` in errors (a lone surrogate is a
/// `ValueError`).
pub(crate) fn text_arg(value: &Bound<'_, PyAny>, name: &str) -> PyResult<String> {
    let text = value.cast::<PyString>().map_err(|_| {
        PyTypeError::new_err(format!("`{name}` expects a str, got {}", type_name(value)))
    })?;
    text.to_cow().map(|c| c.into_owned()).map_err(|_| {
        PyValueError::new_err(format!(
            "`{name}` is not valid Unicode (it holds a lone surrogate)"
        ))
    })
}

/// A `policy` parameter of `subscribe`.
pub(crate) struct PolicyArg(pub(crate) String);

impl PolicyArg {
    /// The default, `"drop_oldest"`.
    pub(crate) fn drop_oldest() -> Self {
        PolicyArg("drop_oldest".to_owned())
    }
}

impl<'a, 'py> FromPyObject<'a, 'py> for PolicyArg {
    type Error = PyErr;
    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        text_arg(&obj.to_owned(), "policy").map(PolicyArg)
    }
}

/// A `replace` parameter: a bool (or a numpy bool), nothing else.
pub(crate) struct ReplaceArg(pub(crate) bool);

impl<'a, 'py> FromPyObject<'a, 'py> for ReplaceArg {
    type Error = PyErr;
    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        let value = obj.to_owned();
        if value.is_instance_of::<PyBool>() || type_name(&value) == "numpy.bool" {
            return value.is_truthy().map(ReplaceArg);
        }
        Err(PyTypeError::new_err(format!(
            "`replace` expects a bool, got {}",
            type_name(&value)
        )))
    }
}

/// The qualified name of `value`'s type, for messages: `module.qualname`
/// (`dart_planner.common.types.DroneState`, `rtstate.DroneState`), or the
/// bare name of a built-in (`str`).
pub(crate) fn type_name(value: &Bound<'_, PyAny>) -> String {
    qualified_name(&value.get_type())
}

/// `module.qualname` of `ty` (the bare name of a built-in).
pub(crate) fn qualified_name(ty: &Bound<'_, PyType>) -> String {
    let qualname = ty
        .qualname()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".to_owned());
    match ty.module().map(|m| m.to_string()) {
        Ok(m) if m != "builtins" => format!("{m}.{qualname}"),
        _ => qualname,
    }
}
