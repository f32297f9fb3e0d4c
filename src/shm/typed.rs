//! [`SharedRing<T>`]: a shared buffer of a Rust plain-data type that
//! describes its layout ([`PodLayout`]), opened with
//! [`SlotRing::create_shared`] / [`SlotRing::open_shared`]. The states are
//! the bytes of [`RawBuffer`], converted with `bytemuck`; the layout is
//! checked against the header when the buffer is opened, so a type with
//! another layout is refused (showing both) before any state is read.
//!
//! ```
//! use rtstate::{FastDroneState, SlotRing, Source};
//! # let dir = std::env::temp_dir().join(format!("rtstate-doc-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir).unwrap();
//! # std::env::set_var("RTSTATE_SHM_DIR", &dir);
//! // The estimator's process:
//! let writer = SlotRing::<FastDroneState>::create_shared("doc/fast_state", 5)?;
//! writer.publish(FastDroneState::default(), Source::intern("estimator"))?;
//! // Any other process (Rust, Python, the `rtstate` command):
//! let ring = SlotRing::<FastDroneState>::open_shared("doc/fast_state")?;
//! let mut reader = ring.reader();
//! assert_eq!(reader.read().unwrap().version, 1);
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # Ok::<(), rtstate::Error>(())
//! ```

use super::raw::{RawBuffer, RawReader, RawSnapshot, SharedStatistics};
use super::region::CreateOptions;
use super::slots::SlotMeta;
use crate::layout::PodLayout;
use crate::{Error, PublishError, SlotRing, Snapshot, Source, Version};
use std::marker::PhantomData;
use std::path::Path;
use std::time::Duration;

/// A shared-memory buffer of `T` (see the [module docs](self)): the API of
/// [`SlotRing`] across processes. Cloning gives another handle on the same
/// mapping.
pub struct SharedRing<T> {
    raw: RawBuffer,
    _state: PhantomData<fn() -> T>,
}

impl<T> Clone for SharedRing<T> {
    fn clone(&self) -> Self {
        SharedRing {
            raw: self.raw.clone(),
            _state: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for SharedRing<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedRing")
            .field("raw", &self.raw)
            .finish()
    }
}

fn snapshot<T: PodLayout>(s: RawSnapshot) -> Snapshot<T> {
    Snapshot {
        state: bytemuck::pod_read_unaligned(&s.bytes),
        version: s.version,
        timestamp: s.timestamp,
        published_at: s.published_at,
        published_ns: s.published_ns,
        source: s.source.as_deref().map_or(Source::UNKNOWN, Source::intern),
    }
}

impl<T: PodLayout + Send + Sync> SlotRing<T> {
    /// Creates shared buffer `name` for `T` with a history of `capacity`
    /// (or takes over an existing one whose writer has exited: versions
    /// continue), and makes this process its writer. Errors: a bad name,
    /// a running writer elsewhere (with its pid), another layout (showing
    /// both), another capacity.
    pub fn create_shared(name: &str, capacity: usize) -> Result<SharedRing<T>, Error> {
        SharedRing::create(name, capacity, CreateOptions::default())
    }

    /// Opens existing shared buffer `name`, checking that it holds `T`'s
    /// layout. A publish through it takes the writer lock.
    pub fn open_shared(name: &str) -> Result<SharedRing<T>, Error> {
        SharedRing::open(name)
    }
}

impl<T: PodLayout> SharedRing<T> {
    /// [`SlotRing::create_shared`] with options (file mode, slots).
    pub fn create(name: &str, capacity: usize, options: CreateOptions) -> Result<Self, Error> {
        Self::create_in(&super::name::shm_dir(), name, capacity, options)
    }

    /// [`create`](Self::create) in directory `dir`.
    pub fn create_in(
        dir: &Path,
        name: &str,
        capacity: usize,
        options: CreateOptions,
    ) -> Result<Self, Error> {
        let raw = RawBuffer::create_in(dir, name, &T::layout(), capacity, options)?;
        Ok(SharedRing {
            raw,
            _state: PhantomData,
        })
    }

    /// [`SlotRing::open_shared`].
    pub fn open(name: &str) -> Result<Self, Error> {
        Self::open_in(&super::name::shm_dir(), name)
    }

    /// [`open`](Self::open) in directory `dir`.
    pub fn open_in(dir: &Path, name: &str) -> Result<Self, Error> {
        let raw = RawBuffer::open_in(dir, name)?;
        raw.region().expect_layout(&T::layout())?;
        Ok(SharedRing {
            raw,
            _state: PhantomData,
        })
    }

