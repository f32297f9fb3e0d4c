//! Loop statistics: counters and fixed-size log-linear histograms made of
//! relaxed atomics, written by the loop thread without locks or allocation,
//! and read at any time from any thread (a tick of the loop included) as a
//! [`LoopStats`] snapshot.
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
//! Every figure is a [`Relaxed`] counter: an independent atomic accessed
//! only with `Ordering::Relaxed`, documented once on that type. A reader
//! wants each figure to be some value the loop really wrote, not a
//! consistent cut across figures (a snapshot taken while running can count a
//! tick in one figure and not yet in another). The one edge a reader needs
//! is carried by `running`: the loop clears it with `Release` after its
//! last figure, and [`LoopCounters::snapshot`] loads it with `Acquire`, so a
//! snapshot that reads `running == false` sees every final figure. Strings
//! (last error, last panic) and the real-time report go through
//! `ArcSwapOption`, which allocates, but only on the error path and at start.

use crate::sync::{AtomicBool, AtomicU64, Ordering};
use arc_swap::ArcSwapOption;
use std::sync::Arc as StdArc;
use std::time::Duration;

/// A `u64` figure that is written and read only with `Ordering::Relaxed`.
///
/// ORDERING (for every method): a statistic. Its value publishes no other
/// memory, so it needs no happens-before edge with anything; each access is
/// atomic, so a reader sees some value a writer stored, never a torn one.
/// The partner of each store is simply any later load of the same counter.
/// The only cross-figure guarantee, "all final figures are visible once the
/// loop has stopped", comes from `running` (see the module docs).
pub(crate) struct Relaxed(AtomicU64);

impl Relaxed {
    pub(crate) fn new(v: u64) -> Self {
        Relaxed(AtomicU64::new(v))
    }

    #[inline]
    pub(crate) fn get(&self) -> u64 {
        // ORDERING: see the type's docs.
        self.0.load(Ordering::Relaxed)
    }

    #[inline]
    pub(crate) fn set(&self, v: u64) {
        // ORDERING: see the type's docs.
        self.0.store(v, Ordering::Relaxed)
    }

    #[inline]
    pub(crate) fn add(&self, v: u64) {
        // ORDERING: see the type's docs.
        self.0.fetch_add(v, Ordering::Relaxed);
    }

    #[inline]
    pub(crate) fn max(&self, v: u64) {
        // ORDERING: see the type's docs.
        self.0.fetch_max(v, Ordering::Relaxed);
    }

    #[inline]
    pub(crate) fn min(&self, v: u64) {
        // ORDERING: see the type's docs.
        self.0.fetch_min(v, Ordering::Relaxed);
    }

    /// An `f64` kept as its bits.
    #[inline]
    pub(crate) fn get_f64(&self) -> f64 {
        f64::from_bits(self.get())
    }

    /// Stores an `f64` as its bits.
    #[inline]
    pub(crate) fn set_f64(&self, v: f64) {
        self.set(v.to_bits())
    }
}

impl Default for Relaxed {
    fn default() -> Self {
        Relaxed::new(0)
    }
}

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

/// A fixed-size histogram of nanosecond values (about 30 KiB) of
/// [`Relaxed`] counters.
pub(crate) struct Histogram {
    buckets: Box<[Relaxed]>,
    max: Relaxed,
}

impl Histogram {
    pub(crate) fn new() -> Self {
        Histogram {
            buckets: (0..BUCKETS).map(|_| Relaxed::new(0)).collect(),
            max: Relaxed::new(0),
        }
    }

    /// Records one value; no allocation, no lock.
    #[inline]
    pub(crate) fn record(&self, ns: u64) {
        self.buckets[bucket_of(ns)].add(1);
        self.max.max(ns);
    }

    /// Zeroes every bucket (before a run starts).
    pub(crate) fn reset(&self) {
        for b in self.buckets.iter() {
            b.set(0);
        }
        self.max.set(0);
    }

