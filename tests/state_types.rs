//! Public behaviour of the state types: every constructor's error for each
//! bad input, conversions, round trips.
#![cfg(not(loom))]

use proptest::prelude::*;
use rtstate::{Accel, DroneState, Error, EstimatedState, FastDroneState, Pose, State, Twist};

const BAD: [f64; 3] = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY];

/// The SI arguments of a good state: timestamp, position, velocity,
/// attitude, angular velocity.
type Args = (f64, [f64; 3], [f64; 3], [f64; 3], [f64; 3]);

const GOOD: Args = (
    10.0,
    [1.0, -2.0, 3.0],
    [0.5, 0.25, -0.125],
    [0.1, -0.2, 0.3],
    [0.01, 0.02, -0.03],
);

const FIELDS: [&str; 5] = [
    "timestamp",
    "position",
    "velocity",
    "attitude",
    "angular_velocity",
];

/// `GOOD` with `bad` put into component `component` of field `field`.
fn spoil(field: usize, component: usize, bad: f64) -> Args {
    let mut a = GOOD;
    match field {
        0 => a.0 = bad,
        1 => a.1[component] = bad,
        2 => a.2[component] = bad,
        3 => a.3[component] = bad,
        _ => a.4[component] = bad,
    }
    a
}

fn quaternion(rpy: [f64; 3]) -> [f64; 4] {
    let q = nalgebra::UnitQuaternion::from_euler_angles(rpy[0], rpy[1], rpy[2]);
    [q.w, q.i, q.j, q.k]
}

fn non_unit(field: &'static str) -> impl Fn(&Error) -> bool {
    move |e| matches!(e, Error::NonUnitQuaternion { field: f, norm } if *f == field && !norm.is_finite())
}

// ---- FastDroneState ----

#[test]
fn fast_new_names_each_non_finite_field() {
    for (i, field) in FIELDS.iter().enumerate() {
        for component in 0..3 {
            for bad in BAD {
                let (t, p, v, a, w) = spoil(i, component, bad);
                assert_eq!(
                    FastDroneState::new(t, p, v, a, w),
                    Err(Error::NonFinite { field }),
                    "{field}[{component}] = {bad}"
                );
            }
        }
    }
}

#[test]
fn fast_validate_names_each_non_finite_field() {
    for (i, field) in FIELDS.iter().enumerate() {
        let (t, p, v, a, w) = spoil(i, 2, f64::NAN);
        let s = FastDroneState {
            timestamp: t,
            position: p,
            velocity: v,
            attitude: a,
            angular_velocity: w,
        };
        assert_eq!(s.validate(), Err(Error::NonFinite { field }));
    }
}

#[test]
fn fast_from_quaternion_names_each_non_finite_field() {
    for (i, field) in FIELDS.iter().enumerate() {
        if *field == "attitude" {
            continue;
        }
        let (t, p, v, a, w) = spoil(i, 1, f64::NAN);
        assert_eq!(
            FastDroneState::from_quaternion(t, p, v, quaternion(a), w),
            Err(Error::NonFinite { field })
        );
    }
}

#[test]
fn fast_from_quaternion_refuses_zero_and_non_finite_quaternions() {
    let (t, p, v, _, w) = GOOD;
    assert_eq!(
        FastDroneState::from_quaternion(t, p, v, [0.0; 4], w),
        Err(Error::NonUnitQuaternion {
            field: "attitude",
            norm: 0.0
        })
    );
    for bad in BAD {
        for component in 0..4 {
            let mut q = [0.5; 4];
            q[component] = bad;
            let e = FastDroneState::from_quaternion(t, p, v, q, w).unwrap_err();
            assert!(non_unit("attitude")(&e), "{e:?}");
        }
    }
}

#[test]
fn fast_from_quaternion_matches_new() {
    let (t, p, v, a, w) = GOOD;
    let by_q = FastDroneState::from_quaternion(t, p, v, quaternion(a), w).unwrap();
    let by_rpy = FastDroneState::new(t, p, v, a, w).unwrap();
    assert_eq!((by_q.timestamp, by_q.position, by_q.velocity), (t, p, v));
    assert_eq!(by_q.angular_velocity, w);
    for (x, y) in by_q.attitude.iter().zip(by_rpy.attitude) {
        assert!((x - y).abs() < 1e-12);
    }
    // A quaternion of any norm is the same rotation.
    let scaled = quaternion(a).map(|c| c * -7.5);
    let by_scaled = FastDroneState::from_quaternion(t, p, v, scaled, w).unwrap();
    for (x, y) in by_scaled.attitude.iter().zip(by_rpy.attitude) {
        assert!((x - y).abs() < 1e-12);
    }
}

