//! Buffers shared between processes: a buffer's header and stamped slots
//! live in a memory-mapped file (one per buffer, in `/dev/shm` or
//! `$RTSTATE_SHM_DIR`), so that processes in any language read it with
//! the same protocol and guarantees as in-process.
//!
//! - [`name`]: buffer names, their files, the directory.
//! - [`region`]: the header (layout, geometry, writer lock, statistics rows,
//!   futex words), validated opening, listing and cleaning.
//! - [`raw`]: the ring over the mapping, states as bytes in the recorded
//!   layout ([`RawBuffer`], [`RawReader`]).
//! - [`storage`]: [`Mapped<T>`], the shared-memory [`Storage`](crate::storage::Storage)
//!   of the crate's one buffer, and its slots [`MappedSlots<T>`].
//! - [`typed`]: [`SharedRing<T>`] = `GenericBuffer<Mapped<T>>` for a Rust
//!   type with a layout, from `SlotRing::<T>::create_shared` / `open_shared`.
//! - `wake`: the futex wait/wake handshake (loom-modelled).
//! - `map`: the mapping and the futex calls, the only `unsafe` code.

#[cfg(not(loom))]
mod map;
pub mod name;
#[cfg(not(loom))]
pub mod raw;
#[cfg(not(loom))]
pub mod region;
#[cfg(not(loom))]
pub mod storage;
#[cfg(not(loom))]
pub mod typed;
mod wake;

pub use crate::storage::SlotMeta;
#[cfg(not(loom))]
pub use raw::{RawBuffer, RawReader, RawSnapshot, SharedStatistics};
#[cfg(not(loom))]
pub use region::{
    clean, list, remove, Counts, CreateOptions, Geometry, ListedBuffer, Listing, Region, Row,
};
#[cfg(not(loom))]
pub use storage::{Mapped, MappedSlots};
#[cfg(not(loom))]
pub use typed::{SharedReader, SharedRing};

/// What can go wrong with a shared buffer's name or file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ShmError {
    /// The buffer name cannot be a file name (`..`, a leading `/`, NUL,
    /// too long, a character outside the allowed set).
    #[error("invalid buffer name \"{name}\": {reason}")]
    InvalidName {
        /// The name, escaped.
        name: String,
        /// Why it is refused.
        reason: String,
    },
    /// An argument outside its domain.
    #[error("invalid argument `{name}`: {reason}")]
    InvalidArgument {
        /// The argument.
        name: &'static str,
        /// Why.
        reason: String,
    },
    /// No file for this buffer.
    #[error("no shared buffer `{name}` ({path})")]
    NotFound {
        /// The buffer's name.
        name: String,
        /// The file looked for.
        path: String,
    },
    /// The file is not a usable buffer (wrong magic or version, truncated,
    /// inconsistent header).
    #[error("{path} is not a valid rtstate buffer: {reason}")]
    NotABuffer {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The buffer holds another layout than the one asked for.
    #[error("buffer `{name}` has layout {found}, expected {expected}")]
    LayoutMismatch {
        /// The buffer's name.
        name: String,
        /// The layout asked for.
        expected: String,
        /// The layout the buffer records.
        found: String,
    },
    /// Another running process is the buffer's writer.
    #[error("buffer `{name}` is being written by process {pid}")]
    WriterBusy {
        /// The buffer's name.
        name: String,
        /// The writing process.
        pid: u32,
    },
    /// An operating-system error.
    #[error("{path}: {message}")]
    Io {
        /// The file or directory.
        path: String,
        /// The error's kind.
        kind: std::io::ErrorKind,
        /// The OS's message.
        message: String,
    },
}
