//! Subscriptions: a bounded queue per subscriber, filled by the buffer's
//! writer without ever waiting for the consumer.
//!
//! A buffer owns one [`Subscribers`] registry; each [`Subscription`] handle
//! owns one queue of `capacity` preallocated stamped slots (a
//! [`SlotStore`]: plain-data snapshots are copied through atomic words, so
//! delivering allocates nothing). What happens when a queue is full is the
//! subscription's [`Policy`].
//!
//! # Algorithm
//!
//! Each queue has a producer sequence `head` (events written into it) and a
//! consumer cursor `tail` (events consumed or skipped). Event number `n`
//! (1-based) lives in slot `(n - 1) mod capacity`, stamped with `n`.
//!
//! Producer (`Subscribers::deliver`, one writer at a time, serialised by the
//! buffer):
//! 1. load the list of live queues from an `ArcSwap` (no lock);
//! 2. for each open queue, with `n = head + 1`:
//!    - drop-newest only: load `tail`; if `n - 1 - tail == capacity` the
//!      queue is full: count the event as dropped and go to the next queue;
//!    - write the event into slot `(n - 1) mod capacity` with stamp `n`;
//!    - store `head = n`;
//!    - [`Notifier::notify`]: a fence and a load when nobody waits.
//!
//!    Drop-oldest never reads `tail`: it simply overwrites the oldest slot.
//!
//! Consumer (`try_recv`, under a consumer-only mutex):
//! 1. load `head`; if `head == tail` the queue is empty (or closed);
//! 2. if `head - tail > capacity`, events `tail + 1 ..= head - capacity`
//!    were overwritten: jump `tail` to `head - capacity` and count them as
//!    dropped;
//! 3. read slot `tail mod capacity` expecting stamp `tail + 1`, then store
//!    `tail + 1`. If the stamp did not match, the producer has overwritten
//!    (or is overwriting) that event since step 1: count it as dropped and
//!    go back to step 1. So every event number is accounted exactly once:
//!    delivered, duplicate or dropped;
//! 4. compare the event's version with the last one handed out: not newer →
//!    a duplicate, counted and skipped (back to step 1); newer but not
//!    `last + 1` → a gap, counted; then hand it out.
//!
//! Waiting consumers use the queue's [`Notifier`]: blocking `recv` sleeps in
//! [`Notifier::wait_while`], `poll_recv` registers its `Waker`; both wait
//! for `head != tail || closed`.
//!
//! # Memory ordering
//!
//! - The producer's `head.store(n, Release)` pairs with the consumer's
//!   `head.load(Acquire)`: a consumer that sees `head >= n` sees the slot
//!   write of `n` completed (the slot's own stamp protocol, see
//!   `crate::slot`, then rejects any later overwrite it may race with).
//! - Drop-newest: the consumer's `tail.store(Release)` comes after its slot
//!   read; the producer's `tail.load(Acquire)` pairs with it, so the producer
//!   overwrites a slot only after the consumer has finished reading it.
//! - Wake-up: the producer's `head` store (or `close`'s `closed` store) is
//!   followed by `notify`'s `SeqCst` fence; a waiter's check of
//!   `head`/`closed` follows the `SeqCst` fence in `wait_while`/`register`
//!   (the store-buffering argument of `crate::notify`): no lost wake-up.
//! - The registry's live list is an `ArcSwap`: subscribe and unsubscribe
//!   (rare) copy the vector and swap it in under the registry's mutex; the
//!   producer only loads it.
//!
//! # Decisions
//!
//! - **Close:** after [`Subscription::close`], a buffer's close or reset
//!   ([`Subscribers::close_all`]) or the buffer's drop, the producer stops
//!   filling the queue; events already queued can still be drained, then
//!   every receive returns [`Error::Closed`] (the `Stream` ends, the
//!   iterator ends). An event delivered concurrently with the close may or
//!   may not be queued.
//! - **Duplicates:** an event whose version is not greater than the last one
//!   handed to this subscription (possible only if a producer delivers
//!   versions out of order, e.g. a buffer reset that did not close its
//!   subscriptions) is skipped and counted in `duplicates`; it is neither
//!   delivered nor a gap.
//! - **Gaps:** counted once per discontinuity (not per missing version). The
//!   first event is compared with the first event delivered into the queue,
//!   so a subscription whose first events were dropped counts a gap.
//! - **Counters:** `dropped` includes events already overwritten that the
//!   consumer has not yet noticed (`head - tail - capacity`), so the count
//!   is exact at any moment. Events still queued when a subscription is
//!   dropped are not counted as dropped. A subscription's counters are
//!   folded into the registry's totals when its handle is dropped.
//!
//! # Limitations
//!
//! - When a consumer is *waiting*, `notify` takes the notifier's mutex, which
//!   a waiter holds only to check two atomics before it sleeps; the producer
//!   never takes the consumer's own mutex.
//! - `ArcSwap::load` allocates a debt node on a thread's first use. If an
//!   unsubscribe races with a delivery, the producer may drop the last
//!   reference of the old list (a deallocation, never an allocation).
//! - The loom model covers one queue (producer, blocked consumer, wake-up);
//!   the registry's `ArcSwap` is not modelled by loom.

use crate::error::Error;
use crate::notify::Notifier;
use crate::slot::SlotStore;
use crate::snapshot::Snapshot;
use crate::stats::SubscriptionCounters;
use crate::sync::{lock, AtomicBool, AtomicU64, AtomicUsize, Mutex, Ordering};
use arc_swap::ArcSwap;
use crossbeam_utils::CachePadded;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// The most slots one subscription may ask for.
pub const MAX_CAPACITY: usize = 1 << 20;

