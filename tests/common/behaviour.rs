// The behaviour of every buffer, included by `tests/buffers.rs` once per
// storage with `Ring<T>` naming that storage's buffer type.

fn mock_ring(capacity: usize) -> (MockClock, Ring<[u64; 2]>) {
    let mock = MockClock::new(ORIGIN);
    let ring = Ring::with_clock(capacity, mock.clock()).unwrap();
    (mock, ring)
}

fn versions(ring: &Ring<[u64; 2]>) -> Vec<u64> {
    ring.history().iter().map(|s| s.version).collect()
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
    assert!(is_capacity(Ring::<[u64; 2]>::new(0).unwrap_err()));
    assert!(is_capacity(
        Ring::<FastDroneState>::checked(0).unwrap_err()
    ));
    assert!(is_capacity(
        Ring::<[u64; 2]>::with_clock(0, MockClock::new(0.0).clock()).unwrap_err()
    ));
    assert!(is_capacity(
        Ring::<FastDroneState>::checked_with_clock(0, MockClock::new(0.0).clock()).unwrap_err()
    ));
    assert!(is_capacity(
        Ring::<[u64; 2]>::with_slots(0, 4).unwrap_err()
    ));
    let err = Ring::<[u64; 2]>::new(0).unwrap_err();
    assert!(err.to_string().contains("capacity"), "{err}");
}

#[test]
fn fewer_than_two_slots_are_refused() {
    for k in [0, 1] {
        let err = Ring::<[u64; 2]>::with_slots(1, k).unwrap_err();
        assert!(
            matches!(err, Error::InvalidArgument { name: "slots", .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("slots"), "{err}");
    }
}

#[test]
fn slot_count_is_a_power_of_two_above_the_capacity() {
    assert_eq!(Ring::<[u64; 2]>::with_slots(1, 2).unwrap().slots(), 2);
    assert_eq!(Ring::<[u64; 2]>::with_slots(1, 3).unwrap().slots(), 4);
    assert_eq!(Ring::<[u64; 2]>::with_slots(1, 16).unwrap().slots(), 16);
    assert_eq!(Ring::<[u64; 2]>::with_slots(4, 2).unwrap().slots(), 8);
    let ring = Ring::<[u64; 2]>::new(5).unwrap();
    assert_eq!((ring.capacity(), ring.slots()), (5, rtstate::DEFAULT_SLOTS));
    let ring = Ring::<[u64; 2]>::new(10).unwrap();
    assert_eq!((ring.capacity(), ring.slots()), (10, 16));
}

#[test]
fn absurd_capacity_is_an_error_not_a_panic() {
    let err = Ring::<[u64; 2]>::new(usize::MAX).unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidArgument {
                name: "capacity",
                ..
            }
        ),
        "{err:?}"
    );
}

// ---------------------------------------------------------------------------
// Versions, reads, history

#[test]
fn versions_start_at_one_and_count_publishes() {
    let (_mock, ring) = mock_ring(4);
    assert_eq!(ring.version(), 0);
    assert!(ring.latest().is_none());
    assert!(ring.peek().is_none());
    assert!(ring.history().is_empty());
    for i in 1..=20u64 {
        assert_eq!(ring.publish([i, i * 10], src()).unwrap(), i);
        assert_eq!(ring.version(), i);
        let s = ring.latest().unwrap();
        assert_eq!((s.version, s.state, s.source), (i, [i, i * 10], src()));
    }
}

#[test]
fn history_is_bounded_and_oldest_first() {
    let (_mock, ring) = mock_ring(3);
    ring.publish([1, 1], src()).unwrap();
    assert_eq!(versions(&ring), [1]);
    ring.publish([2, 2], src()).unwrap();
    assert_eq!(versions(&ring), [1, 2]);
    for i in 3..=10u64 {
        ring.publish([i, i], src()).unwrap();
    }
    let h = ring.history();
    assert_eq!(h.len(), 3);
    assert_eq!(h.iter().map(|s| s.version).collect::<Vec<_>>(), [8, 9, 10]);
    assert_eq!(h.iter().map(|s| s.state[0]).collect::<Vec<_>>(), [8, 9, 10]);
}

#[test]
fn history_of_capacity_one_holds_the_latest() {
    let ring = Ring::<[u64; 2]>::new(1).unwrap();
    for i in 1..=5u64 {
        ring.publish([i, 0], src()).unwrap();
        assert_eq!(
            ring.history().iter().map(|s| s.version).collect::<Vec<_>>(),
            [i]
        );
        assert_eq!(
            ring.history().iter().map(|s| s.state).collect::<Vec<_>>(),
            [[i, 0]]
        );
    }
}

