//! Time: a monotonic clock in nanoseconds and a wall clock in float seconds,
//! real or mocked, so that staleness and loop timing are tested
//! deterministically.
//!
//! The system clock reads `CLOCK_MONOTONIC` once per call (a vDSO call, no
//! syscall) and derives wall-clock seconds from it through an anchor pair
//! `(monotonic, wall)` taken at first use. A publish therefore reads the clock
//! once, and its two times always agree with each other; the derived wall
//! clock follows NTP slewing (which also slews the monotonic clock) but not
//! a step of the system time made after the anchor was taken.

use crate::sync::{Arc, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Where a buffer or a loop reads its time.
#[derive(Clone, Debug, Default)]
pub enum Clock {
    /// The operating system's monotonic clock, with wall time derived from it.
    #[default]
    System,
    /// A clock that moves only when told to (tests, simulations).
    Mock(MockClock),
}

struct Anchor {
    instant: Instant,
    wall: f64,
}

fn anchor() -> &'static Anchor {
    static ANCHOR: OnceLock<Anchor> = OnceLock::new();
    ANCHOR.get_or_init(|| Anchor {
        instant: Instant::now(),
        wall: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0),
    })
}

/// Nanoseconds on the process's monotonic time line (0 = the anchor).
fn system_mono_ns() -> u64 {
    let a = anchor();
    // A u64 of nanoseconds lasts 584 years past the anchor.
    a.instant.elapsed().as_nanos() as u64
}

impl Clock {
    /// Monotonic time in nanoseconds since this clock's origin.
    #[inline]
    pub fn now_ns(&self) -> u64 {
        match self {
            Clock::System => system_mono_ns(),
            Clock::Mock(m) => m.now_ns(),
        }
    }

    /// Wall-clock seconds since the Unix epoch corresponding to a monotonic
    /// time of this clock.
    #[inline]
    pub fn wall_at(&self, mono_ns: u64) -> f64 {
        match self {
            Clock::System => anchor().wall + mono_ns as f64 * 1e-9,
            Clock::Mock(m) => m.inner.wall_origin + mono_ns as f64 * 1e-9,
        }
    }

    /// Wall-clock seconds since the Unix epoch, now.
    #[inline]
    pub fn wall(&self) -> f64 {
        self.wall_at(self.now_ns())
    }

    /// Sleeps until the monotonic time `deadline_ns` (a mock clock jumps to it).
    pub fn sleep_until(&self, deadline_ns: u64) {
        match self {
            Clock::System => {
                let now = system_mono_ns();
                if deadline_ns > now {
                    std::thread::sleep(Duration::from_nanos(deadline_ns - now));
                }
            }
            Clock::Mock(m) => m.advance_to(deadline_ns),
        }
    }

    /// The mock clock behind this clock, if it is one.
    pub fn as_mock(&self) -> Option<&MockClock> {
        match self {
            Clock::Mock(m) => Some(m),
            Clock::System => None,
        }
    }
}

/// A manually driven clock, shared by cloning.
#[derive(Clone, Debug)]
pub struct MockClock {
    inner: Arc<MockInner>,
}

#[derive(Debug)]
struct MockInner {
    now_ns: AtomicU64,
    wall_origin: f64,
}

impl MockClock {
    /// A mock clock at monotonic 0, whose wall clock reads `wall_origin`
    /// seconds then.
    pub fn new(wall_origin: f64) -> Self {
        MockClock {
            inner: Arc::new(MockInner {
                now_ns: AtomicU64::new(0),
                wall_origin,
            }),
        }
    }

    /// Monotonic nanoseconds now.
    pub fn now_ns(&self) -> u64 {
        // ORDERING: a plain value shared by tests; no other memory hangs on it.
        self.inner.now_ns.load(Ordering::Relaxed)
    }

    /// Moves time forward by `d`.
    pub fn advance(&self, d: Duration) {
        // ORDERING: as in `now_ns`.
        self.inner
            .now_ns
            .fetch_add(d.as_nanos() as u64, Ordering::Relaxed);
    }

    /// Moves time forward to `ns` (never backwards).
    pub fn advance_to(&self, ns: u64) {
        // ORDERING: as in `now_ns`.
        self.inner.now_ns.fetch_max(ns, Ordering::Relaxed);
    }

    /// This mock as a [`Clock`].
    pub fn clock(&self) -> Clock {
        Clock::Mock(self.clone())
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn system_clock_is_monotonic_and_near_wall_time() {
        let c = Clock::System;
        let a = c.now_ns();
        let b = c.now_ns();
        assert!(b >= a);
        let sys = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!((c.wall() - sys).abs() < 1.0);
    }

    #[test]
    fn mock_clock_moves_only_when_told() {
        let m = MockClock::new(1000.0);
        let c = m.clock();
        assert_eq!(c.now_ns(), 0);
        m.advance(Duration::from_millis(5));
        assert_eq!(c.now_ns(), 5_000_000);
        assert!((c.wall() - 1000.005).abs() < 1e-9);
        c.sleep_until(10_000_000);
        assert_eq!(m.now_ns(), 10_000_000);
        m.advance_to(1);
        assert_eq!(m.now_ns(), 10_000_000, "never backwards");
    }
}
