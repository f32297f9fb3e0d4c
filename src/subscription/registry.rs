//! A buffer's subscriptions: subscribe, deliver, close. See the
//! [module docs](super) for the algorithm.

use super::handle::Subscription;
use super::queue::{queue_len, Queue};
use super::{Policy, MAX_CAPACITY, MAX_SUBSCRIPTION_BYTES};
use crate::error::Error;
use crate::statistics::SubscriptionCounters;
use crate::storage::Slots;
use crate::sync::{lock, AtomicUsize, Mutex, Ordering};
use arc_swap::ArcSwap;
use std::fmt;
use std::sync::Arc;

/// A snapshot of a list of queues.
type QueueList<S> = Arc<Vec<Arc<Queue<S>>>>;

/// Registry state changed only by subscribe/unsubscribe/close (never by the
/// producer).
struct Roster<S> {
    /// Every queue whose handle is alive (open or closed).
    all: Vec<Arc<Queue<S>>>,
    /// Bytes of the slots of `all`.
    bytes: usize,
    /// Counters of dropped handles.
    ended: SubscriptionCounters,
    closed: bool,
    next_id: u64,
}

/// The shared part of [`Subscribers`], which handles point back to.
struct Lists<S> {
    /// Open queues; what the producer delivers to.
    live: ArcSwap<Vec<Arc<Queue<S>>>>,
    /// `live.len()`, for the writer's fast path.
    live_count: AtomicUsize,
    roster: Mutex<Roster<S>>,
}

/// How a handle leaves its registry without knowing its slots.
pub(super) trait Detach: Send + Sync {
    /// Stops delivering to queue `id` (it stays counted).
    fn detach(&self, id: u64);
    /// Forgets queue `id`, folding its counters into the totals.
    fn remove(&self, id: u64);
}

impl<S> Lists<S> {
    /// Swaps in `live` without queue `id`. Call under `roster`; drop what
    /// it returns after the lock.
    #[must_use]
    fn unlist(&self, id: u64) -> Option<QueueList<S>> {
        let current = self.live.load();
        if current.iter().any(|q| q.id == id) {
            let next: Vec<_> = current.iter().filter(|q| q.id != id).cloned().collect();
            let n = next.len();
            drop(current);
            let old = self.live.swap(Arc::new(next));
            // ORDERING: Relaxed; a hint for the writer's fast path, written
            // under `roster`.
            self.live_count.store(n, Ordering::Relaxed);
            Some(old)
        } else {
            None
        }
    }
}

impl<S: Slots> Detach for Lists<S> {
    fn detach(&self, id: u64) {
        let roster = lock(&self.roster);
        let old = self.unlist(id);
        drop(roster);
        drop(old);
    }

    fn remove(&self, id: u64) {
        let mut roster = lock(&self.roster);
        let old = self.unlist(id);
        let removed = match roster.all.iter().position(|q| q.id == id) {
            Some(i) => {
                let q = roster.all.swap_remove(i);
                roster.ended += q.counters();
                roster.bytes -= q.bytes();
                Some(q)
            }
            None => None,
        };
        drop(roster);
        // A queue may hold the last reference to events: dropped here,
        // after the lock.
        drop(old);
        drop(removed);
    }
}

/// A buffer's subscriptions. `S` is the buffer's slot kind.
pub(crate) struct Subscribers<S: Slots> {
    inner: Arc<Lists<S>>,
}

/// The queues a close ended, to wake once no lock is held.
#[must_use = "wake the ended subscriptions"]
pub(crate) struct Ended<S>(QueueList<S>);

impl<S> Ended<S> {
    /// Wakes every waiter of the ended queues.
    pub(crate) fn wake(self) {
        for queue in self.0.iter() {
            queue.notify();
        }
    }
}

/// What a delivery leaves to do once the writer's lock is released: drop
/// what it displaced, wake the consumers.
#[must_use = "notify after the writer lock"]
pub(crate) struct Delivered<S: Slots> {
    queues: Option<arc_swap::Guard<QueueList<S>>>,
    displaced: Vec<S::Displaced>,
}

impl<S: Slots> Delivered<S> {
    /// Drops what the delivery displaced, then wakes the consumers of every
    /// queue delivered to. Call with no lock held.
    #[inline]
    pub(crate) fn notify(self) {
        let Delivered { queues, displaced } = self;
        drop(displaced);
        if let Some(queues) = queues {
            for queue in queues.iter() {
                queue.notify();
            }
        }
    }
}

impl<S: Slots> Default for Subscribers<S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S: Slots> Subscribers<S> {
    /// An open registry with no subscriptions.
    pub(crate) fn new() -> Self {
        Subscribers {
            inner: Arc::new(Lists {
                live: ArcSwap::from_pointee(Vec::new()),
                live_count: AtomicUsize::new(0),
                roster: Mutex::new(Roster {
                    all: Vec::new(),
                    bytes: 0,
                    ended: SubscriptionCounters::default(),
                    closed: false,
                    next_id: 1,
                }),
            }),
        }
    }

    /// Ends every subscription (buffer closed or reset): consumers drain
    /// what is queued, then get [`Error::Closed`]. Later `subscribe` calls
    /// fail with `Closed` until [`reopen`](Self::reopen). Wakes nobody:
    /// call [`Ended::wake`] once no lock is held.
    pub(crate) fn close_all(&self) -> Ended<S> {
        let mut roster = lock(&self.inner.roster);
        roster.closed = true;
        let live = self.inner.live.swap(Arc::new(Vec::new()));
        // ORDERING: Relaxed; see `unlist`.
        self.inner.live_count.store(0, Ordering::Relaxed);
        drop(roster);
        for queue in live.iter() {
            queue.mark_closed();
        }
        Ended(live)
    }

