//! [`Buffer`]: what every buffer offers, for code (and [`Reader`]) written
//! once for any of them.

use super::{GenericBuffer, ItemOf, StateOf};
use crate::reader::Reader;
use crate::snapshot::{Snapshot, Version};
use crate::storage::Storage;
use crate::{Error, Statistics};
use std::borrow::Borrow;
use std::time::Duration;

mod sealed {
    /// Only [`GenericBuffer`](super::GenericBuffer) implements
    /// [`Buffer`](super::Buffer): its reader cursor needs the storage.
    pub trait Sealed {
        type Storage: crate::storage::Storage;
        /// What a read returns (the same type as `Buffer::Item`).
        type Loaded;
        fn generic(&self) -> &super::GenericBuffer<Self::Storage>;
        /// The latest snapshot with its sequence number, not counted.
        fn load_seq(&self) -> Option<(crate::storage::Seq, Self::Loaded)>;
    }
}

pub(crate) use sealed::Sealed;

/// What every buffer offers ([`SlotRing`](crate::SlotRing),
/// [`StateBuffer`](crate::StateBuffer)), so that code can be written once
/// for either. Implemented by [`GenericBuffer`] only.
pub trait Buffer: Sealed<Loaded = <Self as Buffer>::Item> + Clone + Send + Sync + 'static {
    /// The state type.
    type State;
    /// What a read returns: `Snapshot<T>` by value from a
    /// [`SlotRing`](crate::SlotRing), `Arc<Snapshot<T>>` from a
    /// [`StateBuffer`](crate::StateBuffer).
    type Item: Clone + Borrow<Snapshot<Self::State>>;

    /// The latest version (0 before the first publish).
    fn version(&self) -> Version;
    /// The latest snapshot, counted as a read of the buffer.
    fn latest(&self) -> Option<Self::Item>;
    /// The latest snapshot without counting a read (for handles that count
    /// their own).
    fn peek(&self) -> Option<Self::Item>;
    /// Blocks until a version after `after` is published (its version), the
    /// buffer closes (`Error::Closed`) or `timeout` passes (`Error::Timeout`).
    fn wait_for_update(&self, after: Version, timeout: Duration) -> Result<Version, Error>;
    /// The buffer's statistics.
    fn statistics(&self) -> Statistics;
    /// A new reader handle on this buffer.
    fn reader(&self) -> Reader<Self>;
    /// How many times the buffer was reset.
    fn epoch(&self) -> u64;
    /// The short name the manager's table shows, such as
    /// `SlotRing<FastDroneState>`.
    fn type_label() -> String;
}

impl<S: Storage> Sealed for GenericBuffer<S> {
    type Storage = S;
    type Loaded = ItemOf<S>;
    #[inline]
    fn generic(&self) -> &GenericBuffer<S> {
        self
    }
    #[inline]
    fn load_seq(&self) -> Option<(crate::storage::Seq, ItemOf<S>)> {
        self.load()
    }
}

impl<S: Storage> Buffer for GenericBuffer<S> {
    type State = StateOf<S>;
    type Item = ItemOf<S>;

    #[inline]
    fn version(&self) -> Version {
        GenericBuffer::version(self)
    }
    #[inline]
    fn latest(&self) -> Option<Self::Item> {
        GenericBuffer::latest(self)
    }
    #[inline]
    fn peek(&self) -> Option<Self::Item> {
        GenericBuffer::peek(self)
    }
    fn wait_for_update(&self, after: Version, timeout: Duration) -> Result<Version, Error> {
        GenericBuffer::wait_for_update(self, after, timeout)
    }
    fn statistics(&self) -> Statistics {
        GenericBuffer::statistics(self)
    }
    fn reader(&self) -> Reader<Self> {
        GenericBuffer::reader(self)
    }
    #[inline]
    fn epoch(&self) -> u64 {
        GenericBuffer::epoch(self)
    }
    fn type_label() -> String {
        format!("{}<{}>", S::kind(), std::any::type_name::<StateOf<S>>())
    }
}
