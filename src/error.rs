//! The crate's one error type.

use std::time::Duration;

/// Everything that can go wrong in rtstate. Messages are lowercase and name
/// the field or the buffer concerned.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A value (or a timestamp) is NaN or infinite.
    #[error("field `{field}` is not finite")]
    NonFinite {
        /// The offending field.
        field: &'static str,
    },
    /// An array has the wrong number of elements.
    #[error("field `{field}` must have {expected} elements, got {got}")]
    Shape {
        /// The offending field.
        field: &'static str,
        /// Elements expected.
        expected: usize,
        /// Elements given.
        got: usize,
    },
    /// A quantity has the wrong physical dimension (a velocity given as a position).
    #[error("field `{field}` expects units of {expected}, got {got}")]
    Units {
        /// The offending field.
        field: &'static str,
        /// The dimension expected, e.g. "length".
        expected: String,
        /// What was given, e.g. "meter / second".
        got: String,
    },
    /// A quaternion whose norm is zero or not finite, so it cannot be normalised.
    #[error("quaternion in field `{field}` cannot be normalised (norm {norm})")]
    NonUnitQuaternion {
        /// The offending field.
        field: &'static str,
        /// Its norm.
        norm: f64,
    },
    /// An argument outside its domain (a zero capacity, a negative timeout).
    #[error("invalid argument `{name}`: {reason}")]
    InvalidArgument {
        /// The argument.
        name: &'static str,
        /// Why it is refused.
        reason: String,
    },
    /// No buffer is registered under this name.
    #[error("no buffer named `{0}`")]
    UnknownName(String),
    /// A buffer is already registered under this name.
    #[error("a buffer named `{0}` is already registered")]
    AlreadyRegistered(String),
    /// A buffer was asked for with a type other than the one it holds.
    #[error("buffer `{name}` holds {actual}, not {requested}")]
    TypeMismatch {
        /// The buffer's name.
        name: String,
        /// The type asked for.
        requested: &'static str,
        /// The type it holds.
        actual: &'static str,
    },
    /// A publish at a chosen version
    /// ([`publish_at_version`](crate::GenericBuffer::publish_at_version))
    /// asked for a version not newer than the buffer's latest: versions
    /// never go backwards or repeat. Nothing was published.
    #[error("version {version} is not newer than the latest, {latest}")]
    VersionNotNewer {
        /// The version asked for.
        version: u64,
        /// The buffer's latest version.
        latest: u64,
    },
    /// The buffer or subscription is closed.
    #[error("closed")]
    Closed,
    /// Nothing arrived in time.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// Nothing is ready now (a non-blocking receive).
    #[error("empty")]
    Empty,
    /// A real-time setting could not be applied under the strict policy.
    #[error("real-time setting `{setting}` could not be applied: {reason}")]
    RealTime {
        /// The setting, e.g. "sched_fifo".
        setting: &'static str,
        /// The OS's answer.
        reason: String,
    },
    /// A control loop is already running.
    #[error("the loop is already running")]
    AlreadyRunning,
    /// A control loop's tick panicked; the payload's message.
    #[error("the tick panicked: {0}")]
    Panicked(String),
    /// A shared-memory buffer's name, file, layout or writer lock.
    #[error(transparent)]
    Shared(#[from] crate::shm::ShmError),
}

/// A publish that was refused; it gives the state back.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{error}")]
pub struct PublishError<T> {
    /// Why it was refused.
    pub error: Error,
    /// The state that was not published.
    pub state: T,
}

impl<T> PublishError<T> {
    /// The state that was not published.
    pub fn into_state(self) -> T {
        self.state
    }
}

impl<T> From<PublishError<T>> for Error {
    fn from(e: PublishError<T>) -> Self {
        e.error
    }
}

/// Checks a duration given as float seconds (a period, a run length, an
/// age): NaN and infinities are [`Error::NonFinite`], a negative value or
/// one too large for a [`Duration`] is [`Error::InvalidArgument`], all
/// naming `name`. For a timeout, where "too large" means "for ever", use
/// [`timeout_from_secs`].
pub fn duration_from_secs(name: &'static str, secs: f64) -> Result<Duration, Error> {
    check_secs(name, secs)?;
    Duration::try_from_secs_f64(secs).map_err(|e| Error::InvalidArgument {
        name,
        reason: e.to_string(),
    })
}

/// Checks a timeout given as float seconds: NaN and infinities are
/// [`Error::NonFinite`], a negative value [`Error::InvalidArgument`], both
/// naming `name`. A finite value too large for a [`Duration`] becomes
/// [`Duration::MAX`], which every wait in this crate takes as "for ever"
/// (deadlines are computed with `checked_add`).
pub fn timeout_from_secs(name: &'static str, secs: f64) -> Result<Duration, Error> {
    check_secs(name, secs)?;
    Ok(Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX))
}

fn check_secs(name: &'static str, secs: f64) -> Result<(), Error> {
    if !secs.is_finite() {
        return Err(Error::NonFinite { field: name });
    }
    if secs < 0.0 {
        return Err(Error::InvalidArgument {
            name,
            reason: format!("must not be negative, got {secs}"),
        });
    }
    Ok(())
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn durations_are_checked_and_huge_timeouts_saturate() {
        for f in [duration_from_secs, timeout_from_secs] {
            assert_eq!(f("t", 1.5), Ok(Duration::from_millis(1500)));
            assert_eq!(f("t", 0.0), Ok(Duration::ZERO));
            assert_eq!(f("t", 1e19), Ok(Duration::from_secs_f64(1e19)));
            assert_eq!(
                f("timeout", f64::NAN),
                Err(Error::NonFinite { field: "timeout" })
            );
            assert_eq!(
                f("timeout", f64::INFINITY),
                Err(Error::NonFinite { field: "timeout" })
            );
            assert!(matches!(
                f("timeout", -1.0),
                Err(Error::InvalidArgument {
                    name: "timeout",
                    ..
                })
            ));
        }
        assert_eq!(timeout_from_secs("t", 1e300), Ok(Duration::MAX));
        assert!(matches!(
            duration_from_secs("duration", 1e300),
            Err(Error::InvalidArgument {
                name: "duration",
                ..
            })
        ));
    }
}
