//! [`EstimatedState`]: an estimator's output, and its [`Pose`], [`Twist`]
//! and [`Accel`].

use super::{
    check_finite, normalise_quaternion, quaternion_to_rpy, rpy_to_quaternion, unit_quaternion,
};
use crate::{DroneState, Error, State};
use nalgebra::UnitQuaternion;

/// The number of elements of a covariance: a row-major 6×6 matrix over
/// (x, y, z, rotation about x, about y, about z), as in ROS
/// `geometry_msgs/PoseWithCovariance`.
pub const COVARIANCE_LEN: usize = 36;

/// A position and an orientation.
///
/// The orientation is a quaternion `[w, x, y, z]` (scalar first), the
/// rotation from body to world, as estimators and ROS report it; it is
/// converted to roll, pitch, yaw only when a [`DroneState`] is made.
/// [`Pose::new`] normalises it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pose {
    /// Position, metres.
    pub position: [f64; 3],
    /// Orientation, a quaternion `[w, x, y, z]`.
    pub orientation: [f64; 4],
}

impl Default for Pose {
    /// The origin, identity orientation `[1, 0, 0, 0]`.
    fn default() -> Self {
        Self {
            position: [0.0; 3],
            orientation: [1.0, 0.0, 0.0, 0.0],
        }
    }
}

impl Pose {
    /// A pose, its orientation normalised. A NaN or infinite position is
    /// [`Error::NonFinite`] for `"pose.position"`; an orientation that
    /// cannot be normalised (zero norm, a NaN or infinite component) is
    /// [`Error::NonUnitQuaternion`] for `"pose.orientation"`.
    pub fn new(position: [f64; 3], orientation: [f64; 4]) -> Result<Self, Error> {
        check_finite("pose.position", &position)?;
        let orientation = normalise_quaternion("pose.orientation", orientation)?;
        Ok(Self {
            position,
            orientation,
        })
    }

    /// A pose whose orientation is given as roll, pitch, yaw in radians
    /// (DART-Planner's `Pose`), converted to a quaternion. A NaN or infinite
    /// position is [`Error::NonFinite`] for `"pose.position"`, a NaN or
    /// infinite angle for `"pose.orientation"`.
    pub fn from_rpy(position: [f64; 3], rpy: [f64; 3]) -> Result<Self, Error> {
        check_finite("pose.orientation", &rpy)?;
        let q = rpy_to_quaternion(rpy);
        Self::new(position, [q.w, q.i, q.j, q.k])
    }

    /// The orientation as a rotation (normalised; errors as in
    /// [`new`](Self::new)).
    pub fn orientation_quaternion(&self) -> Result<UnitQuaternion<f64>, Error> {
        normalise_quaternion("pose.orientation", self.orientation).map(unit_quaternion)
    }

    /// The orientation as roll, pitch, yaw, radians (errors as in
    /// [`new`](Self::new)).
    pub fn orientation_rpy(&self) -> Result<[f64; 3], Error> {
        normalise_quaternion("pose.orientation", self.orientation).map(quaternion_to_rpy)
    }

    fn validate(&self) -> Result<(), Error> {
        Self::new(self.position, self.orientation).map(drop)
    }
}

/// Linear and angular velocity.
///
/// Converted to a [`DroneState`] as DART-Planner does: `linear` becomes its
/// velocity and `angular` its body rates, with no change of frame.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Twist {
    /// Linear velocity, metres per second.
    pub linear: [f64; 3],
    /// Angular velocity (body rates p, q, r), radians per second.
    pub angular: [f64; 3],
}

impl Twist {
    /// A twist, refusing a NaN or infinite value with [`Error::NonFinite`]
    /// for `"twist.linear"` or `"twist.angular"`.
    pub fn new(linear: [f64; 3], angular: [f64; 3]) -> Result<Self, Error> {
        check_finite("twist.linear", &linear)?;
        check_finite("twist.angular", &angular)?;
        Ok(Self { linear, angular })
    }
}

/// Linear and angular acceleration.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Accel {
    /// Linear acceleration, metres per second squared.
    pub linear: [f64; 3],
    /// Angular acceleration, radians per second squared.
    pub angular: [f64; 3],
}

