//! What a buffer reports about itself: [`Statistics`], the subscription
//! totals, and the rates.
//!
//! - Reads through a buffer's own `latest()` land in striped counters of
//!   the storage's header: each thread increments its own cache-line-padded
//!   stripe, so readers do not all write one shared line.
//!   [`Reader`](crate::Reader) handles count in their own counters (no
//!   read-modify-write at all).
//! - Rates (`updates_per_sec`, `reads_per_sec`) are computed against the
//!   previous sample, an immutable value swapped atomically (`ArcSwap`), not
//!   guarded by a mutex.

use arc_swap::ArcSwap;
use std::sync::Arc;
use std::time::Duration;

/// One sample of the monotonically growing counters.
#[derive(Clone, Copy, Debug, Default)]
struct Sample {
    at_ns: u64,
    updates: u64,
    reads: u64,
}

/// The two latest samples at least a window apart: rates are measured
/// against `recent` once it is a window old, else against `base`.
#[derive(Clone, Copy, Debug, Default)]
struct Samples {
    base: Sample,
    recent: Sample,
}

/// Rates computed against a previous sample, swapped atomically (no mutex).
pub(crate) struct Rates {
    samples: ArcSwap<Samples>,
}

/// Rates are measured over at least this window (or since creation), so
/// that frequent statistics calls still report useful figures.
const MIN_WINDOW_NS: u64 = 100_000_000;

impl Rates {
    pub(crate) fn new(now_ns: u64) -> Self {
        let first = Sample {
            at_ns: now_ns,
            ..Sample::default()
        };
        Rates {
            samples: ArcSwap::from_pointee(Samples {
                base: first,
                recent: first,
            }),
        }
    }

    /// `(updates_per_sec, reads_per_sec)` over the last window; rolls the
    /// samples forward once the newest is a window old.
    pub(crate) fn sample(&self, now_ns: u64, updates: u64, reads: u64) -> (f64, f64) {
        let current = self.samples.load_full();
        let roll = now_ns.saturating_sub(current.recent.at_ns) >= MIN_WINDOW_NS;
        let reference = if roll { current.recent } else { current.base };
        let dt_ns = now_ns.saturating_sub(reference.at_ns);
        let rates = if dt_ns == 0 {
            (0.0, 0.0)
        } else {
            let dt = dt_ns as f64 * 1e-9;
            (
                updates.saturating_sub(reference.updates) as f64 / dt,
                reads.saturating_sub(reference.reads) as f64 / dt,
            )
        };
        if roll {
            let next = Arc::new(Samples {
                base: current.recent,
                recent: Sample {
                    at_ns: now_ns,
                    updates,
                    reads,
                },
            });
            // Only replace what we computed against: of two concurrent
            // callers one wins, and neither waits.
            let _ = self.samples.compare_and_swap(&current, next);
        }
        rates
    }

    pub(crate) fn reset(&self, now_ns: u64) {
        let first = Sample {
            at_ns: now_ns,
            ..Sample::default()
        };
        self.samples.store(Arc::new(Samples {
            base: first,
            recent: first,
        }));
    }
}

/// Totals over a buffer's subscriptions (or one subscription's own).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SubscriptionCounters {
    /// Events received by consumers.
    pub delivered: u64,
    /// Events lost because a queue was full (either policy).
    pub dropped: u64,
    /// Times a consumer saw a version that did not follow the previous one.
    pub gaps: u64,
    /// Events skipped because their version was not newer than the last.
    pub duplicates: u64,
}

impl std::ops::AddAssign for SubscriptionCounters {
    fn add_assign(&mut self, o: Self) {
        self.delivered += o.delivered;
        self.dropped += o.dropped;
        self.gaps += o.gaps;
        self.duplicates += o.duplicates;
    }
}

/// A buffer's statistics, gathered on request.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct Statistics {
    /// Publishes since creation or the last reset: `current_version`, less
    /// the versions that publishes at a chosen version skipped
    /// ([`publish_at_version`](crate::GenericBuffer::publish_at_version)).
    pub updates: u64,
    /// Reads that returned a snapshot, through the buffer and its readers.
    pub reads: u64,
    /// Reads that found only a state older than the age asked for.
    pub stale_reads: u64,
    /// The latest version (0 before the first publish).
    pub current_version: u64,
    /// Versions published that some reader never saw, summed over readers.
    pub lost: u64,
    /// Live reader handles.
    pub readers: usize,
    /// Live subscriptions.
    pub subscribers: usize,
    /// Snapshots the history holds now.
    pub history_len: usize,
    /// The most snapshots the history holds.
    pub capacity: usize,
    /// Publishes per second since the previous sample.
    pub updates_per_sec: f64,
    /// Reads per second since the previous sample.
    pub reads_per_sec: f64,
    /// Wall-clock age of the latest snapshot's timestamp.
    pub latest_age: Option<Duration>,
    /// Wall-clock time of the latest publish.
    pub last_update_time: Option<f64>,
    /// Totals over subscriptions, ended ones included.
    pub subscriptions: SubscriptionCounters,
    /// Threads and tasks blocked right now in waits on the buffer and on
    /// its subscriptions.
    pub waiting: usize,
}
