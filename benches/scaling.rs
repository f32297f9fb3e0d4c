//! How reads scale with reader threads: N readers on N cores reading a
//! `FastDroneState` while one writer publishes (every 10 µs, or flat out),
//! for the slot ring (through `latest()` and through `Reader` handles),
//! `StateBuffer`, and the peers crossbeam's `AtomicCell`, `RwLock`,
//! `Mutex`, a bare `ArcSwap`, and the bare seqlock and 8-slot stamped ring
//! of `benches/common` (`triple_buffer` has one reader, so it has no place
//! here). Every read hands the whole of what its user gets to `black_box`:
//! the full snapshot for rtstate, the full state for the peers, the full
//! snapshot-sized record for the bare ring.
//! Prints reads per second per reader and in total, medians of repeats.
//!
//! `cargo bench --bench scaling` measures N = 1, 2, 4, 8, 12, 15 readers,
//! those below the machine's core count (on 2 cores, N = 1 only).
//! `RTSTATE_SCALING_SECS` sets each measurement's length (default 0.5 s;
//! 0.05 s when run by `cargo test --all-targets`).

mod common;

use arc_swap::ArcSwap;
use common::{record, state, SeqLock, StampedRing};
use crossbeam_utils::atomic::AtomicCell;
use rtstate::{FastDroneState, SlotRing, Source, StateBuffer};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread;
use std::time::{Duration, Instant};

/// One way of sharing the state: a writer's publish and a reader's read.
trait Shared: Send + Sync + 'static {
    fn write(&self, s: FastDroneState);
    /// Returns a reader closure (so per-reader handles can be made).
    fn reader(self: &Arc<Self>) -> Box<dyn FnMut() + Send>;
}

struct Ring(SlotRing<FastDroneState>);
impl Shared for Ring {
    fn write(&self, s: FastDroneState) {
        let _ = self.0.publish(s, Source::intern("bench"));
    }
    fn reader(self: &Arc<Self>) -> Box<dyn FnMut() + Send> {
        let ring = self.0.clone();
        Box::new(move || {
            black_box(ring.latest());
        })
    }
}

struct RingReader(SlotRing<FastDroneState>);
impl Shared for RingReader {
    fn write(&self, s: FastDroneState) {
        let _ = self.0.publish(s, Source::intern("bench"));
    }
    fn reader(self: &Arc<Self>) -> Box<dyn FnMut() + Send> {
        let mut reader = self.0.reader();
        Box::new(move || {
            black_box(reader.read());
        })
    }
}

struct Buffer(StateBuffer<FastDroneState>);
impl Shared for Buffer {
    fn write(&self, s: FastDroneState) {
        let _ = self.0.publish(s, Source::intern("bench"));
    }
    fn reader(self: &Arc<Self>) -> Box<dyn FnMut() + Send> {
        let b = self.0.clone();
        // The user gets an `Arc<Snapshot>`; consuming it is copying it out.
        Box::new(move || {
            black_box(b.latest().map(|s| *s));
        })
    }
}

struct BufferWith(StateBuffer<FastDroneState>);
impl Shared for BufferWith {
    fn write(&self, s: FastDroneState) {
        let _ = self.0.publish(s, Source::intern("bench"));
    }
    fn reader(self: &Arc<Self>) -> Box<dyn FnMut() + Send> {
        let b = self.0.clone();
        Box::new(move || {
            black_box(b.with_latest(|s| *s));
        })
    }
}

struct Rw(RwLock<FastDroneState>);
impl Shared for Rw {
    fn write(&self, s: FastDroneState) {
        *self.0.write().unwrap() = s;
    }
    fn reader(self: &Arc<Self>) -> Box<dyn FnMut() + Send> {
        let me = Arc::clone(self);
        Box::new(move || {
            black_box(*me.0.read().unwrap());
        })
    }
}

struct Mx(Mutex<FastDroneState>);
impl Shared for Mx {
    fn write(&self, s: FastDroneState) {
        *self.0.lock().unwrap() = s;
    }
    fn reader(self: &Arc<Self>) -> Box<dyn FnMut() + Send> {
        let me = Arc::clone(self);
        Box::new(move || {
            black_box(*me.0.lock().unwrap());
        })
    }
}

struct Swap(ArcSwap<FastDroneState>);
impl Shared for Swap {
    fn write(&self, s: FastDroneState) {
        self.0.store(Arc::new(s));
    }
    fn reader(self: &Arc<Self>) -> Box<dyn FnMut() + Send> {
        let me = Arc::clone(self);
        Box::new(move || {
            black_box(**me.0.load());
        })
    }
}

struct Cell(AtomicCell<FastDroneState>);
impl Shared for Cell {
    fn write(&self, s: FastDroneState) {
        self.0.store(s);
    }
    fn reader(self: &Arc<Self>) -> Box<dyn FnMut() + Send> {
        let me = Arc::clone(self);
        Box::new(move || {
            black_box(me.0.load());
        })
    }
}

struct Seq(SeqLock);
impl Shared for Seq {
    /// One writer thread (`measure` runs one).
    fn write(&self, s: FastDroneState) {
        self.0.write(s);
    }
    fn reader(self: &Arc<Self>) -> Box<dyn FnMut() + Send> {
        let me = Arc::clone(self);
        Box::new(move || {
            black_box(me.0.read());
        })
    }
}

