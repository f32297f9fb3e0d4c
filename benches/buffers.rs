//! Reads and publishes of a `FastDroneState` (13 `f64`) through rtstate's
//! buffers, beside the peers they are judged against, in the same run:
//! `std::sync::RwLock`, `std::sync::Mutex`, a bare `ArcSwap`, and a minimal
//! bare seqlock written here (one sequence, the payload copied through
//! `Relaxed` atomics between the standard fences: the honest lower bound).
//!
//! Groups, named by regime:
//! - `uncontended`: reads and publishes with no other thread;
//! - `read contention`: reads while a writer on the other core publishes
//!   flat out, or every 1 µs (busy-waiting on `Instant` between publishes);
//! - `write contention`: publishes while a reader on the other core reads
//!   flat out, beside the same publishes with no reader;
//! - `publish subscribers`: slot-ring publishes with 0, 1 and 10 idle
//!   subscriptions, beside a bare seqlock write (no subscription support);
//! - `slots`: slot-ring reads under a flat-out writer for K = 2, 4, 8, 16.
//!
//! The main thread is pinned to the first allowed CPU and background threads
//! to the second, where the process may use two. Every background thread
//! stops (flag + join) before the next benchmark starts.
//!
//! `python3 benches/criterion_table.py` turns the results under
//! `target/criterion` into the README's table of medians and ratios.

