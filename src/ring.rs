//! [`SlotRing`]: the plain-data buffer. The seed's double buffer generalised
//! to a ring of `K ≥ 2` stamped slots (`K` a power of two).
//!
//! # Algorithm
//!
//! Publish of version `v` (writers serialised by a writer mutex that readers
//! never touch):
//! 1. inspect the state; read the clock once;
//! 2. write the snapshot into slot `v mod K` with the stamped-slot protocol
//!    (`slot.rs`: stamp "writing", fence, words, stamp `v`);
//! 3. store `latest = v` (`Release`);
//! 4. deliver to subscribers (copies into their preallocated rings); release
//!    the writer mutex; wake waiters (free when nobody waits).
//!
//! Read: load `latest` (`Acquire`), copy slot `latest mod K` through atomics
//! and validate that slot's stamp; only if the writer lapped the whole ring
//! during the copy (or is rewriting that slot) retry with the new `latest`.
//!
//! Why a ring and not one sequence: with a single sequence (a seqlock or a
//! two-slot latch) any write invalidates every read in flight, so a busy
//! writer starves readers. Here a read is disturbed only by a write to the
//! slot it is copying, which needs `K` publishes during one copy.
//!
//! # Memory ordering
//!
//! - `latest.store(v, Release)` (step 3) pairs with the reader's
//!   `latest.load(Acquire)`: a reader that sees `v` sees slot `v`'s final
//!   stamp (or a later one, then it retries).
//! - Within a slot, the stamp protocol's argument is in `slot.rs`.
//!
//! # Limitations
//!
//! A reader retries without bound while the writer laps the ring during each
//! of its copies; with `K = 8` and a 104-byte state this needs a writer more
//! than eight times faster than a copy, which measurement here never showed.
//! The loom models cover the protocol with `K = 2` and a two-word state,
//! within a preemption bound of 2: a writer lapping the ring (3 publishes)
//! under one reader reading twice, and a writer with two readers over two
//! publishes. Two readers against a lapping writer did not finish in
//! minutes and is left to the release-mode stress test. They do not cover
//! the real clock or arc-swap (the subscriber list).

use crate::clock::Clock;
use crate::reader::{Buffer, Reader};
use crate::shared::{ReaderCounters, Shared};
use crate::slot::{PodSlots, SlotStore};
use crate::snapshot::{inspect_nothing, inspect_state, Inspect, Snapshot, State, Version};
use crate::subscription::{Policy, Subscription};
use crate::sync::{lock, AtomicU64, Mutex, Ordering};
use crate::{Error, PublishError, Source, Statistics};
use bytemuck::Pod;
use crossbeam_utils::CachePadded;
use std::sync::Arc;
use std::time::Duration;

/// The fewest slots a ring has, whatever its history capacity: chosen by
/// measurement (see the README's benchmark table): fewer slots let a busy
/// writer lap readers, more cost only memory.
pub const DEFAULT_SLOTS: usize = 8;

/// A versioned buffer for plain-data states (`T: bytemuck::Pod`), such as
/// [`FastDroneState`](crate::FastDroneState). Publishing allocates nothing;
/// reads copy the snapshot out by value, take no lock, make no syscall and
/// never see a torn state. Cloning gives another handle on the same ring.
///
/// ```
/// use rtstate::{Buffer, SlotRing, Source};
/// let ring = SlotRing::<[f64; 2]>::new(4)?;
/// let imu = Source::intern("imu");
/// for i in 0..10 {
///     ring.publish([i as f64, 0.0], imu).unwrap();
/// }
/// let latest = ring.latest().unwrap();
/// assert_eq!((latest.version, latest.state[0]), (10, 9.0));
/// let history: Vec<u64> = ring.history().iter().map(|s| s.version).collect();
/// assert_eq!(history, [7, 8, 9, 10]);
/// # Ok::<(), rtstate::Error>(())
/// ```
pub struct SlotRing<T> {
    inner: Arc<Inner<T>>,
}

