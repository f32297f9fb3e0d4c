//! Stamped slots: the storage under [`SlotRing`](crate::SlotRing) and under
//! subscription queues.
//!
//! A slot holds one [`Snapshot`] and a *stamp*: `seq << 1` once the write of
//! sequence number `seq` is complete, `seq << 1 | 1` while it is being
//! written. A reader that wants sequence `seq` validates only that slot's
//! stamp, so writes to other slots never disturb it.
//!
//! # Algorithm
//!
//! Write of `seq` into a slot (writers are serialised by the caller):
//! 1. store the stamp `seq << 1 | 1` (writing);
//! 2. `fence(Release)`;
//! 3. store every word of the snapshot, `Relaxed`;
//! 4. store the stamp `seq << 1` with `Release`.
//!
//! Read of `seq` from a slot:
//! 1. load the stamp with `Acquire`; unless it is `seq << 1`, give up;
//! 2. load every word, `Relaxed`;
//! 3. `fence(Acquire)`;
//! 4. load the stamp again; unless it is unchanged, give up (torn).
//!
//! # Memory ordering
//!
//! - Read step 1 (`Acquire`) synchronises with write step 4 (`Release`) of
//!   the same `seq`: every word stored in write step 3 is visible.
//! - If any word loaded in read step 2 came from a *later* write, then that
//!   write's step-2 `Release` fence and the read's step-3 `Acquire` fence
//!   synchronise (fence-to-fence through the word), so the later write's
//!   step 1 happens before read step 4, which then sees a different stamp
//!   and rejects the copy. This is the seqlock argument of H.-J. Boehm,
//!   "Can seqlocks get along with programming language memory models?"
//!   (MSPC 2012), applied per slot.
//! - All payload accesses are atomic, so there is no data race in Rust's
//!   memory model (no `read_volatile` on plain memory).
//!
//! # Safety
//!
//! No `unsafe`: payloads are `bytemuck::Pod`, converted to and from words
//! with `bytemuck`'s safe casts; any bit pattern a torn copy could produce is
//! a valid `T`, and a torn copy is discarded anyway.

use crate::snapshot::Snapshot;
use crate::source::Source;
use crate::sync::{fence, AtomicU64, Ordering};
use arc_swap::ArcSwapOption;
use bytemuck::Pod;
use std::marker::PhantomData;
use std::sync::Arc;

const WRITING: u64 = 1;
/// Words of metadata before the state: stamp, version, timestamp,
/// published_at, published_ns, source.
const META_WORDS: usize = 6;
const WORDS_PER_LINE: usize = 8;

/// A cache line of words; slots start on line boundaries so that writing one
/// slot never invalidates the line of another.
#[repr(align(64))]
struct Line([AtomicU64; WORDS_PER_LINE]);

impl Line {
    fn new() -> Self {
        Line(std::array::from_fn(|_| AtomicU64::new(0)))
    }
}

/// Storage of `len` snapshots addressed by slot index and validated by
/// sequence number. Implemented for plain data (copied through atomic words)
/// and for `Arc` snapshots.
pub(crate) trait SlotStore: Send + Sync + 'static {
    /// What a slot holds and a read returns.
    type Item: Clone;
    /// `len` empty slots.
    fn with_len(len: usize) -> Self;
    /// Writes `item` as sequence `seq` (≥ 1) into slot `index`. Callers
    /// serialise writers.
    fn write(&self, index: usize, seq: u64, item: &Self::Item);
    /// Reads slot `index` if it holds the complete write of `seq`.
    fn read(&self, index: usize, seq: u64) -> Option<Self::Item>;
    /// Empties every slot (readers then find nothing).
    fn clear(&self);
}

/// Plain-data snapshots stored as words.
pub(crate) struct PodSlots<T> {
    lines: Box<[Line]>,
    lines_per_slot: usize,
    _state: PhantomData<fn() -> T>,
}

