//! The stamped-slot protocol, written once: how one slot's words are
//! written and read (see the [storage protocol](crate::storage)). Every
//! plain-data storage uses it — [`PodSlots`](super::PodSlots) on the heap,
//! `shm::MappedSlots` and `shm::RawBuffer` on the words of a mapped file —
//! through [`SlotWords`], which gives word `w` of one slot.
//!
//! A slot is [`META_WORDS`] words (stamp, version, timestamp,
//! published_at, published_ns, source) followed by the state's bytes in
//! native-endian words, zero-padded to a word.
//!
//! No `unsafe`: every access is an atomic load or store of a word; states
//! are bytes (`bytemuck` casts), so any bit pattern a torn copy could
//! produce is valid, and a torn copy is discarded anyway.

use super::Seq;
use crate::snapshot::Snapshot;
use crate::source::Source;
use crate::sync::{fence, AtomicU64, Ordering};
use bytemuck::Pod;

/// The stamp's low bit while a write is in progress.
const WRITING: u64 = 1;

/// Words of metadata before the state: stamp, version, timestamp,
/// published_at, published_ns, source.
pub const META_WORDS: usize = 6;

/// The words of one slot. Indexing is checked (a word past the slot
/// panics); callers hand out slots whose length is a constant of the state
/// type, so that the checks fold away once the copy loops are unrolled.
pub(crate) trait SlotWords {
    /// Word `w` of the slot.
    fn word(&self, w: usize) -> &AtomicU64;
    /// The slot's length in words.
    fn words(&self) -> usize;
}

impl SlotWords for [AtomicU64] {
    #[inline(always)]
    fn word(&self, w: usize) -> &AtomicU64 {
        &self[w]
    }
    #[inline(always)]
    fn words(&self) -> usize {
        self.len()
    }
}

/// A slot's metadata.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SlotMeta {
    /// The sequence number of this publish: never reused in the buffer's
    /// life (a reset restarts versions, not sequence numbers; a new writer
    /// continues them). Not stored in the slot: it is the stamp's.
    pub seq: u64,
    /// The buffer's version of this publish.
    pub version: u64,
    /// The state's own timestamp (or the publish time), wall-clock seconds.
    pub timestamp: f64,
    /// Wall-clock seconds of the publish.
    pub published_at: f64,
    /// Monotonic ns of the publish, on the writing process's clock.
    pub published_ns: u64,
    /// The publisher: a [`Source`]'s bits in process, the index of its name
    /// in the file's source table in shared memory (`u32::MAX`: unknown).
    pub source: u32,
}

/// Whether `state` fits in a slot of `words` words.
#[inline(always)]
fn fits(words: usize, state: usize) -> bool {
    words >= META_WORDS && (words - META_WORDS) * 8 >= state
}

/// Writes sequence `seq` (≥ 1) into one slot. Writers are serialised.
///
/// Panics if `state` does not fit in the slot (callers size slots from the
/// state's size).
#[inline(always)]
pub(crate) fn write<W: SlotWords + ?Sized>(slot: &W, seq: Seq, meta: &SlotMeta, state: &[u8]) {
    assert!(fits(slot.words(), state.len()), "state larger than a slot");
    let stamp = slot.word(0);
    // ORDERING: Relaxed; made visible before the payload by the Release
    // fence below (write steps 1-2 of the protocol).
    stamp.store(seq << 1 | WRITING, Ordering::Relaxed);
    // ORDERING: pairs with the reader's Acquire fence (read step 3).
    fence(Ordering::Release);
    // ORDERING (all payload stores): Relaxed, ordered by the fences and the
    // final Release stamp store.
    let values = [
        meta.version,
        meta.timestamp.to_bits(),
        meta.published_at.to_bits(),
        meta.published_ns,
        u64::from(meta.source),
    ];
    for (w, value) in values.into_iter().enumerate() {
        slot.word(1 + w).store(value, Ordering::Relaxed);
    }
    match bytemuck::try_cast_slice::<u8, u64>(state) {
        // Whole words at word alignment: copied as `u64`s, no shuffling.
        Ok(words) => {
            for (w, &value) in words.iter().enumerate() {
                slot.word(META_WORDS + w).store(value, Ordering::Relaxed);
            }
        }
        Err(_) => {
            for (w, chunk) in state.chunks(8).enumerate() {
                let mut buf = [0u8; 8];
                buf[..chunk.len()].copy_from_slice(chunk);
                slot.word(META_WORDS + w)
                    .store(u64::from_ne_bytes(buf), Ordering::Relaxed);
            }
        }
    }
    // ORDERING: Release; pairs with the reader's Acquire stamp load (read
    // step 1): a reader that sees this stamp sees every word.
    stamp.store(seq << 1, Ordering::Release);
}

