//! A cascaded position → velocity → attitude → body-rate PID controller for a
//! multirotor, producing collective thrust and body rates ([`Command`]).
//!
//! # Conventions
//!
//! World frame: z up (gravity along −z), x and y horizontal. Body frame: z up
//! through the rotor axes; thrust acts along body +z. Attitude is roll,
//! pitch, yaw (radians) with `R = Rz(yaw)·Ry(pitch)·Rx(roll)` (body → world),
//! the convention of `nalgebra::Rotation3::from_euler_angles`. Body rates
//! are in rad/s about the body axes.
//!
//! # Algorithm
//!
//! Each call to [`Controller::step`]:
//! 1. **Position** PID on `setpoint.position − position` (derivative on the
//!    measured position), plus `setpoint.velocity` as feed-forward, gives a
//!    velocity setpoint, limited per axis.
//! 2. **Velocity** PID on it gives an acceleration setpoint. The desired force
//!    is `mass·acceleration + hover·ẑ` with `hover = setpoint.thrust` when
//!    positive, else `mass·gravity`. Its tilt is limited to
//!    [`Config::max_tilt`] by shortening its horizontal part.
//! 3. The force direction and `setpoint.attitude[2]` (yaw) give roll and
//!    pitch setpoints; `setpoint.attitude[0..2]` are added as feed-forward
//!    and the result is clamped to ±`max_tilt`. The collective thrust is the
//!    desired force projected on the current body z axis, clamped to
//!    `[0, max_thrust]`.
//! 4. **Attitude** PID on the (wrapped) roll/pitch/yaw errors gives Euler-angle
//!    rates, converted to body rates, plus `setpoint.angular_velocity` as
//!    feed-forward, limited by the rate stage's output limit.
//! 5. **Body-rate** PID on `rate setpoint − angular_velocity`, with the rate
//!    setpoint itself as feed-forward, gives the commanded rates: the rate
//!    setpoint passes through and the PID corrects what the vehicle's own rate
//!    loop leaves (lag, bias). Its default gains are mild.
//!
//! Every PID stage has: the integral kept as its contribution to the output
//! (so [`StageGains::integral_limit`] is in output units) and clamped to that
//! limit; **conditional integration** (the integral does not grow while the
//! output is saturated and the error pushes further into saturation); and
//! a derivative **on the measurement** (no kick on setpoint steps) through a
//! first-order low-pass filter of time constant
//! [`StageGains::derivative_tau`].
//!
//! `step` allocates nothing and never panics. A non-finite measurement or
//! setpoint, or `dt` not finite and > 0, leaves the controller's state
//! untouched; for a non-finite input the command is the hover thrust with
//! zero rates.

use crate::state::wrap_angle;
use crate::{Error, FastDroneState};

/// What the controller is asked to reach. Plain data (`Pod`) so that it can
/// be handed to a running loop through a [`SlotRing`](crate::SlotRing).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Setpoint {
    /// World position, m.
    pub position: [f64; 3],
    /// Velocity feed-forward, m/s (added to the position stage's output).
    pub velocity: [f64; 3],
    /// Yaw (`[2]`) is tracked; roll and pitch (`[0]`, `[1]`) are added as
    /// feed-forward to the computed tilt, within `max_tilt`.
    pub attitude: [f64; 3],
    /// Body-rate feed-forward, rad/s.
    pub angular_velocity: [f64; 3],
    /// Hover thrust feed-forward, N; 0 (or less) means `mass·gravity`.
    pub thrust: f64,
}

/// The controller's output: collective thrust and body rates. Plain data
/// (`Pod`) so that it can live in a lock-free plain-data buffer.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Command {
    /// The timestamp of the measurement it was computed from, s.
    pub timestamp: f64,
    /// Collective thrust along body z, N.
    pub thrust: f64,
    /// Body roll rate, rad/s.
    pub roll_rate: f64,
    /// Body pitch rate, rad/s.
    pub pitch_rate: f64,
    /// Body yaw rate, rad/s.
    pub yaw_rate: f64,
}

