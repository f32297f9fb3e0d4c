//! The buffer, written once over a [`Storage`]: [`GenericBuffer`], with its
//! two in-process forms [`SlotRing`] (plain data, copied out) and
//! [`StateBuffer`] (any type, shared as `Arc`).
//!
//! # Algorithm
//!
//! Publish (writers serialised by the [writer lock](writer), which readers
//! never touch):
//! 1. inspect the state (validate it, take its own timestamp); refuse it if
//!    the buffer is closed;
//! 2. take the writer lock; `seq = latest + 1`, `version = seq - base`;
//!    read the clock once;
//! 3. write the snapshot into slot `seq mod K` with the stamped-slot
//!    protocol (see [`crate::storage`]), then store `latest = seq`
//!    (`Release`);
//! 4. deliver it to the subscription queues;
//! 5. release the writer lock; only then drop what the write displaced
//!    (an old `Arc` may hold a Python object whose finalizer runs) and
//!    wake waiters and subscribers.
//!
//! Read of the latest: load `latest` (`Acquire`) and `base`; if equal the
//! buffer is empty; otherwise read slot `latest mod K` validated by its
//! stamp, retrying if a writer lapped the ring during the copy. No lock, no
//! syscall, no allocation.
//!
//! Reset (under the writer lock): `base = latest`, so versions restart at 1
//! while sequence numbers (and so stamps) go on; slots are emptied (their
//! `Arc`s dropped after the lock); subscriptions end; waiters are woken and
//! go on waiting for the first publish after the reset.

mod annotated;
mod api;
#[cfg(all(test, loom))]
mod loom_models;
mod writer;

pub use annotated::Annotated;
pub use api::Buffer;

use crate::clock::Clock;
use crate::notify::Notifier;
use crate::reader::{Reader, ReaderCounters};
use crate::snapshot::{inspect_nothing, inspect_state, Inspect, Snapshot, State, Version};
use crate::statistics::Rates;
use crate::storage::{ArcSlots, InProcess, PodSlots, Seq, Slots, SlotsKind, Storage, MAX_SLOTS};
use crate::subscription::{Policy, Subscribers, Subscription};
use crate::sync::{lock, AtomicBool, Mutex, Ordering};
use crate::{Error, PublishError, Source, Statistics};
use std::sync::Arc;
use std::time::Duration;
use writer::WriterLock;

/// The fewest slots a ring has, whatever its history capacity: chosen by
/// measurement (see the README's benchmark table): fewer slots let a busy
/// writer lap readers, more cost only memory.
pub const DEFAULT_SLOTS: usize = 8;

/// The largest history capacity a buffer accepts: its ring has
/// `capacity + 1` slots or more, and at most
/// [`MAX_SLOTS`](crate::storage::MAX_SLOTS).
pub const MAX_HISTORY: usize = MAX_SLOTS - 1;

/// The state type of a storage.
pub(crate) type StateOf<S> = <<S as Storage>::Slots as Slots>::State;
/// What a read of a storage returns.
pub(crate) type ItemOf<S> = <<S as Storage>::Slots as Slots>::Item;

/// A buffer for plain-data states (`T: bytemuck::Pod`), such as
/// [`FastDroneState`](crate::FastDroneState). Publishing allocates nothing;
/// reads copy the snapshot out by value, take no lock, make no syscall and
/// never see a torn state. Cloning gives another handle on the same ring.
///
/// ```
/// use rtstate::{SlotRing, Source};
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
pub type SlotRing<T> = GenericBuffer<InProcess<PodSlots<T>>>;

