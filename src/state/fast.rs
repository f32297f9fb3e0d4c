//! [`FastDroneState`]: the plain-data drone state.

use super::{check_finite, normalise_quaternion, quaternion_to_rpy, rpy_to_quaternion};
use crate::{DroneState, Error, State};
use nalgebra::{UnitQuaternion, Vector3};

/// A drone's state as 13 plain `f64` in SI units, with no padding: `Copy`,
/// [`bytemuck::Pod`], published by [`SlotRing`](crate::SlotRing) without
/// allocating.
///
/// The fields carry no units; [`DroneState`] is the unit-checked twin, and
/// the two convert into each other exactly (motor speeds aside). Attitude is
/// roll, pitch, yaw as described in [the module docs](crate::state); the
/// constructors check only that every value is finite, not that the angles
/// lie in a canonical range.
///
/// ```
/// use rtstate::FastDroneState;
///
/// let s = FastDroneState::new(1.0, [0.0, 0.0, -10.0], [1.0, 0.0, 0.0], [0.0; 3], [0.0; 3])?;
/// assert_eq!(s.position_vector().z, -10.0);
/// assert_eq!(std::mem::size_of::<FastDroneState>(), 13 * 8);
/// # Ok::<(), rtstate::Error>(())
/// ```
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct FastDroneState {
    /// Measurement time, wall-clock seconds.
    pub timestamp: f64,
    /// Position, metres.
    pub position: [f64; 3],
    /// Velocity, metres per second.
    pub velocity: [f64; 3],
    /// Roll, pitch, yaw, radians.
    pub attitude: [f64; 3],
    /// Body rates p, q, r (about the body x, y, z axes), radians per second.
    pub angular_velocity: [f64; 3],
}

impl FastDroneState {
    /// A state from SI values, refusing a NaN or infinite value with
    /// [`Error::NonFinite`] naming the first such field (`"timestamp"`,
    /// `"position"`, `"velocity"`, `"attitude"`, `"angular_velocity"`).
    pub fn new(
        timestamp: f64,
        position: [f64; 3],
        velocity: [f64; 3],
        attitude: [f64; 3],
        angular_velocity: [f64; 3],
    ) -> Result<Self, Error> {
        let state = Self {
            timestamp,
            position,
            velocity,
            attitude,
            angular_velocity,
        };
        state.validate()?;
        Ok(state)
    }

    /// A state whose attitude is given as a quaternion `[w, x, y, z]`. The
    /// quaternion is normalised and stored as roll, pitch, yaw; one that
    /// cannot be normalised (zero norm, or a NaN or infinite component) is
    /// refused with [`Error::NonUnitQuaternion`] for field `"attitude"`.
    /// Other fields are checked as in [`new`](Self::new).
    pub fn from_quaternion(
        timestamp: f64,
        position: [f64; 3],
        velocity: [f64; 3],
        quaternion: [f64; 4],
        angular_velocity: [f64; 3],
    ) -> Result<Self, Error> {
        check_finite("timestamp", &[timestamp])?;
        check_finite("position", &position)?;
        check_finite("velocity", &velocity)?;
        let attitude = quaternion_to_rpy(normalise_quaternion("attitude", quaternion)?);
        Self::new(timestamp, position, velocity, attitude, angular_velocity)
    }

    /// The state of a [`DroneState`], in SI; its motor speeds are dropped.
    pub fn from_drone_state(state: &DroneState) -> Self {
        state.to_fast_state()
    }

    /// The unit-checked twin, with four motor speeds of zero.
    pub fn to_drone_state(&self) -> DroneState {
        DroneState::from(*self)
    }

    /// Position as a vector, metres.
    pub fn position_vector(&self) -> Vector3<f64> {
        Vector3::from(self.position)
    }

    /// Velocity as a vector, metres per second.
    pub fn velocity_vector(&self) -> Vector3<f64> {
        Vector3::from(self.velocity)
    }

    /// Body rates p, q, r as a vector, radians per second.
    pub fn angular_velocity_vector(&self) -> Vector3<f64> {
        Vector3::from(self.angular_velocity)
    }

    /// The attitude as a rotation (body to world):
    /// `UnitQuaternion::from_euler_angles(roll, pitch, yaw)`.
    pub fn attitude_quaternion(&self) -> UnitQuaternion<f64> {
        rpy_to_quaternion(self.attitude)
    }
}

