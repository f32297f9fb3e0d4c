//! [`PodSlots`]: plain-data snapshots copied through atomic words.
//!
//! No `unsafe`: payloads are `bytemuck::Pod`, converted to and from words
//! with `bytemuck`'s safe casts; any bit pattern a torn copy could produce
//! is a valid `T`, and a torn copy is discarded anyway.

use super::{check_len, Seq, Slots, SlotsKind};
use crate::snapshot::Snapshot;
use crate::source::Source;
use crate::sync::{fence, AtomicU64, Ordering};
use crate::Error;
use bytemuck::Pod;
use std::marker::PhantomData;

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

/// Plain-data snapshots stored as atomic words, one slot per group of cache
/// lines (see the [storage protocol](crate::storage)).
pub struct PodSlots<T> {
    lines: Box<[Line]>,
    lines_per_slot: usize,
    _state: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for PodSlots<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PodSlots")
            .field("len", &(self.lines.len() / self.lines_per_slot.max(1)))
            .finish()
    }
}

impl<T: Pod> PodSlots<T> {
    const STATE_WORDS: usize = std::mem::size_of::<T>().div_ceil(8);
    const LINES_PER_SLOT: usize = (META_WORDS + Self::STATE_WORDS).div_ceil(WORDS_PER_LINE);
    /// Whether the state is whole words at word alignment, so that it is
    /// copied as `u64`s with no byte shuffling (a constant per type).
    const WORD_SHAPED: bool = std::mem::size_of::<T>() % 8 == 0 && std::mem::align_of::<T>() >= 8;

    /// The lines of slot `index`: one bounds check; word `w` of the slot is
    /// then `lines[w / 8].0[w % 8]` with `w` below a constant, which the
    /// compiler checks at compile time once the copy loops are unrolled.
    #[inline]
    fn slot(&self, index: usize) -> &[Line] {
        let start = index * Self::LINES_PER_SLOT;
        &self.lines[start..start + Self::LINES_PER_SLOT]
    }
}

#[inline]
fn word(lines: &[Line], w: usize) -> &AtomicU64 {
    &lines[w / WORDS_PER_LINE].0[w % WORDS_PER_LINE]
}

impl<T> SlotsKind for PodSlots<T> {
    const KIND: &'static str = "SlotRing";
}

impl<T: Pod + Send + Sync> Slots for PodSlots<T> {
    type State = T;
    type Item = Snapshot<T>;
    type Displaced = ();

    fn with_len(len: usize) -> Result<Self, Error> {
        let lines_per_slot = Self::LINES_PER_SLOT;
        check_len(len, Self::slot_bytes())?;
        Ok(PodSlots {
            lines: (0..len * lines_per_slot).map(|_| Line::new()).collect(),
            lines_per_slot,
            _state: PhantomData,
        })
    }

    #[inline]
    fn len(&self) -> usize {
        self.lines.len() / self.lines_per_slot
    }

    fn slot_bytes() -> usize {
        Self::LINES_PER_SLOT * std::mem::size_of::<Line>()
    }

    #[inline]
    fn wrap(snapshot: Snapshot<T>) -> Snapshot<T> {
        snapshot
    }

    #[inline]
    fn write(&self, index: usize, seq: Seq, item: &Snapshot<T>) {
        let lines = self.slot(index);
        let stamp = word(lines, 0);
        // ORDERING: Relaxed; made visible before the payload by the Release
        // fence below (write steps 1-2 of the protocol).
        stamp.store(seq << 1 | WRITING, Ordering::Relaxed);
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
            word(lines, 1 + w).store(value, Ordering::Relaxed);
        }
        let bytes = bytemuck::bytes_of(&item.state);
        match bytemuck::try_cast_slice::<u8, u64>(bytes) {
            Ok(words) if Self::WORD_SHAPED => {
                for (w, &value) in words.iter().enumerate() {
                    word(lines, META_WORDS + w).store(value, Ordering::Relaxed);
                }
            }
            _ => {
                for (w, chunk) in bytes.chunks(8).enumerate() {
                    let mut buf = [0u8; 8];
                    buf[..chunk.len()].copy_from_slice(chunk);
                    word(lines, META_WORDS + w).store(u64::from_ne_bytes(buf), Ordering::Relaxed);
                }
            }
        }
        // ORDERING: Release; pairs with the reader's Acquire stamp load
        // (read step 1): a reader that sees this stamp sees every word.
        stamp.store(seq << 1, Ordering::Release);
    }

    /// Copies the slot through atomic word loads. Each word is one `Relaxed`
    /// atomic load (a plain `mov` on x86-64 and AArch64), so the copy has no
    /// data race in Rust's memory model even while a writer stores the same
    /// words; the loads are independent, so the compiler and the CPU may
    /// issue them in any order and overlap them, and the seqlock check
    /// around them (stamp, `Acquire` fence, stamp) rejects any mix.
    #[inline]
    fn read(&self, index: usize, seq: Seq) -> Option<Snapshot<T>> {
        let lines = self.slot(index);
        let stamp = word(lines, 0);
        // ORDERING: Acquire; pairs with the writer's final Release store.
        let before = stamp.load(Ordering::Acquire);
        if before != seq << 1 {
            return None;
        }
        // ORDERING (payload loads): Relaxed, validated below.
        let load = |w: usize| word(lines, w).load(Ordering::Relaxed);
        let (version, timestamp, published_at, published_ns, source) =
            (load(1), load(2), load(3), load(4), load(5));
        let mut state = T::zeroed();
        let bytes = bytemuck::bytes_of_mut(&mut state);
        match bytemuck::try_cast_slice_mut::<u8, u64>(bytes) {
            Ok(words) if Self::WORD_SHAPED => {
                for (w, out) in words.iter_mut().enumerate() {
                    *out = load(META_WORDS + w);
                }
            }
            _ => {
                for (w, chunk) in bytes.chunks_mut(8).enumerate() {
                    let buf = load(META_WORDS + w).to_ne_bytes();
                    chunk.copy_from_slice(&buf[..chunk.len()]);
                }
            }
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

    fn clear(&self) -> Vec<()> {
        for index in 0..self.len() {
            // ORDERING: Release, like a completed write of "nothing" (stamp
            // 0 is never asked for: sequence numbers start at 1).
            word(self.slot(index), 0).store(0, Ordering::Release);
        }
        Vec::new()
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
        let slots = PodSlots::<[f64; 13]>::with_len(4).unwrap();
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
        let slots = PodSlots::<[u8; 13]>::with_len(2).unwrap();
        let s = snap(*b"hello, world!", 3);
        slots.write(0, 3, &s);
        assert_eq!(slots.read(0, 3).map(|x| x.state), Some(*b"hello, world!"));
    }

    #[test]
    fn pod_slots_refuse_absurd_lengths_before_allocating() {
        for len in [0, 1 << 40, usize::MAX] {
            assert!(matches!(
                PodSlots::<[f64; 13]>::with_len(len),
                Err(Error::InvalidArgument {
                    name: "capacity",
                    ..
                })
            ));
        }
        assert!(
            PodSlots::<[u64; 4096]>::with_len(1 << 14).is_err(),
            "512 MiB"
        );
    }
}
