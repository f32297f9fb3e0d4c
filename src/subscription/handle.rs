//! The consumer's handle: [`Subscription`] and its blocking [`Iter`].

use super::future::Recv;
use super::queue::Consumer;
use super::registry::Detach;
use super::Policy;
use crate::error::Error;
use crate::notify::WaitKey;
use crate::statistics::SubscriptionCounters;
use crate::sync::{lock, Mutex};
use std::fmt;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

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
    /// The registration of [`poll_recv`](Self::poll_recv) and the `Stream`
    /// impl (a [`Recv`] future has its own).
    key: Mutex<WaitKey>,
}

impl<E> Subscription<E> {
    pub(super) fn new(queue: Arc<dyn Consumer<E>>, registry: Option<Weak<dyn Detach>>) -> Self {
        Subscription {
            queue,
            registry,
            key: Mutex::new(WaitKey::default()),
        }
    }

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

    /// A future of the next event, for any async runtime.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: an event is taken from the queue only by the poll that
    /// returns it, so dropping the future before it completes loses no
    /// event; the drop also removes its waker registration.
    pub fn recv_async(&self) -> Recv<'_, E> {
        Recv::new(self)
    }

    /// Polls for the next event, registering `cx`'s waker when there is
    /// none (for binding layers with their own wakers). `Ready(Err(Closed))`
    /// once closed and drained.
    ///
    /// The handle keeps one registration for this method (replaced when a
    /// different waker polls; concurrent pollers with different wakers may
    /// each leave one until the next event or the handle's drop).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a `Pending` poll takes nothing from the queue.
    pub fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Result<E, Error>> {
        // Taken out of the mutex so that no waker is cloned or dropped
        // under it.
        let mut key = std::mem::take(&mut *lock(&self.key));
        let poll = self.poll_recv_keyed(cx, &mut key);
        // Another poller's key, if one raced with us, stays registered
        // until the next wake-up (deregistering it could lose its wake-up).
        let _other = std::mem::replace(&mut *lock(&self.key), key);
        poll
    }

    /// [`poll_recv`](Self::poll_recv) with the caller's registration key.
    pub(super) fn poll_recv_keyed(
        &self,
        cx: &mut Context<'_>,
        key: &mut WaitKey,
    ) -> Poll<Result<E, Error>> {
        loop {
            match self.queue.try_recv() {
                Err(Error::Empty) => {}
                other => return Poll::Ready(other),
            }
            if !self.queue.register(cx.waker(), key) {
                return Poll::Pending;
            }
            // Something arrived while registering: take it (or, if another
            // consumer took it first, register again).
        }
    }

    /// Removes a registration made with [`poll_recv_keyed`].
    pub(super) fn deregister(&self, key: &mut WaitKey) {
        self.queue.notifier().deregister(key);
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
        let mut key = std::mem::take(&mut *lock(&self.key));
        self.queue.notifier().deregister(&mut key);
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

impl<'a, E> IntoIterator for &'a Subscription<E> {
    type Item = E;
    type IntoIter = Iter<'a, E>;

    fn into_iter(self) -> Iter<'a, E> {
        self.iter()
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
