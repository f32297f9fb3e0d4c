//! The fixed-rate loop: [`ControlLoop`] and the [`Tick`] context it gives
//! each tick. Its configuration is in `config`, the [`Handle`] of a loop on
//! its own thread in `handle`.
//!
//! # Algorithm
//!
//! 1. Apply the requested real-time settings to the loop thread; under
//!    [`RtPolicy::Strict`] the first refusal aborts the start with
//!    [`Error::RealTime`], under [`RtPolicy::Warn`] it is recorded in
//!    [`LoopStats::real_time`]. Take `start = clock.now_ns()`.
//! 2. Tick `k`'s deadline is `start + k·period` (absolute: lateness never
//!    accumulates). Wait for it: with the system clock, `clock_nanosleep`
//!    (`CLOCK_MONOTONIC`, `TIMER_ABSTIME`) until `deadline − spin`, then spin
//!    on the clock until the deadline; a mock clock jumps to the deadline.
//!    Sleeps are cut into slices of at most 50 ms so that a stop request is
//!    seen promptly even at low rates.
//! 3. Call the tick closure (inside `catch_unwind`) with the tick's index,
//!    deadline, start time and lateness; record lateness, period, period
//!    error and execution time.
//! 4. If the tick ended after deadline `k+1`, count an overrun. If it ended
//!    `catch_up` periods or more after deadline `k+1`, the deadlines in the
//!    past are skipped (counted as missed) and the next tick is the first
//!    deadline not yet passed; otherwise tick `k+1` runs at once, late, and
//!    the loop catches up through at most `catch_up` late deadlines.
//!    Overruns and missed deadlines are counted when the tick that caused
//!    them ends, the last tick included.
//! 5. Stop on request, on [`Flow::Stop`], on an error if `stop_on_error`, on a
//!    panic, or after `n` ticks for [`ControlLoop::run_for`].
//!
//! The tick path allocates nothing and takes no lock: statistics are relaxed
//! atomics (see `stats`). Only an error or a panic allocates (its message).

use super::config::{LoopConfig, RtPolicy, RtSettings};
use super::rt;
use super::stats::{LoopCounters, LoopStats, RtReport, RtStatus, StopReason};
#[cfg(doc)]
use super::Handle;
use crate::sync::Arc;
use crate::{Clock, Error};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

/// The longest single sleep, so that a stop request is seen promptly.
const SLEEP_SLICE_NS: u64 = 50_000_000;

/// What the loop tells the tick closure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tick {
    /// The deadline's index `k` (deadline = start + k·period); skipped
    /// deadlines leave gaps.
    pub index: u64,
    /// How many ticks ran before this one (0, 1, 2, … without gaps).
    pub iteration: u64,
    /// This tick's deadline, in the loop clock's nanoseconds.
    pub deadline_ns: u64,
    /// When the tick started, in the loop clock's nanoseconds.
    pub now_ns: u64,
    /// `now − deadline`.
    pub lateness: Duration,
    /// Time since the previous tick started (the period for the first).
    pub dt: Duration,
}

/// What a tick asks of the loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Go on.
    Continue,
    /// Stop after this tick.
    Stop,
}

/// A tick's result: a flow, or an error message the loop counts (and stops
/// on, with `stop_on_error`).
pub type TickResult = Result<Flow, String>;

/// A fixed-rate loop around a tick closure. Run it on the current thread
/// with [`run_for`](Self::run_for), or on a thread of its own with
/// [`spawn`](Self::spawn).
pub struct ControlLoop<F> {
    config: LoopConfig,
    tick: F,
    counters: Arc<LoopCounters>,
}

impl<F> std::fmt::Debug for ControlLoop<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlLoop")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<F: FnMut(&Tick) -> TickResult> ControlLoop<F> {
    /// A loop that will call `tick` once per period. Validates `config`.
    pub fn new(config: LoopConfig, tick: F) -> Result<Self, Error> {
        config.validate()?;
        let counters = Arc::new(LoopCounters::new(config.period.as_nanos() as u64));
        Ok(ControlLoop {
            config,
            tick,
            counters,
        })
    }

    /// Its configuration, tick and counters (for `spawn`).
    pub(super) fn into_parts(self) -> (LoopConfig, F, Arc<LoopCounters>) {
        (self.config, self.tick, self.counters)
    }

    /// Runs `n_ticks` ticks on the calling thread (fewer if the tick stops
    /// the loop). Real-time settings apply to the calling thread for the run
    /// and are restored after it (except `mlockall`, which is process-wide).
    /// Returns the run's statistics, [`Error::RealTime`] under the strict
    /// policy, or [`Error::Panicked`] if the tick panicked.
    pub fn run_for(&mut self, n_ticks: u64) -> Result<LoopStats, Error> {
        let saved = rt::Saved::capture();
        let result = run(
            &self.config,
            &mut self.tick,
            &self.counters,
            Some(n_ticks),
            None,
        );
        saved.restore();
        result.map(|()| self.counters.snapshot())
    }

    /// The statistics of the last or current run.
    pub fn stats(&self) -> LoopStats {
        self.counters.snapshot()
    }
}

