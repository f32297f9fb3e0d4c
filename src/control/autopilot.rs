//! [`Autopilot`]: the built-in cascaded PID controller wired to buffers, as
//! a control-loop tick. It reads the vehicle state from a
//! [`SlotRing<FastDroneState>`], takes setpoints and gains from buffers that
//! any thread may publish to, and publishes thrust and body rates to a
//! command ring. Nothing on the tick path allocates or takes a lock that a
//! publisher holds.

use super::pid::{Command, Config, Controller, Gains, Setpoint};
use super::{ControlLoop, Flow, Handle, LoopConfig, Tick, TickResult};
use crate::{Error, FastDroneState, SlotRing, Source, StateBuffer, Version};

/// The buffers a running autopilot talks through. Cloning gives handles on
/// the same buffers.
#[derive(Clone, Debug)]
pub struct Autopilot {
    /// The vehicle state it reads (published by an estimator).
    pub state: SlotRing<FastDroneState>,
    /// The setpoint it tracks (the latest published).
    pub setpoint: SlotRing<Setpoint>,
    /// Gains, applied at the next tick after a publish.
    pub gains: StateBuffer<Gains>,
    /// Its output, one command per tick that had a state to act on.
    pub command: SlotRing<Command>,
    config: Config,
}

impl Autopilot {
    /// An autopilot reading `state`, with `config` (vehicle, limits and
    /// initial gains), holding the origin as setpoint until told otherwise.
    pub fn new(state: SlotRing<FastDroneState>, config: Config) -> Result<Self, Error> {
        config.validate()?;
        let autopilot = Autopilot {
            state,
            setpoint: SlotRing::new(4)?,
            gains: StateBuffer::new(2)?,
            command: SlotRing::new(16)?,
            config,
        };
        autopilot.set_setpoint(Setpoint::default())?;
        Ok(autopilot)
    }

    /// Publishes a new setpoint; a non-finite value is refused naming its
    /// field.
    pub fn set_setpoint(&self, setpoint: Setpoint) -> Result<Version, Error> {
        let fields: [(&'static str, &[f64]); 5] = [
            ("position_setpoint", &setpoint.position),
            ("velocity_setpoint", &setpoint.velocity),
            ("attitude_setpoint", &setpoint.attitude),
            ("angular_velocity_setpoint", &setpoint.angular_velocity),
            ("thrust", std::slice::from_ref(&setpoint.thrust)),
        ];
        for (field, values) in fields {
            if values.iter().any(|v| !v.is_finite()) {
                return Err(Error::NonFinite { field });
            }
        }
        Ok(self
            .setpoint
            .publish(setpoint, Source::intern("setpoint"))?)
    }

    /// Publishes new gains, checked first.
    pub fn set_gains(&self, gains: Gains) -> Result<Version, Error> {
        Config {
            gains,
            ..self.config
        }
        .validate()?;
        Ok(self.gains.publish(gains, Source::intern("gains"))?)
    }

    /// The configuration it was made with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The tick: read the latest state, pick up new gains, step the
    /// controller over the tick's measured `dt`, publish the command. A tick
    /// before the first state does nothing.
    pub fn tick(&self) -> Result<impl FnMut(&Tick) -> TickResult + Send + 'static, Error> {
        let mut controller = Controller::new(self.config)?;
        let mut state = self.state.reader();
        let mut gains = self.gains.reader();
        let setpoint = self.setpoint.clone();
        let command = self.command.clone();
        let source = Source::intern("autopilot");
        Ok(move |tick: &Tick| -> TickResult {
            if let Some(g) = gains.read_if_updated() {
                controller.set_gains(g.state).map_err(|e| e.to_string())?;
            }
            let Some(snapshot) = state.read() else {
                return Ok(Flow::Continue);
            };
            let target = setpoint.latest().map(|s| s.state).unwrap_or_default();
            let out = controller.step(&snapshot.state, &target, tick.dt.as_secs_f64());
            command
                .publish(out, source)
                .map_err(|e| e.error.to_string())?;
            Ok(Flow::Continue)
        })
    }

    /// Runs the tick on its own thread under `config`.
    pub fn spawn(&self, config: LoopConfig) -> Result<Handle, Error> {
        ControlLoop::spawn(config, self.tick()?)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::control::sim::Vehicle;
    use crate::MockClock;

    /// The autopilot, ticked on a mock clock, flies the simulated vehicle
    /// through the buffers to its setpoint.
    #[test]
    fn flies_the_sim_through_the_buffers() {
        let state = SlotRing::<FastDroneState>::checked(4).unwrap();
        let autopilot = Autopilot::new(state.clone(), Config::default()).unwrap();
        autopilot
            .set_setpoint(Setpoint {
                position: [1.0, -1.0, 2.0],
                ..Setpoint::default()
            })
            .unwrap();
        let mut vehicle = Vehicle::new(1.0, 9.81);
        let clock = MockClock::new(0.0);
        let config = LoopConfig::from_rate_hz(1000.0)
            .unwrap()
            .with_clock(clock.clock());
        let mut tick = autopilot.tick().unwrap();
        let commands = autopilot.command.clone();
        let mut ticks = ControlLoop::new(config, move |t: &Tick| {
            state
                .publish(vehicle.measurement(), Source::intern("sim"))
                .unwrap();
            let flow = tick(t)?;
            let cmd = commands.latest().unwrap().state;
            vehicle.step(&cmd, 0.001);
            Ok(flow)
        })
        .unwrap();
        let stats = ticks.run_for(8000).unwrap();
        assert_eq!(stats.errors, 0);
        let last = autopilot.state.latest().unwrap().state.position;
        let err: f64 = last
            .iter()
            .zip([1.0, -1.0, 2.0])
            .map(|(a, b)| (a - b).powi(2))
            .sum::<f64>()
            .sqrt();
        assert!(err < 0.05, "position {last:?} is {err} m from the setpoint");
        assert_eq!(autopilot.command.version(), 8000);
    }

    #[test]
    fn refuses_bad_setpoints_and_gains() {
        let state = SlotRing::<FastDroneState>::checked(4).unwrap();
        let autopilot = Autopilot::new(state, Config::default()).unwrap();
        let bad = Setpoint {
            velocity: [0.0, f64::NAN, 0.0],
            ..Setpoint::default()
        };
        assert_eq!(
            autopilot.set_setpoint(bad),
            Err(Error::NonFinite {
                field: "velocity_setpoint"
            })
        );
        let mut gains = Gains::default();
        gains.position.kp[0] = f64::INFINITY;
        assert!(matches!(
            autopilot.set_gains(gains),
            Err(Error::InvalidArgument { .. }) | Err(Error::NonFinite { .. })
        ));
    }
}
