//! The writer lock: serialises publishers with one uncontended atomic.
//!
//! A publish first tries to flip `busy` from `false` to `true`
//! (`compare_exchange`, `Acquire`): with a single writer this always
//! succeeds and costs one atomic read-modify-write on a line only writers
//! touch. A writer that finds it taken queues on a mutex (so contending
//! writers sleep instead of spinning on each other), and the one at the
//! head of that queue spins, yielding, until the holder, who is inside one
//! publish, releases the flag. Readers never touch either.

use crate::sync::{lock, AtomicBool, Mutex, MutexGuard, Ordering};
use crossbeam_utils::CachePadded;

#[derive(Debug, Default)]
pub(crate) struct WriterLock {
    busy: CachePadded<AtomicBool>,
    queue: Mutex<()>,
}

/// Holds the writer lock until dropped.
pub(crate) struct WriterGuard<'a> {
    lock: &'a WriterLock,
    _queued: Option<MutexGuard<'a, ()>>,
}

impl WriterLock {
    #[inline]
    fn try_flip(&self) -> bool {
        // ORDERING: Acquire on success; pairs with the Release store in
        // `WriterGuard::drop`: the previous writer's stores to the storage
        // happen before this writer's.
        self.busy
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    #[inline]
    pub(crate) fn lock(&self) -> WriterGuard<'_> {
        if self.try_flip() {
            return WriterGuard {
                lock: self,
                _queued: None,
            };
        }
        self.lock_contended()
    }

    #[cold]
    fn lock_contended(&self) -> WriterGuard<'_> {
        let queued = lock(&self.queue);
        let mut spins = 0u32;
        while !self.try_flip() {
            spins += 1;
            if spins < 64 {
                crate::sync::spin_hint();
            } else {
                // The holder may have been preempted inside its publish.
                yield_now();
            }
        }
        WriterGuard {
            lock: self,
            _queued: Some(queued),
        }
    }
}

fn yield_now() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    std::thread::yield_now();
}

impl Drop for WriterGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        // ORDERING: Release; pairs with the Acquire in `try_flip`.
        self.lock.busy.store(false, Ordering::Release);
        // The queue mutex (if held) is released after the flag, so the next
        // queued writer finds it free.
    }
}
