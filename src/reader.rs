//! Reader cursors: one consumer's position in a buffer (PX4 uORB's
//! per-subscriber generation).
//!
//! A [`Reader`] remembers the sequence number of the last snapshot it read,
//! so it can answer "is there something new for me?" ([`Reader::updated`],
//! [`Reader::read_if_updated`], [`Reader::wait`]) without a lock and without
//! writing any cache line another thread reads.
//!
//! # What `lost` counts
//!
//! [`Reader::lost`] counts versions published after the reader was created
//! (or after the buffer's last reset, whichever is later) that this reader
//! never read: reading version 7 after version 4 adds 2. Versions published
//! before the reader existed are not lost to it. Each buffer sums the `lost`
//! of its readers, live and dropped, into [`Statistics::lost`].
//!
//! # What a reset does to a cursor
//!
//! The cursor works in the buffer's sequence numbers, which a reset never
//! restarts (only the public versions do). So after
//! [`reset`](crate::GenericBuffer::reset) the reader finds nothing new until
//! the first publish after it, then sees that publish as new even if its
//! version (1, 2, …) is one it read before the reset; it never returns the
//! same snapshot twice, and versions of the new epoch that it skips count
//! as lost from the reset on. A reset also zeroes the reader's `reads` and
//! `lost`, as it does the buffer's statistics.
//!
//! [`Statistics::lost`]: crate::Statistics::lost

use crate::buffer::Buffer;
use crate::snapshot::Version;
use crate::storage::{Seq, Storage};
use crate::sync::{AtomicU64, Ordering};
use crate::Error;
use std::borrow::Borrow;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A reader handle's counts move to the buffer's header every this many
/// reads (and when it is dropped), so that the statistics of a shared
/// buffer, read by other processes from the header, follow a live reader.
pub(crate) const FLUSH_EVERY: u64 = 256;

/// Counters of one [`Reader`], written only by it (plain load + store, no
/// read-modify-write) and summed by the buffer's statistics. `flushed_*`
/// are the parts already moved to the header's totals.
#[derive(Debug, Default)]
pub(crate) struct ReaderCounters {
    reads: AtomicU64,
    lost: AtomicU64,
    flushed_reads: AtomicU64,
    flushed_lost: AtomicU64,
}

impl ReaderCounters {
    /// Adds `n`; returns the new count.
    #[inline]
    fn bump(counter: &AtomicU64, n: u64) -> u64 {
        // ORDERING: single writer (the reader handle); statistics read it
        // Relaxed; no memory hangs on it. A reset racing with this may keep
        // a count from just before it.
        let new = counter.load(Ordering::Relaxed) + n;
        counter.store(new, Ordering::Relaxed);
        new
    }

    /// `(reads, lost)` since the reader's creation (or the last reset).
    pub(crate) fn get(&self) -> (u64, u64) {
        // ORDERING: statistics.
        (
            self.reads.load(Ordering::Relaxed),
            self.lost.load(Ordering::Relaxed),
        )
    }

    /// `(reads, lost)` not yet moved to the header's totals.
    pub(crate) fn unflushed(&self) -> (u64, u64) {
        let (reads, lost) = self.get();
        // ORDERING: statistics (a reset racing with a flush may make a
        // flushed count exceed the count for a moment: saturated).
        (
            reads.saturating_sub(self.flushed_reads.load(Ordering::Relaxed)),
            lost.saturating_sub(self.flushed_lost.load(Ordering::Relaxed)),
        )
    }

    /// Marks everything counted so far as moved to the header; returns the
    /// part that was not (for the caller to add there). Called by the
    /// reader's own thread (the single writer of the counts).
    pub(crate) fn take_unflushed(&self) -> (u64, u64) {
        let (reads, lost) = self.get();
        let (r, l) = self.unflushed();
        // ORDERING: statistics. Marked before the caller adds to the
        // header: a statistics sum in between undercounts for a moment,
        // never counts twice.
        self.flushed_reads.store(reads, Ordering::Relaxed);
        self.flushed_lost.store(lost, Ordering::Relaxed);
        (r, l)
    }