    /// p50, p90, p99 and max of what was recorded so far.
    pub(crate) fn percentiles(&self) -> Percentiles {
        let mut counts = [0u64; BUCKETS];
        let mut total = 0u64;
        for (c, b) in counts.iter_mut().zip(self.buckets.iter()) {
            *c = b.get();
            total += *c;
        }
        let max = self.max.get();
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
    fn code(self) -> u64 {
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
pub struct LoopStats {
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

impl LoopStats {
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

/// The atomics behind [`LoopStats`], shared by the loop thread (the only
/// writer) and any number of readers. Every figure is a [`Relaxed`]
/// counter; `running` and `stop_requested` are the two flags with an
/// ordering of their own.
pub(crate) struct LoopCounters {
    pub(crate) period_ns: u64,
    iterations: Relaxed,
    overruns: Relaxed,
    missed: Relaxed,
    errors: Relaxed,
    exec_sum: Relaxed,
    exec_min: Relaxed,
    exec_max: Relaxed,
    cpu: Relaxed,
    first_tick: Relaxed,
    last_tick: Relaxed,
    /// f64 bits of Σ period_error², in s² (single writer: get + set loses
    /// no update).
    jitter_sq: Relaxed,
    stop_reason: Relaxed,
    period: Histogram,
    period_error: Histogram,
    lateness: Histogram,
    running: AtomicBool,
    stop_requested: AtomicBool,
    last_error: ArcSwapOption<String>,
    last_panic: ArcSwapOption<String>,
    real_time: ArcSwapOption<RtReport>,
}

impl LoopCounters {
    pub(crate) fn new(period_ns: u64) -> Self {
        LoopCounters {
            period_ns,
            iterations: Relaxed::new(0),
            overruns: Relaxed::new(0),
            missed: Relaxed::new(0),
            errors: Relaxed::new(0),
            exec_sum: Relaxed::new(0),
            exec_min: Relaxed::new(u64::MAX),
            exec_max: Relaxed::new(0),
            cpu: Relaxed::new(0),
            first_tick: Relaxed::new(0),
            last_tick: Relaxed::new(0),
            jitter_sq: Relaxed::new(0f64.to_bits()),
            stop_reason: Relaxed::new(0),
            period: Histogram::new(),
            period_error: Histogram::new(),
            lateness: Histogram::new(),
            running: AtomicBool::new(false),
            stop_requested: AtomicBool::new(false),
            last_error: ArcSwapOption::empty(),
            last_panic: ArcSwapOption::empty(),
            real_time: ArcSwapOption::empty(),
        }
    }

    /// Whether the loop is ticking.
    #[inline]
    pub(crate) fn is_running(&self) -> bool {
        // ORDERING: Acquire pairs with the Release in `set_running(false)`,
        // so a caller that sees the loop stopped sees its final figures.
        self.running.load(Ordering::Acquire)
    }

    /// Set by the loop thread: `true` once started, `false` after its last
    /// figure.
    pub(crate) fn set_running(&self, running: bool) {
        // ORDERING: Release publishes every figure written before it to a
        // reader that loads `running` with Acquire (`is_running`, `snapshot`).
        self.running.store(running, Ordering::Release);
    }

    /// Asks the loop to stop after the current tick.
    pub(crate) fn request_stop(&self) {
        // ORDERING: a flag with no data behind it; the loop reads it Relaxed
        // (`stop_requested`) and the final figures are published by
        // `running` (Release).
        self.stop_requested.store(true, Ordering::Relaxed);
    }

    /// Whether a stop was requested.
    #[inline]
    pub(crate) fn stop_requested(&self) -> bool {
        // ORDERING: see `request_stop`.
        self.stop_requested.load(Ordering::Relaxed)
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
        let n = self.iterations.get();
        if n == 0 {
            self.first_tick.set(start_ns);
        }
        self.last_tick.set(start_ns);
        self.lateness.record(lateness_ns);
        if let Some((actual, expected)) = interval {
            self.period.record(actual);
            let err = actual.abs_diff(expected);
            self.period_error.record(err);
            let e = err as f64 * 1e-9;
            self.jitter_sq.set_f64(self.jitter_sq.get_f64() + e * e);
        }
        self.exec_sum.add(exec_ns);
        self.exec_min.min(exec_ns);
        self.exec_max.max(exec_ns);
        // Counted last, so that a reader rarely sees a tick counted whose
        // figures are not yet in.
        self.iterations.set(n + 1);
    }

    pub(crate) fn add_overrun(&self, missed: u64) {
        self.overruns.add(1);
        self.missed.add(missed);
    }

    pub(crate) fn add_error(&self, msg: String) {
        self.last_error.store(Some(StdArc::new(msg)));
        self.errors.add(1);
    }

    pub(crate) fn set_panic(&self, msg: String) {
        self.last_panic.store(Some(StdArc::new(msg)));
    }

    pub(crate) fn set_cpu(&self, ns: u64) {
        self.cpu.set(ns);
    }

    pub(crate) fn set_real_time(&self, report: RtReport) {
        self.real_time.store(Some(StdArc::new(report)));
    }

    pub(crate) fn set_stop_reason(&self, r: StopReason) {
        self.stop_reason.set(r.code());
    }

    /// Clears the per-run figures before a run starts (by the thread that
    /// will then be the writer).
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
            &self.stop_reason,
        ] {
            a.set(0);
        }
        self.exec_min.set(u64::MAX);
        self.jitter_sq.set_f64(0.0);
        self.period.reset();
        self.period_error.reset();
        self.lateness.reset();
        self.last_error.store(None);
        self.last_panic.store(None);
    }

    /// The figures now, from any thread; no lock, no wait.
    pub(crate) fn snapshot(&self) -> LoopStats {
        let running = self.is_running();
        let n = self.iterations.get();
        let first = self.first_tick.get();
        let last = self.last_tick.get();
        let elapsed = last.saturating_sub(first);
        let exec_min = self.exec_min.get();
        let periods = n.saturating_sub(1);
        let jitter_sq = self.jitter_sq.get_f64();
        LoopStats {
            iteration_count: n,
            overruns: self.overruns.get(),
            missed_ticks: self.missed.get(),
            errors: self.errors.get(),
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
            execution_mean: Duration::from_nanos(self.exec_sum.get().checked_div(n).unwrap_or(0)),
            execution_min: Duration::from_nanos(if exec_min == u64::MAX { 0 } else { exec_min }),
            execution_max: Duration::from_nanos(self.exec_max.get()),
            cpu_time: Duration::from_nanos(self.cpu.get()),
            elapsed: Duration::from_nanos(elapsed),
            running,
            stop_reason: u32::try_from(self.stop_reason.get())
                .ok()
                .and_then(StopReason::from_code),
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