/// The ring protocol itself: `latest` and the stamped slots (model-checked
/// by loom below).
struct Core<T> {
    latest: CachePadded<AtomicU64>,
    slots: PodSlots<T>,
    mask: u64,
}

impl<T: Pod> Core<T> {
    fn new(k: usize) -> Self {
        Core {
            latest: CachePadded::new(AtomicU64::new(0)),
            slots: PodSlots::with_len(k),
            mask: (k - 1) as u64,
        }
    }

    #[inline]
    fn slot(&self, version: Version) -> usize {
        (version & self.mask) as usize
    }

    /// The next version to write. Writers hold the writer mutex.
    #[inline]
    fn next_version(&self) -> Version {
        // ORDERING: only writers store `latest`, and they are serialised.
        self.latest.load(Ordering::Relaxed) + 1
    }

    /// Publish steps 2-3. Writers are serialised by the caller.
    #[inline]
    fn write(&self, snapshot: &Snapshot<T>) {
        self.slots
            .write(self.slot(snapshot.version), snapshot.version, snapshot);
        // ORDERING: Release; pairs with the readers' Acquire load of
        // `latest`: a reader that sees this version finds its slot complete.
        self.latest.store(snapshot.version, Ordering::Release);
    }

    #[inline]
    fn version(&self) -> Version {
        // ORDERING: Acquire; pairs with the Release store in `write`.
        self.latest.load(Ordering::Acquire)
    }

    #[inline]
    fn read(&self) -> Option<Snapshot<T>> {
        loop {
            let version = self.version();
            if version == 0 {
                return None;
            }
            if let Some(s) = self.slots.read(self.slot(version), version) {
                return Some(s);
            }
            // The writer lapped the ring during the copy (or the ring was
            // reset): a newer version exists; take it.
            crate::sync::spin_hint();
        }
    }

    /// Versions `first..=last` still held, oldest first.
    fn range(&self, first: Version, last: Version) -> Vec<Snapshot<T>> {
        (first..=last)
            .filter_map(|seq| self.slots.read(self.slot(seq), seq))
            .collect()
    }

    fn clear(&self) {
        // ORDERING: Release, as in `write`; readers that load 0 return None.
        self.latest.store(0, Ordering::Release);
        self.slots.clear();
    }
}

struct Inner<T> {
    core: Core<T>,
    writer: Mutex<()>,
    inspect: Inspect<T>,
    shared: Shared<PodSlots<T>>,
}

