//! Regression tests for the buffer's promises under reset, close,
//! cancellation, reentrant drops and hostile sizes. Everything that could
//! hang runs under a watchdog; no test asserts a maximum duration.
#![cfg(not(loom))]

use rtstate::{Error, Policy, SlotRing, Source, StateBuffer, Subscription};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Wake, Waker};
use std::thread;
use std::time::Duration;

const WATCHDOG: Duration = Duration::from_secs(20);

fn src() -> Source {
    Source::intern("hardening")
}

fn within<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(WATCHDOG)
        .expect("operation hung (watchdog)")
}

// ---------------------------------------------------------------------------
// Nothing foreign runs under the writer lock

/// A state whose drop publishes to the buffer from another thread and waits
/// for that publish (with a timeout): if the drop ran under the writer
/// lock, the other thread's publish would block on it and the wait would
/// time out. Counts the drops that saw the publish go through, and those
/// that did not.
struct Reentrant {
    /// Publishes a quiet state to the buffer (boxed: the buffer holds
    /// `Reentrant`s).
    hook: Mutex<Option<Box<dyn FnOnce() + Send>>>,
    ok: Arc<AtomicUsize>,
    blocked: Arc<AtomicUsize>,
}

impl Reentrant {
    fn quiet() -> Self {
        Reentrant {
            hook: Mutex::new(None),
            ok: Arc::new(AtomicUsize::new(0)),
            blocked: Arc::new(AtomicUsize::new(0)),
        }
    }
}

impl Drop for Reentrant {
    fn drop(&mut self) {
        let hook = self
            .hook
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let Some(hook) = hook else {
            return;
        };
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            hook();
            let _ = tx.send(());
        });
        if rx.recv_timeout(Duration::from_secs(5)).is_ok() {
            self.ok.fetch_add(1, Ordering::SeqCst);
        } else {
            self.blocked.fetch_add(1, Ordering::SeqCst);
        }
    }
}

fn reentrant(
    buffer: &StateBuffer<Reentrant>,
    ok: &Arc<AtomicUsize>,
    blocked: &Arc<AtomicUsize>,
) -> Reentrant {
    let buffer = buffer.clone();
    Reentrant {
        hook: Mutex::new(Some(Box::new(move || {
            let _ = buffer.publish(Reentrant::quiet(), Source::UNKNOWN);
        }))),
        ok: Arc::clone(ok),
        blocked: Arc::clone(blocked),
    }
}

#[test]
fn displaced_states_are_dropped_after_the_writer_lock() {
    within(|| {
        let buffer = StateBuffer::<Reentrant>::new(1).unwrap();
        let (ok, blocked) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        // A subscription whose queue overwrites (and so drops) old events.
        let sub = buffer.subscribe(1, Policy::DropOldest).unwrap();
        let slots = buffer.slots();
        for _ in 0..slots + 3 {
            buffer
                .publish(reentrant(&buffer, &ok, &blocked), src())
                .map_err(|e| e.error)
                .unwrap();
        }
        // The slots overwritten by publishes.
        assert_eq!(
            blocked.load(Ordering::SeqCst),
            0,
            "a drop ran under the lock"
        );
        assert!(
            ok.load(Ordering::SeqCst) >= 3,
            "{}",
            ok.load(Ordering::SeqCst)
        );
        // A reset drops every held state.
        let before = ok.load(Ordering::SeqCst);
        buffer.reset();
        assert_eq!(
            blocked.load(Ordering::SeqCst),
            0,
            "a drop ran under the lock"
        );
        assert!(ok.load(Ordering::SeqCst) > before);
        drop(sub);
        buffer.close();
    });
}

// ---------------------------------------------------------------------------
// Waits and resets

type Wait = Box<dyn Fn(u64) -> Result<u64, Error> + Send>;
type Action = Box<dyn Fn()>;

