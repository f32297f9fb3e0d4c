//! [`RawBuffer`]: a shared buffer whose states are bytes in the layout its
//! header records: what a process that does not have the state's type
//! uses (the Python bindings for numpy layouts, the `rtstate` command).
//!
//! # Algorithm
//!
//! The ring of the in-process buffers, on words of the mapping: `latest`
//! is the sequence number of the latest complete publish and never goes
//! back (a new writer continues it, a reset moves `base` up to it); a
//! publish's version is `seq - base`; slot `seq mod K` holds sequence
//! `seq` with the crate's one stamp protocol (`storage/stamped.rs`); the
//! latest-read loop, the held range, the nearest-in-time choice and the
//! next sequence number are the storage header's, shared with the typed
//! buffer.
//!
//! Publish (the writing process; its threads serialised by a mutex):
//! take the writer lock on first use (a live holder elsewhere refuses);
//! `seq = latest + 1`; write slot `seq mod K`; store `latest = seq`
//! (`Release`); wake waiters through the futex (no syscall when nobody
//! waits).
//!
//! Read: load `latest` (`Acquire`) and `base`; empty if `latest ≤ base`;
//! otherwise copy slot `latest mod K` validated by its stamp, retrying if
//! the writer lapped the ring during the copy.
//!
//! A writer killed at any instant leaves `latest` naming the last complete
//! publish (the slot of a publish cut short is never named), so readers
//! keep reading it; the next writer takes the lock over (the dead
//! process's pid and start time no longer match a running process) and
//! writes `latest + 1` into that slot again.

use super::region::{ident_alive, ident_pid, CreateOptions, Region, Row, SourceNames};
use crate::clock::Clock;
use crate::layout::Layout;
use crate::storage::stamped;
use crate::storage::SlotMeta;
use crate::sync::{lock, Mutex};
use crate::{Error, Source};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// One published state as bytes, with its version, times and source.
#[derive(Clone, Debug, PartialEq)]
pub struct RawSnapshot {
    /// The state's bytes (the layout's size).
    pub bytes: Vec<u8>,
    /// Its sequence number (never reused; see [`SlotMeta::seq`]).
    pub seq: u64,
    /// Its version.
    pub version: u64,
    /// The state's timestamp (or its publish time), wall-clock seconds.
    pub timestamp: f64,
    /// Wall-clock seconds of the publish.
    pub published_at: f64,
    /// Monotonic ns of the publish on the writing process's clock.
    pub published_ns: u64,
    /// The publisher's name, if recorded.
    pub source: Option<String>,
}

/// What a shared buffer's header says about its state and its users.
#[derive(Clone, Debug, PartialEq)]
pub struct SharedStatistics {
    /// Publishes since creation or the last reset: the latest version less
    /// the versions skipped by [`RawBuffer::publish_at_version`].
    pub updates: u64,
    /// The latest version (0 when empty).
    pub current_version: u64,
    /// Reads, summed over every process.
    pub reads: u64,
    /// Versions readers never saw, summed over every process.
    pub lost: u64,
    /// Stale reads, summed over every process.
    pub stale_reads: u64,
    /// Live reader handles, every process.
    pub readers: u64,
    /// Live processes with the buffer open.
    pub processes: u64,
    /// Threads waiting for a publish, every process.
    pub waiting: u64,
    /// History capacity.
    pub capacity: usize,
    /// The writer's pid (the current one, else the last; 0 if none ever).
    pub writer_pid: u32,
    /// Whether a writer holds the buffer and is running.
    pub writer_alive: bool,
    /// Seconds since the latest state's timestamp, if any.
    pub latest_age: Option<f64>,
    /// Wall-clock time of the latest publish, if any.
    pub last_update_time: Option<f64>,
    /// Whether the buffer was closed.
    pub closed: bool,
}

struct WriterState {
    holding: bool,
    source: Option<(String, u32)>,
}