/// A versioned state buffer for any `T: Send + Sync`, with bounded history,
/// staleness checks, waits, statistics and subscriptions; reads hand out
/// `Arc<Snapshot<T>>`. Cloning gives another handle on the same buffer.
///
/// The ring keeps the last [`slots`](GenericBuffer::slots) snapshots alive
/// (at least `capacity + 1`, rounded up to a power of two, and at least
/// [`DEFAULT_SLOTS`]), of which `history()` returns the last `capacity`;
/// an older snapshot is dropped when its slot is overwritten, or by
/// [`reset`](GenericBuffer::reset), always after the writer's lock.
///
/// ```
/// use rtstate::{Source, StateBuffer};
/// let buffer = StateBuffer::<String>::new(4)?;
/// let v = buffer.publish("armed".to_string(), Source::intern("fsm")).unwrap();
/// let snap = buffer.latest().unwrap();
/// assert_eq!((v, snap.version, snap.state.as_str()), (1, 1, "armed"));
/// # Ok::<(), rtstate::Error>(())
/// ```
pub type StateBuffer<T> = GenericBuffer<InProcess<ArcSlots<T>>>;

/// A versioned buffer over a [`Storage`]: versions from 1, bounded history,
/// staleness checks, waits, statistics, reader cursors and subscriptions.
/// Use it through [`SlotRing`] or [`StateBuffer`]. Cloning gives another
/// handle on the same buffer.
pub struct GenericBuffer<S: Storage> {
    inner: Arc<Inner<S>>,
}

struct Inner<S: Storage> {
    storage: S,
    /// `K - 1`, `K` the number of slots (a power of two).
    mask: u64,
    capacity: usize,
    clock: Clock,
    inspect: Inspect<StateOf<S>>,
    writer: WriterLock,
    closed: AtomicBool,
    notifier: Notifier,
    subscribers: Subscribers<S::Slots>,
    rates: Rates,
    readers: Mutex<Vec<Arc<ReaderCounters>>>,
}

impl<S: Storage> Clone for GenericBuffer<S> {
    fn clone(&self) -> Self {
        GenericBuffer {
            inner: Arc::clone(&self.inner),
        }
    }
}

/// The slot count for a history of `capacity`: at least `min_slots` and
/// `capacity + 1`, a power of two, at most `MAX_SLOTS`.
fn slot_count(capacity: usize, min_slots: usize) -> Result<usize, Error> {
    if capacity == 0 {
        return Err(Error::InvalidArgument {
            name: "capacity",
            reason: "must be at least 1".into(),
        });
    }
    if capacity > MAX_HISTORY {
        return Err(Error::InvalidArgument {
            name: "capacity",
            reason: format!("too large: {capacity} (the most is {MAX_HISTORY})"),
        });
    }
    let k = min_slots
        .max(capacity + 1)
        .checked_next_power_of_two()
        .filter(|&k| k <= MAX_SLOTS)
        .ok_or_else(|| Error::InvalidArgument {
            name: "slots",
            reason: format!("too many: {min_slots} (the most is {MAX_SLOTS})"),
        })?;
    Ok(k)
}

impl<S: Slots + SlotsKind> GenericBuffer<InProcess<S>> {
    /// A buffer keeping the last `capacity` snapshots (`1 ..=`
    /// [`MAX_HISTORY`]) as history, in a ring of
    /// `max(DEFAULT_SLOTS, capacity + 1)` slots rounded up to a power of
    /// two. States are not inspected: snapshots are timestamped with their
    /// publish time.
    pub fn new(capacity: usize) -> Result<Self, Error> {
        Self::build(capacity, DEFAULT_SLOTS, Clock::System, inspect_nothing)
    }

    /// Like [`new`](Self::new), for a [`State`] type: each state is validated
    /// before it is published, and its own timestamp is the snapshot's.
    pub fn checked(capacity: usize) -> Result<Self, Error>
    where
        S::State: State,
    {
        Self::build(capacity, DEFAULT_SLOTS, Clock::System, inspect_state)
    }

    /// [`new`](Self::new) reading time from `clock` (a mock, in tests).
    pub fn with_clock(capacity: usize, clock: Clock) -> Result<Self, Error> {
        Self::build(capacity, DEFAULT_SLOTS, clock, inspect_nothing)
    }

