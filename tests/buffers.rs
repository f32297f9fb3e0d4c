//! Public behaviour of every buffer, run over each storage: construction
//! errors, versions, history, staleness on a mock clock, waits, close,
//! statistics, reset and reader cursors (`tests/common/behaviour.rs`, once
//! for [`SlotRing`] and once for [`StateBuffer`]), then what only one
//! storage does. Waits run under a watchdog so that a bug fails a test
//! instead of hanging the suite; no test asserts a maximum duration.
#![cfg(not(loom))]

use rtstate::{Error, FastDroneState, MockClock, Policy, PublishError, Source, State};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// A wall-clock origin like a real one (seconds since the epoch).
const ORIGIN: f64 = 1_700_000_000.0;
const WATCHDOG: Duration = Duration::from_secs(20);

fn src() -> Source {
    Source::intern("test")
}

/// Runs `f` on its own thread and returns its result, failing the test if it
/// takes longer than the watchdog.
fn within<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(WATCHDOG)
        .expect("operation hung (watchdog)")
}

fn fast(timestamp: f64) -> FastDroneState {
    FastDroneState::new(
        timestamp,
        [1.0, 2.0, 3.0],
        [0.5, 0.0, -0.5],
        [0.1, 0.2, 0.3],
        [0.0; 3],
    )
    .unwrap()
}

/// Plain-data slots, states copied out.
mod pod {
    use super::*;
    type Ring<T> = rtstate::SlotRing<T>;
    include!("common/behaviour.rs");
}

/// `Arc` slots, states shared.
mod arc {
    use super::*;
    type Ring<T> = rtstate::StateBuffer<T>;
    include!("common/behaviour.rs");
}

/// What only `Arc` slots do: share one snapshot, hold any type.
mod arc_only {
    use super::*;
    use rtstate::StateBuffer;
    use std::sync::Arc;

    fn s(i: u64) -> String {
        format!("state {i}")
    }

    fn mock_buffer(capacity: usize) -> (MockClock, StateBuffer<String>) {
        let mock = MockClock::new(ORIGIN);
        let buffer = StateBuffer::with_clock(capacity, mock.clock()).unwrap();
        (mock, buffer)
    }

    fn versions(buffer: &StateBuffer<String>) -> Vec<u64> {
        buffer.history().iter().map(|x| x.version).collect()
    }

    #[test]
    fn string_versions_start_at_one_and_count_publishes() {
        let (_mock, buffer) = mock_buffer(4);
        assert_eq!(buffer.version(), 0);
        assert!(buffer.latest().is_none());
        assert!(buffer.peek().is_none());
        assert!(buffer.history().is_empty());
        for i in 1..=20u64 {
            assert_eq!(buffer.publish(s(i), src()).unwrap(), i);
            assert_eq!(buffer.version(), i);
            let snap = buffer.latest().unwrap();
            assert_eq!(
                (snap.version, snap.state.as_str(), snap.source),
                (i, s(i).as_str(), src())
            );
        }
    }

    #[test]
    fn reads_of_one_version_share_one_snapshot() {
        let buffer = StateBuffer::<String>::new(4).unwrap();
        buffer.publish(s(1), src()).unwrap();
        let a = buffer.latest().unwrap();
        let b = buffer.latest().unwrap();
        let c = buffer.peek().unwrap();
        let d = buffer.reader().read().unwrap();
        let h = buffer.history().pop().unwrap();
        assert!(
            Arc::ptr_eq(&a, &b)
                && Arc::ptr_eq(&a, &c)
                && Arc::ptr_eq(&a, &d)
                && Arc::ptr_eq(&a, &h)
        );
        buffer.publish(s(2), src()).unwrap();
        assert!(!Arc::ptr_eq(&a, &buffer.latest().unwrap()));
        assert_eq!(a.state, s(1), "an old snapshot stays valid");
    }

    #[test]
    fn string_history_is_bounded_and_oldest_first() {
        let (_mock, buffer) = mock_buffer(3);
        buffer.publish(s(1), src()).unwrap();
        assert_eq!(versions(&buffer), [1]);
        buffer.publish(s(2), src()).unwrap();
        assert_eq!(versions(&buffer), [1, 2]);
        for i in 3..=10u64 {
            buffer.publish(s(i), src()).unwrap();
        }
        let h = buffer.history();
        assert_eq!(h.iter().map(|x| x.version).collect::<Vec<_>>(), [8, 9, 10]);
        assert_eq!(
            h.iter().map(|x| x.state.clone()).collect::<Vec<_>>(),
            [s(8), s(9), s(10)]
        );
    }

    #[test]
    fn checked_buffer_takes_the_states_own_timestamp_and_refuses_nan() {
        let mock = MockClock::new(ORIGIN);
        let buffer = StateBuffer::<FastDroneState>::checked_with_clock(4, mock.clock()).unwrap();
        let good = fast(ORIGIN - 2.0);
        buffer.publish(good, src()).unwrap();
        let snap = buffer.latest().unwrap();
        assert_eq!((snap.timestamp, snap.published_at), (ORIGIN - 2.0, ORIGIN));
        assert!(buffer.latest_fresh(Duration::from_secs(1)).is_none());
        let mut bad = good;
        bad.attitude[1] = f64::NAN;
        let err = buffer.publish(bad, src()).unwrap_err();
        assert_eq!(err.error, Error::NonFinite { field: "attitude" });
        assert!(err.state.attitude[1].is_nan());
        let mut bad = good;
        bad.timestamp = f64::INFINITY;
        assert_eq!(
            buffer.publish(bad, src()).unwrap_err().error,
            Error::NonFinite { field: "timestamp" }
        );
        assert_eq!(buffer.version(), 1);
        assert!(Arc::ptr_eq(&snap, &buffer.latest().unwrap()), "unchanged");
        assert_eq!(buffer.history().len(), 1);
    }

    #[test]
    fn string_with_latest_borrows_the_latest_snapshot() {
        let buffer = rtstate::StateBuffer::<String>::new(2).unwrap();
        assert_eq!(buffer.with_latest(|s| s.version), None);
        buffer
            .publish("a".into(), rtstate::Source::intern("t"))
            .unwrap();
        buffer
            .publish("b".into(), rtstate::Source::intern("t"))
            .unwrap();
        assert_eq!(
            buffer.with_latest(|s| (s.version, s.state.clone())),
            Some((2, "b".to_string()))
        );
        assert_eq!(buffer.statistics().reads, 1);
    }
}
