//! The kernel's floor: a bare absolute-deadline loop with nothing but
//! `clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME)`, no spin, no statistics,
//! no closure. Benchmarks compare [`ControlLoop`](super::ControlLoop) with
//! it in the same run.

use super::rt;
use std::time::Duration;

/// Runs a bare loop on the calling thread for `duration` at `period`: tick
/// `k` sleeps until `start + k·period` and records when it woke. Late ticks
/// are never skipped (a late loop bursts to catch up, as a naive loop does).
/// Returns each tick's wake-up time in nanoseconds since its first deadline
/// (`start`), so tick `k`'s lateness is `wake[k] − k·period`. The vector is
/// allocated before the loop starts. A zero `period` returns no ticks.
pub fn bare_loop(period: Duration, duration: Duration) -> Vec<u64> {
    let period = period.as_nanos() as u64;
    if period == 0 {
        return Vec::new();
    }
    let n = (duration.as_nanos() as u64 / period) as usize;
    let mut wakes = Vec::with_capacity(n);
    let start = rt::monotonic_ns();
    for k in 0..n as u64 {
        rt::sleep_until_monotonic(start + k * period);
        wakes.push(rt::monotonic_ns() - start);
    }
    wakes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_never_wake_before_their_deadline() {
        let p = Duration::from_millis(1);
        let w = bare_loop(p, Duration::from_millis(20));
        assert_eq!(w.len(), 20);
        for (k, &t) in w.iter().enumerate() {
            assert!(t >= k as u64 * 1_000_000);
        }
        assert!(bare_loop(Duration::ZERO, p).is_empty());
    }
}
