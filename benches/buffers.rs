//! Reads and publishes of a `FastDroneState` (13 `f64`) through rtstate's
//! buffers, beside what a Rust user would pick instead, in the same run.
//!
//! Like for like: every read row hands the whole of what its user gets to
//! `black_box` — the full `Snapshot` (state, version, timestamps, source)
//! for rtstate's rows, the full state for the peers, the full
//! snapshot-sized record for the bare ring — and every write row writes a
//! whole state.
//!
//! Subjects:
//! - rtstate: `Reader::read`, `SlotRing::latest`, `SlotRing::peek`,
//!   `StateBuffer::latest` (an `Arc`, copied out);
//! - a bare 8-slot stamped ring of rtstate's snapshot size written here
//!   (the floor of the slot ring's design: stamps and a `Relaxed` word copy
//!   between fences, nothing else), and a bare seqlock of the state;
//! - `triple_buffer` (one writer, one reader), crossbeam's
//!   `AtomicCell<FastDroneState>`, `std::sync::Mutex`, `std::sync::RwLock`
//!   and a bare `ArcSwap` (load, then copy the state).
//!
//! Groups (`target/criterion/<group>/<function>/<subject>`):
//! - `read`: `uncontended`, `writer every 1us` (a writer on the other CPU
//!   publishing once per microsecond, busy-waiting between), `writer flat
//!   out`;
//! - `publish`: `uncontended` (with rtstate's publish also with 1 and 10
//!   idle subscriptions, and the bare ring's write with and without one
//!   `Instant::now()`), `reader flat out` (a reader on the other CPU);
//! - `slots`: `Reader::read` under a flat-out writer for K = 2, 4, 8, 16.
//!
//! Uncontended rows (no other thread of ours running) are measured in the
//! measuring thread's CPU time (`common::ThreadTime`), so that other
//! processes on a shared machine do not inflate them; rows with a writer or
//! reader on the other CPU are measured in wall time (a blocked reader's
//! wait counts).
//!
//! The main thread is pinned to the first allowed CPU and background
//! threads to the second, where the process may use two. Every background
//! thread stops (flag + join) before the next row starts. Publishing
//! allocates nothing (`tests/alloc.rs` counts it), so it is not counted here.
//!
//! `python3 benches/criterion_table.py` turns the medians under
//! `target/criterion` into the README's tables, ratios and verdicts.
//! Criterion's `--warm-up-time`, `--measurement-time` and `--sample-size`
//! shorten a run (`make bench-quick`).

mod common;

use arc_swap::ArcSwap;
use common::{now_ns, record, state, Background, Cpus, SeqLock, StampedRing, ThreadTime, S};
use criterion::measurement::{Measurement, WallTime};
use criterion::{BenchmarkGroup, BenchmarkId, Criterion};
use crossbeam_utils::atomic::AtomicCell;
use rtstate::{Policy, SlotRing, Snapshot, Source, StateBuffer};
use std::hint::black_box;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

const HISTORY: usize = 5;

type Group<'a, M> = BenchmarkGroup<'a, M>;

fn ring() -> SlotRing<S> {
    SlotRing::new(HISTORY).expect("ring")
}

// ---------------------------------------------------------------------------
// The subjects: each a (write, read) pair of closures over one shared value.
// `write(i)` publishes `state(i)`; `read()` returns the whole of what its
// user gets. The writer may move to another thread; so may the reader.

fn rt_reader(
    ring: SlotRing<S>,
) -> (
    impl FnMut(u64) + Send + 'static,
    impl FnMut() -> Option<Snapshot<S>> + Send + 'static,
) {
    let mut reader = ring.reader();
    (
        move |i| {
            let _ = black_box(ring.publish(state(i), Source::UNKNOWN));
        },
        move || reader.read(),
    )
}

fn rt_latest(
    ring: SlotRing<S>,
) -> (
    impl FnMut(u64) + Send + 'static,
    impl FnMut() -> Option<Snapshot<S>> + Send + 'static,
) {
    let r = ring.clone();
    (
        move |i| {
            let _ = black_box(ring.publish(state(i), Source::UNKNOWN));
        },
        move || r.latest(),
    )
}

fn rt_peek(
    ring: SlotRing<S>,
) -> (
    impl FnMut(u64) + Send + 'static,
    impl FnMut() -> Option<Snapshot<S>> + Send + 'static,
) {
    let r = ring.clone();
    (
        move |i| {
            let _ = black_box(ring.publish(state(i), Source::UNKNOWN));
        },
        move || r.peek(),
    )
}

fn rt_buffer() -> (
    impl FnMut(u64) + Send + 'static,
    impl FnMut() -> Option<Snapshot<S>> + Send + 'static,
) {
    let b = StateBuffer::<S>::new(HISTORY).expect("buffer");
    let r = b.clone();
    (
        move |i| {
            let _ = black_box(b.publish(state(i), Source::UNKNOWN));
        },
        // The user gets an `Arc<Snapshot>`; consuming it is copying it out.
        move || r.latest().map(|s| *s),
    )
}