#[test]
fn snapshots_carry_mock_clock_times() {
    let (mock, ring) = mock_ring(4);
    mock.advance(Duration::from_millis(250));
    ring.publish([1, 2], Source::UNKNOWN).unwrap();
    let s = ring.latest().unwrap();
    assert_eq!(s.published_ns, 250_000_000);
    assert_eq!(s.published_at, ORIGIN + 0.25);
    assert_eq!(
        s.timestamp, s.published_at,
        "unchecked states take the publish time"
    );
    assert_eq!(s.source.as_str(), "unknown");
}

#[test]
fn checked_ring_takes_the_states_own_timestamp() {
    let mock = MockClock::new(ORIGIN);
    let ring = Ring::<FastDroneState>::checked_with_clock(4, mock.clock()).unwrap();
    let state = fast(ORIGIN - 2.0);
    ring.publish(state, src()).unwrap();
    let s = ring.latest().unwrap();
    assert_eq!(s.timestamp, ORIGIN - 2.0);
    assert_eq!(s.published_at, ORIGIN);
    assert_eq!(s.state, state);
    // Staleness is judged on the state's own time.
    assert!(ring.latest_fresh(Duration::from_secs(1)).is_none());
    assert!(ring.latest_fresh(Duration::from_secs(3)).is_some());
}

#[test]
fn checked_ring_refuses_non_finite_values_naming_the_field() {
    let ring = Ring::<FastDroneState>::checked(4).unwrap();
    let good = fast(1.0);
    ring.publish(good, src()).unwrap();
    let fields = [
        (0, "timestamp"),
        (1, "position"),
        (5, "velocity"),
        (9, "attitude"),
        (12, "angular_velocity"),
    ];
    for (word, field) in fields {
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let mut words: [f64; 13] = bytemuck::cast(good);
            words[word] = bad;
            let state: FastDroneState = bytemuck::cast(words);
            let err = ring.publish(state, src()).unwrap_err();
            assert_eq!(err.error, Error::NonFinite { field });
            let back: [u64; 13] = bytemuck::cast(err.state);
            assert_eq!(
                back,
                bytemuck::cast::<_, [u64; 13]>(state),
                "the state comes back"
            );
        }
    }
    assert_eq!(ring.version(), 1);
    assert_eq!(ring.latest().unwrap().state, good);
    assert_eq!(ring.history().len(), 1);
    assert_eq!(ring.statistics().updates, 1);
}

#[test]
fn unchecked_ring_does_not_inspect() {
    let ring = Ring::<FastDroneState>::new(2).unwrap();
    let mut s = fast(1.0);
    s.velocity[0] = f64::NAN;
    assert_eq!(ring.publish(s, src()).unwrap(), 1);
    assert!(s.validate().is_err());
}

#[test]
fn clones_share_the_ring() {
    let ring = Ring::<[u64; 2]>::new(4).unwrap();
    let other = ring.clone();
    other.publish([7, 7], src()).unwrap();
    assert_eq!(ring.latest().unwrap().state, [7, 7]);
    ring.close();
    assert!(other.is_closed());
}

// ---------------------------------------------------------------------------
// Staleness

#[test]
fn latest_fresh_judges_age_on_the_mock_clock() {
    let (mock, ring) = mock_ring(4);
    assert!(ring.latest_fresh(Duration::from_secs(1)).is_none(), "empty");
    assert_eq!(
        ring.statistics().stale_reads,
        0,
        "an empty buffer is not a stale read"
    );
    ring.publish([1, 1], src()).unwrap();
    mock.advance(Duration::from_millis(50));
    assert_eq!(
        ring.latest_fresh(Duration::from_millis(100))
            .unwrap()
            .version,
        1
    );
    mock.advance(Duration::from_millis(100));
    assert!(ring.latest_fresh(Duration::from_millis(100)).is_none());
    assert!(ring.latest_fresh(Duration::ZERO).is_none());
    assert_eq!(
        ring.latest_fresh(Duration::from_millis(200))
            .unwrap()
            .version,
        1
    );
    let stats = ring.statistics();
    assert_eq!((stats.reads, stats.stale_reads), (2, 2));
    ring.publish([2, 2], src()).unwrap();
    assert_eq!(
        ring.latest_fresh(Duration::ZERO).unwrap().version,
        2,
        "age 0 is fresh"
    );
}

