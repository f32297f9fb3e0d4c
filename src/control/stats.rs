//! Loop statistics: counters and fixed-size log-linear histograms made of
//! relaxed atomics, written by the loop thread without locks or allocation,
//! and read at any time from any thread as a [`Stats`] snapshot.
//!
//! # Algorithm
//!
//! A [`Histogram`] maps a nanosecond value `v` to a bucket: values below
//! 2^`SUB_BITS` get one bucket each; above, the power of two `e = ⌊log2 v⌋`
//! selects a group of 2^`SUB_BITS` equal sub-buckets spanning
//! `[2^e, 2^(e+1))`. A bucket's width is at most 1/64 of its lower bound,
//! and a percentile is reported as the bucket's midpoint, so it is within
//! 1/128 (0.8 %) of a true sample value. The maximum is kept exactly.
//!
//! # Memory ordering
//!
//! Every counter is an independent `Relaxed` atomic: a reader wants each
//! figure to be some value the loop really wrote, not a consistent cut across
//! figures (a snapshot taken while running can count a tick in one figure and
//! not yet in another). Nothing else is published through these atomics.
//! Strings (last error, last panic) and the real-time report go through
//! `ArcSwapOption`, which allocates, but only on the error path and at start.

use crate::sync::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use arc_swap::ArcSwapOption;
use std::sync::Arc as StdArc;
use std::time::Duration;

const SUB_BITS: u32 = 6;
const SUB: usize = 1 << SUB_BITS;
/// Groups: group 0 holds values `< SUB`; group g ≥ 1 holds `[2^(g+5), 2^(g+6))`.
const GROUPS: usize = 64 - SUB_BITS as usize + 1;
const BUCKETS: usize = GROUPS * SUB;

fn bucket_of(v: u64) -> usize {
    if v < SUB as u64 {
        return v as usize;
    }
    let e = 63 - v.leading_zeros(); // ≥ SUB_BITS
    let mantissa = (v >> (e - SUB_BITS)) as usize; // in [SUB, 2·SUB)
    (e - SUB_BITS + 1) as usize * SUB + (mantissa - SUB)
}

/// The midpoint of a bucket, in nanoseconds.
fn value_of(bucket: usize) -> u64 {
    let group = bucket / SUB;
    let sub = (bucket % SUB) as u64;
    if group == 0 {
        return sub;
    }
    let shift = group as u32 - 1; // bucket width is 2^shift
    let lower = (SUB as u64 + sub) << shift;
    lower + ((1u64 << shift) >> 1)
}

/// A fixed-size histogram of nanosecond values (about 30 KiB), recorded and
/// read through relaxed atomics.
pub(crate) struct Histogram {
    buckets: Box<[AtomicU64]>,
    max: AtomicU64,
}

impl Histogram {
    pub(crate) fn new() -> Self {
        Histogram {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            max: AtomicU64::new(0),
        }
    }

    /// Records one value; no allocation, no lock.
    #[inline]
    pub(crate) fn record(&self, ns: u64) {
        // ORDERING: independent counters (see the module docs); the reader
        // needs no edge to any other memory.
        self.buckets[bucket_of(ns)].fetch_add(1, Ordering::Relaxed);
        // ORDERING: as above.
        self.max.fetch_max(ns, Ordering::Relaxed);
    }

    pub(crate) fn reset(&self) {
        for b in self.buckets.iter() {
            // ORDERING: as in `record`; reset happens before a run starts.
            b.store(0, Ordering::Relaxed);
        }
        // ORDERING: as above.
        self.max.store(0, Ordering::Relaxed);
    }

    /// p50, p90, p99 and max of what was recorded so far.
    pub(crate) fn percentiles(&self) -> Percentiles {
        let mut counts = [0u64; BUCKETS];
        let mut total = 0u64;
        for (c, b) in counts.iter_mut().zip(self.buckets.iter()) {
            // ORDERING: as in `record`.
            *c = b.load(Ordering::Relaxed);
            total += *c;
        }
        // ORDERING: as in `record`.
        let max = self.max.load(Ordering::Relaxed);
        let at = |q: f64| -> Duration {
            if total == 0 {
                return Duration::ZERO;
            }
            let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
            let mut seen = 0;
            for (i, &c) in counts.iter().enumerate() {
                seen += c;
                if seen >= rank {
                    return Duration::from_nanos(value_of(i).min(max));
                }
            }
            Duration::from_nanos(max)
        };
        Percentiles {
            count: total,
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            max: Duration::from_nanos(max),
        }
    }
}

