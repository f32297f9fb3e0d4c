//! `Pose`, `Twist`, `Accel` and `EstimatedState`: an estimator's output.

use super::convert::{
    array_n, array_or, floats, readonly_array, readonly_quantity, timestamp, type_name, SourceArg,
};
use super::states::PyDroneState;
use crate::{Accel, EstimatedState, Pose, Twist};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

const IDENTITY: [f64; 4] = [1.0, 0.0, 0.0, 0.0];

/// A pose at `position` whose orientation is given as a quaternion
/// `[w, x, y, z]` (4 values) or as roll, pitch, yaw in radians (3 values,
/// as DART-Planner's `Pose`); None is the identity.
fn pose(position: [f64; 3], orientation: Option<&Bound<'_, PyAny>>) -> PyResult<Pose> {
    let Some(value) = orientation.filter(|v| !v.is_none()) else {
        return Ok(Pose::new(position, IDENTITY)?);
    };
    let is_quantity = value.hasattr(pyo3::intern!(value.py(), "units"))?;
    let values = floats(value, "pose.orientation", is_quantity.then_some("rad"))?;
    Ok(match values.len() {
        4 => Pose::new(position, [values[0], values[1], values[2], values[3]])?,
        3 => Pose::from_rpy(position, [values[0], values[1], values[2]])?,
        n => {
            return Err(crate::Error::Shape {
                field: "pose.orientation",
                expected: 4,
                got: n,
            }
            .into())
        }
    })
}

/// A position and an orientation (quaternion `[w, x, y, z]`, body to world).
#[pyclass(frozen, module = "rtstate", name = "Pose")]
pub struct PyPose {
    pub(crate) inner: Pose,
}

#[pymethods]
impl PyPose {
    #[new]
    #[pyo3(signature = (position=None, orientation=None))]
    fn new(
        position: Option<&Bound<'_, PyAny>>,
        orientation: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let p = array_or(position, "pose.position", Some("m"), [0.0; 3])?;
        Ok(PyPose {
            inner: pose(p, orientation)?,
        })
    }
    #[getter]
    fn position(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        readonly_quantity(py, &self.inner.position, "m")
    }
    #[getter]
    fn orientation<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        readonly_array(py, &self.inner.orientation)
    }
    /// The orientation as roll, pitch, yaw (radians).
    fn orientation_rpy(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        readonly_quantity(py, &self.inner.orientation_rpy()?, "rad")
    }
    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<PyPose>()
            .is_ok_and(|o| o.get().inner == self.inner)
    }
    /// Pickles (and copies) as the SI values it holds.
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let i = &slf.get().inner;
        (
            slf.get_type(),
            (i.position.to_vec(), i.orientation.to_vec()),
        )
            .into_pyobject(slf.py())
    }
    fn __repr__(&self) -> String {
        format!(
            "Pose(position={:?}, orientation={:?})",
            self.inner.position, self.inner.orientation
        )
    }
}

/// A Python class over a core pair of `linear` and `angular` 3-vectors
/// (`Twist`, `Accel`): `$class(linear=None, angular=None)` in `$linear` and
/// `$angular` units, read-only quantities back, equality, pickling, repr.
macro_rules! linear_angular {
    ($(#[$doc:meta])* $py:ident($core:ident), $name:literal, $field:literal, $linear:literal, $angular:literal) => {
        $(#[$doc])*
        #[pyclass(frozen, module = "rtstate", name = $name)]
        pub struct $py {
            pub(crate) inner: $core,
        }

        #[pymethods]
        impl $py {
            #[new]
            #[pyo3(signature = (linear=None, angular=None))]
            fn new(
                linear: Option<&Bound<'_, PyAny>>,
                angular: Option<&Bound<'_, PyAny>>,
            ) -> PyResult<Self> {
                let linear = array_or(linear, concat!($field, ".linear"), Some($linear), [0.0; 3])?;
                let angular =
                    array_or(angular, concat!($field, ".angular"), Some($angular), [0.0; 3])?;
                Ok($py {
                    inner: $core::new(linear, angular)?,
                })
            }
            #[getter]
            fn linear(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
                readonly_quantity(py, &self.inner.linear, $linear)
            }
            #[getter]
            fn angular(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
                readonly_quantity(py, &self.inner.angular, $angular)
            }
            fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
                other.cast::<$py>().is_ok_and(|o| o.get().inner == self.inner)
            }
            /// Pickles (and copies) as the SI values it holds.
            fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
                let i = &slf.get().inner;
                (slf.get_type(), (i.linear.to_vec(), i.angular.to_vec())).into_pyobject(slf.py())
            }
            fn __repr__(&self) -> String {
                format!(
                    concat!($name, "(linear={:?}, angular={:?})"),
                    self.inner.linear, self.inner.angular
                )
            }
        }
    };
}