impl<T: Pod> PodSlots<T> {
    const STATE_WORDS: usize = std::mem::size_of::<T>().div_ceil(8);

    #[inline]
    fn word(&self, index: usize, w: usize) -> &AtomicU64 {
        let line = index * self.lines_per_slot + w / WORDS_PER_LINE;
        &self.lines[line].0[w % WORDS_PER_LINE]
    }

    #[inline]
    fn stamp(&self, index: usize) -> &AtomicU64 {
        self.word(index, 0)
    }
}

impl<T: Pod> SlotStore for PodSlots<T> {
    type Item = Snapshot<T>;

    fn with_len(len: usize) -> Self {
        let lines_per_slot = (META_WORDS + Self::STATE_WORDS).div_ceil(WORDS_PER_LINE);
        PodSlots {
            lines: (0..len * lines_per_slot).map(|_| Line::new()).collect(),
            lines_per_slot,
            _state: PhantomData,
        }
    }

    #[inline]
    fn write(&self, index: usize, seq: u64, item: &Snapshot<T>) {
        // ORDERING: Relaxed; made visible before the payload by the Release
        // fence below (write steps 1-2 in the module docs).
        self.stamp(index)
            .store(seq << 1 | WRITING, Ordering::Relaxed);
        // ORDERING: pairs with the reader's Acquire fence (read step 3).
        fence(Ordering::Release);
        // ORDERING (all payload stores): Relaxed, ordered by the fences and
        // the final Release stamp store.
        let meta = [
            item.version,
            item.timestamp.to_bits(),
            item.published_at.to_bits(),
            item.published_ns,
            u64::from(bytemuck::cast::<Source, u32>(item.source)),
        ];
        for (w, value) in meta.into_iter().enumerate() {
            self.word(index, 1 + w).store(value, Ordering::Relaxed);
        }
        let bytes = bytemuck::bytes_of(&item.state);
        for (w, chunk) in bytes.chunks(8).enumerate() {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.word(index, META_WORDS + w)
                .store(u64::from_ne_bytes(word), Ordering::Relaxed);
        }
        // ORDERING: Release; pairs with the reader's Acquire stamp load
        // (read step 1): a reader that sees this stamp sees every word.
        self.stamp(index).store(seq << 1, Ordering::Release);
    }

    #[inline]
    fn read(&self, index: usize, seq: u64) -> Option<Snapshot<T>> {
        let stamp = self.stamp(index);
        // ORDERING: Acquire; pairs with the writer's final Release store.
        let before = stamp.load(Ordering::Acquire);
        if before != seq << 1 {
            return None;
        }
        // ORDERING (payload loads): Relaxed, validated below.
        let load = |w: usize| self.word(index, w).load(Ordering::Relaxed);
        let (version, timestamp, published_at, published_ns, source) =
            (load(1), load(2), load(3), load(4), load(5));
        let mut state = T::zeroed();
        let bytes = bytemuck::bytes_of_mut(&mut state);
        for (w, chunk) in bytes.chunks_mut(8).enumerate() {
            let word = load(META_WORDS + w).to_ne_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
        // ORDERING: pairs with the writer's Release fence (write step 2): if
        // any word above came from a later write, the re-load below sees
        // that write's stamp.
        fence(Ordering::Acquire);
        // ORDERING: Relaxed after the Acquire fence.
        if stamp.load(Ordering::Relaxed) != before {
            return None;
        }
        Some(Snapshot {
            state,
            version,
            timestamp: f64::from_bits(timestamp),
            published_at: f64::from_bits(published_at),
            published_ns,
            source: bytemuck::cast::<u32, Source>(source as u32),
        })
    }

    fn clear(&self) {
        for index in 0..self.lines.len() / self.lines_per_slot {
            // ORDERING: Release, like a completed write of "nothing" (seq 0
            // is never asked for).
            self.stamp(index).store(0, Ordering::Release);
        }
    }
}

/// Shared snapshots of any type, one `Arc` per slot.
pub(crate) struct ArcSlots<T> {
    slots: Box<[ArcSlot<T>]>,
}

struct ArcSlot<T> {
    stamp: AtomicU64,
    item: ArcSwapOption<Snapshot<T>>,
}

impl<T: Send + Sync + 'static> SlotStore for ArcSlots<T> {
    type Item = Arc<Snapshot<T>>;