struct Inner {
    region: Region,
    state_size: usize,
    sources: SourceNames,
    row: Option<Row>,
    writer: Mutex<WriterState>,
    clock: Clock,
    mask: u64,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(row) = self.row {
            self.region.release_row(row);
        }
        if lock(&self.writer).holding {
            self.region.release_writer();
        }
    }
}

/// A handle on a shared buffer, states as bytes. Cloning gives another
/// handle on the same mapping.
#[derive(Clone)]
pub struct RawBuffer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RawBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawBuffer")
            .field("name", &self.name())
            .field("version", &self.version())
            .finish()
    }
}

fn wall_now() -> f64 {
    Clock::System.wall()
}

impl RawBuffer {
    fn from_region(region: Region) -> RawBuffer {
        let row = region.claim_row();
        let mask = (region.geometry().slots - 1) as u64;
        RawBuffer {
            inner: Arc::new(Inner {
                state_size: region.layout().size(),
                region,
                sources: Default::default(),
                row,
                writer: Mutex::new(WriterState {
                    holding: false,
                    source: None,
                }),
                clock: Clock::System,
                mask,
            }),
        }
    }

    /// Creates (or takes over) buffer `name` with `layout` and `capacity`,
    /// as its writer: a live writer in another process refuses with its pid.
    pub fn create(
        name: &str,
        layout: &Layout,
        capacity: usize,
        options: CreateOptions,
    ) -> Result<RawBuffer, Error> {
        Self::create_in(&super::name::shm_dir(), name, layout, capacity, options)
    }

    /// [`create`](Self::create) in `dir`.
    pub fn create_in(
        dir: &Path,
        name: &str,
        layout: &Layout,
        capacity: usize,
        options: CreateOptions,
    ) -> Result<RawBuffer, Error> {
        let region = Region::create_or_open_in(dir, name, layout, capacity, options)?;
        let buffer = Self::from_region(region);
        buffer.take_writer()?;
        Ok(buffer)
    }

    /// Opens existing buffer `name` (any layout) to read; a publish through
    /// it takes the writer lock first.
    pub fn open(name: &str) -> Result<RawBuffer, Error> {
        Self::open_in(&super::name::shm_dir(), name)
    }

    /// [`open`](Self::open) in `dir`.
    pub fn open_in(dir: &Path, name: &str) -> Result<RawBuffer, Error> {
        Ok(Self::from_region(Region::open_in(dir, name)?))
    }

    /// Takes the writer lock for this handle (and its clones), if not yet
    /// held.
    pub fn take_writer(&self) -> Result<(), Error> {
        self.writer().map(drop)
    }