    /// [`checked`](Self::checked) reading time from `clock`.
    pub fn checked_with_clock(capacity: usize, clock: Clock) -> Result<Self, Error>
    where
        S::State: State,
    {
        Self::build(capacity, DEFAULT_SLOTS, clock, inspect_state)
    }

    /// A buffer with at least `slots` slots (≥ 2; for measuring the choice
    /// of `K`).
    pub fn with_slots(capacity: usize, slots: usize) -> Result<Self, Error> {
        if slots < 2 {
            return Err(Error::InvalidArgument {
                name: "slots",
                reason: format!("must be at least 2, got {slots}"),
            });
        }
        Self::build(capacity, slots, Clock::System, inspect_nothing)
    }

    fn build(
        capacity: usize,
        min_slots: usize,
        clock: Clock,
        inspect: Inspect<S::State>,
    ) -> Result<Self, Error> {
        let k = slot_count(capacity, min_slots)?;
        Ok(Self::from_storage(
            InProcess::new(k)?,
            capacity,
            clock,
            inspect,
        ))
    }
}

impl<S: Storage> GenericBuffer<S> {
    /// A buffer over `storage` (whose slot count is a power of two above
    /// `capacity`), keeping `capacity` snapshots of history.
    pub(crate) fn from_storage(
        storage: S,
        capacity: usize,
        clock: Clock,
        inspect: Inspect<StateOf<S>>,
    ) -> Self {
        let k = storage.slots().len();
        debug_assert!(k.is_power_of_two() && k > capacity);
        let now = clock.now_ns();
        GenericBuffer {
            inner: Arc::new(Inner {
                storage,
                mask: (k - 1) as u64,
                capacity,
                clock,
                inspect,
                writer: WriterLock::default(),
                closed: AtomicBool::new(false),
                notifier: Notifier::new(),
                subscribers: Subscribers::new(),
                rates: Rates::new(now),
                readers: Mutex::new(Vec::new()),
            }),
        }
    }

    #[inline]
    fn slot(&self, seq: Seq) -> usize {
        (seq & self.inner.mask) as usize
    }

    /// Publishes `state`; returns its version. Never waits for a reader or a
    /// subscriber; allocates nothing for plain data. A refused state comes
    /// back in the error (invalid, or the buffer is closed).
    #[inline]
    pub fn publish(
        &self,
        state: StateOf<S>,
        source: Source,
    ) -> Result<Version, PublishError<StateOf<S>>> {
        self.publish_with(state, source, |_, _| ())
            .map(|(version, ())| version)
    }

    /// Publishes `state` as version `version` of this epoch, which must be
    /// newer than the latest: what a mirror of a remote buffer does, so
    /// that its versions are the remote ones. The versions between the
    /// latest and `version` are skipped: never published here, absent from
    /// [`history`](Self::history) (which holds the snapshots among the last
    /// `capacity` versions), counted as lost by [`Reader`]s and as a gap by
    /// subscriptions that did not see them, and not counted in
    /// [`Statistics::updates`]. Otherwise exactly
    /// [`publish`](Self::publish); afterwards [`version`](Self::version) is
    /// `version`.
    ///
    /// Refused, with the state given back and nothing published:
    /// [`Error::VersionNotNewer`] for a version not newer than the latest
    /// (versions never go backwards or repeat), [`Error::InvalidArgument`]
    /// for one whose sequence number would pass
    /// [`MAX_SEQ`](crate::storage::MAX_SEQ), and every refusal of
    /// `publish`. A [`reset`](Self::reset) restarts versions: after it any
    /// version from 1 is accepted.
    ///
    /// ```
    /// use rtstate::{Error, SlotRing, Source};
    /// let ring = SlotRing::<u64>::new(8)?;
    /// let remote = Source::intern("remote");
    /// assert_eq!(ring.publish_at_version(7, remote, 3).unwrap(), 3);
    /// assert_eq!(ring.publish_at_version(9, remote, 5).unwrap(), 5);
    /// assert_eq!(ring.version(), 5);
    /// let err = ring.publish_at_version(1, remote, 5).unwrap_err();
    /// assert_eq!(err.error, Error::VersionNotNewer { version: 5, latest: 5 });
    /// let held: Vec<u64> = ring.history().iter().map(|s| s.version).collect();
    /// assert_eq!(held, [3, 5]);
    /// assert_eq!(ring.statistics().updates, 2);
    /// # Ok::<(), rtstate::Error>(())
    /// ```
    #[inline]
    pub fn publish_at_version(
        &self,
        state: StateOf<S>,
        source: Source,
        version: Version,
    ) -> Result<Version, PublishError<StateOf<S>>> {
        self.publish_inner(state, source, Some(version), |_, _| ())
            .map(|(version, ())| version)
    }

