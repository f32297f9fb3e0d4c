//! A user's own Rust control loop reading state that another process
//! (a Python estimator, say) publishes into shared memory, and publishing
//! its commands back the same way.
//!
//! ```text
//! cargo run --release --example shared_controller -- \
//!     [--state drone1/fast_state] [--command drone1/command] \
//!     [--rate 200] [--duration 5] [--target 0,0,-10]
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

struct Args {
    state: String,
    command: String,
    rate: f64,
    duration: f64,
    target: [f64; 3],
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        state: "drone1/fast_state".into(),
        command: "drone1/command".into(),
        rate: 200.0,
        duration: 5.0,
        target: [0.0, 0.0, -10.0],
    };
    let mut it = std::env::args().skip(1);
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

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
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
    let last = commands.peek();
    println!(
        "shared_controller: {} ticks, {} commands, state version {}, lost {}, last thrust {:.2} N",
        stats.iteration_count,
        commands.version(),
        state.version(),
        reader.lost(),
        last.map_or(0.0, |c| c.state.thrust)
    );
    Ok(())
}
