//! Storage: where a buffer keeps its snapshots and its shared words.
//!
//! The bottom layer of the crate. A buffer
//! ([`GenericBuffer`](crate::GenericBuffer)) is written
//! once over a [`Storage`], which owns
//! - the [`Header`]: the sequence words (`latest`, `base`, `resets`) and the
//!   counters that every process reading the buffer adds to, all plain
//!   atomics in a `#[repr(C)]` struct, so that a storage may place it in a
//!   memory-mapped file;
//! - the slots ([`Slots`]): `K` stamped slots addressed by sequence number.
//!
//! Two slot kinds exist: [`PodSlots`] copies plain-data snapshots through
//! atomic words (a publish allocates nothing), [`ArcSlots`] shares
//! `Arc<Snapshot<T>>` of any `T`. Subscription queues use the same slots.
//!
//! # Sequence numbers, versions and stamps
//!
//! Every publish takes the next *sequence number* `seq` (1, 2, …) of the
//! storage, which nothing ever resets: a stamp (`seq << 1`, or
//! `seq << 1 | 1` while being written) is never reused for the life of the
//! storage, so a reader still copying a slot across a reset can never
//! validate a mix of two states. A reset stores `base = latest`; the public
//! version of a publish is `seq - base`, so versions restart at 1 after a
//! reset, and the buffer is empty while `latest == base`.
//!
//! # The slot protocol
//!
//! Write of `seq` into a slot (writers are serialised by the caller):
//! 1. store the stamp `seq << 1 | 1` (writing);
//! 2. `fence(Release)`;
//! 3. store the snapshot (every word `Relaxed`, or one `Arc` swap);
//! 4. store the stamp `seq << 1` with `Release`.
//!
//! Read of `seq` from a slot:
//! 1. load the stamp with `Acquire`; unless it is `seq << 1`, give up;
//! 2. load the snapshot (every word `Relaxed`, or one `Arc` load);
//! 3. `fence(Acquire)`;
//! 4. load the stamp again; unless it is unchanged, give up (torn).
//!
//! Read step 1 (`Acquire`) synchronises with write step 4 (`Release`) of
//! the same `seq`: every word stored in write step 3 is visible. If any word
//! loaded in read step 2 came from a *later* write, that write's step-2
//! `Release` fence and the read's step-3 `Acquire` fence synchronise
//! through the word, so the later write's step 1 happens before read step 4,
//! which then sees a different stamp and rejects the copy: the seqlock
//! argument of H.-J. Boehm, "Can seqlocks get along with programming
//! language memory models?" (MSPC 2012), applied per slot. All payload
//! accesses are atomic, so there is no data race in Rust's memory model.
//!
//! The plain-data form of this protocol is written once, in `stamped.rs`,
//! over any slot's words (a trait giving word `w` of a slot): the heap
//! slots ([`PodSlots`]) and the slots of a mapped file (`shm`) both call it.
//!
//! # A third storage
//!
//! A storage in shared memory implements [`Storage`] with its header and
//! its slots in the mapping: `header()` returns a reference into the
//! mapping, and its slots implement [`Slots`] over mapped words with the
//! same `stamped` functions. The buffer never keeps a sequence word of its own.
//! [`crate::shm::Mapped`] is that storage.

mod arc;
mod pod;
pub(crate) mod stamped;

pub use arc::ArcSlots;
pub use pod::PodSlots;
pub use stamped::SlotMeta;

use crate::snapshot::Snapshot;
use crate::sync::{AtomicU64, Ordering};
use crate::Error;
use crossbeam_utils::CachePadded;
use std::borrow::Borrow;

/// A sequence number: 1 for a storage's first publish, +1 per publish, never
/// reset (see the module docs).
pub type Seq = u64;

/// The largest sequence number a publish may take: stamps are `seq << 1`
/// (with a low bit while writing), so a sequence number must fit in 63
/// bits; a publish at a chosen version
/// ([`GenericBuffer::publish_at_version`](crate::GenericBuffer::publish_at_version))
/// may not go past this one, which leaves 2^62 ordinary publishes after it.
pub const MAX_SEQ: Seq = 1 << 62;

/// The most slots (or queue entries) one storage may hold.
pub const MAX_SLOTS: usize = 1 << 20;

/// The most bytes one storage's slots may take (256 MiB), checked before
/// anything is allocated.
pub const MAX_STORAGE_BYTES: usize = 256 << 20;

