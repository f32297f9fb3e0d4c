//! A tiny multirotor simulation for trying controllers: a rigid body moved
//! by a collective thrust along body z, gravity, a constant disturbance force
//! and linear drag, whose body rates follow the commanded rates through a
//! first-order lag (the vehicle's own rate loop). Conventions as in
//! [`pid`](super::pid): world z up, thrust along body +z.
//!
//! There is no ground, no motor model and no rotational dynamics beyond the
//! rate lag: enough to check a position controller, not to certify one.

use super::pid::Command;
use super::{Flow, Tick, TickResult};
use crate::sync::{lock, Arc, Mutex};
use crate::{FastDroneState, SlotRing, Source};
use nalgebra::{UnitQuaternion, Vector3};

/// The simulated vehicle. Adjust the public fields, then call
/// [`step`](Self::step) with each command.
#[derive(Clone, Debug, PartialEq)]
pub struct Vehicle {
    /// Mass, kg.
    pub mass: f64,
    /// Gravity, m/s² (along −z).
    pub gravity: f64,
    /// Time constant of the body-rate response to a commanded rate, s.
    pub rate_time_constant: f64,
    /// A constant external force in the world frame, N (wind, payload).
    pub disturbance: [f64; 3],
    /// Linear drag, N per m/s.
    pub drag: f64,
    /// Simulated time, s.
    pub time: f64,
    /// World position, m.
    pub position: Vector3<f64>,
    /// World velocity, m/s.
    pub velocity: Vector3<f64>,
    /// Body → world rotation.
    pub attitude: UnitQuaternion<f64>,
    /// Body rates, rad/s.
    pub angular_velocity: Vector3<f64>,
}

impl Vehicle {
    /// A vehicle at rest, level, at the origin: `mass` kg under `gravity`,
    /// rate time constant 30 ms, no disturbance, no drag.
    pub fn new(mass: f64, gravity: f64) -> Self {
        Vehicle {
            mass,
            gravity,
            rate_time_constant: 0.03,
            disturbance: [0.0; 3],
            drag: 0.0,
            time: 0.0,
            position: Vector3::zeros(),
            velocity: Vector3::zeros(),
            attitude: UnitQuaternion::identity(),
            angular_velocity: Vector3::zeros(),
        }
    }

    /// Advances the simulation by `dt` seconds under `command`
    /// (semi-implicit Euler; use dt ≤ a few ms). A non-finite or
    /// non-positive `dt` does nothing.
    pub fn step(&mut self, command: &Command, dt: f64) {
        if !(dt.is_finite() && dt > 0.0) {
            return;
        }
        let cmd = Vector3::new(command.roll_rate, command.pitch_rate, command.yaw_rate);
        let alpha = (dt / self.rate_time_constant.max(dt)).min(1.0);
        self.angular_velocity += (cmd - self.angular_velocity) * alpha;
        self.attitude *= UnitQuaternion::from_scaled_axis(self.angular_velocity * dt);
        let thrust = self.attitude * Vector3::z() * command.thrust.max(0.0);
        let force = thrust + Vector3::from(self.disturbance) - self.velocity * self.drag;
        let accel = force / self.mass - Vector3::z() * self.gravity;
        self.velocity += accel * dt;
        self.position += self.velocity * dt;
        self.time += dt;
    }

    /// The vehicle's state as the controller reads it.
    pub fn measurement(&self) -> FastDroneState {
        let (roll, pitch, yaw) = self.attitude.euler_angles();
        FastDroneState {
            timestamp: self.time,
            position: self.position.into(),
            velocity: self.velocity.into(),
            attitude: [roll, pitch, yaw],
            angular_velocity: self.angular_velocity.into(),
        }
    }
}

/// The longest simulated step within one tick, s.
const MAX_SUBSTEP: f64 = 0.001;
/// The longest simulated time one tick advances, s (a stalled loop does not
/// make the vehicle jump).
const MAX_TICK: f64 = 0.05;

/// A [`Vehicle`] shared between a loop that flies it and any number of
/// observers. Cloning gives another handle on the same vehicle.
///
/// The vehicle sits behind a mutex held only for a step or a read, never
/// across a wait or foreign code.
#[derive(Clone, Debug)]
pub struct Simulation {
    vehicle: Arc<Mutex<Vehicle>>,
}

