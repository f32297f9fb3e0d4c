//! The fixed-rate loop: [`ControlLoop`], its [`LoopConfig`], the [`Tick`]
//! context and the [`Handle`] of a loop running on its own thread.
//!
//! # Algorithm
//!
//! 1. Apply the requested real-time settings to the loop thread; under
//!    [`RtPolicy::Strict`] the first refusal aborts the start with
//!    [`Error::RealTime`], under [`RtPolicy::Warn`] it is recorded in
//!    [`Stats::real_time`]. Take `start = clock.now_ns()`.
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
//!    the loop catches up through at most `catch_up` late deadlines. Overruns and missed deadlines are counted when the
//!    tick that caused them ends, the last tick included.
//! 5. Stop on request, on [`Flow::Stop`], on an error if `stop_on_error`, on a
//!    panic, or after `n` ticks for [`ControlLoop::run_for`].
//!
//! The tick path allocates nothing and takes no lock: statistics are relaxed
//! atomics (see `stats`). Only an error or a panic allocates (its message).

use super::rt;
use super::stats::{RtReport, RtStatus, Shared, Stats, StopReason};
use crate::sync::{lock, Arc, Condvar, Mutex, Ordering};
use crate::{Clock, Error};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

/// The default spin window: sleep until this long before each deadline, then
/// spin. Chosen from a measurement of `clock_nanosleep(CLOCK_MONOTONIC,
/// TIMER_ABSTIME)` wake-up lateness at 1 kHz on the project's 2-core shared
/// VM (10 000 wake-ups, three runs, default 50 µs timer slack): p50 76–79 µs,
/// p90 85–102 µs, p99 98–118 µs, p99.9 0.6–0.9 ms. 150 µs covers the p99
/// with margin; the rarer late wake-ups are reported as lateness. With a
/// 1 ns timer slack (p99 70–114 µs) or SCHED_FIFO (p99 45–60 µs) a smaller
/// window suffices.
pub const DEFAULT_SPIN: Duration = Duration::from_micros(150);

/// The longest single sleep, so that a stop request is seen promptly.
const SLEEP_SLICE_NS: u64 = 50_000_000;

/// How the loop treats a requested real-time setting that cannot be applied.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RtPolicy {
    /// Refuse to start: return [`Error::RealTime`] naming the setting.
    Strict,
    /// Start anyway; the refusal and its reason are in [`Stats::real_time`].
    #[default]
    Warn,
}

/// Real-time settings for the loop thread; each is applied only when
/// requested. Nothing is ignored silently: see [`RtPolicy`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RtSettings {
    /// Run under `SCHED_FIFO` at this priority (1..=99).
    pub fifo_priority: Option<i32>,
    /// Pin the loop thread to these CPUs.
    pub cpu_affinity: Option<Vec<usize>>,
    /// `mlockall(MCL_CURRENT | MCL_FUTURE)`. Process-wide and permanent.
    pub lock_memory: bool,
    /// The loop thread's timer slack (`prctl(PR_SET_TIMERSLACK)`), ≥ 1 ns.
    pub timer_slack: Option<Duration>,
}

/// The timer slack a loop asks for by default (1 ns: wake-ups as close to
/// the deadline as the kernel allows). Any thread may set its own slack, so
/// this needs no privilege; on the 16-core measurement machine it took the
/// loop's p99 period error from about 1 ms to 14 µs.
pub const DEFAULT_TIMER_SLACK: Duration = Duration::from_nanos(1);