/// What happens when a subscriber's queue is full.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Policy {
    /// The new event overwrites the oldest queued one (counted as dropped
    /// when the consumer notices). The default.
    #[default]
    DropOldest,
    /// The new event is dropped (and counted) by the writer.
    DropNewest,
    /// Only the newest event is kept: a queue of one, drop-oldest
    /// (conflation). The capacity asked for is ignored.
    KeepLatest,
}

/// Anything a queue can carry: it knows its buffer version.
pub(crate) trait Versioned {
    fn version(&self) -> u64;
}

impl<T> Versioned for Snapshot<T> {
    #[inline]
    fn version(&self) -> u64 {
        self.version
    }
}

impl<T> Versioned for Arc<Snapshot<T>> {
    #[inline]
    fn version(&self) -> u64 {
        self.as_ref().version
    }
}

// ---------------------------------------------------------------------------
// The queue
// ---------------------------------------------------------------------------

/// Written by the producer only.
struct ProducerSide {
    /// Events written into the queue.
    head: AtomicU64,
    /// Version of event 1 (for the consumer's first gap check).
    first_version: AtomicU64,
    /// Events refused because the queue was full (drop-newest).
    dropped_newest: AtomicU64,
}

/// Consumer-only state, under the consumer mutex.
#[derive(Default)]
struct ConsumerState {
    /// Last version handed out.
    last: Option<u64>,
    delivered: u64,
    /// Events skipped because they were overwritten (drop-oldest).
    dropped: u64,
    gaps: u64,
    duplicates: u64,
}

/// One subscription's queue.
pub(crate) struct Queue<S> {
    producer: CachePadded<ProducerSide>,
    /// Events consumed or skipped; stored by the consumer under `consumer`.
    tail: CachePadded<AtomicU64>,
    closed: AtomicBool,
    capacity: usize,
    policy: Policy,
    slots: S,
    notifier: Notifier,
    consumer: Mutex<ConsumerState>,
    /// The registry's id of this queue (0 for a detached queue).
    id: u64,
}

impl<S: SlotStore> Queue<S>
where
    S::Item: Versioned,
{
    /// A queue of `capacity` slots (≥ 1; `KeepLatest` forces 1).
    pub(crate) fn new(capacity: usize, policy: Policy, id: u64) -> Self {
        let capacity = if policy == Policy::KeepLatest {
            1
        } else {
            capacity.max(1)
        };
        Queue {
            producer: CachePadded::new(ProducerSide {
                head: AtomicU64::new(0),
                first_version: AtomicU64::new(0),
                dropped_newest: AtomicU64::new(0),
            }),
            tail: CachePadded::new(AtomicU64::new(0)),
            closed: AtomicBool::new(false),
            capacity,
            policy,
            slots: S::with_len(capacity),
            notifier: Notifier::new(),
            consumer: Mutex::new(ConsumerState::default()),
            id,
        }
    }

    #[inline]
    fn slot_of(&self, seq: u64) -> usize {
        // `seq >= 1`; the remainder is < capacity ≤ MAX_CAPACITY.
        ((seq - 1) % self.capacity as u64) as usize
    }

    /// Producer side: queues `item` or drops it; never waits. Callers
    /// serialise producers.
    #[inline]
    pub(crate) fn push(&self, item: &S::Item) {
        // ORDERING: Relaxed; `closed` only stops filling, and an event racing
        // with a close may go either way (module docs, "Close").
        if self.closed.load(Ordering::Relaxed) {
            return;
        }
        let p = &*self.producer;
        // ORDERING: Relaxed; only the producer stores `head`, and successive
        // producers are ordered by the buffer's writer serialisation.
        let head = p.head.load(Ordering::Relaxed);
        if self.policy == Policy::DropNewest {
            // ORDERING: Acquire; pairs with the consumer's Release store of
            // `tail` after its slot read: the slot we may overwrite next has
            // been read completely.
            let tail = self.tail.load(Ordering::Acquire);
            if head.saturating_sub(tail) >= self.capacity as u64 {
                // ORDERING: Relaxed; a statistic written by the producer only
                // (load + store, no read-modify-write needed).
                let d = p.dropped_newest.load(Ordering::Relaxed);
                p.dropped_newest.store(d + 1, Ordering::Relaxed);
                return;
            }
        }
        let n = head + 1;
        if n == 1 {
            // ORDERING: Relaxed; published by the Release store of `head`
            // below, read after the consumer's Acquire load of `head`.
            p.first_version.store(item.version(), Ordering::Relaxed);
        }
        self.slots.write(self.slot_of(n), n, item);
        // ORDERING: Release; pairs with the consumer's Acquire loads of
        // `head` (in `try_recv` and `ready`): the slot write is visible.
        p.head.store(n, Ordering::Release);
        self.notifier.notify();
    }

    /// Consumer side: the next event, `Empty`, or `Closed` once drained.
    pub(crate) fn try_recv(&self) -> Result<S::Item, Error> {
        let mut st = lock(&self.consumer);
        let cap = self.capacity as u64;
        loop {
            // ORDERING: Relaxed; only this consumer (under the mutex) stores
            // `tail`.
            let mut tail = self.tail.load(Ordering::Relaxed);
            // ORDERING: Acquire; pairs with `close`'s Release store. Loaded
            // before `head` so that events queued before the close are
            // drained first.
            let closed = self.closed.load(Ordering::Acquire);
            // ORDERING: Acquire; pairs with the Release store in `push`.
            let head = self.producer.head.load(Ordering::Acquire);
            if head <= tail {
                return Err(if closed { Error::Closed } else { Error::Empty });
            }
            if head - tail > cap {
                st.dropped += head - cap - tail;
                tail = head - cap;
            }
            let seq = tail + 1;
            let item = self.slots.read(self.slot_of(seq), seq);
            // ORDERING: Release; pairs with the producer's Acquire load of
            // `tail` (drop-newest): our slot read above happens before the
            // producer overwrites that slot.
            self.tail.store(seq, Ordering::Release);
            let Some(item) = item else {
                // Overwritten since we loaded `head` (drop-oldest lapped us).
                st.dropped += 1;
                continue;
            };
            let v = item.version();
            match st.last {
                Some(last) if v <= last => {
                    st.duplicates += 1;
                    continue;
                }
                Some(last) if v != last + 1 => st.gaps += 1,
                None => {
                    // ORDERING: Relaxed; ordered by the Acquire load of
                    // `head` (≥ 1) above, see `push`.
                    if v != self.producer.first_version.load(Ordering::Relaxed) {
                        st.gaps += 1;
                    }
                }
                Some(_) => {}
            }
            st.last = Some(v);
            st.delivered += 1;
            return Ok(item);
        }
    }
}

