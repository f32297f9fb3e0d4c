//! Versioned snapshots and the [`State`] trait that lets a state type supply
//! its own timestamp and validation.

use crate::{Error, Source};

/// A buffer's publish counter: 1 for the first publish, +1 per publish.
pub type Version = u64;

/// What a state type tells the buffers about itself.
///
/// Every method has a default, so `impl State for MyType {}` is enough for a
/// type that carries no timestamp of its own and needs no checking. Buffers
/// built with `new` accept any type; those built with `checked` call these.
pub trait State {
    /// The state's own measurement time (wall-clock seconds), if it has one.
    /// Snapshots use it as their timestamp; otherwise the publish time.
    fn timestamp(&self) -> Option<f64> {
        None
    }

    /// Refuses a state that must not be published (a NaN, a bad timestamp),
    /// naming the field.
    fn validate(&self) -> Result<(), Error> {
        Ok(())
    }
}

/// How a buffer inspects a state before publishing it: validates it and
/// returns its own timestamp, if any.
pub(crate) type Inspect<T> = fn(&T) -> Result<Option<f64>, Error>;

pub(crate) fn inspect_nothing<T>(_: &T) -> Result<Option<f64>, Error> {
    Ok(None)
}

pub(crate) fn inspect_state<T: State>(state: &T) -> Result<Option<f64>, Error> {
    state.validate()?;
    match state.timestamp() {
        Some(t) if !t.is_finite() => Err(Error::NonFinite { field: "timestamp" }),
        t => Ok(t),
    }
}

/// One published state with its version, times and source. Immutable once
/// published: [`StateBuffer`](crate::StateBuffer) hands out `Arc<Snapshot<T>>`,
/// [`SlotRing`](crate::SlotRing) copies it out by value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Snapshot<T> {
    /// The state.
    pub state: T,
    /// The buffer's version of this publish (1 for the first).
    pub version: Version,
    /// The state's own time (wall-clock seconds) where its type has one,
    /// else the publish time. Staleness is judged on it.
    pub timestamp: f64,
    /// Wall-clock seconds when it was published.
    pub published_at: f64,
    /// Monotonic nanoseconds (of the buffer's clock) when it was published.
    pub published_ns: u64,
    /// Who published it.
    pub source: Source,
}

impl<T> Snapshot<T> {
    /// Seconds between the snapshot's timestamp and the wall-clock time `now`.
    pub fn age_at(&self, now: f64) -> f64 {
        now - self.timestamp
    }
}
