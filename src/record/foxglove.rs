//! Foxglove's well-known schemas for a drone state (a buffer whose layout
//! is [`FastDroneState`]'s): `foxglove.FrameTransform` (`world` →
//! `base_link`) and `foxglove.PoseInFrame` (in `world`), JSON-encoded,
//! with JSON schemas written after Foxglove's documented message fields,
//! so that the 3D panel shows the vehicle without configuration.

use super::json::quote;
use crate::layout::{Layout, PodLayout};
use crate::FastDroneState;
use std::fmt::Write as _;

/// The parent frame of the transforms.
pub const WORLD_FRAME: &str = "world";
/// The vehicle's frame.
pub const BODY_FRAME: &str = "base_link";

const TIME: &str = concat!(
    "{\"type\":\"object\",\"title\":\"time\",\"properties\":{",
    "\"sec\":{\"type\":\"integer\",\"minimum\":0},",
    "\"nsec\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":999999999}}}"
);
const VECTOR3: &str = concat!(
    "{\"type\":\"object\",\"title\":\"foxglove.Vector3\",\"properties\":{",
    "\"x\":{\"type\":\"number\"},\"y\":{\"type\":\"number\"},\"z\":{\"type\":\"number\"}}}"
);
const QUATERNION: &str = concat!(
    "{\"type\":\"object\",\"title\":\"foxglove.Quaternion\",\"properties\":{",
    "\"x\":{\"type\":\"number\"},\"y\":{\"type\":\"number\"},",
    "\"z\":{\"type\":\"number\"},\"w\":{\"type\":\"number\"}}}"
);

/// The JSON schema of `foxglove.FrameTransform`.
pub fn frame_transform_schema() -> String {
    format!(
        concat!(
            "{{\"title\":\"foxglove.FrameTransform\",",
            "\"description\":\"A transform between two reference frames in 3D space\",",
            "\"type\":\"object\",\"properties\":{{",
            "\"timestamp\":{time},",
            "\"parent_frame_id\":{{\"type\":\"string\"}},",
            "\"child_frame_id\":{{\"type\":\"string\"}},",
            "\"translation\":{v},\"rotation\":{q}}}}}"
        ),
        time = TIME,
        v = VECTOR3,
        q = QUATERNION
    )
}

/// The JSON schema of `foxglove.PoseInFrame`.
pub fn pose_in_frame_schema() -> String {
    format!(
        concat!(
            "{{\"title\":\"foxglove.PoseInFrame\",",
            "\"description\":\"A timestamped pose for an object or reference frame in 3D space\",",
            "\"type\":\"object\",\"properties\":{{",
            "\"timestamp\":{time},",
            "\"frame_id\":{{\"type\":\"string\"}},",
            "\"pose\":{{\"type\":\"object\",\"title\":\"foxglove.Pose\",\"properties\":{{",
            "\"position\":{v},\"orientation\":{q}}}}}}}}}"
        ),
        time = TIME,
        v = VECTOR3,
        q = QUATERNION
    )
}

/// Whether a layout is the drone state's (the Foxglove channels apply).
pub fn is_drone_layout(layout: &Layout) -> bool {
    *layout == FastDroneState::layout()
}

/// The unit quaternion `[x, y, z, w]` of roll, pitch, yaw (Z-Y-X
/// intrinsic: yaw about z, then pitch about y, then roll about x).
pub fn quaternion_from_euler(roll: f64, pitch: f64, yaw: f64) -> [f64; 4] {
    let (sr, cr) = (roll * 0.5).sin_cos();
    let (sp, cp) = (pitch * 0.5).sin_cos();
    let (sy, cy) = (yaw * 0.5).sin_cos();
    [
        sr * cp * cy - cr * sp * sy,
        cr * sp * cy + sr * cp * sy,
        cr * cp * sy - sr * sp * cy,
        cr * cp * cy + sr * sp * sy,
    ]
}