/// The message of a panic payload.
pub(super) fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_string()
    }
}

/// Applies the requested settings to the calling thread.
fn apply_real_time(settings: &RtSettings, policy: RtPolicy) -> Result<RtReport, Error> {
    let mut report = RtReport::default();
    let mut apply = |setting: &'static str, requested: String, outcome: Result<(), String>| {
        if let (RtPolicy::Strict, Err(reason)) = (policy, &outcome) {
            return Err(Error::RealTime {
                setting,
                reason: reason.clone(),
            });
        }
        report.settings.push(RtStatus {
            setting,
            requested,
            outcome,
        });
        Ok(())
    };
    if let Some(ns) = settings.timer_slack {
        let ns = (ns.as_nanos() as u64).max(1);
        apply("timer_slack", format!("{ns} ns"), rt::set_timer_slack(ns))?;
    }
    if let Some(cpus) = &settings.cpu_affinity {
        apply(
            "cpu_affinity",
            format!("cpus {cpus:?}"),
            rt::set_affinity(cpus),
        )?;
    }
    if settings.lock_memory {
        apply("mlockall", "current and future".into(), rt::lock_memory())?;
    }
    if let Some(p) = settings.fifo_priority {
        apply("sched_fifo", format!("priority {p}"), rt::set_fifo(p))?;
    }
    Ok(report)
}

/// Waits until `deadline` on `clock`; returns the time then, or `None` if a
/// stop was requested while sleeping.
#[inline]
fn wait_until(
    clock: &Clock,
    deadline: u64,
    spin: u64,
    offset: i128,
    counters: &LoopCounters,
) -> Option<u64> {
    match clock {
        Clock::Mock(_) => {
            clock.sleep_until(deadline);
            Some(clock.now_ns())
        }
        Clock::System => {
            let wake = deadline.saturating_sub(spin);
            let mut now = clock.now_ns();
            while now < wake {
                if counters.stop_requested() {
                    return None;
                }
                let target = wake.min(now + SLEEP_SLICE_NS);
                let raw = (target as i128 + offset).max(0) as u64;
                rt::sleep_until_monotonic(raw);
                now = clock.now_ns();
            }
            while now < deadline {
                std::hint::spin_loop();
                now = clock.now_ns();
            }
            Some(now)
        }
    }
}

/// The offset from the crate clock's nanoseconds to raw `CLOCK_MONOTONIC`
/// (both are CLOCK_MONOTONIC; the crate's counts from an anchor). Error: the
/// time between the two reads, tens of ns, absorbed by the spin.
fn monotonic_offset(clock: &Clock) -> i128 {
    let mut best: Option<(u64, i128)> = None;
    for _ in 0..5 {
        let a = rt::monotonic_ns();
        let c = clock.now_ns();
        let b = rt::monotonic_ns();
        let spread = b - a;
        let off = (a / 2 + b / 2) as i128 - c as i128;
        if best.is_none_or(|(s, _)| spread < s) {
            best = Some((spread, off));
        }
    }
    best.map(|(_, o)| o).unwrap_or(0)
}

/// How a spawned loop reports that it started, and what it waits for
/// before its first tick.
pub(super) struct Startup {
    /// Gets `Ok` once the real-time settings are applied, or the error.
    pub(super) ready: std::sync::mpsc::SyncSender<Result<(), Error>>,
    /// The first tick waits until this channel's sender is dropped.
    pub(super) gate: std::sync::mpsc::Receiver<()>,
}

