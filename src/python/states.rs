//! `DroneState` and `FastDroneState`: frozen wrappers over the core state
//! types. Field values are converted to Python once per object, on first
//! access, and cached.

use super::convert::{
    array_or, readonly_array, readonly_quantity, real, timestamp, type_name, vector,
};
use crate::{DroneState, FastDroneState, State};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyTuple, PyType};

/// `[w, x, y, z]` of a nalgebra unit quaternion.
fn wxyz(q: nalgebra::UnitQuaternion<f64>) -> [f64; 4] {
    [q.w, q.i, q.j, q.k]
}

fn fmt3(v: &[f64; 3]) -> String {
    format!("[{}, {}, {}]", v[0], v[1], v[2])
}

/// The `quaternion` argument of `from_quaternion`: four real numbers of a
/// finite, non-zero norm.
fn quaternion_arg(value: &Bound<'_, PyAny>) -> PyResult<[f64; 4]> {
    let q = super::convert::array_n::<4>(value, "quaternion", None)?;
    let norm = q.iter().map(|x| x * x).sum::<f64>().sqrt();
    if norm.is_finite() && norm > 0.0 {
        Ok(q)
    } else {
        Err(PyValueError::new_err(format!(
            "`quaternion` (the attitude) cannot be normalised (norm {norm})"
        )))
    }
}

/// A drone's state in SI units, with motor speeds; quantities in, quantities out.
#[pyclass(frozen, module = "rtstate", name = "DroneState")]
pub struct PyDroneState {
    pub(crate) inner: DroneState,
    fields: [PyOnceLock<Py<PyAny>>; 5],
}

impl PyDroneState {
    pub(crate) fn wrap(inner: DroneState) -> Self {
        PyDroneState {
            inner,
            fields: std::array::from_fn(|_| PyOnceLock::new()),
        }
    }

    fn field(&self, py: Python<'_>, i: usize) -> PyResult<Py<PyAny>> {
        let fast = || self.inner.to_fast_state();
        self.fields[i]
            .get_or_try_init(py, || match i {
                0 => readonly_quantity(py, &fast().position, "m"),
                1 => readonly_quantity(py, &fast().velocity, "m/s"),
                2 => readonly_quantity(py, &fast().attitude, "rad"),
                3 => readonly_quantity(py, &fast().angular_velocity, "rad/s"),
                _ => Ok(readonly_array(py, &self.inner.motor_rpms)?.unbind()),
            })
            .map(|v| v.clone_ref(py))
    }

    /// A `DroneState` from Python values (see `__new__`).
    pub(crate) fn build(
        timestamp_: Option<&Bound<'_, PyAny>>,
        position: Option<&Bound<'_, PyAny>>,
        velocity: Option<&Bound<'_, PyAny>>,
        attitude: Option<&Bound<'_, PyAny>>,
        angular_velocity: Option<&Bound<'_, PyAny>>,
        motor_rpms: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<DroneState> {
        let t = timestamp(timestamp_)?;
        let position = array_or(position, "position", Some("m"), [0.0; 3])?;
        let velocity = array_or(velocity, "velocity", Some("m/s"), [0.0; 3])?;
        let attitude = array_or(attitude, "attitude", Some("rad"), [0.0; 3])?;
        let angular_velocity = array_or(
            angular_velocity,
            "angular_velocity",
            Some("rad/s"),
            [0.0; 3],
        )?;
        let motor_rpms = match motor_rpms {
            Some(m) if !m.is_none() => vector(m, "motor_rpms", Some("rpm"))?,
            _ => vec![0.0; 4],
        };
        Ok(DroneState::from_si(
            t,
            position,
            velocity,
            attitude,
            angular_velocity,
            motor_rpms,
        )?)
    }
}

#[pymethods]
impl PyDroneState {
    #[new]
    #[pyo3(signature = (timestamp=None, position=None, velocity=None, attitude=None, angular_velocity=None, motor_rpms=None))]
    fn new(
        timestamp: Option<&Bound<'_, PyAny>>,
        position: Option<&Bound<'_, PyAny>>,
        velocity: Option<&Bound<'_, PyAny>>,
        attitude: Option<&Bound<'_, PyAny>>,
        angular_velocity: Option<&Bound<'_, PyAny>>,
        motor_rpms: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        Self::build(
            timestamp,
            position,
            velocity,
            attitude,
            angular_velocity,
            motor_rpms,
        )
        .map(Self::wrap)
    }