#[test]
fn state_at_picks_the_nearest_held_snapshot() {
    let (mock, ring) = mock_ring(3);
    assert!(
        ring.state_at(ORIGIN, Duration::from_secs(1)).is_none(),
        "empty"
    );
    for i in 1..=4u64 {
        ring.publish([i, 0], src()).unwrap();
        mock.advance(Duration::from_millis(10));
    }
    // Held: versions 2, 3, 4 at ORIGIN + 0.010, 0.020, 0.030.
    let max = Duration::from_millis(3);
    assert_eq!(ring.state_at(ORIGIN + 0.012, max).unwrap().version, 2);
    assert_eq!(ring.state_at(ORIGIN + 0.019, max).unwrap().version, 3);
    assert_eq!(ring.state_at(ORIGIN + 0.031, max).unwrap().version, 4);
    assert_eq!(ring.state_at(ORIGIN + 0.031, max).unwrap().state, [4, 0]);
    assert!(
        ring.state_at(ORIGIN + 0.000, max).is_none(),
        "version 1 left the history"
    );
    assert!(
        ring.state_at(ORIGIN + 0.040, max).is_none(),
        "too far after"
    );
    assert_eq!(
        ring.state_at(ORIGIN + 0.040, Duration::from_millis(20))
            .unwrap()
            .version,
        4
    );
    let stats = ring.statistics();
    assert_eq!((stats.reads, stats.stale_reads), (5, 2));
}

// ---------------------------------------------------------------------------
// Close and waits

#[test]
fn publish_after_close_gives_the_state_back() {
    let ring = Ring::<[u64; 2]>::new(4).unwrap();
    ring.publish([1, 1], src()).unwrap();
    ring.close();
    assert!(ring.is_closed());
    let err = ring.publish([2, 3], src()).unwrap_err();
    assert_eq!(
        err,
        PublishError {
            error: Error::Closed,
            state: [2, 3]
        }
    );
    assert_eq!(err.to_string(), "closed");
    assert_eq!(err.into_state(), [2, 3]);
    assert_eq!(ring.version(), 1);
    assert_eq!(ring.latest().unwrap().state, [1, 1], "reads still work");
    assert_eq!(
        Error::from(ring.publish([4, 4], src()).unwrap_err()),
        Error::Closed
    );
}

#[test]
fn wait_for_update_returns_the_version_another_thread_publishes() {
    let ring = Ring::<[u64; 2]>::new(4).unwrap();
    ring.publish([1, 1], src()).unwrap();
    let waiter = {
        let ring = ring.clone();
        thread::spawn(move || ring.wait_for_update(1, Duration::from_secs(30)))
    };
    thread::sleep(Duration::from_millis(50));
    ring.publish([2, 2], src()).unwrap();
    let got = within(move || waiter.join().unwrap());
    assert_eq!(got, Ok(2));
}

#[test]
fn wait_for_update_returns_at_once_when_already_newer() {
    let ring = Ring::<[u64; 2]>::new(4).unwrap();
    ring.publish([1, 1], src()).unwrap();
    ring.publish([2, 2], src()).unwrap();
    let r = ring.clone();
    assert_eq!(
        within(move || r.wait_for_update(0, Duration::from_secs(30))),
        Ok(2)
    );
    let r = ring.clone();
    assert_eq!(within(move || r.wait_for_update(1, Duration::ZERO)), Ok(2));
}

#[test]
fn wait_for_update_times_out_after_at_least_the_timeout() {
    let ring = Ring::<[u64; 2]>::new(4).unwrap();
    let timeout = Duration::from_millis(60);
    let (got, elapsed) = within(move || {
        let t = Instant::now();
        (ring.wait_for_update(0, timeout), t.elapsed())
    });
    assert_eq!(got, Err(Error::Timeout(timeout)));
    assert!(elapsed >= timeout, "{elapsed:?}");
}

#[test]
fn zero_timeout_is_a_poll() {
    let ring = Ring::<[u64; 2]>::new(4).unwrap();
    let r = ring.clone();
    assert_eq!(
        within(move || r.wait_for_update(0, Duration::ZERO)),
        Err(Error::Timeout(Duration::ZERO))
    );
}

#[test]
fn close_wakes_a_waiter_with_closed() {
    let ring = Ring::<[u64; 2]>::new(4).unwrap();
    let waiter = {
        let ring = ring.clone();
        thread::spawn(move || ring.wait_for_update(0, Duration::from_secs(30)))
    };
    thread::sleep(Duration::from_millis(50));
    ring.close();
    assert_eq!(within(move || waiter.join().unwrap()), Err(Error::Closed));
    // A closed ring answers at once.
    let r = ring.clone();
    assert_eq!(
        within(move || r.wait_for_update(0, Duration::from_secs(30))),
        Err(Error::Closed)
    );
}

