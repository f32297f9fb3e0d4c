//! Latency of the bridge against bare Zenoh, in one run (`make zenoh-bench`):
//!
//! - **bridge**: `SlotRing::publish` on side A → the mirrored state is
//!   readable on side B (a reader on B's local ring sees the new version;
//!   the state is consumed through `black_box`);
//! - **bare zenoh**: `put` of the same bytes on A → B's subscriber callback
//!   hands them to a ring that the measuring thread waits on (the same
//!   last step as the mirror's; the state consumed through `black_box`);
//! - **publish cost**: `SlotRing::publish` with the exporter attached
//!   beside the same publish with one subscription drained by a consumer
//!   thread that blocks in `recv` as the exporter blocks in its reader's
//!   `wait` (equal work: each publish wakes its consumer thread when that
//!   thread sleeps; each consumer copies out what it takes through
//!   `black_box`).
//!
//! Two sessions in one process, peer mode over a unix socket, multicast
//! scouting off. The rows alternate in blocks so that drift hits both;
//! figures are medians (p50) and p99, with the ratio bridge / bare.
//! `RTSTATE_BENCH_N` sets the samples per row (default 5000).

use rtstate::{FastDroneState, SlotRing, Source};
use rtstate_zenoh::{Exporter, Mirror, MirrorOptions, ZenohOptions};
use std::hint::black_box;
use std::time::{Duration, Instant};
use zenoh::Wait;

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn summary(name: &str, mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    let (p50, p99) = (pct(&v, 0.5), pct(&v, 0.99));
    println!("| {name} | {:.0} | {:.0} |", p50, p99);
    (p50, p99)
}

fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let n: usize = std::env::var("RTSTATE_BENCH_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5000);
    let dir = std::env::temp_dir().join(format!("rtstate-zenoh-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let ep = format!("unixsock-stream/{}", dir.join("bench.sock").display());
    let a = ZenohOptions::loopback_peer(&[&ep], &[]).open()?;
    let b = ZenohOptions::loopback_peer(&[], &[&ep]).open()?;

    // The bridge.
    let ring = SlotRing::<FastDroneState>::new(8)?;
    let mut exporter = Exporter::new(&a, "bench")?;
    exporter.export_ring("fast_state", &ring)?;
    let local = SlotRing::<FastDroneState>::new(8)?;
    let key = "rtstate/bench/fast_state";
    let mirror = Mirror::ring(&b, key, &local, MirrorOptions::default())?;
    let src = Source::intern("bench");
    ring.publish(FastDroneState::default(), src)?;
    let (_, ok) = mirror.wait_for(Duration::from_secs(10), |s| {
        s.buffer(key).is_some_and(|b| b.remote_version >= 1)
    });
    assert!(ok, "the mirror never received the first state");
    let mut reader = local.reader();
    reader.read();

    // Bare Zenoh: the same bytes, put → subscriber callback, which hands
    // them to the measuring thread through a ring as the mirror does (both
    // rows end with the same futex wake-up of the waiting reader).
    let bare_ring = SlotRing::<FastDroneState>::new(8)?;
    let sub = {
        let bare_ring = bare_ring.clone();
        b.declare_subscriber("bare/fast_state")
            .callback(move |s| {
                let bytes = s.payload().to_bytes();
                if bytes.len() == std::mem::size_of::<FastDroneState>() {
                    let state: FastDroneState = bytemuck::pod_read_unaligned(&bytes);
                    let _ = bare_ring.publish(state, Source::UNKNOWN);
                }
            })
            .wait()?
    };
    let publisher = a.declare_publisher("bare/fast_state").wait()?;
    let mut bare_reader = bare_ring.reader();
    // Wait for the subscription to reach A.
    let deadline = Instant::now() + Duration::from_secs(10);
    while bare_ring.version() == 0 {
        publisher
            .put(bytemuck::bytes_of(&FastDroneState::default()).to_vec())
            .wait()?;
        std::thread::sleep(Duration::from_millis(10));
        assert!(
            Instant::now() < deadline,
            "the bare subscriber never got a sample"
        );
    }
    std::thread::sleep(Duration::from_millis(50));
    bare_reader.read();

    let mut bridge = Vec::with_capacity(n);
    let mut bare = Vec::with_capacity(n);
    let timeout = Duration::from_secs(5);
    let block = 100;
    let mut i = 0u64;
    while bridge.len() < n {
        for _ in 0..block {
            i += 1;
            let state = FastDroneState {
                timestamp: i as f64,
                ..Default::default()
            };
            let t0 = Instant::now();
            ring.publish(state, src)?;
            let got = reader.wait(timeout)?;
            bridge.push(t0.elapsed().as_nanos() as f64);
            black_box(got.state);
        }
        for _ in 0..block {
            i += 1;
            let state = FastDroneState {
                timestamp: i as f64,
                ..Default::default()
            };
            let t0 = Instant::now();
            publisher.put(bytemuck::bytes_of(&state).to_vec()).wait()?;
            let got = bare_reader.wait(timeout)?;
            let dt = t0.elapsed().as_nanos() as f64;
            black_box(got.state);
            bare.push(dt);
        }
    }
    drop(sub);

    // Publish cost: with the exporter attached vs with one subscription
    // whose consumer thread blocks until each event, as the exporter's
    // thread blocks in its reader's wait.
    let with_sub = SlotRing::<FastDroneState>::new(8)?;
    let subscription = with_sub.subscribe(64, rtstate::Policy::DropOldest)?;
    let consumer = std::thread::spawn(move || {
        let mut taken = 0u64;
        while let Ok(e) = subscription.recv() {
            black_box(e.state);
            taken += 1;
        }
        taken
    });
    let mut pub_bridge = Vec::with_capacity(n);
    let mut pub_sub = Vec::with_capacity(n);
    for k in 0..n {
        let state = black_box(FastDroneState {
            timestamp: k as f64,
            ..Default::default()
        });
        let t0 = Instant::now();
        ring.publish(state, src)?;
        pub_bridge.push(t0.elapsed().as_nanos() as f64);
        let t0 = Instant::now();
        with_sub.publish(state, src)?;
        pub_sub.push(t0.elapsed().as_nanos() as f64);
        // Let the exporter and the consumer drain, as a real publisher's
        // period would.
        if k % 64 == 0 {
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    with_sub.close();
    let consumed = consumer.join().expect("the consumer thread");

    println!("samples per row: {n} (FastDroneState, 104 bytes; peer mode over a unix socket)\n");
    println!("| row | p50 ns | p99 ns |\n| --- | --- | --- |");
    let (b50, b99) = summary("bridge: publish on A → mirrored version read on B", bridge);
    let (z50, z99) = summary("bare zenoh: put on A → subscriber callback on B", bare);
    let (p50, _) = summary("publish with the exporter attached", pub_bridge);
    let (s50, _) = summary("publish with one subscription", pub_sub);
    println!();
    println!(
        "bridge / bare zenoh: p50 {:.2}×, p99 {:.2}×",
        b50 / z50,
        b99 / z99
    );
    println!(
        "publish with exporter / with one subscription: p50 {:.2}×",
        p50 / s50
    );
    println!("subscription consumer took {consumed} of {n} events");
    let stats = mirror.statistics();
    let s = stats.buffer(key).unwrap();
    println!(
        "mirror: accepted {} lost {} dropped_old {}",
        s.accepted, s.lost, s.dropped_old
    );
    drop(mirror);
    drop(exporter);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