use arc_swap::ArcSwap;
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion};
use crossbeam_utils::CachePadded;
use rtstate::{FastDroneState, Policy, SlotRing, Source, StateBuffer};
use std::hint::black_box;
use std::sync::atomic::{fence, AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

type S = FastDroneState;
const WORDS: usize = std::mem::size_of::<S>() / 8;
const HISTORY: usize = 5;

fn state(i: u64) -> S {
    let x = i as f64;
    S {
        timestamp: x,
        position: [x, 1.0, 2.0],
        velocity: [3.0, 4.0, 5.0],
        attitude: [0.1, 0.2, 0.3],
        angular_velocity: [6.0, 7.0, 8.0],
    }
}

// ---------------------------------------------------------------------------
// The bare seqlock peer.

/// One sequence number, odd while a write is in progress, and the state as
/// words copied through `Relaxed` atomics (no data race in Rust's model).
struct SeqLock {
    seq: CachePadded<AtomicU64>,
    words: [AtomicU64; WORDS],
}

impl SeqLock {
    fn new(s: S) -> Self {
        let words: [u64; WORDS] = bytemuck::cast(s);
        SeqLock {
            seq: CachePadded::new(AtomicU64::new(0)),
            words: words.map(AtomicU64::new),
        }
    }

    /// Single writer (callers serialise writers).
    #[inline]
    fn write(&self, s: S) {
        let words: [u64; WORDS] = bytemuck::cast(s);
        // ORDERING: only the writer stores `seq`.
        let seq = self.seq.load(Ordering::Relaxed);
        // ORDERING: the odd value is ordered before the word stores by the
        // Release fence below.
        self.seq.store(seq + 1, Ordering::Relaxed);
        // ORDERING: pairs with the reader's Acquire fence: a reader that saw
        // any word of this write then sees the odd (or later) sequence.
        fence(Ordering::Release);
        for (a, w) in self.words.iter().zip(words) {
            // ORDERING: published by the Release store of `seq` below.
            a.store(w, Ordering::Relaxed);
        }
        // ORDERING: Release; pairs with the reader's Acquire load of `seq`.
        self.seq.store(seq + 2, Ordering::Release);
    }

    #[inline]
    fn read(&self) -> S {
        loop {
            // ORDERING: Acquire; pairs with the writer's final Release store.
            let s1 = self.seq.load(Ordering::Acquire);
            if s1 & 1 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let mut words = [0u64; WORDS];
            for (w, a) in words.iter_mut().zip(&self.words) {
                // ORDERING: validated by the sequence re-check below.
                *w = a.load(Ordering::Relaxed);
            }
            // ORDERING: pairs with the writer's Release fence.
            fence(Ordering::Acquire);
            // ORDERING: ordered after the word loads by the fence above.
            if self.seq.load(Ordering::Relaxed) == s1 {
                return bytemuck::cast(words);
            }
            std::hint::spin_loop();
        }
    }
}

// ---------------------------------------------------------------------------
// The subjects: one of each, behind a common write/read interface.

#[derive(Clone)]
enum Subject {
    RingLatest(SlotRing<S>),
    RingReader(SlotRing<S>),
    Buffer(StateBuffer<S>),
    RwLock(Arc<RwLock<S>>),
    Mutex(Arc<Mutex<S>>),
    ArcSwap(Arc<ArcSwap<S>>),
    SeqLock(Arc<SeqLock>),
}

impl Subject {
    /// Every read peer, in table order.
    fn readers() -> Vec<Subject> {
        vec![
            Subject::RingLatest(ring()),
            Subject::RingReader(ring()),
            Subject::Buffer(StateBuffer::new(HISTORY).expect("buffer")),
            Subject::RwLock(Arc::new(RwLock::new(state(0)))),
            Subject::Mutex(Arc::new(Mutex::new(state(0)))),
            Subject::ArcSwap(Arc::new(ArcSwap::from_pointee(state(0)))),
            Subject::SeqLock(Arc::new(SeqLock::new(state(0)))),
        ]
    }

    /// Every write peer (the ring is written one way).
    fn writers() -> Vec<Subject> {
        Self::readers()
            .into_iter()
            .filter(|s| !matches!(s, Subject::RingReader(_)))
            .collect()
    }

    fn name(&self, op: Op) -> &'static str {
        match (self, op) {
            (Subject::RingLatest(_), Op::Read) => "slot ring latest",
            (Subject::RingLatest(_) | Subject::RingReader(_), Op::Write) => "slot ring",
            (Subject::RingReader(_), Op::Read) => "slot ring reader",
            (Subject::Buffer(_), _) => "state buffer",
            (Subject::RwLock(_), _) => "rwlock",
            (Subject::Mutex(_), _) => "mutex",
            (Subject::ArcSwap(_), _) => "arcswap",
            (Subject::SeqLock(_), _) => "bare seqlock",
        }
    }

    /// Publishes once (the state given; the seed value of the peers).
    #[inline]
    fn write(&self, s: S) {
        match self {
            Subject::RingLatest(r) | Subject::RingReader(r) => {
                let _ = black_box(r.publish(s, Source::UNKNOWN));
            }
            Subject::Buffer(b) => {
                let _ = black_box(b.publish(s, Source::UNKNOWN));
            }
            Subject::RwLock(l) => *l.write().unwrap_or_else(|p| p.into_inner()) = s,
            Subject::Mutex(m) => *m.lock().unwrap_or_else(|p| p.into_inner()) = s,
            Subject::ArcSwap(a) => a.store(Arc::new(s)),
            Subject::SeqLock(q) => q.write(s),
        }
    }

    /// A read function for a thread: it owns its `Reader` handle where the
    /// subject is read through one. Each read copies the state out.
    fn read_fn(&self) -> Box<dyn FnMut() -> f64 + Send> {
        match self.clone() {
            Subject::RingLatest(r) => {
                Box::new(move || r.latest().map_or(0.0, |s| s.state.timestamp))
            }
            Subject::RingReader(r) => {
                let mut reader = r.reader();
                Box::new(move || reader.read().map_or(0.0, |s| s.state.timestamp))
            }
            Subject::Buffer(b) => {
                Box::new(move || b.latest().map_or(0.0, |s| black_box(s.state).timestamp))
            }
            Subject::RwLock(l) => {
                Box::new(move || black_box(*l.read().unwrap_or_else(|p| p.into_inner())).timestamp)
            }
            Subject::Mutex(m) => {
                Box::new(move || black_box(*m.lock().unwrap_or_else(|p| p.into_inner())).timestamp)
            }
            Subject::ArcSwap(a) => Box::new(move || black_box(**a.load()).timestamp),
            Subject::SeqLock(q) => Box::new(move || black_box(q.read()).timestamp),
        }
    }
}