#[test]
fn reader_wait_reads_the_next_version() {
    let ring = Ring::<[u64; 2]>::new(4).unwrap();
    let mut reader = ring.reader();
    let waiter = thread::spawn(move || {
        let s = reader
            .wait(Duration::from_secs(30))
            .map(|s| (s.version, s.state));
        (s, reader.last_version())
    });
    thread::sleep(Duration::from_millis(50));
    ring.publish([5, 6], src()).unwrap();
    let (got, last) = within(move || waiter.join().unwrap());
    assert_eq!(got, Ok((1, [5, 6])));
    assert_eq!(last, 1);
    let mut reader = ring.reader();
    reader.read();
    let timeout = Duration::from_millis(30);
    let got = within(move || reader.wait(timeout).map(|s| s.version));
    assert_eq!(got, Err(Error::Timeout(timeout)));
}

#[test]
fn many_waiters_all_wake() {
    let ring = Ring::<[u64; 2]>::new(4).unwrap();
    let waiters: Vec<_> = (0..4)
        .map(|_| {
            let ring = ring.clone();
            thread::spawn(move || ring.wait_for_update(0, Duration::from_secs(30)))
        })
        .collect();
    thread::sleep(Duration::from_millis(50));
    ring.publish([1, 1], src()).unwrap();
    for w in waiters {
        assert_eq!(within(move || w.join().unwrap()), Ok(1));
    }
}

// ---------------------------------------------------------------------------
// Statistics

#[test]
fn statistics_count_reads_through_the_ring_and_its_readers() {
    let (mock, ring) = mock_ring(4);
    let stats = ring.statistics();
    assert_eq!(
        (
            stats.updates,
            stats.reads,
            stats.current_version,
            stats.history_len
        ),
        (0, 0, 0, 0)
    );
    assert_eq!(
        (stats.capacity, stats.latest_age, stats.last_update_time),
        (4, None, None)
    );
    for i in 1..=6u64 {
        ring.publish([i, 0], src()).unwrap();
    }
    ring.latest();
    ring.latest();
    ring.peek(); // not counted
    ring.history(); // not counted
    let mut reader = ring.reader();
    reader.read();
    reader.read();
    reader.read_if_updated(); // nothing new: not a read
    assert_eq!(reader.reads(), 2);
    mock.advance(Duration::from_millis(40));
    let stats = ring.statistics();
    assert_eq!(stats.updates, 6);
    assert_eq!(stats.current_version, 6);
    assert_eq!(stats.reads, 4);
    assert_eq!(stats.readers, 1);
    assert_eq!(stats.history_len, 4);
    assert_eq!(stats.stale_reads, 0);
    assert_eq!(stats.last_update_time, Some(ORIGIN));
    let age = stats.latest_age.unwrap();
    assert!((age.as_secs_f64() - 0.040).abs() < 1e-6, "{age:?}");
    drop(reader);
    let stats = ring.statistics();
    assert_eq!(
        (stats.reads, stats.readers),
        (4, 0),
        "a dropped reader's reads still count"
    );
}

#[test]
fn statistics_count_lost_over_live_and_dropped_readers() {
    let ring = Ring::<[u64; 2]>::new(4).unwrap();
    let mut a = ring.reader();
    let mut b = ring.reader();
    for i in 1..=5u64 {
        ring.publish([i, 0], src()).unwrap();
    }
    a.read(); // saw 5 of 1..=5: lost 4
    assert_eq!(a.lost(), 4);
    b.read_if_updated(); // the same
    assert_eq!(b.lost(), 4);
    ring.publish([6, 0], src()).unwrap();
    ring.publish([7, 0], src()).unwrap();
    b.read(); // lost 6
    assert_eq!(b.lost(), 5);
    assert_eq!(ring.statistics().lost, 9);
    drop(a);
    drop(b);
    let stats = ring.statistics();
    assert_eq!((stats.lost, stats.readers, stats.reads), (9, 0, 3));
}

#[test]
fn rates_are_positive_after_publishes_over_a_mock_second() {
    let (mock, ring) = mock_ring(4);
    for i in 0..10u64 {
        ring.publish([i, 0], src()).unwrap();
        ring.latest();
        ring.latest();
        mock.advance(Duration::from_millis(100));
    }
    let stats = ring.statistics();
    assert!(
        (stats.updates_per_sec - 10.0).abs() < 1e-9,
        "{}",
        stats.updates_per_sec
    );
    assert!(
        (stats.reads_per_sec - 20.0).abs() < 1e-9,
        "{}",
        stats.reads_per_sec
    );
}