#[test]
fn a_reset_wakes_a_wait_and_the_first_publish_after_it_satisfies_it() {
    for ring in [true, false] {
        let (wait, publish, reset): (Wait, Action, Action) = if ring {
            let b = SlotRing::<[u64; 2]>::new(4).unwrap();
            let (b1, b2, b3) = (b.clone(), b.clone(), b);
            (
                Box::new(move |after| b1.wait_for_update(after, Duration::from_secs(30))),
                Box::new(move || {
                    b2.publish([1, 1], src()).unwrap();
                }),
                Box::new(move || b3.reset()),
            )
        } else {
            let b = StateBuffer::<u64>::new(4).unwrap();
            let (b1, b2, b3) = (b.clone(), b.clone(), b);
            (
                Box::new(move |after| b1.wait_for_update(after, Duration::from_secs(30))),
                Box::new(move || {
                    b2.publish(1, src()).unwrap();
                }),
                Box::new(move || b3.reset()),
            )
        };
        for _ in 0..5 {
            publish();
        }
        // Waits for a version after 5, begun before the reset.
        let waiter = thread::spawn(move || wait(5));
        thread::sleep(Duration::from_millis(50));
        reset();
        thread::sleep(Duration::from_millis(20));
        publish();
        assert_eq!(within(move || waiter.join().unwrap()), Ok(1), "ring={ring}");
    }
}

#[test]
fn a_reader_wait_is_satisfied_by_the_first_publish_after_a_reset() {
    let ring = SlotRing::<[u64; 2]>::new(4).unwrap();
    for i in 1..=3 {
        ring.publish([i, i], src()).unwrap();
    }
    let mut reader = ring.reader();
    reader.read();
    let waiter = thread::spawn(move || {
        reader
            .wait(Duration::from_secs(30))
            .map(|s| (s.version, s.state))
    });
    thread::sleep(Duration::from_millis(50));
    ring.reset();
    thread::sleep(Duration::from_millis(20));
    ring.publish([7, 7], src()).unwrap();
    assert_eq!(within(move || waiter.join().unwrap()), Ok((1, [7, 7])));
}

#[test]
fn a_reader_wait_on_a_reset_buffer_is_not_closed() {
    let ring = SlotRing::<[u64; 2]>::new(4).unwrap();
    ring.publish([1, 1], src()).unwrap();
    let mut reader = ring.reader();
    reader.read();
    ring.reset();
    let t = Duration::from_millis(30);
    assert_eq!(
        within(move || reader.wait(t).map(|s| s.version)),
        Err(Error::Timeout(t)),
        "a reset is not a close"
    );
}

/// A reader racing with resets never returns the same publish twice and
/// never sees one older than the last it read.
#[test]
fn a_reader_racing_resets_never_returns_a_publish_twice() {
    let ring = SlotRing::<[u64; 2]>::new(4).unwrap();
    let stop = Arc::new(AtomicUsize::new(0));
    let writer = {
        let (ring, stop) = (ring.clone(), Arc::clone(&stop));
        thread::spawn(move || {
            let mut n = 0u64;
            while stop.load(Ordering::Relaxed) == 0 {
                n += 1;
                ring.publish([n, n], src()).unwrap();
                if n.is_multiple_of(3) {
                    ring.reset();
                }
            }
        })
    };
    let mut reader = ring.reader();
    let mut last = 0;
    let mut reads = 0u64;
    let deadline = std::time::Instant::now() + Duration::from_millis(500);
    while std::time::Instant::now() < deadline {
        if let Some(s) = reader.read_if_updated() {
            assert_eq!(s.state[0], s.state[1], "torn");
            assert!(s.state[0] > last, "publish {} after {last}", s.state[0]);
            last = s.state[0];
            reads += 1;
        }
    }
    stop.store(1, Ordering::Relaxed);
    within(move || writer.join().unwrap());
    assert!(reads > 0);
}

// ---------------------------------------------------------------------------
// Close and reset

#[test]
fn a_reset_after_close_does_not_reopen_subscriptions() {
    let ring = SlotRing::<[u64; 2]>::new(4).unwrap();
    let sub = ring.subscribe(4, Policy::DropOldest).unwrap();
    ring.close();
    ring.reset();
    assert_eq!(
        ring.subscribe(4, Policy::DropOldest).unwrap_err(),
        Error::Closed
    );
    assert_eq!(
        within(move || sub.recv().map(|s| s.version)),
        Err(Error::Closed)
    );
    assert!(ring.is_closed());
    let buffer = StateBuffer::<u64>::new(4).unwrap();
    buffer.close();
    buffer.reset();
    assert_eq!(
        buffer.subscribe(4, Policy::DropOldest).unwrap_err(),
        Error::Closed
    );
}

// ---------------------------------------------------------------------------
// Cancellation

struct Noop;
impl Wake for Noop {
    fn wake(self: Arc<Self>) {}
}

