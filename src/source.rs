//! Interned publisher names.
//!
//! A [`Source`] is a small copyable id for a name such as `"estimator"`.
//! Interning a name seen before looks it up and allocates nothing; a new name
//! is stored once for the life of the process (sources are meant to be a
//! small set of component names, not per-message data). The table is
//! bounded: at most [`MAX_SOURCES`] names of at most [`MAX_SOURCE_LEN`]
//! bytes each; [`Source::try_intern`] refuses more with a named error.

use std::collections::HashMap;
use std::fmt;
use std::sync::{OnceLock, RwLock}; // shim-exempt: a process-wide table in a static (loom types cannot be statics)

use crate::Error;

/// The most distinct source names a process interns (with `"unknown"`).
pub const MAX_SOURCES: usize = 4096;

/// The longest source name, in bytes.
pub const MAX_SOURCE_LEN: usize = 256;

/// The interned name of whoever published a snapshot.
#[derive(Clone, Copy, PartialEq, Eq, Hash, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(transparent)]
pub struct Source(u32);

struct Interner {
    ids: HashMap<&'static str, u32>,
    names: Vec<&'static str>,
}

fn interner() -> &'static RwLock<Interner> {
    static INTERNER: OnceLock<RwLock<Interner>> = OnceLock::new();
    INTERNER.get_or_init(|| {
        RwLock::new(Interner {
            ids: HashMap::from([("unknown", 0)]),
            names: vec!["unknown"],
        })
    })
}

impl Source {
    /// The source of a state published without a name: `"unknown"`.
    pub const UNKNOWN: Source = Source(0);

    /// The source named `name`, interning it on first sight. A name the
    /// table refuses (see [`try_intern`](Self::try_intern)) is
    /// [`Source::UNKNOWN`]; use `try_intern` where names come from outside.
    pub fn intern(name: &str) -> Source {
        Self::try_intern(name).unwrap_or(Source::UNKNOWN)
    }

    /// The source named `name`, interning it on first sight; refused
    /// ([`Error::InvalidArgument`] naming `source`) if it is longer than
    /// [`MAX_SOURCE_LEN`] bytes or the table already holds [`MAX_SOURCES`]
    /// names. Interned names live as long as the process.
    pub fn try_intern(name: &str) -> Result<Source, Error> {
        if name.len() > MAX_SOURCE_LEN {
            return Err(Error::InvalidArgument {
                name: "source",
                reason: format!(
                    "a source name is at most {MAX_SOURCE_LEN} bytes, got {}",
                    name.len()
                ),
            });
        }
        {
            let table = interner().read().unwrap_or_else(|p| p.into_inner());
            if let Some(&id) = table.ids.get(name) {
                return Ok(Source(id));
            }
        }
        let mut table = interner().write().unwrap_or_else(|p| p.into_inner());
        if let Some(&id) = table.ids.get(name) {
            return Ok(Source(id));
        }
        if table.names.len() >= MAX_SOURCES {
            return Err(Error::InvalidArgument {
                name: "source",
                reason: format!(
                    "the process already interned the most source names ({MAX_SOURCES}); \
                     sources name components, not messages"
                ),
            });
        }
        let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
        let id = table.names.len() as u32;
        table.names.push(leaked);
        table.ids.insert(leaked, id);
        Ok(Source(id))
    }

    /// The name.
    pub fn as_str(self) -> &'static str {
        let table = interner().read().unwrap_or_else(|p| p.into_inner());
        table
            .names
            .get(self.0 as usize)
            .copied()
            .unwrap_or("unknown")
    }
}

impl Default for Source {
    fn default() -> Self {
        Source::UNKNOWN
    }
}

impl From<&str> for Source {
    fn from(name: &str) -> Self {
        Source::intern(name)
    }
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Source({:?})", self.as_str())
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn interning_is_stable_and_round_trips() {
        let a = Source::intern("estimator-test");
        let b = Source::intern("estimator-test");
        assert_eq!(a, b);
        assert_eq!(a.as_str(), "estimator-test");
        assert_ne!(a, Source::intern("other-test"));
        assert_eq!(Source::UNKNOWN.as_str(), "unknown");
        assert_eq!(Source::intern("unknown"), Source::UNKNOWN);
        assert_eq!(Source::default(), Source::UNKNOWN);
    }

    #[test]
    fn long_names_are_refused_naming_the_argument() {
        let long = "x".repeat(MAX_SOURCE_LEN + 1);
        let err = Source::try_intern(&long).unwrap_err();
        assert!(
            matches!(err, Error::InvalidArgument { name: "source", .. }),
            "{err}"
        );
        assert_eq!(Source::intern(&long), Source::UNKNOWN);
        let ok = "y".repeat(MAX_SOURCE_LEN);
        assert_eq!(Source::try_intern(&ok).unwrap().as_str(), ok);
    }
}
