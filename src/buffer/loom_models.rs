//! Loom models of the buffer's protocols. Run with
//! `RUSTFLAGS="--cfg loom" cargo test --release --lib loom`.
//!
//! Every model uses a two-slot ring (capacity 1), so that the third publish
//! already reuses a slot, and states `[n, n]` with `n` unique per publish,
//! so that a torn copy (words of two publishes) is seen. Common omissions:
//! the clock is the real one (loom does not model time); subscriptions and
//! rates are not exercised (the subscription queue has its own models); the
//! notifier's fast path (nobody waits) is exercised, its slow path is
//! modelled in `crate::notify`.

use super::*;
use ::loom::thread;

type Ring = SlotRing<[u64; 2]>;

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = ::loom::model::Builder::new();
    // LOOM_MAX_PREEMPTIONS overrides; 2 keeps each model to seconds.
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(2);
    }
    builder.check(f);
}

fn ring() -> Ring {
    SlotRing::with_slots(1, 2).unwrap()
}

/// The state of the `n`th publish (1-based, counted across resets).
fn state(n: u64) -> [u64; 2] {
    [n, n]
}

/// Checks a read: whole, and its version is the one its publish got
/// (`version_of(n)`).
fn check(s: &Snapshot<[u64; 2]>, version_of: impl Fn(u64) -> u64) -> u64 {
    assert_eq!(s.state[0], s.state[1], "torn read");
    assert_eq!(
        s.version,
        version_of(s.state[0]),
        "version of another state"
    );
    s.state[0]
}

/// One writer laps a two-slot ring (three publishes) while a reader reads
/// twice: every read is whole, and publishes are seen in order. Leaves out:
/// resets (next models) and several writers.
#[test]
fn loom_buffer_writer_laps_a_reader() {
    model(|| {
        let ring = ring();
        let reader = {
            let ring = ring.clone();
            thread::spawn(move || {
                let mut last = 0;
                for _ in 0..2 {
                    if let Some(s) = ring.peek() {
                        let n = check(&s, |n| n);
                        assert!(n >= last, "went backwards");
                        last = n;
                    }
                }
            })
        };
        for n in 1..=3 {
            ring.publish(state(n), Source::UNKNOWN).unwrap();
        }
        reader.join().unwrap();
        assert_eq!(ring.version(), 3);
        assert_eq!(ring.history().len(), 1);
    });
}

/// A writer and two readers (two publishes): each read is whole and in
/// order. Leaves out: lapping (the model above) and resets.
#[test]
fn loom_buffer_writer_and_two_readers() {
    model(|| {
        let ring = ring();
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let ring = ring.clone();
                thread::spawn(move || {
                    if let Some(s) = ring.peek() {
                        check(&s, |n| n);
                    }
                })
            })
            .collect();
        for n in 1..=2 {
            ring.publish(state(n), Source::UNKNOWN).unwrap();
        }
        for r in readers {
            r.join().unwrap();
        }
        assert_eq!(ring.peek().unwrap().state, state(2));
    });
}

/// Write, reset, rewrite the same versions under a reader: publishes 1, 2
/// (versions 1, 2), reset, publishes 3, 4 (versions 1, 2 again, in the same
/// slots). A reader still copying version 2 of the first epoch must never
/// validate a mix of publishes 2 and 4 (stamps are never reused), and each
/// state read carries its own epoch's version. Leaves out: history reads
/// across the reset (they use the same validation).
#[test]
fn loom_buffer_reset_under_a_reader() {
    model(|| {
        let ring = ring();
        ring.publish(state(1), Source::UNKNOWN).unwrap();
        let reader = {
            let ring = ring.clone();
            thread::spawn(move || {
                for _ in 0..2 {
                    if let Some(s) = ring.peek() {
                        check(&s, |n| if n <= 2 { n } else { n - 2 });
                    }
                }
            })
        };
        ring.publish(state(2), Source::UNKNOWN).unwrap();
        ring.reset();
        ring.publish(state(3), Source::UNKNOWN).unwrap();
        ring.publish(state(4), Source::UNKNOWN).unwrap();
        reader.join().unwrap();
        assert_eq!(ring.version(), 2);
        assert_eq!(ring.peek().unwrap().state, state(4));
    });
}

/// A reader cursor across a reset: the writer publishes 1, resets and
/// publishes 2 (version 1 again) while a `Reader` calls `read_if_updated`
/// twice. It never returns the same publish twice, sees publishes in order,
/// and never counts a version of the first epoch as lost in the second.
/// Leaves out: `wait` (a notifier wait, modelled in `crate::notify`).
#[test]
fn loom_reader_cursor_across_a_reset() {
    model(|| {
        let ring = ring();
        let mut cursor = ring.reader();
        let handle = thread::spawn(move || {
            let mut seen = Vec::new();
            for _ in 0..2 {
                if let Some(s) = cursor.read_if_updated() {
                    seen.push(check(&s, |_| 1));
                }
            }
            (seen, cursor.lost())
        });
        ring.publish(state(1), Source::UNKNOWN).unwrap();
        ring.reset();
        ring.publish(state(2), Source::UNKNOWN).unwrap();
        let (seen, lost) = handle.join().unwrap();
        assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
        assert_eq!(lost, 0, "version 1 of each epoch is the first");
    });
}

