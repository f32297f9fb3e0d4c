//! # rtstate
//!
//! Real-time state middleware for robots and drones: versioned snapshots of
//! vehicle state in lock-free buffers. Estimators publish, 1 kHz controllers
//! read, telemetry subscribes.
//!
//! - [`SlotRing`]: for plain-data states (`T: bytemuck::Pod`, such as
//!   [`FastDroneState`]): publish allocates nothing, reads copy a stamped
//!   slot through atomics and never block.
//! - [`StateBuffer`]: for any `T: Send + Sync`, on `arc-swap`: reads hand out
//!   `Arc<Snapshot<T>>`.
//! - [`Reader`]: a per-consumer cursor (`updated`, `read_if_updated`, `lost`).
//! - [`StateManager`]: a named registry of buffers of mixed types, with a
//!   `uorb top`-style table.
//! - [`Subscription`]: bounded per-consumer event queues with an explicit
//!   overflow [`Policy`], blocking or async.
//! - [`control`]: a fixed-rate control loop and a cascaded PID controller.
//!
//! The Python package (`pip install rtstate`) is built from the same crate
//! with the `python` feature.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod buffer;
mod clock;
pub mod control;
mod error;
pub mod layout;
mod manager;
mod notify;
mod reader;
mod ring;
mod shared;
pub mod shm;
mod slot;
mod snapshot;
mod source;
pub mod state;
mod stats;
mod subscription;
pub(crate) mod sync;

#[cfg(feature = "python")]
mod python;

pub use buffer::StateBuffer;
pub use clock::{Clock, MockClock};
pub use error::{duration_from_secs, Error, PublishError};
pub use manager::{render_table, BufferInfo, StateManager};
pub use reader::{Buffer, Reader};
pub use ring::{SlotRing, DEFAULT_SLOTS};
#[doc(hidden)]
pub use shared::ReaderCounters;
pub use snapshot::{Snapshot, State, Version};
pub use source::Source;
pub use state::{Accel, DroneState, EstimatedState, FastDroneState, Pose, Twist};
pub use stats::{Statistics, SubscriptionCounters};
pub use subscription::{Iter, Policy, Recv, Subscription, MAX_CAPACITY};

/// The README's Rust example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