    /// This handle's writer state, locked, with the file's writer lock
    /// taken (on first use; a live writer elsewhere refuses).
    fn writer(&self) -> Result<crate::sync::MutexGuard<'_, WriterState>, Error> {
        let mut w = lock(&self.inner.writer);
        if !w.holding {
            self.inner.region.take_writer()?;
            w.holding = true;
        }
        Ok(w)
    }

    /// Whether this handle holds the writer lock.
    pub fn is_writer(&self) -> bool {
        lock(&self.inner.writer).holding
    }

    /// The mapped file's header.
    pub fn region(&self) -> &Region {
        &self.inner.region
    }

    /// The buffer's name.
    pub fn name(&self) -> &str {
        self.inner.region.name()
    }

    /// The layout of its states.
    pub fn layout(&self) -> &Layout {
        self.inner.region.layout()
    }

    /// History capacity.
    pub fn capacity(&self) -> usize {
        self.inner.region.geometry().capacity
    }

    /// Publishes `bytes` (exactly the layout's size) with `timestamp`
    /// (default: the layout's `f64` field named `timestamp` if it has one,
    /// else the publish time) from `source`; returns the version. Takes the
    /// writer lock on first use.
    pub fn publish(
        &self,
        bytes: &[u8],
        timestamp: Option<f64>,
        source: &str,
    ) -> Result<u64, Error> {
        self.publish_inner(bytes, timestamp, source, None)
    }

    /// [`publish`](Self::publish) as version `version` of this epoch, which
    /// must be newer than the latest ([`Error::VersionNotNewer`]
    /// otherwise, nothing published): the versions in between are skipped
    /// (absent from the history, lost to readers), as
    /// [`GenericBuffer::publish_at_version`](crate::GenericBuffer::publish_at_version)
    /// does. What a mirror of a remote buffer uses, so that its versions
    /// are the remote ones.
    ///
    /// Runs no foreign code (no waker, no callback, no state's drop): its
    /// only wake-up is a futex wake, a syscall, which waiters in this
    /// process share with those of other processes. So, unlike the
    /// in-process buffers (see
    /// [`GenericBuffer::publish_at_version_deferred`](crate::GenericBuffer::publish_at_version_deferred)),
    /// it needs no deferred variant to be called under a caller's lock; the
    /// same holds for [`reset`](Self::reset).
    pub fn publish_at_version(
        &self,
        bytes: &[u8],
        timestamp: Option<f64>,
        source: &str,
        version: u64,
    ) -> Result<u64, Error> {
        self.publish_inner(bytes, timestamp, source, Some(version))
    }

    fn publish_inner(
        &self,
        bytes: &[u8],
        timestamp: Option<f64>,
        source: &str,
        at: Option<u64>,
    ) -> Result<u64, Error> {
        let inner = &*self.inner;
        let region = &inner.region;
        let size = region.layout().size();
        if bytes.len() != size {
            return Err(Error::InvalidArgument {
                name: "state",
                reason: format!("{} bytes, the layout has {size}", bytes.len()),
            });
        }
        let timestamp = timestamp.or_else(|| region.layout().timestamp_in(bytes));
        if let Some(t) = timestamp {
            if !t.is_finite() {
                return Err(Error::NonFinite { field: "timestamp" });
            }
        }
        if self.is_closed() {
            return Err(Error::Closed);
        }
        let mut w = self.writer()?;
        // Only the lock holder stores the sequence words, and this process
        // holds it (its threads serialised by `writer`): the version is
        // checked before anything is written.
        let header = region.header();
        let (seq, version, skipped) = match at {
            None => {
                let (seq, version) = header.next_publish();
                (seq, version, 0)
            }
            Some(at) => {
                let (seq, skipped) = header.publish_at(at)?;
                (seq, at, skipped)
            }
        };
        let source_index = match &w.source {
            Some((name, index)) if name == source => *index,
            _ => {
                let index = region.source_index(source).unwrap_or(u32::MAX);
                w.source = Some((source.to_string(), index));
                index
            }
        };
        let now_ns = inner.clock.now_ns();
        let published_at = inner.clock.wall_at(now_ns);
        let meta = SlotMeta {
            seq,
            version,
            timestamp: timestamp.unwrap_or(published_at),
            published_at,
            published_ns: now_ns,
            source: source_index,
        };
        stamped::write(
            region.slot_words((seq & inner.mask) as usize),
            seq,
            &meta,
            bytes,
        );
        header.count_skipped(skipped);
        // Release (in `set_latest`); pairs with the readers' Acquire load
        // of `latest`: a reader that sees `seq` finds its slot complete.
        header.set_latest(seq);
        drop(w);
        region.notify();
        Ok(meta.version)
    }

    /// Reads sequence `seq` (of the epoch starting after `base`) into `out`.
    #[inline]
    fn read_seq_into(&self, seq: u64, base: u64, out: &mut [u8]) -> Option<SlotMeta> {
        let words = self
            .inner
            .region
            .slot_words((seq & self.inner.mask) as usize);
        let meta = stamped::read(words, seq, out)?;
        // A publish from before a reset racing with this read is refused.
        (meta.version == seq - base).then_some(meta)
    }

    fn read_seq(&self, seq: u64, base: u64) -> Option<RawSnapshot> {
        let mut bytes = vec![0u8; self.inner.region.layout().size()];
        let meta = self.read_seq_into(seq, base, &mut bytes)?;
        Some(self.raw_snapshot(bytes, meta))
    }

    fn raw_snapshot(&self, bytes: Vec<u8>, meta: SlotMeta) -> RawSnapshot {
        RawSnapshot {
            bytes,
            seq: meta.seq,
            version: meta.version,
            timestamp: meta.timestamp,
            published_at: meta.published_at,
            published_ns: meta.published_ns,
            source: self.inner.region.source_name(meta.source),
        }
    }

    /// The publisher's name at `index` of the header's table, interned in
    /// this process once per handle (entries never change once written).
    #[inline]
    pub fn source(&self, index: u32) -> Source {
        self.inner.sources.get(&self.inner.region, index)
    }

    /// Copies the latest state into `out` (exactly the layout's size)
    /// without allocating or counting a read; its metadata, or `None` when
    /// empty.
    #[inline]
    pub fn peek_into(&self, out: &mut [u8]) -> Option<SlotMeta> {
        assert_eq!(out.len(), self.inner.state_size, "state size");
        let header = self.inner.region.header();
        let (_, meta) = header.load_latest(|seq, base| self.read_seq_into(seq, base, out))?;
        Some(meta)
    }

    /// `(base, latest)`: `latest` (`Acquire`), then `base`. A reset
    /// between the two loads gives `base ≥ latest` (empty, as just after
    /// the reset); one after them leaves a read of the epoch before it
    /// (linearised before the reset), which the version check in
    /// `read_seq_into` keeps consistent.
    #[inline]
    fn words(&self) -> (u64, u64) {
        let header = self.inner.region.header();
        // `latest` with Acquire (its slot is complete), then `base`: see
        // `storage::Header::base_after_latest`.
        let latest = header.latest();
        (header.base_after_latest(), latest)
    }

    /// The latest snapshot without counting a read.
    pub fn peek(&self) -> Option<RawSnapshot> {
        let mut bytes = vec![0u8; self.inner.region.layout().size()];
        let meta = self.peek_into(&mut bytes)?;
        Some(self.raw_snapshot(bytes, meta))
    }

    /// The latest snapshot, counted as a read.
    pub fn latest(&self) -> Option<RawSnapshot> {
        let s = self.peek()?;
        self.count_reads(1);
        Some(s)
    }

    /// The latest snapshot if its timestamp is at most `max_age` old;
    /// otherwise `None`, counted as a stale read.
    pub fn latest_fresh(&self, max_age: Duration) -> Option<RawSnapshot> {
        let s = self.peek()?;
        if wall_now() - s.timestamp <= max_age.as_secs_f64() {
            self.count_reads(1);
            Some(s)
        } else {
            self.count_stale();
            None
        }
    }

    /// The held snapshots, oldest first (at most the capacity).
    pub fn history(&self) -> Vec<RawSnapshot> {
        let (base, held) = self.inner.region.header().held(self.capacity());
        held.filter_map(|seq| self.read_seq(seq, base)).collect()
    }

    /// The held snapshot whose timestamp is nearest `time`, if within
    /// `max_age` of it; otherwise `None`, counted as a stale read.
    pub fn state_at(&self, time: f64, max_age: Duration) -> Option<RawSnapshot> {
        let (best, within) =
            crate::storage::nearest(self.history(), time, max_age, |s| s.timestamp)?;
        if within {
            self.count_reads(1);
            Some(best)
        } else {
            self.count_stale();
            None
        }
    }

    /// `(base, latest)`: the sequence number of the latest publish and
    /// `latest` at the last reset (the buffer is empty while they are
    /// equal). Sequence numbers never repeat, so a handle can keep what it
    /// built for the latest publish while this pair is unchanged.
    #[inline]
    pub fn position(&self) -> (u64, u64) {
        self.words()
    }

    /// The latest version (0 when empty).
    pub fn version(&self) -> u64 {
        let (base, latest) = self.words();
        latest.saturating_sub(base)
    }

    /// Blocks (on the futex, without spinning) until a version after
    /// `after` is published (its version), the buffer closes
    /// (`Error::Closed`) or `timeout` passes (`Error::Timeout`).
    pub fn wait_for_update(&self, after: u64, timeout: Duration) -> Result<u64, Error> {
        self.inner
            .region
            .wait_until(
                self.inner.row,
                || {
                    let v = self.version();
                    if v > after {
                        Some(Ok(v))
                    } else if self.is_closed() {
                        Some(Err(Error::Closed))
                    } else {
                        None
                    }
                },
                Some(timeout),
            )
            .unwrap_or(Err(Error::Timeout(timeout)))
    }

    /// Closes the buffer for every process: publishes fail, waits end.
    /// Reads still return the last state.
    pub fn close(&self) {
        self.inner.region.close();
    }

    /// Whether the buffer was closed.
    pub fn is_closed(&self) -> bool {
        self.inner.region.is_closed()
    }

    /// Forgets every state (versions restart at 1; sequence numbers, and so
    /// slot stamps, go on). Writer only.
    pub fn reset(&self) -> Result<(), Error> {
        let region = &self.inner.region;
        let w = self.writer()?;
        // `base = latest` (Release), resets + 1, counters zeroed.
        region.header().reset();
        drop(w);
        region.notify();
        Ok(())
    }

    /// Counts reads in this process's row.
    #[inline]
    pub fn count_reads(&self, n: u64) {
        if n == 0 {
            return;
        }
        if let Some(row) = self.inner.row {
            self.inner.region.add_reads(row, n);
        }
    }

    /// Counts lost versions in this process's row.
    pub fn count_lost(&self, n: u64) {
        if n == 0 {
            return;
        }
        if let Some(row) = self.inner.row {
            self.inner.region.add_lost(row, n);
        }
    }

    fn count_stale(&self) {
        if let Some(row) = self.inner.row {
            self.inner.region.add_stale(row);
        }
    }

    /// A per-consumer cursor on this buffer.
    pub fn reader(&self) -> RawReader {
        if let Some(row) = self.inner.row {
            self.inner.region.add_reader(row, true);
        }
        RawReader {
            buffer: self.clone(),
            last: 0,
            baseline: self.version(),
            resets: self.resets(),
            lost: 0,
            reads: 0,
            unflushed_reads: 0,
        }
    }

    #[inline]
    fn resets(&self) -> u64 {
        self.inner.region.header().resets()
    }

    /// The header's statistics, summed over every process.
    pub fn statistics(&self) -> SharedStatistics {
        let region = &self.inner.region;
        let counts = region.counts();
        let latest = self.peek();
        let writer = region.writer();
        let shown = if writer != 0 {
            writer
        } else {
            region.last_writer()
        };
        let version = self.version();
        SharedStatistics {
            updates: version.saturating_sub(region.header().skipped()),
            current_version: version,
            reads: counts.reads,
            lost: counts.lost,
            stale_reads: counts.stale,
            readers: counts.readers,
            processes: counts.processes,
            waiting: region.waiting(),
            capacity: self.capacity(),
            writer_pid: ident_pid(shown),
            writer_alive: ident_alive(writer),
            latest_age: latest.as_ref().map(|s| (wall_now() - s.timestamp).max(0.0)),
            last_update_time: latest.as_ref().map(|s| s.published_at),
            closed: self.is_closed(),
        }
    }
}