fn time(seconds: f64) -> String {
    let t = if seconds.is_finite() && seconds > 0.0 {
        seconds
    } else {
        0.0
    };
    let sec = t.floor();
    let nsec = (((t - sec) * 1e9).round() as u64).min(999_999_999);
    format!("{{\"sec\":{},\"nsec\":{nsec}}}", sec as u64)
}

fn num(out: &mut String, v: f64) {
    // Foxglove's fields are numbers: a non-finite value becomes 0.
    let v = if v.is_finite() { v } else { 0.0 };
    let _ = write!(out, "{v:?}");
}

fn xyz(out: &mut String, v: [f64; 3]) {
    out.push_str("{\"x\":");
    num(out, v[0]);
    out.push_str(",\"y\":");
    num(out, v[1]);
    out.push_str(",\"z\":");
    num(out, v[2]);
    out.push('}');
}

fn xyzw(out: &mut String, q: [f64; 4]) {
    out.push_str("{\"x\":");
    num(out, q[0]);
    out.push_str(",\"y\":");
    num(out, q[1]);
    out.push_str(",\"z\":");
    num(out, q[2]);
    out.push_str(",\"w\":");
    num(out, q[3]);
    out.push('}');
}

/// The `foxglove.FrameTransform` message (`world` → `base_link`) of a
/// drone state.
pub fn frame_transform(s: &FastDroneState) -> String {
    let mut out = String::with_capacity(256);
    let _ = write!(
        out,
        "{{\"timestamp\":{},\"parent_frame_id\":{},\"child_frame_id\":{},\"translation\":",
        time(s.timestamp),
        quote(WORLD_FRAME),
        quote(BODY_FRAME)
    );
    xyz(&mut out, s.position);
    out.push_str(",\"rotation\":");
    xyzw(
        &mut out,
        quaternion_from_euler(s.attitude[0], s.attitude[1], s.attitude[2]),
    );
    out.push('}');
    out
}

/// The `foxglove.PoseInFrame` message (in `world`) of a drone state.
pub fn pose_in_frame(s: &FastDroneState) -> String {
    let mut out = String::with_capacity(256);
    let _ = write!(
        out,
        "{{\"timestamp\":{},\"frame_id\":{},\"pose\":{{\"position\":",
        time(s.timestamp),
        quote(WORLD_FRAME)
    );
    xyz(&mut out, s.position);
    out.push_str(",\"orientation\":");
    xyzw(
        &mut out,
        quaternion_from_euler(s.attitude[0], s.attitude[1], s.attitude[2]),
    );
    out.push_str("}}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::json::{parse, Value};

    #[test]
    fn schemas_and_messages_are_json() {
        for s in [frame_transform_schema(), pose_in_frame_schema()] {
            parse(s.as_bytes()).unwrap();
        }
        let s = FastDroneState {
            timestamp: 12.25,
            position: [1.0, 2.0, 3.0],
            ..Default::default()
        };
        let tf = parse(frame_transform(&s).as_bytes()).unwrap();
        assert_eq!(
            tf.get("child_frame_id").and_then(Value::as_str),
            Some("base_link")
        );
        let t = tf.get("timestamp").unwrap();
        assert_eq!(t.get("sec").and_then(Value::as_u64), Some(12));
        assert_eq!(t.get("nsec").and_then(Value::as_u64), Some(250_000_000));
        let p = parse(pose_in_frame(&s).as_bytes()).unwrap();
        let z = p
            .get("pose")
            .and_then(|p| p.get("position"))
            .and_then(|v| v.get("z"));
        assert_eq!(z.and_then(Value::as_f64), Some(3.0));
    }

    #[test]
    fn yaw_turns_about_z() {
        let q = quaternion_from_euler(0.0, 0.0, std::f64::consts::PI);
        assert!(q[0].abs() < 1e-12 && q[1].abs() < 1e-12);
        assert!((q[2] - 1.0).abs() < 1e-12 && q[3].abs() < 1e-12);
    }
}