/// Two statistics calls in a row should report the rate over a useful
/// window (the rate module keeps samples closer than 100 ms from becoming
/// the base), not zero.
#[test]
fn rates_survive_back_to_back_statistics_calls() {
    let (mock, ring) = mock_ring(4);
    for i in 0..10u64 {
        ring.publish([i, 0], src()).unwrap();
        mock.advance(Duration::from_millis(100));
    }
    let first = ring.statistics().updates_per_sec;
    let second = ring.statistics().updates_per_sec;
    assert!((first - 10.0).abs() < 1e-9, "{first}");
    assert!(second > 0.0, "second call: {second}");
    mock.advance(Duration::from_millis(1));
    let third = ring.statistics().updates_per_sec;
    assert!(
        third > 0.0 && third < 1000.0,
        "1 ms later, no publish: {third}"
    );
}

// ---------------------------------------------------------------------------
// Reset

#[test]
fn reset_restarts_versions_and_clears_history_and_statistics() {
    let (mock, ring) = mock_ring(4);
    let mut reader = ring.reader();
    for i in 1..=6u64 {
        ring.publish([i, 0], src()).unwrap();
    }
    ring.latest();
    reader.read();
    mock.advance(Duration::from_secs(1));
    ring.latest_fresh(Duration::ZERO);
    let before = ring.statistics();
    assert_eq!(
        (
            before.updates,
            before.reads,
            before.stale_reads,
            before.lost
        ),
        (6, 2, 1, 5)
    );
    ring.reset();
    assert_eq!(ring.version(), 0);
    assert!(ring.latest().is_none());
    assert!(ring.history().is_empty());
    let stats = ring.statistics();
    assert_eq!(stats.updates, 0);
    assert_eq!(stats.current_version, 0);
    assert_eq!(stats.reads, 0);
    assert_eq!(stats.stale_reads, 0);
    assert_eq!(stats.lost, 0);
    assert_eq!(stats.history_len, 0);
    assert_eq!(stats.latest_age, None);
    assert_eq!(stats.updates_per_sec, 0.0);
    assert_eq!(reader.reads(), 0);
    assert_eq!(reader.lost(), 0);
    assert_eq!(ring.publish([9, 9], src()).unwrap(), 1);
    assert_eq!(versions(&ring), [1]);
    assert_eq!(ring.latest().unwrap().state, [9, 9]);
}

#[test]
fn reset_ends_subscriptions_but_not_the_ring() {
    let ring = Ring::<[u64; 2]>::new(4).unwrap();
    let sub = ring.subscribe(4, Policy::DropOldest).unwrap();
    assert_eq!(ring.statistics().subscribers, 1);
    ring.publish([1, 1], src()).unwrap();
    ring.reset();
    assert!(!ring.is_closed());
    assert_eq!(ring.statistics().subscribers, 0);
    assert_eq!(ring.publish([2, 2], src()).unwrap(), 1);
    // The queued event may still be drained; then the subscription is over.
    let mut n = 0;
    loop {
        match sub.try_recv() {
            Ok(s) => {
                assert_eq!(s.state, [1, 1]);
                n += 1;
            }
            Err(e) => {
                assert_eq!(e, Error::Closed);
                break;
            }
        }
        assert!(n <= 1);
    }
    // A new subscription works.
    let sub = ring.subscribe(4, Policy::DropOldest).unwrap();
    ring.publish([3, 3], src()).unwrap();
    assert_eq!(sub.try_recv().unwrap().version, 2);
}

#[test]
fn close_ends_subscriptions() {
    let ring = Ring::<[u64; 2]>::new(4).unwrap();
    let sub = ring.subscribe(4, Policy::DropOldest).unwrap();
    ring.publish([1, 1], src()).unwrap();
    ring.close();
    assert_eq!(sub.try_recv().unwrap().version, 1);
    assert_eq!(sub.try_recv().unwrap_err(), Error::Closed);
    assert_eq!(
        within(move || sub.recv().map(|s| s.version)),
        Err(Error::Closed)
    );
}

// ---------------------------------------------------------------------------
// Readers

#[test]
fn reader_sees_each_version_once() {
    let ring = Ring::<[u64; 2]>::new(4).unwrap();
    let mut reader = ring.reader();
    assert!(!reader.updated());
    assert!(reader.read_if_updated().is_none());
    assert!(reader.read().is_none());
    assert_eq!((reader.reads(), reader.last_version()), (0, 0));
    ring.publish([1, 1], src()).unwrap();
    assert!(reader.updated());
    assert_eq!(reader.read_if_updated().unwrap().version, 1);
    assert!(!reader.updated());
    assert!(reader.read_if_updated().is_none());
    assert_eq!(
        reader.read().unwrap().version,
        1,
        "read() returns the latest even if seen"
    );
    assert_eq!(
        (reader.reads(), reader.lost(), reader.last_version()),
        (2, 0, 1)
    );
    ring.publish([2, 2], src()).unwrap();
    ring.publish([3, 3], src()).unwrap();
    ring.publish([4, 4], src()).unwrap();
    assert_eq!(reader.read_if_updated().unwrap().version, 4);
    assert_eq!(reader.lost(), 2);
    assert_eq!(reader.buffer().version(), 4);
}