linear_angular!(
    /// Linear (m/s) and angular (rad/s) velocity.
    PyTwist(Twist),
    "Twist",
    "twist",
    "m/s",
    "rad/s"
);
linear_angular!(
    /// Linear (m/s²) and angular (rad/s²) acceleration.
    PyAccel(Accel),
    "Accel",
    "accel",
    "m/s**2",
    "rad/s**2"
);

fn typed<'a, 'py, T: pyo3::PyTypeCheck>(
    value: Option<&'a Bound<'py, PyAny>>,
    field: &str,
    class: &str,
) -> PyResult<Option<&'a Bound<'py, T>>> {
    match value {
        None => Ok(None),
        Some(v) if v.is_none() => Ok(None),
        Some(v) => v.cast::<T>().map(Some).map_err(|_| {
            PyTypeError::new_err(format!(
                "field `{field}` expects a {class}, got {}",
                type_name(v)
            ))
        }),
    }
}

/// An estimator's output: pose, twist, acceleration, optional 6×6 pose
/// covariance, and the estimator's name.
#[pyclass(frozen, module = "rtstate", name = "EstimatedState")]
pub struct PyEstimatedState {
    pub(crate) inner: EstimatedState,
}

#[pymethods]
impl PyEstimatedState {
    #[new]
    #[pyo3(signature = (timestamp=None, pose=None, twist=None, accel=None, covariance=None, source=SourceArg(None)), text_signature = "(timestamp=None, pose=None, twist=None, accel=None, covariance=None, source=None)")]
    fn new(
        timestamp: Option<&Bound<'_, PyAny>>,
        pose: Option<&Bound<'_, PyAny>>,
        twist: Option<&Bound<'_, PyAny>>,
        accel: Option<&Bound<'_, PyAny>>,
        covariance: Option<&Bound<'_, PyAny>>,
        source: SourceArg,
    ) -> PyResult<Self> {
        let source = source
            .0
            .map(|s| s.to_string())
            .unwrap_or_else(|| "unknown".to_owned());
        let t = super::convert::timestamp(timestamp)?;
        let pose = typed::<PyPose>(pose, "pose", "Pose")?
            .map(|p| p.get().inner)
            .unwrap_or_default();
        let twist = typed::<PyTwist>(twist, "twist", "Twist")?
            .map(|p| p.get().inner)
            .unwrap_or_default();
        let accel = typed::<PyAccel>(accel, "accel", "Accel")?
            .map(|p| p.get().inner)
            .unwrap_or_default();
        let covariance = match covariance {
            Some(c) if !c.is_none() => Some(covariance_values(c)?),
            _ => None,
        };
        Ok(PyEstimatedState {
            inner: EstimatedState::new(t, pose, twist, accel, covariance, &source)?,
        })
    }
    #[getter]
    fn timestamp(&self) -> f64 {
        self.inner.timestamp
    }
    #[getter]
    fn pose(&self) -> PyPose {
        PyPose {
            inner: self.inner.pose,
        }
    }
    #[getter]
    fn twist(&self) -> PyTwist {
        PyTwist {
            inner: self.inner.twist,
        }
    }
    #[getter]
    fn accel(&self) -> PyAccel {
        PyAccel {
            inner: self.inner.accel,
        }
    }
    /// The 6×6 covariance (read-only), or None.
    #[getter]
    fn covariance<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let Some(c) = &self.inner.covariance else {
            return Ok(None);
        };
        let array = readonly_array(py, c)?.call_method1(pyo3::intern!(py, "reshape"), ((6, 6),))?;
        Ok(Some(array))
    }
    #[getter]
    fn source(&self) -> &str {
        &self.inner.source
    }
    /// The `DroneState` it describes (acceleration, covariance and source dropped).
    fn to_drone_state(&self) -> PyResult<PyDroneState> {
        Ok(PyDroneState::wrap(self.inner.to_drone_state()?))
    }
    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<PyEstimatedState>()
            .is_ok_and(|o| o.get().inner == self.inner)
    }
    /// Pickles (and copies) as the values it holds.
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let py = slf.py();
        let i = &slf.get().inner;
        (
            slf.get_type(),
            (
                i.timestamp,
                PyPose { inner: i.pose },
                PyTwist { inner: i.twist },
                PyAccel { inner: i.accel },
                i.covariance.as_ref().map(|c| c.to_vec()),
                i.source.clone(),
            ),
        )
            .into_pyobject(py)
    }
    fn __repr__(&self) -> String {
        let i = &self.inner;
        format!(
            "EstimatedState(timestamp={}, pose=Pose(position={:?}, orientation={:?}), twist=Twist(linear={:?}, angular={:?}), accel=Accel(linear={:?}, angular={:?}), source={:?})",
            i.timestamp,
            i.pose.position,
            i.pose.orientation,
            i.twist.linear,
            i.twist.angular,
            i.accel.linear,
            i.accel.angular,
            i.source
        )
    }
}