impl<T> Clone for SlotRing<T> {
    fn clone(&self) -> Self {
        SlotRing {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T: Pod + Send + Sync> SlotRing<T> {
    /// A ring keeping the last `capacity` snapshots (≥ 1) as history, with
    /// `max(DEFAULT_SLOTS, capacity + 1)` slots rounded up to a power of two.
    /// States are not inspected: snapshots are timestamped with their
    /// publish time.
    pub fn new(capacity: usize) -> Result<Self, Error> {
        Self::build(capacity, DEFAULT_SLOTS, Clock::System, inspect_nothing::<T>)
    }

    /// Like [`new`](Self::new), for a [`State`] type: each state is validated
    /// before it is published, and its own timestamp is the snapshot's.
    pub fn checked(capacity: usize) -> Result<Self, Error>
    where
        T: State,
    {
        Self::build(capacity, DEFAULT_SLOTS, Clock::System, inspect_state::<T>)
    }

    /// [`new`](Self::new) reading time from `clock` (a mock, in tests).
    pub fn with_clock(capacity: usize, clock: Clock) -> Result<Self, Error> {
        Self::build(capacity, DEFAULT_SLOTS, clock, inspect_nothing::<T>)
    }

    /// [`checked`](Self::checked) reading time from `clock`.
    pub fn checked_with_clock(capacity: usize, clock: Clock) -> Result<Self, Error>
    where
        T: State,
    {
        Self::build(capacity, DEFAULT_SLOTS, clock, inspect_state::<T>)
    }

    /// A ring with at least `slots` slots (≥ 2; for measuring the choice of
    /// `K`).
    pub fn with_slots(capacity: usize, slots: usize) -> Result<Self, Error> {
        if slots < 2 {
            return Err(Error::InvalidArgument {
                name: "slots",
                reason: format!("must be at least 2, got {slots}"),
            });
        }
        Self::build(capacity, slots, Clock::System, inspect_nothing::<T>)
    }

    fn build(
        capacity: usize,
        min_slots: usize,
        clock: Clock,
        inspect: Inspect<T>,
    ) -> Result<Self, Error> {
        let shared = Shared::new(capacity, clock)?;
        let k = min_slots
            .max(capacity.saturating_add(1))
            .checked_next_power_of_two()
            .ok_or_else(|| Error::InvalidArgument {
                name: "capacity",
                reason: format!("too large: {capacity}"),
            })?;
        Ok(SlotRing {
            inner: Arc::new(Inner {
                core: Core::new(k),
                writer: Mutex::new(()),
                inspect,
                shared,
            }),
        })
    }

    /// Publishes `state`; returns its version. Allocates nothing and never
    /// waits for a reader or a subscriber. A refused state comes back in the
    /// error (invalid, or the ring is closed).
    #[inline]
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
        let version = inner.core.next_version();
        let now_ns = inner.shared.clock.now_ns();
        let published_at = inner.shared.clock.wall_at(now_ns);
        let snapshot = Snapshot {
            state,
            version,
            timestamp: timestamp.unwrap_or(published_at),
            published_at,
            published_ns: now_ns,
            source,
        };
        inner.core.write(&snapshot);
        inner.shared.subscribers.deliver(&snapshot);
        drop(guard);
        inner.shared.notifier.notify();
        Ok(version)
    }

    #[inline]
    fn load(&self) -> Option<Snapshot<T>> {
        self.inner.core.read()
    }

    /// The snapshots still held, oldest first (at most `capacity`).
    pub fn history(&self) -> Vec<Snapshot<T>> {
        let v = self.version();
        let first = v.saturating_sub(self.inner.shared.capacity as u64) + 1;
        self.inner.core.range(first, v)
    }

    /// The latest snapshot if its timestamp is at most `max_age` old;
    /// otherwise `None`, counted as a stale read.
    pub fn latest_fresh(&self, max_age: Duration) -> Option<Snapshot<T>> {
        self.inner
            .shared
            .fresh(self.load(), |s| s.timestamp, max_age)
    }

    /// The held snapshot whose timestamp is nearest `time` (wall-clock
    /// seconds), if within `max_age` of it; otherwise `None`, counted as a
    /// stale read.
    pub fn state_at(&self, time: f64, max_age: Duration) -> Option<Snapshot<T>> {
        self.inner
            .shared
            .nearest(self.history(), |s| s.timestamp, time, max_age)
    }

    /// Subscribes to every publish from now on; events are copies in the
    /// subscription's preallocated ring. See [`Subscription`].
    pub fn subscribe(
        &self,
        capacity: usize,
        policy: Policy,
    ) -> Result<Subscription<Snapshot<T>>, Error> {
        self.inner.shared.subscribers.subscribe(capacity, policy)
    }

    /// Closes the ring: publishes fail with `Error::Closed`, waits and
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
        inner.core.clear();
        inner.shared.reset();
        drop(guard);
    }

    /// The latest version (0 before the first publish).
    #[inline]
    pub fn version(&self) -> Version {
        self.inner.core.version()
    }

    /// The latest snapshot, counted as a read; `None` before the first
    /// publish. No lock, no syscall, no allocation.
    #[inline]
    pub fn latest(&self) -> Option<Snapshot<T>> {
        let s = self.load()?;
        self.inner.shared.count_read();
        Some(s)
    }

    /// The latest snapshot without counting a read (for handles that
    /// count their own).
    #[inline]
    pub fn peek(&self) -> Option<Snapshot<T>> {
        self.load()
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
        let latest = self.load();
        let held = self.history().len();
        self.inner
            .shared
            .statistics(self.version(), latest.as_ref(), held)
    }

    /// A new reader handle (a per-consumer cursor) on this buffer.
    pub fn reader(&self) -> Reader<Self> {
        Reader::new_registered(self.clone(), self.inner.shared.register_reader())
    }

    /// The most snapshots the history holds.
    pub fn capacity(&self) -> usize {
        self.inner.shared.capacity
    }

    /// The number of slots `K`.
    pub fn slots(&self) -> usize {
        (self.inner.core.mask + 1) as usize
    }
}

impl<T: Pod + Send + Sync> Buffer for SlotRing<T> {
    type State = T;
    type Item = Snapshot<T>;