impl<S> Queue<S> {
    /// Whether a receive would return now (an event, or closed).
    fn ready(&self) -> bool {
        // ORDERING: Acquire, after the waiter's SeqCst fence in the
        // notifier; pairs with `push`'s Release store and `close`.
        let head = self.producer.head.load(Ordering::Acquire);
        // ORDERING: Relaxed; a hint, `try_recv` decides under the mutex.
        let tail = self.tail.load(Ordering::Relaxed);
        // ORDERING: Acquire; pairs with `close`'s Release store.
        head > tail || self.closed.load(Ordering::Acquire)
    }

    /// Ends the queue and wakes its waiters.
    pub(crate) fn close(&self) {
        // ORDERING: Release; pairs with the Acquire loads in `try_recv` and
        // `ready`; `notify`'s SeqCst fence then orders it before the load of
        // `waiting` (no lost wake-up).
        self.closed.store(true, Ordering::Release);
        self.notifier.notify();
    }

    fn is_closed(&self) -> bool {
        // ORDERING: Acquire; pairs with `close`.
        self.closed.load(Ordering::Acquire)
    }

    fn len(&self) -> usize {
        // ORDERING: Relaxed; a snapshot for statistics.
        let head = self.producer.head.load(Ordering::Relaxed);
        // ORDERING: Relaxed; as above.
        let tail = self.tail.load(Ordering::Relaxed);
        head.saturating_sub(tail).min(self.capacity as u64) as usize
    }

    fn counters(&self) -> SubscriptionCounters {
        let st = lock(&self.consumer);
        // ORDERING: Relaxed; `tail` is stable under the mutex, and a later
        // `head` only makes the pending-overflow count more recent.
        let tail = self.tail.load(Ordering::Relaxed);
        // ORDERING: Relaxed; as above.
        let head = self.producer.head.load(Ordering::Relaxed);
        // ORDERING: Relaxed; a statistic.
        let refused = self.producer.dropped_newest.load(Ordering::Relaxed);
        let pending_overflow = head
            .saturating_sub(tail)
            .saturating_sub(self.capacity as u64);
        SubscriptionCounters {
            delivered: st.delivered,
            dropped: st.dropped + refused + pending_overflow,
            gaps: st.gaps,
            duplicates: st.duplicates,
        }
    }
}

/// What a [`Subscription`] needs from its queue, whatever the slot store.
trait Consumer<E>: Send + Sync {
    fn try_recv(&self) -> Result<E, Error>;
    fn ready(&self) -> bool;
    fn notifier(&self) -> &Notifier;
    fn close(&self);
    fn is_closed(&self) -> bool;
    fn len(&self) -> usize;
    fn capacity(&self) -> usize;
    fn policy(&self) -> Policy;
    fn counters(&self) -> SubscriptionCounters;
    fn id(&self) -> u64;
}

impl<S: SlotStore> Consumer<S::Item> for Queue<S>
where
    S::Item: Versioned,
{
    fn try_recv(&self) -> Result<S::Item, Error> {
        Queue::try_recv(self)
    }
    fn ready(&self) -> bool {
        Queue::ready(self)
    }
    fn notifier(&self) -> &Notifier {
        &self.notifier
    }
    fn close(&self) {
        Queue::close(self)
    }
    fn is_closed(&self) -> bool {
        Queue::is_closed(self)
    }
    fn len(&self) -> usize {
        Queue::len(self)
    }
    fn capacity(&self) -> usize {
        self.capacity
    }
    fn policy(&self) -> Policy {
        self.policy
    }
    fn counters(&self) -> SubscriptionCounters {
        Queue::counters(self)
    }
    fn id(&self) -> u64 {
        self.id
    }
}

// ---------------------------------------------------------------------------
// The registry
// ---------------------------------------------------------------------------

/// Registry state changed only by subscribe/unsubscribe/close (never by the
/// producer).
struct Control<S> {
    /// Every queue whose handle is alive (open or closed).
    all: Vec<Arc<Queue<S>>>,
    /// Counters of dropped handles.
    ended: SubscriptionCounters,
    closed: bool,
    next_id: u64,
}