    /// [`publish`](Self::publish), calling `note(version, published_ns)`
    /// under the writer lock once the snapshot is written and before readers
    /// can see it (the pair names the snapshot across resets). `note` must
    /// not run foreign code: what it returns is dropped by the caller, after
    /// the lock.
    #[inline]
    pub(crate) fn publish_with<R>(
        &self,
        state: StateOf<S>,
        source: Source,
        note: impl FnOnce(Version, u64) -> R,
    ) -> Result<(Version, R), PublishError<StateOf<S>>> {
        self.publish_inner(state, source, None, note)
    }

    /// The one publish: at the next version, or at `at` (see
    /// [`publish_at_version`](Self::publish_at_version)).
    #[inline(always)]
    fn publish_inner<R>(
        &self,
        state: StateOf<S>,
        source: Source,
        at: Option<Version>,
        note: impl FnOnce(Version, u64) -> R,
    ) -> Result<(Version, R), PublishError<StateOf<S>>> {
        let inner = &*self.inner;
        let timestamp = match (inner.inspect)(&state) {
            Ok(t) => t,
            Err(error) => return Err(PublishError { error, state }),
        };
        if self.is_closed() {
            return Err(PublishError {
                error: Error::Closed,
                state,
            });
        }
        if let Err(error) = inner.storage.claim_writer() {
            return Err(PublishError { error, state });
        }
        let header = inner.storage.header();
        let guard = inner.writer.lock();
        let (seq, version, skipped) = match at {
            None => {
                let (seq, version) = header.next_publish();
                (seq, version, 0)
            }
            // Checked under the writer lock (the latest cannot move) and
            // before anything is written: a refusal changes nothing.
            Some(at) => match header.publish_at(at) {
                Ok((seq, skipped)) => (seq, at, skipped),
                Err(error) => {
                    drop(guard);
                    return Err(PublishError { error, state });
                }
            },
        };
        let now_ns = inner.clock.now_ns();
        let published_at = inner.clock.wall_at(now_ns);
        let item = S::Slots::wrap(Snapshot {
            state,
            version,
            timestamp: timestamp.unwrap_or(published_at),
            published_at,
            published_ns: now_ns,
            source,
        });
        let displaced = inner.storage.slots().write(self.slot(seq), seq, &item);
        let noted = note(version, now_ns);
        header.count_skipped(skipped);
        header.set_latest(seq);
        let queued_out = inner.subscribers.deliver(&item);
        drop(guard);
        // Foreign code (a displaced state's drop) and wake-ups run here,
        // after the lock.
        drop(displaced);
        drop(item);
        inner.notifier.notify();
        inner.storage.notify_shared();
        queued_out.notify();
        Ok((version, noted))
    }

    /// The latest snapshot with its sequence number, not counted. Inlined
    /// always: callers return the snapshot by value, and an out-of-line
    /// call copies it once more (the mapped storage's body is large enough
    /// that the compiler would not inline it otherwise).
    #[inline(always)]
    pub(crate) fn load(&self) -> Option<(Seq, ItemOf<S>)> {
        let storage = &self.inner.storage;
        storage
            .header()
            .load_latest(|seq, _| storage.slots().read(self.slot(seq), seq))
    }