#[test]
fn reader_counts_lost_only_after_its_creation() {
    let ring = Ring::<[u64; 2]>::new(4).unwrap();
    for i in 1..=5u64 {
        ring.publish([i, 0], src()).unwrap();
    }
    let mut reader = ring.reader();
    assert!(reader.updated(), "version 5 exists and was not read");
    assert_eq!(reader.read().unwrap().version, 5);
    assert_eq!(
        reader.lost(),
        0,
        "versions before the reader existed are not lost"
    );
    ring.publish([6, 0], src()).unwrap();
    ring.publish([7, 0], src()).unwrap();
    assert_eq!(reader.read().unwrap().version, 7);
    assert_eq!(reader.lost(), 1);
}

#[test]
fn reader_starts_afresh_after_a_reset() {
    let ring = Ring::<[u64; 2]>::new(4).unwrap();
    let mut reader = ring.reader();
    for i in 1..=5u64 {
        ring.publish([i, 0], src()).unwrap();
    }
    assert_eq!(reader.read().unwrap().version, 5);
    ring.reset();
    assert!(!reader.updated(), "nothing published since the reset");
    assert!(reader.read_if_updated().is_none());
    ring.publish([10, 0], src()).unwrap();
    assert!(reader.updated());
    let s = reader.read_if_updated().unwrap();
    assert_eq!((s.version, s.state[0]), (1, 10));
    assert_eq!(reader.lost(), 0);
    ring.publish([11, 0], src()).unwrap();
    ring.publish([12, 0], src()).unwrap();
    assert_eq!(reader.read().unwrap().version, 3);
    assert_eq!(reader.lost(), 1);
}

/// A reader that read version N before a reset must see the new epoch's
/// version N as an update: it is a different state.
#[test]
fn reader_sees_an_update_when_the_new_epoch_reaches_its_old_version() {
    let ring = Ring::<[u64; 2]>::new(4).unwrap();
    let mut reader = ring.reader();
    for i in 1..=3u64 {
        ring.publish([i, 0], src()).unwrap();
    }
    assert_eq!(reader.read().unwrap().version, 3);
    ring.reset();
    for i in 1..=3u64 {
        ring.publish([100 + i, 0], src()).unwrap();
    }
    assert!(
        reader.updated(),
        "version 3 of the new epoch was never read"
    );
    let s = reader.read_if_updated().expect("the new epoch's version 3");
    assert_eq!(s.state[0], 103);
}

/// Versions published after a reset that a kept reader never read are lost
/// to it, counted from the reset (not from its last read before it).
#[test]
fn reader_counts_lost_from_the_reset() {
    let ring = Ring::<[u64; 2]>::new(8).unwrap();
    let mut reader = ring.reader();
    for i in 1..=3u64 {
        ring.publish([i, 0], src()).unwrap();
    }
    assert_eq!(reader.read().unwrap().version, 3);
    ring.reset();
    for i in 1..=5u64 {
        ring.publish([i, 0], src()).unwrap();
    }
    assert_eq!(reader.read().unwrap().version, 5);
    assert_eq!(
        reader.lost(),
        4,
        "versions 1..=4 of the new epoch were never read"
    );
}

#[test]
fn wait_for_update_after_the_latest_times_out() {
    let ring = Ring::<[u64; 2]>::new(4).unwrap();
    ring.publish([1, 1], src()).unwrap();
    let timeout = Duration::from_millis(60);
    let (got, elapsed) = within(move || {
        let t = Instant::now();
        (ring.wait_for_update(1, timeout), t.elapsed())
    });
    assert_eq!(got, Err(Error::Timeout(timeout)));
    assert!(elapsed >= timeout, "{elapsed:?}");
}

#[test]
fn reader_wait_after_a_read_reads_the_next_version() {
    let ring = Ring::<[u64; 2]>::new(4).unwrap();
    ring.publish([1, 1], src()).unwrap();
    let mut reader = ring.reader();
    reader.read();
    let waiter = thread::spawn(move || reader.wait(Duration::from_secs(30)).map(|x| x.state));
    thread::sleep(Duration::from_millis(50));
    ring.publish([2, 2], src()).unwrap();
    assert_eq!(within(move || waiter.join().unwrap()), Ok([2, 2]));
}