impl Accel {
    /// An acceleration, refusing a NaN or infinite value with
    /// [`Error::NonFinite`] for `"accel.linear"` or `"accel.angular"`.
    pub fn new(linear: [f64; 3], angular: [f64; 3]) -> Result<Self, Error> {
        check_finite("accel.linear", &linear)?;
        check_finite("accel.angular", &angular)?;
        Ok(Self { linear, angular })
    }
}

/// An estimator's output: pose, twist and acceleration at a time, with an
/// optional pose covariance and the estimator's name.
///
/// It converts to a [`DroneState`] with
/// [`to_drone_state`](Self::to_drone_state) (or `DroneState::try_from`).
#[derive(Clone, Debug, PartialEq)]
pub struct EstimatedState {
    /// Measurement time, wall-clock seconds.
    pub timestamp: f64,
    /// Position and orientation.
    pub pose: Pose,
    /// Velocity.
    pub twist: Twist,
    /// Acceleration.
    pub accel: Accel,
    /// The pose's covariance, if known: [`COVARIANCE_LEN`] = 36 elements, a
    /// row-major 6×6 matrix over (x, y, z, rotation about x, y, z).
    pub covariance: Option<Vec<f64>>,
    /// The estimator's name.
    pub source: String,
}

impl Default for EstimatedState {
    /// Timestamp 0, [`Pose::default`], zero twist and acceleration, no
    /// covariance, source `"unknown"`.
    fn default() -> Self {
        Self {
            timestamp: 0.0,
            pose: Pose::default(),
            twist: Twist::default(),
            accel: Accel::default(),
            covariance: None,
            source: "unknown".to_owned(),
        }
    }
}

impl EstimatedState {
    /// An estimate, checked as in [`State::validate`]. Its orientation is
    /// normalised.
    pub fn new(
        timestamp: f64,
        pose: Pose,
        twist: Twist,
        accel: Accel,
        covariance: Option<Vec<f64>>,
        source: impl Into<String>,
    ) -> Result<Self, Error> {
        let mut state = Self {
            timestamp,
            pose,
            twist,
            accel,
            covariance,
            source: source.into(),
        };
        state.validate()?;
        state.pose = Pose::new(state.pose.position, state.pose.orientation)?;
        Ok(state)
    }

    /// The drone state it describes: position and orientation (as roll,
    /// pitch, yaw) from the pose, velocity from `twist.linear`, body rates
    /// from `twist.angular`, four motor speeds of zero. The acceleration,
    /// covariance and source are dropped. Refused, with the error of
    /// [`State::validate`], if the estimate is not valid.
    pub fn to_drone_state(&self) -> Result<DroneState, Error> {
        self.validate()?;
        let attitude = self.pose.orientation_rpy()?;
        DroneState::from_si(
            self.timestamp,
            self.pose.position,
            self.twist.linear,
            attitude,
            self.twist.angular,
            vec![0.0; 4],
        )
    }
}

impl TryFrom<&EstimatedState> for DroneState {
    type Error = Error;

    /// [`EstimatedState::to_drone_state`].
    fn try_from(state: &EstimatedState) -> Result<Self, Error> {
        state.to_drone_state()
    }
}

impl State for EstimatedState {
    fn timestamp(&self) -> Option<f64> {
        Some(self.timestamp)
    }