    fn with_len(len: usize) -> Self {
        ArcSlots {
            slots: (0..len)
                .map(|_| ArcSlot {
                    stamp: AtomicU64::new(0),
                    item: ArcSwapOption::empty(),
                })
                .collect(),
        }
    }

    fn write(&self, index: usize, seq: u64, item: &Arc<Snapshot<T>>) {
        let slot = &self.slots[index];
        // ORDERING: Relaxed, made visible before the new pointer by the
        // Release fence that follows (as in PodSlots::write).
        slot.stamp.store(seq << 1 | WRITING, Ordering::Relaxed);
        // ORDERING: pairs with the Acquire fence in `read`.
        fence(Ordering::Release);
        slot.item.store(Some(Arc::clone(item)));
        // ORDERING: Release; pairs with the Acquire load in `read`.
        slot.stamp.store(seq << 1, Ordering::Release);
    }

    fn read(&self, index: usize, seq: u64) -> Option<Arc<Snapshot<T>>> {
        let slot = &self.slots[index];
        // ORDERING: Acquire; pairs with the Release in `write`, so the
        // pointer loaded next is at least that write's.
        let before = slot.stamp.load(Ordering::Acquire);
        if before != seq << 1 {
            return None;
        }
        let item = slot.item.load_full();
        // ORDERING: Acquire fence, then the re-check: a pointer from a later
        // write implies its WRITING stamp is visible (as in PodSlots).
        fence(Ordering::Acquire);
        if slot.stamp.load(Ordering::Relaxed) != before {
            return None;
        }
        item
    }

    fn clear(&self) {
        for slot in self.slots.iter() {
            // ORDERING: Release, as in PodSlots::clear.
            slot.stamp.store(0, Ordering::Release);
            slot.item.store(None);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn snap<T>(state: T, version: u64) -> Snapshot<T> {
        Snapshot {
            state,
            version,
            timestamp: version as f64 * 0.5,
            published_at: 1.25,
            published_ns: 7,
            source: Source::intern("slot-test"),
        }
    }

    #[test]
    fn pod_slots_round_trip_and_validate_seq() {
        let slots = PodSlots::<[f64; 13]>::with_len(4);
        assert_eq!(slots.read(1, 1), None, "empty slot");
        let s = snap([3.5; 13], 1);
        slots.write(1, 1, &s);
        assert_eq!(slots.read(1, 1), Some(s));
        assert_eq!(slots.read(1, 2), None, "other sequence");
        slots.write(1, 5, &snap([1.0; 13], 5));
        assert_eq!(slots.read(1, 1), None, "overwritten");
        slots.clear();
        assert_eq!(slots.read(1, 5), None);
    }

    #[test]
    fn pod_slots_handle_sizes_that_are_not_word_multiples() {
        let slots = PodSlots::<[u8; 13]>::with_len(2);
        let s = snap(*b"hello, world!", 3);
        slots.write(0, 3, &s);
        assert_eq!(slots.read(0, 3).map(|x| x.state), Some(*b"hello, world!"));
    }

    #[test]
    fn arc_slots_round_trip_and_validate_seq() {
        let slots = ArcSlots::<String>::with_len(2);
        let s = Arc::new(snap("a".to_string(), 1));
        slots.write(0, 1, &s);
        assert!(Arc::ptr_eq(&slots.read(0, 1).unwrap(), &s));
        assert!(slots.read(0, 2).is_none());
        slots.clear();
        assert!(slots.read(0, 1).is_none());
    }
}