/// Gains of one PID stage, per axis (x, y, z or roll, pitch, yaw).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StageGains {
    /// Proportional gain.
    pub kp: [f64; 3],
    /// Integral gain.
    pub ki: [f64; 3],
    /// Derivative gain (on the measurement).
    pub kd: [f64; 3],
    /// Bound on the integral's contribution, in output units (≥ 0).
    pub integral_limit: [f64; 3],
    /// Bound on the stage's output (≥ 0).
    pub output_limit: [f64; 3],
    /// Time constant of the derivative's low-pass filter, s (≥ 0).
    pub derivative_tau: f64,
}

/// The four stages' gains.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Gains {
    /// Position error (m) → velocity setpoint (m/s).
    pub position: StageGains,
    /// Velocity error (m/s) → acceleration setpoint (m/s²).
    pub velocity: StageGains,
    /// Attitude error (rad) → Euler-angle rates (rad/s).
    pub attitude: StageGains,
    /// Body-rate error (rad/s) → rate correction (rad/s); its output limit
    /// bounds the commanded rates.
    pub rate: StageGains,
}

impl Default for Gains {
    /// Gains for a 1.0 kg quadrotor with a rate loop of a few tens of ms
    /// (tuned on [`sim::Vehicle`](super::sim::Vehicle)).
    fn default() -> Self {
        Gains {
            position: StageGains {
                kp: [1.2, 1.2, 1.5],
                ki: [0.0; 3],
                kd: [0.0; 3],
                integral_limit: [1.0; 3],
                output_limit: [3.0, 3.0, 2.0],
                derivative_tau: 0.05,
            },
            velocity: StageGains {
                kp: [2.5, 2.5, 4.0],
                ki: [1.0, 1.0, 2.0],
                kd: [0.0; 3],
                integral_limit: [3.0, 3.0, 4.0],
                output_limit: [6.0, 6.0, 6.0],
                derivative_tau: 0.02,
            },
            attitude: StageGains {
                kp: [7.0, 7.0, 3.0],
                ki: [0.0; 3],
                kd: [0.0; 3],
                integral_limit: [0.5; 3],
                output_limit: [4.0, 4.0, 2.0],
                derivative_tau: 0.01,
            },
            rate: StageGains {
                kp: [0.1, 0.1, 0.05],
                ki: [0.0; 3],
                kd: [0.0; 3],
                integral_limit: [0.5; 3],
                output_limit: [6.0, 6.0, 3.0],
                derivative_tau: 0.005,
            },
        }
    }
}

/// The controller's configuration: vehicle and limits, and gains.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Config {
    /// Vehicle mass, kg.
    pub mass: f64,
    /// Gravity, m/s² (positive; it acts along −z).
    pub gravity: f64,
    /// Largest roll or pitch, rad (0 < max_tilt < π/2).
    pub max_tilt: f64,
    /// Largest collective thrust, N.
    pub max_thrust: f64,
    /// The stages' gains.
    pub gains: Gains,
}

impl Default for Config {
    /// A 1.0 kg quadrotor, g = 9.81, 35° tilt, thrust-to-weight 2.5.
    fn default() -> Self {
        Config {
            mass: 1.0,
            gravity: 9.81,
            max_tilt: 35f64.to_radians(),
            max_thrust: 2.5 * 9.81,
            gains: Gains::default(),
        }
    }
}

impl Config {
    /// Checks every value (finite, in range).
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |name, reason: String| Err(Error::InvalidArgument { name, reason });
        let pos = |x: f64| x.is_finite() && x > 0.0;
        if !pos(self.mass) {
            return bad("mass", format!("must be finite and > 0, got {}", self.mass));
        }
        if !pos(self.gravity) {
            return bad(
                "gravity",
                format!("must be finite and > 0, got {}", self.gravity),
            );
        }
        if !(pos(self.max_tilt) && self.max_tilt < std::f64::consts::FRAC_PI_2) {
            return bad(
                "max_tilt",
                format!("must be in (0, π/2), got {}", self.max_tilt),
            );
        }
        if !pos(self.max_thrust) {
            return bad(
                "max_thrust",
                format!("must be finite and > 0, got {}", self.max_thrust),
            );
        }
        let g = &self.gains;
        for (name, s) in [
            ("gains.position", &g.position),
            ("gains.velocity", &g.velocity),
            ("gains.attitude", &g.attitude),
            ("gains.rate", &g.rate),
        ] {
            let all =
                s.kp.iter()
                    .chain(&s.ki)
                    .chain(&s.kd)
                    .chain(&s.integral_limit)
                    .chain(&s.output_limit)
                    .chain([&s.derivative_tau]);
            for &v in all {
                if !(v.is_finite() && v >= 0.0) {
                    return bad(
                        name,
                        format!("gains and limits must be finite and ≥ 0, got {v}"),
                    );
                }
            }
        }
        Ok(())
    }
}