    /// Zeroes the counts (a buffer reset).
    pub(crate) fn reset(&self) {
        // ORDERING: statistics.
        self.reads.store(0, Ordering::Relaxed);
        self.lost.store(0, Ordering::Relaxed);
        self.flushed_reads.store(0, Ordering::Relaxed);
        self.flushed_lost.store(0, Ordering::Relaxed);
    }
}

/// One consumer's cursor on a buffer: it remembers the last version it read,
/// counts its own reads (no shared cache line is written), and counts the
/// versions published after its creation that it never saw (`lost`).
///
/// `lost` counts versions published after the reader was created (or after
/// the buffer's last reset, whichever is later) that this reader never
/// read: reading version 7 after version 4 adds 2.
///
/// After a [reset](crate::GenericBuffer::reset) the reader finds nothing new
/// until the first publish after it, then sees that publish as new even if
/// its version is one it read before the reset; it never returns the same
/// snapshot twice. The reset zeroes its `reads` and `lost`.
///
/// ```
/// use rtstate::{SlotRing, Source};
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
    /// Sequence number of the last snapshot read (0: none).
    last: Seq,
    /// Sequence numbers up to this one are not lost to this reader: the
    /// latest at its creation, then each one it read.
    seen: Seq,
    /// Version of the last snapshot read.
    last_version: Version,
    counters: Arc<ReaderCounters>,
}

impl<B: Buffer> Reader<B> {
    pub(crate) fn new(buffer: B, counters: Arc<ReaderCounters>, start: Seq) -> Self {
        Reader {
            buffer,
            last: 0,
            seen: start,
            last_version: 0,
            counters,
        }
    }

    /// Whether a version newer than the last one read exists (after a reset
    /// of the buffer: any version published since).
    #[inline]
    pub fn updated(&self) -> bool {
        let header = self.buffer.generic().storage().header();
        let seq = header.latest();
        seq > self.last && seq > header.base_after_latest()
    }

    /// The latest snapshot (even if already read); advances the cursor.
    #[inline]
    pub fn read(&mut self) -> Option<B::Item> {
        let (seq, item) = self.buffer.load_seq()?;
        self.advance(seq, item.borrow().version);
        Some(item)
    }

    /// The latest snapshot if it is newer than the last one read.
    #[inline]
    pub fn read_if_updated(&mut self) -> Option<B::Item> {
        let generic = self.buffer.generic();
        if generic.storage().header().latest() <= self.last {
            return None;
        }
        let (seq, item) = self.buffer.load_seq()?;
        if seq <= self.last {
            return None;
        }
        self.advance(seq, item.borrow().version);
        Some(item)
    }

    /// Blocks (without spinning) until a version newer than the last one
    /// read exists, then reads it. A reset wakes the wait, which goes on
    /// until the first publish after it. `Error::Closed` if the buffer is
    /// closed with nothing new; `Error::Timeout` after `timeout` (a timeout
    /// too large to represent waits for ever).
    pub fn wait(&mut self, timeout: Duration) -> Result<B::Item, Error> {
        let buffer = self.buffer.clone();
        wait_with(&buffer, timeout, || match self.read_if_updated() {
            Some(item) => Ok(item),
            None => Err(self.last),
        })
    }

    /// [`wait`](Self::wait) on a reader shared behind a mutex: the mutex is
    /// held only to read, never across the wait (so a thread that needs
    /// the reader, or that the publisher needs, is never held up by it).
    #[cfg(any(feature = "python", all(test, not(loom))))]
    pub(crate) fn wait_shared(
        reader: &crate::sync::Mutex<Self>,
        timeout: Duration,
    ) -> Result<B::Item, Error> {
        use crate::sync::lock;
        let buffer = lock(reader).buffer.clone();
        wait_with(&buffer, timeout, || {
            let mut r = lock(reader);
            match r.read_if_updated() {
                Some(item) => Ok(item),
                None => Err(r.last),
            }
        })
    }

