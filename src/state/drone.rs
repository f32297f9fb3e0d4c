//! [`DroneState`]: the unit-checked drone state.

use super::{check_finite, normalise_quaternion, quaternion_to_rpy, rpy_to_quaternion};
use crate::{Error, FastDroneState, State};
use nalgebra::UnitQuaternion;
use uom::si::angle::radian;
use uom::si::angular_velocity::radian_per_second;
use uom::si::f64::{Angle, AngularVelocity, Length, Velocity};
use uom::si::length::meter;
use uom::si::velocity::meter_per_second;

/// The number of motors a [`DroneState`] gets when none are given.
const DEFAULT_MOTORS: usize = 4;

/// A drone's state with [`uom`] quantities, so that a velocity cannot be
/// passed where a position is expected, and its motor speeds.
///
/// Attitude is roll, pitch, yaw as described in [the module
/// docs](crate::state). It converts to and from [`FastDroneState`] exactly
/// (the SI values are copied); going fast → drone gives four motor speeds
/// of zero, going drone → fast drops them.
///
/// ```
/// use rtstate::DroneState;
/// use uom::si::f64::Length;
/// use uom::si::length::{centimeter, meter};
///
/// let mut s = DroneState::default();
/// s.position[2] = Length::new::<centimeter>(250.0); // 2.5 m up (world z up)
/// assert_eq!(s.to_fast_state().position, [0.0, 0.0, 2.5]);
/// assert_eq!(s.position[2].get::<meter>(), 2.5);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct DroneState {
    /// Measurement time, wall-clock seconds.
    pub timestamp: f64,
    /// Position.
    pub position: [Length; 3],
    /// Velocity.
    pub velocity: [Velocity; 3],
    /// Roll, pitch, yaw.
    pub attitude: [Angle; 3],
    /// Body rates p, q, r (about the body x, y, z axes).
    pub angular_velocity: [AngularVelocity; 3],
    /// Motor speeds, revolutions per minute, one per motor (any number).
    pub motor_rpms: Vec<f64>,
}

impl Default for DroneState {
    /// Timestamp 0, every quantity zero, four motors at zero.
    fn default() -> Self {
        Self::from_fast(&FastDroneState::default(), vec![0.0; DEFAULT_MOTORS])
    }
}

impl DroneState {
    /// A state from quantities, refusing a NaN or infinite value with
    /// [`Error::NonFinite`] naming the first such field (`"timestamp"`,
    /// `"position"`, `"velocity"`, `"attitude"`, `"angular_velocity"`,
    /// `"motor_rpms"`).
    pub fn new(
        timestamp: f64,
        position: [Length; 3],
        velocity: [Velocity; 3],
        attitude: [Angle; 3],
        angular_velocity: [AngularVelocity; 3],
        motor_rpms: Vec<f64>,
    ) -> Result<Self, Error> {
        let state = Self {
            timestamp,
            position,
            velocity,
            attitude,
            angular_velocity,
            motor_rpms,
        };
        state.validate()?;
        Ok(state)
    }

    /// A state from SI values (metres, metres per second, radians, radians
    /// per second), checked as in [`new`](Self::new).
    pub fn from_si(
        timestamp: f64,
        position: [f64; 3],
        velocity: [f64; 3],
        attitude: [f64; 3],
        angular_velocity: [f64; 3],
        motor_rpms: Vec<f64>,
    ) -> Result<Self, Error> {
        let fast = FastDroneState::new(timestamp, position, velocity, attitude, angular_velocity)?;
        check_finite("motor_rpms", &motor_rpms)?;
        Ok(Self::from_fast(&fast, motor_rpms))
    }

    /// A state from SI values whose attitude is given as a quaternion
    /// `[w, x, y, z]`: normalised and stored as roll, pitch, yaw; one that
    /// cannot be normalised is refused with [`Error::NonUnitQuaternion`] for
    /// field `"attitude"`. Other fields are checked as in [`new`](Self::new).
    pub fn from_quaternion(
        timestamp: f64,
        position: [f64; 3],
        velocity: [f64; 3],
        quaternion: [f64; 4],
        angular_velocity: [f64; 3],
        motor_rpms: Vec<f64>,
    ) -> Result<Self, Error> {
        check_finite("timestamp", &[timestamp])?;
        check_finite("position", &position)?;
        check_finite("velocity", &velocity)?;
        let attitude = quaternion_to_rpy(normalise_quaternion("attitude", quaternion)?);
        Self::from_si(
            timestamp,
            position,
            velocity,
            attitude,
            angular_velocity,
            motor_rpms,
        )
    }

    /// The plain-data twin in SI units; the motor speeds are dropped.
    pub fn to_fast_state(&self) -> FastDroneState {
        FastDroneState {
            timestamp: self.timestamp,
            position: self.position.map(|q| q.get::<meter>()),
            velocity: self.velocity.map(|q| q.get::<meter_per_second>()),
            attitude: self.attitude.map(|q| q.get::<radian>()),
            angular_velocity: self.angular_velocity.map(|q| q.get::<radian_per_second>()),
        }
    }

