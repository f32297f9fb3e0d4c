//! Interned publisher names.
//!
//! A [`Source`] is a small copyable id for a name such as `"estimator"`.
//! Interning a name seen before looks it up and allocates nothing; a new name
//! is stored once for the life of the process (sources are meant to be a
//! small set of component names, not per-message data).

use std::collections::HashMap;
use std::fmt;
use std::sync::{OnceLock, RwLock};

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

    /// The source named `name`, interning it on first sight.
    pub fn intern(name: &str) -> Source {
        {
            let table = interner().read().unwrap_or_else(|p| p.into_inner());
            if let Some(&id) = table.ids.get(name) {
                return Source(id);
            }
        }
        let mut table = interner().write().unwrap_or_else(|p| p.into_inner());
        if let Some(&id) = table.ids.get(name) {
            return Source(id);
        }
        let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
        let id = table.names.len() as u32;
        table.names.push(leaked);
        table.ids.insert(leaked, id);
        Source(id)
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
}