/// The bare ring; `clock`: whether each write reads `Instant::now()` for
/// its record (as a publish stamps its snapshot).
fn bare_ring(
    clock: bool,
) -> (
    impl FnMut(u64) + Send + 'static,
    impl FnMut() -> Option<[u64; common::SNAP_WORDS]> + Send + 'static,
) {
    let w = Arc::new(StampedRing::default());
    let r = Arc::clone(&w);
    (
        move |i| {
            let ns = if clock { now_ns() } else { i };
            black_box(w.write(record(state(i), i, ns)));
        },
        move || r.read(),
    )
}

fn seqlock() -> (
    impl FnMut(u64) + Send + 'static,
    impl FnMut() -> S + Send + 'static,
) {
    let w = Arc::new(SeqLock::new(state(0)));
    let r = Arc::clone(&w);
    (move |i| w.write(state(i)), move || r.read())
}

fn triple() -> (
    impl FnMut(u64) + Send + 'static,
    impl FnMut() -> S + Send + 'static,
) {
    let (mut input, mut output) = triple_buffer::triple_buffer(&state(0));
    (move |i| input.write(state(i)), move || *output.read())
}

fn atomic_cell() -> (
    impl FnMut(u64) + Send + 'static,
    impl FnMut() -> S + Send + 'static,
) {
    let w = Arc::new(AtomicCell::new(state(0)));
    let r = Arc::clone(&w);
    (move |i| w.store(state(i)), move || r.load())
}

fn mutex() -> (
    impl FnMut(u64) + Send + 'static,
    impl FnMut() -> S + Send + 'static,
) {
    let w = Arc::new(Mutex::new(state(0)));
    let r = Arc::clone(&w);
    (
        move |i| *w.lock().unwrap_or_else(PoisonError::into_inner) = state(i),
        move || *r.lock().unwrap_or_else(PoisonError::into_inner),
    )
}

fn rwlock() -> (
    impl FnMut(u64) + Send + 'static,
    impl FnMut() -> S + Send + 'static,
) {
    let w = Arc::new(RwLock::new(state(0)));
    let r = Arc::clone(&w);
    (
        move |i| *w.write().unwrap_or_else(PoisonError::into_inner) = state(i),
        move || *r.read().unwrap_or_else(PoisonError::into_inner),
    )
}

fn arc_swap() -> (
    impl FnMut(u64) + Send + 'static,
    impl FnMut() -> S + Send + 'static,
) {
    let w = Arc::new(ArcSwap::from_pointee(state(0)));
    let r = Arc::clone(&w);
    (move |i| w.store(Arc::new(state(i))), move || **r.load())
}

// ---------------------------------------------------------------------------
// Rows.

/// A read regime: its name and the background writer's period (`None`:
/// flat out); `uncontended` has no writer.
#[derive(Clone, Copy)]
struct Regime {
    name: &'static str,
    writer: Option<Option<Duration>>,
}

const READ_REGIMES: [Regime; 3] = [
    Regime {
        name: "uncontended",
        writer: None,
    },
    Regime {
        name: "writer every 1us",
        writer: Some(Some(Duration::from_micros(1))),
    },
    Regime {
        name: "writer flat out",
        writer: Some(None),
    },
];

/// The read rows of one regime.
struct ReadRows<'g, 'a, M: Measurement> {
    g: &'g mut Group<'a, M>,
    regime: Regime,
    cpus: Cpus,
}

impl<M: Measurement> ReadRows<'_, '_, M> {
    /// Publishes once, starts the regime's writer, measures `read`.
    fn row<W, R, O>(&mut self, name: &str, subject: (W, R))
    where
        W: FnMut(u64) + Send + 'static,
        R: FnMut() -> O,
    {
        let (mut write, mut read) = subject;
        write(0);
        let background = self
            .regime
            .writer
            .map(|period| Background::writer(self.cpus, write, period));
        self.g
            .bench_function(BenchmarkId::new(self.regime.name, name), |b| {
                b.iter(|| black_box(read()))
            });
        drop(background);
    }
}

/// The publish rows of one regime: with a reader flat out on the other CPU
/// if `contended`.
struct WriteRows<'g, 'a, M: Measurement> {
    g: &'g mut Group<'a, M>,
    function: &'static str,
    contended: bool,
    cpus: Cpus,
}

impl<M: Measurement> WriteRows<'_, '_, M> {
    /// Measures `write` of a whole state.
    fn row<W, R, O>(&mut self, name: &str, subject: (W, R))
    where
        W: FnMut(u64),
        R: FnMut() -> O + Send + 'static,
    {
        let (mut write, mut read) = subject;
        write(0);
        let background = self.contended.then(|| {
            Background::start(self.cpus, move || {
                black_box(read());
            })
        });
        let mut i = 1u64;
        self.g
            .bench_function(BenchmarkId::new(self.function, name), |b| {
                b.iter(|| {
                    write(black_box(i));
                    i += 1;
                })
            });
        drop(background);
    }
}