struct Registry<S> {
    /// Open queues; what the producer delivers to.
    live: ArcSwap<Vec<Arc<Queue<S>>>>,
    /// `live.len()`, for the writer's fast path.
    live_count: AtomicUsize,
    control: Mutex<Control<S>>,
}

/// How a handle leaves its registry without knowing its slot store.
trait Detach: Send + Sync {
    /// Stops delivering to queue `id` (it stays counted).
    fn detach(&self, id: u64);
    /// Forgets queue `id`, folding its counters into the totals.
    fn remove(&self, id: u64);
}

impl<S> Registry<S> {
    /// Swaps in `live` without queue `id`. Call under `control`.
    fn unlist(&self, id: u64) {
        let current = self.live.load();
        if current.iter().any(|q| q.id == id) {
            let next: Vec<_> = current.iter().filter(|q| q.id != id).cloned().collect();
            let n = next.len();
            self.live.store(Arc::new(next));
            // ORDERING: Relaxed; a hint for the writer's fast path, written
            // under `control`.
            self.live_count.store(n, Ordering::Relaxed);
        }
    }
}

impl<S: SlotStore> Detach for Registry<S> {
    fn detach(&self, id: u64) {
        let _control = lock(&self.control);
        self.unlist(id);
    }

    fn remove(&self, id: u64) {
        let mut control = lock(&self.control);
        self.unlist(id);
        if let Some(i) = control.all.iter().position(|q| q.id == id) {
            let q = control.all.swap_remove(i);
            control.ended += q.counters();
        }
    }
}

/// A buffer's subscriptions. `S` is `PodSlots<T>` or `ArcSlots<T>`.
pub(crate) struct Subscribers<S> {
    inner: Arc<Registry<S>>,
}

impl<S> Default for Subscribers<S> {
    fn default() -> Self {
        Self::new()
    }
}

#[allow(dead_code)]
impl<S> Subscribers<S> {
    /// An open registry with no subscriptions.
    pub(crate) fn new() -> Self {
        Subscribers {
            inner: Arc::new(Registry {
                live: ArcSwap::from_pointee(Vec::new()),
                live_count: AtomicUsize::new(0),
                control: Mutex::new(Control {
                    all: Vec::new(),
                    ended: SubscriptionCounters::default(),
                    closed: false,
                    next_id: 1,
                }),
            }),
        }
    }

    /// Ends every subscription (buffer closed or reset): consumers drain
    /// what is queued, then get [`Error::Closed`]. Later `subscribe` calls
    /// fail with `Closed` until [`reopen`](Self::reopen).
    pub(crate) fn close_all(&self) {
        let mut control = lock(&self.inner.control);
        control.closed = true;
        let live = self.inner.live.swap(Arc::new(Vec::new()));
        // ORDERING: Relaxed; see `unlist`.
        self.inner.live_count.store(0, Ordering::Relaxed);
        drop(control);
        for queue in live.iter() {
            queue.close();
        }
    }

    /// Accepts subscriptions again after [`close_all`](Self::close_all).
    pub(crate) fn reopen(&self) {
        lock(&self.inner.control).closed = false;
    }

    /// Forgets the counters of ended subscriptions and of closed handles
    /// still alive (for a buffer's statistics reset).
    pub(crate) fn reset_counters(&self) {
        let mut control = lock(&self.inner.control);
        control.ended = SubscriptionCounters::default();
        control.all.retain(|q| !q.is_closed());
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
        let control = lock(&self.inner.control);
        let mut total = control.ended;
        for queue in &control.all {
            total += queue.counters();
        }
        total
    }

    /// Threads and tasks waiting on any subscription.
    pub(crate) fn waiting(&self) -> usize {
        let control = lock(&self.inner.control);
        control.all.iter().map(|q| q.notifier.waiting()).sum()
    }
}

impl<S: SlotStore> Subscribers<S>
where
    S::Item: Versioned,
{
    /// A new subscription that receives every event delivered from now on.
    ///
    /// Errors: `capacity` 0 or above [`MAX_CAPACITY`] →
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
        let mut control = lock(&self.inner.control);
        if control.closed {
            return Err(Error::Closed);
        }
        let id = control.next_id;
        control.next_id += 1;
        let queue = Arc::new(Queue::<S>::new(capacity, policy, id));
        control.all.push(Arc::clone(&queue));
        let mut next: Vec<_> = self.inner.live.load().iter().cloned().collect();
        next.push(Arc::clone(&queue));
        let n = next.len();
        self.inner.live.store(Arc::new(next));
        // ORDERING: Relaxed; see `unlist`.
        self.inner.live_count.store(n, Ordering::Relaxed);
        drop(control);
        let registry: Arc<dyn Detach> = self.inner.clone();
        Ok(Subscription {
            queue,
            registry: Some(Arc::downgrade(&registry)),
        })
    }

    /// Delivers `item` to every open subscription. One producer at a time
    /// (the buffer serialises writers); call it after the snapshot is
    /// visible in the buffer. Never waits for a consumer; allocates nothing
    /// on the plain-data path (after this thread's first `ArcSwap` load).
    #[inline]
    pub(crate) fn deliver(&self, item: &S::Item) {
        if !self.any() {
            // Nobody subscribed: skip even the list's load.
            return;
        }
        let live = self.inner.live.load();
        for queue in live.iter() {
            queue.push(item);
        }
    }
}

impl<S> Drop for Subscribers<S> {
    fn drop(&mut self) {
        self.close_all();
    }
}

impl<S> fmt::Debug for Subscribers<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscribers")
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

// ---------------------------------------------------------------------------
// The consumer's handle
// ---------------------------------------------------------------------------