impl Simulation {
    /// Shares `vehicle`.
    pub fn new(vehicle: Vehicle) -> Self {
        Simulation {
            vehicle: Arc::new(Mutex::new(vehicle)),
        }
    }

    /// The vehicle's state now.
    pub fn measurement(&self) -> FastDroneState {
        lock(&self.vehicle).measurement()
    }

    /// Simulated time, s.
    pub fn time(&self) -> f64 {
        lock(&self.vehicle).time
    }

    /// Advances the vehicle by `dt` under `command` (see [`Vehicle::step`]).
    pub fn step(&self, command: &Command, dt: f64) {
        lock(&self.vehicle).step(command, dt);
    }

    /// A loop tick that flies the vehicle: each tick applies the latest
    /// command in `commands`, advances by the tick's measured interval
    /// (capped at 50 ms, in substeps of at most 1 ms) and publishes the
    /// vehicle's state to `truth` if given (source `"sim"`). Before the
    /// first command the vehicle is held still.
    pub fn tick(
        &self,
        commands: SlotRing<Command>,
        truth: Option<SlotRing<FastDroneState>>,
    ) -> impl FnMut(&Tick) -> TickResult + Send + 'static {
        let vehicle = self.vehicle.clone();
        let source = Source::intern("sim");
        move |t: &Tick| {
            let Some(cmd) = commands.latest() else {
                return Ok(Flow::Continue);
            };
            let measurement = {
                let mut v = lock(&vehicle);
                let mut left = t.dt.as_secs_f64().min(MAX_TICK);
                while left > 0.0 {
                    let h = left.min(MAX_SUBSTEP);
                    v.step(&cmd.state, h);
                    left -= h;
                }
                v.measurement()
            };
            if let Some(ring) = &truth {
                ring.publish(measurement, source)
                    .map_err(|e| e.error.to_string())?;
            }
            Ok(Flow::Continue)
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn hover_thrust_holds_and_no_thrust_falls() {
        let mut v = Vehicle::new(1.0, 9.81);
        let hover = Command {
            thrust: 9.81,
            ..Command::default()
        };
        for _ in 0..1000 {
            v.step(&hover, 0.001);
        }
        assert!(v.position.norm() < 1e-9);
        let mut v = Vehicle::new(1.0, 9.81);
        for _ in 0..1000 {
            v.step(&Command::default(), 0.001);
        }
        assert!((v.position.z + 0.5 * 9.81).abs() < 0.01, "{}", v.position.z);
    }

    #[test]
    fn a_positive_pitch_rate_tilts_thrust_towards_plus_x() {
        let mut v = Vehicle::new(1.0, 9.81);
        let cmd = Command {
            thrust: 12.0,
            pitch_rate: 0.5,
            ..Command::default()
        };
        for _ in 0..200 {
            v.step(&cmd, 0.001);
        }
        let m = v.measurement();
        assert!(m.attitude[1] > 0.0 && m.velocity[0] > 0.0, "{m:?}");
    }

    #[test]
    fn the_tick_applies_the_latest_command_and_publishes_the_truth() {
        let sim = Simulation::new(Vehicle::new(1.0, 9.81));
        let commands = SlotRing::<Command>::new(4).unwrap();
        let truth = SlotRing::<FastDroneState>::new(4).unwrap();
        let mut tick = sim.tick(commands.clone(), Some(truth.clone()));
        let t = Tick {
            index: 0,
            iteration: 0,
            deadline_ns: 0,
            now_ns: 0,
            lateness: std::time::Duration::ZERO,
            dt: std::time::Duration::from_millis(10),
        };
        // No command yet: held still, nothing published.
        assert_eq!(tick(&t), Ok(Flow::Continue));
        assert_eq!(truth.version(), 0);
        assert_eq!(sim.time(), 0.0);
        commands
            .publish(Command::default(), Source::intern("test"))
            .unwrap();
        assert_eq!(tick(&t), Ok(Flow::Continue));
        assert_eq!(truth.version(), 1);
        assert!((sim.time() - 0.01).abs() < 1e-12, "{}", sim.time());
        // No thrust: it falls (world z up).
        assert!(truth.latest().unwrap().state.velocity[2] < 0.0);
    }
}
