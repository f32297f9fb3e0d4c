//! `examples/shared_controller.rs` runs as a test: a writer publishes
//! `FastDroneState`s into a shared buffer (here from a thread; in the demo,
//! from a Python process) while the example's loop reads them and publishes
//! commands that this side reads back through the buffer's layout. Its own
//! test binary, because it sets `RTSTATE_SHM_DIR` for the process.

#[path = "../examples/shared_controller.rs"]
mod shared_controller;

use rtstate::control::pid::Command;
use rtstate::{FastDroneState, SlotRing, Source};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[test]
fn the_shared_controller_example_runs_on_published_state() {
    let dir = std::env::temp_dir().join(format!("rtstate-shm-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::env::set_var("RTSTATE_SHM_DIR", &dir);
    let state = SlotRing::<FastDroneState>::create_shared("ex/fast_state", 5).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let estimator = {
        let (state, stop) = (state.clone(), Arc::clone(&stop));
        std::thread::spawn(move || {
            let source = Source::intern("estimator");
            let mut t = 0.0;
            while !stop.load(Ordering::Relaxed) {
                t += 0.001;
                let s =
                    FastDroneState::new(t, [0.0, 0.0, -9.0], [0.0; 3], [0.0; 3], [0.0; 3]).unwrap();
                state.publish(s, source).unwrap();
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };
    let args: Vec<String> = [
        "--state",
        "ex/fast_state",
        "--command",
        "ex/command",
        "--rate",
        "200",
        "--duration",
        "0.25",
    ]
    .map(String::from)
    .to_vec();
    let summary = shared_controller::run(&args).unwrap();
    stop.store(true, Ordering::Relaxed);
    estimator.join().unwrap();
    assert_eq!(summary.ticks, 50);
    assert!(
        summary.commands >= 1 && summary.commands <= 50,
        "{summary:?}"
    );
    let commands = SlotRing::<Command>::open_shared("ex/command").unwrap();
    let last = commands.peek().unwrap();
    assert_eq!(last.version, summary.commands);
    assert!(summary.state_version >= 1 && summary.lost < summary.state_version);
    // `main` is the command-line entry (the same `run` with argv).
    let _entry: fn() -> Result<(), Box<dyn std::error::Error>> = shared_controller::main;
    assert!(last.state.thrust > 0.0, "{:?}", last.state);
    assert_eq!(last.source.as_str(), "rust-controller");
    drop((state, commands));
    std::fs::remove_dir_all(&dir).unwrap();
}