/// Stripes of the read counter: each thread adds to its own cache line.
pub const READ_STRIPES: usize = 16;

/// The words a buffer shares between its writer and all its readers,
/// besides the slots. Plain atomics only (no pointers), `#[repr(C)]`, so
/// that it can live in a mapped file.
#[repr(C)]
#[derive(Debug)]
pub struct Header {
    /// The sequence words, on one cache line: read together on every read.
    seq: CachePadded<SeqWords>,
    /// Reads counted by `latest()` and the freshness checks, one stripe per
    /// thread group.
    reads: [CachePadded<AtomicU64>; READ_STRIPES],
    /// Statistics written rarely.
    counters: CachePadded<Counters>,
}

#[repr(C)]
#[derive(Debug)]
struct SeqWords {
    /// The sequence number of the latest complete publish (0: none ever).
    latest: AtomicU64,
    /// `latest` at the last reset: the buffer is empty while
    /// `latest == base`; a publish's version is `seq - base`.
    base: AtomicU64,
}

#[repr(C)]
#[derive(Debug)]
struct Counters {
    /// Resets so far.
    resets: AtomicU64,
    /// Reads that found only a state older than asked for.
    stale_reads: AtomicU64,
    /// Reads and lost versions that reader handles moved here (every few
    /// hundred reads, and the rest when dropped).
    retired_reads: AtomicU64,
    retired_lost: AtomicU64,
    /// Versions this epoch skipped: publishes at a chosen version
    /// ([`GenericBuffer::publish_at_version`](crate::GenericBuffer::publish_at_version))
    /// past `latest + 1` leave their sequence numbers unwritten. Within the
    /// cache line the counters already take, so the header's size (and a
    /// shared file's layout) is unchanged.
    skipped: AtomicU64,
}

impl Default for Header {
    fn default() -> Self {
        Header {
            seq: CachePadded::new(SeqWords {
                latest: AtomicU64::new(0),
                base: AtomicU64::new(0),
            }),
            reads: std::array::from_fn(|_| CachePadded::new(AtomicU64::new(0))),
            counters: CachePadded::new(Counters {
                resets: AtomicU64::new(0),
                stale_reads: AtomicU64::new(0),
                retired_reads: AtomicU64::new(0),
                retired_lost: AtomicU64::new(0),
                skipped: AtomicU64::new(0),
            }),
        }
    }
}

/// `(base, latest)` loaded as a consistent pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Words {
    pub(crate) base: Seq,
    pub(crate) latest: Seq,
}

impl Words {
    /// The public version of the latest publish (0 when empty).
    #[inline]
    pub(crate) fn version(self) -> u64 {
        self.latest - self.base
    }
}

impl Header {
    /// The latest sequence number (`Acquire`: its slot write is visible).
    #[inline]
    pub(crate) fn latest(&self) -> Seq {
        // ORDERING: Acquire; pairs with the Release store in `set_latest`: a
        // reader that sees `seq` finds the write of `seq` complete.
        self.seq.latest.load(Ordering::Acquire)
    }

    /// The base of the current epoch, as seen after a load of `latest`.
    #[inline]
    pub(crate) fn base_after_latest(&self) -> Seq {
        // ORDERING: Relaxed; loaded after the Acquire load of `latest`. Any
        // value seen is a base at some moment since that load: if it is at
        // least the loaded `latest`, a reset happened (the buffer was empty
        // at that moment); otherwise the loaded `latest` is of this epoch.
        self.seq.base.load(Ordering::Relaxed)
    }

    /// `base` and `latest` as a consistent pair (retried across a reset).
    #[inline]
    pub(crate) fn words(&self) -> Words {
        loop {
            // ORDERING: Acquire; pairs with the Release store in `reset`, so
            // that `latest` loaded next is at least this base.
            let base = self.seq.base.load(Ordering::Acquire);
            let latest = self.latest();
            // ORDERING: Relaxed after the Acquire load of `latest`: an
            // unchanged base means no reset between the two loads.
            if self.seq.base.load(Ordering::Relaxed) == base {
                return Words { base, latest };
            }
            crate::sync::spin_hint();
        }
    }

    /// Writer side (writers serialised): the pair as the writer knows it.
    #[inline]
    pub(crate) fn words_for_writer(&self) -> Words {
        // ORDERING: only serialised writers store these words.
        Words {
            base: self.seq.base.load(Ordering::Relaxed),
            latest: self.seq.latest.load(Ordering::Relaxed),
        }
    }