/// One consumer's cursor on a [`RawBuffer`] (as [`Reader`](crate::Reader)
/// on in-process buffers): `updated`, `read_if_updated`, `lost`. Its reads
/// reach the header's row every [`FLUSH_EVERY`] reads and when it is
/// dropped (a read makes no read-modify-write on shared memory); lost
/// versions at once.
#[derive(Debug)]
pub struct RawReader {
    buffer: RawBuffer,
    last: u64,
    baseline: u64,
    resets: u64,
    lost: u64,
    reads: u64,
    unflushed_reads: u64,
}

/// Reads a [`RawReader`] counts before adding them to the header (as a
/// [`Reader`](crate::Reader) does).
pub const FLUSH_EVERY: u64 = crate::reader::FLUSH_EVERY;

impl RawReader {
    #[inline]
    fn follow_reset(&mut self) {
        let resets = self.buffer.resets();
        if resets != self.resets {
            self.resets = resets;
            self.last = 0;
            self.baseline = 0;
        }
    }

    /// Whether a version newer than the last one read exists.
    pub fn updated(&self) -> bool {
        let v = self.buffer.version();
        if self.buffer.resets() != self.resets {
            return v != 0;
        }
        v > self.last
    }

    /// Copies the latest state (even if already read) into `out`; advances
    /// the cursor. No allocation.
    #[inline]
    pub fn read_into(&mut self, out: &mut [u8]) -> Option<SlotMeta> {
        self.follow_reset();
        let meta = self.buffer.peek_into(out)?;
        self.advance(meta.version);
        Some(meta)
    }

