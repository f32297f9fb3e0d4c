//! Vehicle state types: what estimators publish and controllers read.
//!
//! - [`FastDroneState`]: 13 plain `f64` in SI units, `#[repr(C)]` and
//!   [`bytemuck::Pod`], for the allocation-free [`SlotRing`](crate::SlotRing)
//!   and 1 kHz loops; [`nalgebra`] views of its vectors.
//! - [`DroneState`]: the same state with [`uom`] quantities (units checked
//!   by the compiler) and motor speeds.
//! - [`EstimatedState`]: an estimator's output, [`Pose`] + [`Twist`] +
//!   [`Accel`] with an optional covariance and its source, as in ROS and
//!   DART-Planner; it converts to a [`DroneState`].
//!
//! # Conventions
//!
//! - All values are SI: metres, metres per second, radians, radians per
//!   second; `timestamp` is wall-clock seconds.
//! - World frame: z up (gravity along −z), x and y horizontal; body frame:
//!   z up through the rotor axes. The autopilot ([`control::pid`](crate::control::pid))
//!   and the simulator ([`control::sim`](crate::control::sim)) use the same.
//! - `attitude` is roll, pitch, yaw (radians), as in DART-Planner. Its
//!   rotation is nalgebra's
//!   [`UnitQuaternion::from_euler_angles(roll, pitch, yaw)`](nalgebra::UnitQuaternion::from_euler_angles):
//!   intrinsic Z-Y'-X'' (yaw, then pitch, then roll), i.e. the body-to-world
//!   rotation `R = Rz(yaw) · Ry(pitch) · Rx(roll)`, aerospace convention.
//! - Quaternions are given as `[w, x, y, z]` (scalar first). A quaternion
//!   given to a constructor is normalised; one whose norm is zero or not
//!   finite (a NaN or infinite component) is refused with
//!   [`Error::NonUnitQuaternion`].
//! - A quaternion is turned into roll, pitch, yaw with roll and yaw in
//!   (-π, π] and pitch in [-π/2, π/2], by a method that stays accurate at
//!   and near gimbal lock (pitch = ±π/2), so that quaternion → roll/pitch/yaw
//!   → quaternion agrees to about 1e-15 everywhere.
//! - Constructors validate and name the offending field in their error;
//!   [`State::validate`](crate::State::validate) applies the same checks to a
//!   value whose public fields were set directly.
//!
//! # Example
//!
//! ```
//! use rtstate::{DroneState, EstimatedState, FastDroneState, Pose, State, Twist};
//!
//! # fn main() -> Result<(), rtstate::Error> {
//! // An estimator's output: level, yawed by 90°, flying north at 2 m/s.
//! let half = std::f64::consts::FRAC_PI_4;
//! let estimate = EstimatedState::new(
//!     12.5,
//!     Pose::new([1.0, 2.0, -3.0], [half.cos(), 0.0, 0.0, half.sin()])?,
//!     Twist::new([2.0, 0.0, 0.0], [0.0, 0.0, 0.1])?,
//!     Default::default(),
//!     None,
//!     "ekf",
//! )?;
//!
//! // To the unit-checked state, then to the plain-data one for the slot ring.
//! let drone: DroneState = estimate.to_drone_state()?;
//! let fast: FastDroneState = drone.to_fast_state();
//! assert!((fast.attitude[2] - std::f64::consts::FRAC_PI_2).abs() < 1e-12);
//! assert_eq!(fast.velocity, [2.0, 0.0, 0.0]);
//! assert_eq!(fast.timestamp(), Some(12.5));
//!
//! // Bad input names the field.
//! let bad = FastDroneState::new(0.0, [0.0; 3], [f64::NAN, 0.0, 0.0], [0.0; 3], [0.0; 3]);
//! assert_eq!(bad, Err(rtstate::Error::NonFinite { field: "velocity" }));
//! # Ok(())
//! # }
//! ```

mod drone;
mod estimated;
mod fast;