/// One axis of a PID stage: integral and filtered-derivative state.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Axis {
    /// The integral's contribution to the output.
    integral: f64,
    /// Filtered d(measurement)/dt.
    rate: f64,
    prev: f64,
    primed: bool,
}

impl Axis {
    #[allow(clippy::too_many_arguments)]
    fn update(
        &mut self,
        error: f64,
        measurement: f64,
        feed_forward: f64,
        dt: f64,
        g: &StageGains,
        i: usize,
        angular: bool,
    ) -> f64 {
        if dt > 0.0 {
            if self.primed {
                let mut dm = measurement - self.prev;
                if angular {
                    dm = wrap_angle(dm);
                }
                let alpha = dt / (g.derivative_tau + dt);
                self.rate += alpha * (dm / dt - self.rate);
            }
            self.prev = measurement;
            self.primed = true;
        }
        let lim = g.output_limit[i];
        let unsaturated = feed_forward + g.kp[i] * error + self.integral - g.kd[i] * self.rate;
        let out = unsaturated.clamp(-lim, lim);
        // Conditional integration: hold the integral while the output is
        // saturated and the error would drive it further out.
        let pushing_out = (unsaturated > lim && error > 0.0) || (unsaturated < -lim && error < 0.0);
        if dt > 0.0 && !pushing_out {
            let il = g.integral_limit[i];
            self.integral = (self.integral + g.ki[i] * error * dt).clamp(-il, il);
        }
        out
    }
}

/// Three axes of one stage.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Stage {
    axes: [Axis; 3],
}

impl Stage {
    fn update(
        &mut self,
        error: [f64; 3],
        measurement: [f64; 3],
        feed_forward: [f64; 3],
        dt: f64,
        g: &StageGains,
        angular: bool,
    ) -> [f64; 3] {
        let mut out = [0.0; 3];
        for i in 0..3 {
            out[i] =
                self.axes[i].update(error[i], measurement[i], feed_forward[i], dt, g, i, angular);
        }
        out
    }

    fn integrals(&self) -> [f64; 3] {
        [
            self.axes[0].integral,
            self.axes[1].integral,
            self.axes[2].integral,
        ]
    }
}

fn sub(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

fn finite(v: &[f64]) -> bool {
    v.iter().all(|x| x.is_finite())
}

/// The integrators of each stage (their contributions, in output units), for
/// inspection and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Integrals {
    /// Position stage, m/s.
    pub position: [f64; 3],
    /// Velocity stage, m/s².
    pub velocity: [f64; 3],
    /// Attitude stage, rad/s.
    pub attitude: [f64; 3],
    /// Body-rate stage, rad/s.
    pub rate: [f64; 3],
}

/// The cascaded PID controller. See the module docs.
#[derive(Clone, Debug, PartialEq)]
pub struct Controller {
    config: Config,
    position: Stage,
    velocity: Stage,
    attitude: Stage,
    rate: Stage,
}