    /// Copies the latest state into `out` if it is newer than the last one
    /// read.
    #[inline]
    pub fn read_if_updated_into(&mut self, out: &mut [u8]) -> Option<SlotMeta> {
        self.follow_reset();
        if self.buffer.version() <= self.last {
            return None;
        }
        let meta = self.buffer.peek_into(out)?;
        if meta.version <= self.last {
            return None;
        }
        self.advance(meta.version);
        Some(meta)
    }

    fn owned(
        &mut self,
        f: impl FnOnce(&mut Self, &mut [u8]) -> Option<SlotMeta>,
    ) -> Option<RawSnapshot> {
        let mut bytes = vec![0u8; self.buffer.layout().size()];
        let meta = f(self, &mut bytes)?;
        Some(self.buffer.raw_snapshot(bytes, meta))
    }

    /// The latest snapshot (even if already read); advances the cursor.
    pub fn read(&mut self) -> Option<RawSnapshot> {
        self.owned(Self::read_into)
    }

    /// The latest snapshot if newer than the last one read.
    pub fn read_if_updated(&mut self) -> Option<RawSnapshot> {
        self.owned(Self::read_if_updated_into)
    }

    /// Blocks until a version newer than the last one read exists, then
    /// reads it.
    pub fn wait(&mut self, timeout: Duration) -> Result<RawSnapshot, Error> {
        self.follow_reset();
        self.buffer.wait_for_update(self.last, timeout)?;
        self.read_if_updated().ok_or(Error::Closed)
    }