/// A consumer's handle on a buffer's events: a bounded queue with an
/// overflow [`Policy`].
///
/// `E` is `Snapshot<T>` for a [`SlotRing`](crate::SlotRing) and
/// `Arc<Snapshot<T>>` for a [`StateBuffer`](crate::StateBuffer). The writer
/// never waits for it: when the queue is full, events are dropped per the
/// policy and counted ([`counters`](Self::counters)).
///
/// The handle is `Send + Sync`: several threads or tasks may receive from
/// it (each event goes to one of them). Receive blocking
/// ([`recv`](Self::recv), [`iter`](Self::iter)), with a timeout, without
/// waiting ([`try_recv`](Self::try_recv)), or asynchronously
/// ([`recv_async`](Self::recv_async), the [`Stream`](futures_core::Stream)
/// impl, [`poll_recv`](Self::poll_recv)), on any runtime.
///
/// After the subscription is closed (by [`close`](Self::close), by the
/// buffer's close or reset, or by the buffer's drop), events already queued
/// can still be received; then every receive returns [`Error::Closed`].
/// Dropping the handle ends the subscription.
pub struct Subscription<E> {
    queue: Arc<dyn Consumer<E>>,
    registry: Option<Weak<dyn Detach>>,
}

impl<E> Subscription<E> {
    /// The next queued event without waiting: [`Error::Empty`] if none,
    /// [`Error::Closed`] if closed and drained.
    pub fn try_recv(&self) -> Result<E, Error> {
        self.queue.try_recv()
    }

    /// The next event, blocking the thread (no spinning) until one arrives;
    /// [`Error::Closed`] once closed and drained.
    pub fn recv(&self) -> Result<E, Error> {
        loop {
            match self.queue.try_recv() {
                Err(Error::Empty) => {}
                other => return other,
            }
            let queue = &self.queue;
            let _ = queue
                .notifier()
                .wait_while(|| queue.ready().then_some(()), None);
        }
    }

    /// Like [`recv`](Self::recv), giving up after `timeout` with
    /// [`Error::Timeout`].
    pub fn recv_timeout(&self, timeout: Duration) -> Result<E, Error> {
        let deadline = Instant::now().checked_add(timeout);
        loop {
            match self.queue.try_recv() {
                Err(Error::Empty) => {}
                other => return other,
            }
            let remaining = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => Duration::MAX,
            };
            if remaining.is_zero() {
                return Err(Error::Timeout(timeout));
            }
            let queue = &self.queue;
            let woken = queue
                .notifier()
                .wait_while(|| queue.ready().then_some(()), deadline.map(|_| remaining));
            if woken.is_none() {
                // Timed out: one last look, so an event that raced with the
                // deadline is not reported as a timeout.
                return match self.queue.try_recv() {
                    Err(Error::Empty) => Err(Error::Timeout(timeout)),
                    other => other,
                };
            }
        }
    }

    /// A future of the next event, for any async runtime. Dropping it
    /// before it completes (cancellation) loses no event: an event is taken
    /// from the queue only when the future returns it.
    pub fn recv_async(&self) -> Recv<'_, E> {
        Recv { subscription: self }
    }

    /// Polls for the next event, registering `cx`'s waker when there is
    /// none (for binding layers with their own wakers). `Ready(Err(Closed))`
    /// once closed and drained.
    pub fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Result<E, Error>> {
        loop {
            match self.queue.try_recv() {
                Err(Error::Empty) => {}
                other => return Poll::Ready(other),
            }
            let queue = &self.queue;
            if queue
                .notifier()
                .register(cx.waker(), || queue.ready().then_some(()))
                .is_none()
            {
                return Poll::Pending;
            }
            // Something arrived while registering: take it (or, if another
            // consumer took it first, register again).
        }
    }

    /// A blocking iterator over events; it ends when the subscription is
    /// closed and drained.
    pub fn iter(&self) -> Iter<'_, E> {
        Iter { subscription: self }
    }

    /// Events queued now (at most [`capacity`](Self::capacity)).
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether no event is queued now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The queue's capacity (1 for [`Policy::KeepLatest`]).
    pub fn capacity(&self) -> usize {
        self.queue.capacity()
    }

    /// Whether the queue is full now.
    pub fn is_full(&self) -> bool {
        self.len() >= self.capacity()
    }

    /// The overflow policy.
    pub fn policy(&self) -> Policy {
        self.queue.policy()
    }

    /// This subscription's counters: events delivered to the consumer,
    /// dropped (including events already overwritten but not yet noticed),
    /// version gaps seen, duplicates skipped.
    pub fn counters(&self) -> SubscriptionCounters {
        self.queue.counters()
    }

    /// Ends the subscription: the writer stops filling it, waiting
    /// receivers wake; queued events can still be drained.
    pub fn close(&self) {
        if let Some(registry) = self.registry.as_ref().and_then(Weak::upgrade) {
            registry.detach(self.queue.id());
        }
        self.queue.close();
    }

    /// Whether the subscription has ended (it may still hold events).
    pub fn is_closed(&self) -> bool {
        self.queue.is_closed()
    }
}

impl<E> Drop for Subscription<E> {
    fn drop(&mut self) {
        if let Some(registry) = self.registry.as_ref().and_then(Weak::upgrade) {
            registry.remove(self.queue.id());
        }
        self.queue.close();
    }
}