impl Controller {
    /// A controller with zeroed state; validates `config`.
    pub fn new(config: Config) -> Result<Self, Error> {
        config.validate()?;
        Ok(Controller {
            config,
            position: Stage::default(),
            velocity: Stage::default(),
            attitude: Stage::default(),
            rate: Stage::default(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Replaces the gains (validated); integrators are kept but re-clamped
    /// to the new limits.
    pub fn set_gains(&mut self, gains: Gains) -> Result<(), Error> {
        let config = Config {
            gains,
            ..self.config
        };
        config.validate()?;
        self.config = config;
        for (stage, g) in [
            (&mut self.position, &gains.position),
            (&mut self.velocity, &gains.velocity),
            (&mut self.attitude, &gains.attitude),
            (&mut self.rate, &gains.rate),
        ] {
            for (i, a) in stage.axes.iter_mut().enumerate() {
                a.integral = a.integral.clamp(-g.integral_limit[i], g.integral_limit[i]);
            }
        }
        Ok(())
    }

    /// Clears integrators and derivative filters.
    pub fn reset(&mut self) {
        self.position = Stage::default();
        self.velocity = Stage::default();
        self.attitude = Stage::default();
        self.rate = Stage::default();
    }

    /// The integrators' current contributions.
    pub fn integrals(&self) -> Integrals {
        Integrals {
            position: self.position.integrals(),
            velocity: self.velocity.integrals(),
            attitude: self.attitude.integrals(),
            rate: self.rate.integrals(),
        }
    }

    fn hover(&self, sp: &Setpoint) -> f64 {
        if sp.thrust > 0.0 {
            sp.thrust
        } else {
            self.config.mass * self.config.gravity
        }
    }

    /// One control step over `dt` seconds. Allocates nothing, never panics.
    pub fn step(&mut self, state: &FastDroneState, setpoint: &Setpoint, dt: f64) -> Command {
        let c = self.config;
        let g = &c.gains;
        let inputs_ok = finite(&state.position)
            && finite(&state.velocity)
            && finite(&state.attitude)
            && finite(&state.angular_velocity)
            && finite(&setpoint.position)
            && finite(&setpoint.velocity)
            && finite(&setpoint.attitude)
            && finite(&setpoint.angular_velocity)
            && setpoint.thrust.is_finite();
        if !inputs_ok {
            return Command {
                timestamp: state.timestamp,
                thrust: self.hover(setpoint).clamp(0.0, c.max_thrust),
                ..Command::default()
            };
        }
        let dt = if dt.is_finite() && dt > 0.0 { dt } else { 0.0 };

        // 1. Position → velocity setpoint.
        let vel_sp = self.position.update(
            sub(setpoint.position, state.position),
            state.position,
            setpoint.velocity,
            dt,
            &g.position,
            false,
        );
        // 2. Velocity → acceleration → desired force, tilt-limited.
        let acc = self.velocity.update(
            sub(vel_sp, state.velocity),
            state.velocity,
            [0.0; 3],
            dt,
            &g.velocity,
            false,
        );
        let mut f = [
            c.mass * acc[0],
            c.mass * acc[1],
            c.mass * acc[2] + self.hover(setpoint),
        ];
        f[2] = f[2].max(0.1 * c.mass * c.gravity);
        let horizontal = f[0].hypot(f[1]);
        let max_horizontal = f[2] * c.max_tilt.tan();
        if horizontal > max_horizontal {
            let s = max_horizontal / horizontal;
            f[0] *= s;
            f[1] *= s;
        }
        // 3. Force direction + yaw → roll/pitch setpoints; thrust on body z.
        let yaw_sp = setpoint.attitude[2];
        let (sy, cy) = yaw_sp.sin_cos();
        let fx = cy * f[0] + sy * f[1];
        let fy = -sy * f[0] + cy * f[1];
        let pitch_sp = (fx.atan2(f[2]) + setpoint.attitude[1]).clamp(-c.max_tilt, c.max_tilt);
        let roll_sp =
            ((-fy).atan2(fx.hypot(f[2])) + setpoint.attitude[0]).clamp(-c.max_tilt, c.max_tilt);
        let [roll, pitch, yaw] = state.attitude;
        let (sr, cr) = roll.sin_cos();
        let (sp_, cp) = pitch.sin_cos();
        let (sw, cw) = yaw.sin_cos();
        let b3 = [cw * cr * sp_ + sw * sr, sw * cr * sp_ - cw * sr, cr * cp];
        let thrust = (f[0] * b3[0] + f[1] * b3[1] + f[2] * b3[2]).clamp(0.0, c.max_thrust);
        // 4. Attitude → Euler rates → body rates (+ feed-forward).
        let att_err = [
            wrap_angle(roll_sp - roll),
            wrap_angle(pitch_sp - pitch),
            wrap_angle(yaw_sp - yaw),
        ];
        let euler_rate =
            self.attitude
                .update(att_err, state.attitude, [0.0; 3], dt, &g.attitude, true);
        let [dr, dp, dy] = euler_rate;
        let lim = g.rate.output_limit;
        let rate_sp = [
            (dr - sp_ * dy + setpoint.angular_velocity[0]).clamp(-lim[0], lim[0]),
            (cr * dp + sr * cp * dy + setpoint.angular_velocity[1]).clamp(-lim[1], lim[1]),
            (-sr * dp + cr * cp * dy + setpoint.angular_velocity[2]).clamp(-lim[2], lim[2]),
        ];
        // 5. Body-rate correction, the rate setpoint as feed-forward.
        let rates = self.rate.update(
            sub(rate_sp, state.angular_velocity),
            state.angular_velocity,
            rate_sp,
            dt,
            &g.rate,
            false,
        );
        Command {
            timestamp: state.timestamp,
            thrust,
            roll_rate: rates[0],
            pitch_rate: rates[1],
            yaw_rate: rates[2],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_angle_wraps() {
        use std::f64::consts::PI;
        assert!((wrap_angle(3.0 * PI / 2.0) + PI / 2.0).abs() < 1e-12);
        assert!((wrap_angle(-3.0 * PI / 2.0) - PI / 2.0).abs() < 1e-12);
        assert!((wrap_angle(PI) - PI).abs() < 1e-12);
        assert!((wrap_angle(-PI) - PI).abs() < 1e-12);
        assert!((wrap_angle(0.1) - 0.1).abs() < 1e-12);
    }

    #[test]
    fn command_is_plain_data() {
        let c = Command {
            timestamp: 1.0,
            thrust: 9.81,
            roll_rate: 0.1,
            pitch_rate: -0.2,
            yaw_rate: 0.3,
        };
        let bytes: &[u8] = bytemuck::bytes_of(&c);
        assert_eq!(bytes.len(), 40);
        assert_eq!(*bytemuck::from_bytes::<Command>(bytes), c);
    }

    #[test]
    fn hovering_at_the_setpoint_commands_hover_thrust_and_no_rates() {
        let mut ctl = Controller::new(Config::default()).unwrap();
        let cmd = ctl.step(&FastDroneState::default(), &Setpoint::default(), 0.001);
        assert!((cmd.thrust - 9.81).abs() < 1e-9);
        assert_eq!([cmd.roll_rate, cmd.pitch_rate, cmd.yaw_rate], [0.0; 3]);
    }

    #[test]
    fn a_setpoint_ahead_in_x_pitches_forward_and_in_y_rolls_left() {
        // z up, thrust along body z: +x needs positive pitch, +y negative roll.
        let mut ctl = Controller::new(Config::default()).unwrap();
        let sp = Setpoint {
            position: [1.0, 0.0, 0.0],
            ..Setpoint::default()
        };
        let cmd = ctl.step(&FastDroneState::default(), &sp, 0.001);
        assert!(
            cmd.pitch_rate > 0.0 && cmd.roll_rate.abs() < 1e-12,
            "{cmd:?}"
        );
        ctl.reset();
        let sp = Setpoint {
            position: [0.0, 1.0, 0.0],
            ..Setpoint::default()
        };
        let cmd = ctl.step(&FastDroneState::default(), &sp, 0.001);
        assert!(
            cmd.roll_rate < 0.0 && cmd.pitch_rate.abs() < 1e-12,
            "{cmd:?}"
        );
    }

    #[test]
    fn bad_inputs_and_config_do_not_panic() {
        let mut ctl = Controller::new(Config::default()).unwrap();
        let bad = FastDroneState {
            position: [f64::NAN, 0.0, 0.0],
            ..FastDroneState::default()
        };
        let cmd = ctl.step(&bad, &Setpoint::default(), 0.001);
        assert!((cmd.thrust - 9.81).abs() < 1e-9);
        assert_eq!(ctl.integrals(), Integrals::default());
        let cmd = ctl.step(&FastDroneState::default(), &Setpoint::default(), f64::NAN);
        assert!(cmd.thrust.is_finite());
        let c = Config {
            mass: 0.0,
            ..Config::default()
        };
        assert!(matches!(
            Controller::new(c),
            Err(Error::InvalidArgument { name: "mass", .. })
        ));
        let mut gains = Gains::default();
        gains.velocity.ki[1] = -1.0;
        assert!(ctl.set_gains(gains).is_err());
    }

    use crate::control::sim::Vehicle;

    /// Flies `v` under `ctl` for `secs` at 1 kHz; returns the largest distance
    /// to `target` over the last second.
    fn fly(ctl: &mut Controller, v: &mut Vehicle, sp: &Setpoint, secs: f64) -> f64 {
        let dt = 0.001;
        let n = (secs / dt).round() as usize;
        let mut worst_last_second: f64 = 0.0;
        for i in 0..n {
            let cmd = ctl.step(&v.measurement(), sp, dt);
            v.step(&cmd, dt);
            if i + 1000 >= n {
                let target = nalgebra::Vector3::from(sp.position);
                worst_last_second = worst_last_second.max((v.position - target).norm());
            }
        }
        worst_last_second
    }

    #[test]
    fn flies_to_a_setpoint_and_settles_within_5_cm_in_10_s() {
        let mut ctl = Controller::new(Config::default()).unwrap();
        let mut v = Vehicle::new(1.0, 9.81);
        let sp = Setpoint {
            position: [1.0, 2.0, 3.0],
            attitude: [0.0, 0.0, 0.5],
            ..Setpoint::default()
        };
        let err = fly(&mut ctl, &mut v, &sp, 10.0);
        assert!(err < 0.05, "still {err} m away over the last second");
        let yaw = v.measurement().attitude[2];
        assert!((yaw - 0.5).abs() < 0.01, "yaw {yaw}");
    }

    #[test]
    fn integral_removes_the_steady_state_error_of_a_constant_disturbance() {
        let sp = Setpoint {
            position: [0.0, 0.0, 1.0],
            ..Setpoint::default()
        };
        let disturbance = [1.0, -0.8, -1.5]; // N: wind and an unmodelled payload
                                             // Without integral action the error stays.
        let mut gains = Gains::default();
        gains.velocity.ki = [0.0; 3];
        let mut ctl = Controller::new(Config {
            gains,
            ..Config::default()
        })
        .unwrap();
        let mut v = Vehicle::new(1.0, 9.81);
        v.disturbance = disturbance;
        let err_p = fly(&mut ctl, &mut v, &sp, 20.0);
        assert!(err_p > 0.2, "proportional only: {err_p} m");
        // With it (defaults) the error goes.
        let mut ctl = Controller::new(Config::default()).unwrap();
        let mut v = Vehicle::new(1.0, 9.81);
        v.disturbance = disturbance;
        let err_pi = fly(&mut ctl, &mut v, &sp, 20.0);
        assert!(err_pi < 0.01, "with integral: {err_pi} m");
        // The velocity integrator holds the disturbance's acceleration.
        let i = ctl.integrals().velocity;
        assert!(
            (i[0] + 1.0).abs() < 0.05 && (i[1] - 0.8).abs() < 0.05 && (i[2] - 1.5).abs() < 0.05,
            "{i:?}"
        );
    }

    #[test]
    fn anti_windup_bounds_the_integral_and_holds_it_in_saturation() {
        let mut ctl = Controller::new(Config::default()).unwrap();
        let g = Gains::default();
        // The vehicle never moves: an unreachable setpoint, a saturated loop.
        let stuck = FastDroneState::default();
        let sp = Setpoint {
            position: [100.0, -100.0, 100.0],
            ..Setpoint::default()
        };
        for _ in 0..100_000 {
            ctl.step(&stuck, &sp, 0.001);
        }
        let i = ctl.integrals();
        for k in 0..3 {
            assert!(
                i.velocity[k].abs() <= g.velocity.integral_limit[k] + 1e-12,
                "{i:?}"
            );
            assert!(
                i.position[k].abs() <= g.position.integral_limit[k] + 1e-12,
                "{i:?}"
            );
        }
        // Conditional integration: with a large integral limit, the velocity
        // integrator stops growing once the stage saturates.
        let mut gains = Gains::default();
        gains.velocity.integral_limit = [1e6; 3];
        let mut ctl = Controller::new(Config {
            gains,
            ..Config::default()
        })
        .unwrap();
        for _ in 0..100_000 {
            ctl.step(&stuck, &sp, 0.001);
        }
        let i = ctl.integrals().velocity;
        for k in 0..3 {
            // The P term alone saturates at once (kp·3 m/s > 6 m/s² needs
            // kp > 2), so the integral never grows beyond one step's worth.
            assert!(
                i[k].abs() <= gains.velocity.ki[k] * 3.0 * 0.001 + 1e-9,
                "{i:?}"
            );
        }
    }
}
