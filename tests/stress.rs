//! Release-mode stress: one writer publishing as fast as it can, readers
//! checking that fields which must agree do agree and that versions never go
//! backwards. Run by `make test` as `cargo test --release --test stress`.

use rtstate::{Buffer, FastDroneState, Reader, SlotRing, Source, StateBuffer};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// A state whose every field is a function of `i`: a torn copy mixes two
/// publishes and breaks the relation.
fn state(i: u64) -> FastDroneState {
    let x = i as f64;
    FastDroneState {
        timestamp: x,
        position: [x, x + 1.0, x + 2.0],
        velocity: [-x, -x - 1.0, -x - 2.0],
        attitude: [x * 0.5, x * 0.25, x * 0.125],
        angular_velocity: [x, x, x],
    }
}

fn assert_whole(s: &FastDroneState, version: u64) {
    let x = s.timestamp;
    assert_eq!(*s, state(x as u64), "torn state at version {version}");
    // Publish i carries timestamp i-1: the state and its version agree too.
    assert_eq!(
        x as u64 + 1,
        version,
        "state does not belong to its version"
    );
}

const MIN_DURATION: Duration = Duration::from_secs(1);
const MIN_READS: u64 = 1_000_000;

/// Runs `readers` reader threads against a writer until both minimums are
/// reached; returns (reads, publishes).
fn hammer<B, F>(buffer: B, publish: F, readers: usize) -> (u64, u64)
where
    B: Buffer<State = FastDroneState>,
    F: Fn(&B, FastDroneState) + Send + 'static,
{
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (buffer, stop) = (buffer.clone(), Arc::clone(&stop));
        thread::spawn(move || {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                publish(&buffer, state(i));
                i += 1;
            }
            i
        })
    };
    let handles: Vec<_> = (0..readers)
        .map(|r| {
            let buffer = buffer.clone();
            thread::spawn(move || {
                let mut reader: Reader<B> = buffer.reader();
                let (mut reads, mut last) = (0u64, 0u64);
                let start = Instant::now();
                loop {
                    // Alternate the buffer's own read and the reader handle.
                    let item = if r % 2 == 0 {
                        buffer.latest()
                    } else {
                        reader.read()
                    };
                    if let Some(item) = item {
                        let snap = std::borrow::Borrow::borrow(&item);
                        assert_whole(&snap.state, snap.version);
                        assert!(
                            snap.version >= last,
                            "version went backwards: {} after {last}",
                            snap.version
                        );
                        last = snap.version;
                        reads += 1;
                    }
                    if reads >= MIN_READS && start.elapsed() >= MIN_DURATION {
                        break;
                    }
                }
                reads
            })
        })
        .collect();
    let reads: u64 = handles
        .into_iter()
        .map(|h| h.join().expect("reader panicked"))
        .sum();
    stop.store(true, Ordering::Relaxed);
    let publishes = writer.join().expect("writer panicked");
    (reads, publishes)
}

#[test]
fn slot_ring_readers_never_see_torn_or_backwards_states() {
    let ring = SlotRing::<FastDroneState>::checked(16).unwrap();
    let source = Source::intern("stress");
    let (reads, publishes) = hammer(
        ring.clone(),
        move |r, s| {
            r.publish(s, source).unwrap();
        },
        2,
    );
    println!("slot ring: {reads} reads against {publishes} publishes");
    assert!(reads >= 2 * MIN_READS);
    assert!(publishes > 0);
    // The history is whole too, oldest first, consecutive.
    let h = ring.history();
    for w in h.windows(2) {
        assert_eq!(w[1].version, w[0].version + 1);
    }
    for s in &h {
        assert_whole(&s.state, s.version);
    }
}

#[test]
fn slot_ring_with_two_slots_survives_a_flat_out_writer() {
    // A double buffer (K = 2), as DART-Planner's: readers may retry often,
    // never tear.
    let ring = SlotRing::<FastDroneState>::with_slots(1, 2).unwrap();
    let source = Source::intern("stress");
    let (reads, _) = hammer(
        ring,
        move |r, s| {
            r.publish(s, source).unwrap();
        },
        1,
    );
    assert!(reads >= MIN_READS);
}

#[test]
fn state_buffer_readers_never_see_torn_or_backwards_states() {
    let buffer = StateBuffer::<FastDroneState>::checked(16).unwrap();
    let source = Source::intern("stress");
    let (reads, publishes) = hammer(
        buffer,
        move |b, s| {
            b.publish(s, source).unwrap();
        },
        2,
    );
    println!("state buffer: {reads} reads against {publishes} publishes");
    assert!(reads >= 2 * MIN_READS);
}

#[test]
fn concurrent_writers_get_consecutive_versions() {
    let ring = SlotRing::<[u64; 2]>::new(4).unwrap();
    let source = Source::intern("stress");
    let per_writer = 200_000u64;
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let ring = ring.clone();
            thread::spawn(move || {
                let mut last = 0;
                for i in 0..per_writer {
                    let v = ring.publish([i, i], source).unwrap();
                    assert!(v > last, "a writer's versions increase");
                    last = v;
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(
        ring.version(),
        2 * per_writer,
        "versions increase by exactly 1 per publish"
    );
}

/// Resets under readers of a large state (32 KiB, so copies are slow): a
/// reader still copying a slot across a reset and republish of the same
/// versions must never validate a mix of two states (stamps are never
/// reused), and `history` never mixes epochs.
#[test]
fn reset_under_readers_never_tears_a_large_state() {
    type Big = [u64; 4096];
    let ring = SlotRing::<Big>::new(4).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..3)
        .map(|r| {
            let (ring, stop) = (ring.clone(), Arc::clone(&stop));
            thread::spawn(move || {
                let mut reads = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    if r == 2 {
                        for s in ring.history() {
                            assert!(s.state.iter().all(|&w| w == s.state[0]), "torn history");
                        }
                    } else if let Some(s) = ring.peek() {
                        assert!(s.state.iter().all(|&w| w == s.state[0]), "torn read");
                        reads += 1;
                    }
                }
                reads
            })
        })
        .collect();
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < MIN_DURATION {
        ring.reset();
        for _ in 0..3 {
            n += 1;
            ring.publish([n; 4096], Source::UNKNOWN).unwrap();
        }
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().unwrap();
    }
    assert_eq!(ring.version(), 3);
}
