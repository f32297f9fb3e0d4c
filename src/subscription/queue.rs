//! One subscription's queue: the producer side (`push`, called by the
//! buffer's writer) and the consumer side (`try_recv`, under a
//! consumer-only mutex). See the [module docs](super) for the algorithm.

use super::Policy;
use crate::error::Error;
use crate::notify::{Notifier, WaitKey};
use crate::statistics::SubscriptionCounters;
use crate::storage::Slots;
use crate::sync::{lock, AtomicBool, AtomicU64, Mutex, Ordering};
use crossbeam_utils::CachePadded;
use std::borrow::Borrow;
use std::task::Waker;

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
    pub(super) notifier: Notifier,
    consumer: Mutex<ConsumerState>,
    /// The registry's id of this queue (0 for a detached queue).
    pub(super) id: u64,
}

/// The slots a queue of `capacity` under `policy` has (`KeepLatest`: 1).
pub(super) fn queue_len(capacity: usize, policy: Policy) -> usize {
    if policy == Policy::KeepLatest {
        1
    } else {
        capacity.max(1)
    }
}

impl<S: Slots> Queue<S> {
    /// A queue of `capacity` slots (≥ 1; `KeepLatest` forces 1); refused if
    /// its slots would be too large.
    pub(crate) fn new(capacity: usize, policy: Policy, id: u64) -> Result<Self, Error> {
        let capacity = queue_len(capacity, policy);
        Ok(Queue {
            producer: CachePadded::new(ProducerSide {
                head: AtomicU64::new(0),
                first_version: AtomicU64::new(0),
                dropped_newest: AtomicU64::new(0),
            }),
            tail: CachePadded::new(AtomicU64::new(0)),
            closed: AtomicBool::new(false),
            capacity,
            policy,
            slots: S::with_len(capacity)?,
            notifier: Notifier::new(),
            consumer: Mutex::new(ConsumerState::default()),
            id,
        })
    }

    #[inline]
    fn slot_of(&self, seq: u64) -> usize {
        // `seq >= 1`; the remainder is < capacity ≤ MAX_CAPACITY.
        ((seq - 1) % self.capacity as u64) as usize
    }

    /// Producer side: queues `item` or drops it; never waits, wakes
    /// nobody (the caller calls [`notify`](Self::notify) after its locks).
    /// Returns what the write displaced, for the caller to drop after its
    /// locks. Callers serialise producers.
    #[inline]
    pub(crate) fn push(&self, item: &S::Item) -> Option<S::Displaced> {
        // ORDERING: Relaxed; `closed` only stops filling, and an event racing
        // with a close may go either way (module docs, "Close").
        if self.closed.load(Ordering::Relaxed) {
            return None;
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
                return None;
            }
        }
        let n = head + 1;
        if n == 1 {
            // ORDERING: Relaxed; published by the Release store of `head`
            // below, read after the consumer's Acquire load of `head`.
            p.first_version
                .store(item.borrow().version, Ordering::Relaxed);
        }
        let displaced = self.slots.write(self.slot_of(n), n, item);
        // ORDERING: Release; pairs with the consumer's Acquire loads of
        // `head` (in `try_recv` and `ready`): the slot write is visible.
        p.head.store(n, Ordering::Release);
        Some(displaced)
    }

    /// Consumer side: the next event, `Empty`, or `Closed` once drained.
    pub(crate) fn try_recv(&self) -> Result<S::Item, Error> {
        // Skipped events are dropped after the consumer mutex (declared
        // first, dropped last): an `Arc` event may be the last reference to
        // a state whose drop runs foreign code.
        let mut skipped = Vec::new();
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
            let v = item.borrow().version;
            match st.last {
                Some(last) if v <= last => {
                    st.duplicates += 1;
                    skipped.push(item);
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
    /// Wakes the consumers waiting on this queue. Call with no lock held.
    #[inline]
    pub(crate) fn notify(&self) {
        self.notifier.notify();
    }

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

    /// Ends the queue and wakes its waiters. Call with no lock held.
    pub(crate) fn close(&self) {
        self.mark_closed();
        self.notifier.notify();
    }

    /// Ends the queue without waking anyone (the caller wakes them after
    /// its locks, with [`notify`](Self::notify)).
    pub(crate) fn mark_closed(&self) {
        // ORDERING: Release; pairs with the Acquire loads in `try_recv` and
        // `ready`; `notify`'s SeqCst fence then orders it before the load of
        // `waiting` (no lost wake-up).
        self.closed.store(true, Ordering::Release);
    }

    pub(crate) fn is_closed(&self) -> bool {
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

    /// Bytes of this queue's slots.
    pub(super) fn bytes(&self) -> usize
    where
        S: Slots,
    {
        self.capacity * S::slot_bytes()
    }

    pub(super) fn counters(&self) -> SubscriptionCounters {
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

/// What a [`Subscription`](super::Subscription) needs from its queue,
/// whatever the slots.
pub(super) trait Consumer<E>: Send + Sync {
    fn try_recv(&self) -> Result<E, Error>;
    fn ready(&self) -> bool;
    fn notifier(&self) -> &Notifier;
    /// Registers `waker` under `key` unless the queue is ready; whether it
    /// is ready.
    fn register(&self, waker: &Waker, key: &mut WaitKey) -> bool {
        self.notifier()
            .register(waker, key, || self.ready().then_some(()))
            .is_some()
    }
    fn close(&self);
    fn is_closed(&self) -> bool;
    fn len(&self) -> usize;
    fn capacity(&self) -> usize;
    fn policy(&self) -> Policy;
    fn counters(&self) -> SubscriptionCounters;
    fn id(&self) -> u64;
}

impl<S: Slots> Consumer<S::Item> for Queue<S> {
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
