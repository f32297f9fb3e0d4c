//! Wake-ups for blocked threads and async tasks, free for the publisher when
//! nobody waits.
//!
//! # Algorithm
//!
//! 1. A publisher makes its new state visible, releases its own locks, then
//!    calls [`Notifier::notify`]: a `SeqCst` fence and a load of `waiting`.
//!    When it reads 0 it returns at once: no lock, no syscall.
//! 2. A waiter first checks its condition; if unmet it increments `waiting`
//!    (a thread) or stores its `Waker` in a slot of the waker table (a
//!    task), issues a `SeqCst` fence, and checks again (a thread under the
//!    mutex, before it sleeps on the condition variable).
//! 3. A publisher that reads `waiting > 0` takes the mutex, moves every
//!    registered waker out of the table, releases the mutex, then notifies
//!    the condition variable and wakes the wakers: no waker runs under a
//!    lock.
//!
//! A task's registration is a slot of the table, found again through its
//! [`WaitKey`] (an index and the table's generation): registering,
//! re-registering and deregistering are O(1). A future that is dropped
//! deregisters its key; a notify empties the table and starts a new
//! generation, which invalidates every key at once.
//!
//! # Memory ordering
//!
//! Steps 1 and 2 are the store-buffering pattern: publisher `store(state);
//! fence(SeqCst); load(waiting)` against waiter `waiting += 1;
//! fence(SeqCst); load(state)`. The two `SeqCst` fences are totally ordered,
//! so at least one side sees the other's write: either the publisher sees
//! the waiter and wakes it, or the waiter sees the new state and does not
//! sleep. The mutex closes the remaining gap for threads (a waiter that has
//! checked but not yet slept): the publisher takes the mutex after its
//! state store, and a thread checks and starts sleeping under that mutex,
//! so either it checked after the store, or it sleeps before the publisher
//! holds the mutex and is woken by the `notify_all` that follows.

use crate::sync::{fence, lock, AtomicUsize, Condvar, Mutex, Ordering};
use std::task::Waker;
use std::time::{Duration, Instant};

/// Parks threads and tasks until a publisher notifies.
#[derive(Debug, Default)]
pub(crate) struct Notifier {
    /// Blocked threads plus registered wakers.
    waiting: AtomicUsize,
    wakers: Mutex<WakerTable>,
    condvar: Condvar,
}

/// Registered wakers; a free list makes registration O(1).
#[derive(Debug, Default)]
struct WakerTable {
    entries: Vec<Option<Waker>>,
    free: Vec<usize>,
    /// Bumped by each notify (which empties the table): keys of an older
    /// generation point at nothing.
    generation: u64,
    /// An empty vector with capacity, swapped in by notify so that it frees
    /// and allocates nothing.
    spare: Vec<Option<Waker>>,
}

/// Where a task's waker is registered (none at first). Give the same key
/// to every poll of one future, and [`Notifier::deregister`] it when the
/// future is dropped.
#[derive(Debug, Default)]
pub(crate) struct WaitKey {
    slot: Option<(usize, u64)>,
}

/// What a waiter's condition returns: `None` to keep waiting.
pub(crate) type Ready<R> = Option<R>;