    /// A state whose attitude is the quaternion `[w, x, y, z]` (normalised).
    #[classmethod]
    #[pyo3(signature = (quaternion, timestamp=None, position=None, velocity=None, angular_velocity=None, motor_rpms=None))]
    fn from_quaternion(
        _cls: &Bound<'_, PyType>,
        quaternion: &Bound<'_, PyAny>,
        timestamp: Option<&Bound<'_, PyAny>>,
        position: Option<&Bound<'_, PyAny>>,
        velocity: Option<&Bound<'_, PyAny>>,
        angular_velocity: Option<&Bound<'_, PyAny>>,
        motor_rpms: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let q = quaternion_arg(quaternion)?;
        let base = Self::build(
            timestamp,
            position,
            velocity,
            None,
            angular_velocity,
            motor_rpms,
        )?;
        let f = base.to_fast_state();
        Ok(Self::wrap(DroneState::from_quaternion(
            f.timestamp,
            f.position,
            f.velocity,
            q,
            f.angular_velocity,
            base.motor_rpms,
        )?))
    }

    #[getter]
    fn timestamp(&self) -> f64 {
        self.inner.timestamp
    }
    #[getter]
    fn position(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.field(py, 0)
    }
    #[getter]
    fn velocity(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.field(py, 1)
    }
    #[getter]
    fn attitude(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.field(py, 2)
    }
    #[getter]
    fn angular_velocity(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.field(py, 3)
    }
    #[getter]
    fn motor_rpms(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.field(py, 4)
    }

    /// The unit-stripped twin (motor speeds dropped).
    fn to_fast_state(&self) -> PyFastDroneState {
        PyFastDroneState::wrap(self.inner.to_fast_state())
    }

    /// The attitude as a quaternion `[w, x, y, z]` (body to world).
    fn attitude_quaternion<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        readonly_array(py, &wxyz(self.inner.attitude_quaternion()))
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<PyDroneState>()
            .is_ok_and(|o| o.get().inner == self.inner)
    }

    /// Pickles (and copies) as the SI values it holds.
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let py = slf.py();
        let me = slf.get();
        let f = me.inner.to_fast_state();
        (
            slf.get_type(),
            (
                f.timestamp,
                f.position.to_vec(),
                f.velocity.to_vec(),
                f.attitude.to_vec(),
                f.angular_velocity.to_vec(),
                me.inner.motor_rpms.clone(),
            ),
        )
            .into_pyobject(py)
    }

    fn __repr__(&self) -> String {
        let f = self.inner.to_fast_state();
        format!(
            "DroneState(timestamp={}, position={} m, velocity={} m/s, attitude={} rad, angular_velocity={} rad/s, motor_rpms={:?})",
            f.timestamp,
            fmt3(&f.position),
            fmt3(&f.velocity),
            fmt3(&f.attitude),
            fmt3(&f.angular_velocity),
            self.inner.motor_rpms
        )
    }
}

/// A drone's state as plain SI floats, for high-rate loops and the slot ring.
#[pyclass(frozen, module = "rtstate", name = "FastDroneState")]
pub struct PyFastDroneState {
    pub(crate) inner: FastDroneState,
    fields: [PyOnceLock<Py<PyAny>>; 4],
}

impl PyFastDroneState {
    pub(crate) fn wrap(inner: FastDroneState) -> Self {
        PyFastDroneState {
            inner,
            fields: std::array::from_fn(|_| PyOnceLock::new()),
        }
    }

    fn field(&self, py: Python<'_>, i: usize) -> PyResult<Py<PyAny>> {
        let s = &self.inner;
        self.fields[i]
            .get_or_try_init(py, || {
                let values = [&s.position, &s.velocity, &s.attitude, &s.angular_velocity][i];
                Ok::<_, PyErr>(readonly_array(py, values)?.unbind())
            })
            .map(|v| v.clone_ref(py))
    }