pub use drone::DroneState;
pub use estimated::{Accel, EstimatedState, Pose, Twist, COVARIANCE_LEN};
pub use fast::FastDroneState;

use crate::Error;
use nalgebra::{Quaternion, UnitQuaternion};
use std::f64::consts::{FRAC_PI_2, PI, TAU};

/// `Err(NonFinite { field })` if any value is NaN or infinite.
pub(crate) fn check_finite(field: &'static str, values: &[f64]) -> Result<(), Error> {
    if values.iter().all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(Error::NonFinite { field })
    }
}

/// The norm of `q`, computed without overflow or underflow: NaN if a
/// component is NaN, infinite if one is infinite.
fn quaternion_norm(q: [f64; 4]) -> f64 {
    let scale = q.iter().fold(0.0_f64, |m, c| m.max(c.abs()));
    if q.iter().any(|c| c.is_nan()) {
        return f64::NAN;
    }
    if scale == 0.0 || !scale.is_finite() {
        return scale;
    }
    scale * q.iter().map(|c| (c / scale).powi(2)).sum::<f64>().sqrt()
}

/// Normalises a `[w, x, y, z]` quaternion, refusing one whose norm is zero
/// or not finite.
pub(crate) fn normalise_quaternion(field: &'static str, q: [f64; 4]) -> Result<[f64; 4], Error> {
    let norm = quaternion_norm(q);
    if norm == 0.0 || !norm.is_finite() {
        return Err(Error::NonUnitQuaternion { field, norm });
    }
    if norm == 1.0 {
        return Ok(q);
    }
    // Divide by the largest component first so that tiny and huge
    // quaternions normalise without underflow or overflow.
    let scale = q.iter().fold(0.0_f64, |m, c| m.max(c.abs()));
    let n = norm / scale;
    Ok(q.map(|c| (c / scale) / n))
}

/// The rotation of roll, pitch, yaw (nalgebra's `from_euler_angles`).
pub(crate) fn rpy_to_quaternion(rpy: [f64; 3]) -> UnitQuaternion<f64> {
    UnitQuaternion::from_euler_angles(rpy[0], rpy[1], rpy[2])
}

/// The rotation of a unit `[w, x, y, z]` quaternion, taken as unit.
pub(crate) fn unit_quaternion(q: [f64; 4]) -> UnitQuaternion<f64> {
    UnitQuaternion::new_unchecked(Quaternion::new(q[0], q[1], q[2], q[3]))
}

/// Roll, pitch, yaw of a unit `[w, x, y, z]` quaternion: the inverse of
/// [`rpy_to_quaternion`], with roll and yaw in (-π, π] and pitch in
/// [-π/2, π/2].
///
/// nalgebra's `euler_angles` takes pitch as `asin` of a matrix entry, which
/// loses half the digits near gimbal lock. This is the direct half-angle
/// method (Bernardes & Viollet, "Quaternion to Euler angles conversion: a
/// direct, general and computationally efficient method", PLoS ONE 2022),
/// written out for the Z-Y'-X'' sequence. With `c`, `s` the cosine and sine
/// of half angles, `q = qz(yaw) qy(pitch) qx(roll)` gives
///
/// ```text
/// w - y = (cp - sp) cos((roll + yaw) / 2)    x + z = (cp - sp) sin((roll + yaw) / 2)
/// w + y = (cp + sp) cos((roll - yaw) / 2)    x - z = (cp + sp) sin((roll - yaw) / 2)
/// ```
///
/// so `roll ± yaw` come from two `atan2`s and pitch from the ratio of the
/// two magnitudes. At pitch = +π/2 only `roll - yaw` is defined (and at
/// -π/2 only `roll + yaw`); the undefined half-sum is taken as 0.
pub(crate) fn quaternion_to_rpy(q: [f64; 4]) -> [f64; 3] {
    let [w, x, y, z] = q;
    let (a, b) = (w - y, x + z); // (cp - sp) · (cos, sin) of (roll + yaw) / 2
    let (c, d) = (w + y, x - z); // (cp + sp) · (cos, sin) of (roll - yaw) / 2
    let half_sum = atan2_or_zero(b, a);
    let half_diff = atan2_or_zero(d, c);
    let pitch = FRAC_PI_2 - 2.0 * a.hypot(b).atan2(c.hypot(d));
    let roll = wrap_angle(half_sum + half_diff);
    let yaw = wrap_angle(half_sum - half_diff);
    [roll, pitch, yaw]
}