impl<E> fmt::Debug for Subscription<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("capacity", &self.capacity())
            .field("policy", &self.policy())
            .field("len", &self.len())
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl<E> futures_core::Stream for Subscription<E> {
    type Item = E;

    /// The next event; `None` once closed and drained.
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<E>> {
        self.poll_recv(cx).map(Result::ok)
    }
}

impl<'a, E> IntoIterator for &'a Subscription<E> {
    type Item = E;
    type IntoIter = Iter<'a, E>;

    fn into_iter(self) -> Iter<'a, E> {
        self.iter()
    }
}

/// The future returned by [`Subscription::recv_async`].
#[must_use = "futures do nothing unless awaited"]
pub struct Recv<'a, E> {
    subscription: &'a Subscription<E>,
}

impl<E> Future for Recv<'_, E> {
    type Output = Result<E, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.subscription.poll_recv(cx)
    }
}

impl<E> fmt::Debug for Recv<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recv").finish_non_exhaustive()
    }
}

/// Blocking iterator over a subscription's events ([`Subscription::iter`]);
/// ends when the subscription is closed and drained.
pub struct Iter<'a, E> {
    subscription: &'a Subscription<E>,
}

impl<E> Iterator for Iter<'_, E> {
    type Item = E;

    fn next(&mut self) -> Option<E> {
        self.subscription.recv().ok()
    }
}