    /// The plain-data state of a `DroneState` or `FastDroneState`.
    pub(crate) fn extract_state(value: &Bound<'_, PyAny>) -> PyResult<FastDroneState> {
        if let Ok(f) = value.cast::<PyFastDroneState>() {
            Ok(f.get().inner)
        } else if let Ok(d) = value.cast::<PyDroneState>() {
            Ok(d.get().inner.to_fast_state())
        } else if let Some(d) = drone_state_like(value)? {
            Ok(d.to_fast_state())
        } else {
            Err(PyTypeError::new_err(format!(
                "`state` expects rtstate.FastDroneState, rtstate.DroneState or a DroneState-like object ({}), got {}",
                STATE_FIELDS.join(", "),
                type_name(value)
            )))
        }
    }
}

#[pymethods]
impl PyFastDroneState {
    #[new]
    #[pyo3(signature = (timestamp=None, position=None, velocity=None, attitude=None, angular_velocity=None))]
    fn new(
        timestamp: Option<&Bound<'_, PyAny>>,
        position: Option<&Bound<'_, PyAny>>,
        velocity: Option<&Bound<'_, PyAny>>,
        attitude: Option<&Bound<'_, PyAny>>,
        angular_velocity: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let t = super::convert::timestamp(timestamp)?;
        Ok(Self::wrap(FastDroneState::new(
            t,
            array_or(position, "position", Some("m"), [0.0; 3])?,
            array_or(velocity, "velocity", Some("m/s"), [0.0; 3])?,
            array_or(attitude, "attitude", Some("rad"), [0.0; 3])?,
            array_or(
                angular_velocity,
                "angular_velocity",
                Some("rad/s"),
                [0.0; 3],
            )?,
        )?))
    }

    /// A state whose attitude is the quaternion `[w, x, y, z]` (normalised).
    #[classmethod]
    #[pyo3(signature = (quaternion, timestamp=None, position=None, velocity=None, angular_velocity=None))]
    fn from_quaternion(
        _cls: &Bound<'_, PyType>,
        quaternion: &Bound<'_, PyAny>,
        timestamp: Option<&Bound<'_, PyAny>>,
        position: Option<&Bound<'_, PyAny>>,
        velocity: Option<&Bound<'_, PyAny>>,
        angular_velocity: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let q = quaternion_arg(quaternion)?;
        Ok(Self::wrap(FastDroneState::from_quaternion(
            super::convert::timestamp(timestamp)?,
            array_or(position, "position", Some("m"), [0.0; 3])?,
            array_or(velocity, "velocity", Some("m/s"), [0.0; 3])?,
            q,
            array_or(
                angular_velocity,
                "angular_velocity",
                Some("rad/s"),
                [0.0; 3],
            )?,
        )?))
    }

    /// The unit-stripped state of a `DroneState` (or a DroneState-like
    /// object of another library).
    #[classmethod]
    fn from_drone_state(_cls: &Bound<'_, PyType>, state: &Bound<'_, PyAny>) -> PyResult<Self> {
        if let Ok(d) = state.cast::<PyDroneState>() {
            return Ok(Self::wrap(d.get().inner.to_fast_state()));
        }
        match drone_state_like(state)? {
            Some(d) => Ok(Self::wrap(d.to_fast_state())),
            None => Err(PyTypeError::new_err(format!(
                "`state` expects rtstate.DroneState or a DroneState-like object ({}), got {}",
                STATE_FIELDS.join(", "),
                type_name(state)
            ))),
        }
    }

    /// The unit-checked twin, with four motor speeds of zero.
    fn to_drone_state(&self) -> PyDroneState {
        PyDroneState::wrap(self.inner.to_drone_state())
    }

    #[getter]
    fn timestamp(&self) -> f64 {
        self.inner.timestamp
    }
    #[getter]
    fn position(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.field(py, 0)
    }
    #[getter]
    fn velocity(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.field(py, 1)
    }
    #[getter]
    fn attitude(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.field(py, 2)
    }
    #[getter]
    fn angular_velocity(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.field(py, 3)
    }

    /// The attitude as a quaternion `[w, x, y, z]` (body to world).
    fn attitude_quaternion<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        readonly_array(py, &wxyz(self.inner.attitude_quaternion()))
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<PyFastDroneState>()
            .is_ok_and(|o| o.get().inner == self.inner)
    }

    /// Pickles (and copies) as the values it holds.
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let f = &slf.get().inner;
        (
            slf.get_type(),
            (
                f.timestamp,
                f.position.to_vec(),
                f.velocity.to_vec(),
                f.attitude.to_vec(),
                f.angular_velocity.to_vec(),
            ),
        )
            .into_pyobject(slf.py())
    }

    fn __repr__(&self) -> String {
        let f = &self.inner;
        format!(
            "FastDroneState(timestamp={}, position={}, velocity={}, attitude={}, angular_velocity={})",
            f.timestamp,
            fmt3(&f.position),
            fmt3(&f.velocity),
            fmt3(&f.attitude),
            fmt3(&f.angular_velocity)
        )
    }
}