#[test]
fn fast_is_104_bytes_of_pod() {
    assert_eq!(std::mem::size_of::<FastDroneState>(), 104);
    let (t, p, v, a, w) = GOOD;
    let s = FastDroneState::new(t, p, v, a, w).unwrap();
    let bytes = bytemuck::bytes_of(&s);
    assert_eq!(bytes.len(), 104);
    assert_eq!(bytemuck::pod_read_unaligned::<FastDroneState>(bytes), s);
}

// ---- DroneState ----

#[test]
fn drone_from_si_names_each_non_finite_field() {
    for (i, field) in FIELDS.iter().enumerate() {
        for bad in BAD {
            let (t, p, v, a, w) = spoil(i, 0, bad);
            assert_eq!(
                DroneState::from_si(t, p, v, a, w, vec![0.0; 4]),
                Err(Error::NonFinite { field })
            );
            assert_eq!(
                FastDroneState {
                    timestamp: t,
                    position: p,
                    velocity: v,
                    attitude: a,
                    angular_velocity: w,
                }
                .to_drone_state()
                .validate(),
                Err(Error::NonFinite { field })
            );
        }
    }
}

#[test]
fn drone_constructors_name_motor_rpms() {
    let (t, p, v, a, w) = GOOD;
    for bad in BAD {
        let rpms = vec![1000.0, bad, 1000.0];
        let nf = Err(Error::NonFinite {
            field: "motor_rpms",
        });
        assert_eq!(DroneState::from_si(t, p, v, a, w, rpms.clone()), nf);
        assert_eq!(
            DroneState::from_quaternion(t, p, v, quaternion(a), w, rpms.clone()),
            nf
        );
        let d = DroneState::from_si(t, p, v, a, w, vec![]).unwrap();
        assert_eq!(
            DroneState::new(
                t,
                d.position,
                d.velocity,
                d.attitude,
                d.angular_velocity,
                rpms
            ),
            nf
        );
    }
}

#[test]
fn drone_new_names_each_non_finite_field() {
    for (i, field) in FIELDS.iter().enumerate() {
        let (t, p, v, a, w) = spoil(i, 1, f64::NAN);
        // Build the quantities without validation, then pass them to `new`.
        let q = FastDroneState {
            timestamp: t,
            position: p,
            velocity: v,
            attitude: a,
            angular_velocity: w,
        }
        .to_drone_state();
        assert_eq!(
            DroneState::new(
                q.timestamp,
                q.position,
                q.velocity,
                q.attitude,
                q.angular_velocity,
                vec![]
            ),
            Err(Error::NonFinite { field })
        );
    }
}

#[test]
fn drone_from_quaternion_errors() {
    let (t, p, v, a, w) = GOOD;
    assert_eq!(
        DroneState::from_quaternion(t, p, v, [0.0; 4], w, vec![]),
        Err(Error::NonUnitQuaternion {
            field: "attitude",
            norm: 0.0
        })
    );
    let e = DroneState::from_quaternion(t, p, v, [1.0, f64::NAN, 0.0, 0.0], w, vec![]).unwrap_err();
    assert!(non_unit("attitude")(&e), "{e:?}");
    for (i, field) in FIELDS.iter().enumerate() {
        if *field == "attitude" {
            continue;
        }
        let (t, p, v, _, w) = spoil(i, 2, f64::INFINITY);
        assert_eq!(
            DroneState::from_quaternion(t, p, v, quaternion(a), w, vec![]),
            Err(Error::NonFinite { field })
        );
    }
}