/// A loop's configuration (by default: [`DEFAULT_SPIN`],
/// [`DEFAULT_CATCH_UP`], [`DEFAULT_TIMER_SLACK`], warn policy). Build it with [`LoopConfig::from_rate_hz`] or
/// [`LoopConfig::from_period`] and adjust the public fields or the `with_*`
/// methods.
#[derive(Clone, Debug)]
pub struct LoopConfig {
    /// Time between deadlines.
    pub period: Duration,
    /// Spin for this long before each deadline instead of sleeping
    /// ([`DEFAULT_SPIN`]). A window of a period or more spins all the time.
    pub spin: Duration,
    /// Real-time settings to apply.
    pub real_time: RtSettings,
    /// What to do when one cannot be applied.
    pub policy: RtPolicy,
    /// The clock the deadlines are on.
    pub clock: Clock,
    /// The loop thread's name (for `spawn`).
    pub name: String,
    /// Stop the loop when a tick returns an error (else count it and go on).
    pub stop_on_error: bool,
    /// After a tick that ends late by less than this many periods, the
    /// deadlines it overran still run (back to back, late), so that the
    /// loop keeps its tick count through a short stall; later than that,
    /// they are skipped and counted as missed. 1 skips any deadline a whole
    /// period in the past ([`DEFAULT_CATCH_UP`]).
    pub catch_up: u32,
}

/// The default [`LoopConfig::catch_up`]: a stall of up to 4 periods (4 ms at
/// 1 kHz, the size of the scheduling hiccups seen on shared VMs) is caught
/// up; a longer one skips deadlines rather than bursting through them.
pub const DEFAULT_CATCH_UP: u32 = 4;

impl LoopConfig {
    /// A loop at `hz` ticks per second (finite, > 0, period ≥ 1 ns).
    pub fn from_rate_hz(hz: f64) -> Result<Self, Error> {
        if !hz.is_finite() || hz <= 0.0 {
            return Err(Error::InvalidArgument {
                name: "rate_hz",
                reason: format!("must be finite and > 0, got {hz}"),
            });
        }
        let period = Duration::try_from_secs_f64(1.0 / hz).map_err(|e| Error::InvalidArgument {
            name: "rate_hz",
            reason: e.to_string(),
        })?;
        Self::from_period(period).map_err(|_| Error::InvalidArgument {
            name: "rate_hz",
            reason: format!("{hz} Hz gives a period below 1 ns"),
        })
    }

    /// A loop with this period (≥ 1 ns).
    pub fn from_period(period: Duration) -> Result<Self, Error> {
        let c = LoopConfig {
            period,
            spin: DEFAULT_SPIN,
            real_time: RtSettings {
                timer_slack: Some(DEFAULT_TIMER_SLACK),
                ..RtSettings::default()
            },
            policy: RtPolicy::default(),
            clock: Clock::System,
            name: "rtstate-loop".to_string(),
            stop_on_error: false,
            catch_up: DEFAULT_CATCH_UP,
        };
        c.validate()?;
        Ok(c)
    }

    /// Sets the clock.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Sets the spin window.
    pub fn with_spin(mut self, spin: Duration) -> Self {
        self.spin = spin;
        self
    }

    /// Sets the real-time settings and the policy.
    pub fn with_real_time(mut self, settings: RtSettings, policy: RtPolicy) -> Self {
        self.real_time = settings;
        self.policy = policy;
        self
    }

    /// Sets the thread name.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Sets `stop_on_error`.
    pub fn with_stop_on_error(mut self, stop: bool) -> Self {
        self.stop_on_error = stop;
        self
    }

    /// Sets `catch_up` (at least 1).
    pub fn with_catch_up(mut self, periods: u32) -> Self {
        self.catch_up = periods.max(1);
        self
    }