#[derive(Clone, Copy)]
enum Op {
    Read,
    Write,
}

fn ring() -> SlotRing<S> {
    SlotRing::new(HISTORY).expect("ring")
}

// ---------------------------------------------------------------------------
// CPU pinning and background threads.

/// The CPUs this process may run on (empty if unknown).
#[allow(unsafe_code)]
fn allowed_cpus() -> Vec<usize> {
    // SAFETY: `cpu_set_t` is plain data for which all-zero is the empty set;
    // `sched_getaffinity` writes at most `size_of::<cpu_set_t>()` bytes into
    // the set we own; `CPU_ISSET` reads that set with an index below
    // `CPU_SETSIZE`.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    }
}

/// Pins the calling thread to `cpu`; false if the OS refused.
#[allow(unsafe_code)]
fn pin_to(cpu: usize) -> bool {
    // SAFETY: as in `allowed_cpus`: a zeroed set we own, `CPU_SET` with an
    // index the OS reported as allowed (below `CPU_SETSIZE`), and
    // `sched_setaffinity(0, ..)` on the calling thread reading that set.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_ZERO(&mut set);
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
    }
}

/// Where background threads run (the main thread is pinned once).
#[derive(Clone, Copy)]
struct Cpus {
    background: Option<usize>,
}

impl Cpus {
    fn pin_main() -> Cpus {
        let allowed = allowed_cpus();
        match allowed.as_slice() {
            [a, b, ..] if pin_to(*a) => {
                eprintln!("buffers bench: main thread on CPU {a}, background threads on CPU {b}");
                Cpus {
                    background: Some(*b),
                }
            }
            _ => {
                eprintln!("buffers bench: not pinned (allowed CPUs: {allowed:?})");
                Cpus { background: None }
            }
        }
    }
}

/// A thread that runs `step` until dropped, then is joined.
struct Background {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<u64>>,
}