    /// The attitude as a rotation (body to world):
    /// `UnitQuaternion::from_euler_angles(roll, pitch, yaw)`.
    pub fn attitude_quaternion(&self) -> UnitQuaternion<f64> {
        rpy_to_quaternion(self.attitude.map(|q| q.get::<radian>()))
    }

    /// The quantities of an SI plain-data state, with these motor speeds.
    fn from_fast(fast: &FastDroneState, motor_rpms: Vec<f64>) -> Self {
        Self {
            timestamp: fast.timestamp,
            position: fast.position.map(Length::new::<meter>),
            velocity: fast.velocity.map(Velocity::new::<meter_per_second>),
            attitude: fast.attitude.map(Angle::new::<radian>),
            angular_velocity: fast
                .angular_velocity
                .map(AngularVelocity::new::<radian_per_second>),
            motor_rpms,
        }
    }
}

impl From<FastDroneState> for DroneState {
    /// The same state in quantities, with four motor speeds of zero.
    fn from(fast: FastDroneState) -> Self {
        Self::from_fast(&fast, vec![0.0; DEFAULT_MOTORS])
    }
}

impl From<&DroneState> for FastDroneState {
    /// [`DroneState::to_fast_state`].
    fn from(state: &DroneState) -> Self {
        state.to_fast_state()
    }
}

impl From<DroneState> for FastDroneState {
    /// [`DroneState::to_fast_state`].
    fn from(state: DroneState) -> Self {
        state.to_fast_state()
    }
}

impl State for DroneState {
    fn timestamp(&self) -> Option<f64> {
        Some(self.timestamp)
    }

    /// [`Error::NonFinite`] naming the first field holding a NaN or an
    /// infinity.
    fn validate(&self) -> Result<(), Error> {
        self.to_fast_state().validate()?;
        check_finite("motor_rpms", &self.motor_rpms)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use uom::si::angle::degree;
    use uom::si::length::kilometer;

    fn sample() -> DroneState {
        DroneState::from_si(
            2.0,
            [1.0, 2.0, 3.0],
            [4.0, 5.0, 6.0],
            [0.1, 0.2, 0.3],
            [7.0, 8.0, 9.0],
            vec![1000.0, 1100.0, 1200.0, 1300.0, 1400.0, 1500.0],
        )
        .unwrap()
    }

    #[test]
    fn default_is_zeros_with_four_motors() {
        let d = DroneState::default();
        assert_eq!(d.timestamp, 0.0);
        assert_eq!(d.to_fast_state(), FastDroneState::default());
        assert_eq!(d.motor_rpms, vec![0.0; 4]);
        assert_eq!(d.validate(), Ok(()));
    }

    #[test]
    fn quantities_convert_to_si() {
        let d = DroneState::new(
            1.0,
            [
                Length::new::<kilometer>(1.5),
                Length::default(),
                Length::default(),
            ],
            [Velocity::default(); 3],
            [
                Angle::new::<degree>(180.0),
                Angle::default(),
                Angle::default(),
            ],
            [AngularVelocity::default(); 3],
            vec![],
        )
        .unwrap();
        let f = d.to_fast_state();
        assert_eq!(f.position[0], 1500.0);
        assert!((f.attitude[0] - std::f64::consts::PI).abs() < 1e-15);
    }

    #[test]
    fn validate_names_motor_rpms() {
        let mut d = sample();
        d.motor_rpms[5] = f64::NAN;
        assert_eq!(
            d.validate(),
            Err(Error::NonFinite {
                field: "motor_rpms"
            })
        );
        d.angular_velocity[2] = AngularVelocity::new::<radian_per_second>(f64::INFINITY);
        assert_eq!(
            d.validate(),
            Err(Error::NonFinite {
                field: "angular_velocity"
            })
        );
    }

    #[test]
    fn keeps_any_number_of_motors() {
        assert_eq!(sample().motor_rpms.len(), 6);
        assert_eq!(sample().timestamp(), Some(2.0));
    }

    #[test]
    fn round_trips_through_fast_state() {
        let d = sample();
        let f = d.to_fast_state();
        assert_eq!(f.position, [1.0, 2.0, 3.0]);
        assert_eq!(f.attitude, [0.1, 0.2, 0.3]);
        let back = DroneState::from(f);
        assert_eq!(back.to_fast_state(), f);
        assert_eq!(back.motor_rpms, vec![0.0; 4]);
        assert_eq!(FastDroneState::from(&d), f);
        assert_eq!(d.attitude_quaternion(), f.attitude_quaternion());
    }

    #[test]
    fn from_quaternion_matches_from_si() {
        let q = d_quat(0.1, 0.2, 0.3);
        let d = DroneState::from_quaternion(2.0, [0.0; 3], [0.0; 3], q, [0.0; 3], vec![]).unwrap();
        let f = d.to_fast_state();
        for (a, b) in f.attitude.iter().zip([0.1, 0.2, 0.3]) {
            assert!((a - b).abs() < 1e-15);
        }
    }

    fn d_quat(roll: f64, pitch: f64, yaw: f64) -> [f64; 4] {
        let q = UnitQuaternion::from_euler_angles(roll, pitch, yaw);
        [q.w, q.i, q.j, q.k]
    }
}