#[test]
fn a_waiter_is_visible_in_statistics() {
    let ring = Ring::<[u64; 2]>::new(4).unwrap();
    let waiter = {
        let ring = ring.clone();
        thread::spawn(move || ring.wait_for_update(0, Duration::from_secs(30)))
    };
    let deadline = Instant::now() + WATCHDOG;
    while ring.statistics().waiting == 0 {
        assert!(Instant::now() < deadline, "the waiter never showed up");
        thread::sleep(Duration::from_millis(5));
    }
    ring.publish([1, 1], src()).unwrap();
    assert_eq!(within(move || waiter.join().unwrap()), Ok(1));
    assert_eq!(ring.statistics().waiting, 0);
}

#[test]
fn statistics_count_reads_stale_reads_and_lost() {
    let (mock, ring) = mock_ring(4);
    let mut reader = ring.reader();
    for i in 1..=6u64 {
        ring.publish([i, 0], src()).unwrap();
    }
    ring.latest();
    ring.peek();
    reader.read(); // lost 1..=5
    mock.advance(Duration::from_millis(500));
    ring.latest_fresh(Duration::from_millis(100)); // stale
    let stats = ring.statistics();
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
    let stats = ring.statistics();
    assert_eq!((stats.lost, stats.reads, stats.readers), (5, 2, 0));
}

#[test]
fn reset_ends_a_subscription_and_restarts_a_reader() {
    let (mock, ring) = mock_ring(4);
    let sub = ring.subscribe(4, Policy::DropOldest).unwrap();
    let mut reader = ring.reader();
    for i in 1..=6u64 {
        ring.publish([i, 0], src()).unwrap();
    }
    ring.latest();
    reader.read();
    mock.advance(Duration::from_secs(1));
    ring.latest_fresh(Duration::ZERO);
    ring.reset();
    assert_eq!(ring.version(), 0);
    assert!(ring.latest().is_none());
    assert!(ring.history().is_empty());
    let stats = ring.statistics();
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
    assert_eq!(ring.publish([100, 0], src()).unwrap(), 1);
    assert_eq!(versions(&ring), [1]);
    // The old subscription ended: what was queued drains, then Closed.
    while let Ok(ev) = sub.try_recv() {
        assert!(ev.state != [100, 0], "no event after the reset");
    }
    assert_eq!(sub.try_recv().unwrap_err(), Error::Closed);
    // The reader starts afresh.
    let snap = reader.read_if_updated().unwrap();
    assert_eq!((snap.version, snap.state), (1, [100, 0]));
    assert_eq!(reader.lost(), 0);
}

#[test]
fn reader_sees_each_version_once_and_counts_lost() {
    let ring = Ring::<[u64; 2]>::new(4).unwrap();
    let mut reader = ring.reader();
    assert!(!reader.updated());
    assert!(reader.read_if_updated().is_none());
    ring.publish([1, 0], src()).unwrap();
    assert!(reader.updated());
    assert_eq!(reader.read_if_updated().unwrap().version, 1);
    assert!(!reader.updated());
    assert!(reader.read_if_updated().is_none());
    for i in 2..=5u64 {
        ring.publish([i, 0], src()).unwrap();
    }
    assert_eq!(reader.read().unwrap().state, [5, 0]);
    assert_eq!(
        (reader.lost(), reader.reads(), reader.last_version()),
        (3, 2, 5)
    );
    let late = ring.reader();
    assert!(late.updated(), "a new reader has not read the latest");
    assert_eq!(late.lost(), 0);
}

#[test]
fn readers_work_across_threads() {
    let ring = Ring::<u64>::new(8).unwrap();
    let reader = ring.reader();
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
        ring.publish(i, src()).unwrap();
    }
    let (seen, lost) = within(move || handle.join().unwrap());
    assert_eq!(seen + lost, 1000, "every version is either seen or lost");
}

#[test]
fn with_latest_borrows_the_latest_snapshot_and_counts_a_read() {
    let ring = Ring::<[u64; 2]>::new(2).unwrap();
    assert_eq!(ring.with_latest(|s| s.version), None);
    ring.publish([1, 0], src()).unwrap();
    ring.publish([2, 0], src()).unwrap();
    assert_eq!(
        ring.with_latest(|s| (s.version, s.state)),
        Some((2, [2, 0]))
    );
    assert_eq!(ring.statistics().reads, 1);
}

// ---------------------------------------------------------------------------
// Publishing at a chosen version (a mirror's remote versions)