#[test]
fn drone_and_fast_convert_both_ways() {
    let (t, p, v, a, w) = GOOD;
    let d =
        DroneState::from_si(t, p, v, a, w, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]).unwrap();
    let f = d.to_fast_state();
    assert_eq!(f, FastDroneState::new(t, p, v, a, w).unwrap());
    assert_eq!(FastDroneState::from(&d), f);
    assert_eq!(FastDroneState::from(d.clone()), f);
    assert_eq!(FastDroneState::from_drone_state(&d), f);
    let back = f.to_drone_state();
    assert_eq!(back, DroneState::from(f));
    assert_eq!(back.motor_rpms, vec![0.0; 4]);
    assert_eq!(back.to_fast_state(), f);
    assert_eq!(d.attitude_quaternion(), f.attitude_quaternion());
    assert_eq!(d.timestamp(), Some(t));
}

// ---- Pose, Twist, Accel, EstimatedState ----

#[test]
fn pose_twist_accel_constructors_name_their_fields() {
    for bad in BAD {
        for c in 0..3 {
            let mut x = [0.0; 3];
            x[c] = bad;
            let nf = |field| Some(Error::NonFinite { field });
            assert_eq!(
                Pose::new(x, [1.0, 0.0, 0.0, 0.0]).err(),
                nf("pose.position")
            );
            assert_eq!(Twist::new(x, [0.0; 3]).err(), nf("twist.linear"));
            assert_eq!(Twist::new([0.0; 3], x).err(), nf("twist.angular"));
            assert_eq!(Accel::new(x, [0.0; 3]).err(), nf("accel.linear"));
            assert_eq!(Accel::new([0.0; 3], x).err(), nf("accel.angular"));
        }
        let e = Pose::new([0.0; 3], [1.0, 0.0, bad, 0.0]).unwrap_err();
        assert!(non_unit("pose.orientation")(&e), "{e:?}");
    }
    assert_eq!(
        Pose::new([0.0; 3], [0.0; 4]),
        Err(Error::NonUnitQuaternion {
            field: "pose.orientation",
            norm: 0.0
        })
    );
}

fn estimate() -> EstimatedState {
    EstimatedState::new(
        3.0,
        Pose::new([1.0, 2.0, 3.0], quaternion([0.3, -0.4, 2.0])).unwrap(),
        Twist::new([1.0, 0.0, 0.0], [0.0, 0.1, 0.0]).unwrap(),
        Accel::new([0.0, 0.0, -9.81], [0.0; 3]).unwrap(),
        Some((0..36).map(f64::from).collect()),
        "vio",
    )
    .unwrap()
}

/// Every way to spoil an estimate, with the error each must give.
fn spoiled_estimates() -> Vec<(EstimatedState, Error)> {
    let nf = |field| Error::NonFinite { field };
    let mut cases = Vec::new();
    let mut push = |f: &dyn Fn(&mut EstimatedState), e: Error| {
        let mut s = estimate();
        f(&mut s);
        cases.push((s, e));
    };
    push(&|s| s.timestamp = f64::NAN, nf("timestamp"));
    push(&|s| s.pose.position[0] = f64::NAN, nf("pose.position"));
    push(&|s| s.twist.linear[1] = f64::INFINITY, nf("twist.linear"));
    push(&|s| s.twist.angular[2] = f64::NAN, nf("twist.angular"));
    push(
        &|s| s.accel.linear[0] = f64::NEG_INFINITY,
        nf("accel.linear"),
    );
    push(&|s| s.accel.angular[1] = f64::NAN, nf("accel.angular"));
    push(
        &|s| s.covariance.as_mut().unwrap()[35] = f64::NAN,
        nf("covariance"),
    );
    for got in [0, 9, 35, 37, 81] {
        push(
            &|s| s.covariance = Some(vec![0.0; got]),
            Error::Shape {
                field: "covariance",
                expected: 36,
                got,
            },
        );
    }
    push(
        &|s| s.pose.orientation = [0.0; 4],
        Error::NonUnitQuaternion {
            field: "pose.orientation",
            norm: 0.0,
        },
    );
    cases
}

#[test]
fn estimated_new_validate_and_conversion_give_each_exact_error() {
    for (s, error) in spoiled_estimates() {
        let want = Some(error);
        assert_eq!(s.validate().err(), want, "{s:?}");
        assert_eq!(s.to_drone_state().err(), want);
        assert_eq!(DroneState::try_from(&s).err(), want);
        assert_eq!(
            EstimatedState::new(
                s.timestamp,
                s.pose,
                s.twist,
                s.accel,
                s.covariance.clone(),
                s.source.clone()
            )
            .err(),
            want
        );
    }
}