/// The state's own timestamp: that of a state type the binding knows, else
/// a number in the object's `timestamp` attribute (None if it has none, or
/// holds something other than a number). A timestamp that is NaN or
/// infinite is a `ValueError`: staleness could not be judged.
pub(crate) fn own_timestamp(value: &Bound<'_, PyAny>) -> PyResult<Option<f64>> {
    if let Ok(d) = value.cast::<PyDroneState>() {
        return Ok(d.get().inner.timestamp());
    }
    if let Ok(f) = value.cast::<PyFastDroneState>() {
        return Ok(f.get().inner.timestamp());
    }
    let Ok(t) = value.getattr(pyo3::intern!(value.py(), "timestamp")) else {
        return Ok(None);
    };
    match real(&t, "timestamp") {
        Ok(t) if t.is_finite() => Ok(Some(t)),
        Ok(t) => Err(PyValueError::new_err(format!(
            "field `timestamp` of {} is not finite ({t})",
            type_name(value)
        ))),
        Err(_) => Ok(None),
    }
}

/// The fields a DroneState-like object has (DART-Planner's `DroneState`
/// and `FastDroneState`: pint quantities or plain arrays); `motor_rpms` is
/// optional.
const STATE_FIELDS: [&str; 5] = [
    "timestamp",
    "position",
    "velocity",
    "attitude",
    "angular_velocity",
];

/// A `DroneState` from an object shaped like one (any class with
/// `timestamp`, `position`, `velocity`, `attitude`, `angular_velocity` and
/// optionally `motor_rpms`), with the unit and value checks of
/// `DroneState(...)`. `None` if it lacks one of those attributes.
pub(crate) fn drone_state_like(value: &Bound<'_, PyAny>) -> PyResult<Option<DroneState>> {
    let mut fields = Vec::with_capacity(STATE_FIELDS.len());
    for name in STATE_FIELDS {
        match value.getattr(name) {
            Ok(v) if v.is_none() => {
                return Err(PyTypeError::new_err(format!(
                    "field `{name}` of {} is None",
                    type_name(value)
                )))
            }
            Ok(v) => fields.push(v),
            Err(e) if e.is_instance_of::<pyo3::exceptions::PyAttributeError>(value.py()) => {
                return Ok(None)
            }
            Err(e) => return Err(e),
        }
    }
    let motor_rpms = match value.getattr("motor_rpms") {
        Ok(v) => Some(v),
        Err(e) if e.is_instance_of::<pyo3::exceptions::PyAttributeError>(value.py()) => None,
        Err(e) => return Err(e),
    };
    PyDroneState::build(
        Some(&fields[0]),
        Some(&fields[1]),
        Some(&fields[2]),
        Some(&fields[3]),
        Some(&fields[4]),
        motor_rpms.as_ref(),
    )
    .map(Some)
}

/// What a state buffer of `rtstate.DroneState` takes: one, or a
/// DroneState-like object of another library, converted.
/// `arg` is the argument's name, for messages.
pub(crate) fn to_drone_state(value: &Bound<'_, PyAny>, arg: &str) -> PyResult<Option<DroneState>> {
    if value.is_instance_of::<PyDroneState>() {
        return Ok(None);
    }
    if value.is_instance_of::<PyFastDroneState>() {
        return Err(PyTypeError::new_err(format!(
            "`{arg}` expects rtstate.DroneState or a DroneState-like object ({}), got rtstate.FastDroneState (convert it with .to_drone_state())",
            STATE_FIELDS.join(", ")
        )));
    }
    match drone_state_like(value)? {
        Some(d) => Ok(Some(d)),
        None => Err(PyTypeError::new_err(format!(
            "`{arg}` expects rtstate.DroneState or a DroneState-like object ({}), got {}",
            STATE_FIELDS.join(", "),
            type_name(value)
        ))),
    }
}
