//! Subscriptions: a bounded queue per subscriber, filled by the buffer's
//! writer without ever waiting for the consumer.
//!
//! A buffer owns one [`Subscribers`] registry; each [`Subscription`] handle
//! owns one queue of `capacity` preallocated stamped slots (a
//! [`Slots`](crate::storage::Slots): plain-data snapshots are copied through atomic words, so
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
//!    - store `head = n`.
//!
//!    Drop-oldest never reads `tail`: it simply overwrites the oldest slot.
//! 3. after the buffer's writer lock is released: drop what the writes
//!    displaced (old `Arc` events, the loaded list) and, for each queue,
//!    [`Notifier::notify`]: a fence and a load when nobody waits. No waker
//!    and no foreign drop runs under a lock.
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
//!   `crate::storage`, then rejects any later overwrite it may race with).
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
//!   reference of the old list (a deallocation, never an allocation), after
//!   the writer lock.
//! - The loom models cover one queue (producer, blocked consumer, wake-up,
//!   close racing push); the registry's `ArcSwap` is not modelled by loom.
//!
//! # Where things are
//!
//! - `queue.rs`: one subscription's queue (producer and consumer sides);
//! - `registry.rs`: a buffer's [`Subscribers`] (subscribe, deliver, close);
//! - `handle.rs`: the consumer's [`Subscription`] and its blocking
//!   [`Iter`];
//! - `future.rs`: the async side ([`Recv`] and the `Stream` impl).

mod future;
mod handle;
mod queue;
mod registry;
#[cfg(test)]
mod tests;

pub use future::Recv;
pub use handle::{Iter, Subscription};
pub(crate) use registry::{Delivered, Ended, Subscribers};

/// The most slots one subscription may ask for.
pub const MAX_CAPACITY: usize = 1 << 20;

/// The most bytes the queues of one buffer's subscriptions may take
/// together (256 MiB); a subscription that would exceed it is refused.
pub const MAX_SUBSCRIPTION_BYTES: usize = 256 << 20;

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
