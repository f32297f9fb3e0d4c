//! A user's own Rust control loop reading state that another process
//! (a Python estimator, say) publishes into shared memory, and publishing
//! its commands back the same way.
//!
//! ```text
//! cargo run --release --example shared_controller -- \
//!     [--state drone1/fast_state] [--command drone1/command] \
//!     [--rate 200] [--duration 5] [--target 0,0,2]
//! ```
//!
//! It waits (up to 30 s) for the state buffer to appear, creates the
//! command buffer (a `Command` per tick, layout recorded in its header, so
//! Python reads it with `rtstate.open_shared("drone1/command")`), and runs a
//! cascaded PID on the latest state at a fixed rate. `rtstate top` shows both
//! buffers while it runs.

use rtstate::control::pid::{Command, Config, Controller, Setpoint};
use rtstate::control::{ControlLoop, Flow, LoopConfig, Tick};
use rtstate::{Error, FastDroneState, SlotRing, Source};
use std::time::{Duration, Instant};

/// What the loop did.
#[derive(Debug)]
pub struct Summary {
    /// Ticks run.
    pub ticks: u64,
    /// Commands published (the command buffer's version).
    pub commands: u64,
    /// The state buffer's version at the end.
    pub state_version: u64,
    /// State versions the loop never read.
    pub lost: u64,
}

struct Args {
    state: String,
    command: String,
    rate: f64,
    duration: f64,
    target: [f64; 3],
}

fn parse_args(argv: &[String]) -> Result<Args, String> {
    let mut args = Args {
        state: "drone1/fast_state".into(),
        command: "drone1/command".into(),
        rate: 200.0,
        duration: 5.0,
        target: [0.0, 0.0, 2.0],
    };
    let mut it = argv.iter().cloned();
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--state" => args.state = value()?,
            "--command" => args.command = value()?,
            "--rate" => args.rate = value()?.parse().map_err(|e| format!("--rate: {e}"))?,
            "--duration" => {
                args.duration = value()?.parse().map_err(|e| format!("--duration: {e}"))?
            }
            "--target" => {
                let v: Vec<f64> = value()?
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()
                    .map_err(|e| format!("--target: {e}"))?;
                args.target = v
                    .try_into()
                    .map_err(|_| "--target: give x,y,z".to_string())?;
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(args)
}

/// Runs the example with `std::env::args()`.
pub fn main() -> Result<(), Box<dyn std::error::Error>> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let s = run(&argv)?;
    println!(
        "shared_controller: {} ticks, {} commands, state version {}, lost {}",
        s.ticks, s.commands, s.state_version, s.lost
    );
    Ok(())
}

/// Runs the loop with command-line style arguments.
pub fn run(argv: &[String]) -> Result<Summary, Box<dyn std::error::Error>> {
    let args = parse_args(argv)?;
    // The estimator may start after us: wait for its buffer.
    let deadline = Instant::now() + Duration::from_secs(30);
    let state = loop {
        match SlotRing::<FastDroneState>::open_shared(&args.state) {
            Ok(ring) => break ring,
            Err(Error::Shared(e)) if Instant::now() < deadline => {
                eprintln!("waiting for {}: {e}", args.state);
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => return Err(e.into()),
        }
    };
    let commands = SlotRing::<Command>::create_shared(&args.command, 16)?;
    let source = Source::intern("rust-controller");
    let mut reader = state.reader();
    let mut controller = Controller::new(Config::default())?;
    let setpoint = Setpoint {
        position: args.target,
        ..Setpoint::default()
    };
    let dt = 1.0 / args.rate;
    let ticks = (args.duration * args.rate).round() as u64;
    let mut control = ControlLoop::new(LoopConfig::from_rate_hz(args.rate)?, |_t: &Tick| {
        // The latest whole state (no lock, no syscall); `lost` counts the
        // estimates this loop skipped.
        if let Some(s) = reader.read() {
            let command = controller.step(&s.state, &setpoint, dt);
            // Never blocks: a command buffer has one writer, this loop.
            let _ = commands.publish(command, source);
        }
        Ok(Flow::Continue)
    })?;
    let stats = control.run_for(ticks)?;
    drop(control);
    Ok(Summary {
        ticks: stats.iteration_count,
        commands: commands.version(),
        state_version: state.version(),
        lost: reader.lost(),
    })
}