#[test]
fn publish_at_version_skips_versions_and_leaves_them_absent() {
    // Capacity 3 in 4 slots: skipped sequence numbers' slots hold nothing
    // or an older publish, never answered for a skipped version.
    let ring = Ring::<[u64; 2]>::with_slots(3, 4).unwrap();
    let mut reader = ring.reader();
    let sub = ring.subscribe(8, Policy::DropOldest).unwrap();
    assert_eq!(ring.publish_at_version([1, 0], src(), 1).unwrap(), 1);
    assert_eq!(ring.publish_at_version([3, 0], src(), 3).unwrap(), 3);
    assert_eq!(ring.version(), 3);
    assert_eq!(versions(&ring), [1, 3], "version 2 was never written");
    assert_eq!(ring.latest().unwrap().state, [3, 0]);
    // A jump past the whole ring: versions 4..=9 skipped; the slot of
    // version 9's sequence number held version 1's (4 slots), the slot of
    // 8 held 3's (not of 8).
    assert_eq!(ring.publish_at_version([10, 0], src(), 10).unwrap(), 10);
    assert_eq!(versions(&ring), [10]);
    // An ordinary publish continues from the given version.
    assert_eq!(ring.publish([11, 0], src()).unwrap(), 11);
    assert_eq!(versions(&ring), [10, 11]);
    for s in ring.history() {
        assert_eq!(s.state[0], s.version, "each held state is its version's");
    }
    // The reader read nothing yet: 10 versions after its creation, 1 read.
    assert_eq!(reader.read_if_updated().unwrap().version, 11);
    assert_eq!(reader.lost(), 10);
    // Subscriptions see every publish in order, the skips as gaps.
    let got: Vec<u64> = std::iter::from_fn(|| sub.try_recv().ok())
        .map(|e| e.version)
        .collect();
    assert_eq!(got, [1, 3, 10, 11]);
    assert_eq!(sub.counters().gaps, 2);
    let stats = ring.statistics();
    assert_eq!(stats.current_version, 11);
    assert_eq!(stats.updates, 4, "publishes made, skipped versions not");
    assert_eq!(stats.history_len, 2);
}

#[test]
fn publish_at_version_refuses_an_old_version_before_publishing() {
    let ring = Ring::<[u64; 2]>::new(4).unwrap();
    ring.publish_at_version([5, 5], src(), 5).unwrap();
    for stale in [0, 1, 4, 5] {
        let err = ring.publish_at_version([9, 9], src(), stale).unwrap_err();
        assert_eq!(
            err.error,
            Error::VersionNotNewer {
                version: stale,
                latest: 5
            }
        );
        assert_eq!(err.state, [9, 9], "the state comes back");
        assert!(err.error.to_string().contains("not newer than the latest, 5"));
    }
    // Too large for a sequence number: refused, nothing written.
    let err = ring
        .publish_at_version([9, 9], src(), u64::MAX)
        .unwrap_err();
    assert!(
        matches!(err.error, Error::InvalidArgument { name: "version", .. }),
        "{:?}",
        err.error
    );
    assert_eq!(ring.version(), 5);
    assert_eq!(versions(&ring), [5]);
    assert_eq!(ring.statistics().updates, 1);
    // The largest version it takes is still refused only when not newer.
    let top = rtstate::storage::MAX_SEQ - 1;
    assert_eq!(ring.publish_at_version([7, 7], src(), top).unwrap(), top);
    assert_eq!(ring.latest().unwrap().version, top);
    // A closed buffer refuses as publish does.
    ring.close();
    assert_eq!(
        ring.publish_at_version([8, 8], src(), top + 1)
            .unwrap_err()
            .error,
        Error::Closed
    );
}

#[test]
fn publish_at_version_after_a_reset_starts_from_the_new_base() {
    let ring = Ring::<[u64; 2]>::new(4).unwrap();
    let mut reader = ring.reader();
    ring.publish_at_version([7, 0], src(), 7).unwrap();
    assert_eq!(reader.read().unwrap().version, 7);
    ring.reset();
    assert_eq!(ring.version(), 0);
    assert_eq!(ring.statistics().updates, 0, "skips are of the epoch");
    // Versions restart: a version below the old epoch's is accepted.
    assert_eq!(ring.publish_at_version([2, 0], src(), 2).unwrap(), 2);
    assert_eq!(versions(&ring), [2]);
    assert_eq!(ring.epoch(), 1);
    // The reader sees the new epoch's publish once, version 1 lost.
    let s = reader.read_if_updated().unwrap();
    assert_eq!((s.version, s.state[0]), (2, 2));
    assert_eq!(reader.lost(), 1);
    assert!(reader.read_if_updated().is_none());
    assert_eq!(
        ring.publish_at_version([1, 0], src(), 1).unwrap_err().error,
        Error::VersionNotNewer {
            version: 1,
            latest: 2
        }
    );
    let stats = ring.statistics();
    assert_eq!((stats.current_version, stats.updates), (2, 1));
}
