//! [`Annotated`]: a buffer with a value kept beside each snapshot, for what
//! its storage cannot hold (a [`SlotRing`](crate::SlotRing) holds plain
//! data only, so a publisher's metadata dictionary lives here).

use super::{GenericBuffer, StateOf};
use crate::snapshot::{Snapshot, Version};
use crate::storage::Storage;
use crate::sync::{lock, Mutex};
use crate::{PublishError, Source};
use std::collections::VecDeque;

/// A snapshot's name across resets: its version and its `published_ns`
/// (a version comes back after a reset; the pair does not).
type Key = (Version, u64);

/// A buffer and, beside it, one optional value `M` per published version
/// (a publisher's metadata), kept for as many recent versions as the ring
/// has slots. A value is found by the snapshot it was published with, so a
/// snapshot read before a [`reset`](Self::reset) never meets a value of the
/// epoch after it.
///
/// A value is recorded under the buffer's writer lock before readers can
/// see its snapshot, so a reader that finds the snapshot finds its value.
/// The table's own lock is held only to push, evict or look up (never
/// across a drop of a state, a value or a wake-up): displaced values are
/// dropped after every lock (a value may be a foreign object whose drop
/// runs code).
///
/// ```
/// use rtstate::{Annotated, SlotRing, Source};
/// let notes = Annotated::new(SlotRing::<[f64; 2]>::new(4)?);
/// notes.publish([1.0, 2.0], Source::intern("imu"), Some("calibrated")).unwrap();
/// let snap = notes.buffer().latest().unwrap();
/// assert_eq!(notes.with_value(&snap, |m| *m), Some("calibrated"));
/// notes.reset();
/// assert_eq!(notes.with_value(&snap, |m| *m), None);
/// # Ok::<(), rtstate::Error>(())
/// ```
pub struct Annotated<S: Storage, M> {
    buffer: GenericBuffer<S>,
    values: Mutex<VecDeque<(Key, M)>>,
}

impl<S: Storage, M> Annotated<S, M> {
    /// `buffer` with an empty table beside it.
    pub fn new(buffer: GenericBuffer<S>) -> Self {
        Annotated {
            buffer,
            values: Mutex::new(VecDeque::new()),
        }
    }

    /// The buffer (for reads, waits, subscriptions; a publish made on it
    /// directly has no value).
    pub fn buffer(&self) -> &GenericBuffer<S> {
        &self.buffer
    }

    /// Publishes `state` with `value` beside it (none: a plain publish);
    /// returns its version.
    pub fn publish(
        &self,
        state: StateOf<S>,
        source: Source,
        value: Option<M>,
    ) -> Result<Version, PublishError<StateOf<S>>> {
        let Some(value) = value else {
            return self.buffer.publish(state, source);
        };
        let keep = self.buffer.slots();
        // Under the writer lock, before readers can see the snapshot; the
        // values displaced are dropped after it.
        let (version, evicted) = self.buffer.publish_with(state, source, |version, ns| {
            let mut values = lock(&self.values);
            values.push_back(((version, ns), value));
            let excess = values.len().saturating_sub(keep);
            values.drain(..excess).collect::<Vec<_>>()
        })?;
        drop(evicted);
        Ok(version)
    }

    /// Calls `f` on the value published with `snapshot`, if it had one and
    /// it is still kept.
    pub fn with_value<T, R>(&self, snapshot: &Snapshot<T>, f: impl FnOnce(&M) -> R) -> Option<R> {
        let key = (snapshot.version, snapshot.published_ns);
        let values = lock(&self.values);
        // Pushed in publish order under the writer lock, and emptied by a
        // reset: the versions held increase.
        let i = values.partition_point(|((v, _), _)| *v < key.0);
        values.get(i).filter(|(k, _)| *k == key).map(|(_, m)| f(m))
    }

    /// Resets the buffer (see [`GenericBuffer::reset`]) and forgets every
    /// value (dropped after the buffer's lock).
    pub fn reset(&self) {
        self.buffer
            .reset_with(|| lock(&self.values).drain(..).collect::<Vec<_>>());
    }
}

impl<S: Storage, M> std::fmt::Debug for Annotated<S, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Annotated")
            .field("buffer", &self.buffer)
            .field("values", &lock(&self.values).len())
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::SlotRing;

    #[test]
    fn values_follow_their_snapshot_across_resets_and_evictions() {
        let notes = Annotated::new(SlotRing::<[f64; 1]>::new(2).unwrap());
        let src = Source::intern("test");
        notes.publish([1.0], src, Some(1)).unwrap();
        notes.publish([2.0], src, None).unwrap();
        let first = notes.buffer().history()[0];
        let second = notes.buffer().latest().unwrap();
        assert_eq!(notes.with_value(&first, |m| *m), Some(1));
        assert_eq!(notes.with_value(&second, |m| *m), None);
        notes.reset();
        notes.publish([3.0], src, Some(3)).unwrap();
        let third = notes.buffer().latest().unwrap();
        assert_eq!(third.version, 1);
        // Version 1 of the old epoch keeps no value of the new one.
        assert_eq!(notes.with_value(&first, |m| *m), None);
        assert_eq!(notes.with_value(&third, |m| *m), Some(3));
        for i in 0..100 {
            notes.publish([0.0], src, Some(i)).unwrap();
        }
        assert!(lock(&notes.values).len() <= notes.buffer().slots());
        assert_eq!(notes.with_value(&third, |m| *m), None);
    }
}
