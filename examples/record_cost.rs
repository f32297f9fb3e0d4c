//! What a recorder costs the writer, measured in one run (feature
//! `record`): `cargo run --release --features record --example record_cost`.
//!
//! 1. The median cost of one publish of a whole `FastDroneState` into a
//!    slot ring with one subscription drained by a thread, and with a
//!    `Recorder` attached instead (which drains one subscription and writes
//!    MCAP on its own thread); blocks of the two alternate, medians of the
//!    per-block means.
//! 2. Ten buffers published at 1 kHz each for two seconds, recorded: the
//!    drops (expected 0).
//! 3. The recorder's write cost per message (JSON encoding and MCAP
//!    framing, measured as the whole recording's time over its messages)
//!    beside the `mcap` crate's raw write of the state's bytes.

use rtstate::record::{Recorder, RecorderOptions};
use rtstate::{FastDroneState, Policy, SlotRing, Source};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const BLOCK: usize = 2000;
const BLOCKS: usize = 60;

fn state(i: usize) -> FastDroneState {
    let x = i as f64;
    FastDroneState {
        timestamp: 1.7e9 + x * 1e-3,
        position: [x, -x, 1.0],
        velocity: [0.1; 3],
        attitude: [0.0, 0.0, x * 1e-3],
        angular_velocity: [0.0; 3],
    }
}

fn block(ring: &SlotRing<FastDroneState>, source: Source, start: usize) -> f64 {
    let t = Instant::now();
    for i in start..start + BLOCK {
        black_box(ring.publish(black_box(state(i)), source).unwrap());
        // A 1 kHz-ish writer would not publish back to back; a short pause
        // lets the consumer keep up in both setups alike.
        if i % 64 == 0 {
            std::thread::yield_now();
        }
    }
    t.elapsed().as_nanos() as f64 / BLOCK as f64
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("rtstate-record-cost-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let source = Source::intern("bench");

    // 1. One subscription drained by a thread (polling with try_recv and a
    // 1 ms sleep when empty, as the recorder drains; a blocking consumer
    // would make every publish pay a futex wake) vs a recorder.
    let sub_ring = SlotRing::<FastDroneState>::new(8)?;
    let sub = sub_ring.subscribe(1024, Policy::DropOldest)?;
    let stop = Arc::new(AtomicBool::new(false));
    let consumer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let mut any = false;
                while let Ok(s) = sub.try_recv() {
                    black_box(s);
                    n += 1;
                    any = true;
                }
                if !any {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            (n, sub.counters().dropped)
        })
    };
    let rec_ring = SlotRing::<FastDroneState>::new(8)?;
    let path = dir.join("cost.mcap");
    let mut recorder = Recorder::builder(&path)
        .options(RecorderOptions {
            foxglove: false,
            ..RecorderOptions::default()
        })
        .buffer("d", &rec_ring)?
        .start()?;
    let (mut with_sub, mut with_rec) = (Vec::new(), Vec::new());
    let mut i = 0;
    for _ in 0..BLOCKS {
        with_sub.push(block(&sub_ring, source, i));
        with_rec.push(block(&rec_ring, source, i));
        i += BLOCK;
    }
    stop.store(true, Ordering::Relaxed);
    let (consumed, sub_dropped) = consumer.join().unwrap();
    let t = Instant::now();
    let stats = recorder.stop()?;
    let drain = t.elapsed();
    let (s, r) = (median(with_sub), median(with_rec));
    println!("publish, one subscription drained by a thread: {s:.1} ns (median of {BLOCKS} blocks of {BLOCK}; consumer got {consumed}, dropped {sub_dropped})");
    println!(
        "publish, recorder attached:                    {r:.1} ns (recorded {}, dropped {})",
        stats.recorded(),
        stats.dropped()
    );
    println!("ratio recorder / subscription: {:.2}", r / s);
    println!("(recorder stop after the run: {drain:?})");

    // 2. Ten buffers at 1 kHz for 2 s.
    let rings: Vec<SlotRing<FastDroneState>> = (0..10)
        .map(|_| SlotRing::new(8))
        .collect::<Result<_, _>>()?;
    let mut b = Recorder::builder(dir.join("ten.mcap"));
    for (k, ring) in rings.iter().enumerate() {
        b = b.buffer(&format!("drone{k}"), ring)?;
    }
    let mut recorder = b.start()?;
    let t0 = Instant::now();
    let mut n = 0usize;
    while t0.elapsed() < Duration::from_secs(2) {
        for ring in &rings {
            ring.publish(state(n), source)?;
        }
        n += 1;
        let due = t0 + Duration::from_micros(1000 * n as u64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    let stats = recorder.stop()?;
    println!(
        "10 buffers at 1 kHz for 2 s: {} publishes, recorded {}, dropped {}",
        n * 10,
        stats.recorded(),
        stats.dropped()
    );

    // 3. Write cost per message: the recorder's whole path vs raw mcap.
    let ring = SlotRing::<FastDroneState>::new(8)?;
    let mut recorder = Recorder::builder(dir.join("write.mcap"))
        .options(RecorderOptions {
            queue: 1 << 20,
            poll_interval: Duration::from_secs(3600),
            foxglove: false,
        })
        .buffer("d", &ring)?
        .start()?;
    const M: usize = 200_000;
    std::thread::sleep(Duration::from_millis(20)); // the thread's first pass found nothing and sleeps
    for k in 0..M {
        ring.publish(state(k), source)?;
    }
    let t = Instant::now();
    let stats = recorder.stop()?; // drains and writes all M
    let rec_ns = t.elapsed().as_nanos() as f64 / stats.recorded() as f64;
    let t = Instant::now();
    {
        let file = std::io::BufWriter::new(std::fs::File::create(dir.join("raw.mcap"))?);
        let mut w = mcap::Writer::new(file)?;
        let ch = w.add_channel(0, "d", "raw", &Default::default())?;
        for k in 0..M {
            let s = state(k);
            let header = mcap::records::MessageHeader {
                channel_id: ch,
                sequence: k as u32,
                log_time: k as u64,
                publish_time: k as u64,
            };
            w.write_to_known_channel(&header, bytemuck::bytes_of(&s))?;
        }
        w.finish()?;
    }
    let raw_ns = t.elapsed().as_nanos() as f64 / M as f64;
    println!("write per message: recorder (JSON + MCAP) {rec_ns:.0} ns, mcap crate raw bytes {raw_ns:.0} ns ({} recorded, {} dropped)", stats.recorded(), stats.dropped());
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
