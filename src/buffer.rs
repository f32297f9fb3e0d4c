//! [`StateBuffer`]: versioned snapshots of any `T: Send + Sync`, on
//! `arc-swap`.
//!
//! # Algorithm
//!
//! Publish (writers serialised by a writer mutex that readers never touch):
//! 1. inspect the state (validate it, take its own timestamp);
//! 2. version `v` = previous + 1; read the clock once;
//! 3. store `Arc<Snapshot>` into history slot `v mod capacity` (stamped
//!    slots, see `slot.rs`), then into `current` (`ArcSwap`), then store `v`;
//! 4. deliver to subscribers; release the writer mutex; wake waiters.
//!
//! Read: `current.load_full()`: no lock, no syscall, no allocation (arc-swap's
//! debt slots), one reference-count increment.
//!
//! # Memory ordering
//!
//! `version` is stored with `Release` after `current`, and loaded with
//! `Acquire` by waiters, so a waiter that sees `v` then loads a `current` at
//! least as new (arc-swap's own operations are `SeqCst`).

use crate::clock::Clock;
use crate::reader::{Buffer, Reader};
use crate::shared::{ReaderCounters, Shared};
use crate::slot::{ArcSlots, SlotStore};
use crate::snapshot::{inspect_nothing, inspect_state, Inspect, Snapshot, State, Version};
use crate::subscription::{Policy, Subscription};
use crate::sync::{lock, AtomicU64, Mutex, Ordering};
use crate::{Error, PublishError, Source, Statistics};
use arc_swap::ArcSwapOption;
use std::sync::Arc;
use std::time::Duration;

/// A versioned state buffer for any `T: Send + Sync`, with bounded history,
/// staleness checks, waits, statistics and subscriptions. Cloning gives
/// another handle on the same buffer.
///
/// ```
/// use rtstate::{Source, StateBuffer};
/// let buffer = StateBuffer::<String>::new(4)?;
/// let v = buffer.publish("armed".to_string(), Source::intern("fsm")).unwrap();
/// let snap = buffer.latest().unwrap();
/// assert_eq!((v, snap.version, snap.state.as_str()), (1, 1, "armed"));
/// # Ok::<(), rtstate::Error>(())
/// ```
pub struct StateBuffer<T> {
    inner: Arc<Inner<T>>,
}

struct Inner<T> {
    current: ArcSwapOption<Snapshot<T>>,
    version: AtomicU64,
    history: ArcSlots<T>,
    writer: Mutex<()>,
    inspect: Inspect<T>,
    shared: Shared<ArcSlots<T>>,
}

