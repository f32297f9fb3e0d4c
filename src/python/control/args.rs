//! The control classes' arguments, converted with errors that name the
//! argument as the caller wrote it (in the message itself: pyo3 only adds a
//! note). Each parameter type knows its name; `text_signature` on the
//! methods keeps the defaults readable.

use super::super::convert::{finite, floats, limit, real, type_name};
use crate::Error;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyString};
use std::time::Duration;

/// The dtype kind of a numpy scalar (`"i"`, `"f"`, `"b"`, …), if `value`
/// is one.
fn numpy_kind(value: &Bound<'_, PyAny>) -> Option<String> {
    let py = value.py();
    let dtype = value.getattr(pyo3::intern!(py, "dtype")).ok()?;
    let ndim: usize = value
        .getattr(pyo3::intern!(py, "ndim"))
        .ok()?
        .extract()
        .ok()?;
    if ndim != 0 {
        return None;
    }
    dtype
        .getattr(pyo3::intern!(py, "kind"))
        .ok()?
        .extract()
        .ok()
}

/// An integer for `name` (Python's or numpy's, not a bool), in `lo..=hi`.
pub(super) fn integer(value: &Bound<'_, PyAny>, name: &str, lo: i64, hi: i64) -> PyResult<i64> {
    static INDEX: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let refuse =
        || PyTypeError::new_err(format!("`{name}` expects an int, got {}", type_name(value)));
    if value.is_instance_of::<PyBool>() || numpy_kind(value).as_deref() == Some("b") {
        return Err(refuse());
    }
    let index = INDEX
        .import(value.py(), "operator", "index")?
        .call1((value,))
        .map_err(|_| refuse())?;
    match index.extract::<i64>() {
        Ok(n) if (lo..=hi).contains(&n) => Ok(n),
        _ => Err(PyValueError::new_err(format!(
            "`{name}` must be from {lo} to {hi}, got {index}"
        ))),
    }
}

/// A flag for `name`: `True`, `False` or a numpy bool.
pub(super) fn flag(value: &Bound<'_, PyAny>, name: &str) -> PyResult<bool> {
    if value.is_instance_of::<PyBool>() || numpy_kind(value).as_deref() == Some("b") {
        return value.is_truthy();
    }
    Err(PyTypeError::new_err(format!(
        "`{name}` expects True or False, got {}",
        type_name(value)
    )))
}

/// A rate in Hz for `name`: a real number, finite, > 0 and at most 1 GHz
/// (a period of at least 1 ns).
pub(super) fn rate(value: &Bound<'_, PyAny>, name: &str) -> PyResult<f64> {
    let hz = real(value, name)?;
    if !(hz.is_finite() && hz > 0.0 && hz <= 1e9) {
        return Err(PyValueError::new_err(format!(
            "`{name}` must be finite, > 0 and at most 1e9 Hz, got {hz}"
        )));
    }
    Ok(hz)
}

/// A finite real > 0 for `name`.
pub(super) fn positive(value: &Bound<'_, PyAny>, name: &str) -> PyResult<f64> {
    let x = real(value, name)?;
    if !(x.is_finite() && x > 0.0) {
        return Err(PyValueError::new_err(format!(
            "`{name}` must be finite and > 0, got {x}"
        )));
    }
    Ok(x)
}

/// A finite, non-negative real for `name`.
pub(super) fn non_negative(value: &Bound<'_, PyAny>, name: &str) -> PyResult<f64> {
    let x = real(value, name)?;
    if !(x.is_finite() && x >= 0.0) {
        return Err(PyValueError::new_err(format!(
            "`{name}` must be finite and ≥ 0, got {x}"
        )));
    }
    Ok(x)
}

/// A callback argument: callable or None, else `TypeError` naming `name`.
pub(super) fn callback_arg(
    callback: Option<Bound<'_, PyAny>>,
    name: &str,
) -> PyResult<Option<Py<PyAny>>> {
    match callback.filter(|c| !c.is_none()) {
        None => Ok(None),
        Some(c) if c.is_callable() => Ok(Some(c.unbind())),
        Some(c) => Err(PyTypeError::new_err(format!(
            "{name} must be callable or None, got {}",
            type_name(&c)
        ))),
    }
}

/// A gain given as a number (all three axes) or three numbers.
pub(super) fn gain(
    value: Option<&Bound<'_, PyAny>>,
    field: &'static str,
) -> PyResult<Option<[f64; 3]>> {
    let Some(v) = value.filter(|v| !v.is_none()) else {
        return Ok(None);
    };
    let xs = match real(v, field) {
        Ok(x) => [x; 3],
        Err(_) => {
            let xs = floats(v, field, None)?;
            <[f64; 3]>::try_from(xs.as_slice()).map_err(|_| Error::Shape {
                field,
                expected: 3,
                got: xs.len(),
            })?
        }
    };
    if let Some(x) = xs.iter().find(|x| !(x.is_finite() && **x >= 0.0)) {
        return Err(PyValueError::new_err(format!(
            "{field} must be finite and ≥ 0, got {x}"
        )));
    }
    Ok(Some(xs))
}

