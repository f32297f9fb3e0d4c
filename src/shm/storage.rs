//! [`Mapped<T>`]: the shared-memory [`Storage`], the third storage of
//! [`GenericBuffer`](crate::GenericBuffer) beside the two in-process ones:
//! its [`Header`] (sequence words, read counters) and its stamped slots are
//! in the buffer's file, so `GenericBuffer<Mapped<T>>` (alias
//! [`SharedRing<T>`](super::SharedRing)) is the same buffer — publish,
//! reads, history, readers, staleness, reset, statistics — across
//! processes. Its hooks take the file's writer lock on the first publish,
//! wake waiters of every process through the futex, and share the closed
//! flag.
//!
//! [`MappedSlots<T>`] implements [`Slots`] on the slot words with the
//! crate's one stamped-slot protocol (`storage/stamped.rs`). The same type also backs the in-process
//! subscription queues of a shared buffer (on heap words, through
//! `Slots::with_len`).

use super::region::{Region, SourceNames};
use crate::snapshot::Snapshot;
use crate::storage::stamped;
use crate::storage::{check_len, Header, Seq, Slots, Storage};
use crate::sync::{lock, Mutex, Ordering};
use crate::{Error, Source};
use bytemuck::Pod;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicU64}; // shim-exempt: words of the mapped file (or their heap twin for queues); see shm/map.rs
use std::sync::Arc;
use std::time::Duration;

/// Words per slot for a state of `T`, rounded to a cache line.
const fn slot_words<T>() -> usize {
    stamped::slot_words(std::mem::size_of::<T>())
}

enum Words {
    /// Slots in the buffer's file (the region, and where slot 0 starts in
    /// its words).
    Mapped(Arc<Region>, usize),
    /// Slots on the heap (subscription queues of a shared buffer).
    Heap(Box<[AtomicU64]>),
}

/// `K` stamped slots of `T` on words of the mapping (or the heap).
pub struct MappedSlots<T> {
    words: Words,
    len: usize,
    /// Source names, by index in the header's table, interned once.
    sources: SourceNames,
    /// The writer's last source and its index in the table.
    last_source: Mutex<Option<(Source, u32)>>,
    _state: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for MappedSlots<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MappedSlots")
            .field("len", &self.len)
            .finish()
    }
}

impl<T: Pod + Send + Sync> MappedSlots<T> {
    fn mapped(region: Arc<Region>) -> Self {
        let len = region.geometry().slots;
        let first = region.geometry().header_size / 8;
        Self::with_words(Words::Mapped(region, first), len)
    }

    fn with_words(words: Words, len: usize) -> Self {
        MappedSlots {
            words,
            len,
            sources: Default::default(),
            last_source: Mutex::new(None),
            _state: PhantomData,
        }
    }

    #[inline(always)]
    fn slot(&self, index: usize) -> &[AtomicU64] {
        let n = slot_words::<T>();
        let (words, first) = match &self.words {
            Words::Mapped(region, first) => (region.words(), *first),
            Words::Heap(words) => (&words[..], 0),
        };
        let start = first + index * n;
        &words[start..start + n]
    }

    /// The header-table index of `source` (queues keep the process id).
    fn source_index(&self, source: Source) -> u32 {
        let Words::Mapped(region, _) = &self.words else {
            return bytemuck::cast(source);
        };
        let mut last = lock(&self.last_source);
        match *last {
            Some((s, index)) if s == source => index,
            _ => {
                let index = region.source_index(source.as_str()).unwrap_or(u32::MAX);
                *last = Some((source, index));
                index
            }
        }
    }

    #[inline(always)]
    fn source(&self, index: u32) -> Source {
        match &self.words {
            Words::Mapped(region, _) => self.sources.get(region, index),
            Words::Heap(_) => bytemuck::cast(index),
        }
    }
}

impl<T: Pod + Send + Sync> Slots for MappedSlots<T> {
    type State = T;
    type Item = Snapshot<T>;
    type Displaced = ();

    /// Heap slots (a subscription queue of a shared buffer).
    fn with_len(len: usize) -> Result<Self, Error> {
        check_len(len, Self::slot_bytes())?;
        let words = (0..len * slot_words::<T>())
            .map(|_| AtomicU64::new(0))
            .collect();
        Ok(Self::with_words(Words::Heap(words), len))
    }