    /// Writer side: the sequence number and the version of the next
    /// publish.
    #[inline]
    pub(crate) fn next_publish(&self) -> (Seq, u64) {
        let words = self.words_for_writer();
        let seq = words.latest + 1;
        (seq, seq - words.base)
    }

    /// Writer side: the sequence number of a publish at `version`, which
    /// must be newer than the latest ([`Error::VersionNotNewer`]) and leave
    /// the sequence number at most [`MAX_SEQ`]
    /// ([`Error::InvalidArgument`]); with the versions it skips (counted
    /// by [`count_skipped`](Self::count_skipped) once the publish is made).
    /// Nothing is written here: a refusal leaves the buffer as it was.
    #[inline]
    pub(crate) fn publish_at(&self, version: u64) -> Result<(Seq, u64), Error> {
        let words = self.words_for_writer();
        let latest = words.version();
        if version <= latest {
            return Err(Error::VersionNotNewer { version, latest });
        }
        let seq = words
            .base
            .checked_add(version)
            .filter(|&seq| seq <= MAX_SEQ)
            .ok_or_else(|| Error::InvalidArgument {
                name: "version",
                reason: format!(
                    "{version} is too large (this epoch's versions end at {})",
                    MAX_SEQ - words.base
                ),
            })?;
        Ok((seq, version - latest - 1))
    }

