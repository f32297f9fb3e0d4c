//! Wake-ups for blocked threads and async tasks, free for the publisher when
//! nobody waits.
//!
//! # Algorithm
//!
//! 1. A publisher makes its new state visible, then calls [`Notifier::notify`]:
//!    a `SeqCst` fence and a load of `waiting`. When it reads 0 it returns at
//!    once: no lock, no syscall.
//! 2. A waiter first checks its condition; if unmet it increments `waiting`,
//!    issues a `SeqCst` fence, and checks again under the mutex before it
//!    sleeps on the condition variable (threads) or leaves its `Waker` in the
//!    list (tasks).
//! 3. A publisher that reads `waiting > 0` takes the mutex, wakes every
//!    registered waker and notifies the condition variable.
//!
//! # Memory ordering
//!
//! Steps 1 and 2 are the store-buffering pattern: publisher `store(state);
//! fence(SeqCst); load(waiting)` against waiter `waiting += 1;
//! fence(SeqCst); load(state)`. The two `SeqCst` fences are totally ordered,
//! so at least one side sees the other's write: either the publisher sees
//! the waiter and wakes it, or the waiter sees the new state and does not
//! sleep. The mutex closes the remaining gap (a waiter that has checked but
//! not yet slept): the publisher cannot notify until the waiter is inside
//! `Condvar::wait`, which releases the mutex atomically.
//!
//! # Limitations
//!
//! A task's waker stays registered until the next notify even if the task's
//! future is dropped; that costs one spurious wake, never a lost one.

use crate::sync::{fence, lock, AtomicUsize, Condvar, Mutex, Ordering};
use std::task::Waker;
use std::time::{Duration, Instant};

/// Parks threads and tasks until a publisher notifies.
#[derive(Debug, Default)]
pub(crate) struct Notifier {
    /// Blocked threads plus registered wakers.
    waiting: AtomicUsize,
    wakers: Mutex<Vec<Waker>>,
    condvar: Condvar,
}

/// What a waiter's condition returns: `None` to keep waiting.
pub(crate) type Ready<R> = Option<R>;

impl Notifier {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Wakes every waiter. Costs a fence and a load when nobody waits.
    #[inline]
    pub(crate) fn notify(&self) {
        // ORDERING: pairs with the SeqCst fence in `wait_while`/`register`
        // (store-buffering; see the module docs). The caller's state store
        // precedes this fence in program order.
        fence(Ordering::SeqCst);
        // ORDERING: Relaxed suffices after the fence above.
        if self.waiting.load(Ordering::Relaxed) == 0 {
            return;
        }
        self.notify_slow();
    }

    #[cold]
    fn notify_slow(&self) {
        let mut wakers = lock(&self.wakers);
        let n = wakers.len();
        // Drain in place: the vector keeps its capacity, so the publisher
        // frees nothing.
        for w in wakers.drain(..) {
            w.wake();
        }
        if n > 0 {
            // ORDERING: under the mutex; the count is only a hint for step 1.
            self.waiting.fetch_sub(n, Ordering::Relaxed);
        }
        drop(wakers);
        self.condvar.notify_all();
    }

    /// Blocks the calling thread until `ready` returns `Some`, or until
    /// `timeout` passes (then `None`). `ready` is called with no lock held
    /// by the publisher's side, and again under the notifier's mutex.
    pub(crate) fn wait_while<R>(
        &self,
        mut ready: impl FnMut() -> Ready<R>,
        timeout: Option<Duration>,
    ) -> Option<R> {
        if let Some(r) = ready() {
            return Some(r);
        }
        let deadline = timeout.map(|t| Instant::now().checked_add(t));
        // ORDERING: Relaxed increment, ordered before the next check by
        // the SeqCst fence that follows (pairs with `notify`).
        self.waiting.fetch_add(1, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        let mut guard = lock(&self.wakers);
        let result = loop {
            if let Some(r) = ready() {
                break Some(r);
            }
            guard = match deadline {
                None | Some(None) => match self.condvar.wait(guard) {
                    Ok(g) => g,
                    Err(p) => p.into_inner(),
                },
                Some(Some(deadline)) => {
                    let now = Instant::now();
                    if now >= deadline {
                        break None;
                    }
                    match self.condvar.wait_timeout(guard, deadline - now) {
                        Ok((g, _)) => g,
                        Err(p) => p.into_inner().0,
                    }
                }
            };
        };
        // ORDERING: under the mutex, paired with the increment above.
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        drop(guard);
        result
    }

    /// Async side: leaves `waker` to be woken by the next notify, then
    /// re-checks `ready` so that a publish racing with the registration is
    /// not missed. Returns what `ready` returned.
    pub(crate) fn register<R>(
        &self,
        waker: &Waker,
        mut ready: impl FnMut() -> Ready<R>,
    ) -> Ready<R> {
        if let Some(r) = ready() {
            return Some(r);
        }
        {
            let mut wakers = lock(&self.wakers);
            if !wakers.iter().any(|w| w.will_wake(waker)) {
                wakers.push(waker.clone());
                // ORDERING: under the mutex; ordered before the re-check
                // by the fence below (pairs with `notify`).
                self.waiting.fetch_add(1, Ordering::Relaxed);
            }
        }
        fence(Ordering::SeqCst);
        ready()
    }

    /// Threads and wakers currently waiting (for statistics).
    pub(crate) fn waiting(&self) -> usize {
        // ORDERING: a statistic; no memory hangs on it.
        self.waiting.load(Ordering::Relaxed)
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::sync::{Arc, AtomicU64};
    use loom::thread;

    /// A waiter blocked on "version > 0" is always woken by a publish that
    /// stores version 1 and notifies: loom reports a deadlock if any
    /// interleaving loses the wake-up.
    #[test]
    fn loom_notifier_no_lost_wakeup() {
        let mut builder = loom::model::Builder::new();
        if builder.preemption_bound.is_none() {
            builder.preemption_bound = Some(3);
        }
        builder.check(|| {
            let version = Arc::new(AtomicU64::new(0));
            let notifier = Arc::new(Notifier::new());
            let waiter = {
                let (version, notifier) = (Arc::clone(&version), Arc::clone(&notifier));
                thread::spawn(move || {
                    notifier.wait_while(
                        || {
                            let v = version.load(Ordering::Acquire);
                            (v > 0).then_some(v)
                        },
                        None,
                    )
                })
            };
            version.store(1, Ordering::Release);
            notifier.notify();
            assert_eq!(waiter.join().unwrap(), Some(1));
            assert_eq!(notifier.waiting(), 0);
        });
    }
}