    /// Checks every field; [`ControlLoop::new`] and `spawn` call it.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |name, reason: String| Err(Error::InvalidArgument { name, reason });
        if self.period.is_zero() || self.period.as_nanos() > u64::MAX as u128 / 4 {
            return bad(
                "period",
                format!("must be ≥ 1 ns and sane, got {:?}", self.period),
            );
        }
        if let Some(p) = self.real_time.fifo_priority {
            if !(1..=99).contains(&p) {
                return bad("fifo_priority", format!("must be in 1..=99, got {p}"));
            }
        }
        if let Some(cpus) = &self.real_time.cpu_affinity {
            if cpus.is_empty() {
                return bad("cpu_affinity", "must name at least one cpu".into());
            }
        }
        if let Some(s) = self.real_time.timer_slack {
            if s.is_zero() {
                return bad("timer_slack", "must be ≥ 1 ns (0 means the default)".into());
            }
        }
        if self.name.contains('\0') {
            return bad("name", "must not contain a NUL byte".into());
        }
        Ok(())
    }
}

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
    shared: Arc<Shared>,
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
        let shared = Arc::new(Shared::new(config.period.as_nanos() as u64));
        Ok(ControlLoop {
            config,
            tick,
            shared,
        })
    }

    /// Runs `n_ticks` ticks on the calling thread (fewer if the tick stops
    /// the loop). Real-time settings apply to the calling thread for the run
    /// and are restored after it (except `mlockall`, which is process-wide).
    /// Returns the run's statistics, [`Error::RealTime`] under the strict
    /// policy, or [`Error::Panicked`] if the tick panicked.
    pub fn run_for(&mut self, n_ticks: u64) -> Result<Stats, Error> {
        let saved = rt::Saved::capture();
        let result = run(
            &self.config,
            &mut self.tick,
            &self.shared,
            Some(n_ticks),
            None,
        );
        saved.restore();
        result.map(|()| self.shared.snapshot())
    }

    /// The statistics of the last or current run.
    pub fn stats(&self) -> Stats {
        self.shared.snapshot()
    }
}

impl<F: FnMut(&Tick) -> TickResult + Send + 'static> ControlLoop<F> {
    /// Starts a loop on a new thread named `config.name`. Returns once the
    /// real-time settings are applied: [`Error::RealTime`] under the strict
    /// policy if one was refused (the thread has then exited).
    pub fn spawn(config: LoopConfig, tick: F) -> Result<Handle, Error> {
        let ControlLoop {
            config,
            mut tick,
            shared,
        } = ControlLoop::new(config, tick)?;
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel::<Result<(), Error>>(1);
        let done = Arc::new(Done {
            finished: Mutex::new(false),
            cv: Condvar::new(),
        });
        let thread_shared = shared.clone();
        let thread_done = done.clone();
        let join = std::thread::Builder::new()
            .name(config.name.clone())
            .spawn(move || {
                let _signal = DoneGuard(thread_done);
                run(&config, &mut tick, &thread_shared, None, Some(ready_tx))
            })
            .map_err(|e| Error::RealTime {
                setting: "thread",
                reason: format!("cannot spawn the loop thread: {e}"),
            })?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Handle {
                shared,
                done,
                join: Some(join),
            }),
            Ok(Err(e)) => {
                let _ = join.join();
                Err(e)
            }
            Err(_) => {
                // The thread ended without a word: it can only have panicked.
                let msg = match join.join() {
                    Err(p) => panic_message(p.as_ref()),
                    Ok(_) => "the loop thread exited before starting".to_string(),
                };
                Err(Error::Panicked(msg))
            }
        }
    }
}

struct Done {
    finished: Mutex<bool>,
    cv: Condvar,
}

/// Signals `Done` when the loop thread ends, however it ends.
struct DoneGuard(Arc<Done>);

impl Drop for DoneGuard {
    fn drop(&mut self) {
        *lock(&self.0.finished) = true;
        self.0.cv.notify_all();
    }
}

/// A loop running on its own thread. Dropping it asks the loop to stop and
/// detaches the thread without waiting.
pub struct Handle {
    shared: Arc<Shared>,
    done: Arc<Done>,
    join: Option<std::thread::JoinHandle<Result<(), Error>>>,
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle")
            .field("running", &self.is_running())
            .finish_non_exhaustive()
    }
}

impl Handle {
    /// The loop's statistics now (no lock on the loop's side).
    pub fn stats(&self) -> Stats {
        self.shared.snapshot()
    }

    /// Whether the loop thread is still ticking.
    pub fn is_running(&self) -> bool {
        // ORDERING: Acquire pairs with the loop's Release store of `false`,
        // so a caller that sees it stopped sees its final figures.
        self.shared.running.load(Ordering::Acquire)
    }

