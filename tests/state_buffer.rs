//! Public behaviour of [`StateBuffer`]: construction errors, versions,
//! shared snapshots, history, staleness on a mock clock, waits, close,
//! statistics, reset and reader cursors. Waits run under a watchdog so that
//! a bug fails a test instead of hanging the suite; no test asserts a
//! maximum duration.
#![cfg(not(loom))]

use rtstate::{Error, FastDroneState, MockClock, Policy, PublishError, Source, StateBuffer};
use std::sync::{mpsc, Arc};
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

fn mock_buffer(capacity: usize) -> (MockClock, StateBuffer<String>) {
    let mock = MockClock::new(ORIGIN);
    let buffer = StateBuffer::with_clock(capacity, mock.clock()).unwrap();
    (mock, buffer)
}

fn s(i: u64) -> String {
    format!("state {i}")
}

fn versions(buffer: &StateBuffer<String>) -> Vec<u64> {
    buffer.history().iter().map(|s| s.version).collect()
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

// ---------------------------------------------------------------------------
// Construction

#[test]
fn zero_capacity_is_refused_by_every_constructor() {
    let is_capacity = |e: Error| {
        matches!(
            e,
            Error::InvalidArgument {
                name: "capacity",
                ..
            }
        )
    };
    assert!(is_capacity(StateBuffer::<String>::new(0).unwrap_err()));
    assert!(is_capacity(
        StateBuffer::<FastDroneState>::checked(0).unwrap_err()
    ));
    assert!(is_capacity(
        StateBuffer::<String>::with_clock(0, MockClock::new(0.0).clock()).unwrap_err()
    ));
    assert!(is_capacity(
        StateBuffer::<FastDroneState>::checked_with_clock(0, MockClock::new(0.0).clock())
            .unwrap_err()
    ));
    let err = StateBuffer::<String>::new(0).unwrap_err();
    assert!(err.to_string().contains("capacity"), "{err}");
}

// ---------------------------------------------------------------------------
// Versions, reads, history

#[test]
fn versions_start_at_one_and_count_publishes() {
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
        Arc::ptr_eq(&a, &b) && Arc::ptr_eq(&a, &c) && Arc::ptr_eq(&a, &d) && Arc::ptr_eq(&a, &h)
    );
    buffer.publish(s(2), src()).unwrap();
    assert!(!Arc::ptr_eq(&a, &buffer.latest().unwrap()));
    assert_eq!(a.state, s(1), "an old snapshot stays valid");
}