    /// The snapshots still held, oldest first, all of one epoch: those
    /// among the last `capacity` versions (all of them unless versions were
    /// skipped by [`publish_at_version`](Self::publish_at_version); a
    /// skipped version is absent, never another state in its place).
    pub fn history(&self) -> Vec<ItemOf<S>> {
        let (_, held) = self.inner.storage.header().held(self.inner.capacity);
        let slots = self.inner.storage.slots();
        held.filter_map(|seq| slots.read(self.slot(seq), seq))
            .collect()
    }

    /// The latest snapshot if its timestamp is at most `max_age` old;
    /// otherwise `None`, counted as a stale read.
    pub fn latest_fresh(&self, max_age: Duration) -> Option<ItemOf<S>> {
        let (_, item) = self.load()?;
        let snapshot: &Snapshot<StateOf<S>> = std::borrow::Borrow::borrow(&item);
        let age = self.inner.clock.wall() - snapshot.timestamp;
        if age <= max_age.as_secs_f64() {
            self.inner.storage.header().count_read();
            Some(item)
        } else {
            self.inner.storage.header().count_stale();
            None
        }
    }

    /// The held snapshot whose timestamp is nearest `time` (wall-clock
    /// seconds), if within `max_age` of it; otherwise `None`, counted as a
    /// stale read.
    pub fn state_at(&self, time: f64, max_age: Duration) -> Option<ItemOf<S>> {
        let ts = |i: &ItemOf<S>| std::borrow::Borrow::<Snapshot<StateOf<S>>>::borrow(i).timestamp;
        let (best, within) = crate::storage::nearest(self.history(), time, max_age, ts)?;
        let header = self.inner.storage.header();
        if within {
            header.count_read();
            Some(best)
        } else {
            header.count_stale();
            None
        }
    }

    /// Subscribes to every publish from now on; see [`Subscription`].
    /// Plain-data events are copies in the subscription's preallocated
    /// queue. Errors: `capacity` outside `1 ..=`
    /// [`MAX_CAPACITY`](crate::MAX_CAPACITY), or the buffer's subscriptions
    /// would take more than
    /// [`MAX_SUBSCRIPTION_BYTES`](crate::MAX_SUBSCRIPTION_BYTES)
    /// ([`Error::InvalidArgument`]); the buffer is closed
    /// ([`Error::Closed`]).
    pub fn subscribe(
        &self,
        capacity: usize,
        policy: Policy,
    ) -> Result<Subscription<ItemOf<S>>, Error> {
        if self.is_closed() {
            return Err(Error::Closed);
        }
        self.inner.subscribers.subscribe(capacity, policy)
    }

    /// Closes the buffer: publishes fail with `Error::Closed`, waits and
    /// subscriptions end, later subscriptions are refused (a reset does not
    /// reopen it). Reads still return the last state.
    pub fn close(&self) {
        let inner = &*self.inner;
        // ORDERING: Release; pairs with the Acquire in `is_closed`, so a
        // waiter that sees the flag sees everything before the close.
        inner.closed.store(true, Ordering::Release);
        inner.storage.close_shared();
        inner.subscribers.close_all().wake();
        inner.notifier.notify();
        inner.storage.notify_shared();
    }

    /// Whether [`close`](Self::close) was called.
    #[inline]
    pub fn is_closed(&self) -> bool {
        // ORDERING: Acquire; pairs with the Release in `close`.
        self.inner.closed.load(Ordering::Acquire) || self.inner.storage.is_closed_shared()
    }

    /// Forgets every state and the statistics; the next publish is version 1
    /// again (stamps are never reused: see [`crate::storage`]). Ends every
    /// subscription (new ones are accepted unless the buffer is closed);
    /// wakes every waiter, which then waits for the first publish after the
    /// reset. On a shared buffer that another process writes, does nothing.
    pub fn reset(&self) {
        self.reset_with(|| ())
    }

