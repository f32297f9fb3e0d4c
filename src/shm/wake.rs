//! Cross-process wake-ups: a futex on a 32-bit word in the mapping, with a
//! waiter count so that a publish makes no syscall when nobody waits.
//!
//! # Algorithm
//!
//! The mapping holds `seq` (the futex word, `u32`) and `waiters` (`u64`).
//!
//! Notify (the publisher, after making its new version visible):
//! 1. `fence(SeqCst)`; load `waiters`; if 0, return (no syscall);
//! 2. otherwise increment `seq` and `FUTEX_WAKE` every waiter on it.
//!
//! Wait until `ready()` (any process):
//! 1. if `ready()`, return;
//! 2. increment `waiters`; `fence(SeqCst)`;
//! 3. loop: load `seq` as `s`; if `ready()`, stop; `FUTEX_WAIT(seq, s)`
//!    (the kernel sleeps only while `seq == s`, atomically with respect to
//!    `FUTEX_WAKE`); on a timeout, stop;
//! 4. decrement `waiters`.
//!
//! # Memory ordering
//!
//! Notify step 1 against wait step 2 is the store-buffering pattern of the
//! in-process notifier (`notify.rs`): the two `SeqCst` fences are totally
//! ordered, so either the publisher sees the waiter's increment (and bumps
//! `seq` and wakes), or the waiter's `ready()` after its fence sees the new
//! version. In the first case the waiter either loaded `seq` before the
//! bump, and then `FUTEX_WAIT` finds `seq != s` and returns at once or is
//! woken by the `FUTEX_WAKE` that follows the bump; or it loaded the bumped
//! `seq`, which was stored after the version (program order plus the
//! fence), so its `ready()` sees the version. The kernel's compare-and-sleep
//! is what a mutex does in `notify.rs`, so the handshake differs from the
//! in-process one and has its own loom model below (a `Mutex` + `Condvar`
//! stand in for the kernel's futex hash bucket).
//!
//! # Limitations
//!
//! A waiting process killed by a signal leaves `waiters` incremented: each
//! later publish then bumps `seq` and makes one `FUTEX_WAKE` syscall that
//! wakes nobody (a cost, never a lost wake-up). `region.rs` bounds it: each
//! waiter is also counted in its handle's row, and the count of a process
//! found dead is subtracted (when its row is claimed again, and by a
//! publisher every `SWEEP_EVERY` wake-ups), so the useless syscalls stop
//! after at most that many publishes. Left: a waiter whose handle got no
//! row (all 32 taken by live processes) stays counted until the file is
//! recreated; and "dead" is judged by pid and start time in `/proc`, so
//! processes sharing a buffer must share a pid namespace (as the writer
//! lock already assumes).

use crate::sync::{fence, Ordering};
use std::time::{Duration, Instant};

/// The words and the two futex calls the protocol needs.
pub(crate) trait WakeWords {
    /// Adds `delta` (±1) to the waiter count.
    fn add_waiters(&self, delta: i64);
    /// The waiter count.
    fn waiters(&self) -> u64;
    /// The futex word.
    fn seq(&self) -> u32;
    /// Increments the futex word.
    fn bump_seq(&self);
    /// Sleeps while the futex word is `expected` (at most `timeout`).
    fn wait(&self, expected: u32, timeout: Option<Duration>);
    /// Wakes every sleeper.
    fn wake_all(&self);
}

/// Notify steps 1-2; whether it woke (made the syscall).
#[inline]
pub(crate) fn notify(w: &impl WakeWords) -> bool {
    // ORDERING: SeqCst fence; pairs with the waiter's fence (store
    // buffering, module docs).
    fence(Ordering::SeqCst);
    if w.waiters() == 0 {
        return false;
    }
    w.bump_seq();
    w.wake_all();
    true
}

