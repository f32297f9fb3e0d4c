//! # rtstate
//!
//! Real-time state middleware for robots and drones: versioned snapshots of
//! vehicle state in lock-free buffers. Estimators publish, 1 kHz controllers
//! read, telemetry subscribes.
//!
//! - [`SlotRing`]: for plain-data states (`T: bytemuck::Pod`, such as
//!   [`FastDroneState`]): publish allocates nothing, reads copy a stamped
//!   slot through atomics and never block.
//! - [`StateBuffer`]: for any `T: Send + Sync`: reads hand out
//!   `Arc<Snapshot<T>>`.
//! - Both are one [`GenericBuffer`] over a [`storage`] (plain-data or `Arc`
//!   slots), the way `ArcSwap<T>` is `ArcSwapAny<Arc<T>>`.
//! - [`Reader`]: a per-consumer cursor (`updated`, `read_if_updated`, `lost`).
//! - [`StateManager`]: a named registry of buffers of mixed types, with a
//!   `uorb top`-style table.
//! - [`Subscription`]: bounded per-consumer event queues with an explicit
//!   overflow [`Policy`], blocking or async.
//! - [`control`]: a fixed-rate control loop and a cascaded PID controller.
//!
//! # Which read to use
//!
//! | you want | call | cost |
//! | --- | --- | --- |
//! | the latest state in a control loop, and to know what you missed | [`Reader::read`] / [`Reader::read_if_updated`] on a reader made once per consumer | no shared cache line written; counts in the reader's own counters |
//! | the latest state, now and then | [`GenericBuffer::latest`] | one striped counter increment |
//! | the latest state, uncounted (a binding that counts its own) | [`GenericBuffer::peek`] | nothing but the read |
//! | to look at a [`StateBuffer`]'s state without taking it | [`GenericBuffer::with_latest`] | no `Arc` count touched |
//! | every state, in order, without polling | [`GenericBuffer::subscribe`] | a copy (or an `Arc`) per event into your queue |
//! | to sleep until the next state | [`Reader::wait`], [`GenericBuffer::wait_for_update`] | a futex sleep; free for the writer while nobody waits |
//!
//! On a [`SlotRing`] every read copies the state out by value; on a
//! [`StateBuffer`] `latest`, `peek` and `Reader::read` hand out an `Arc`,
//! whose reference count is one cache line that every reader increments
//! and decrements. With many threads reading at once that line bounces
//! between cores and reads stop scaling (the README's scaling table shows
//! the collapse); [`GenericBuffer::with_latest`] borrows the snapshot
//! through arc-swap's per-thread debt slots instead and scales. Use a
//! [`SlotRing`] for states that are plain data.
//!
//! # Limits
//!
//! Every size is checked before anything is allocated, with a named
//! [`Error::InvalidArgument`]: a history capacity of at most
//! [`MAX_HISTORY`], at most [`storage::MAX_STORAGE_BYTES`] of slots per
//! buffer or queue, a subscription queue of at most [`MAX_CAPACITY`] slots
//! and at most [`MAX_SUBSCRIPTION_BYTES`] of queues per buffer. A timeout
//! too large to represent as an instant waits for ever.
//!
//! The Python package (`pip install rtstate`) is built from the same crate
//! with the `python` feature.
#![cfg_attr(docsrs, feature(doc_cfg))]

// The layers, bottom up: sync (the loom shim) → storage (slots and shared
// words) → buffer (publish, read, reset, waits) → reader, subscription,
// notify (consumers) → manager (named buffers); control builds on them.
pub(crate) mod sync;

mod clock;
mod error;
pub mod layout;
mod snapshot;
mod source;
mod statistics;
pub mod storage;

mod buffer;
mod notify;
mod reader;
mod subscription;

mod manager;
pub mod shm;

pub mod control;
#[cfg(all(feature = "record", not(loom)))]
pub mod record;
#[cfg(all(feature = "serve", not(loom)))]
pub mod serve;
pub mod state;

#[cfg(feature = "python")]
mod python;

pub use buffer::{
    Annotated, Buffer, GenericBuffer, SlotRing, StateBuffer, Wakeups, DEFAULT_SLOTS, MAX_HISTORY,
};
pub use clock::{Clock, MockClock};
pub use error::{duration_from_secs, timeout_from_secs, Error, PublishError};
pub use manager::{render_table, BufferInfo, StateManager};
pub use reader::Reader;
pub use snapshot::{Snapshot, State, Version};
pub use source::{Source, MAX_SOURCES, MAX_SOURCE_LEN};
pub use state::{Accel, DroneState, EstimatedState, FastDroneState, Pose, Twist};
pub use statistics::{Statistics, SubscriptionCounters};
pub use subscription::{Iter, Policy, Recv, Subscription, MAX_CAPACITY, MAX_SUBSCRIPTION_BYTES};

/// The README's Rust example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
