//! The loom shim: every atomic, lock and condition variable in the crate is
//! imported from here, so that `RUSTFLAGS="--cfg loom"` swaps in loom's
//! model-checked versions. `make lint` (scripts/check_sync_shim.sh) refuses
//! std atomics and locks anywhere else in `src/`.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{
    fence, AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering,
};
#[cfg(loom)]
pub(crate) use loom::sync::{Arc, Condvar, Mutex, MutexGuard};

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// Locks a mutex, recovering the guard if a panicking thread poisoned it:
/// every critical section in this crate leaves its data consistent at each
/// step, so poisoning carries no information here.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Called in a retry loop: a CPU hint normally; under loom a yield, so that
/// the model schedules the thread the loop waits for.
#[inline]
pub(crate) fn spin_hint() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    std::hint::spin_loop();
}