/// Defines a parameter type that converts through `$convert` under the
/// argument name `$name`.
macro_rules! param {
    ($(#[$doc:meta])* $ty:ident($inner:ty), $name:literal, $convert:expr) => {
        $(#[$doc])*
        pub(crate) struct $ty(pub(crate) $inner);

        impl<'a, 'py> FromPyObject<'a, 'py> for $ty {
            type Error = PyErr;
            fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
                let convert: fn(&Bound<'py, PyAny>, &'static str) -> PyResult<$inner> = $convert;
                convert(&obj.to_owned(), $name).map($ty)
            }
        }
    };
}

param!(
    /// `frequency_hz`: see [`rate`].
    FrequencyHz(f64),
    "frequency_hz",
    rate
);
param!(
    /// `rate_hz` (the simulator's): see [`rate`].
    RateHz(f64),
    "rate_hz",
    rate
);
param!(
    /// `priority`: 0 (normal scheduling) or a SCHED_FIFO priority 1..=99.
    Priority(i32),
    "priority",
    |v, n| integer(v, n, 0, 99).map(|p| p as i32)
);
param!(
    /// `use_fast_state`.
    UseFastState(bool),
    "use_fast_state",
    flag
);
param!(
    /// `lock_memory`.
    LockMemory(bool),
    "lock_memory",
    flag
);
param!(
    /// `stop_on_error`.
    StopOnError(bool),
    "stop_on_error",
    flag
);
param!(
    /// `duration` of `run`: see [`limit`] (None: until stopped).
    RunDuration(Option<Duration>),
    "duration",
    limit
);
param!(
    /// `spin_us`: `None` (the default window) or microseconds ≥ 0.
    SpinUs(Option<f64>),
    "spin_us",
    |v, n| (!v.is_none()).then(|| non_negative(v, n)).transpose()
);
param!(
    /// `timer_slack_ns`: `None` (the loop's default), 0 (the kernel's) or
    /// nanoseconds.
    TimerSlackNs(Option<u64>),
    "timer_slack_ns",
    |v, n| {
        (!v.is_none())
            .then(|| integer(v, n, 0, i64::MAX).map(|x| x as u64))
            .transpose()
    }
);
param!(
    /// `cpu_affinity`: `None` or a non-empty sequence of CPU numbers.
    CpuAffinity(Option<Vec<usize>>),
    "cpu_affinity",
    |v, n| {
        if v.is_none() {
            return Ok(None);
        }
        if v.is_instance_of::<PyString>() {
            return Err(PyTypeError::new_err(format!(
                "`{n}` expects a sequence of CPU numbers, got str"
            )));
        }
        let items = v.try_iter().map_err(|_| {
            PyTypeError::new_err(format!(
                "`{n}` expects a sequence of CPU numbers, got {}",
                type_name(v)
            ))
        })?;
        let cpus = items
            .map(|c| integer(&c?, n, 0, 1 << 20).map(|c| c as usize))
            .collect::<PyResult<Vec<_>>>()?;
        if cpus.is_empty() {
            return Err(PyValueError::new_err(format!(
                "`{n}` must name at least one CPU"
            )));
        }
        Ok(Some(cpus))
    }
);
param!(
    /// `realtime_policy`: `"warn"` or `"strict"`.
    RealtimePolicy(crate::control::RtPolicy),
    "realtime_policy",
    |v, n| {
        let text = v.cast::<PyString>().map_err(|_| {
            PyTypeError::new_err(format!(
                "`{n}` expects \"warn\" or \"strict\", got {}",
                type_name(v)
            ))
        })?;
        match text.to_cow().ok().as_deref() {
            Some("warn") => Ok(crate::control::RtPolicy::Warn),
            Some("strict") => Ok(crate::control::RtPolicy::Strict),
            _ => Err(PyValueError::new_err(format!(
                "`{n}` must be \"warn\" or \"strict\", got {}",
                v.repr().map(|r| r.to_string()).unwrap_or_default()
            ))),
        }
    }
);
param!(
    /// `mass` (kg, finite, > 0).
    Mass(f64),
    "mass",
    positive
);
param!(
    /// `gravity` (m/s², finite, > 0).
    Gravity(f64),
    "gravity",
    positive
);
param!(
    /// `rate_time_constant` (s, finite, > 0).
    RateTimeConstant(f64),
    "rate_time_constant",
    positive
);
param!(
    /// `drag` (N per m/s, finite, ≥ 0).
    Drag(f64),
    "drag",
    non_negative
);
param!(
    /// `thrust` of a simulator command (N, finite, ≥ 0).
    Thrust(f64),
    "thrust",
    non_negative
);
param!(
    /// `roll_rate` (rad/s, finite).
    RollRate(f64),
    "roll_rate",
    finite
);
param!(
    /// `pitch_rate` (rad/s, finite).
    PitchRate(f64),
    "pitch_rate",
    finite
);
param!(
    /// `yaw_rate` (rad/s, finite).
    YawRate(f64),
    "yaw_rate",
    finite
);
param!(
    /// `dt` of a simulator step (s, finite, > 0).
    StepDt(f64),
    "dt",
    positive
);