#[test]
fn a_dropped_recv_future_leaves_no_waiter_behind() {
    let ring = SlotRing::<[u64; 2]>::new(4).unwrap();
    let sub: Subscription<_> = ring.subscribe(4, Policy::DropOldest).unwrap();
    let waker = Waker::from(Arc::new(Noop));
    let mut cx = Context::from_waker(&waker);
    for _ in 0..10_000 {
        let mut fut = sub.recv_async();
        assert!(Pin::new(&mut fut).poll(&mut cx).is_pending());
        drop(fut);
    }
    assert_eq!(ring.statistics().waiting, 0, "cancelled futures deregister");
    ring.publish([1, 1], src()).unwrap();
    assert_eq!(sub.try_recv().unwrap().version, 1);
}

// ---------------------------------------------------------------------------
// Sizes and durations

#[test]
fn absurd_capacities_are_named_errors_not_aborts() {
    for capacity in [1usize << 20, 1 << 40, 1 << 62, usize::MAX] {
        for err in [
            SlotRing::<[f64; 13]>::new(capacity).unwrap_err(),
            StateBuffer::<String>::new(capacity).unwrap_err(),
        ] {
            assert!(
                matches!(
                    err,
                    Error::InvalidArgument {
                        name: "capacity",
                        ..
                    }
                ),
                "{capacity}: {err:?}"
            );
        }
    }
    // A huge state times many slots exceeds the storage bound.
    assert!(matches!(
        SlotRing::<[u64; 4096]>::new(20_000).unwrap_err(),
        Error::InvalidArgument {
            name: "capacity",
            ..
        }
    ));
}

#[test]
fn subscriptions_are_bounded_in_total_memory() {
    // 576 bytes a slot: one queue of MAX_CAPACITY alone is too large, and is
    // refused before anything is allocated.
    let ring = SlotRing::<[u64; 64]>::new(4).unwrap();
    let err = ring
        .subscribe(rtstate::MAX_CAPACITY, Policy::DropOldest)
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidArgument {
                name: "capacity",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("bytes"), "{err}");
    // Two of 240 000 slots (138 MB each) do not fit together.
    let first = ring.subscribe(240_000, Policy::DropOldest).unwrap();
    let err = ring.subscribe(240_000, Policy::DropOldest).unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidArgument {
                name: "capacity",
                ..
            }
        ),
        "{err}"
    );
    // Dropping one frees its share.
    drop(first);
    assert!(ring.subscribe(240_000, Policy::DropOldest).is_ok());
}

#[test]
fn a_timeout_too_large_to_represent_waits_for_ever() {
    let ring = SlotRing::<[u64; 2]>::new(4).unwrap();
    let waiter = {
        let ring = ring.clone();
        thread::spawn(move || ring.wait_for_update(0, Duration::MAX))
    };
    let mut reader = ring.reader();
    let reader_waiter = thread::spawn(move || reader.wait(Duration::MAX).map(|s| s.version));
    let sub = ring.subscribe(2, Policy::DropOldest).unwrap();
    let sub_waiter = thread::spawn(move || sub.recv_timeout(Duration::MAX).map(|s| s.version));
    thread::sleep(Duration::from_millis(50));
    ring.publish([1, 1], src()).unwrap();
    assert_eq!(within(move || waiter.join().unwrap()), Ok(1));
    assert_eq!(within(move || reader_waiter.join().unwrap()), Ok(1));
    assert_eq!(within(move || sub_waiter.join().unwrap()), Ok(1));
    assert_eq!(
        rtstate::timeout_from_secs("timeout", 1e300),
        Ok(Duration::MAX)
    );
}

#[test]
fn a_thread_blocked_on_a_subscription_counts_as_waiting() {
    let ring = SlotRing::<[u64; 2]>::new(4).unwrap();
    let sub = ring.subscribe(4, Policy::DropOldest).unwrap();
    let consumer = thread::spawn(move || sub.recv().map(|s| s.version));
    let deadline = std::time::Instant::now() + WATCHDOG;
    while ring.statistics().waiting == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the subscriber never showed up"
        );
        thread::sleep(Duration::from_millis(5));
    }
    ring.publish([1, 1], src()).unwrap();
    assert_eq!(within(move || consumer.join().unwrap()), Ok(1));
    assert_eq!(ring.statistics().waiting, 0);
}