/// Percentiles of a distribution of durations, from a log-linear histogram
/// (each within 0.8 % of a recorded value; `max` is exact).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Percentiles {
    /// Number of samples.
    pub count: u64,
    /// Median.
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Largest sample.
    pub max: Duration,
}

/// What became of one requested real-time setting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RtStatus {
    /// The setting: `"sched_fifo"`, `"cpu_affinity"`, `"mlockall"` or
    /// `"timer_slack"`.
    pub setting: &'static str,
    /// What was asked for, e.g. `"priority 80"`.
    pub requested: String,
    /// `Ok(())` if applied, else the operating system's reason.
    pub outcome: Result<(), String>,
}

/// The real-time settings a loop was asked to apply, each with its outcome.
/// Settings not requested do not appear.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RtReport {
    /// One entry per requested setting, in the order they were applied.
    pub settings: Vec<RtStatus>,
}

impl RtReport {
    /// Whether `setting` was requested (`Some`) and applied (`Some(true)`).
    pub fn applied(&self, setting: &str) -> Option<bool> {
        self.settings
            .iter()
            .find(|s| s.setting == setting)
            .map(|s| s.outcome.is_ok())
    }
}

/// Why a loop stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// `stop()`/`request_stop()` was called.
    Requested,
    /// The tick returned [`Flow::Stop`](super::Flow::Stop).
    Flow,
    /// `run_for(n)` ran its `n` ticks.
    Completed,
    /// The tick returned an error and `stop_on_error` is set.
    Error,
    /// The tick panicked.
    Panicked,
    /// Real-time settings were refused under the strict policy.
    RealTime,
}

impl StopReason {
    fn code(self) -> u32 {
        match self {
            StopReason::Requested => 1,
            StopReason::Flow => 2,
            StopReason::Completed => 3,
            StopReason::Error => 4,
            StopReason::Panicked => 5,
            StopReason::RealTime => 6,
        }
    }

    fn from_code(c: u32) -> Option<StopReason> {
        Some(match c {
            1 => StopReason::Requested,
            2 => StopReason::Flow,
            3 => StopReason::Completed,
            4 => StopReason::Error,
            5 => StopReason::Panicked,
            6 => StopReason::RealTime,
            _ => return None,
        })
    }
}

/// A snapshot of a loop's statistics. Read while running, figures may be a
/// tick apart from each other.
#[derive(Clone, Debug, PartialEq)]
pub struct Stats {
    /// Ticks run.
    pub iteration_count: u64,
    /// Ticks whose work ended after the next deadline.
    pub overruns: u64,
    /// Deadlines skipped entirely because a tick overran by a period or more
    /// (the loop re-aligned to the next future deadline).
    pub missed_ticks: u64,
    /// Ticks that returned an error.
    pub errors: u64,
    /// The last error a tick returned.
    pub last_error: Option<String>,
    /// The message of the panic that stopped the loop, if any.
    pub last_panic: Option<String>,
    /// The configured period.
    pub period_target: Duration,
    /// Ticks per second over the run (between the first and the last tick).
    pub frequency_actual_hz: f64,
    /// Time between the starts of consecutive ticks.
    pub period: Percentiles,
    /// |actual − expected| time between consecutive ticks (expected: the
    /// period times the number of deadlines between them).
    pub period_error: Percentiles,
    /// Root mean square of the period error.
    pub jitter_rms: Duration,
    /// How late each tick started after its deadline.
    pub lateness: Percentiles,
    /// Mean execution time of the tick closure.
    pub execution_mean: Duration,
    /// Shortest execution time.
    pub execution_min: Duration,
    /// Longest execution time.
    pub execution_max: Duration,
    /// CPU time of the loop thread during the run (sleeping excluded,
    /// spinning included). Updated every 64 ticks and at the end.
    pub cpu_time: Duration,
    /// Time from the first tick's deadline to the last tick's start.
    pub elapsed: Duration,
    /// Whether the loop is running.
    pub running: bool,
    /// Why it stopped, once it has.
    pub stop_reason: Option<StopReason>,
    /// The real-time settings requested and what became of each.
    pub real_time: RtReport,
}

impl Stats {
    /// The configured rate in Hz.
    pub fn frequency_target_hz(&self) -> f64 {
        1.0 / self.period_target.as_secs_f64()
    }

    /// Fraction of ticks that returned without error (1.0 with no ticks).
    pub fn success_rate(&self) -> f64 {
        if self.iteration_count == 0 {
            1.0
        } else {
            1.0 - self.errors as f64 / self.iteration_count as f64
        }
    }
}

