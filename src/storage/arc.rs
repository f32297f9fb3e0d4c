//! [`ArcSlots`]: shared snapshots of any type, one `Arc` per slot.

use super::{check_len, Seq, Slots, SlotsKind};
use crate::snapshot::Snapshot;
use crate::sync::{fence, AtomicU64, Ordering};
use crate::Error;
use arc_swap::ArcSwapOption;
use std::sync::Arc;

const WRITING: u64 = 1;

/// Snapshots of any `T: Send + Sync`, shared as `Arc<Snapshot<T>>` (see the
/// [storage protocol](crate::storage); the payload is one `ArcSwap`
/// pointer).
pub struct ArcSlots<T> {
    slots: Box<[ArcSlot<T>]>,
}

impl<T> std::fmt::Debug for ArcSlots<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArcSlots")
            .field("len", &self.slots.len())
            .finish()
    }
}

struct ArcSlot<T> {
    stamp: AtomicU64,
    item: ArcSwapOption<Snapshot<T>>,
}

impl<T> SlotsKind for ArcSlots<T> {
    const KIND: &'static str = "StateBuffer";
}

impl<T: Send + Sync + 'static> Slots for ArcSlots<T> {
    type State = T;
    type Item = Arc<Snapshot<T>>;
    type Displaced = Option<Arc<Snapshot<T>>>;

    fn with_len(len: usize) -> Result<Self, Error> {
        check_len(len, Self::slot_bytes())?;
        Ok(ArcSlots {
            slots: (0..len)
                .map(|_| ArcSlot {
                    stamp: AtomicU64::new(0),
                    item: ArcSwapOption::empty(),
                })
                .collect(),
        })
    }

    #[inline]
    fn len(&self) -> usize {
        self.slots.len()
    }

    fn slot_bytes() -> usize {
        std::mem::size_of::<ArcSlot<T>>()
    }

    #[inline]
    fn wrap(snapshot: Snapshot<T>) -> Arc<Snapshot<T>> {
        Arc::new(snapshot)
    }

    fn write(&self, index: usize, seq: Seq, item: &Arc<Snapshot<T>>) -> Self::Displaced {
        let slot = &self.slots[index];
        // ORDERING: Relaxed, made visible before the new pointer by the
        // Release fence that follows (write steps 1-2).
        slot.stamp.store(seq << 1 | WRITING, Ordering::Relaxed);
        // ORDERING: pairs with the Acquire fence in `read`.
        fence(Ordering::Release);
        let displaced = slot.item.swap(Some(Arc::clone(item)));
        // ORDERING: Release; pairs with the Acquire load in `read`.
        slot.stamp.store(seq << 1, Ordering::Release);
        displaced
    }

    #[inline]
    fn read(&self, index: usize, seq: Seq) -> Option<Arc<Snapshot<T>>> {
        self.with_guard(index, seq, |item| Option::clone(&item))
            .flatten()
    }

    #[inline]
    fn with<R>(&self, index: usize, seq: Seq, f: impl FnOnce(&Snapshot<T>) -> R) -> Option<R> {
        // The guard is validated before `f` runs: `f` sees a snapshot of
        // sequence `seq`, borrowed through arc-swap's debt slot (no count).
        let guard = self.with_guard(index, seq, |item| item)?;
        guard.as_deref().map(f)
    }

    fn clear(&self) -> Vec<Self::Displaced> {
        self.slots
            .iter()
            .map(|slot| {
                // ORDERING: Release, as a completed write of "nothing".
                slot.stamp.store(0, Ordering::Release);
                slot.item.swap(None)
            })
            .collect()
    }
}

impl<T> ArcSlots<T> {
    /// Loads slot `index` as an arc-swap guard and validates its stamp
    /// against `seq`.
    #[inline]
    fn with_guard<R>(
        &self,
        index: usize,
        seq: Seq,
        take: impl FnOnce(arc_swap::Guard<Option<Arc<Snapshot<T>>>>) -> R,
    ) -> Option<R> {
        let slot = &self.slots[index];
        // ORDERING: Acquire; pairs with the Release in `write`, so the
        // pointer loaded next is at least that write's.
        let before = slot.stamp.load(Ordering::Acquire);
        if before != seq << 1 {
            return None;
        }
        let guard = slot.item.load();
        // ORDERING: Acquire fence, then the re-check: a pointer from a later
        // write implies its WRITING stamp is visible (as in PodSlots).
        fence(Ordering::Acquire);
        // ORDERING: Relaxed after the Acquire fence.
        if slot.stamp.load(Ordering::Relaxed) != before {
            return None;
        }
        Some(take(guard))
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::source::Source;

    fn snap<T>(state: T, version: u64) -> Snapshot<T> {
        Snapshot {
            state,
            version,
            timestamp: 0.0,
            published_at: 1.25,
            published_ns: 7,
            source: Source::intern("slot-test"),
        }
    }

    #[test]
    fn arc_slots_round_trip_and_validate_seq() {
        let slots = ArcSlots::<String>::with_len(2).unwrap();
        let s = Arc::new(snap("a".to_string(), 1));
        assert!(slots.write(0, 1, &s).is_none());
        assert!(Arc::ptr_eq(&slots.read(0, 1).unwrap(), &s));
        assert!(slots.read(0, 2).is_none());
        assert_eq!(slots.with(0, 1, |x| x.state.len()), Some(1));
        let displaced = slots.clear();
        assert!(slots.read(0, 1).is_none());
        assert_eq!(displaced.into_iter().flatten().count(), 1);
    }

    #[test]
    fn arc_slots_return_what_a_write_displaces() {
        let slots = ArcSlots::<String>::with_len(1).unwrap();
        let a = Arc::new(snap("a".to_string(), 1));
        slots.write(0, 1, &a);
        let displaced = slots.write(0, 2, &Arc::new(snap("b".to_string(), 2)));
        assert!(Arc::ptr_eq(&displaced.unwrap(), &a));
    }
}