impl Notifier {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Wakes every waiter. Costs a fence and a load when nobody waits. Call
    /// it holding no lock: wakers run in it.
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
        let mut table = lock(&self.wakers);
        let spare = std::mem::take(&mut table.spare);
        let mut woken = std::mem::replace(&mut table.entries, spare);
        table.free.clear();
        table.generation += 1;
        let n = woken.iter().filter(|w| w.is_some()).count();
        if n > 0 {
            // ORDERING: under the mutex; the count is only a hint for step 1.
            self.waiting.fetch_sub(n, Ordering::Relaxed);
        }
        drop(table);
        self.condvar.notify_all();
        for waker in woken.drain(..).flatten() {
            waker.wake();
        }
        // Give the (now empty) vector back so the next notify allocates
        // nothing.
        let mut table = lock(&self.wakers);
        if table.spare.capacity() < woken.capacity() {
            table.spare = woken;
        }
    }

    /// Blocks the calling thread until `ready` returns `Some`, or until
    /// `timeout` passes (then `None`). `None` or a timeout too large to
    /// represent waits for ever.
    pub(crate) fn wait_while<R>(
        &self,
        mut ready: impl FnMut() -> Ready<R>,
        timeout: Option<Duration>,
    ) -> Option<R> {
        if let Some(r) = ready() {
            return Some(r);
        }
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
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
                None => match self.condvar.wait(guard) {
                    Ok(g) => g,
                    Err(p) => p.into_inner(),
                },
                Some(deadline) => {
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

    /// Async side: leaves `waker` in the slot of `key` (registering it on
    /// first use) to be woken by the next notify, then re-checks `ready` so
    /// that a publish racing with the registration is not missed. Returns
    /// what `ready` returned. O(1).
    pub(crate) fn register<R>(
        &self,
        waker: &Waker,
        key: &mut WaitKey,
        mut ready: impl FnMut() -> Ready<R>,
    ) -> Ready<R> {
        if let Some(r) = ready() {
            return Some(r);
        }
        // Cloned and dropped outside the mutex: a waker's vtable is foreign
        // code.
        let mut new = Some(waker.clone());
        let mut old = None;
        {
            let mut table = lock(&self.wakers);
            let generation = table.generation;
            match key.slot {
                Some((i, g)) if g == generation && table.entries[i].is_some() => {
                    let same = table.entries[i]
                        .as_ref()
                        .is_some_and(|w| w.will_wake(waker));
                    if !same {
                        old = std::mem::replace(&mut table.entries[i], new.take());
                    }
                }
                _ => {
                    let i = match table.free.pop() {
                        Some(i) => i,
                        None => {
                            table.entries.push(None);
                            table.entries.len() - 1
                        }
                    };
                    table.entries[i] = new.take();
                    key.slot = Some((i, generation));
                    // ORDERING: under the mutex; ordered before the re-check
                    // by the fence below (pairs with `notify`).
                    self.waiting.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        drop(old);
        drop(new);
        fence(Ordering::SeqCst);
        ready()
    }

    /// Removes `key`'s registration, if it still has one. O(1).
    pub(crate) fn deregister(&self, key: &mut WaitKey) {
        let Some((i, g)) = key.slot.take() else {
            return;
        };
        let removed = {
            let mut table = lock(&self.wakers);
            if g != table.generation {
                return;
            }
            let removed = table.entries[i].take();
            if removed.is_some() {
                table.free.push(i);
                // ORDERING: under the mutex; a count.
                self.waiting.fetch_sub(1, Ordering::Relaxed);
            }
            removed
        };
        drop(removed);
    }

    /// Threads and wakers currently waiting (for statistics).
    pub(crate) fn waiting(&self) -> usize {
        // ORDERING: a statistic; no memory hangs on it.
        self.waiting.load(Ordering::Relaxed)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize as StdAtomicUsize; // shim-exempt: a test counter
    use std::sync::Arc;
    use std::task::Wake;

    #[derive(Default)]
    struct Counting(StdAtomicUsize);
    impl Wake for Counting {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst); // shim-exempt: a test counter
        }
    }

    #[test]
    fn dropped_registrations_leave_nothing_behind() {
        let n = Notifier::new();
        let counter = Arc::new(Counting::default());
        let waker = Waker::from(Arc::clone(&counter));
        for _ in 0..20_000 {
            let mut key = WaitKey::default();
            assert_eq!(n.register(&waker, &mut key, || None::<()>), None);
            n.deregister(&mut key);
        }
        assert_eq!(n.waiting(), 0);
        assert!(lock(&n.wakers).entries.len() <= 1, "slots are reused");
        n.notify();
        assert_eq!(counter.0.load(std::sync::atomic::Ordering::SeqCst), 0); // shim-exempt: a test counter
    }

    #[test]
    fn a_key_registers_once_and_a_notify_invalidates_it() {
        let n = Notifier::new();
        let counter = Arc::new(Counting::default());
        let waker = Waker::from(Arc::clone(&counter));
        let mut key = WaitKey::default();
        for _ in 0..3 {
            n.register(&waker, &mut key, || None::<()>);
        }
        assert_eq!(n.waiting(), 1);
        n.notify();
        assert_eq!(n.waiting(), 0);
        assert_eq!(counter.0.load(std::sync::atomic::Ordering::SeqCst), 1); // shim-exempt: a test counter
        n.deregister(&mut key); // stale key: nothing to do
        assert_eq!(n.waiting(), 0);
        n.register(&waker, &mut key, || None::<()>);
        assert_eq!(n.waiting(), 1);
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::sync::{Arc, AtomicBool, AtomicU64};
    use loom::thread;
    use std::task::Wake;

    /// A waiter blocked on "version > 0" is always woken by a publish that
    /// stores version 1 and notifies: loom reports a deadlock if any
    /// interleaving loses the wake-up. Leaves out: timeouts (loom has no
    /// time) and more than one waiter.
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

    struct Flag(AtomicBool);
    impl Wake for Flag {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
        fn wake_by_ref(self: &std::sync::Arc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    /// The async path. Task A registers for "version > 0" while a publisher
    /// stores version 1 and notifies: either its registration's re-check
    /// sees the version, or its waker is woken (a lost wake-up leaves it
    /// spinning for ever, which loom reports). Task B registers for a
    /// condition never met and drops its future (deregisters) at once,
    /// racing with the notify. Afterwards the table is empty and `waiting`
    /// is 0: no waker is leaked. Leaves out: re-registration with another
    /// waker, and timeouts.
    #[test]
    fn loom_notifier_register_deregister() {
        let mut builder = loom::model::Builder::new();
        if builder.preemption_bound.is_none() {
            builder.preemption_bound = Some(2);
        }
        builder.check(|| {
            let version = Arc::new(AtomicU64::new(0));
            let notifier = Arc::new(Notifier::new());
            let a = {
                let (version, notifier) = (Arc::clone(&version), Arc::clone(&notifier));
                thread::spawn(move || {
                    let flag = std::sync::Arc::new(Flag(AtomicBool::new(false)));
                    let waker = Waker::from(std::sync::Arc::clone(&flag));
                    let mut key = WaitKey::default();
                    let seen = notifier.register(&waker, &mut key, || {
                        let v = version.load(Ordering::Acquire);
                        (v > 0).then_some(v)
                    });
                    if seen.is_none() {
                        while !flag.0.load(Ordering::SeqCst) {
                            thread::yield_now();
                        }
                    }
                    notifier.deregister(&mut key);
                })
            };
            let b = {
                let notifier = Arc::clone(&notifier);
                thread::spawn(move || {
                    let flag = std::sync::Arc::new(Flag(AtomicBool::new(false)));
                    let waker = Waker::from(flag);
                    let mut key = WaitKey::default();
                    assert_eq!(notifier.register(&waker, &mut key, || None::<()>), None);
                    notifier.deregister(&mut key);
                })
            };
            version.store(1, Ordering::Release);
            notifier.notify();
            a.join().unwrap();
            b.join().unwrap();
            assert_eq!(notifier.waiting(), 0);
            let table = lock(&notifier.wakers);
            assert!(table.entries.iter().all(Option::is_none));
        });
    }
}