#[test]
fn history_is_bounded_and_oldest_first() {
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
fn history_of_capacity_one_holds_the_latest() {
    let buffer = StateBuffer::<u64>::new(1).unwrap();
    for i in 1..=5u64 {
        buffer.publish(i, src()).unwrap();
        assert_eq!(
            buffer.history().iter().map(|x| x.state).collect::<Vec<_>>(),
            [i]
        );
    }
}

#[test]
fn snapshots_carry_mock_clock_times() {
    let (mock, buffer) = mock_buffer(4);
    mock.advance(Duration::from_millis(250));
    buffer.publish(s(1), Source::UNKNOWN).unwrap();
    let snap = buffer.latest().unwrap();
    assert_eq!(snap.published_ns, 250_000_000);
    assert_eq!(snap.published_at, ORIGIN + 0.25);
    assert_eq!(snap.timestamp, snap.published_at);
    assert_eq!(snap.source.as_str(), "unknown");
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

// ---------------------------------------------------------------------------
// Staleness

#[test]
fn latest_fresh_judges_age_on_the_mock_clock() {
    let (mock, buffer) = mock_buffer(4);
    assert!(
        buffer.latest_fresh(Duration::from_secs(1)).is_none(),
        "empty"
    );
    assert_eq!(
        buffer.statistics().stale_reads,
        0,
        "an empty buffer is not a stale read"
    );
    buffer.publish(s(1), src()).unwrap();
    mock.advance(Duration::from_millis(50));
    assert_eq!(
        buffer
            .latest_fresh(Duration::from_millis(100))
            .unwrap()
            .version,
        1
    );
    mock.advance(Duration::from_millis(100));
    assert!(buffer.latest_fresh(Duration::from_millis(100)).is_none());
    assert!(buffer.latest_fresh(Duration::ZERO).is_none());
    assert_eq!(
        buffer
            .latest_fresh(Duration::from_millis(200))
            .unwrap()
            .version,
        1
    );
    let stats = buffer.statistics();
    assert_eq!((stats.reads, stats.stale_reads), (2, 2));
}

#[test]
fn state_at_picks_the_nearest_held_snapshot() {
    let (mock, buffer) = mock_buffer(3);
    assert!(
        buffer.state_at(ORIGIN, Duration::from_secs(1)).is_none(),
        "empty"
    );
    for i in 1..=4u64 {
        buffer.publish(s(i), src()).unwrap();
        mock.advance(Duration::from_millis(10));
    }
    let max = Duration::from_millis(3);
    assert_eq!(buffer.state_at(ORIGIN + 0.012, max).unwrap().version, 2);
    assert_eq!(buffer.state_at(ORIGIN + 0.019, max).unwrap().version, 3);
    assert_eq!(buffer.state_at(ORIGIN + 0.031, max).unwrap().state, s(4));
    assert!(
        buffer.state_at(ORIGIN, max).is_none(),
        "version 1 left the history"
    );
    assert!(buffer.state_at(ORIGIN + 0.040, max).is_none());
    let stats = buffer.statistics();
    assert_eq!((stats.reads, stats.stale_reads), (3, 2));
}

// ---------------------------------------------------------------------------
// Close and waits

#[test]
fn publish_after_close_gives_the_state_back() {
    let buffer = StateBuffer::<String>::new(4).unwrap();
    buffer.publish(s(1), src()).unwrap();
    buffer.close();
    assert!(buffer.is_closed());
    let err = buffer.publish(s(2), src()).unwrap_err();
    assert_eq!(
        err,
        PublishError {
            error: Error::Closed,
            state: s(2)
        }
    );
    assert_eq!(err.to_string(), "closed");
    assert_eq!(err.into_state(), s(2));
    assert_eq!(buffer.version(), 1);
    assert_eq!(buffer.latest().unwrap().state, s(1), "reads still work");
}

#[test]
fn wait_for_update_returns_the_version_another_thread_publishes() {
    let buffer = StateBuffer::<String>::new(4).unwrap();
    let waiter = {
        let buffer = buffer.clone();
        thread::spawn(move || buffer.wait_for_update(0, Duration::from_secs(30)))
    };
    thread::sleep(Duration::from_millis(50));
    buffer.publish(s(1), src()).unwrap();
    assert_eq!(within(move || waiter.join().unwrap()), Ok(1));
}

#[test]
fn wait_for_update_times_out_after_at_least_the_timeout() {
    let buffer = StateBuffer::<String>::new(4).unwrap();
    buffer.publish(s(1), src()).unwrap();
    let timeout = Duration::from_millis(60);
    let (got, elapsed) = within(move || {
        let t = Instant::now();
        (buffer.wait_for_update(1, timeout), t.elapsed())
    });
    assert_eq!(got, Err(Error::Timeout(timeout)));
    assert!(elapsed >= timeout, "{elapsed:?}");
}

#[test]
fn close_wakes_a_waiter_with_closed() {
    let buffer = StateBuffer::<String>::new(4).unwrap();
    let waiter = {
        let buffer = buffer.clone();
        thread::spawn(move || buffer.wait_for_update(0, Duration::from_secs(30)))
    };
    thread::sleep(Duration::from_millis(50));
    buffer.close();
    assert_eq!(within(move || waiter.join().unwrap()), Err(Error::Closed));
}

#[test]
fn reader_wait_reads_the_next_version() {
    let buffer = StateBuffer::<String>::new(4).unwrap();
    buffer.publish(s(1), src()).unwrap();
    let mut reader = buffer.reader();
    reader.read();
    let waiter = thread::spawn(move || {
        reader
            .wait(Duration::from_secs(30))
            .map(|x| x.state.clone())
    });
    thread::sleep(Duration::from_millis(50));
    buffer.publish(s(2), src()).unwrap();
    assert_eq!(within(move || waiter.join().unwrap()), Ok(s(2)));
}

#[test]
fn a_waiter_is_visible_in_statistics() {
    let buffer = StateBuffer::<String>::new(4).unwrap();
    let waiter = {
        let buffer = buffer.clone();
        thread::spawn(move || buffer.wait_for_update(0, Duration::from_secs(30)))
    };
    let deadline = Instant::now() + WATCHDOG;
    while buffer.statistics().waiting == 0 {
        assert!(Instant::now() < deadline, "the waiter never showed up");
        thread::sleep(Duration::from_millis(5));
    }
    buffer.publish(s(1), src()).unwrap();
    assert_eq!(within(move || waiter.join().unwrap()), Ok(1));
    assert_eq!(buffer.statistics().waiting, 0);
}

// ---------------------------------------------------------------------------
// Statistics

#[test]
fn statistics_count_reads_stale_reads_and_lost() {
    let (mock, buffer) = mock_buffer(4);
    let mut reader = buffer.reader();
    for i in 1..=6u64 {
        buffer.publish(s(i), src()).unwrap();
    }
    buffer.latest();
    buffer.peek();
    reader.read(); // lost 1..=5
    mock.advance(Duration::from_millis(500));
    buffer.latest_fresh(Duration::from_millis(100)); // stale
    let stats = buffer.statistics();
    assert_eq!(stats.updates, 6);
    assert_eq!(stats.current_version, 6);
    assert_eq!(stats.reads, 2);
    assert_eq!(stats.stale_reads, 1);
    assert_eq!(stats.lost, 5);
    assert_eq!(stats.readers, 1);
    assert_eq!(stats.history_len, 4);
    assert_eq!(stats.capacity, 4);
    assert_eq!(stats.last_update_time, Some(ORIGIN));
    assert!((stats.latest_age.unwrap().as_secs_f64() - 0.5).abs() < 1e-6);
    // Over the mock half second since creation: 6 updates, 2 reads.
    assert!(
        (stats.updates_per_sec - 12.0).abs() < 1e-9,
        "{}",
        stats.updates_per_sec
    );
    assert!(
        (stats.reads_per_sec - 4.0).abs() < 1e-9,
        "{}",
        stats.reads_per_sec
    );
    drop(reader);
    let stats = buffer.statistics();
    assert_eq!((stats.lost, stats.reads, stats.readers), (5, 2, 0));
}

// ---------------------------------------------------------------------------
// Reset

#[test]
fn reset_restarts_versions_and_clears_history_and_statistics() {
    let (mock, buffer) = mock_buffer(4);
    let sub = buffer.subscribe(4, Policy::DropOldest).unwrap();
    let mut reader = buffer.reader();
    for i in 1..=6u64 {
        buffer.publish(s(i), src()).unwrap();
    }
    buffer.latest();
    reader.read();
    mock.advance(Duration::from_secs(1));
    buffer.latest_fresh(Duration::ZERO);
    buffer.reset();
    assert_eq!(buffer.version(), 0);
    assert!(buffer.latest().is_none());
    assert!(buffer.history().is_empty());
    let stats = buffer.statistics();
    assert_eq!(
        (
            stats.updates,
            stats.reads,
            stats.stale_reads,
            stats.lost,
            stats.history_len
        ),
        (0, 0, 0, 0, 0)
    );
    assert_eq!(
        (stats.subscribers, stats.latest_age, stats.last_update_time),
        (0, None, None)
    );
    assert_eq!((reader.reads(), reader.lost()), (0, 0));
    assert_eq!(buffer.publish(s(100), src()).unwrap(), 1);
    assert_eq!(versions(&buffer), [1]);
    // The old subscription ended: what was queued drains, then Closed.
    while let Ok(ev) = sub.try_recv() {
        assert!(ev.state != s(100), "no event after the reset");
    }
    assert_eq!(sub.try_recv().unwrap_err(), Error::Closed);
    // The reader starts afresh.
    let snap = reader.read_if_updated().unwrap();
    assert_eq!((snap.version, snap.state.clone()), (1, s(100)));
    assert_eq!(reader.lost(), 0);
}

// ---------------------------------------------------------------------------
// Readers

#[test]
fn reader_sees_each_version_once_and_counts_lost() {
    let buffer = StateBuffer::<String>::new(4).unwrap();
    let mut reader = buffer.reader();
    assert!(!reader.updated());
    assert!(reader.read_if_updated().is_none());
    buffer.publish(s(1), src()).unwrap();
    assert!(reader.updated());
    assert_eq!(reader.read_if_updated().unwrap().version, 1);
    assert!(!reader.updated());
    assert!(reader.read_if_updated().is_none());
    for i in 2..=5u64 {
        buffer.publish(s(i), src()).unwrap();
    }
    assert_eq!(reader.read().unwrap().state, s(5));
    assert_eq!(
        (reader.lost(), reader.reads(), reader.last_version()),
        (3, 2, 5)
    );
    let late = buffer.reader();
    assert!(late.updated(), "a new reader has not read the latest");
    assert_eq!(late.lost(), 0);
}

#[test]
fn readers_work_across_threads() {
    let buffer = StateBuffer::<u64>::new(8).unwrap();
    let reader = buffer.reader();
    let handle = thread::spawn(move || {
        let mut reader = reader;
        let mut last = 0;
        let mut seen = 0u64;
        while last < 1000 {
            if let Some(snap) = reader.read_if_updated() {
                assert!(snap.version > last, "versions never go backwards");
                assert_eq!(snap.state, snap.version);
                last = snap.version;
                seen += 1;
            } else {
                thread::yield_now();
            }
        }
        (seen, reader.lost())
    });
    for i in 1..=1000u64 {
        buffer.publish(i, src()).unwrap();
    }
    let (seen, lost) = within(move || handle.join().unwrap());
    assert_eq!(seen + lost, 1000, "every version is either seen or lost");
}

#[test]
fn with_latest_borrows_the_latest_snapshot_and_counts_a_read() {
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