/// The atomics behind [`Stats`], shared by the loop thread (the only writer)
/// and any number of readers.
pub(crate) struct Shared {
    pub(crate) period_ns: u64,
    iterations: AtomicU64,
    overruns: AtomicU64,
    missed: AtomicU64,
    errors: AtomicU64,
    exec_sum: AtomicU64,
    exec_min: AtomicU64,
    exec_max: AtomicU64,
    cpu: AtomicU64,
    first_tick: AtomicU64,
    last_tick: AtomicU64,
    /// f64 bits of Σ period_error², in s² (single writer: load + store).
    jitter_sq: AtomicU64,
    period: Histogram,
    period_error: Histogram,
    lateness: Histogram,
    pub(crate) running: AtomicBool,
    pub(crate) stop_requested: AtomicBool,
    stop_reason: AtomicU32,
    last_error: ArcSwapOption<String>,
    last_panic: ArcSwapOption<String>,
    real_time: ArcSwapOption<RtReport>,
}

impl Shared {
    pub(crate) fn new(period_ns: u64) -> Self {
        Shared {
            period_ns,
            iterations: AtomicU64::new(0),
            overruns: AtomicU64::new(0),
            missed: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            exec_sum: AtomicU64::new(0),
            exec_min: AtomicU64::new(u64::MAX),
            exec_max: AtomicU64::new(0),
            cpu: AtomicU64::new(0),
            first_tick: AtomicU64::new(0),
            last_tick: AtomicU64::new(0),
            jitter_sq: AtomicU64::new(0f64.to_bits()),
            period: Histogram::new(),
            period_error: Histogram::new(),
            lateness: Histogram::new(),
            running: AtomicBool::new(false),
            stop_requested: AtomicBool::new(false),
            stop_reason: AtomicU32::new(0),
            last_error: ArcSwapOption::empty(),
            last_panic: ArcSwapOption::empty(),
            real_time: ArcSwapOption::empty(),
        }
    }

    /// Records one tick. `interval` is `(actual, expected)` time since the
    /// previous tick, absent for the first.
    #[inline]
    pub(crate) fn record_tick(
        &self,
        start_ns: u64,
        lateness_ns: u64,
        interval: Option<(u64, u64)>,
        exec_ns: u64,
    ) {
        // ORDERING (all below): independent relaxed counters, see module docs.
        let n = self.iterations.load(Ordering::Relaxed);
        if n == 0 {
            // ORDERING: as above.
            self.first_tick.store(start_ns, Ordering::Relaxed);
        }
        // ORDERING: as above.
        self.last_tick.store(start_ns, Ordering::Relaxed);
        self.lateness.record(lateness_ns);
        if let Some((actual, expected)) = interval {
            self.period.record(actual);
            let err = actual.abs_diff(expected);
            self.period_error.record(err);
            let e = err as f64 * 1e-9;
            // ORDERING: single writer (the loop thread), so load + store does
            // not lose updates; readers only need some written value.
            let sq = f64::from_bits(self.jitter_sq.load(Ordering::Relaxed)) + e * e;
            // ORDERING: as above.
            self.jitter_sq.store(sq.to_bits(), Ordering::Relaxed);
        }
        // ORDERING: as above.
        self.exec_sum.fetch_add(exec_ns, Ordering::Relaxed);
        // ORDERING: as above.
        self.exec_min.fetch_min(exec_ns, Ordering::Relaxed);
        // ORDERING: as above.
        self.exec_max.fetch_max(exec_ns, Ordering::Relaxed);
        // ORDERING: as above; counted last so that a reader rarely sees a
        // tick counted whose figures are not yet in.
        self.iterations.store(n + 1, Ordering::Relaxed);
    }

    pub(crate) fn add_overrun(&self, missed: u64) {
        // ORDERING: independent counters, see module docs.
        self.overruns.fetch_add(1, Ordering::Relaxed);
        // ORDERING: as above.
        self.missed.fetch_add(missed, Ordering::Relaxed);
    }

