//! # rtstate-zenoh
//!
//! Bridges [rtstate](rtstate) buffers across machines over
//! [Eclipse Zenoh](https://zenoh.io): a buffer published on one machine is
//! a local, versioned, lock-free buffer on another, with staleness, loss
//! and the remote writer's liveliness visible.
//!
//! - [`Exporter`]: publishes chosen buffers (an in-process
//!   [`SlotRing`](rtstate::SlotRing), a [`StateManager`](rtstate::StateManager)'s,
//!   or shared buffers by name) as `rtstate/<namespace>/<buffer>`. Each
//!   buffer is read on its own thread through a reader (the writer's path
//!   is untouched); each sample's payload is the state's bytes, its
//!   attachment the version, source, publish time and layout hash
//!   ([`wire`]); a queryable answers the latest sample (for late joiners)
//!   and the layout; a liveliness token lives while the writer does.
//! - [`Mirror`]: a remote key into a local buffer (shared memory, created
//!   with the remote's layout, or an in-process ring of the same layout),
//!   with counts of gaps, old samples, malformed ones and layout refusals,
//!   and the remote writer's liveliness ([`MirrorStatistics`]).
//! - [`ZenohOptions`]: Zenoh's configuration passed through (peer or
//!   client mode, endpoints, multicast scouting, a configuration file).
//! - The `rtstate-bridge` binary: `rtstate-bridge export NAMES…
//!   --namespace drone1`, `rtstate-bridge mirror 'rtstate/drone1/**'`.
//!
//! Zenoh is built with its default features off and only the TCP and
//! unix-socket transports.
//!
//! ```no_run
//! use rtstate::{FastDroneState, SlotRing, Source};
//! use rtstate_zenoh::{Exporter, Mirror, MirrorOptions, ZenohOptions};
//!
//! // Machine A: export an in-process ring.
//! let a = ZenohOptions::loopback_peer(&["tcp/127.0.0.1:7447"], &[]).open()?;
//! let ring = SlotRing::<FastDroneState>::new(8)?;
//! let mut exporter = Exporter::new(&a, "drone1")?;
//! exporter.export_ring("fast_state", &ring)?;
//! ring.publish(FastDroneState::default(), Source::intern("estimator"))?;
//!
//! // Machine B: mirror it into a local ring.
//! let b = ZenohOptions::loopback_peer(&[], &["tcp/127.0.0.1:7447"]).open()?;
//! let local = SlotRing::<FastDroneState>::new(8)?;
//! let mirror = Mirror::ring(&b, "rtstate/drone1/fast_state", &local, MirrorOptions::default())?;
//! let mut reader = local.reader();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod config;
mod export;
mod mirror;
pub mod wire;

pub use config::ZenohOptions;
pub use export::{ExportStatistics, Exporter};
pub use mirror::{parse_key, BufferStatistics, Mirror, MirrorOptions, MirrorStatistics};

/// What can go wrong in the bridge.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BridgeError {
    /// An rtstate error (a buffer that cannot be opened or created, ...).
    #[error(transparent)]
    Rtstate(#[from] rtstate::Error),
    /// Zenoh refused something.
    #[error("zenoh: {0}")]
    Zenoh(String),
    /// A bad configuration option.
    #[error("zenoh configuration {what}: {reason}")]
    Config {
        /// The option.
        what: String,
        /// Why.
        reason: String,
    },
    /// A bad argument.
    #[error("invalid {what} `{value}`: {reason}")]
    Invalid {
        /// What it is.
        what: &'static str,
        /// Its value.
        value: String,
        /// Why.
        reason: String,
    },
    /// The remote buffer's layout is not the local one.
    #[error("layout mismatch for `{key}`: local {local}, remote {remote}")]
    LayoutMismatch {
        /// The remote key.
        key: String,
        /// The local layout.
        local: String,
        /// The remote layout.
        remote: String,
    },
}

impl From<rtstate::shm::ShmError> for BridgeError {
    fn from(e: rtstate::shm::ShmError) -> Self {
        BridgeError::Rtstate(e.into())
    }
}

fn plain_chunks(s: &str) -> bool {
    !s.is_empty()
        && s.split('/').all(|c| {
            !c.is_empty()
                && c != "."
                && c != ".."
                && !c.contains(['*', '$', '?', '#', '@'])
                && !c.chars().any(char::is_whitespace)
        })
}

pub(crate) fn check_namespace(namespace: &str) -> Result<(), BridgeError> {
    if namespace.contains('/') || !plain_chunks(namespace) {
        return Err(BridgeError::Invalid {
            what: "namespace",
            value: namespace.to_string(),
            reason: "one key chunk without wildcards (*, $, ?, #, @) or spaces".into(),
        });
    }
    Ok(())
}

/// The key expression of buffer `name` in `namespace`:
/// `rtstate/<namespace>/<name>`.
pub fn key_for(namespace: &str, name: &str) -> Result<String, BridgeError> {
    check_namespace(namespace)?;
    if !plain_chunks(name) {
        return Err(BridgeError::Invalid {
            what: "buffer name",
            value: name.to_string(),
            reason: "key chunks without wildcards (*, $, ?, #, @) or spaces".into(),
        });
    }
    Ok(format!("rtstate/{namespace}/{name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_namespaces() {
        assert_eq!(
            key_for("drone1", "fast_state").unwrap(),
            "rtstate/drone1/fast_state"
        );
        assert_eq!(key_for("d", "a/b").unwrap(), "rtstate/d/a/b");
        for ns in ["", "a/b", "*", "a b", "$x", ".."] {
            assert!(key_for(ns, "x").is_err(), "{ns:?}");
        }
        for name in ["", "a//b", "**", "a/../b", "/a"] {
            assert!(key_for("d", name).is_err(), "{name:?}");
        }
        assert_eq!(parse_key("rtstate/d/a/b"), Some(("d", "a/b")));
        assert_eq!(parse_key("rtstate/d"), None);
        assert_eq!(parse_key("other/d/x"), None);
    }
}
