//! Measures a reader's `read()` on a `FastDroneState` buffer written at
//! 1 kHz: in-process (`SlotRing`, writer thread) against cross-process
//! (`SharedRing`, writer in a child process), in the same run. Prints the
//! median ns per read over batches, and their ratio. Every read's whole
//! snapshot goes through `black_box`.
//!
//! ```text
//! cargo run --release --example shm_read_cost
//! ```

use rtstate::shm::SharedRing;
use rtstate::{FastDroneState, SlotRing, Source};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const BATCH: usize = 20_000;
const BATCHES: usize = 41;

fn median_ns<R>(mut read: impl FnMut() -> R) -> f64 {
    let mut per_read: Vec<f64> = (0..BATCHES)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..BATCH {
                black_box(read());
            }
            t.elapsed().as_nanos() as f64 / BATCH as f64
        })
        .collect();
    per_read.sort_by(f64::total_cmp);
    per_read[BATCHES / 2]
}

fn state(i: u64) -> FastDroneState {
    let x = i as f64;
    FastDroneState::new(x, [x; 3], [x; 3], [0.0; 3], [0.0; 3]).unwrap()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("rtstate-read-cost-{}", std::process::id()));
    if std::env::var_os("RTSTATE_READ_COST_CHILD").is_some() {
        // The child: the cross-process writer, 1 kHz until killed.
        let ring = SharedRing::<FastDroneState>::create_in(
            &std::path::PathBuf::from(std::env::var("RTSTATE_SHM_DIR")?),
            "cost",
            5,
            Default::default(),
        )?;
        let source = Source::intern("writer");
        for i in 1.. {
            ring.publish(state(i), source).map_err(|e| e.error)?;
            std::thread::sleep(Duration::from_millis(1));
        }
        return Ok(());
    }
    std::fs::create_dir_all(&dir)?;

    // In-process: writer thread at 1 kHz.
    let ring = SlotRing::<FastDroneState>::new(5)?;
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (ring, stop) = (ring.clone(), Arc::clone(&stop));
        std::thread::spawn(move || {
            let source = Source::intern("writer");
            let mut i = 1;
            while !stop.load(Ordering::Relaxed) {
                ring.publish(state(i), source).unwrap();
                i += 1;
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };
    let mut reader = ring.reader();
    while ring.version() == 0 {
        std::thread::yield_now();
    }
    let in_process = median_ns(|| reader.read());
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();

    // Cross-process: writer in a child process at 1 kHz.
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .env("RTSTATE_READ_COST_CHILD", "1")
        .env("RTSTATE_SHM_DIR", &dir)
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let shared = loop {
        match SharedRing::<FastDroneState>::open_in(&dir, "cost") {
            Ok(r) if r.version() > 0 => break r,
            _ if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(e.into()),
            Ok(_) => return Err("the writer never published".into()),
        }
    };
    let mut shared_reader = shared.reader();
    let cross_process = median_ns(|| shared_reader.read());
    let latest = median_ns(|| shared.latest());
    child.kill()?;
    child.wait()?;
    drop(shared_reader);
    drop(shared);
    std::fs::remove_dir_all(&dir)?;

    println!("in-process Reader::read        {in_process:8.1} ns (median of {BATCHES} x {BATCH})");
    println!("cross-process Reader::read       {cross_process:6.1} ns");
    println!("cross-process SharedRing::latest {latest:6.1} ns");
    println!(
        "ratio cross/in-process read      {:6.2}",
        cross_process / in_process
    );
    Ok(())
}
