//! Chaos: writers, readers, reader cursors, blocking and tokio subscribers,
//! waits, subscribe/unsubscribe, resets and finally a close, all at once on
//! one buffer for a few seconds (`CHAOS_SECS`, default 3), checking every
//! invariant as it goes: never torn, versions never backwards within an
//! epoch, a cursor never returns a publish twice, subscription counters add
//! up, every waiter returns, and every thread ends (joined under a
//! watchdog). Run in release mode by `make stress`.
#![cfg(not(loom))]

use rtstate::{Error, Policy, SlotRing, Source};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

/// 32 words (256 bytes), all equal to the publish's id: a torn copy mixes
/// ids.
type State = [u64; 32];
type Ring = SlotRing<State>;

const WATCHDOG: Duration = Duration::from_secs(60);

fn whole(s: &State) -> u64 {
    assert!(s.iter().all(|&w| w == s[0]), "torn state: {:?}", &s[..4]);
    s[0]
}

/// Versions seen by one consumer never go backwards unless a reset came
/// between: `epoch_before` is the buffer's reset count loaded before the
/// previous read, `epoch_after` the one loaded after this read.
struct Order {
    version: u64,
    epoch_before: u64,
}

impl Order {
    fn new() -> Self {
        Order {
            version: 0,
            epoch_before: 0,
        }
    }
    fn check(&mut self, ring: &Ring, version: u64, epoch_before: u64) {
        let epoch_after = ring.epoch();
        if version < self.version {
            assert!(
                epoch_after > self.epoch_before,
                "version {version} after {} with no reset between",
                self.version
            );
        }
        self.version = version;
        self.epoch_before = epoch_before;
    }
}

struct Chaos {
    ring: Ring,
    stop: Arc<AtomicBool>,
    ids: Arc<AtomicU64>,
}

fn spawn<R: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> R + Send + 'static,
) -> (String, mpsc::Receiver<thread::Result<R>>) {
    let (tx, rx) = mpsc::channel();
    thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
            let _ = tx.send(r);
        })
        .unwrap();
    (name.to_owned(), rx)
}