    #[inline]
    fn advance(&mut self, version: u64) {
        self.reads += 1;
        self.unflushed_reads += 1;
        let seen = self.last.max(self.baseline);
        if version > seen + 1 {
            // Counted in the header at once (rarer than reads, and what
            // other processes watch for).
            let lost = version - seen - 1;
            self.lost += lost;
            self.buffer.count_lost(lost);
        }
        if version > self.last {
            self.last = version;
        }
        if self.unflushed_reads >= FLUSH_EVERY {
            self.flush();
        }
    }

    /// Adds this reader's counts so far to the header (done every
    /// [`FLUSH_EVERY`] reads and on drop).
    pub fn flush(&mut self) {
        self.buffer
            .count_reads(std::mem::take(&mut self.unflushed_reads));
    }

    /// Versions published after this reader's creation that it never read.
    pub fn lost(&self) -> u64 {
        self.lost
    }

    /// Reads through this cursor.
    pub fn reads(&self) -> u64 {
        self.reads
    }

    /// The last version read (0 before the first read).
    pub fn last_version(&self) -> u64 {
        self.last
    }

    /// The buffer read.
    pub fn buffer(&self) -> &RawBuffer {
        &self.buffer
    }
}

impl Drop for RawReader {
    fn drop(&mut self) {
        self.flush();
        if let Some(row) = self.buffer.inner.row {
            self.buffer.inner.region.add_reader(row, false);
        }
    }
}
