//! [`StateManager`]: a named registry of buffers of mixed types.

use crate::buffer::Buffer;
use crate::{Error, Statistics};
use std::any::Any;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::RwLock; // shim-exempt: the manager's name table is not a protocol loom models

/// What the manager needs of any registered buffer, with its type erased.
trait Erased: Send + Sync {
    fn statistics(&self) -> Statistics;
    fn as_any(&self) -> &dyn Any;
}

impl<B: Buffer> Erased for B {
    fn statistics(&self) -> Statistics {
        Buffer::statistics(self)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

struct Registered {
    buffer: Box<dyn Erased>,
    type_name: &'static str,
}

/// One row of the manager's table.
#[derive(Clone, Debug, PartialEq)]
pub struct BufferInfo {
    /// The registered name.
    pub name: String,
    /// The buffer's Rust type (or the name given at registration).
    pub type_name: String,
    /// Its statistics.
    pub statistics: Statistics,
}

/// Registers named buffers of different state types, hands typed handles
/// back, and gathers statistics into a `uorb top`-style table.
///
/// ```
/// use rtstate::{FastDroneState, SlotRing, StateBuffer, StateManager};
/// let manager = StateManager::new();
/// manager.register("fast_state", SlotRing::<FastDroneState>::checked(5)?)?;
/// manager.register("mode", StateBuffer::<String>::new(10)?)?;
/// let ring: SlotRing<FastDroneState> = manager.get("fast_state")?;
/// assert!(matches!(manager.get::<SlotRing<[f64; 3]>>("fast_state"),
///                  Err(rtstate::Error::TypeMismatch { .. })));
/// assert!(matches!(manager.get::<SlotRing<FastDroneState>>("nope"),
///                  Err(rtstate::Error::UnknownName(_))));
/// println!("{}", manager.table());
/// # drop(ring);
/// # Ok::<(), rtstate::Error>(())
/// ```
#[derive(Default)]
pub struct StateManager {
    entries: RwLock<BTreeMap<String, Registered>>,
}

impl StateManager {
    /// An empty manager.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `buffer` under `name`; a name already taken is refused.
    pub fn register<B: Buffer>(&self, name: &str, buffer: B) -> Result<(), Error> {
        self.register_as(name, buffer, short_type_name::<B>())
    }

    /// Registers `buffer` under `name`, shown in the table as `type_name`
    /// (binding layers name their own types).
    pub fn register_as<B: Buffer>(
        &self,
        name: &str,
        buffer: B,
        type_name: &'static str,
    ) -> Result<(), Error> {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        if entries.contains_key(name) {
            return Err(Error::AlreadyRegistered(name.to_owned()));
        }
        entries.insert(
            name.to_owned(),
            Registered {
                buffer: Box::new(buffer),
                type_name,
            },
        );
        Ok(())
    }

    /// A handle on the buffer named `name`, of type `B`.
    pub fn get<B: Buffer>(&self, name: &str) -> Result<B, Error> {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        let entry = entries
            .get(name)
            .ok_or_else(|| Error::UnknownName(name.to_owned()))?;
        entry
            .buffer
            .as_any()
            .downcast_ref::<B>()
            .cloned()
            .ok_or_else(|| Error::TypeMismatch {
                name: name.to_owned(),
                requested: short_type_name::<B>(),
                actual: entry.type_name,
            })
    }

    /// Removes the buffer named `name` (handles already given out stay
    /// usable).
    pub fn unregister(&self, name: &str) -> Result<(), Error> {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        entries
            .remove(name)
            .map(|_| ())
            .ok_or_else(|| Error::UnknownName(name.to_owned()))
    }

    /// The registered names, sorted.
    pub fn names(&self) -> Vec<String> {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        entries.keys().cloned().collect()
    }

    /// Statistics of every buffer, by name.
    pub fn statistics(&self) -> BTreeMap<String, Statistics> {
        self.infos()
            .into_iter()
            .map(|i| (i.name, i.statistics))
            .collect()
    }

    /// Name, type and statistics of every buffer, sorted by name.
    pub fn infos(&self) -> Vec<BufferInfo> {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        entries
            .iter()
            .map(|(name, e)| BufferInfo {
                name: name.clone(),
                type_name: e.type_name.to_owned(),
                statistics: e.buffer.statistics(),
            })
            .collect()
    }

    /// A table of every buffer, like PX4's `uorb top`.
    pub fn table(&self) -> String {
        render_table(&self.infos())
    }
}

/// Renders rows as a fixed-width table: name, type, version, updates/s,
/// readers, subscribers, lost, stale reads, dropped events, age of latest.
pub fn render_table(rows: &[BufferInfo]) -> String {
    let name_w = rows.iter().map(|r| r.name.len()).max().unwrap_or(4).max(4);
    let type_w = rows
        .iter()
        .map(|r| r.type_name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<name_w$}  {:<type_w$}  {:>9}  {:>10}  {:>7}  {:>4}  {:>7}  {:>7}  {:>7}  {:>9}",
        "NAME",
        "TYPE",
        "VERSION",
        "UPDATES/S",
        "READERS",
        "SUBS",
        "LOST",
        "STALE",
        "DROPPED",
        "AGE"
    );
    for r in rows {
        let s = &r.statistics;
        let age = match s.latest_age {
            Some(a) if a.as_secs_f64() < 1.0 => format!("{:.1} ms", a.as_secs_f64() * 1e3),
            Some(a) => format!("{:.2} s", a.as_secs_f64()),
            None => "-".to_owned(),
        };
        let _ = writeln!(
            out,
            "{:<name_w$}  {:<type_w$}  {:>9}  {:>10.1}  {:>7}  {:>4}  {:>7}  {:>7}  {:>7}  {:>9}",
            r.name,
            r.type_name,
            s.current_version,
            s.updates_per_sec,
            s.readers,
            s.subscribers,
            s.lost,
            s.stale_reads,
            s.subscriptions.dropped,
            age
        );
    }
    out
}

/// `SlotRing<rtstate::state::fast::FastDroneState>` →
/// `SlotRing<FastDroneState>`.
fn short_type_name<B: Buffer>() -> &'static str {
    let full = B::type_label();
    // Leaked once per type (a handful per process), so rows can borrow it.
    use std::collections::HashMap;
    use std::sync::{Mutex as NameCacheMutex, OnceLock}; // shim-exempt: a cache of type names, not a protocol loom models
    static CACHE: OnceLock<NameCacheMutex<HashMap<String, &'static str>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| NameCacheMutex::new(HashMap::new()));
    let mut cache = cache.lock().unwrap_or_else(|p| p.into_inner());
    cache.entry(full.clone()).or_insert_with(|| {
        let mut short = String::new();
        let mut segment = String::new();
        for c in full.chars() {
            if c.is_alphanumeric() || c == '_' || c == ':' {
                segment.push(c);
            } else {
                short.push_str(segment.rsplit("::").next().unwrap_or(""));
                segment.clear();
                short.push(c);
            }
        }
        short.push_str(segment.rsplit("::").next().unwrap_or(""));
        Box::leak(short.into_boxed_str())
    })
}