    /// [`reset`](Self::reset), calling `clear` under the writer lock; what
    /// it returns is dropped after the lock (it must not run foreign code).
    pub(crate) fn reset_with<R>(&self, clear: impl FnOnce() -> R) {
        let inner = &*self.inner;
        if inner.storage.claim_writer().is_err() {
            // A shared buffer another process writes: only its writer resets.
            return;
        }
        let guard = inner.writer.lock();
        let cleared = clear();
        inner.storage.header().reset();
        let displaced = inner.storage.slots().clear();
        let ended = inner.subscribers.close_all();
        inner.subscribers.reset_counters();
        if !self.is_closed() {
            inner.subscribers.reopen();
        }
        for c in lock(&inner.readers).iter() {
            c.reset();
        }
        inner.rates.reset(inner.clock.now_ns());
        drop(guard);
        drop(displaced);
        drop(cleared);
        ended.wake();
        inner.notifier.notify();
        inner.storage.notify_shared();
    }

    /// The latest version (0 before the first publish and after a reset).
    #[inline]
    pub fn version(&self) -> Version {
        self.inner.storage.header().words().version()
    }

    /// Resets so far (a reader restarts its cursor on each).
    #[inline]
    pub fn epoch(&self) -> u64 {
        self.inner.storage.header().resets()
    }

    /// The latest snapshot, counted as a read; `None` before the first
    /// publish. No lock, no syscall, no allocation.
    #[inline]
    pub fn latest(&self) -> Option<ItemOf<S>> {
        let (_, item) = self.load()?;
        self.inner.storage.header().count_read();
        Some(item)
    }

    /// The latest snapshot without counting a read (for handles that
    /// count their own).
    #[inline]
    pub fn peek(&self) -> Option<ItemOf<S>> {
        self.load().map(|(_, item)| item)
    }

    /// Calls `f` on the latest snapshot, counted as a read, without copying
    /// it out of an `Arc` or taking a reference count. For a
    /// [`StateBuffer`], [`latest`](Self::latest) hands out an `Arc`, whose
    /// count is one cache line that every reader writes; under many
    /// concurrent readers this borrow (arc-swap's debt slots) scales where
    /// that does not.
    #[inline]
    pub fn with_latest<R>(&self, f: impl FnOnce(&Snapshot<StateOf<S>>) -> R) -> Option<R> {
        let storage = &self.inner.storage;
        let header = storage.header();
        let mut f = Some(f);
        loop {
            let seq = header.latest();
            if seq <= header.base_after_latest() {
                return None;
            }
            let slot = self.slot(seq);
            if let Some(r) = storage
                .slots()
                .with(slot, seq, |s| (f.take().expect("called once"))(s))
            {
                header.count_read();
                return Some(r);
            }
            crate::sync::spin_hint();
        }
    }

    /// Blocks (without spinning) until a version after `after` is published,
    /// returning it; `Error::Closed` if the buffer closes, `Error::Timeout`
    /// after `timeout` (a timeout too large to represent waits for ever).
    /// A reset wakes the wait, and the first publish after it satisfies the
    /// wait whatever `after` was (its versions are of another epoch).
    pub fn wait_for_update(&self, after: Version, timeout: Duration) -> Result<Version, Error> {
        let header = self.inner.storage.header();
        let resets = header.resets();
        let ready = || {
            let reset_since = header.resets() != resets;
            let words = header.words();
            let v = words.version();
            if v > after || (reset_since && v > 0) {
                Some(Ok(v))
            } else if self.is_closed() {
                Some(Err(Error::Closed))
            } else {
                None
            }
        };
        self.wait_until(ready, timeout)
            .unwrap_or(Err(Error::Timeout(timeout)))
    }

    /// Blocks until the latest sequence number exceeds `after` (for
    /// readers). `Ok(false)` on timeout.
    pub(crate) fn wait_for_seq(&self, after: Seq, timeout: Duration) -> Result<bool, Error> {
        let header = self.inner.storage.header();
        let ready = || {
            let seq = header.latest();
            if seq > after && seq > header.base_after_latest() {
                Some(Ok(()))
            } else if self.is_closed() {
                Some(Err(Error::Closed))
            } else {
                None
            }
        };
        match self.wait_until(ready, timeout) {
            Some(r) => r.map(|()| true),
            None => Ok(false),
        }
    }

