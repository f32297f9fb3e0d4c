//! An estimator thread publishes drone state at 100 Hz into a slot ring while
//! a 1 kHz controller thread reads it through a reader handle; at the end the
//! manager prints the `uorb top`-style table.
//!
//! `cargo run --release --example drone_state` (`RTSTATE_EXAMPLE_SECS` sets
//! how long; `tests/examples.rs` runs it briefly).

use rtstate::{Clock, FastDroneState, SlotRing, Source, StateBuffer, StateManager};
use std::time::{Duration, Instant};

/// Runs the example.
pub fn main() -> Result<(), rtstate::Error> {
    let seconds: f64 = std::env::var("RTSTATE_EXAMPLE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let manager = StateManager::new();
    let fast = SlotRing::<FastDroneState>::checked(5)?;
    let mode = StateBuffer::<String>::new(10)?;
    manager.register("fast_state", fast.clone())?;
    manager.register("flight_mode", mode.clone())?;
    mode.publish("takeoff".to_owned(), Source::intern("fsm"))?;

    let run_for = Duration::from_secs_f64(seconds);
    let estimator = {
        let fast = fast.clone();
        std::thread::spawn(move || -> Result<u64, rtstate::Error> {
            let source = Source::intern("estimator");
            let start = Instant::now();
            let mut published = 0;
            while start.elapsed() < run_for {
                let t = start.elapsed().as_secs_f64();
                let state = FastDroneState::new(
                    Clock::System.wall(),
                    [t.sin(), t.cos(), 1.0 + 0.1 * t],
                    [t.cos(), -t.sin(), 0.1],
                    [0.0, 0.0, t * 0.1],
                    [0.0, 0.0, 0.1],
                )?;
                fast.publish(state, source)?;
                published += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            Ok(published)
        })
    };
    let controller = {
        let fast = fast.clone();
        std::thread::spawn(move || {
            let mut reader = fast.reader();
            let (mut ticks, mut fresh, mut newest) = (0u64, 0u64, 0u64);
            let start = Instant::now();
            while start.elapsed() < run_for {
                if let Some(snap) = reader.read_if_updated() {
                    assert!(snap.version > newest, "versions only go forward");
                    newest = snap.version;
                    fresh += 1;
                }
                ticks += 1;
                std::thread::sleep(Duration::from_millis(1));
            }
            (ticks, fresh, reader.lost())
        })
    };
    let published = estimator.join().expect("estimator thread")?;
    let (ticks, fresh, lost) = controller.join().expect("controller thread");
    mode.publish("hover".to_owned(), Source::intern("fsm"))?;

    println!("estimator published {published} states; controller ticked {ticks} times, read {fresh} new states, lost {lost}");
    let latest = fast.latest().expect("published");
    println!(
        "latest: version {} from {} at position {:?}",
        latest.version, latest.source, latest.state.position
    );
    println!("\n{}", manager.table());
    Ok(())
}