    #[inline]
    fn len(&self) -> usize {
        self.len
    }

    fn slot_bytes() -> usize {
        slot_words::<T>() * 8
    }

    #[inline]
    fn wrap(snapshot: Snapshot<T>) -> Snapshot<T> {
        snapshot
    }

    #[inline]
    fn write(&self, index: usize, seq: Seq, item: &Snapshot<T>) {
        let source = self.source_index(item.source);
        stamped::write_snapshot(self.slot(index), seq, item, source);
    }

    /// Inlined always, as the in-process slots' read is: the snapshot is
    /// returned by value, and an out-of-line call copies it once more.
    #[inline(always)]
    fn read(&self, index: usize, seq: Seq) -> Option<Snapshot<T>> {
        stamped::read_snapshot(self.slot(index), seq, |s| self.source(s))
    }

    fn clear(&self) -> Vec<()> {
        // Sequence numbers go on across a reset, so old stamps can never
        // match a sequence asked for: nothing to clear in the file. Queues
        // are emptied the same way (their stamps are never asked for again).
        Vec::new()
    }
}

/// The shared-memory storage: the mapped file's header and slots, and the
/// hooks that make a [`GenericBuffer`](crate::GenericBuffer) on it work
/// across processes.
pub struct Mapped<T> {
    region: Arc<Region>,
    slots: MappedSlots<T>,
    row: Option<super::region::Row>,
    /// Whether this handle took the file's writer lock (the fast check;
    /// `claiming` serialises the first claim among this handle's threads).
    writer: AtomicBool,
    claiming: Mutex<()>,
}

impl<T> std::fmt::Debug for Mapped<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mapped")
            .field("name", &self.region.name())
            .finish()
    }
}

impl<T: Pod + Send + Sync> Mapped<T> {
    /// The storage of a mapped, validated buffer file (whose layout the
    /// caller has checked against `T`).
    pub(crate) fn new(region: Region) -> Self {
        let region = Arc::new(region);
        let row = region.claim_row();
        Mapped {
            slots: MappedSlots::mapped(Arc::clone(&region)),
            region,
            row,
            writer: AtomicBool::new(false),
            claiming: Mutex::new(()),
        }
    }

    /// The mapped file.
    pub fn region(&self) -> &Region {
        &self.region
    }
}

impl<T> Drop for Mapped<T> {
    fn drop(&mut self) {
        if let Some(row) = self.row {
            self.region.release_row(row);
        }
        // ORDERING: this handle's own flag; nothing hangs on it.
        if self.writer.load(Ordering::Relaxed) {
            self.region.release_writer();
        }
    }
}

impl<T: Pod + Send + Sync> Storage for Mapped<T> {
    type Slots = MappedSlots<T>;

    #[inline(always)]
    fn header(&self) -> &Header {
        self.region.header()
    }

    #[inline]
    fn slots(&self) -> &MappedSlots<T> {
        &self.slots
    }

    fn kind() -> &'static str {
        "SharedRing"
    }

    #[inline]
    fn claim_writer(&self) -> Result<(), Error> {
        // ORDERING: Acquire; pairs with the Release below (a thread that
        // sees the flag sees the claim's writes to the lock word).
        if self.writer.load(Ordering::Acquire) {
            return Ok(());
        }
        let _claiming = lock(&self.claiming);
        // ORDERING: under `claiming`, as above.
        if !self.writer.load(Ordering::Acquire) {
            self.region.take_writer()?;
            // ORDERING: Release; pairs with the Acquire loads above.
            self.writer.store(true, Ordering::Release);
        }
        Ok(())
    }

    #[inline]
    fn notify_shared(&self) {
        self.region.notify();
    }

    fn wait_shared<R>(
        &self,
        ready: &mut dyn FnMut() -> Option<R>,
        timeout: Option<Duration>,
    ) -> Option<Option<R>> {
        Some(self.region.wait_until(self.row, ready, timeout))
    }

    fn close_shared(&self) {
        self.region.close();
    }

    #[inline]
    fn is_closed_shared(&self) -> bool {
        self.region.is_closed()
    }
}
