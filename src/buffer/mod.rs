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
//!    wake waiters and subscribers: at once, or, for
//!    [`publish_at_version_deferred`](GenericBuffer::publish_at_version_deferred),
//!    when the caller drops the returned [`Wakeups`] (once it has released
//!    a lock of its own).
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
use crate::subscription::{Delivered, Ended, Policy, Subscribers, Subscription};
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
        self.publish_inner(state, source, Some(version), |_, _| (), Pending::run)
            .map(|(version, (), ())| version)
    }

    /// [`publish_at_version`](Self::publish_at_version), except that the
    /// wake-ups are left to the caller: the snapshot is published (readers
    /// see it, subscriptions hold it) and the writer lock released, but
    /// blocked and async waiters, and subscriptions' consumers, are woken
    /// (and what the write displaced is dropped) only when the returned
    /// [`Wakeups`] is dropped.
    ///
    /// For a caller that must publish under a lock of its own (to keep its
    /// own accounting in step with the buffer's versions, as a mirror of a
    /// remote buffer does): wakers and a displaced state's drop are foreign
    /// code, which must not run under that lock. Publish under the lock,
    /// release it, then drop the wake-ups. A publish costs the same either
    /// way; this variant only adds a handle on the buffer (an `Arc`
    /// increment) to the returned value.
    ///
    /// ```
    /// use rtstate::{SlotRing, Source};
    /// # use std::sync::Mutex; // shim-exempt: the caller's own lock, in a doc example
    /// let ring = SlotRing::<u64>::new(8)?;
    /// let sub = ring.subscribe(4, rtstate::Policy::DropOldest)?;
    /// let accepted = Mutex::new(0u64);
    /// let mut guard = accepted.lock().unwrap();
    /// let (version, wakeups) = ring
    ///     .publish_at_version_deferred(42, Source::intern("remote"), 3)
    ///     .unwrap();
    /// *guard += 1; // the caller's own accounting, in step with the publish
    /// drop(guard); // first release the lock,
    /// drop(wakeups); // then wake readers and subscribers
    /// assert_eq!((version, ring.version()), (3, 3));
    /// assert_eq!(sub.try_recv()?.state, 42);
    /// # Ok::<(), rtstate::Error>(())
    /// ```
    #[inline]
    pub fn publish_at_version_deferred(
        &self,
        state: StateOf<S>,
        source: Source,
        version: Version,
    ) -> Result<(Version, Wakeups<S>), PublishError<StateOf<S>>> {
        let defer = |pending, _: &Inner<S>| Wakeups {
            buffer: self.clone(),
            pending: Some(Deferred::Publish(pending)),
        };
        self.publish_inner(state, source, Some(version), |_, _| (), defer)
            .map(|(version, (), wakeups)| (version, wakeups))
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
        self.publish_inner(state, source, None, note, Pending::run)
            .map(|(version, noted, ())| (version, noted))
    }

    /// The one publish: at the next version, or at `at` (see
    /// [`publish_at_version`](Self::publish_at_version)). Once the writer
    /// lock is released, hands what is left to do (drop what the write
    /// displaced, wake waiters and subscribers) to `then`: every publish
    /// runs it at once ([`Pending::run`]) but
    /// [`publish_at_version_deferred`](Self::publish_at_version_deferred),
    /// which wraps it in a [`Wakeups`]. (A closure rather than a returned
    /// value: the immediate path then compiles to exactly the code it had
    /// before deferral existed, with no large value moved through a
    /// `Result`.)
    #[inline(always)]
    fn publish_inner<R, W>(
        &self,
        state: StateOf<S>,
        source: Source,
        at: Option<Version>,
        note: impl FnOnce(Version, u64) -> R,
        then: impl FnOnce(Pending<S>, &Inner<S>) -> W,
    ) -> Result<(Version, R, W), PublishError<StateOf<S>>> {
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
        let delivered = inner.subscribers.deliver(&item);
        drop(guard);
        // Foreign code (a displaced state's drop) and wake-ups run after
        // the lock: here, or when the caller drops its `Wakeups`.
        // An item with no drop (a plain-data snapshot, copied by value) is
        // not carried: moving it costs a copy of the whole state.
        let item = if std::mem::needs_drop::<ItemOf<S>>() {
            Some(item)
        } else {
            None
        };
        let pending = Pending {
            displaced,
            item,
            delivered,
        };
        Ok((version, noted, then(pending, inner)))
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
        if let Some((cleared, pending)) = self.reset_inner(clear) {
            drop(cleared);
            pending.run(&self.inner);
        }
    }

    /// [`reset`](Self::reset), except that the wake-ups are left to the
    /// caller, as [`publish_at_version_deferred`](Self::publish_at_version_deferred)
    /// leaves them: the buffer is reset (versions restart, the history is
    /// empty, subscriptions are ended) when this returns, but waiters and
    /// the ended subscriptions' consumers are woken, and the dropped
    /// snapshots dropped, only when the returned [`Wakeups`] is dropped.
    /// For a caller that resets under a lock of its own.
    ///
    /// ```
    /// use rtstate::{SlotRing, Source};
    /// let ring = SlotRing::<u64>::new(8)?;
    /// ring.publish(1, Source::intern("remote")).unwrap();
    /// let wakeups = ring.reset_deferred();
    /// assert_eq!((ring.version(), ring.history().len()), (0, 0));
    /// drop(wakeups);
    /// # Ok::<(), rtstate::Error>(())
    /// ```
    pub fn reset_deferred(&self) -> Wakeups<S> {
        let pending = self.reset_inner(|| ()).map(|((), pending)| pending);
        Wakeups {
            buffer: self.clone(),
            pending: pending.map(Deferred::Reset),
        }
    }

    /// The one reset; `None` where this process may not write the storage.
    /// Returns, with the writer lock released, what `clear` returned and
    /// what is left to do (see [`ResetPending::run`]).
    fn reset_inner<R>(&self, clear: impl FnOnce() -> R) -> Option<(R, ResetPending<S>)> {
        let inner = &*self.inner;
        if inner.storage.claim_writer().is_err() {
            // A shared buffer another process writes: only its writer resets.
            return None;
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
        Some((cleared, ResetPending { displaced, ended }))
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

/// What a publish leaves to do once the writer lock is released: drop what
/// the write displaced and the writer's own reference to the snapshot (an
/// `Arc` whose last reference may hold a Python object), then wake the
/// buffer's waiters and the subscriptions delivered to. All of it may run
/// foreign code (finalizers, wakers): call [`run`](Self::run) holding no
/// lock. Allocates nothing.
struct Pending<S: Storage> {
    displaced: <S::Slots as Slots>::Displaced,
    /// The writer's reference to the snapshot; `None` where dropping it
    /// does nothing (plain data).
    item: Option<ItemOf<S>>,
    delivered: Delivered<S::Slots>,
}

impl<S: Storage> Pending<S> {
    /// Drops, then wakes (in the order every publish always has).
    #[inline(always)]
    fn run(self, inner: &Inner<S>) {
        let Pending {
            displaced,
            item,
            delivered,
        } = self;
        drop(displaced);
        drop(item);
        inner.notifier.notify();
        // A futex wake where the storage is shared (a syscall, no foreign
        // code), nothing otherwise.
        inner.storage.notify_shared();
        delivered.notify();
    }
}

/// What a reset leaves to do once the writer lock is released: drop the
/// snapshots it cleared, wake the subscriptions it ended and the buffer's
/// waiters. Call [`run`](Self::run) holding no lock.
struct ResetPending<S: Storage> {
    displaced: Vec<<S::Slots as Slots>::Displaced>,
    ended: Ended<S::Slots>,
}

impl<S: Storage> ResetPending<S> {
    #[inline]
    fn run(self, inner: &Inner<S>) {
        let ResetPending { displaced, ended } = self;
        drop(displaced);
        ended.wake();
        inner.notifier.notify();
        inner.storage.notify_shared();
    }
}

/// A deferred publish's or reset's work.
enum Deferred<S: Storage> {
    Publish(Pending<S>),
    Reset(ResetPending<S>),
}

/// The wake-ups of a publish made by
/// [`publish_at_version_deferred`](GenericBuffer::publish_at_version_deferred)
/// (or of a [`reset_deferred`](GenericBuffer::reset_deferred)), run when
/// this is dropped (or by [`wake`](Self::wake)): the buffer's blocked and
/// async waiters and the consumers of the subscriptions the snapshot was
/// delivered to (or that the reset ended) are woken, and what the write
/// displaced is dropped. Until then the snapshot is published (a read sees
/// it, a subscription's `try_recv` takes it) but nobody waiting for it is
/// woken.
///
/// Drop it holding no lock: it runs wakers and may drop a state (foreign
/// code). Dropping it soon is the caller's duty: waiters sleep until then
/// (a timed wait may time out first).
#[must_use = "dropping it at once wakes under whatever lock the caller holds: drop it after releasing the lock"]
pub struct Wakeups<S: Storage> {
    buffer: GenericBuffer<S>,
    /// `None` once run (or for a reset this process may not make).
    pending: Option<Deferred<S>>,
}

impl<S: Storage> Wakeups<S> {
    /// Runs the wake-ups now (the same as dropping this).
    #[inline]
    pub fn wake(self) {
        drop(self);
    }
}

impl<S: Storage> Drop for Wakeups<S> {
    #[inline]
    fn drop(&mut self) {
        match self.pending.take() {
            Some(Deferred::Publish(pending)) => pending.run(&self.buffer.inner),
            Some(Deferred::Reset(pending)) => pending.run(&self.buffer.inner),
            None => {}
        }
    }
}

impl<S: Storage> std::fmt::Debug for Wakeups<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wakeups")
            .field("buffer", &self.buffer)
            .field("pending", &self.pending.is_some())
            .finish()
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

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::notify::WaitKey;
    use crate::sync::AtomicUsize;
    use std::task::{Context, Poll, Wake, Waker};

    #[derive(Default)]
    struct CountingWaker(AtomicUsize);
    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    impl CountingWaker {
        fn woken(&self) -> usize {
            self.0.load(Ordering::SeqCst)
        }
    }

    /// A buffer waiter and a subscription's consumer, both waiting
    /// (registered wakers), are woken by a deferred publish only when its
    /// wake-ups are dropped, though the snapshot is visible before that.
    #[test]
    fn deferred_publish_wakes_only_when_the_wakeups_are_dropped() {
        let ring = SlotRing::<u64>::new(4).unwrap();
        let source = Source::intern("deferred-test");
        let sub = ring.subscribe(4, Policy::DropOldest).unwrap();

        let sub_waker = Arc::new(CountingWaker::default());
        let waker = Waker::from(sub_waker.clone());
        let mut cx = Context::from_waker(&waker);
        assert!(sub.poll_recv(&mut cx).is_pending());

        let buffer_waker = Arc::new(CountingWaker::default());
        let mut key = WaitKey::default();
        let ready = || (ring.version() > 0).then_some(());
        let registered =
            ring.inner
                .notifier
                .register(&Waker::from(buffer_waker.clone()), &mut key, ready);
        assert_eq!(registered, None);
        assert_eq!(ring.statistics().waiting, 2);

        let (version, wakeups) = ring.publish_at_version_deferred(7, source, 5).unwrap();
        // Published: readers see it and the subscription holds it...
        assert_eq!(version, 5);
        assert_eq!(ring.latest().map(|s| (s.version, s.state)), Some((5, 7)));
        assert_eq!(sub.len(), 1);
        // ...but nobody was woken.
        assert_eq!((sub_waker.woken(), buffer_waker.woken()), (0, 0));

        drop(wakeups);
        assert_eq!((sub_waker.woken(), buffer_waker.woken()), (1, 1));
        assert_eq!(ring.statistics().waiting, 0);
        match sub.poll_recv(&mut cx) {
            Poll::Ready(Ok(s)) => assert_eq!((s.version, s.state), (5, 7)),
            other => panic!("expected the snapshot, got {other:?}"),
        }
        ring.inner.notifier.deregister(&mut key);
    }

    /// `wake()` runs the wake-ups once; a refused deferred publish changes
    /// nothing and hands the state back.
    #[test]
    fn deferred_publish_wake_and_refusal() {
        let ring = SlotRing::<u64>::new(4).unwrap();
        let source = Source::intern("deferred-test");
        let woken = Arc::new(CountingWaker::default());
        let mut key = WaitKey::default();
        let ready = || (ring.version() > 0).then_some(());
        let _ = ring
            .inner
            .notifier
            .register(&Waker::from(woken.clone()), &mut key, ready);
        let (_, wakeups) = ring.publish_at_version_deferred(1, source, 2).unwrap();
        assert_eq!(woken.woken(), 0);
        wakeups.wake();
        assert_eq!(woken.woken(), 1);
        let err = ring.publish_at_version_deferred(9, source, 2).unwrap_err();
        assert_eq!(
            (err.error, err.state),
            (
                Error::VersionNotNewer {
                    version: 2,
                    latest: 2
                },
                9
            )
        );
        assert_eq!(ring.version(), 2);
        ring.inner.notifier.deregister(&mut key);
    }

    /// A deferred reset has reset the buffer and ended its subscriptions
    /// when it returns, and wakes their consumers and the buffer's waiters
    /// only when its wake-ups are dropped.
    #[test]
    fn deferred_reset_wakes_only_when_the_wakeups_are_dropped() {
        let ring = SlotRing::<u64>::new(4).unwrap();
        let source = Source::intern("deferred-test");
        ring.publish(1, source).unwrap();
        let sub = ring.subscribe(4, Policy::DropOldest).unwrap();
        let sub_waker = Arc::new(CountingWaker::default());
        let waker = Waker::from(sub_waker.clone());
        let mut cx = Context::from_waker(&waker);
        assert!(sub.poll_recv(&mut cx).is_pending());
        let buffer_waker = Arc::new(CountingWaker::default());
        let mut key = WaitKey::default();
        let epoch = ring.epoch();
        let ready = || (ring.epoch() != epoch).then_some(());
        let registered =
            ring.inner
                .notifier
                .register(&Waker::from(buffer_waker.clone()), &mut key, ready);
        assert_eq!(registered, None);

        let wakeups = ring.reset_deferred();
        assert_eq!((ring.version(), ring.history().len()), (0, 0));
        assert!(sub.is_closed());
        assert_eq!((sub_waker.woken(), buffer_waker.woken()), (0, 0));
        drop(wakeups);
        assert_eq!((sub_waker.woken(), buffer_waker.woken()), (1, 1));
        assert!(matches!(
            sub.poll_recv(&mut cx),
            Poll::Ready(Err(Error::Closed))
        ));
        ring.inner.notifier.deregister(&mut key);
    }

    /// What a deferred publish displaces (here a state's last reference,
    /// whose drop is foreign code) is dropped with the wake-ups, not before.
    #[test]
    fn deferred_publish_drops_the_displaced_state_with_the_wakeups() {
        let buffer = StateBuffer::<Arc<()>>::with_slots(1, DEFAULT_SLOTS).unwrap();
        let source = Source::intern("deferred-test");
        let first = Arc::new(());
        buffer.publish(Arc::clone(&first), source).unwrap();
        for _ in 2..=buffer.slots() as u64 {
            buffer.publish(Arc::new(()), source).unwrap();
        }
        // The next publish overwrites the first's slot.
        let (_, wakeups) = buffer
            .publish_at_version_deferred(Arc::new(()), source, buffer.slots() as u64 + 1)
            .unwrap();
        assert_eq!(Arc::strong_count(&first), 2, "dropped before the wake-ups");
        drop(wakeups);
        assert_eq!(Arc::strong_count(&first), 1);
    }
}