    pub(crate) fn add_error(&self, msg: String) {
        self.last_error.store(Some(StdArc::new(msg)));
        // ORDERING: independent counter, see module docs.
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn set_panic(&self, msg: String) {
        self.last_panic.store(Some(StdArc::new(msg)));
    }

    pub(crate) fn set_cpu(&self, ns: u64) {
        // ORDERING: independent value, see module docs.
        self.cpu.store(ns, Ordering::Relaxed);
    }

    pub(crate) fn set_real_time(&self, report: RtReport) {
        self.real_time.store(Some(StdArc::new(report)));
    }

    pub(crate) fn set_stop_reason(&self, r: StopReason) {
        // ORDERING: read only for reporting; `running` going false (Release,
        // in the loop) is what a reader synchronises on.
        self.stop_reason.store(r.code(), Ordering::Relaxed);
    }

    /// Clears the per-run figures before a run starts.
    pub(crate) fn reset(&self) {
        for a in [
            &self.iterations,
            &self.overruns,
            &self.missed,
            &self.errors,
            &self.exec_sum,
            &self.exec_max,
            &self.cpu,
            &self.first_tick,
            &self.last_tick,
        ] {
            // ORDERING: runs before the loop starts, by the thread that will
            // then be the writer; readers need only some written value.
            a.store(0, Ordering::Relaxed);
        }
        // ORDERING: as above.
        self.exec_min.store(u64::MAX, Ordering::Relaxed);
        // ORDERING: as above.
        self.jitter_sq.store(0f64.to_bits(), Ordering::Relaxed);
        // ORDERING: as above.
        self.stop_reason.store(0, Ordering::Relaxed);
        self.period.reset();
        self.period_error.reset();
        self.lateness.reset();
        self.last_error.store(None);
        self.last_panic.store(None);
    }

    pub(crate) fn snapshot(&self) -> Stats {
        // ORDERING (all loads): relaxed, see module docs; `running` is read
        // with Acquire so that once it reads false every figure the loop
        // wrote before clearing it (Release) is visible.
        let running = self.running.load(Ordering::Acquire);
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let n = load(&self.iterations);
        let first = load(&self.first_tick);
        let last = load(&self.last_tick);
        let elapsed = last.saturating_sub(first);
        let exec_min = load(&self.exec_min);
        let periods = n.saturating_sub(1);
        let jitter_sq = f64::from_bits(load(&self.jitter_sq));
        Stats {
            iteration_count: n,
            overruns: load(&self.overruns),
            missed_ticks: load(&self.missed),
            errors: load(&self.errors),
            last_error: self.last_error.load_full().map(|s| (*s).clone()),
            last_panic: self.last_panic.load_full().map(|s| (*s).clone()),
            period_target: Duration::from_nanos(self.period_ns),
            frequency_actual_hz: if elapsed > 0 {
                periods as f64 / (elapsed as f64 * 1e-9)
            } else {
                0.0
            },
            period: self.period.percentiles(),
            period_error: self.period_error.percentiles(),
            jitter_rms: if periods > 0 {
                Duration::from_secs_f64((jitter_sq / periods as f64).sqrt())
            } else {
                Duration::ZERO
            },
            lateness: self.lateness.percentiles(),
            execution_mean: Duration::from_nanos(load(&self.exec_sum).checked_div(n).unwrap_or(0)),
            execution_min: Duration::from_nanos(if exec_min == u64::MAX { 0 } else { exec_min }),
            execution_max: Duration::from_nanos(load(&self.exec_max)),
            cpu_time: Duration::from_nanos(load(&self.cpu)),
            elapsed: Duration::from_nanos(elapsed),
            running,
            // ORDERING: as above.
            stop_reason: StopReason::from_code(self.stop_reason.load(Ordering::Relaxed)),
            real_time: self
                .real_time
                .load_full()
                .map(|r| (*r).clone())
                .unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_cover_the_range() {
        let mut prev = 0;
        for v in (0..100_000u64).chain([u64::MAX / 2, u64::MAX]) {
            let b = bucket_of(v);
            assert!(b >= prev && b < BUCKETS, "v={v} b={b}");
            prev = b;
        }
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn bucket_midpoints_are_within_one_percent() {
        for v in [
            1u64,
            63,
            64,
            65,
            127,
            128,
            1000,
            999_999,
            1_000_000,
            123_456_789,
            1 << 40,
        ] {
            let m = value_of(bucket_of(v));
            let err = m.abs_diff(v) as f64 / v as f64;
            assert!(err <= 1.0 / 128.0 + 1e-12, "v={v} m={m} err={err}");
        }
    }

    #[test]
    fn percentiles_of_a_known_distribution() {
        let h = Histogram::new();
        for v in 1..=1000u64 {
            h.record(v * 1000); // 1 µs .. 1 ms
        }
        let p = h.percentiles();
        assert_eq!(p.count, 1000);
        let close = |d: Duration, want_us: f64| {
            let got = d.as_secs_f64() * 1e6;
            (got - want_us).abs() / want_us < 0.01
        };
        assert!(close(p.p50, 500.0), "{p:?}");
        assert!(close(p.p90, 900.0), "{p:?}");
        assert!(close(p.p99, 990.0), "{p:?}");
        assert_eq!(p.max, Duration::from_millis(1));
    }

    #[test]
    fn empty_histogram_reads_zero() {
        let p = Histogram::new().percentiles();
        assert_eq!(p, Percentiles::default());
    }
}