#[test]
fn everything_at_once() {
    let secs: u64 = std::env::var("CHAOS_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let chaos = Arc::new(Chaos {
        ring: Ring::new(16).unwrap(),
        stop: Arc::new(AtomicBool::new(false)),
        ids: Arc::new(AtomicU64::new(0)),
    });
    let mut threads = Vec::new();
    let totals = Arc::new(AtomicU64::new(0));

    // Two writers.
    for w in 0..2 {
        let c = Arc::clone(&chaos);
        threads.push(spawn(&format!("writer{w}"), move || {
            let src = Source::intern("chaos");
            let mut published = 0u64;
            while !c.stop.load(Ordering::Relaxed) {
                let id = c.ids.fetch_add(1, Ordering::Relaxed) + 1;
                match c.ring.publish([id; 32], src) {
                    Ok(v) => assert!(v >= 1),
                    Err(e) => assert_eq!(e.error, Error::Closed),
                }
                published += 1;
            }
            published
        }));
    }
    // A resetter.
    {
        let c = Arc::clone(&chaos);
        threads.push(spawn("resetter", move || {
            let mut n = 0u64;
            while !c.stop.load(Ordering::Relaxed) {
                thread::sleep(Duration::from_millis(2));
                c.ring.reset();
                n += 1;
            }
            n
        }));
    }
    // Readers of `latest`, `peek`, `with_latest` and `history`.
    for r in 0..2 {
        let c = Arc::clone(&chaos);
        threads.push(spawn(&format!("latest{r}"), move || {
            let mut order = Order::new();
            let mut n = 0u64;
            while !c.stop.load(Ordering::Relaxed) {
                let epoch = c.ring.epoch();
                let s = match n % 3 {
                    0 => c.ring.latest(),
                    1 => c.ring.peek(),
                    _ => c.ring.with_latest(|s| *s),
                };
                if let Some(s) = s {
                    whole(&s.state);
                    order.check(&c.ring, s.version, epoch);
                }
                if n.is_multiple_of(64) {
                    let h = c.ring.history();
                    // Oldest first, of one epoch (entries a lapping writer
                    // overwrote during the call are left out).
                    for pair in h.windows(2) {
                        whole(&pair[0].state);
                        assert!(pair[1].version > pair[0].version, "history out of order");
                    }
                }
                n += 1;
            }
            n
        }));
    }
    // Reader cursors.
    for r in 0..2 {
        let c = Arc::clone(&chaos);
        threads.push(spawn(&format!("cursor{r}"), move || {
            let mut reader = c.ring.reader();
            let mut order = Order::new();
            let mut last_id = 0;
            let mut n = 0u64;
            while !c.stop.load(Ordering::Relaxed) {
                let epoch = c.ring.epoch();
                let got = if n.is_multiple_of(50) {
                    match reader.wait(Duration::from_millis(5)) {
                        Ok(s) => Some(s),
                        Err(Error::Timeout(_)) | Err(Error::Closed) => None,
                        Err(e) => panic!("reader wait: {e}"),
                    }
                } else {
                    reader.read_if_updated()
                };
                if let Some(s) = got {
                    let id = whole(&s.state);
                    assert_ne!(id, last_id, "the same publish twice");
                    last_id = id;
                    order.check(&c.ring, s.version, epoch);
                }
                n += 1;
            }
            n
        }));
    }
    // Waiters.
    {
        let c = Arc::clone(&chaos);
        threads.push(spawn("waiter", move || {
            let mut n = 0u64;
            while !c.stop.load(Ordering::Relaxed) {
                let v = c.ring.version();
                match c.ring.wait_for_update(v, Duration::from_millis(10)) {
                    Ok(_) | Err(Error::Timeout(_)) | Err(Error::Closed) => {}
                    Err(e) => panic!("wait: {e}"),
                }
                n += 1;
            }
            n
        }));
    }
    // Blocking subscribers, resubscribing after each reset.
    for (i, policy) in [Policy::DropOldest, Policy::DropNewest, Policy::KeepLatest]
        .into_iter()
        .enumerate()
    {
        let c = Arc::clone(&chaos);
        let totals = Arc::clone(&totals);
        threads.push(spawn(&format!("subscriber{i}"), move || {
            let mut events = 0u64;
            while !c.stop.load(Ordering::Relaxed) {
                let Ok(sub) = c.ring.subscribe(8, policy) else {
                    thread::yield_now();
                    continue;
                };
                let mut received = 0u64;
                let mut last = 0;
                loop {
                    match sub.recv_timeout(Duration::from_millis(20)) {
                        Ok(s) => {
                            whole(&s.state);
                            assert!(s.version > last, "subscription out of order");
                            last = s.version;
                            received += 1;
                        }
                        Err(Error::Timeout(_)) if !c.stop.load(Ordering::Relaxed) => {}
                        Err(Error::Timeout(_)) | Err(Error::Closed) => break,
                        Err(e) => panic!("recv: {e}"),
                    }
                }
                let counters = sub.counters();
                assert_eq!(counters.delivered, received, "{counters:?}");
                assert_eq!(counters.duplicates, 0);
                events += received;
            }
            totals.fetch_add(events, Ordering::Relaxed);
            events
        }));
    }
    // An async subscriber on a tokio runtime.
    {
        let c = Arc::clone(&chaos);
        threads.push(spawn("tokio", move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .unwrap();
            rt.block_on(async move {
                let mut events = 0u64;
                while !c.stop.load(Ordering::Relaxed) {
                    let Ok(sub) = c.ring.subscribe(4, Policy::DropOldest) else {
                        tokio::task::yield_now().await;
                        continue;
                    };
                    let mut last = 0;
                    loop {
                        let next =
                            tokio::time::timeout(Duration::from_millis(20), sub.recv_async()).await;
                        match next {
                            Ok(Ok(s)) => {
                                whole(&s.state);
                                assert!(s.version > last, "async subscription out of order");
                                last = s.version;
                                events += 1;
                            }
                            Ok(Err(Error::Closed)) => break,
                            Ok(Err(e)) => panic!("recv_async: {e}"),
                            Err(_elapsed) if c.stop.load(Ordering::Relaxed) => break,
                            Err(_elapsed) => {}
                        }
                    }
                }
                events
            })
        }));
    }
    // Subscribe and unsubscribe churn.
    {
        let c = Arc::clone(&chaos);
        threads.push(spawn("churn", move || {
            let mut n = 0u64;
            while !c.stop.load(Ordering::Relaxed) {
                if let Ok(sub) = c.ring.subscribe(2, Policy::DropOldest) {
                    let _ = sub.try_recv();
                    if n.is_multiple_of(2) {
                        sub.close();
                    }
                }
                let reader = c.ring.reader();
                drop(reader);
                n += 1;
            }
            n
        }));
    }

    thread::sleep(Duration::from_secs(secs));
    // Close first (everything blocked must return), then stop.
    chaos.ring.close();
    thread::sleep(Duration::from_millis(50));
    chaos.stop.store(true, Ordering::Relaxed);

    let deadline = Instant::now() + WATCHDOG;
    for (name, rx) in threads {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(Ok(n)) => eprintln!("{name}: {n}"),
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            Err(_) => panic!("{name} never finished"),
        }
    }
    let stats = chaos.ring.statistics();
    assert_eq!(stats.readers, 0, "every reader handle was dropped");
    assert_eq!(stats.waiting, 0, "nobody is left waiting");
    assert!(chaos.ring.is_closed());
    assert!(chaos.ring.publish([0; 32], Source::UNKNOWN).is_err());
}