    #[inline]
    fn advance(&mut self, seq: Seq, version: Version) {
        let reads = ReaderCounters::bump(&self.counters.reads, 1);
        if reads.is_multiple_of(FLUSH_EVERY) {
            self.flush();
        }
        if seq > self.last {
            // Versions of this snapshot's epoch start after `seq - version`.
            let from = self.seen.max(seq - version);
            if seq > from + 1 {
                ReaderCounters::bump(&self.counters.lost, seq - from - 1);
            }
            self.last = seq;
            self.seen = seq;
            self.last_version = version;
        }
    }

    /// Moves this reader's counts to the buffer's header (every
    /// [`FLUSH_EVERY`] reads), where every process's statistics see them.
    #[cold]
    #[inline(never)]
    fn flush(&self) {
        let (reads, lost) = self.counters.take_unflushed();
        self.buffer
            .generic()
            .storage()
            .header()
            .retire_reader(reads, lost);
    }

    /// The version of the last snapshot this reader read (0 before its
    /// first read).
    pub fn last_version(&self) -> Version {
        self.last_version
    }

    /// Versions published after this reader was created (or after the last
    /// reset) that it never read.
    pub fn lost(&self) -> u64 {
        self.counters.get().1
    }

    /// Reads made through this handle (since the last reset).
    pub fn reads(&self) -> u64 {
        self.counters.get().0
    }

    /// The buffer this reader reads.
    pub fn buffer(&self) -> &B {
        &self.buffer
    }
}

/// The wait of [`Reader::wait`]: `step` reads what is new, or gives the
/// sequence number to wait past; a timed-out wait takes one last step, so
/// that a publish racing with the deadline is not reported as a timeout.
fn wait_with<B: Buffer>(
    buffer: &B,
    timeout: Duration,
    mut step: impl FnMut() -> Result<B::Item, Seq>,
) -> Result<B::Item, Error> {
    let deadline = Instant::now().checked_add(timeout);
    loop {
        let last = match step() {
            Ok(item) => return Ok(item),
            Err(last) => last,
        };
        let remaining = match deadline {
            Some(d) => d.saturating_duration_since(Instant::now()),
            None => Duration::MAX,
        };
        if remaining.is_zero() {
            return Err(Error::Timeout(timeout));
        }
        if !buffer.generic().wait_for_seq(last, remaining)? {
            return step().map_err(|_| Error::Timeout(timeout));
        }
    }
}

impl<B: Buffer> Drop for Reader<B> {
    fn drop(&mut self) {
        self.buffer.generic().retire_reader(&self.counters);
    }
}

impl<B: Buffer> std::fmt::Debug for Reader<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("last_version", &self.last_version)
            .field("lost", &self.lost())
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use crate::sync::Mutex;
    use crate::{Reader, SlotRing, Source};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    #[test]
    fn a_shared_reader_is_not_locked_while_it_waits() {
        let ring = SlotRing::<[f64; 1]>::new(2).unwrap();
        let reader = Arc::new(Mutex::new(ring.reader()));
        let waiter = {
            let reader = Arc::clone(&reader);
            std::thread::spawn(move || Reader::wait_shared(&reader, Duration::from_secs(30)))
        };
        let give_up = Instant::now() + Duration::from_secs(30);
        while ring.statistics().waiting == 0 && Instant::now() < give_up {
            std::thread::yield_now();
        }
        assert_eq!(ring.statistics().waiting, 1);
        // The waiter holds no lock on the reader while it waits.
        assert!(reader.try_lock().is_ok());
        ring.publish([1.0], Source::intern("test")).unwrap();
        let got = waiter.join().unwrap().unwrap();
        assert_eq!((got.version, got.state), (1, [1.0]));
        assert_eq!(reader.lock().unwrap().last_version(), 1);
    }
}