#[test]
fn estimated_nan_orientation_is_non_unit() {
    let mut s = estimate();
    s.pose.orientation[3] = f64::NAN;
    let e = s.validate().unwrap_err();
    assert!(non_unit("pose.orientation")(&e), "{e:?}");
    assert_eq!(s.to_drone_state().unwrap_err().to_string(), e.to_string());
}

#[test]
fn estimated_without_covariance_is_valid() {
    let mut s = estimate();
    s.covariance = None;
    assert_eq!(s.validate(), Ok(()));
    assert_eq!(s.timestamp(), Some(3.0));
}

#[test]
fn estimated_converts_to_drone_state() {
    let s = estimate();
    let f = s.to_drone_state().unwrap().to_fast_state();
    assert_eq!(f.timestamp, 3.0);
    assert_eq!(f.position, [1.0, 2.0, 3.0]);
    assert_eq!(f.velocity, s.twist.linear);
    assert_eq!(f.angular_velocity, s.twist.angular);
    for (x, y) in f.attitude.iter().zip([0.3, -0.4, 2.0]) {
        assert!((x - y).abs() < 1e-12);
    }
}

#[test]
fn estimated_default_is_identity_unknown() {
    let s = EstimatedState::default();
    assert_eq!(s.source, "unknown");
    assert_eq!(s.pose, Pose::default());
    assert_eq!(s.to_drone_state(), Ok(DroneState::default()));
}

// ---- round trips ----

/// Whether `q` is `unit` or `-unit` (the same rotation) within 1e-12.
fn same_rotation(q: nalgebra::UnitQuaternion<f64>, unit: [f64; 4]) -> bool {
    let q = [q.w, q.i, q.j, q.k];
    let close = |s: f64| q.iter().zip(unit).all(|(a, b)| (s * a - b).abs() < 1e-12);
    close(1.0) || close(-1.0)
}

fn finite() -> impl Strategy<Value = f64> {
    prop_oneof![
        -1e6..1e6_f64,
        any::<f64>().prop_filter("finite", |x| x.is_finite())
    ]
}

fn finite3() -> impl Strategy<Value = [f64; 3]> {
    prop::array::uniform3(finite())
}

proptest! {
    #[test]
    fn random_fast_states_round_trip_through_drone_state(
        t in finite(), p in finite3(), v in finite3(), a in finite3(), w in finite3(),
    ) {
        let f = FastDroneState::new(t, p, v, a, w).unwrap();
        let d = DroneState::from(f);
        prop_assert_eq!(d.validate(), Ok(()));
        prop_assert_eq!(d.to_fast_state(), f);
    }

    #[test]
    fn random_quaternions_round_trip_through_rpy(
        q in prop::array::uniform4(-1.0..1.0_f64)
            .prop_filter("normalisable", |q| q.iter().map(|c| c * c).sum::<f64>() > 1e-6),
    ) {
        let f = FastDroneState::from_quaternion(0.0, [0.0; 3], [0.0; 3], q, [0.0; 3]).unwrap();
        let n = q.iter().map(|c| c * c).sum::<f64>().sqrt();
        let unit = q.map(|c| c / n);
        prop_assert!(same_rotation(f.attitude_quaternion(), unit), "{:?} vs {:?}", unit, f);
    }

    #[test]
    fn random_estimates_convert_consistently(
        t in finite(), p in finite3(), v in finite3(), w in finite3(),
        q in prop::array::uniform4(-1.0..1.0_f64)
            .prop_filter("normalisable", |q| q.iter().map(|c| c * c).sum::<f64>() > 1e-6),
    ) {
        let e = EstimatedState::new(
            t, Pose::new(p, q).unwrap(), Twist::new(v, w).unwrap(), Accel::default(), None, "x",
        ).unwrap();
        let f = e.to_drone_state().unwrap().to_fast_state();
        prop_assert_eq!((f.timestamp, f.position, f.velocity, f.angular_velocity), (t, p, v, w));
        prop_assert!(same_rotation(f.attitude_quaternion(), e.pose.orientation));
    }
}