    /// Publishes `state`; returns its version. A `f64` field named
    /// `timestamp` is the state's own time (checked finite). Allocates
    /// nothing but a copy of the source name's index on first use; never
    /// waits for a reader. A refused state comes back in the error.
    pub fn publish(&self, state: T, source: Source) -> Result<Version, PublishError<T>> {
        self.raw
            .publish(bytemuck::bytes_of(&state), None, source.as_str())
            .map_err(|error| PublishError { error, state })
    }

    /// The latest snapshot, counted as a read. No lock, no syscall, no
    /// allocation.
    #[inline]
    pub fn latest(&self) -> Option<Snapshot<T>> {
        let s = self.peek()?;
        self.raw.count_reads(1);
        Some(s)
    }

    /// The latest snapshot without counting a read.
    #[inline]
    pub fn peek(&self) -> Option<Snapshot<T>> {
        let mut state = T::zeroed();
        let meta = self.raw.peek_into(bytemuck::bytes_of_mut(&mut state))?;
        Some(typed(&self.raw, state, meta))
    }

    /// The latest snapshot if at most `max_age` old, else `None` (a stale
    /// read).
    pub fn latest_fresh(&self, max_age: Duration) -> Option<Snapshot<T>> {
        self.raw.latest_fresh(max_age).map(snapshot)
    }

    /// The snapshots held, oldest first.
    pub fn history(&self) -> Vec<Snapshot<T>> {
        self.raw.history().into_iter().map(snapshot).collect()
    }

    /// The held snapshot nearest `time`, if within `max_age` of it.
    pub fn state_at(&self, time: f64, max_age: Duration) -> Option<Snapshot<T>> {
        self.raw.state_at(time, max_age).map(snapshot)
    }

    /// The latest version (0 when empty).
    pub fn version(&self) -> Version {
        self.raw.version()
    }

    /// Blocks on the buffer's futex until a version after `after` is
    /// published by any process.
    pub fn wait_for_update(&self, after: Version, timeout: Duration) -> Result<Version, Error> {
        self.raw.wait_for_update(after, timeout)
    }

    /// A per-consumer cursor.
    pub fn reader(&self) -> SharedReader<T> {
        SharedReader {
            raw: self.raw.reader(),
            _state: PhantomData,
        }
    }

    /// Statistics summed over every process.
    pub fn statistics(&self) -> SharedStatistics {
        self.raw.statistics()
    }

    /// Closes the buffer for every process.
    pub fn close(&self) {
        self.raw.close()
    }

    /// Forgets every state (versions restart at 1; stamps never repeat).
    pub fn reset(&self) -> Result<(), Error> {
        self.raw.reset()
    }

    /// The untyped handle (header, layout, raw bytes).
    pub fn raw(&self) -> &RawBuffer {
        &self.raw
    }
}

fn typed<T>(raw: &RawBuffer, state: T, meta: SlotMeta) -> Snapshot<T> {
    Snapshot {
        state,
        version: meta.version,
        timestamp: meta.timestamp,
        published_at: meta.published_at,
        published_ns: meta.published_ns,
        source: raw.source(meta.source),
    }
}

/// One consumer's cursor on a [`SharedRing`].
#[derive(Debug)]
pub struct SharedReader<T> {
    raw: RawReader,
    _state: PhantomData<fn() -> T>,
}

impl<T: PodLayout> SharedReader<T> {
    /// Whether a version newer than the last one read exists.
    pub fn updated(&self) -> bool {
        self.raw.updated()
    }

    /// The latest snapshot (even if already read); advances the cursor.
    /// No lock, no syscall, no allocation.
    #[inline]
    pub fn read(&mut self) -> Option<Snapshot<T>> {
        let mut state = T::zeroed();
        let meta = self.raw.read_into(bytemuck::bytes_of_mut(&mut state))?;
        Some(typed(self.raw.buffer(), state, meta))
    }

    /// The latest snapshot if newer than the last one read.
    #[inline]
    pub fn read_if_updated(&mut self) -> Option<Snapshot<T>> {
        let mut state = T::zeroed();
        let meta = self
            .raw
            .read_if_updated_into(bytemuck::bytes_of_mut(&mut state))?;
        Some(typed(self.raw.buffer(), state, meta))
    }

    /// Blocks until a newer version exists, then reads it.
    pub fn wait(&mut self, timeout: Duration) -> Result<Snapshot<T>, Error> {
        self.raw.wait(timeout).map(snapshot)
    }

    /// Versions published after this reader's creation that it never read.
    pub fn lost(&self) -> u64 {
        self.raw.lost()
    }

    /// The last version read.
    pub fn last_version(&self) -> Version {
        self.raw.last_version()
    }
}
