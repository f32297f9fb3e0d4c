//! A loop's configuration: [`LoopConfig`], the real-time settings
//! ([`RtSettings`]) and what to do when one is refused ([`RtPolicy`]).

use crate::{Clock, Error};
use std::time::Duration;

/// The default spin window: sleep until this long before each deadline, then
/// spin. Chosen from a measurement of `clock_nanosleep(CLOCK_MONOTONIC,
/// TIMER_ABSTIME)` wake-up lateness at 1 kHz on the project's 2-core shared
/// VM (10 000 wake-ups, three runs, default 50 µs timer slack): p50 76–79 µs,
/// p90 85–102 µs, p99 98–118 µs, p99.9 0.6–0.9 ms. 150 µs covers the p99
/// with margin; the rarer late wake-ups are reported as lateness. With a
/// 1 ns timer slack (p99 70–114 µs) or SCHED_FIFO (p99 45–60 µs) a smaller
/// window suffices.
pub const DEFAULT_SPIN: Duration = Duration::from_micros(150);

/// How the loop treats a requested real-time setting that cannot be applied.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RtPolicy {
    /// Refuse to start: return [`Error::RealTime`] naming the setting.
    Strict,
    /// Start anyway; the refusal and its reason are in [`LoopStats::real_time`](super::LoopStats::real_time).
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

    /// Checks every field; [`ControlLoop::new`](super::ControlLoop::new) and `spawn` call it.
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