    /// Writer side: `n` versions were skipped by a publish at a chosen
    /// version (see [`publish_at`](Self::publish_at)); called before the
    /// publish's `set_latest`.
    #[inline]
    pub(crate) fn count_skipped(&self, n: u64) {
        if n > 0 {
            // ORDERING: a statistic; only serialised writers add to it.
            self.counters.skipped.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Versions of this epoch skipped by publishes at a chosen version
    /// (never published here): the epoch's publishes are its latest version
    /// less these.
    #[inline]
    pub(crate) fn skipped(&self) -> u64 {
        // ORDERING: a statistic.
        self.counters.skipped.load(Ordering::Relaxed)
    }

    /// The latest complete publish, as `read` copies it from its slot
    /// (`None` from `read`: the slot was rewritten during the copy); `None`
    /// when the buffer is empty. A writer that laps the ring during the copy
    /// has published a newer state, which the retry takes. Every buffer,
    /// typed or of run-time layout, reads its latest state through this.
    #[inline(always)]
    pub(crate) fn load_latest<R>(
        &self,
        mut read: impl FnMut(Seq, Seq) -> Option<R>,
    ) -> Option<(Seq, R)> {
        loop {
            let seq = self.latest();
            let base = self.base_after_latest();
            if seq <= base {
                return None;
            }
            if let Some(item) = read(seq, base) {
                return Some((seq, item));
            }
            crate::sync::spin_hint();
        }
    }

    /// The sequence numbers of the snapshots held (the last `capacity` of
    /// the current epoch, oldest first) and the epoch's base.
    pub(crate) fn held(&self, capacity: usize) -> (Seq, std::ops::RangeInclusive<Seq>) {
        let words = self.words();
        let held = (capacity as u64).min(words.version());
        (words.base, words.latest - held + 1..=words.latest)
    }

    /// Writer side: `seq` is complete and is now the latest.
    #[inline]
    pub(crate) fn set_latest(&self, seq: Seq) {
        // ORDERING: Release; pairs with the Acquire in `latest`. The
        // publisher's `Notifier::notify` then issues the SeqCst fence of the
        // wake-up handshake.
        self.seq.latest.store(seq, Ordering::Release);
    }

    /// Writer side: starts a new epoch at the latest sequence number.
    pub(crate) fn reset(&self) {
        let latest = self.words_for_writer().latest;
        // ORDERING: Release; pairs with the Acquire in `words`.
        self.seq.base.store(latest, Ordering::Release);
        // ORDERING: a count; read with `Acquire` by `resets` so a reader
        // that sees it sees the new base.
        self.counters.resets.fetch_add(1, Ordering::Release);
        for r in &self.reads {
            // ORDERING: statistics.
            r.store(0, Ordering::Relaxed);
        }
        // ORDERING: statistics.
        self.counters.stale_reads.store(0, Ordering::Relaxed);
        self.counters.retired_reads.store(0, Ordering::Relaxed);
        self.counters.retired_lost.store(0, Ordering::Relaxed);
        self.counters.skipped.store(0, Ordering::Relaxed);
    }

    /// Resets so far.
    #[inline]
    pub(crate) fn resets(&self) -> u64 {
        // ORDERING: Acquire; pairs with the Release increment in `reset`.
        self.counters.resets.load(Ordering::Acquire)
    }

    /// Counts one read on this thread's stripe: a load and a store, not a
    /// read-modify-write (no locked instruction on the read path). Exact
    /// while at most [`READ_STRIPES`] threads read a buffer's `latest` at
    /// once (each has its own stripe); beyond that two threads may share a
    /// stripe and lose an increment now and then: a statistic, not a
    /// protocol.
    #[inline]
    pub(crate) fn count_read(&self) {
        let stripe = &self.reads[stripe_index()];
        // ORDERING: a statistic; no memory hangs on it.
        stripe.store(stripe.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }

    /// Counts one stale read.
    pub(crate) fn count_stale(&self) {
        // ORDERING: a statistic.
        self.counters.stale_reads.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds a reader handle's counts to the totals (every few hundred reads
    /// and when it is dropped), where every process sees them.
    pub(crate) fn retire_reader(&self, reads: u64, lost: u64) {
        // ORDERING: statistics.
        self.counters
            .retired_reads
            .fetch_add(reads, Ordering::Relaxed);
        // ORDERING: statistics.
        self.counters
            .retired_lost
            .fetch_add(lost, Ordering::Relaxed);
    }

    /// `(reads, stale reads, retired readers' reads, retired readers' lost)`.
    pub(crate) fn counts(&self) -> (u64, u64, u64, u64) {
        // ORDERING: statistics, summed without a snapshot of all words.
        let reads = self.reads.iter().map(|s| s.load(Ordering::Relaxed)).sum();
        let c = &self.counters;
        (
            reads,
            // ORDERING: statistics.
            c.stale_reads.load(Ordering::Relaxed),
            c.retired_reads.load(Ordering::Relaxed),
            c.retired_lost.load(Ordering::Relaxed),
        )
    }
}

#[inline]
fn stripe_index() -> usize {
    use std::cell::Cell;
    use std::sync::atomic::AtomicUsize as StdAtomicUsize; // shim-exempt: a per-thread stripe number, not shared data
    static NEXT: StdAtomicUsize = StdAtomicUsize::new(0);
    std::thread_local! {
        // `usize::MAX` until the thread's first read (a const initialiser:
        // no lazy-init registration on each access).
        static INDEX: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    INDEX.with(|i| {
        let index = i.get();
        if index != usize::MAX {
            return index;
        }
        // ORDERING: a thread-unique number; nothing else hangs on it.
        let index = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % READ_STRIPES; // shim-exempt: as above
        i.set(index);
        index
    })
}

/// `K` stamped slots addressed by index and validated by sequence number
/// (see the module docs for the protocol). Used by buffers and by
/// subscription queues.
pub trait Slots: Send + Sync + Sized + 'static {
    /// The state type.
    type State;
    /// What a read returns: `Snapshot<T>` by value, or `Arc<Snapshot<T>>`.
    type Item: Clone + Borrow<Snapshot<Self::State>>;
    /// What a write displaces: nothing for plain data, the previous `Arc`
    /// otherwise. The caller drops it after releasing its locks (a drop may
    /// run foreign code, such as a Python finalizer).
    type Displaced;

    /// `len` empty slots (`1 ..= MAX_SLOTS`, and at most
    /// [`MAX_STORAGE_BYTES`]); checked before anything is allocated.
    fn with_len(len: usize) -> Result<Self, Error>;
    /// The number of slots.
    fn len(&self) -> usize;
    /// Whether there are no slots (never, once built).
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Bytes one slot takes.
    fn slot_bytes() -> usize;
    /// Wraps a snapshot into what the slots hold (an `Arc` allocation for
    /// [`ArcSlots`], nothing for [`PodSlots`]).
    fn wrap(snapshot: Snapshot<Self::State>) -> Self::Item;
    /// Writes `item` as sequence `seq` (≥ 1) into slot `index`; returns what
    /// it displaced. Callers serialise writers.
    fn write(&self, index: usize, seq: Seq, item: &Self::Item) -> Self::Displaced;
    /// Reads slot `index` if it holds the complete write of `seq`.
    fn read(&self, index: usize, seq: Seq) -> Option<Self::Item>;
    /// Calls `f` on slot `index`'s snapshot, if it holds the complete write
    /// of `seq`, without cloning an `Arc` (only [`ArcSlots`] differs from
    /// `read`).
    fn with<R>(
        &self,
        index: usize,
        seq: Seq,
        f: impl FnOnce(&Snapshot<Self::State>) -> R,
    ) -> Option<R> {
        self.read(index, seq).map(|item| f(item.borrow()))
    }
    /// Empties every slot; returns what it displaced, for the caller to drop
    /// after its locks.
    fn clear(&self) -> Vec<Self::Displaced>;
}

/// Where a buffer keeps its [`Header`] and its [`Slots`].
pub trait Storage: Send + Sync + 'static {
    /// The slots.
    type Slots: Slots;
    /// The shared words.
    fn header(&self) -> &Header;
    /// The slots (a power of two of them).
    fn slots(&self) -> &Self::Slots;
    /// The name the manager's table shows for a buffer on this storage
    /// (`SlotRing`, `StateBuffer`).
    fn kind() -> &'static str;

    // Hooks for a storage shared between processes (`crate::shm`); the
    // in-process storage keeps the defaults, which cost nothing.

    /// Called by a publish and a reset before the writer lock: a shared
    /// storage admits one writing process (an error names the holder).
    #[inline]
    fn claim_writer(&self) -> Result<(), Error> {
        Ok(())
    }
    /// Called after a publish, a reset and a close: wakes waiters in other
    /// processes.
    #[inline]
    fn notify_shared(&self) {}
    /// Blocks until `ready` returns `Some` (then `Some(Some(r))`) or
    /// `timeout` passes (`Some(None)`) for a storage that other processes
    /// write; `None`: the buffer waits on its in-process notifier.
    #[inline]
    fn wait_shared<R>(
        &self,
        ready: &mut dyn FnMut() -> Option<R>,
        timeout: Option<std::time::Duration>,
    ) -> Option<Option<R>> {
        let _ = (ready, timeout);
        None
    }
    /// Closes the storage for every process.
    #[inline]
    fn close_shared(&self) {}
    /// Whether another process closed the storage.
    #[inline]
    fn is_closed_shared(&self) -> bool {
        false
    }
}

/// A storage in this process's heap: a header and `K` slots.
#[derive(Debug)]
pub struct InProcess<S> {
    header: Header,
    slots: S,
}

impl<S: Slots> InProcess<S> {
    /// A header and `k` slots (`k` a power of two, `2 ..= MAX_SLOTS`).
    pub(crate) fn new(k: usize) -> Result<Self, Error> {
        Ok(InProcess {
            header: Header::default(),
            slots: S::with_len(k)?,
        })
    }
}

/// Names a slot kind for the manager's table.
pub trait SlotsKind {
    /// `SlotRing` or `StateBuffer`.
    const KIND: &'static str;
}

impl<S: Slots + SlotsKind> Storage for InProcess<S> {
    type Slots = S;
    #[inline]
    fn header(&self) -> &Header {
        &self.header
    }
    #[inline]
    fn slots(&self) -> &S {
        &self.slots
    }
    fn kind() -> &'static str {
        S::KIND
    }
}

/// The item of `items` whose timestamp is nearest `time`, and whether it is
/// within `max_age` of it (a read, else a stale read); `None` if `items` is
/// empty. `state_at` of every buffer.
pub(crate) fn nearest<I>(
    items: Vec<I>,
    time: f64,
    max_age: std::time::Duration,
    timestamp: impl Fn(&I) -> f64,
) -> Option<(I, bool)> {
    let distance = |i: &I| (timestamp(i) - time).abs();
    let best = items
        .into_iter()
        .min_by(|a, b| distance(a).total_cmp(&distance(b)))?;
    let within = distance(&best) <= max_age.as_secs_f64();
    Some((best, within))
}

/// Checks a slot count and the bytes it would take before allocating.
pub(crate) fn check_len(len: usize, bytes_per_slot: usize) -> Result<(), Error> {
    if len == 0 || len > MAX_SLOTS {
        return Err(Error::InvalidArgument {
            name: "capacity",
            reason: format!("needs {len} slots; the most is {MAX_SLOTS}"),
        });
    }
    match len.checked_mul(bytes_per_slot) {
        Some(bytes) if bytes <= MAX_STORAGE_BYTES => Ok(()),
        _ => Err(Error::InvalidArgument {
            name: "capacity",
            reason: format!(
                "{len} slots of {bytes_per_slot} bytes exceed the most one buffer may take \
                 ({MAX_STORAGE_BYTES} bytes)"
            ),
        }),
    }
}