impl<E> fmt::Debug for Iter<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Iter").finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::slot::{ArcSlots, PodSlots};
    use crate::source::Source;
    use crate::sync::AtomicUsize as StdAtomicUsize;
    use std::task::{Wake, Waker};
    use std::thread;

    type Pod = PodSlots<[u64; 2]>;

    /// A snapshot whose two state words must agree (torn-copy detector).
    fn snap(version: u64) -> Snapshot<[u64; 2]> {
        Snapshot {
            state: [version, !version],
            version,
            timestamp: version as f64,
            published_at: 0.0,
            published_ns: version,
            source: Source::intern("subscription-test"),
        }
    }

    fn versions(sub: &Subscription<Snapshot<[u64; 2]>>) -> Vec<u64> {
        let mut out = Vec::new();
        while let Ok(e) = sub.try_recv() {
            assert_eq!(e.state, [e.version, !e.version], "torn event");
            out.push(e.version);
        }
        out
    }

    #[derive(Default)]
    struct CountingWaker(StdAtomicUsize);
    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn subscribe_validates_capacity_and_closed_state() {
        let subs = Subscribers::<Pod>::new();
        assert!(matches!(
            subs.subscribe(0, Policy::DropOldest),
            Err(Error::InvalidArgument {
                name: "capacity",
                ..
            })
        ));
        assert!(matches!(
            subs.subscribe(MAX_CAPACITY + 1, Policy::DropOldest),
            Err(Error::InvalidArgument {
                name: "capacity",
                ..
            })
        ));
        assert!(!subs.any());
        let sub = subs.subscribe(3, Policy::DropOldest).unwrap();
        assert!(subs.any());
        assert_eq!(
            (subs.len(), sub.capacity(), sub.policy()),
            (1, 3, Policy::DropOldest)
        );
        subs.close_all();
        assert!(!subs.any());
        assert_eq!(
            subs.subscribe(3, Policy::DropOldest).unwrap_err(),
            Error::Closed
        );
        subs.reopen();
        assert!(subs.subscribe(3, Policy::DropOldest).is_ok());
    }

    #[test]
    fn drop_oldest_keeps_the_newest_and_counts_drops() {
        let subs = Subscribers::<Pod>::new();
        let sub = subs.subscribe(4, Policy::DropOldest).unwrap();
        for v in 1..=100 {
            subs.deliver(&snap(v));
        }
        assert!(sub.is_full());
        assert_eq!(sub.len(), 4);
        // Already-overwritten events count before the consumer notices.
        assert_eq!(sub.counters().dropped, 96);
        assert_eq!(versions(&sub), vec![97, 98, 99, 100]);
        assert_eq!(
            sub.counters(),
            SubscriptionCounters {
                delivered: 4,
                dropped: 96,
                gaps: 1,
                duplicates: 0
            }
        );
        assert_eq!(sub.try_recv().unwrap_err(), Error::Empty);
        assert!(sub.is_empty());
    }

    #[test]
    fn drop_newest_keeps_the_oldest_and_counts_drops() {
        let subs = Subscribers::<Pod>::new();
        let sub = subs.subscribe(4, Policy::DropNewest).unwrap();
        for v in 1..=100 {
            subs.deliver(&snap(v));
        }
        assert_eq!(sub.counters().dropped, 96);
        assert_eq!(versions(&sub), vec![1, 2, 3, 4]);
        assert_eq!(sub.counters().gaps, 0);
        subs.deliver(&snap(101));
        assert_eq!(versions(&sub), vec![101]);
        assert_eq!(
            sub.counters(),
            SubscriptionCounters {
                delivered: 5,
                dropped: 96,
                gaps: 1,
                duplicates: 0
            }
        );
    }

    #[test]
    fn keep_latest_conflates_to_one() {
        let subs = Subscribers::<Pod>::new();
        let sub = subs.subscribe(10, Policy::KeepLatest).unwrap();
        assert_eq!(sub.capacity(), 1);
        for v in 1..=5 {
            subs.deliver(&snap(v));
        }
        assert_eq!(versions(&sub), vec![5]);
        subs.deliver(&snap(6));
        assert_eq!(versions(&sub), vec![6]);
        assert_eq!(
            sub.counters(),
            SubscriptionCounters {
                delivered: 2,
                dropped: 4,
                gaps: 1,
                duplicates: 0
            }
        );
    }

    #[test]
    fn duplicates_are_skipped_and_counted() {
        let subs = Subscribers::<Pod>::new();
        let sub = subs.subscribe(8, Policy::DropOldest).unwrap();
        for v in [1, 2, 2, 1, 3, 5] {
            subs.deliver(&snap(v));
        }
        assert_eq!(versions(&sub), vec![1, 2, 3, 5]);
        assert_eq!(
            sub.counters(),
            SubscriptionCounters {
                delivered: 4,
                dropped: 0,
                gaps: 1,
                duplicates: 2
            }
        );
    }

    #[test]
    fn first_event_after_subscribe_is_not_a_gap() {
        let subs = Subscribers::<Pod>::new();
        let sub = subs.subscribe(2, Policy::DropOldest).unwrap();
        subs.deliver(&snap(41));
        subs.deliver(&snap(42));
        assert_eq!(versions(&sub), vec![41, 42]);
        assert_eq!(sub.counters().gaps, 0);
    }

    #[test]
    fn close_all_drains_then_closes() {
        let subs = Subscribers::<Pod>::new();
        let sub = subs.subscribe(4, Policy::DropOldest).unwrap();
        subs.deliver(&snap(1));
        subs.close_all();
        assert!(sub.is_closed());
        subs.deliver(&snap(2)); // not queued: the queue is closed
        assert_eq!(sub.try_recv().map(|e| e.version), Ok(1));
        assert_eq!(sub.try_recv().unwrap_err(), Error::Closed);
        assert_eq!(sub.recv().unwrap_err(), Error::Closed);
        assert_eq!(sub.iter().count(), 0);
    }

    #[test]
    fn close_detaches_and_drop_folds_counters() {
        let subs = Subscribers::<Pod>::new();
        let a = subs.subscribe(2, Policy::DropOldest).unwrap();
        let b = subs.subscribe(2, Policy::DropNewest).unwrap();
        for v in 1..=5 {
            subs.deliver(&snap(v));
        }
        assert_eq!(subs.len(), 2);
        a.close();
        assert_eq!(subs.len(), 1);
        subs.deliver(&snap(6));
        assert_eq!(versions(&a), vec![4, 5]);
        assert_eq!(a.try_recv().unwrap_err(), Error::Closed);
        // a: 2 delivered, 3 dropped, 1 gap; b: 0 delivered, 4 dropped.
        let expect = SubscriptionCounters {
            delivered: 2,
            dropped: 7,
            gaps: 1,
            duplicates: 0,
        };
        assert_eq!(subs.counters(), expect);
        drop(a);
        drop(b);
        assert_eq!(subs.len(), 0);
        assert_eq!(subs.counters(), expect, "ended subscriptions stay counted");
        subs.reset_counters();
        assert_eq!(subs.counters(), SubscriptionCounters::default());
    }

    #[test]
    fn dropping_the_registry_closes_subscriptions() {
        let subs = Subscribers::<Pod>::new();
        let sub = subs.subscribe(2, Policy::DropOldest).unwrap();
        drop(subs);
        assert!(sub.is_closed());
        assert_eq!(sub.recv().unwrap_err(), Error::Closed);
        sub.close(); // no registry left: still fine
    }

    #[test]
    fn arc_events_are_shared_not_copied() {
        let subs = Subscribers::<ArcSlots<String>>::new();
        let sub = subs.subscribe(2, Policy::DropOldest).unwrap();
        let e = Arc::new(Snapshot {
            state: "hello".to_string(),
            version: 1,
            timestamp: 0.0,
            published_at: 0.0,
            published_ns: 0,
            source: Source::UNKNOWN,
        });
        subs.deliver(&e);
        assert!(Arc::ptr_eq(&sub.try_recv().unwrap(), &e));
    }

    #[test]
    fn blocking_recv_is_woken_by_another_thread() {
        let subs = Arc::new(Subscribers::<Pod>::new());
        let sub = subs.subscribe(4, Policy::DropOldest).unwrap();
        let producer = {
            let subs = Arc::clone(&subs);
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(20));
                subs.deliver(&snap(1));
            })
        };
        assert_eq!(
            sub.recv_timeout(Duration::from_secs(10)).map(|e| e.version),
            Ok(1)
        );
        producer.join().unwrap();
    }

    #[test]
    fn recv_timeout_times_out() {
        let subs = Subscribers::<Pod>::new();
        let sub = subs.subscribe(4, Policy::DropOldest).unwrap();
        let t = Duration::from_millis(10);
        let start = Instant::now();
        assert_eq!(sub.recv_timeout(t).unwrap_err(), Error::Timeout(t));
        assert!(start.elapsed() >= t);
        assert_eq!(
            sub.recv_timeout(Duration::ZERO).unwrap_err(),
            Error::Timeout(Duration::ZERO)
        );
    }

    #[test]
    fn close_wakes_a_blocked_receiver() {
        let subs = Subscribers::<Pod>::new();
        let sub = Arc::new(subs.subscribe(4, Policy::DropOldest).unwrap());
        let consumer = {
            let sub = Arc::clone(&sub);
            thread::spawn(move || sub.recv_timeout(Duration::from_secs(10)))
        };
        thread::sleep(Duration::from_millis(20));
        sub.close();
        assert_eq!(consumer.join().unwrap().unwrap_err(), Error::Closed);
    }

    #[test]
    fn poll_recv_registers_and_is_woken() {
        let subs = Subscribers::<Pod>::new();
        let sub = subs.subscribe(4, Policy::DropOldest).unwrap();
        let counter = Arc::new(CountingWaker::default());
        let waker = Waker::from(Arc::clone(&counter));
        let mut cx = Context::from_waker(&waker);
        assert!(sub.poll_recv(&mut cx).is_pending());
        subs.deliver(&snap(1));
        assert_eq!(counter.0.load(Ordering::SeqCst), 1);
        match sub.poll_recv(&mut cx) {
            Poll::Ready(Ok(e)) => assert_eq!(e.version, 1),
            other => panic!("unexpected {other:?}"),
        }
        assert!(sub.poll_recv(&mut cx).is_pending());
        subs.close_all();
        assert_eq!(counter.0.load(Ordering::SeqCst), 2);
        assert!(matches!(
            sub.poll_recv(&mut cx),
            Poll::Ready(Err(Error::Closed))
        ));
    }

    /// Every event number is delivered or dropped exactly once, in order,
    /// never torn, while the producer laps a slow consumer.
    #[test]
    fn concurrent_producer_and_consumer_account_for_every_event() {
        const N: u64 = 200_000;
        for policy in [Policy::DropOldest, Policy::DropNewest, Policy::KeepLatest] {
            let subs = Arc::new(Subscribers::<Pod>::new());
            let sub = subs.subscribe(3, policy).unwrap();
            let producer = {
                let subs = Arc::clone(&subs);
                thread::spawn(move || {
                    for v in 1..=N {
                        subs.deliver(&snap(v));
                    }
                    subs.close_all();
                })
            };
            let mut last = 0;
            let mut received = 0u64;
            for e in &sub {
                assert_eq!(e.state, [e.version, !e.version], "torn event");
                assert!(e.version > last, "out of order");
                last = e.version;
                received += 1;
            }
            producer.join().unwrap();
            let c = sub.counters();
            assert_eq!(c.delivered, received);
            assert_eq!(c.duplicates, 0);
            assert_eq!(c.delivered + c.dropped, N, "{policy:?}: {c:?}");
            if policy != Policy::DropNewest {
                assert_eq!(last, N, "the newest event is never lost");
            }
        }
    }
}

