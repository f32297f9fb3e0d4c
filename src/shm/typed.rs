//! [`SharedRing<T>`]: the crate's one buffer, [`GenericBuffer`], on the
//! shared-memory storage [`Mapped<T>`], for a Rust plain-data type that
//! describes its layout ([`PodLayout`]). Opened with
//! [`SlotRing::create_shared`] / [`SlotRing::open_shared`]; the layout is
//! checked against the file's header before anything is read, so a type
//! with another layout is refused (showing both).
//!
//! Everything a [`SlotRing`] does works the same (publish, `latest`,
//! `history`, `state_at`, readers and `lost`, waits, reset, close,
//! statistics), across processes: waits sleep on the file's futex, the
//! first publish through a handle takes the file's writer lock, a close
//! reaches every process. Subscriptions are delivered by the publishing
//! process to its own subscribers (a reader process subscribes with a
//! thread that waits, as the Python binding does). An `f64` field named
//! `timestamp` is the state's own time, as in every language.
//!
//! `statistics()` sums the reads every process counted in the file's
//! header (`latest`, freshness checks, reader handles every 256 reads and
//! when dropped); its `readers`, `lost` of live readers not yet moved there
//! and `waiting` are this process's.
//! [`Region::counts`] sums the per-process rows of every process.
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

use super::region::{CreateOptions, Region};
use super::storage::Mapped;
use crate::clock::Clock;
use crate::layout::{ElementType, PodLayout};
use crate::storage::Storage;
use crate::{Error, GenericBuffer, Reader, SlotRing};
use std::path::Path;

/// A shared-memory buffer of `T`: [`GenericBuffer`] on [`Mapped<T>`].
pub type SharedRing<T> = GenericBuffer<Mapped<T>>;

/// A reader cursor on a [`SharedRing`].
pub type SharedReader<T> = Reader<SharedRing<T>>;

/// The layout convention: an `f64` field named `timestamp` is the state's
/// own time (checked finite).
fn inspect_layout<T: PodLayout>(state: &T) -> Result<Option<f64>, Error> {
    let Some(field) = T::FIELDS
        .iter()
        .find(|f| f.name == "timestamp" && f.element == ElementType::F64 && f.count == 1)
    else {
        return Ok(None);
    };
    let bytes = bytemuck::bytes_of(state);
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[field.offset..field.offset + 8]);
    let t = f64::from_ne_bytes(word);
    if t.is_finite() {
        Ok(Some(t))
    } else {
        Err(Error::NonFinite { field: "timestamp" })
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
    /// layout. Its first publish takes the file's writer lock.
    pub fn open_shared(name: &str) -> Result<SharedRing<T>, Error> {
        SharedRing::open(name)
    }
}

impl<T: PodLayout + Send + Sync> GenericBuffer<Mapped<T>> {
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
        let region = Region::create_or_open_in(dir, name, &T::layout(), capacity, options)?;
        let storage = Mapped::new(region);
        storage.claim_writer()?;
        Ok(Self::on(storage))
    }

    /// [`SlotRing::open_shared`].
    pub fn open(name: &str) -> Result<Self, Error> {
        Self::open_in(&super::name::shm_dir(), name)
    }

    /// [`open`](Self::open) in directory `dir`.
    pub fn open_in(dir: &Path, name: &str) -> Result<Self, Error> {
        let region = Region::open_in(dir, name)?;
        region.expect_layout(&T::layout())?;
        Ok(Self::on(Mapped::new(region)))
    }

    fn on(storage: Mapped<T>) -> Self {
        let capacity = storage.region().geometry().capacity;
        GenericBuffer::from_storage(storage, capacity, Clock::System, inspect_layout::<T>)
    }

    /// The mapped file (name, layout, geometry, writer, per-process counts).
    pub fn region(&self) -> &Region {
        self.storage().region()
    }
}