/// The loop itself, on the calling thread.
pub(super) fn run<F: FnMut(&Tick) -> TickResult>(
    config: &LoopConfig,
    tick: &mut F,
    counters: &LoopCounters,
    max_ticks: Option<u64>,
    startup: Option<Startup>,
) -> Result<(), Error> {
    let (ready, gate) = match startup {
        Some(s) => (Some(s.ready), Some(s.gate)),
        None => (None, None),
    };
    counters.reset();
    let report = match apply_real_time(&config.real_time, config.policy) {
        Ok(r) => r,
        Err(e) => {
            counters.set_stop_reason(StopReason::RealTime);
            if let Some(tx) = ready {
                let _ = tx.send(Err(e.clone()));
            }
            return Err(e);
        }
    };
    counters.set_real_time(report);
    counters.set_running(true);
    if let Some(tx) = ready {
        let _ = tx.send(Ok(()));
    }
    if let Some(gate) = gate {
        // Returns when the spawner drops its side (see `handle::Gate`).
        let _ = gate.recv();
    }

    let clock = &config.clock;
    let period = config.period.as_nanos() as u64;
    let spin = config.spin.as_nanos().min(u64::MAX as u128) as u64;
    let offset = monotonic_offset(clock);
    let cpu_start = rt::thread_cpu_ns();
    let start = clock.now_ns();
    let mut k: u64 = 0;
    let mut iteration: u64 = 0;
    let mut prev: Option<(u64, u64)> = None; // (index, start time)
    let reason;
    let mut result = Ok(());
    loop {
        if max_ticks.is_some_and(|n| iteration >= n) {
            reason = StopReason::Completed;
            break;
        }
        if counters.stop_requested() {
            reason = StopReason::Requested;
            break;
        }
        let deadline = start + k * period;
        let Some(now) = wait_until(clock, deadline, spin, offset, counters) else {
            reason = StopReason::Requested;
            break;
        };
        let interval = prev.map(|(pk, pt)| (now - pt, (k - pk) * period));
        let ctx = Tick {
            index: k,
            iteration,
            deadline_ns: deadline,
            now_ns: now,
            lateness: Duration::from_nanos(now - deadline),
            dt: Duration::from_nanos(interval.map_or(period, |(a, _)| a)),
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| tick(&ctx)));
        let end = clock.now_ns();
        counters.record_tick(now, now - deadline, interval, end.saturating_sub(now));
        prev = Some((k, now));
        iteration += 1;
        if iteration.is_multiple_of(64) {
            counters.set_cpu(rt::thread_cpu_ns() - cpu_start);
        }

        // Overrun and re-alignment (step 4).
        let mut next = k + 1;
        let next_deadline = start + next * period;
        if end > next_deadline {
            let mut missed = 0;
            if end - next_deadline >= period * u64::from(config.catch_up.max(1)) {
                let first_future = (end - start).div_ceil(period);
                missed = first_future - next;
                next = first_future;
            }
            counters.add_overrun(missed);
        }
        k = next;

        match outcome {
            Ok(Ok(Flow::Continue)) => {}
            Ok(Ok(Flow::Stop)) => {
                reason = StopReason::Flow;
                break;
            }
            Ok(Err(msg)) => {
                counters.add_error(msg);
                if config.stop_on_error {
                    reason = StopReason::Error;
                    break;
                }
            }
            Err(payload) => {
                let msg = panic_message(payload.as_ref());
                counters.set_panic(msg.clone());
                result = Err(Error::Panicked(msg));
                reason = StopReason::Panicked;
                break;
            }
        }
    }
    counters.set_cpu(rt::thread_cpu_ns() - cpu_start);
    counters.set_stop_reason(reason);
    // Last: publishes every figure above (see `LoopCounters::set_running`).
    counters.set_running(false);
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MockClock;

    fn mock_config(period_ms: u64) -> (MockClock, LoopConfig) {
        let m = MockClock::new(0.0);
        let c = LoopConfig::from_period(Duration::from_millis(period_ms))
            .unwrap()
            .with_clock(m.clock());
        (m, c)
    }

    #[test]
    fn rate_is_validated() {
        for hz in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e10] {
            assert!(
                matches!(
                    LoopConfig::from_rate_hz(hz),
                    Err(Error::InvalidArgument {
                        name: "rate_hz",
                        ..
                    })
                ),
                "{hz}"
            );
        }
        let c = LoopConfig::from_rate_hz(1000.0).unwrap();
        assert_eq!(c.period, Duration::from_millis(1));
        assert!(LoopConfig::from_period(Duration::ZERO).is_err());
        let mut c = c;
        c.real_time.fifo_priority = Some(0);
        assert!(c.validate().is_err());
    }

    #[test]
    fn exact_deadlines_and_dt_on_a_mock_clock() {
        let (_m, c) = mock_config(1);
        let mut seen = Vec::new();
        let mut l = ControlLoop::new(c, |t: &Tick| {
            seen.push(*t);
            Ok(Flow::Continue)
        })
        .unwrap();
        let s = l.run_for(5).unwrap();
        drop(l);
        assert_eq!(s.iteration_count, 5);
        for (i, t) in seen.iter().enumerate() {
            assert_eq!(t.index, i as u64);
            assert_eq!(t.deadline_ns, i as u64 * 1_000_000);
            assert_eq!(t.now_ns, t.deadline_ns);
            assert_eq!(t.lateness, Duration::ZERO);
            assert_eq!(t.dt, Duration::from_millis(1));
        }
        assert_eq!(s.stop_reason, Some(StopReason::Completed));
        assert_eq!(s.period.p50, Duration::from_millis(1));
        assert_eq!(s.period_error.max, Duration::ZERO);
    }

    #[test]
    fn a_tick_late_by_less_than_a_period_runs_at_once() {
        let (m, c) = mock_config(1);
        let mut idx = Vec::new();
        let mut l = ControlLoop::new(c, |t: &Tick| {
            idx.push((t.index, t.now_ns));
            if t.index == 0 {
                m.advance(Duration::from_micros(1500));
            }
            Ok(Flow::Continue)
        })
        .unwrap();
        let s = l.run_for(3).unwrap();
        drop(l);
        assert_eq!(idx, vec![(0, 0), (1, 1_500_000), (2, 2_000_000)]);
        assert_eq!((s.overruns, s.missed_ticks), (1, 0));
        assert_eq!(s.lateness.max, Duration::from_micros(500));
    }
}