/// Two writers publish at once (one takes the writer lock's fast path, the
/// other may queue and spin) while a reader reads: versions 1 and 2 go to
/// different publishes, every read is whole, and both publishes are held.
/// Leaves out: more than two writers (the queue mutex serialises them the
/// same way).
#[test]
fn loom_buffer_two_writers() {
    model(|| {
        let ring = SlotRing::<[u64; 2]>::with_slots(2, 4).unwrap();
        let writers: Vec<_> = (1..=2)
            .map(|n| {
                let ring = ring.clone();
                thread::spawn(move || ring.publish(state(n), Source::UNKNOWN).unwrap())
            })
            .collect();
        if let Some(s) = ring.peek() {
            assert_eq!(s.state[0], s.state[1], "torn read");
        }
        let mut versions: Vec<u64> = writers.into_iter().map(|w| w.join().unwrap()).collect();
        versions.sort_unstable();
        assert_eq!(versions, [1, 2]);
        let history = ring.history();
        assert_eq!(history.len(), 2);
        for s in &history {
            assert_eq!(s.state[0], s.state[1]);
        }
        assert_ne!(history[0].state, history[1].state);
    });
}

/// A publish wakes a reader blocked in `wait` (no timeout): the publish's
/// `latest` store, fence and check of `waiting` against the waiter's
/// increment, fence and check (a lost wake-up is a loom deadlock). Leaves out: timeouts (loom has no time) and several waiters
/// (modelled in `crate::notify`).
#[test]
fn loom_publish_wakes_a_waiting_reader() {
    model(|| {
        let ring = ring();
        let mut cursor = ring.reader();
        let waiter = thread::spawn(move || cursor.wait(Duration::MAX).map(|s| s.state));
        ring.publish(state(1), Source::UNKNOWN).unwrap();
        assert_eq!(waiter.join().unwrap(), Ok(state(1)));
    });
}

/// An annotated ring: a writer publishes two states with values and resets
/// in between, while a reader reads the latest and looks its value up: a
/// snapshot the reader finds has its own value (the one published with it,
/// never one of the other epoch; a reset may have forgotten it), and the
/// last publish's value is always there. Leaves out:
/// publishes without a value and eviction (the table keeps as many values
/// as the ring has slots).
#[test]
fn loom_annotated_values_follow_their_snapshot() {
    model(|| {
        let notes = Arc::new(Annotated::new(ring()));
        let reader = {
            let notes = Arc::clone(&notes);
            thread::spawn(move || {
                if let Some(s) = notes.buffer().peek() {
                    // Both publishes are version 1 (of two epochs).
                    let n = check(&s, |_| 1);
                    let value = notes.with_value(&s, |m| *m);
                    if n == 2 {
                        assert_eq!(value, Some(2), "the last publish keeps its value");
                    } else {
                        // Forgotten by the reset, or its own: never epoch 2's.
                        assert!(value.is_none() || value == Some(1), "{value:?}");
                    }
                }
            })
        };
        notes.publish(state(1), Source::UNKNOWN, Some(1)).unwrap();
        notes.reset();
        notes.publish(state(2), Source::UNKNOWN, Some(2)).unwrap();
        reader.join().unwrap();
    });
}

/// A reader races publishes that skip versions: version 1, then 3 (its
/// sequence number's slot held nothing), then 4 (overwriting version 1's
/// slot), then a refused publish at version 2. Every read — the latest, the
/// history, a reader cursor — is whole and carries its own publish's
/// version (a skipped version is never answered by another state), the
/// versions a thread sees never go back, and the cursor counts exactly the
/// versions between two it read as lost. Leaves out: resets between skips
/// (a skip after a reset takes the same path, from the new base), shared
/// memory (same `stamped` protocol and header), subscriptions.
#[test]
fn loom_reader_races_a_skipping_publish() {
    model(|| {
        let ring = ring();
        ring.publish_at_version(state(1), Source::UNKNOWN, 1)
            .unwrap();
        let version_of = |n: u64| [0, 1, 3, 4][n as usize];
        // Created after version 1 (its sequence number is the cursor's
        // start): versions after it that it does not read are lost to it.
        let mut cursor = ring.reader();
        let reader = {
            let ring = ring.clone();
            thread::spawn(move || {
                let mut last = 0;
                let mut cursor_last = 0;
                let mut expected_lost = 0;
                for _ in 0..2 {
                    if let Some(s) = ring.peek() {
                        check(&s, version_of);
                        assert!(s.version >= last, "went backwards");
                        last = s.version;
                    }
                    for s in ring.history() {
                        check(&s, version_of);
                    }
                    if let Some(s) = cursor.read_if_updated() {
                        check(&s, version_of);
                        assert!(s.version > cursor_last, "cursor went backwards");
                        // Every version between two it read (or after its
                        // start, version 1), skipped or overwritten, is lost.
                        expected_lost += s.version.saturating_sub(cursor_last.max(1) + 1);
                        cursor_last = s.version;
                    }
                }
                assert_eq!(cursor.lost(), expected_lost);
            })
        };
        ring.publish_at_version(state(2), Source::UNKNOWN, 3)
            .unwrap();
        ring.publish_at_version(state(3), Source::UNKNOWN, 4)
            .unwrap();
        let refused = ring
            .publish_at_version(state(4), Source::UNKNOWN, 2)
            .unwrap_err();
        assert_eq!(
            refused.error,
            Error::VersionNotNewer {
                version: 2,
                latest: 4
            }
        );
        reader.join().unwrap();
        assert_eq!(ring.version(), 4);
        assert_eq!(ring.peek().unwrap().state, state(3));
        assert_eq!(ring.statistics().updates, 3);
    });
}