/// Loom models of one queue and its wake-up. Run with
/// `RUSTFLAGS="--cfg loom" cargo test --release --lib subscription::loom_tests`.
#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::slot::PodSlots;
    use crate::source::Source;

    type Q = Queue<PodSlots<[u64; 2]>>;

    fn snap(version: u64) -> Snapshot<[u64; 2]> {
        Snapshot {
            state: [version, !version],
            version,
            timestamp: 0.0,
            published_at: 0.0,
            published_ns: 0,
            source: Source::UNKNOWN,
        }
    }

    fn model(f: impl Fn() + Sync + Send + 'static) {
        let mut builder = loom::model::Builder::new();
        // LOOM_MAX_PREEMPTIONS overrides; 2 keeps both models to seconds
        // (3 takes about a minute on 2 cores).
        if builder.preemption_bound.is_none() {
            builder.preemption_bound = Some(2);
        }
        builder.check(f);
    }

    fn detached(queue: &Arc<Q>) -> Subscription<Snapshot<[u64; 2]>> {
        Subscription {
            queue: Arc::clone(queue) as Arc<dyn Consumer<_>>,
            registry: None,
        }
    }

    /// 3 events into a capacity-2 drop-oldest queue, consumer blocked in
    /// `recv`: it always ends with the newest event (no lost wake-up; a lost
    /// one is a loom deadlock), never sees a torn or out-of-order event, and
    /// every event is delivered or counted dropped.
    #[test]
    fn drop_oldest_no_lost_wakeup_no_torn_event() {
        model(|| {
            let queue = Arc::new(Q::new(2, Policy::DropOldest, 0));
            let producer = {
                let queue = Arc::clone(&queue);
                loom::thread::spawn(move || {
                    for v in 1..=3 {
                        queue.push(&snap(v));
                    }
                })
            };
            let sub = detached(&queue);
            let mut last = 0;
            while last < 3 {
                let e = sub.recv().unwrap();
                assert_eq!(e.state, [e.version, !e.version], "torn event");
                assert!(e.version > last, "out of order");
                last = e.version;
            }
            producer.join().unwrap();
            let c = sub.counters();
            assert_eq!(c.delivered + c.dropped, 3, "{c:?}");
            assert_eq!(c.duplicates, 0);
        });
    }

    /// Drop-newest into a capacity-1 queue: the producer never overwrites a
    /// slot the consumer is reading; events arrive in order; a close wakes
    /// the blocked consumer after it drained what was queued.
    #[test]
    fn drop_newest_and_close_wake_the_consumer() {
        model(|| {
            let queue = Arc::new(Q::new(1, Policy::DropNewest, 0));
            let producer = {
                let queue = Arc::clone(&queue);
                loom::thread::spawn(move || {
                    queue.push(&snap(1));
                    queue.push(&snap(2));
                    queue.close();
                })
            };
            let sub = detached(&queue);
            let mut last = 0;
            loop {
                match sub.recv() {
                    Ok(e) => {
                        assert_eq!(e.state, [e.version, !e.version], "torn event");
                        assert!(e.version > last, "out of order");
                        last = e.version;
                    }
                    Err(err) => {
                        assert_eq!(err, Error::Closed);
                        break;
                    }
                }
            }
            producer.join().unwrap();
            assert!(last >= 1, "event 1 always fits");
            let c = sub.counters();
            assert_eq!(c.delivered + c.dropped, 2, "{c:?}");
        });
    }
}