    /// Asks the loop to stop after the current tick; does not wait.
    pub fn request_stop(&self) {
        // ORDERING: a flag with no data behind it; the loop reads it Relaxed
        // and the final figures are published by `running` (Release).
        self.shared.stop_requested.store(true, Ordering::Relaxed);
    }

    /// Asks the loop to stop and waits up to `timeout` for its thread to end.
    /// Returns the final statistics; [`Error::Panicked`] if the tick panicked
    /// (the statistics stay readable through [`stats`](Self::stats));
    /// [`Error::Timeout`] if the thread is still inside a tick after
    /// `timeout` (the handle stays usable: call `stop` again).
    pub fn stop(&mut self, timeout: Duration) -> Result<Stats, Error> {
        self.request_stop();
        let give_up = Instant::now() + timeout;
        let mut finished = lock(&self.done.finished);
        while !*finished {
            let now = Instant::now();
            if now >= give_up {
                return Err(Error::Timeout(timeout));
            }
            finished = match self.done.cv.wait_timeout(finished, give_up - now) {
                Ok((g, _)) => g,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        drop(finished);
        let result = match self.join.take() {
            Some(join) => match join.join() {
                Ok(r) => r,
                Err(p) => Err(Error::Panicked(panic_message(p.as_ref()))),
            },
            None => Ok(()),
        };
        result.map(|()| self.shared.snapshot())
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.request_stop();
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
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
    shared: &Shared,
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
                // ORDERING: see `Handle::request_stop`.
                if shared.stop_requested.load(Ordering::Relaxed) {
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

/// The loop itself, on the calling thread.
fn run<F: FnMut(&Tick) -> TickResult>(
    config: &LoopConfig,
    tick: &mut F,
    shared: &Shared,
    max_ticks: Option<u64>,
    ready: Option<std::sync::mpsc::SyncSender<Result<(), Error>>>,
) -> Result<(), Error> {
    shared.reset();
    let report = match apply_real_time(&config.real_time, config.policy) {
        Ok(r) => r,
        Err(e) => {
            shared.set_stop_reason(StopReason::RealTime);
            if let Some(tx) = ready {
                let _ = tx.send(Err(e.clone()));
            }
            return Err(e);
        }
    };
    shared.set_real_time(report);
    // ORDERING: Release/Acquire with readers of `running`; nothing depends on
    // it at start but it keeps one rule for the flag.
    shared.running.store(true, Ordering::Release);
    if let Some(tx) = ready {
        let _ = tx.send(Ok(()));
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
        // ORDERING: see `Handle::request_stop`.
        if shared.stop_requested.load(Ordering::Relaxed) {
            reason = StopReason::Requested;
            break;
        }
        let deadline = start + k * period;
        let Some(now) = wait_until(clock, deadline, spin, offset, shared) else {
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
        shared.record_tick(now, now - deadline, interval, end.saturating_sub(now));
        prev = Some((k, now));
        iteration += 1;
        if iteration % 64 == 0 {
            shared.set_cpu(rt::thread_cpu_ns() - cpu_start);
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
            shared.add_overrun(missed);
        }
        k = next;

        match outcome {
            Ok(Ok(Flow::Continue)) => {}
            Ok(Ok(Flow::Stop)) => {
                reason = StopReason::Flow;
                break;
            }
            Ok(Err(msg)) => {
                shared.add_error(msg);
                if config.stop_on_error {
                    reason = StopReason::Error;
                    break;
                }
            }
            Err(payload) => {
                let msg = panic_message(payload.as_ref());
                shared.set_panic(msg.clone());
                result = Err(Error::Panicked(msg));
                reason = StopReason::Panicked;
                break;
            }
        }
    }
    shared.set_cpu(rt::thread_cpu_ns() - cpu_start);
    shared.set_stop_reason(reason);
    // ORDERING: Release publishes every figure above to a reader that loads
    // `running == false` with Acquire (`Handle::is_running`, `snapshot`).
    shared.running.store(false, Ordering::Release);
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
