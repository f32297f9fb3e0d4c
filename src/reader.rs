//! Per-consumer read cursors (PX4 uORB's per-subscriber generation).

use crate::shared::ReaderCounters;
use crate::snapshot::{Snapshot, Version};
use crate::{Error, Statistics};
use std::borrow::Borrow;
use std::sync::Arc;
use std::time::Duration;

/// What both buffer kinds offer, so that code (and [`Reader`]) can be
/// written once for either.
pub trait Buffer: Clone + Send + Sync + 'static {
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
    #[doc(hidden)]
    fn retire_reader(&self, counters: &Arc<ReaderCounters>);
    /// How many times the buffer was reset (readers restart their cursor
    /// when it changes).
    fn epoch(&self) -> u64;
}

/// One consumer's cursor on a buffer: it remembers the last version it read,
/// counts its own reads (no shared cache line is written), and counts the
/// versions published after its creation that it never saw (`lost`).
///
/// ```
/// use rtstate::{Buffer, SlotRing, Source};
/// let ring = SlotRing::<[f64; 3]>::new(8)?;
/// let mut reader = ring.reader();
/// assert!(!reader.updated());
/// ring.publish([1.0, 2.0, 3.0], Source::intern("imu")).unwrap();
/// ring.publish([1.5, 2.0, 3.0], Source::intern("imu")).unwrap();
/// assert!(reader.updated());
/// let snap = reader.read_if_updated().unwrap();
/// assert_eq!((snap.version, snap.state[0]), (2, 1.5));
/// assert_eq!(reader.lost(), 1); // version 1 was never seen
/// assert!(reader.read_if_updated().is_none());
/// # Ok::<(), rtstate::Error>(())
/// ```
pub struct Reader<B: Buffer> {
    buffer: B,
    last: Version,
    baseline: Version,
    epoch: u64,
    counters: Arc<ReaderCounters>,
}

impl<B: Buffer> Reader<B> {
    #[doc(hidden)]
    pub fn new_registered(buffer: B, counters: Arc<ReaderCounters>) -> Self {
        let epoch = buffer.epoch();
        let baseline = buffer.version();
        Reader {
            buffer,
            last: 0,
            baseline,
            epoch,
            counters,
        }
    }

    /// Whether a version newer than the last one read exists (after a reset
    /// of the buffer: any version).
    #[inline]
    pub fn updated(&self) -> bool {
        let v = self.buffer.version();
        if self.buffer.epoch() != self.epoch {
            return v != 0;
        }
        v > self.last
    }

    /// Restarts the cursor if the buffer was reset since the last read.
    #[inline]
    fn follow_reset(&mut self) {
        let epoch = self.buffer.epoch();
        if epoch != self.epoch {
            self.epoch = epoch;
            self.last = 0;
            self.baseline = 0;
        }
    }

    /// The latest snapshot (even if already read); advances the cursor.
    #[inline]
    pub fn read(&mut self) -> Option<B::Item> {
        self.follow_reset();
        let item = self.buffer.peek()?;
        self.advance(item.borrow().version);
        Some(item)
    }

    /// The latest snapshot if it is newer than the last one read.
    #[inline]
    pub fn read_if_updated(&mut self) -> Option<B::Item> {
        self.follow_reset();
        if self.buffer.version() <= self.last {
            return None;
        }
        let item = self.buffer.peek()?;
        let version = item.borrow().version;
        if version <= self.last {
            return None;
        }
        self.advance(version);
        Some(item)
    }

    /// Blocks until a version newer than the last one read exists, then
    /// reads it.
    pub fn wait(&mut self, timeout: Duration) -> Result<B::Item, Error> {
        self.follow_reset();
        self.buffer.wait_for_update(self.last, timeout)?;
        self.read_if_updated().ok_or(Error::Closed)
    }

    #[inline]
    fn advance(&mut self, version: Version) {
        ReaderCounters::bump(&self.counters.reads, 1);
        let seen = self.last.max(self.baseline);
        if version > seen + 1 {
            ReaderCounters::bump(&self.counters.lost, version - seen - 1);
        }
        if version > self.last {
            self.last = version;
        }
    }

    /// The last version this reader read (0 before its first read).
    pub fn last_version(&self) -> Version {
        self.last
    }

    /// Versions published after this reader was created that it never read.
    pub fn lost(&self) -> u64 {
        // ORDERING: written only by this handle.
        self.counters.lost.load(crate::sync::Ordering::Relaxed)
    }

    /// Reads made through this handle.
    pub fn reads(&self) -> u64 {
        // ORDERING: written only by this handle.
        self.counters.reads.load(crate::sync::Ordering::Relaxed)
    }

    /// The buffer this reader reads.
    pub fn buffer(&self) -> &B {
        &self.buffer
    }
}

impl<B: Buffer> Drop for Reader<B> {
    fn drop(&mut self) {
        self.buffer.retire_reader(&self.counters);
    }
}

impl<B: Buffer> std::fmt::Debug for Reader<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("last", &self.last)
            .field("lost", &self.lost())
            .finish()
    }
}