/// `atan2(y, x)`, but 0 where both are zero (whatever their signs).
fn atan2_or_zero(y: f64, x: f64) -> f64 {
    if y == 0.0 && x == 0.0 {
        0.0
    } else {
        y.atan2(x)
    }
}

/// Wraps any finite angle into (−π, π] (the crate's one angle wrap: the
/// Euler conversions here and the controller's attitude errors). A
/// non-finite angle comes back NaN.
pub(crate) fn wrap_angle(angle: f64) -> f64 {
    let w = angle - TAU * ((angle + PI) / TAU).floor();
    if w <= -PI {
        w + TAU
    } else {
        w
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Whether two unit quaternions are the same rotation within `tol`
    /// (q and -q are the same rotation).
    fn same_rotation(p: [f64; 4], q: [f64; 4], tol: f64) -> bool {
        let plus = p.iter().zip(q).all(|(a, b)| (a - b).abs() <= tol);
        let minus = p.iter().zip(q).all(|(a, b)| (a + b).abs() <= tol);
        plus || minus
    }

    fn coords(q: UnitQuaternion<f64>) -> [f64; 4] {
        [q.w, q.i, q.j, q.k]
    }

    #[test]
    fn norm_is_robust() {
        assert_eq!(quaternion_norm([0.0; 4]), 0.0);
        assert!(quaternion_norm([f64::NAN, 0.0, 0.0, 0.0]).is_nan());
        assert!(quaternion_norm([f64::NAN, f64::INFINITY, 0.0, 0.0]).is_nan());
        assert_eq!(
            quaternion_norm([0.0, f64::NEG_INFINITY, 0.0, 0.0]),
            f64::INFINITY
        );
        assert_eq!(quaternion_norm([3e300, 4e300, 0.0, 0.0]), 5e300);
        assert_eq!(quaternion_norm([3e-310, 4e-310, 0.0, 0.0]), 5e-310);
    }

    #[test]
    fn normalise_refuses_zero_and_non_finite() {
        assert_eq!(
            normalise_quaternion("q", [0.0; 4]),
            Err(Error::NonUnitQuaternion {
                field: "q",
                norm: 0.0
            })
        );
        assert!(matches!(
            normalise_quaternion("q", [1.0, f64::NAN, 0.0, 0.0]),
            Err(Error::NonUnitQuaternion { field: "q", norm }) if norm.is_nan()
        ));
        assert_eq!(
            normalise_quaternion("q", [1.0, 0.0, f64::INFINITY, 0.0]),
            Err(Error::NonUnitQuaternion {
                field: "q",
                norm: f64::INFINITY
            })
        );
    }

    #[test]
    fn normalise_scales_tiny_and_huge() {
        assert_eq!(
            normalise_quaternion("q", [2.0, 0.0, 0.0, 0.0]),
            Ok([1.0, 0.0, 0.0, 0.0])
        );
        for s in [1e-300, 1e300] {
            let q = normalise_quaternion("q", [0.0, 3.0 * s, 0.0, 4.0 * s]).unwrap();
            assert!(same_rotation(q, [0.0, 0.6, 0.0, 0.8], 1e-15), "{q:?}");
        }
    }

    #[test]
    fn agrees_with_nalgebra_away_from_gimbal_lock() {
        for rpy in [
            [0.1, 0.2, 0.3],
            [-3.0, 1.2, 2.9],
            [2.5, -1.4, -0.7],
            [0.0, 0.0, PI],
        ] {
            let q = rpy_to_quaternion(rpy);
            let (r, p, y) = q.euler_angles();
            let ours = quaternion_to_rpy(coords(q));
            for (a, b) in ours.iter().zip([r, p, y]) {
                assert!((a - b).abs() < 1e-9, "{ours:?} vs {:?}", (r, p, y));
            }
        }
    }

    #[test]
    fn identity_and_axes() {
        assert_eq!(quaternion_to_rpy([1.0, 0.0, 0.0, 0.0]), [0.0, 0.0, 0.0]);
        let h = std::f64::consts::FRAC_1_SQRT_2;
        let close = |a: [f64; 3], b: [f64; 3]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-15);
        assert!(close(
            quaternion_to_rpy([h, h, 0.0, 0.0]),
            [FRAC_PI_2, 0.0, 0.0]
        ));
        assert!(close(
            quaternion_to_rpy([h, 0.0, h, 0.0]),
            [0.0, FRAC_PI_2, 0.0]
        ));
        assert!(close(
            quaternion_to_rpy([h, 0.0, 0.0, h]),
            [0.0, 0.0, FRAC_PI_2]
        ));
        // Half a turn about x: roll is π, not -π.
        assert!(close(
            quaternion_to_rpy([0.0, 1.0, 0.0, 0.0]),
            [PI, 0.0, 0.0]
        ));
    }

    #[test]
    fn gimbal_lock_round_trips() {
        for pitch in [FRAC_PI_2, -FRAC_PI_2, FRAC_PI_2 - 1e-9, -FRAC_PI_2 + 1e-12] {
            for (roll, yaw) in [(0.3, -1.1), (0.0, 0.0), (-2.0, 3.0)] {
                let q = coords(rpy_to_quaternion([roll, pitch, yaw]));
                let back = coords(rpy_to_quaternion(quaternion_to_rpy(q)));
                assert!(same_rotation(q, back, 1e-15), "{q:?} vs {back:?}");
            }
        }
    }

    #[test]
    fn wrap_angle_range() {
        assert_eq!(wrap_angle(PI), PI);
        assert_eq!(wrap_angle(-PI), PI);
        assert!((wrap_angle(1.5 * PI) + 0.5 * PI).abs() < 1e-15);
        assert!((wrap_angle(-1.5 * PI) - 0.5 * PI).abs() < 1e-15);
    }

    fn any_quaternion() -> impl Strategy<Value = [f64; 4]> {
        prop::array::uniform4(-1.0..1.0_f64)
            .prop_filter("normalisable", |q| quaternion_norm(*q) > 1e-6)
    }

    proptest! {
        #[test]
        fn quaternion_rpy_quaternion(q in any_quaternion()) {
            let q = normalise_quaternion("q", q).unwrap();
            let rpy = quaternion_to_rpy(q);
            prop_assert!(rpy[0] > -PI && rpy[0] <= PI);
            prop_assert!((-FRAC_PI_2..=FRAC_PI_2).contains(&rpy[1]));
            prop_assert!(rpy[2] > -PI && rpy[2] <= PI);
            let back = coords(rpy_to_quaternion(rpy));
            prop_assert!(same_rotation(q, back, 1e-12), "{:?} vs {:?}", q, back);
        }

        #[test]
        fn rpy_quaternion_rpy(
            roll in (-PI + 1e-9)..PI,
            pitch in (-FRAC_PI_2 + 1e-3)..(FRAC_PI_2 - 1e-3),
            yaw in (-PI + 1e-9)..PI,
        ) {
            let rpy = quaternion_to_rpy(coords(rpy_to_quaternion([roll, pitch, yaw])));
            for (a, b) in rpy.iter().zip([roll, pitch, yaw]) {
                prop_assert!((a - b).abs() < 1e-12, "{:?} vs {:?}", rpy, (roll, pitch, yaw));
            }
        }
    }
}