impl<T> Clone for StateBuffer<T> {
    fn clone(&self) -> Self {
        StateBuffer {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T: Send + Sync + 'static> StateBuffer<T> {
    /// A buffer keeping the last `capacity` snapshots (≥ 1). States are not
    /// inspected: snapshots are timestamped with their publish time.
    pub fn new(capacity: usize) -> Result<Self, Error> {
        Self::build(capacity, Clock::System, inspect_nothing::<T>)
    }

    /// Like [`new`](Self::new), for a [`State`] type: each state is validated
    /// before it is published, and its own timestamp is the snapshot's.
    pub fn checked(capacity: usize) -> Result<Self, Error>
    where
        T: State,
    {
        Self::build(capacity, Clock::System, inspect_state::<T>)
    }

    /// [`new`](Self::new) reading time from `clock` (a mock, in tests).
    pub fn with_clock(capacity: usize, clock: Clock) -> Result<Self, Error> {
        Self::build(capacity, clock, inspect_nothing::<T>)
    }

    /// [`checked`](Self::checked) reading time from `clock`.
    pub fn checked_with_clock(capacity: usize, clock: Clock) -> Result<Self, Error>
    where
        T: State,
    {
        Self::build(capacity, clock, inspect_state::<T>)
    }

    fn build(capacity: usize, clock: Clock, inspect: Inspect<T>) -> Result<Self, Error> {
        Ok(StateBuffer {
            inner: Arc::new(Inner {
                current: ArcSwapOption::empty(),
                version: AtomicU64::new(0),
                history: ArcSlots::with_len(capacity),
                writer: Mutex::new(()),
                inspect,
                shared: Shared::new(capacity, clock)?,
            }),
        })
    }

    /// Publishes `state`; returns its version. A refused state comes back in
    /// the error (invalid, or the buffer is closed).
    pub fn publish(&self, state: T, source: Source) -> Result<Version, PublishError<T>> {
        let inner = &*self.inner;
        let timestamp = match (inner.inspect)(&state) {
            Ok(t) => t,
            Err(error) => return Err(PublishError { error, state }),
        };
        if inner.shared.is_closed() {
            return Err(PublishError {
                error: Error::Closed,
                state,
            });
        }
        let guard = lock(&inner.writer);
        // ORDERING: only writers store `version`, and they hold the mutex.
        let version = inner.version.load(Ordering::Relaxed) + 1;
        let now_ns = inner.shared.clock.now_ns();
        let published_at = inner.shared.clock.wall_at(now_ns);
        let snapshot = Arc::new(Snapshot {
            state,
            version,
            timestamp: timestamp.unwrap_or(published_at),
            published_at,
            published_ns: now_ns,
            source,
        });
        inner
            .history
            .write(slot_of(version, inner.shared.capacity), version, &snapshot);
        inner.current.store(Some(Arc::clone(&snapshot)));
        // ORDERING: Release; pairs with the Acquire in `version()`: whoever
        // sees `version` sees `current` and the history slot stored above.
        inner.version.store(version, Ordering::Release);
        inner.shared.subscribers.deliver(&snapshot);
        drop(guard);
        inner.shared.notifier.notify();
        Ok(version)
    }

    /// The snapshots still held, oldest first (at most `capacity`).
    pub fn history(&self) -> Vec<Arc<Snapshot<T>>> {
        let inner = &*self.inner;
        let v = self.version();
        let cap = inner.shared.capacity as u64;
        let first = v.saturating_sub(cap) + 1;
        (first..=v)
            .filter_map(|seq| inner.history.read(slot_of(seq, inner.shared.capacity), seq))
            .collect()
    }

    /// The latest snapshot if its timestamp is at most `max_age` old;
    /// otherwise `None`, counted as a stale read.
    pub fn latest_fresh(&self, max_age: Duration) -> Option<Arc<Snapshot<T>>> {
        self.inner
            .shared
            .fresh(self.peek(), |s| s.timestamp, max_age)
    }

    /// The held snapshot whose timestamp is nearest `time` (wall-clock
    /// seconds), if within `max_age` of it; otherwise `None`, counted as a
    /// stale read.
    pub fn state_at(&self, time: f64, max_age: Duration) -> Option<Arc<Snapshot<T>>> {
        self.inner
            .shared
            .nearest(self.history(), |s| s.timestamp, time, max_age)
    }

    /// Subscribes to every publish from now on; see [`Subscription`].
    pub fn subscribe(
        &self,
        capacity: usize,
        policy: Policy,
    ) -> Result<Subscription<Arc<Snapshot<T>>>, Error> {
        self.inner.shared.subscribers.subscribe(capacity, policy)
    }

    /// Closes the buffer: publishes fail with `Error::Closed`, waits and
    /// subscriptions end. Reads still return the last state.
    pub fn close(&self) {
        self.inner.shared.close();
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.inner.shared.is_closed()
    }

    /// Forgets every state, the version (the next publish is 1 again) and
    /// the statistics; ends every subscription.
    pub fn reset(&self) {
        let inner = &*self.inner;
        let guard = lock(&inner.writer);
        inner.current.store(None);
        inner.history.clear();
        // ORDERING: Release, as in `publish`.
        inner.version.store(0, Ordering::Release);
        inner.shared.reset();
        drop(guard);
    }

    /// The latest version (0 before the first publish).
    #[inline]
    pub fn version(&self) -> Version {
        // ORDERING: Acquire; pairs with the Release in `publish`.
        self.inner.version.load(Ordering::Acquire)
    }

    /// The latest snapshot, counted as a read; `None` before the first
    /// publish. No lock, no syscall, no allocation.
    #[inline]
    pub fn latest(&self) -> Option<Arc<Snapshot<T>>> {
        let s = self.peek()?;
        self.inner.shared.count_read();
        Some(s)
    }

    /// The latest snapshot without counting a read (for handles that
    /// count their own).
    #[inline]
    pub fn peek(&self) -> Option<Arc<Snapshot<T>>> {
        self.inner.current.load_full()
    }

    /// Blocks (without spinning) until a version after `after` is
    /// published, returning it; `Error::Closed` if the buffer closes,
    /// `Error::Timeout` after `timeout`.
    pub fn wait_for_update(&self, after: Version, timeout: Duration) -> Result<Version, Error> {
        self.inner
            .shared
            .wait_for_update(|| self.version(), after, Some(timeout))
    }

    /// The buffer's statistics.
    pub fn statistics(&self) -> Statistics {
        let latest = self.peek();
        let held = self.history().len();
        self.inner
            .shared
            .statistics(self.version(), latest.as_deref(), held)
    }

    /// A new reader handle (a per-consumer cursor) on this buffer.
    pub fn reader(&self) -> Reader<Self> {
        Reader::new_registered(self.clone(), self.inner.shared.register_reader())
    }

    /// Calls `f` on the latest snapshot without taking a reference count,
    /// counted as a read. [`latest`](Self::latest) hands out an `Arc`, whose
    /// count is one cache line that every reader writes; under many
    /// concurrent readers this borrow (arc-swap's debt slots) scales where
    /// that does not.
    #[inline]
    pub fn with_latest<R>(&self, f: impl FnOnce(&Snapshot<T>) -> R) -> Option<R> {
        let guard = self.inner.current.load();
        let snapshot = guard.as_deref()?;
        self.inner.shared.count_read();
        Some(f(snapshot))
    }

    /// The most snapshots the history holds.
    pub fn capacity(&self) -> usize {
        self.inner.shared.capacity
    }
}

fn slot_of(version: Version, capacity: usize) -> usize {
    (version % capacity as u64) as usize
}

impl<T: Send + Sync + 'static> Buffer for StateBuffer<T> {
    type State = T;
    type Item = Arc<Snapshot<T>>;

    #[inline]
    fn version(&self) -> Version {
        StateBuffer::version(self)
    }

    #[inline]
    fn latest(&self) -> Option<Arc<Snapshot<T>>> {
        StateBuffer::latest(self)
    }

    #[inline]
    fn peek(&self) -> Option<Arc<Snapshot<T>>> {
        StateBuffer::peek(self)
    }

    fn wait_for_update(&self, after: Version, timeout: Duration) -> Result<Version, Error> {
        StateBuffer::wait_for_update(self, after, timeout)
    }

    fn statistics(&self) -> Statistics {
        StateBuffer::statistics(self)
    }

    fn reader(&self) -> Reader<Self> {
        StateBuffer::reader(self)
    }

    fn retire_reader(&self, counters: &Arc<ReaderCounters>) {
        self.inner.shared.retire_reader(counters);
    }

    #[inline]
    fn epoch(&self) -> u64 {
        self.inner.shared.epoch()
    }
}

impl<T> std::fmt::Debug for StateBuffer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateBuffer")
            // ORDERING: a display value.
            .field("version", &self.inner.version.load(Ordering::Relaxed))
            .field("capacity", &self.inner.shared.capacity)
            .finish()
    }
}