/// A covariance as 36 floats (any shape with 36 elements, row-major).
fn covariance_values(value: &Bound<'_, PyAny>) -> PyResult<Vec<f64>> {
    let py = value.py();
    if value.is_instance_of::<pyo3::types::PyString>() {
        return Err(PyTypeError::new_err(
            "field `covariance` expects an array of numbers, got str",
        ));
    }
    let flat = py
        .import("numpy")?
        .call_method1("ravel", (value,))
        .map_err(|_| {
            PyTypeError::new_err(format!(
                "field `covariance` expects an array of numbers, got {}",
                type_name(value)
            ))
        })?;
    floats(&flat, "covariance", None)
}

/// A `DroneState` from anything with `.pose` and `.twist` (and optionally
/// `.timestamp`), as DART-Planner's `update_from_estimator` converts it.
pub(crate) fn drone_state_from_estimate(value: &Bound<'_, PyAny>) -> PyResult<crate::DroneState> {
    if let Ok(e) = value.cast::<PyEstimatedState>() {
        return Ok(e.get().inner.to_drone_state()?);
    }
    let py = value.py();
    let pose = value.getattr(pyo3::intern!(py, "pose"))?;
    let twist = value.getattr(pyo3::intern!(py, "twist"))?;
    let t = value.getattr(pyo3::intern!(py, "timestamp")).ok();
    let position = array_n::<3>(
        &pose.getattr(pyo3::intern!(py, "position"))?,
        "pose.position",
        Some("m"),
    )?;
    let pose = self::pose(
        position,
        Some(&pose.getattr(pyo3::intern!(py, "orientation"))?),
    )?;
    let linear = array_n::<3>(
        &twist.getattr(pyo3::intern!(py, "linear"))?,
        "twist.linear",
        Some("m/s"),
    )?;
    let angular = array_n::<3>(
        &twist.getattr(pyo3::intern!(py, "angular"))?,
        "twist.angular",
        Some("rad/s"),
    )?;
    Ok(crate::DroneState::from_quaternion(
        timestamp(t.as_ref())?,
        pose.position,
        linear,
        pose.orientation,
        angular,
        vec![0.0; 4],
    )?)
}
