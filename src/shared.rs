//! What both buffer kinds share: clock, capacity, closing, counters, reader
//! registry, rates, wake-ups and subscribers. The buffers own only their
//! storage and their publish/read algorithms.

use crate::clock::Clock;
use crate::notify::Notifier;
use crate::slot::SlotStore;
use crate::snapshot::{Snapshot, Version};
use crate::stats::{Rates, Statistics, StripedCounter};
use crate::subscription::Subscribers;
use crate::sync::{lock, AtomicBool, AtomicU64, Mutex, Ordering};
use crate::Error;
use std::sync::Arc;
use std::time::Duration;

/// Counters of one [`Reader`](crate::Reader), written only by it (plain
/// load + store, no read-modify-write) and summed for statistics.
#[doc(hidden)]
#[derive(Debug, Default)]
pub struct ReaderCounters {
    pub(crate) reads: AtomicU64,
    pub(crate) lost: AtomicU64,
}

impl ReaderCounters {
    /// Adds `n` to a counter this reader alone writes.
    #[inline]
    pub(crate) fn bump(counter: &AtomicU64, n: u64) {
        // ORDERING: single writer (the reader handle); statistics read it
        // Relaxed; no memory hangs on it.
        counter.store(counter.load(Ordering::Relaxed) + n, Ordering::Relaxed);
    }
}

#[derive(Default)]
struct Registry {
    live: Vec<Arc<ReaderCounters>>,
    retired_reads: u64,
    retired_lost: u64,
}

pub(crate) struct Shared<S> {
    pub(crate) clock: Clock,
    pub(crate) capacity: usize,
    pub(crate) notifier: Notifier,
    pub(crate) subscribers: Subscribers<S>,
    reads: StripedCounter,
    stale_reads: AtomicU64,
    rates: Rates,
    readers: Mutex<Registry>,
    closed: AtomicBool,
    /// Incremented by each reset, so that readers can tell a new version 3
    /// from the old version 3.
    epoch: AtomicU64,
}

impl<S: SlotStore> Shared<S> {
    pub(crate) fn new(capacity: usize, clock: Clock) -> Result<Self, Error> {
        if capacity == 0 {
            return Err(Error::InvalidArgument {
                name: "capacity",
                reason: "must be at least 1".into(),
            });
        }
        let now = clock.now_ns();
        Ok(Shared {
            capacity,
            notifier: Notifier::new(),
            subscribers: Subscribers::new(),
            reads: StripedCounter::new(),
            stale_reads: AtomicU64::new(0),
            rates: Rates::new(now),
            readers: Mutex::new(Registry::default()),
            closed: AtomicBool::new(false),
            epoch: AtomicU64::new(0),
            clock,
        })
    }

    #[inline]
    pub(crate) fn is_closed(&self) -> bool {
        // ORDERING: Acquire; pairs with the Release in `close`, so a waiter
        // that sees the flag sees everything before the close.
        self.closed.load(Ordering::Acquire)
    }

    pub(crate) fn close(&self) {
        // ORDERING: Release; pairs with `is_closed`.
        self.closed.store(true, Ordering::Release);
        self.subscribers.close_all();
        self.notifier.notify();
    }

    /// Resets so far.
    #[inline]
    pub(crate) fn epoch(&self) -> u64 {
        // ORDERING: Acquire; pairs with the Release in `reset`.
        self.epoch.load(Ordering::Acquire)
    }

    #[inline]
    pub(crate) fn count_read(&self) {
        self.reads.add(1);
    }

    pub(crate) fn count_stale(&self) {
        // ORDERING: a statistic.
        self.stale_reads.fetch_add(1, Ordering::Relaxed);
    }

    /// Keeps `item` if its timestamp is within `max_age` of the clock's now;
    /// otherwise counts a stale read.
    pub(crate) fn fresh<I>(
        &self,
        item: Option<I>,
        timestamp: impl Fn(&I) -> f64,
        max_age: Duration,
    ) -> Option<I> {
        let item = item?;
        let age = self.clock.wall() - timestamp(&item);
        if age <= max_age.as_secs_f64() {
            self.count_read();
            Some(item)
        } else {
            self.count_stale();
            None
        }
    }

