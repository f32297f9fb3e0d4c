//! Zenoh's own configuration, passed through: mode, endpoints, multicast
//! scouting, or a configuration file.

use crate::BridgeError;
use std::path::PathBuf;

/// How to open the Zenoh session. Everything unset keeps Zenoh's default
/// (peer mode, multicast scouting on, listening on an ephemeral TCP port).
#[derive(Clone, Debug, Default)]
pub struct ZenohOptions {
    /// A Zenoh configuration file (JSON5), read first; the other options
    /// override it.
    pub config_file: Option<PathBuf>,
    /// `"peer"` or `"client"`.
    pub mode: Option<String>,
    /// Endpoints to connect to (`tcp/127.0.0.1:7447`, `unixsock-stream//tmp/z.sock`).
    pub connect: Vec<String>,
    /// Endpoints to listen on.
    pub listen: Vec<String>,
    /// Turns multicast scouting off (tests, and networks where peers are
    /// given by endpoints).
    pub no_multicast_scouting: bool,
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_list(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|s| json_string(s)).collect();
    format!("[{}]", items.join(","))
}

impl ZenohOptions {
    /// Peer mode on `listen`/`connect` endpoints with multicast scouting
    /// off: two such sessions find each other only through their endpoints.
    pub fn loopback_peer(listen: &[&str], connect: &[&str]) -> Self {
        ZenohOptions {
            mode: Some("peer".into()),
            listen: listen.iter().map(|s| s.to_string()).collect(),
            connect: connect.iter().map(|s| s.to_string()).collect(),
            no_multicast_scouting: true,
            ..Default::default()
        }
    }

    /// The Zenoh configuration.
    pub fn to_config(&self) -> Result<zenoh::Config, BridgeError> {
        let mut config = match &self.config_file {
            Some(path) => zenoh::Config::from_file(path).map_err(|e| BridgeError::Config {
                what: format!("--config {}", path.display()),
                reason: e.to_string(),
            })?,
            None => zenoh::Config::default(),
        };
        let mut set = |key: &str, value: String, what: &str| {
            config
                .insert_json5(key, &value)
                .map_err(|e| BridgeError::Config {
                    what: what.to_string(),
                    reason: e.to_string(),
                })
        };
        if let Some(mode) = &self.mode {
            if mode != "peer" && mode != "client" {
                return Err(BridgeError::Config {
                    what: format!("--mode {mode}"),
                    reason: "expected peer or client".into(),
                });
            }
            set("mode", json_string(mode), "--mode")?;
        }
        if !self.connect.is_empty() {
            set("connect/endpoints", json_list(&self.connect), "--connect")?;
        }
        if !self.listen.is_empty() {
            set("listen/endpoints", json_list(&self.listen), "--listen")?;
        }
        if self.no_multicast_scouting {
            set(
                "scouting/multicast/enabled",
                "false".into(),
                "--no-multicast-scouting",
            )?;
        }
        Ok(config)
    }

    /// Opens a session with this configuration.
    pub fn open(&self) -> Result<zenoh::Session, BridgeError> {
        use zenoh::Wait;
        zenoh::open(self.to_config()?)
            .wait()
            .map_err(|e| BridgeError::Zenoh(format!("opening the session: {e}")))
    }
}