/// Copies one slot into `state` if it holds the complete write of `seq`;
/// `None` if it holds another sequence, was rewritten meanwhile, or is too
/// small for `state`.
///
/// Each word is one `Relaxed` atomic load (a plain `mov` on x86-64 and
/// AArch64), so the copy has no data race in Rust's memory model even while
/// a writer stores the same words; the loads are independent, so the
/// compiler and the CPU may issue them in any order and overlap them, and
/// the seqlock check around them (stamp, `Acquire` fence, stamp) rejects
/// any mix.
#[inline(always)]
pub(crate) fn read<W: SlotWords + ?Sized>(
    slot: &W,
    seq: Seq,
    state: &mut [u8],
) -> Option<SlotMeta> {
    if !fits(slot.words(), state.len()) {
        return None;
    }
    let stamp = slot.word(0);
    // ORDERING: Acquire; pairs with the writer's final Release store.
    let before = stamp.load(Ordering::Acquire);
    if before != seq << 1 {
        return None;
    }
    // ORDERING (payload loads): Relaxed, validated below.
    let load = |w: usize| slot.word(w).load(Ordering::Relaxed);
    let meta = SlotMeta {
        seq,
        version: load(1),
        timestamp: f64::from_bits(load(2)),
        published_at: f64::from_bits(load(3)),
        published_ns: load(4),
        source: load(5) as u32,
    };
    match bytemuck::try_cast_slice_mut::<u8, u64>(state) {
        Ok(words) => {
            for (w, out) in words.iter_mut().enumerate() {
                *out = load(META_WORDS + w);
            }
        }
        Err(_) => {
            for (w, chunk) in state.chunks_mut(8).enumerate() {
                let buf = load(META_WORDS + w).to_ne_bytes();
                chunk.copy_from_slice(&buf[..chunk.len()]);
            }
        }
    }
    // ORDERING: pairs with the writer's Release fence (write step 2): if
    // any word above came from a later write, the re-load below sees that
    // write's stamp.
    fence(Ordering::Acquire);
    // ORDERING: Relaxed after the Acquire fence.
    if stamp.load(Ordering::Relaxed) != before {
        return None;
    }
    Some(meta)
}

/// Empties one slot: stamp 0, which no read asks for (sequence numbers
/// start at 1).
#[inline]
pub(crate) fn clear<W: SlotWords + ?Sized>(slot: &W) {
    // ORDERING: Release, like a completed write of "nothing".
    slot.word(0).store(0, Ordering::Release);
}

/// Words one slot of a `state_bytes`-byte state takes, rounded up to whole
/// cache lines (so that writing one slot never invalidates another's line).
pub const fn slot_words(state_bytes: usize) -> usize {
    (META_WORDS + state_bytes.div_ceil(8)).div_ceil(8) * 8
}

/// Writes `snapshot` as sequence `seq`, its publisher recorded as `source`.
#[inline(always)]
pub(crate) fn write_snapshot<T: Pod, W: SlotWords + ?Sized>(
    slot: &W,
    seq: Seq,
    snapshot: &Snapshot<T>,
    source: u32,
) {
    let meta = SlotMeta {
        seq,
        version: snapshot.version,
        timestamp: snapshot.timestamp,
        published_at: snapshot.published_at,
        published_ns: snapshot.published_ns,
        source,
    };
    write(slot, seq, &meta, bytemuck::bytes_of(&snapshot.state));
}

/// Reads the snapshot of sequence `seq`, its publisher from `source` (given
/// the recorded word).
#[inline(always)]
pub(crate) fn read_snapshot<T: Pod, W: SlotWords + ?Sized>(
    slot: &W,
    seq: Seq,
    source: impl FnOnce(u32) -> Source,
) -> Option<Snapshot<T>> {
    let mut state = T::zeroed();
    let meta = read(slot, seq, bytemuck::bytes_of_mut(&mut state))?;
    Some(Snapshot {
        state,
        version: meta.version,
        timestamp: meta.timestamp,
        published_at: meta.published_at,
        published_ns: meta.published_ns,
        source: source(meta.source),
    })
}