fn reads(cpu: &mut Criterion<ThreadTime>, wall: &mut Criterion<WallTime>, cpus: Cpus) {
    let mut g = cpu.benchmark_group("read");
    read_rows(&mut g, READ_REGIMES[0], cpus);
    g.finish();
    let mut g = wall.benchmark_group("read");
    for regime in &READ_REGIMES[1..] {
        read_rows(&mut g, *regime, cpus);
    }
    g.finish();
}

/// Every read subject in one regime.
fn read_rows<M: Measurement>(g: &mut Group<'_, M>, regime: Regime, cpus: Cpus) {
    let mut r = ReadRows { g, regime, cpus };
    r.row("rtstate Reader::read", rt_reader(ring()));
    r.row("rtstate SlotRing::latest", rt_latest(ring()));
    r.row("rtstate SlotRing::peek", rt_peek(ring()));
    r.row("rtstate StateBuffer::latest", rt_buffer());
    r.row("bare stamped ring", bare_ring(false));
    r.row("bare seqlock", seqlock());
    r.row("triple_buffer", triple());
    r.row("AtomicCell", atomic_cell());
    r.row("Mutex", mutex());
    r.row("RwLock", rwlock());
    r.row("ArcSwap", arc_swap());
}

fn publishes(cpu: &mut Criterion<ThreadTime>, wall: &mut Criterion<WallTime>, cpus: Cpus) {
    let mut g = cpu.benchmark_group("publish");
    let mut w = WriteRows {
        g: &mut g,
        function: "uncontended",
        contended: false,
        cpus,
    };
    w.row("rtstate SlotRing::publish", rt_latest(ring()));
    for n in [1usize, 10] {
        let ring = ring();
        // Held, never read: each publish overwrites the oldest queued event.
        let subscriptions: Vec<_> = (0..n)
            .map(|_| ring.subscribe(4, Policy::DropOldest).expect("subscribe"))
            .collect();
        let name = if n == 1 {
            "rtstate SlotRing::publish, 1 subscription".to_string()
        } else {
            format!("rtstate SlotRing::publish, {n} subscriptions")
        };
        w.row(&name, rt_latest(ring));
        drop(subscriptions);
    }
    // The validating ring of the Python `FastDroneStateBuffer`.
    let checked = SlotRing::<S>::checked(HISTORY).expect("ring");
    w.row("rtstate SlotRing::publish, checked", rt_latest(checked));
    w.row("rtstate StateBuffer::publish", rt_buffer());
    w.row("bare stamped ring write", bare_ring(false));
    w.row("bare stamped ring write + Instant::now()", bare_ring(true));
    w.g.bench_function(BenchmarkId::new(w.function, "Instant::now()"), |b| {
        b.iter(|| black_box(now_ns()))
    });
    w.row("bare seqlock write", seqlock());
    w.row("triple_buffer write", triple());
    w.row("AtomicCell store", atomic_cell());
    w.row("Mutex write", mutex());
    w.row("RwLock write", rwlock());
    w.row("ArcSwap store", arc_swap());
    g.finish();

    let mut g = wall.benchmark_group("publish");
    let mut w = WriteRows {
        g: &mut g,
        function: "reader flat out",
        contended: true,
        cpus,
    };
    w.row("rtstate SlotRing::publish", rt_reader(ring()));
    w.row("bare stamped ring write + Instant::now()", bare_ring(true));
    w.row("triple_buffer write", triple());
    w.row("AtomicCell store", atomic_cell());
    w.row("Mutex write", mutex());
    g.finish();
}

fn slots(c: &mut Criterion<WallTime>, cpus: Cpus) {
    let mut g = c.benchmark_group("slots");
    let mut r = ReadRows {
        g: &mut g,
        regime: Regime {
            name: "Reader::read, writer flat out",
            writer: Some(None),
        },
        cpus,
    };
    for k in [2usize, 4, 8, 16] {
        let ring = SlotRing::<S>::with_slots(1, k).expect("ring");
        assert_eq!(ring.slots(), k);
        r.row(&format!("K={k}"), rt_reader(ring));
    }
    g.finish();
}

fn main() {
    let cpus = Cpus::pin_main("buffers bench");
    let mut cpu = Criterion::default()
        .with_measurement(ThreadTime)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
        .configure_from_args();
    let mut wall = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
        .configure_from_args();
    reads(&mut cpu, &mut wall, cpus);
    publishes(&mut cpu, &mut wall, cpus);
    slots(&mut wall, cpus);
    cpu.final_summary();
    wall.final_summary();
}