/// The bare ring with the version counted beside it, as the writer stamps
/// its record.
struct Bare(StampedRing, AtomicU64);
impl Shared for Bare {
    /// One writer thread (`measure` runs one).
    fn write(&self, s: FastDroneState) {
        // ORDERING: a counter only this writer touches.
        let v = self.1.fetch_add(1, Ordering::Relaxed) + 1;
        self.0.write(record(s, v, v));
    }
    fn reader(self: &Arc<Self>) -> Box<dyn FnMut() + Send> {
        let me = Arc::clone(self);
        Box::new(move || {
            black_box(me.0.read());
        })
    }
}

/// Reads per second summed over `readers` threads, with a writer publishing
/// every `interval` (None: flat out).
fn measure<S: Shared>(
    shared: Arc<S>,
    readers: usize,
    interval: Option<Duration>,
    secs: f64,
) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let total = Arc::new(AtomicU64::new(0));
    shared.write(state(0));
    let writer = {
        let (shared, stop) = (Arc::clone(&shared), Arc::clone(&stop));
        thread::spawn(move || {
            let mut i = 1;
            let mut next = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                shared.write(state(i));
                i += 1;
                if let Some(d) = interval {
                    next += d;
                    while Instant::now() < next {
                        std::hint::spin_loop();
                    }
                }
            }
        })
    };
    let start_line = Arc::new(std::sync::Barrier::new(readers + 1));
    let handles: Vec<_> = (0..readers)
        .map(|_| {
            let mut read = shared.reader();
            let (stop, total, start_line) = (
                Arc::clone(&stop),
                Arc::clone(&total),
                Arc::clone(&start_line),
            );
            thread::spawn(move || {
                start_line.wait();
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..64 {
                        read();
                    }
                    n += 64;
                }
                total.fetch_add(n, Ordering::Relaxed);
            })
        })
        .collect();
    start_line.wait();
    let t0 = Instant::now();
    thread::sleep(Duration::from_secs_f64(secs));
    stop.store(true, Ordering::Relaxed);
    let elapsed = t0.elapsed().as_secs_f64();
    for h in handles {
        h.join().unwrap();
    }
    writer.join().unwrap();
    total.load(Ordering::Relaxed) as f64 / elapsed
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let bench_mode = std::env::args().any(|a| a == "--bench");
    let secs: f64 = std::env::var("RTSTATE_SCALING_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if bench_mode { 0.5 } else { 0.05 });
    let repeats = if bench_mode { 3 } else { 1 };
    let cores = thread::available_parallelism().map_or(2, |n| n.get());
    let mut counts: Vec<usize> = [1, 2, 4, 8, 12, 15]
        .into_iter()
        .filter(|&n| n < cores)
        .collect();
    if counts.is_empty() {
        counts.push(1);
    }
    println!(
        "read scaling: {cores} cores, one writer thread, {secs} s x {repeats} per cell, median"
    );
    for (label, interval) in [
        ("writer every 10 us", Some(Duration::from_micros(10))),
        ("writer flat out", None),
    ] {
        println!("\n{label}: million reads per second, total over all readers (per reader)");
        print!("{:<28}", "readers");
        for n in &counts {
            print!("{:>16}", n);
        }
        println!();
        type Make = fn() -> Box<dyn Fn(usize, Option<Duration>, f64) -> f64>;
        let rows: Vec<(&str, Make)> = vec![
            ("slot ring Reader::read", || {
                Box::new(|n, i, s| {
                    measure(Arc::new(RingReader(SlotRing::new(4).unwrap())), n, i, s)
                })
            }),
            ("slot ring latest()", || {
                Box::new(|n, i, s| measure(Arc::new(Ring(SlotRing::new(4).unwrap())), n, i, s))
            }),
            ("StateBuffer latest()", || {
                Box::new(|n, i, s| measure(Arc::new(Buffer(StateBuffer::new(4).unwrap())), n, i, s))
            }),
            ("StateBuffer with_latest()", || {
                Box::new(|n, i, s| {
                    measure(Arc::new(BufferWith(StateBuffer::new(4).unwrap())), n, i, s)
                })
            }),
            ("bare stamped ring (8 slots)", || {
                Box::new(|n, i, s| {
                    measure(
                        Arc::new(Bare(StampedRing::default(), AtomicU64::new(0))),
                        n,
                        i,
                        s,
                    )
                })
            }),
            ("bare seqlock", || {
                Box::new(|n, i, s| measure(Arc::new(Seq(SeqLock::new(state(0)))), n, i, s))
            }),
            ("AtomicCell load", || {
                Box::new(|n, i, s| measure(Arc::new(Cell(AtomicCell::new(state(0)))), n, i, s))
            }),
            ("ArcSwap load + copy", || {
                Box::new(|n, i, s| {
                    measure(Arc::new(Swap(ArcSwap::from_pointee(state(0)))), n, i, s)
                })
            }),
            ("RwLock read + copy", || {
                Box::new(|n, i, s| measure(Arc::new(Rw(RwLock::new(state(0)))), n, i, s))
            }),
            ("Mutex lock + copy", || {
                Box::new(|n, i, s| measure(Arc::new(Mx(Mutex::new(state(0)))), n, i, s))
            }),
        ];
        for (name, make) in rows {
            let run = make();
            print!("{name:<28}");
            for &n in &counts {
                let rate = median((0..repeats).map(|_| run(n, interval, secs)).collect());
                print!(
                    "{:>16}",
                    format!("{:.1} ({:.1})", rate / 1e6, rate / 1e6 / n as f64)
                );
            }
            println!();
        }
    }
}