    /// The first problem, in field order:
    /// - [`Error::NonFinite`] for `"timestamp"`, `"pose.position"`,
    ///   `"twist.linear"`, `"twist.angular"`, `"accel.linear"`,
    ///   `"accel.angular"` or `"covariance"`;
    /// - [`Error::NonUnitQuaternion`] for `"pose.orientation"` if it cannot
    ///   be normalised (it need not be normalised already);
    /// - [`Error::Shape`] for `"covariance"` if it has other than 36
    ///   elements.
    fn validate(&self) -> Result<(), Error> {
        check_finite("timestamp", &[self.timestamp])?;
        self.pose.validate()?;
        Twist::new(self.twist.linear, self.twist.angular)?;
        Accel::new(self.accel.linear, self.accel.angular)?;
        if let Some(covariance) = &self.covariance {
            if covariance.len() != COVARIANCE_LEN {
                return Err(Error::Shape {
                    field: "covariance",
                    expected: COVARIANCE_LEN,
                    got: covariance.len(),
                });
            }
            check_finite("covariance", covariance)?;
        }
        Ok(())
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::f64::consts::{FRAC_1_SQRT_2, FRAC_PI_2};

    fn sample() -> EstimatedState {
        EstimatedState::new(
            5.0,
            Pose::new([1.0, 2.0, 3.0], [FRAC_1_SQRT_2, 0.0, 0.0, FRAC_1_SQRT_2]).unwrap(),
            Twist::new([0.5, 0.0, -0.5], [0.01, 0.02, 0.03]).unwrap(),
            Accel::new([0.0, 0.0, 9.81], [0.0; 3]).unwrap(),
            Some(vec![0.0; 36]),
            "ekf",
        )
        .unwrap()
    }

    #[test]
    fn defaults() {
        let e = EstimatedState::default();
        assert_eq!(e.pose.orientation, [1.0, 0.0, 0.0, 0.0]);
        assert_eq!(e.source, "unknown");
        assert_eq!(e.covariance, None);
        assert_eq!(e.validate(), Ok(()));
        assert_eq!(e.to_drone_state(), Ok(DroneState::default()));
    }

    #[test]
    fn pose_normalises() {
        let p = Pose::new([0.0; 3], [0.0, 0.0, 0.0, -3.0]).unwrap();
        assert_eq!(p.orientation, [0.0, 0.0, 0.0, -1.0]);
        let rpy = p.orientation_rpy().unwrap();
        assert!(rpy[0].abs() < 1e-15 && rpy[1].abs() < 1e-15);
        assert!((rpy[2].abs() - std::f64::consts::PI).abs() < 1e-15);
    }

    #[test]
    fn converts_to_drone_state() {
        let d = sample().to_drone_state().unwrap();
        let f = d.to_fast_state();
        assert_eq!(f.timestamp, 5.0);
        assert_eq!(f.position, [1.0, 2.0, 3.0]);
        assert_eq!(f.velocity, [0.5, 0.0, -0.5]);
        assert_eq!(f.angular_velocity, [0.01, 0.02, 0.03]);
        assert!(f.attitude[0].abs() < 1e-15 && f.attitude[1].abs() < 1e-15);
        assert!((f.attitude[2] - FRAC_PI_2).abs() < 1e-15);
        assert_eq!(d.motor_rpms, vec![0.0; 4]);
        assert_eq!(DroneState::try_from(&sample()), Ok(d));
    }

    #[test]
    fn non_unit_field_orientation_is_normalised_on_conversion() {
        let mut e = sample();
        e.pose.orientation = [0.0, 0.0, 0.0, 2.0];
        assert_eq!(e.validate(), Ok(()));
        let f = e.to_drone_state().unwrap().to_fast_state();
        assert!((f.attitude[2].abs() - std::f64::consts::PI).abs() < 1e-15);
    }

    #[test]
    fn validate_checks_covariance_after_the_rest() {
        let mut e = sample();
        e.covariance = Some(vec![0.0; 35]);
        assert_eq!(
            e.validate(),
            Err(Error::Shape {
                field: "covariance",
                expected: 36,
                got: 35
            })
        );
        e.accel.angular[0] = f64::NAN;
        assert_eq!(
            e.validate(),
            Err(Error::NonFinite {
                field: "accel.angular"
            })
        );
        assert_eq!(
            e.to_drone_state(),
            Err(Error::NonFinite {
                field: "accel.angular"
            })
        );
    }

    #[test]
    fn orientation_quaternion_is_unit() {
        let q = Pose {
            position: [0.0; 3],
            orientation: [2.0, 0.0, 0.0, 0.0],
        }
        .orientation_quaternion()
        .unwrap();
        assert_eq!(q, UnitQuaternion::identity());
    }
}