    /// Accepts subscriptions again after [`close_all`](Self::close_all).
    pub(crate) fn reopen(&self) {
        lock(&self.inner.roster).closed = false;
    }

    /// Forgets the counters of ended subscriptions and of closed handles
    /// still alive (for a buffer's statistics reset).
    pub(crate) fn reset_counters(&self) {
        let mut roster = lock(&self.inner.roster);
        roster.ended = SubscriptionCounters::default();
        let (closed, open): (Vec<_>, Vec<_>) = std::mem::take(&mut roster.all)
            .into_iter()
            .partition(|q| q.is_closed());
        roster.bytes = open.iter().map(|q| q.bytes()).sum();
        roster.all = open;
        drop(roster);
        drop(closed);
    }

    /// Live (open) subscriptions.
    pub(crate) fn len(&self) -> usize {
        // ORDERING: Relaxed; a statistic.
        self.inner.live_count.load(Ordering::Relaxed)
    }

    /// Whether any subscription is open: one atomic load, for the writer's
    /// fast path.
    #[inline]
    pub(crate) fn any(&self) -> bool {
        // ORDERING: Relaxed; a subscribe racing with a publish may or may
        // not get that event either way. A subscribe that happens before
        // the publish is seen (coherence along the happens-before edge).
        self.inner.live_count.load(Ordering::Relaxed) != 0
    }

    /// Totals over live and ended subscriptions.
    pub(crate) fn counters(&self) -> SubscriptionCounters {
        let roster = lock(&self.inner.roster);
        let mut total = roster.ended;
        for queue in &roster.all {
            total += queue.counters();
        }
        total
    }

    /// Threads and tasks waiting on any subscription.
    pub(crate) fn waiting(&self) -> usize {
        let roster = lock(&self.inner.roster);
        roster.all.iter().map(|q| q.notifier.waiting()).sum()
    }
}

impl<S: Slots> Subscribers<S> {
    /// A new subscription that receives every event delivered from now on.
    ///
    /// Errors: `capacity` 0 or above [`MAX_CAPACITY`], or the queues of
    /// this registry would take more than [`MAX_SUBSCRIPTION_BYTES`] →
    /// [`Error::InvalidArgument`]; after [`close_all`](Self::close_all) →
    /// [`Error::Closed`].
    pub(crate) fn subscribe(
        &self,
        capacity: usize,
        policy: Policy,
    ) -> Result<Subscription<S::Item>, Error> {
        if capacity == 0 || capacity > MAX_CAPACITY {
            return Err(Error::InvalidArgument {
                name: "capacity",
                reason: format!("must be between 1 and {MAX_CAPACITY}, got {capacity}"),
            });
        }
        let bytes = queue_len(capacity, policy).saturating_mul(S::slot_bytes());
        let mut roster = lock(&self.inner.roster);
        if roster.closed {
            return Err(Error::Closed);
        }
        let total = roster.bytes.saturating_add(bytes);
        if total > MAX_SUBSCRIPTION_BYTES {
            return Err(Error::InvalidArgument {
                name: "capacity",
                reason: format!(
                    "the buffer's subscriptions would take {total} bytes; the most is \
                     {MAX_SUBSCRIPTION_BYTES} (close or drop some, or ask for less)"
                ),
            });
        }
        let id = roster.next_id;
        roster.next_id += 1;
        let queue = Arc::new(Queue::<S>::new(capacity, policy, id)?);
        roster.bytes = total;
        roster.all.push(Arc::clone(&queue));
        let mut next: Vec<_> = self.inner.live.load().iter().cloned().collect();
        next.push(Arc::clone(&queue));
        let n = next.len();
        let old = self.inner.live.swap(Arc::new(next));
        // ORDERING: Relaxed; see `unlist`.
        self.inner.live_count.store(n, Ordering::Relaxed);
        drop(roster);
        drop(old);
        let registry: Arc<dyn Detach> = self.inner.clone();
        Ok(Subscription::new(queue, Some(Arc::downgrade(&registry))))
    }

    /// Delivers `item` to every open subscription. One producer at a time
    /// (the buffer serialises writers); call it after the snapshot is
    /// visible in the buffer. Never waits for a consumer; allocates nothing
    /// on the plain-data path (after this thread's first `ArcSwap` load).
    /// Wakes nobody and drops nothing: the caller calls
    /// [`Delivered::notify`] once its lock is released.
    #[inline]
    pub(crate) fn deliver(&self, item: &S::Item) -> Delivered<S> {
        let mut delivered = Delivered {
            queues: None,
            displaced: Vec::new(),
        };
        if !self.any() {
            // Nobody subscribed: skip even the list's load.
            return delivered;
        }
        let live = self.inner.live.load();
        for queue in live.iter() {
            if let Some(d) = queue.push(item) {
                delivered.displaced.push(d);
            }
        }
        delivered.queues = Some(live);
        delivered
    }
}

impl<S: Slots> Drop for Subscribers<S> {
    fn drop(&mut self) {
        self.close_all().wake();
    }
}

impl<S: Slots> fmt::Debug for Subscribers<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscribers")
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}