impl Background {
    fn start(cpus: Cpus, mut step: impl FnMut() + Send + 'static) -> Background {
        let stop = Arc::new(AtomicBool::new(false));
        let started = Arc::new(AtomicBool::new(false));
        let handle = {
            let stop = Arc::clone(&stop);
            let started = Arc::clone(&started);
            std::thread::spawn(move || {
                if let Some(cpu) = cpus.background {
                    pin_to(cpu);
                }
                let mut n = 0u64;
                // ORDERING: a flag; the join below orders everything else.
                started.store(true, Ordering::Relaxed);
                // ORDERING: as above.
                while !stop.load(Ordering::Relaxed) {
                    step();
                    n += 1;
                }
                n
            })
        };
        // ORDERING: as above.
        while !started.load(Ordering::Relaxed) {
            std::thread::yield_now();
        }
        Background {
            stop,
            handle: Some(handle),
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        // ORDERING: as in `start`.
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// A writer publishing flat out, or every `period` (busy-waiting).
fn writer(cpus: Cpus, subject: &Subject, period: Option<Duration>) -> Background {
    let subject = subject.clone();
    let mut i = 1u64;
    Background::start(cpus, move || {
        subject.write(state(i));
        i += 1;
        if let Some(p) = period {
            let t = Instant::now();
            while t.elapsed() < p {
                std::hint::spin_loop();
            }
        }
    })
}

/// A reader reading flat out.
fn reader(cpus: Cpus, subject: &Subject) -> Background {
    let mut read = subject.read_fn();
    Background::start(cpus, move || {
        black_box(read());
    })
}

// ---------------------------------------------------------------------------
// The groups.

fn configure(group: &mut BenchmarkGroup<'_, WallTime>) {
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
}

fn bench_read(group: &mut BenchmarkGroup<'_, WallTime>, function: &str, subject: &Subject) {
    let mut read = subject.read_fn();
    group.bench_function(BenchmarkId::new(function, subject.name(Op::Read)), |b| {
        b.iter(|| black_box(read()))
    });
}

fn bench_write(group: &mut BenchmarkGroup<'_, WallTime>, function: &str, subject: &Subject) {
    let mut i = 1u64;
    group.bench_function(BenchmarkId::new(function, subject.name(Op::Write)), |b| {
        b.iter(|| {
            subject.write(black_box(state(i)));
            i += 1;
        })
    });
}

fn uncontended(c: &mut Criterion) {
    let mut group = c.benchmark_group("uncontended");
    configure(&mut group);
    for subject in Subject::readers() {
        subject.write(state(0));
        bench_read(&mut group, "read", &subject);
    }
    for subject in Subject::writers() {
        bench_write(&mut group, "publish", &subject);
    }
    // The validating ring of the Python `FastDroneStateBuffer`.
    let checked = SlotRing::<S>::checked(HISTORY).expect("ring");
    let mut i = 1u64;
    group.bench_function(BenchmarkId::new("publish", "slot ring checked"), |b| {
        b.iter(|| {
            let _ = black_box(checked.publish(black_box(state(i)), Source::UNKNOWN));
            i += 1;
        })
    });
    group.finish();
}

fn read_contention(c: &mut Criterion, cpus: Cpus) {
    let mut group = c.benchmark_group("read contention");
    configure(&mut group);
    for (function, period) in [
        ("writer flat out", None),
        ("writer every 1us", Some(Duration::from_micros(1))),
    ] {
        for subject in Subject::readers() {
            subject.write(state(0));
            let background = writer(cpus, &subject, period);
            bench_read(&mut group, function, &subject);
            drop(background);
        }
    }
    group.finish();
}

fn write_contention(c: &mut Criterion, cpus: Cpus) {
    let mut group = c.benchmark_group("write contention");
    configure(&mut group);
    for subject in Subject::writers() {
        subject.write(state(0));
        bench_write(&mut group, "publish, no reader", &subject);
        let background = reader(cpus, &subject);
        bench_write(&mut group, "publish, reader flat out", &subject);
        drop(background);
    }
    group.finish();
}

fn publish_subscribers(c: &mut Criterion) {
    let mut group = c.benchmark_group("publish subscribers");
    configure(&mut group);
    for n in [0usize, 1, 10] {
        let ring = ring();
        // Held, never read: each publish overwrites the oldest queued event.
        let subscriptions: Vec<_> = (0..n)
            .map(|_| ring.subscribe(4, Policy::DropOldest).expect("subscribe"))
            .collect();
        let mut i = 1u64;
        group.bench_function(
            BenchmarkId::new("publish", format!("slot ring, {n} subscriptions")),
            |b| {
                b.iter(|| {
                    let _ = black_box(ring.publish(black_box(state(i)), Source::UNKNOWN));
                    i += 1;
                })
            },
        );
        drop(subscriptions);
    }
    let seqlock = Subject::SeqLock(Arc::new(SeqLock::new(state(0))));
    let mut i = 1u64;
    group.bench_function(
        BenchmarkId::new("publish", "bare seqlock (no subscription support)"),
        |b| {
            b.iter(|| {
                seqlock.write(black_box(state(i)));
                i += 1;
            })
        },
    );
    group.finish();
}

fn slots(c: &mut Criterion, cpus: Cpus) {
    let mut group = c.benchmark_group("slots");
    configure(&mut group);
    for k in [2usize, 4, 8, 16] {
        let ring = SlotRing::<S>::with_slots(1, k).expect("ring");
        assert_eq!(ring.slots(), k);
        ring.publish(state(0), Source::UNKNOWN).expect("publish");
        let subject = Subject::RingLatest(ring);
        let background = writer(cpus, &subject, None);
        let mut read = subject.read_fn();
        group.bench_function(
            BenchmarkId::new("read, writer flat out", format!("K={k}")),
            |b| b.iter(|| black_box(read())),
        );
        drop(background);
    }
    group.finish();
}

fn main() {
    let cpus = Cpus::pin_main();
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
        .configure_from_args();
    uncontended(&mut c);
    read_contention(&mut c, cpus);
    write_contention(&mut c, cpus);
    publish_subscribers(&mut c);
    slots(&mut c, cpus);
    c.final_summary();
}