impl State for FastDroneState {
    fn timestamp(&self) -> Option<f64> {
        Some(self.timestamp)
    }

    /// [`Error::NonFinite`] naming the first field holding a NaN or an
    /// infinity.
    fn validate(&self) -> Result<(), Error> {
        check_finite("timestamp", &[self.timestamp])?;
        check_finite("position", &self.position)?;
        check_finite("velocity", &self.velocity)?;
        check_finite("attitude", &self.attitude)?;
        check_finite("angular_velocity", &self.angular_velocity)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::f64::consts::FRAC_1_SQRT_2;

    fn sample() -> FastDroneState {
        FastDroneState::new(
            3.5,
            [1.0, 2.0, 3.0],
            [4.0, 5.0, 6.0],
            [0.1, -0.2, 0.3],
            [7.0, 8.0, 9.0],
        )
        .unwrap()
    }

    #[test]
    fn layout_is_13_f64_without_padding() {
        assert_eq!(std::mem::size_of::<FastDroneState>(), 104);
        assert_eq!(std::mem::align_of::<FastDroneState>(), 8);
        let s = sample();
        let words: &[f64] = bytemuck::cast_slice(std::slice::from_ref(&s));
        assert_eq!(
            words,
            [3.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 0.1, -0.2, 0.3, 7.0, 8.0, 9.0]
        );
    }

    #[test]
    fn default_is_zeros() {
        let zero: FastDroneState = bytemuck::Zeroable::zeroed();
        assert_eq!(FastDroneState::default(), zero);
        assert_eq!(FastDroneState::default().validate(), Ok(()));
    }

    #[test]
    fn new_names_the_first_bad_field() {
        let s = sample();
        let mut bad = s;
        bad.velocity[1] = f64::INFINITY;
        bad.angular_velocity[0] = f64::NAN;
        assert_eq!(bad.validate(), Err(Error::NonFinite { field: "velocity" }));
        assert_eq!(
            FastDroneState::new(
                s.timestamp,
                s.position,
                s.velocity,
                [0.0, f64::NAN, 0.0],
                s.angular_velocity
            ),
            Err(Error::NonFinite { field: "attitude" })
        );
    }

    #[test]
    fn timestamp_is_its_own() {
        assert_eq!(sample().timestamp(), Some(3.5));
    }

    #[test]
    fn vectors_view_the_fields() {
        let s = sample();
        assert_eq!(s.position_vector(), Vector3::new(1.0, 2.0, 3.0));
        assert_eq!(s.velocity_vector(), Vector3::new(4.0, 5.0, 6.0));
        assert_eq!(s.angular_velocity_vector(), Vector3::new(7.0, 8.0, 9.0));
        let q = s.attitude_quaternion();
        assert_eq!(q, UnitQuaternion::from_euler_angles(0.1, -0.2, 0.3));
    }

    #[test]
    fn from_quaternion_normalises() {
        // A quarter turn in yaw, given with norm 2.
        let q = [2.0 * FRAC_1_SQRT_2, 0.0, 0.0, 2.0 * FRAC_1_SQRT_2];
        let s = FastDroneState::from_quaternion(0.0, [0.0; 3], [0.0; 3], q, [0.0; 3]).unwrap();
        assert!(s.attitude[0].abs() < 1e-15 && s.attitude[1].abs() < 1e-15);
        assert!((s.attitude[2] - std::f64::consts::FRAC_PI_2).abs() < 1e-15);
    }

    #[test]
    fn from_quaternion_refuses_zero() {
        assert_eq!(
            FastDroneState::from_quaternion(0.0, [0.0; 3], [0.0; 3], [0.0; 4], [0.0; 3]),
            Err(Error::NonUnitQuaternion {
                field: "attitude",
                norm: 0.0
            })
        );
    }

    #[test]
    fn round_trips_through_drone_state_exactly() {
        let s = sample();
        let d = s.to_drone_state();
        assert_eq!(d.motor_rpms, vec![0.0; 4]);
        assert_eq!(FastDroneState::from_drone_state(&d), s);
        assert_eq!(FastDroneState::from(DroneState::from(s)), s);
    }
}
