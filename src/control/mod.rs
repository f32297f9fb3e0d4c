//! Control: a fixed-rate loop with timing statistics and real-time settings
//! ([`ControlLoop`]), a cascaded PID controller ([`pid`]) wired to buffers
//! ([`Autopilot`]), and a small vehicle simulation to try it on ([`sim`]).
//!
//! ```
//! use rtstate::control::{ControlLoop, Flow, LoopConfig, Tick};
//! use rtstate::MockClock;
//!
//! let clock = MockClock::new(0.0);
//! let config = LoopConfig::from_rate_hz(1000.0)?.with_clock(clock.clock());
//! let mut ticks = ControlLoop::new(config, |t: &Tick| {
//!     assert_eq!(t.deadline_ns, t.index * 1_000_000);
//!     Ok(Flow::Continue)
//! })?;
//! let stats = ticks.run_for(10)?;
//! assert_eq!(stats.iteration_count, 10);
//! # Ok::<(), rtstate::Error>(())
//! ```

mod autopilot;
mod bare;
mod config;
mod handle;
pub mod pid;
pub(crate) mod rt;
mod runner;
pub mod sim;
mod stats;

pub use autopilot::Autopilot;
pub use bare::bare_loop;
pub use config::{
    LoopConfig, RtPolicy, RtSettings, DEFAULT_CATCH_UP, DEFAULT_SPIN, DEFAULT_TIMER_SLACK,
};
pub use handle::{Gate, Handle};
pub use runner::{ControlLoop, Flow, Tick, TickResult};
#[cfg(feature = "python")]
pub(crate) use stats::Relaxed;
pub use stats::{LoopStats, Percentiles, RtReport, RtStatus, StopReason};
