//! Publish → wake-up of a blocked reader: a ping-pong over two buffers,
//! between two threads of one process (`SlotRing`, in-process notifier)
//! and between two processes (`SharedRing`, the futex in the mapping), in
//! the same run. One-way latency = round trip / 2; prints p50 and p99.
//!
//! ```text
//! cargo run --release --example shm_wake_latency
//! ```

use rtstate::shm::SharedRing;
use rtstate::{SlotRing, Source};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const ROUNDS: u64 = 2_000;

/// The message: the round number.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
struct Ping {
    round: u64,
}
rtstate::layout!(Ping { round: u64 });
const TIMEOUT: Duration = Duration::from_secs(10);

fn percentiles(mut ns: Vec<f64>) -> (f64, f64) {
    ns.sort_by(f64::total_cmp);
    (ns[ns.len() / 2], ns[ns.len() * 99 / 100])
}

/// The echo side: waits for each ping and answers with a pong.
fn echo_shared(dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let pong = SharedRing::<Ping>::create_in(dir, "pong", 2, Default::default())?;
    let ping = loop {
        match SharedRing::<Ping>::open_in(dir, "ping") {
            Ok(p) => break p,
            Err(_) => std::thread::sleep(Duration::from_millis(1)),
        }
    };
    let source = Source::intern("echo");
    for round in 1..=ROUNDS {
        ping.wait_for_update(round - 1, TIMEOUT)?;
        pong.publish(Ping { round }, source).map_err(|e| e.error)?;
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if let Some(dir) = std::env::var_os("RTSTATE_WAKE_CHILD") {
        return echo_shared(&PathBuf::from(dir));
    }
    let source = Source::intern("ping");

    // In-process: two threads.
    let (ping, pong) = (SlotRing::<Ping>::new(2)?, SlotRing::<Ping>::new(2)?);
    let echo = {
        let (ping, pong) = (ping.clone(), pong.clone());
        std::thread::spawn(move || {
            for round in 1..=ROUNDS {
                ping.wait_for_update(round - 1, TIMEOUT).unwrap();
                pong.publish(Ping { round }, Source::UNKNOWN).unwrap();
            }
        })
    };
    let mut in_process = Vec::new();
    for round in 1..=ROUNDS {
        let t = Instant::now();
        ping.publish(Ping { round }, source).unwrap();
        pong.wait_for_update(round - 1, TIMEOUT)?;
        in_process.push(t.elapsed().as_nanos() as f64 / 2.0);
    }
    echo.join().unwrap();

    // Cross-process.
    let dir = std::env::temp_dir().join(format!("rtstate-wake-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let ping = SharedRing::<Ping>::create_in(&dir, "ping", 2, Default::default())?;
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .env("RTSTATE_WAKE_CHILD", &dir)
        .spawn()?;
    let pong = loop {
        match SharedRing::<Ping>::open_in(&dir, "pong") {
            Ok(p) => break p,
            Err(_) => std::thread::sleep(Duration::from_millis(1)),
        }
    };
    let mut cross_process = Vec::new();
    for round in 1..=ROUNDS {
        let t = Instant::now();
        ping.publish(Ping { round }, source).map_err(|e| e.error)?;
        pong.wait_for_update(round - 1, TIMEOUT)?;
        cross_process.push(t.elapsed().as_nanos() as f64 / 2.0);
    }
    child.wait()?;
    drop((ping, pong));
    std::fs::remove_dir_all(&dir)?;

    let (a50, a99) = percentiles(in_process);
    let (b50, b99) = percentiles(cross_process);
    println!("publish -> waiting reader wakes (one way, round trip / 2), {ROUNDS} rounds:");
    println!(
        "  in-process threads (notifier)   p50 {:8.1} us  p99 {:8.1} us",
        a50 / 1e3,
        a99 / 1e3
    );
    println!(
        "  two processes (futex in mapping) p50 {:7.1} us  p99 {:8.1} us",
        b50 / 1e3,
        b99 / 1e3
    );
    println!("  ratio p50 cross/in-process      {:8.2}", b50 / a50);
    Ok(())
}
