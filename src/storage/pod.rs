//! [`PodSlots`]: plain-data snapshots copied through atomic words on the
//! heap, with the stamped-slot protocol of [`stamped`](super::stamped).
//!
//! No `unsafe`: payloads are `bytemuck::Pod`, converted to and from words
//! with `bytemuck`'s safe casts; any bit pattern a torn copy could produce
//! is a valid `T`, and a torn copy is discarded anyway.

use super::stamped::{self, SlotWords};
use super::{check_len, Seq, Slots, SlotsKind};
use crate::snapshot::Snapshot;
use crate::source::Source;
use crate::sync::AtomicU64;
use crate::Error;
use bytemuck::Pod;
use std::marker::PhantomData;

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

/// A slot: whole cache lines; word `w` is `lines[w / 8].0[w % 8]`.
impl SlotWords for [Line] {
    #[inline(always)]
    fn word(&self, w: usize) -> &AtomicU64 {
        &self[w / WORDS_PER_LINE].0[w % WORDS_PER_LINE]
    }
    #[inline(always)]
    fn words(&self) -> usize {
        self.len() * WORDS_PER_LINE
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
    const LINES_PER_SLOT: usize = stamped::slot_words(std::mem::size_of::<T>()) / WORDS_PER_LINE;

    /// The lines of slot `index`: one bounds check; word `w` of the slot is
    /// then checked against a constant, which the compiler does at compile
    /// time once the copy loops are unrolled.
    #[inline]
    fn slot(&self, index: usize) -> &[Line] {
        let start = index * Self::LINES_PER_SLOT;
        &self.lines[start..start + Self::LINES_PER_SLOT]
    }
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
        let source = bytemuck::cast::<Source, u32>(item.source);
        stamped::write_snapshot(self.slot(index), seq, item, source);
    }

    #[inline]
    fn read(&self, index: usize, seq: Seq) -> Option<Snapshot<T>> {
        stamped::read_snapshot(self.slot(index), seq, bytemuck::cast::<u32, Source>)
    }

    fn clear(&self) -> Vec<()> {
        for index in 0..self.len() {
            stamped::clear(self.slot(index));
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