    /// Blocks until `ready` gives an outcome (None after `timeout`): on the
    /// storage's own wait where it has one (a futex shared by processes),
    /// else on this process's notifier.
    fn wait_until<R>(&self, mut ready: impl FnMut() -> Option<R>, timeout: Duration) -> Option<R> {
        match self.inner.storage.wait_shared(&mut ready, Some(timeout)) {
            Some(outcome) => outcome,
            None => self.inner.notifier.wait_while(ready, Some(timeout)),
        }
    }

    /// The buffer's statistics.
    pub fn statistics(&self) -> Statistics {
        let inner = &*self.inner;
        let header = inner.storage.header();
        let latest = self.load().map(|(_, item)| item);
        let latest: Option<&Snapshot<StateOf<S>>> =
            latest.as_ref().map(std::borrow::Borrow::borrow);
        let held = self.history().len();
        let version = self.version();
        let (reads, stale_reads, retired_reads, retired_lost) = header.counts();
        let (live, live_reads, live_lost) = {
            let readers = lock(&inner.readers);
            let (r, l) = readers.iter().fold((0, 0), |(r, l), c| {
                let (cr, cl) = c.unflushed();
                (r + cr, l + cl)
            });
            (readers.len(), r, l)
        };
        let reads = reads + retired_reads + live_reads;
        let now_ns = inner.clock.now_ns();
        // Publishes made: the latest version less the versions skipped by
        // publishes at a chosen version (a mirror's remote gaps).
        let updates = version.saturating_sub(header.skipped());
        let (updates_per_sec, reads_per_sec) = inner.rates.sample(now_ns, updates, reads);
        let now_wall = inner.clock.wall_at(now_ns);
        Statistics {
            updates,
            reads,
            stale_reads,
            current_version: version,
            lost: retired_lost + live_lost,
            readers: live,
            subscribers: inner.subscribers.len(),
            history_len: held,
            capacity: inner.capacity,
            updates_per_sec,
            reads_per_sec,
            latest_age: latest
                .and_then(|s| Duration::try_from_secs_f64((now_wall - s.timestamp).max(0.0)).ok()),
            last_update_time: latest.map(|s| s.published_at),
            subscriptions: inner.subscribers.counters(),
            waiting: inner.notifier.waiting() + inner.subscribers.waiting(),
        }
    }

    /// A new reader handle (a per-consumer cursor) on this buffer.
    pub fn reader(&self) -> Reader<Self> {
        let counters = Arc::new(ReaderCounters::default());
        lock(&self.inner.readers).push(Arc::clone(&counters));
        let start = self.inner.storage.header().latest();
        Reader::new(self.clone(), counters, start)
    }

    /// Folds a dropped reader's counters into the totals.
    pub(crate) fn retire_reader(&self, counters: &Arc<ReaderCounters>) {
        let mut readers = lock(&self.inner.readers);
        if let Some(i) = readers.iter().position(|c| Arc::ptr_eq(c, counters)) {
            readers.swap_remove(i);
            let (reads, lost) = counters.take_unflushed();
            self.inner.storage.header().retire_reader(reads, lost);
        }
    }

    /// The storage (header and slots).
    #[inline]
    pub(crate) fn storage(&self) -> &S {
        &self.inner.storage
    }

    /// The most snapshots the history holds.
    pub fn capacity(&self) -> usize {
        self.inner.capacity
    }

    /// The number of slots `K`.
    pub fn slots(&self) -> usize {
        (self.inner.mask + 1) as usize
    }
}

impl<S: Storage> std::fmt::Debug for GenericBuffer<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct(S::kind())
            .field("version", &self.version())
            .field("capacity", &self.inner.capacity)
            .field("slots", &self.slots())
            .finish()
    }
}
