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

mod clock;
mod error;
mod notify;
mod snapshot;
mod source;
pub(crate) mod sync;

pub use clock::{Clock, MockClock};
pub use error::{duration_from_secs, Error, PublishError};
pub use snapshot::{Snapshot, State, Version};
pub use source::Source;