/// Wait steps 1-4: `Some` from `ready`, or `None` after `timeout`.
pub(crate) fn wait_until<R>(
    w: &impl WakeWords,
    mut ready: impl FnMut() -> Option<R>,
    timeout: Option<Duration>,
) -> Option<R> {
    if let Some(r) = ready() {
        return Some(r);
    }
    let deadline = timeout.map(|t| Instant::now().checked_add(t));
    w.add_waiters(1);
    // ORDERING: SeqCst fence; pairs with the one in `notify`.
    fence(Ordering::SeqCst);
    let result = loop {
        let s = w.seq();
        if let Some(r) = ready() {
            break Some(r);
        }
        match deadline {
            None | Some(None) => w.wait(s, None),
            Some(Some(deadline)) => {
                let now = Instant::now();
                if now >= deadline {
                    break None;
                }
                w.wait(s, Some(deadline - now));
            }
        }
    };
    w.add_waiters(-1);
    result
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::sync::{Arc, AtomicU32, AtomicU64, Condvar, Mutex};
    use loom::thread;

    /// The futex modelled: the kernel checks the word and sleeps under its
    /// hash-bucket lock, and a wake takes the same lock. Leaves out
    /// timeouts, signals and spurious wake-ups (which only cause re-checks).
    #[derive(Default)]
    struct Model {
        waiters: AtomicU64,
        seq: AtomicU32,
        bucket: Mutex<()>,
        sleepers: Condvar,
    }

    impl WakeWords for Model {
        fn add_waiters(&self, delta: i64) {
            // ORDERING: as the real words (shm/mod.rs): Relaxed, ordered by
            // the protocol's fences.
            if delta > 0 {
                self.waiters.fetch_add(1, Ordering::Relaxed);
            } else {
                self.waiters.fetch_sub(1, Ordering::Relaxed);
            }
        }
        fn waiters(&self) -> u64 {
            // ORDERING: Relaxed after the SeqCst fence in `notify`.
            self.waiters.load(Ordering::Relaxed)
        }
        fn seq(&self) -> u32 {
            // ORDERING: Acquire; pairs with the Release bump.
            self.seq.load(Ordering::Acquire)
        }
        fn bump_seq(&self) {
            // ORDERING: Release; pairs with `seq`.
            self.seq.fetch_add(1, Ordering::Release);
        }
        fn wait(&self, expected: u32, _timeout: Option<Duration>) {
            let guard = crate::sync::lock(&self.bucket);
            // ORDERING: under the bucket lock, as the kernel reads it.
            if self.seq.load(Ordering::Relaxed) != expected {
                return;
            }
            drop(self.sleepers.wait(guard));
        }
        fn wake_all(&self) {
            let _guard = crate::sync::lock(&self.bucket);
            self.sleepers.notify_all();
        }
    }

    /// A waiter blocked until "version > 0" is always woken by a publish
    /// of version 1 (loom reports a deadlock if a wake-up can be lost),
    /// and the waiter count returns to 0. Checked to fail (deadlock) when
    /// the waiter does not count itself, and when it loads `seq` after its
    /// condition instead of before.
    #[test]
    fn loom_futex_handshake_loses_no_wakeup() {
        let mut builder = loom::model::Builder::new();
        if builder.preemption_bound.is_none() {
            builder.preemption_bound = Some(3);
        }
        builder.check(|| {
            let model = Arc::new(Model::default());
            let version = Arc::new(AtomicU64::new(0));
            let waiter = {
                let (model, version) = (Arc::clone(&model), Arc::clone(&version));
                thread::spawn(move || {
                    wait_until(
                        &*model,
                        || {
                            // ORDERING: Acquire; pairs with the Release store.
                            let v = version.load(Ordering::Acquire);
                            (v > 0).then_some(v)
                        },
                        None,
                    )
                })
            };
            // ORDERING: Release; pairs with the waiter's Acquire load.
            version.store(1, Ordering::Release);
            notify(&*model);
            assert_eq!(waiter.join().unwrap(), Some(1));
            assert_eq!(model.waiters(), 0);
        });
    }
}