    /// The history entry whose timestamp is nearest `time`, if within
    /// `max_age` of it; otherwise counts a stale read.
    pub(crate) fn nearest<I>(
        &self,
        history: Vec<I>,
        timestamp: impl Fn(&I) -> f64,
        time: f64,
        max_age: Duration,
    ) -> Option<I> {
        let best = history.into_iter().min_by(|a, b| {
            let da = (timestamp(a) - time).abs();
            let db = (timestamp(b) - time).abs();
            da.total_cmp(&db)
        });
        match best {
            Some(item) if (timestamp(&item) - time).abs() <= max_age.as_secs_f64() => {
                self.count_read();
                Some(item)
            }
            Some(_) => {
                self.count_stale();
                None
            }
            None => None,
        }
    }

    /// Blocks until `version()` exceeds `after`, the buffer closes, or the
    /// timeout passes.
    pub(crate) fn wait_for_update(
        &self,
        version: impl Fn() -> Version,
        after: Version,
        timeout: Option<Duration>,
    ) -> Result<Version, Error> {
        let outcome = self.notifier.wait_while(
            || {
                let v = version();
                if v > after {
                    Some(Ok(v))
                } else if self.is_closed() {
                    Some(Err(Error::Closed))
                } else {
                    None
                }
            },
            timeout,
        );
        outcome.unwrap_or(Err(Error::Timeout(timeout.unwrap_or_default())))
    }

    pub(crate) fn register_reader(&self) -> Arc<ReaderCounters> {
        let counters = Arc::new(ReaderCounters::default());
        lock(&self.readers).live.push(Arc::clone(&counters));
        counters
    }

    pub(crate) fn retire_reader(&self, counters: &Arc<ReaderCounters>) {
        let mut reg = lock(&self.readers);
        if let Some(i) = reg.live.iter().position(|c| Arc::ptr_eq(c, counters)) {
            reg.live.swap_remove(i);
            // ORDERING: statistics.
            reg.retired_reads += counters.reads.load(Ordering::Relaxed);
            reg.retired_lost += counters.lost.load(Ordering::Relaxed);
        }
    }

    /// Clears counters and rates (the buffer clears its own storage and
    /// version); ends every subscription, then accepts new ones.
    pub(crate) fn reset(&self) {
        // ORDERING: Release; pairs with the Acquire in `epoch`: a reader that
        // sees the new epoch re-reads the cleared buffer.
        self.epoch.fetch_add(1, Ordering::Release);
        self.reads.reset();
        // ORDERING: statistics.
        self.stale_reads.store(0, Ordering::Relaxed);
        {
            let mut reg = lock(&self.readers);
            reg.retired_reads = 0;
            reg.retired_lost = 0;
            for c in &reg.live {
                // ORDERING: statistics (a reader racing with reset may keep
                // a count from just before it).
                c.reads.store(0, Ordering::Relaxed);
                c.lost.store(0, Ordering::Relaxed);
            }
        }
        self.rates.reset(self.clock.now_ns());
        self.subscribers.close_all();
        self.subscribers.reset_counters();
        self.subscribers.reopen();
    }

    /// Statistics, given what only the buffer knows.
    pub(crate) fn statistics<T>(
        &self,
        version: Version,
        latest: Option<&Snapshot<T>>,
        history_len: usize,
    ) -> Statistics {
        let (reader_reads, lost, readers) = {
            let reg = lock(&self.readers);
            // ORDERING: statistics.
            let live_reads: u64 = reg
                .live
                .iter()
                .map(|c| c.reads.load(Ordering::Relaxed))
                .sum();
            let live_lost: u64 = reg
                .live
                .iter()
                .map(|c| c.lost.load(Ordering::Relaxed))
                .sum();
            (
                reg.retired_reads + live_reads,
                reg.retired_lost + live_lost,
                reg.live.len(),
            )
        };
        let reads = self.reads.sum() + reader_reads;
        let now_ns = self.clock.now_ns();
        let (updates_per_sec, reads_per_sec) = self.rates.sample(now_ns, version, reads);
        let now_wall = self.clock.wall_at(now_ns);
        Statistics {
            updates: version,
            reads,
            // ORDERING: statistics.
            stale_reads: self.stale_reads.load(Ordering::Relaxed),
            current_version: version,
            lost,
            readers,
            subscribers: self.subscribers.len(),
            history_len,
            capacity: self.capacity,
            updates_per_sec,
            reads_per_sec,
            latest_age: latest
                .and_then(|s| Duration::try_from_secs_f64((now_wall - s.timestamp).max(0.0)).ok()),
            last_update_time: latest.map(|s| s.published_at),
            subscriptions: self.subscribers.counters(),
            waiting: self.notifier.waiting(),
        }
    }
}
