//! What the Rust benchmarks share: the state they move, the bare peers
//! written here (a seqlock and an 8-slot stamped ring: the floor of
//! rtstate's design), CPU pinning and background threads.
//!
//! Each bench includes this file with `mod common;` and uses only part of
//! it, hence the `dead_code` allowance.
#![allow(dead_code)]

use crossbeam_utils::CachePadded;
use rtstate::{FastDroneState, Snapshot};
use std::sync::atomic::{fence, AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The state every row moves: 13 `f64` (104 bytes).
pub type S = FastDroneState;
/// The state's size in 8-byte words.
pub const WORDS: usize = std::mem::size_of::<S>() / 8;
/// The size in words of what an rtstate read hands out: the state with its
/// version, timestamps and source (`Snapshot<S>`).
pub const SNAP_WORDS: usize = std::mem::size_of::<Snapshot<S>>().div_ceil(8);

/// A state whose every field depends on `i`.
#[inline]
pub fn state(i: u64) -> S {
    let x = i as f64;
    S {
        timestamp: x,
        position: [x, x + 1.0, x + 2.0],
        velocity: [x + 3.0, x + 4.0, x + 5.0],
        attitude: [0.1, 0.2, 0.3],
        angular_velocity: [x + 6.0, x + 7.0, x + 8.0],
    }
}

/// The words of a snapshot-sized record for version `v`: the state, then
/// the version, timestamp, publish time, monotonic nanoseconds and source,
/// as rtstate's snapshot carries them.
#[inline]
pub fn record(s: S, v: u64, now_ns: u64) -> [u64; SNAP_WORDS] {
    let mut w = [0u64; SNAP_WORDS];
    let state: [u64; WORDS] = bytemuck::cast(s);
    w[..WORDS].copy_from_slice(&state);
    w[WORDS] = v;
    w[WORDS + 1] = s.timestamp.to_bits();
    w[WORDS + 2] = (now_ns as f64 * 1e-9).to_bits();
    w[WORDS + 3] = now_ns;
    w
}

// ---------------------------------------------------------------------------
// The bare seqlock: one sequence number and the state.

/// One sequence number, odd while a write is in progress, and the state as
/// words copied through `Relaxed` atomics (no data race in Rust's model).
pub struct SeqLock {
    seq: CachePadded<AtomicU64>,
    words: [AtomicU64; WORDS],
}

impl SeqLock {
    pub fn new(s: S) -> Self {
        let words: [u64; WORDS] = bytemuck::cast(s);
        SeqLock {
            seq: CachePadded::new(AtomicU64::new(0)),
            words: words.map(AtomicU64::new),
        }
    }

    /// Single writer (callers serialise writers).
    #[inline]
    pub fn write(&self, s: S) {
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

    /// The whole state, never torn.
    #[inline]
    pub fn read(&self) -> S {
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
// The bare stamped ring: rtstate's slot-ring design with nothing else.

/// Slots in the bare ring.
pub const RING_SLOTS: usize = 8;

/// One slot: a stamp (`2v` once version `v` is complete, `2v - 1` while it
/// is written) and a snapshot-sized record. Each slot has its own cache
/// lines.
#[repr(align(64))]
struct RingSlot {
    stamp: AtomicU64,
    words: [AtomicU64; SNAP_WORDS],
}

/// Eight stamped slots and the latest version: a publish writes the slot
/// of the next version (readers of the latest one are elsewhere), a read
/// copies the latest slot and checks its stamp before and after. The floor
/// of rtstate's slot ring for a snapshot of the same size: no clock, no
/// validation, no subscribers, no statistics, one writer.
pub struct StampedRing {
    head: CachePadded<AtomicU64>,
    slots: [RingSlot; RING_SLOTS],
}

impl Default for StampedRing {
    fn default() -> Self {
        StampedRing {
            head: CachePadded::new(AtomicU64::new(0)),
            slots: std::array::from_fn(|_| RingSlot {
                stamp: AtomicU64::new(0),
                words: std::array::from_fn(|_| AtomicU64::new(0)),
            }),
        }
    }
}

impl StampedRing {
    /// Writes `record` as the next version; returns it. Single writer
    /// (callers serialise writers).
    #[inline]
    pub fn write(&self, record: [u64; SNAP_WORDS]) -> u64 {
        // ORDERING: only the writer stores `head`.
        let v = self.head.load(Ordering::Relaxed) + 1;
        let slot = &self.slots[v as usize % RING_SLOTS];
        // ORDERING: the odd stamp is ordered before the word stores by the
        // Release fence below.
        slot.stamp.store(2 * v - 1, Ordering::Relaxed);
        // ORDERING: pairs with the reader's Acquire fence: a reader that saw
        // any word of this write then sees the odd (or a later) stamp.
        fence(Ordering::Release);
        for (a, w) in slot.words.iter().zip(record) {
            // ORDERING: published by the Release store of the stamp below.
            a.store(w, Ordering::Relaxed);
        }
        // ORDERING: Release; pairs with the reader's Acquire load of the
        // stamp.
        slot.stamp.store(2 * v, Ordering::Release);
        // ORDERING: Release; pairs with the reader's Acquire load of `head`
        // (the slot is complete before it is named the latest).
        self.head.store(v, Ordering::Release);
        v
    }

    /// The latest record, never torn; `None` before the first write.
    #[inline]
    pub fn read(&self) -> Option<[u64; SNAP_WORDS]> {
        loop {
            // ORDERING: Acquire; pairs with the writer's Release store of
            // `head`.
            let v = self.head.load(Ordering::Acquire);
            if v == 0 {
                return None;
            }
            let slot = &self.slots[v as usize % RING_SLOTS];
            // ORDERING: Acquire; pairs with the writer's Release store of
            // the even stamp (the word loads below stay after it).
            let s1 = slot.stamp.load(Ordering::Acquire);
            if s1 != 2 * v {
                // Overwritten since `head` was read: take the new latest.
                std::hint::spin_loop();
                continue;
            }
            let mut words = [0u64; SNAP_WORDS];
            for (w, a) in words.iter_mut().zip(&slot.words) {
                // ORDERING: validated by the stamp re-check below.
                *w = a.load(Ordering::Relaxed);
            }
            // ORDERING: pairs with the writer's Release fence.
            fence(Ordering::Acquire);
            // ORDERING: ordered after the word loads by the fence above.
            if slot.stamp.load(Ordering::Relaxed) == s1 {
                return Some(words);
            }
            std::hint::spin_loop();
        }
    }
}

/// Monotonic nanoseconds since the first call: one `Instant::now()`.
#[inline]
pub fn now_ns() -> u64 {
    static ANCHOR: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    ANCHOR.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

// ---------------------------------------------------------------------------
// CPU pinning and background threads.

/// The CPUs this process may run on (empty if unknown).
#[allow(unsafe_code)]
pub fn allowed_cpus() -> Vec<usize> {
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
pub fn pin_to(cpu: usize) -> bool {
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
pub struct Cpus {
    pub background: Option<usize>,
}

impl Cpus {
    /// Pins the calling (main) thread to the first allowed CPU and names
    /// the second for background threads, where there are two.
    pub fn pin_main(bench: &str) -> Cpus {
        let allowed = allowed_cpus();
        match allowed.as_slice() {
            [a, b, ..] if pin_to(*a) => {
                eprintln!("{bench}: main thread on CPU {a}, background threads on CPU {b}");
                Cpus {
                    background: Some(*b),
                }
            }
            _ => {
                eprintln!("{bench}: not pinned (allowed CPUs: {allowed:?})");
                Cpus { background: None }
            }
        }
    }
}

/// A thread that runs `step` until dropped, then is joined.
pub struct Background {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<u64>>,
}

impl Background {
    pub fn start(cpus: Cpus, mut step: impl FnMut() + Send + 'static) -> Background {
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

    /// A writer calling `write(i)` for i = 1, 2, … flat out (`period`
    /// `None`) or once per `period`, busy-waiting for each deadline (a
    /// writer that falls behind starts again from now rather than bursting).
    pub fn writer(
        cpus: Cpus,
        mut write: impl FnMut(u64) + Send + 'static,
        period: Option<Duration>,
    ) -> Background {
        let mut i = 1u64;
        let mut next = Instant::now();
        Background::start(cpus, move || {
            write(i);
            i += 1;
            if let Some(p) = period {
                next += p;
                let now = Instant::now();
                if now > next {
                    next = now;
                }
                while Instant::now() < next {
                    std::hint::spin_loop();
                }
            }
        })
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

// ---------------------------------------------------------------------------
// A criterion measurement of the calling thread's CPU time.

/// Criterion measurement: CPU time of the measuring thread
/// (`CLOCK_THREAD_CPUTIME_ID`), in ns. On a shared machine it leaves out the
/// time the thread spent descheduled in favour of other processes, which
/// wall time counts; for a thread that never blocks (the uncontended rows)
/// it is the operation's cost. Rows that may block (a lock under
/// contention) are measured in wall time, which counts the wait.
pub struct ThreadTime;

/// The calling thread's CPU time in ns.
#[allow(unsafe_code)]
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `clock_gettime` writes one `timespec` into the one we own;
    // CLOCK_THREAD_CPUTIME_ID is supported on every Linux this runs on.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

impl criterion::measurement::Measurement for ThreadTime {
    type Intermediate = u64;
    type Value = u64;

    fn start(&self) -> u64 {
        thread_cpu_ns()
    }
    fn end(&self, start: u64) -> u64 {
        thread_cpu_ns().saturating_sub(start)
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, v: &u64) -> f64 {
        *v as f64
    }
    fn formatter(&self) -> &dyn criterion::measurement::ValueFormatter {
        &NsFormatter
    }
}

/// Formats ns values the way criterion's wall-time formatter does.
struct NsFormatter;

impl criterion::measurement::ValueFormatter for NsFormatter {
    fn scale_values(&self, ns: f64, values: &mut [f64]) -> &'static str {
        let (factor, unit) = if ns < 1.0 {
            (1e3, "ps")
        } else if ns < 1e3 {
            (1.0, "ns")
        } else if ns < 1e6 {
            (1e-3, "µs")
        } else if ns < 1e9 {
            (1e-6, "ms")
        } else {
            (1e-9, "s")
        };
        for v in values {
            *v *= factor;
        }
        unit
    }

    fn scale_throughputs(
        &self,
        _typical: f64,
        throughput: &criterion::Throughput,
        values: &mut [f64],
    ) -> &'static str {
        // Elements (or bytes) per second of CPU time.
        let n = match *throughput {
            criterion::Throughput::Bits(n)
            | criterion::Throughput::Bytes(n)
            | criterion::Throughput::BytesDecimal(n)
            | criterion::Throughput::Elements(n)
            | criterion::Throughput::ElementsAndBytes { elements: n, .. } => n as f64,
        };
        for v in values {
            *v = n * 1e9 / *v;
        }
        "/s"
    }

    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}