    #[inline]
    fn version(&self) -> Version {
        SlotRing::version(self)
    }

    #[inline]
    fn latest(&self) -> Option<Snapshot<T>> {
        SlotRing::latest(self)
    }

    #[inline]
    fn peek(&self) -> Option<Snapshot<T>> {
        SlotRing::peek(self)
    }

    fn wait_for_update(&self, after: Version, timeout: Duration) -> Result<Version, Error> {
        SlotRing::wait_for_update(self, after, timeout)
    }

    fn statistics(&self) -> Statistics {
        SlotRing::statistics(self)
    }

    fn reader(&self) -> Reader<Self> {
        SlotRing::reader(self)
    }

    fn retire_reader(&self, counters: &Arc<ReaderCounters>) {
        self.inner.shared.retire_reader(counters);
    }

    #[inline]
    fn epoch(&self) -> u64 {
        self.inner.shared.epoch()
    }
}

impl<T: Pod> std::fmt::Debug for SlotRing<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlotRing")
            .field("version", &self.inner.core.version())
            .field("slots", &(self.inner.core.mask + 1))
            .finish()
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::thread;

    /// Both words of the state always carry the version: a torn copy would
    /// mix two versions.
    fn snapshot(version: Version) -> Snapshot<[u64; 2]> {
        Snapshot {
            state: [version, version],
            version,
            timestamp: version as f64,
            published_at: version as f64,
            published_ns: version,
            source: Source::UNKNOWN,
        }
    }

    fn check(s: &Snapshot<[u64; 2]>, previous: &mut Version) {
        assert_eq!(s.state, [s.version, s.version], "torn read");
        assert_eq!(s.published_ns, s.version, "torn metadata");
        assert!(s.version >= *previous, "version went backwards");
        *previous = s.version;
    }

    fn model(readers: usize, reads: usize, writes: u64) {
        let mut builder = loom::model::Builder::new();
        if builder.preemption_bound.is_none() {
            builder.preemption_bound = Some(2);
        }
        builder.check(move || {
            let core = Arc::new(Core::<[u64; 2]>::new(2));
            let handles: Vec<_> = (0..readers)
                .map(|_| {
                    let core = Arc::clone(&core);
                    thread::spawn(move || {
                        let mut previous = 0;
                        for _ in 0..reads {
                            if let Some(s) = core.read() {
                                check(&s, &mut previous);
                            }
                        }
                    })
                })
                .collect();
            for v in 1..=writes {
                core.write(&snapshot(v));
            }
            for h in handles {
                h.join().unwrap();
            }
            let last = core.read().unwrap();
            assert_eq!(last.version, writes);
            assert_eq!(core.range(writes - 1, writes).len(), 2);
        });
    }

    /// One writer laps a two-slot ring (versions 1..=3) while a reader reads
    /// twice: every read is whole, and versions never go back.
    #[test]
    fn loom_slot_ring_writer_laps_a_reader() {
        model(1, 2, 3);
    }

    /// A writer and two readers (two publishes, so the second overwrites
    /// nothing; the lapping case is the model above): each read is whole
    /// and in order.
    #[test]
    fn loom_slot_ring_writer_and_two_readers() {
        model(2, 1, 2);
    }
}
