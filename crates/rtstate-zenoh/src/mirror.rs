//! Mirror: remote keys into local buffers. One thread per mirror drains a
//! small ring of samples (the oldest dropped when it falls behind, so the
//! Zenoh session never waits for it), checks each sample and publishes it
//! into the key's local buffer.
//!
//! - Versions are the remote ones: each accepted sample is published into
//!   the local buffer at the remote version
//!   ([`publish_at_version`](rtstate::GenericBuffer::publish_at_version)),
//!   so a reader there sees the remote numbering and never a version going
//!   back. A remote version more than one past the last is a gap: the
//!   versions in between are absent from the local history and counted as
//!   `lost` (local readers count them as lost too). An older or repeated
//!   one is counted as `dropped_old` and dropped (a reply to the mirror's
//!   own query for the latest, and the live sample of the version such a
//!   reply brought, are not counted).
//! - Remote restarts: each sample carries its exporter's epoch, a new one
//!   per export and whenever the exported buffer's versions went back (a
//!   reset there). A sample of a new epoch whose version is not newer than
//!   the local one is a remote restart: the local buffer is
//!   [reset](rtstate::GenericBuffer::reset) (versions restart, readers and
//!   `epoch()` see a new epoch, subscriptions end) and the sample published
//!   at its version; the versions of the new epoch before it count as
//!   `lost`. A new epoch whose versions go on past the local one (a new
//!   exporter on the same remote buffer) continues without a reset. Samples
//!   of an epoch the mirror has left are dropped as old.
//! - Staleness: the local state keeps the remote state's timestamp (shared
//!   mirrors; in-process rings built with `checked` read it from the
//!   state), and the statistics carry the remote publish time.
//! - The remote writer's liveliness token: its loss is counted and shown
//!   (`writer_alive`); a shared mirror also releases the file's writer
//!   lock, so `rtstate list` shows the writer as not alive until the
//!   remote comes back.
//! - Faults: a malformed attachment or payload, a layout the mirror cannot
//!   learn or that differs from the local buffer's, a key outside
//!   `rtstate/<namespace>/<buffer>`: counted, the last reasons kept, never
//!   a panic.

use crate::wire::{Meta, LAYOUT_QUERY};
use crate::BridgeError;
use rtstate::layout::{Layout, PodLayout};
use rtstate::shm::{CreateOptions, RawBuffer};
use rtstate::{Error, SlotRing, Source};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use zenoh::handlers::RingChannel;
use zenoh::sample::{Sample, SampleKind};
use zenoh::{Session, Wait};

/// How long the mirror thread waits for a sample before it looks at its
/// flags and the liveliness events again.
const TICK: Duration = Duration::from_millis(20);
/// Reasons kept in [`MirrorStatistics::errors`].
const MAX_ERRORS: usize = 16;

/// Options of a mirror.
#[derive(Clone, Debug)]
pub struct MirrorOptions {
    /// Samples queued between Zenoh and the mirror thread; the oldest is
    /// dropped beyond this (and shows as a version gap).
    pub queue: usize,
    /// How long to wait for a remote's answer (latest sample, layout).
    pub query_timeout: Duration,
    /// History of shared buffers the mirror creates.
    pub capacity: usize,
    /// Prepended to `<namespace>/<buffer>` to name a shared mirror's local
    /// buffers.
    pub local_prefix: String,
}

impl Default for MirrorOptions {
    fn default() -> Self {
        MirrorOptions {
            queue: 16,
            query_timeout: Duration::from_secs(2),
            capacity: 8,
            local_prefix: String::new(),
        }
    }
}

/// One mirrored key's statistics.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BufferStatistics {
    /// The remote key.
    pub key: String,
    /// The local buffer's name.
    pub local_name: String,
    /// Samples received for this key.
    pub received: u64,
    /// Samples published into the local buffer.
    pub accepted: u64,
    /// Remote versions never received (the sum of the gaps between
    /// accepted versions; versions before the mirror's first sample are
    /// not lost).
    pub lost: u64,
    /// Samples older than or equal to the last accepted one, dropped.
    pub dropped_old: u64,
    /// Samples with a malformed attachment or payload.
    pub malformed: u64,
    /// Samples refused for their layout (unknown, or not the local one).
    pub layout_refused: u64,
    /// The remote version of the last accepted sample.
    pub remote_version: u64,
    /// The local buffer's version after it: the remote version (versions
    /// are the remote ones).
    pub local_version: u64,
    /// The remote publish time of the last accepted sample.
    pub remote_published_at: Option<f64>,
    /// The remote state's timestamp of the last accepted sample.
    pub remote_timestamp: Option<f64>,
    /// The remote writer's liveliness: `None` before any token was seen.
    pub writer_alive: Option<bool>,
    /// Times the remote writer's token went away.
    pub writer_lost: u64,
    /// Times a new exporter epoch was followed (a new exporter, or the
    /// remote buffer's versions going back).
    pub remote_restarts: u64,
    /// Of those, the ones that reset the local buffer (the remote versions
    /// went back).
    pub local_resets: u64,
    /// Why samples for this key are refused, if they are.
    pub refused: Option<String>,
}

impl BufferStatistics {
    /// Seconds since the remote state's timestamp, on this machine's
    /// wall clock.
    pub fn age(&self) -> Option<f64> {
        self.remote_timestamp
            .map(|t| rtstate::Clock::System.wall() - t)
    }
}

/// A mirror's statistics.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MirrorStatistics {
    /// Per remote key.
    pub buffers: Vec<BufferStatistics>,
    /// Samples whose key is not `rtstate/<namespace>/<buffer>` (or not a
    /// valid local name), dropped.
    pub outside_namespace: u64,
    /// The latest reasons samples were refused (at most 16).
    pub errors: Vec<String>,
}

impl MirrorStatistics {
    /// The statistics of `key`.
    pub fn buffer(&self, key: &str) -> Option<&BufferStatistics> {
        self.buffers.iter().find(|b| b.key == key)
    }
}

/// Where a key's samples go.
trait Target: Send {
    fn layout(&self) -> &Layout;
    /// The layout's hash, computed once (checked on every sample).
    fn layout_hash(&self) -> u64;
    /// The local buffer's version (the last remote version accepted in its
    /// epoch; 0 when empty).
    fn version(&self) -> u64;
    /// Publishes at the remote version (`meta.version`), after a local
    /// reset if `reset`.
    fn publish(&mut self, bytes: &[u8], meta: &Meta, reset: bool) -> Result<u64, Error>;
    fn writer_gone(&mut self) {}
}

struct RingTarget<T: PodLayout + Send + Sync> {
    ring: SlotRing<T>,
    layout: Layout,
    hash: u64,
    sources: HashMap<String, Source>,
}

impl<T: PodLayout + Send + Sync> Target for RingTarget<T> {
    fn layout(&self) -> &Layout {
        &self.layout
    }

    fn layout_hash(&self) -> u64 {
        self.hash
    }

    fn version(&self) -> u64 {
        self.ring.version()
    }

    fn publish(&mut self, bytes: &[u8], meta: &Meta, reset: bool) -> Result<u64, Error> {
        let state: T = bytemuck::pod_read_unaligned(bytes);
        let source = match self.sources.get(&meta.source) {
            Some(&s) => s,
            None => {
                let s = Source::try_intern(&meta.source).unwrap_or(Source::UNKNOWN);
                self.sources.insert(meta.source.clone(), s);
                s
            }
        };
        if reset {
            self.ring.reset();
        }
        self.ring
            .publish_at_version(state, source, meta.version)
            .map_err(|e| e.error)
    }
}

struct SharedTarget {
    name: String,
    layout: Layout,
    hash: u64,
    /// The writing handle; `None` while the remote writer is gone (the
    /// file's writer lock released).
    writer: Option<RawBuffer>,
    /// Keeps this process attached to the file (its row) while the writer
    /// handle is dropped.
    keeper: RawBuffer,
}

impl Target for SharedTarget {
    fn layout(&self) -> &Layout {
        &self.layout
    }

    fn layout_hash(&self) -> u64 {
        self.hash
    }

    fn version(&self) -> u64 {
        self.keeper.version()
    }

    fn publish(&mut self, bytes: &[u8], meta: &Meta, reset: bool) -> Result<u64, Error> {
        if self.writer.is_none() {
            let w = RawBuffer::open(&self.name)?;
            w.take_writer()?;
            self.writer = Some(w);
        }
        let w = self.writer.as_ref().expect("set above");
        if reset {
            w.reset()?;
        }
        w.publish_at_version(bytes, Some(meta.timestamp), &meta.source, meta.version)
    }

    fn writer_gone(&mut self) {
        self.writer = None;
    }
}

/// Epochs a key remembers having left (samples of them are dropped).
const LEFT_EPOCHS: usize = 8;

struct Entry {
    stats: BufferStatistics,
    target: Option<Box<dyn Target>>,
    /// The exporter epoch of the last accepted sample (0: none yet).
    epoch: u64,
    /// Epochs followed before `epoch`, newest last.
    left: Vec<u64>,
    /// The remote version last accepted from a reply to a query (0 if the
    /// last came live).
    answered: u64,
    /// When the layout was last asked for (unknown layouts are asked for
    /// at most once per query timeout).
    asked: Option<Instant>,
}

enum Kind {
    /// One key into one in-process ring.
    Ring,
    /// Any key into shared buffers created on first sight.
    Shared,
}

struct Worker {
    session: Session,
    key_expr: String,
    kind: Kind,
    options: MirrorOptions,
    entries: BTreeMap<String, Entry>,
    /// Layouts learned, by hash.
    layouts: HashMap<u64, Layout>,
    report: Arc<Mutex<MirrorStatistics>>,
    outside: u64,
    errors: Vec<String>,
}

/// A running mirror. Dropping it stops its thread (the local buffers stay).
pub struct Mirror {
    report: Arc<Mutex<MirrorStatistics>>,
    stop: Arc<AtomicBool>,
    paused: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Mirror {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mirror").finish_non_exhaustive()
    }
}

/// Splits `rtstate/<namespace>/<buffer>` (namespace: one chunk).
pub fn parse_key(key: &str) -> Option<(&str, &str)> {
    let rest = key.strip_prefix("rtstate/")?;
    let (ns, buffer) = rest.split_once('/')?;
    (!ns.is_empty() && !buffer.is_empty()).then_some((ns, buffer))
}

/// The remote layout of `key`, asked through its queryable.
fn query_layout(session: &Session, key: &str, timeout: Duration) -> Option<Layout> {
    let replies = session
        .get(format!("{key}?{LAYOUT_QUERY}"))
        .timeout(timeout)
        .wait()
        .ok()?;
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let reply = replies.recv_timeout(left).ok()??;
        if let Ok(sample) = reply.result() {
            if let Ok(layout) = Layout::decode(&sample.payload().to_bytes()) {
                return Some(layout);
            }
        }
    }
}

impl Mirror {
    /// Mirrors every key matching `key_expr` (for example
    /// `rtstate/drone1/**`) into shared buffers named
    /// `<local_prefix><namespace>/<buffer>`, created on first sight with
    /// the remote's layout (learned through its queryable). A local file
    /// with another layout refuses that key (the reason names both).
    pub fn shared(
        session: &Session,
        key_expr: &str,
        options: MirrorOptions,
    ) -> Result<Mirror, BridgeError> {
        Self::start(session, key_expr, Kind::Shared, None, options)
    }

    /// Mirrors the single key `key` into the in-process `ring`. If the
    /// remote answers with its layout and it is not `T`'s, this is
    /// [`BridgeError::LayoutMismatch`] naming both; samples with another
    /// layout hash arriving later are refused and counted.
    pub fn ring<T: PodLayout + Send + Sync>(
        session: &Session,
        key: &str,
        ring: &SlotRing<T>,
        options: MirrorOptions,
    ) -> Result<Mirror, BridgeError> {
        if parse_key(key).is_none() || key.contains('*') {
            return Err(BridgeError::Invalid {
                what: "key",
                value: key.to_string(),
                reason: "expected rtstate/<namespace>/<buffer>, no wildcards".into(),
            });
        }
        let local = T::layout();
        if let Some(remote) = query_layout(session, key, options.query_timeout) {
            if remote != local {
                return Err(BridgeError::LayoutMismatch {
                    key: key.to_string(),
                    local: local.to_string(),
                    remote: remote.to_string(),
                });
            }
        }
        let target: Box<dyn Target> = Box::new(RingTarget {
            ring: ring.clone(),
            hash: local.hash(),
            layout: local,
            sources: HashMap::new(),
        });
        Self::start(session, key, Kind::Ring, Some(target), options)
    }

    fn start(
        session: &Session,
        key_expr: &str,
        kind: Kind,
        target: Option<Box<dyn Target>>,
        options: MirrorOptions,
    ) -> Result<Mirror, BridgeError> {
        if !key_expr.starts_with("rtstate/") {
            return Err(BridgeError::Invalid {
                what: "key expression",
                value: key_expr.to_string(),
                reason: "a mirrored key starts with rtstate/".into(),
            });
        }
        let zerr =
            |what: &str, e: zenoh::Error| BridgeError::Zenoh(format!("{what} {key_expr}: {e}"));
        let samples = session
            .declare_subscriber(key_expr.to_string())
            .with(RingChannel::new(options.queue.max(1)))
            .wait()
            .map_err(|e| zerr("subscribing to", e))?;
        let liveliness = session
            .liveliness()
            .declare_subscriber(key_expr.to_string())
            .history(true)
            .wait()
            .map_err(|e| zerr("subscribing to the liveliness of", e))?;
        let report = Arc::new(Mutex::new(MirrorStatistics::default()));
        let mut worker = Worker {
            session: session.clone(),
            key_expr: key_expr.to_string(),
            kind,
            options,
            entries: BTreeMap::new(),
            layouts: HashMap::new(),
            report: report.clone(),
            outside: 0,
            errors: Vec::new(),
        };
        if let Some(target) = target {
            worker.entry(key_expr).target = Some(target);
            worker.publish_report();
        }
        let stop = Arc::new(AtomicBool::new(false));
        let paused = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            let paused = paused.clone();
            std::thread::Builder::new()
                .name(format!("rtstate-mirror {key_expr}"))
                .spawn(move || {
                    worker.fetch_latest();
                    while !stop.load(Ordering::Relaxed) {
                        while let Ok(Some(s)) = liveliness.try_recv() {
                            worker.on_liveliness(&s);
                        }
                        if paused.load(Ordering::Relaxed) {
                            worker.publish_report();
                            std::thread::sleep(TICK);
                            continue;
                        }
                        match samples.recv_timeout(TICK) {
                            Ok(Some(s)) => worker.on_sample(&s, false),
                            Ok(None) => {}
                            Err(_) => break,
                        }
                        worker.publish_report();
                    }
                })
                .map_err(|e| BridgeError::Zenoh(format!("spawning the mirror thread: {e}")))?
        };
        Ok(Mirror {
            report,
            stop,
            paused,
            thread: Some(thread),
        })
    }

    /// The mirror's statistics (as of its thread's last sample or tick).
    pub fn statistics(&self) -> MirrorStatistics {
        self.report
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Stops taking samples (they queue, the oldest dropped, and show as
    /// gaps when the mirror resumes); liveliness is still followed.
    pub fn pause(&self) {
        self.paused.store(true, Ordering::Relaxed);
    }

    /// Takes samples again.
    pub fn resume(&self) {
        self.paused.store(false, Ordering::Relaxed);
    }

    /// Waits until `ready` holds for the statistics, looking every few
    /// milliseconds, up to `timeout`; returns the last statistics seen and
    /// whether `ready` held.
    pub fn wait_for(
        &self,
        timeout: Duration,
        mut ready: impl FnMut(&MirrorStatistics) -> bool,
    ) -> (MirrorStatistics, bool) {
        let deadline = Instant::now() + timeout;
        loop {
            let stats = self.statistics();
            if ready(&stats) {
                return (stats, true);
            }
            if Instant::now() >= deadline {
                return (stats, false);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Mirror {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Worker {
    fn entry(&mut self, key: &str) -> &mut Entry {
        if self.entries.contains_key(key) {
            return self.entries.get_mut(key).expect("present");
        }
        let local_name = match parse_key(key) {
            Some((ns, buffer)) if matches!(self.kind, Kind::Shared) => {
                format!("{}{ns}/{buffer}", self.options.local_prefix)
            }
            _ => String::new(),
        };
        self.entries
            .entry(key.to_string())
            .or_insert_with(|| Entry {
                stats: BufferStatistics {
                    key: key.to_string(),
                    local_name,
                    ..Default::default()
                },
                target: None,
                epoch: 0,
                left: Vec::new(),
                answered: 0,
                asked: None,
            })
    }

    fn error(&mut self, reason: String) {
        if self.errors.len() == MAX_ERRORS {
            self.errors.remove(0);
        }
        self.errors.push(reason);
    }

    fn publish_report(&self) {
        let stats = MirrorStatistics {
            buffers: self.entries.values().map(|e| e.stats.clone()).collect(),
            outside_namespace: self.outside,
            errors: self.errors.clone(),
        };
        *self.report.lock().unwrap_or_else(|p| p.into_inner()) = stats;
    }

    /// The latest sample of every matching key, for a late joiner.
    fn fetch_latest(&mut self) {
        self.fetch(self.key_expr.clone());
    }

    /// Asks `selector`'s queryables for their latest samples.
    fn fetch(&mut self, selector: String) {
        let timeout = self.options.query_timeout;
        let Ok(replies) = self.session.get(selector).timeout(timeout).wait() else {
            return;
        };
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match replies.recv_timeout(left) {
                Ok(Some(reply)) => {
                    if let Ok(sample) = reply.result() {
                        self.on_sample(sample, true);
                    }
                }
                _ => break,
            }
        }
        self.publish_report();
    }

    fn on_liveliness(&mut self, sample: &Sample) {
        let key = sample.key_expr().as_str().to_string();
        if matches!(self.kind, Kind::Ring) && key != self.key_expr {
            return;
        }
        let entry = self.entry(&key);
        match sample.kind() {
            SampleKind::Put => {
                entry.stats.writer_alive = Some(true);
                // The token arrives once the remote's declarations have:
                // ask for its latest sample now (the query at start may
                // have gone out before the connection was up, and a writer
                // coming back may have put its latest before it was).
                self.fetch(key);
            }
            SampleKind::Delete => {
                entry.stats.writer_alive = Some(false);
                entry.stats.writer_lost += 1;
                if let Some(t) = entry.target.as_mut() {
                    t.writer_gone();
                }
            }
        }
        self.publish_report();
    }

    /// One sample (`answer`: a reply to the mirror's own query for the
    /// latest, which repeats a version already held without it counting
    /// as old).
    fn on_sample(&mut self, sample: &Sample, answer: bool) {
        let key = sample.key_expr().as_str().to_string();
        let valid = match (parse_key(&key), &self.kind) {
            (None, _) => false,
            (Some(_), Kind::Ring) => key == self.key_expr,
            (Some((ns, buffer)), Kind::Shared) => rtstate::shm::name::file_name(&format!(
                "{}{ns}/{buffer}",
                self.options.local_prefix
            ))
            .is_ok(),
        };
        if !valid {
            self.outside += 1;
            self.error(format!("{key}: outside rtstate/<namespace>/<buffer>"));
            return;
        }
        let meta = sample
            .attachment()
            .ok_or_else(|| "no attachment".to_string())
            .and_then(|a| Meta::decode(&a.to_bytes()).map_err(|e| e.to_string()));
        let meta = match meta {
            Ok(meta) => meta,
            Err(reason) => {
                let entry = self.entry(&key);
                entry.stats.received += 1;
                entry.stats.malformed += 1;
                self.error(format!("{key}: {reason}"));
                return;
            }
        };
        self.entry(&key).stats.received += 1;
        if let Err(reason) = self.ensure_target(&key, meta.layout_hash) {
            let entry = self.entry(&key);
            entry.stats.layout_refused += 1;
            entry.stats.refused = Some(reason.clone());
            self.error(format!("{key}: {reason}"));
            return;
        }
        let payload = sample.payload().to_bytes();
        let entry = self.entries.get_mut(&key).expect("created above");
        let target = entry.target.as_mut().expect("ensured above");
        if payload.len() != target.layout().size() {
            entry.stats.malformed += 1;
            let reason = format!(
                "{key}: payload of {} bytes, the layout has {}",
                payload.len(),
                target.layout().size()
            );
            self.error(reason);
            return;
        }
        if entry.left.contains(&meta.epoch) {
            // A late sample of an exporter the mirror has left.
            entry.stats.dropped_old += 1;
            let reason = format!(
                "{key}: version {} of a previous exporter epoch, dropped",
                meta.version
            );
            self.error(reason);
            return;
        }
        let local = target.version();
        let new_epoch = entry.epoch != meta.epoch;
        let restart = new_epoch && entry.epoch != 0;
        let mut reset = false;
        if meta.version <= local {
            if !new_epoch {
                // A reply to the mirror's own query for the latest, or the
                // live sample of a version a reply already brought, is no
                // anomaly.
                let echo = answer || (meta.version == entry.answered && meta.version == local);
                if !echo {
                    entry.stats.dropped_old += 1;
                    let reason = format!(
                        "{key}: version {} from {:?} is not newer than {local}, dropped",
                        meta.version, meta.source
                    );
                    self.error(reason);
                }
                return;
            }
            // The remote versions went back under a new epoch: a restart
            // (or, on first sight, a local file left by an earlier run).
            reset = true;
        }
        // Versions never received: the gap since the last accepted version,
        // or, after a local reset for a restart, the new epoch's versions
        // before this one. Versions before the mirror's first sample are
        // not lost.
        let gap = if reset {
            if restart {
                meta.version - 1
            } else {
                0
            }
        } else if entry.epoch != 0 && local != 0 {
            meta.version - local - 1
        } else {
            0
        };
        match target.publish(&payload, &meta, reset) {
            Ok(local) => {
                if new_epoch {
                    if restart {
                        entry.stats.remote_restarts += 1;
                        if entry.left.len() == LEFT_EPOCHS {
                            entry.left.remove(0);
                        }
                        entry.left.push(entry.epoch);
                    }
                    entry.epoch = meta.epoch;
                }
                if reset {
                    entry.stats.local_resets += 1;
                }
                entry.stats.lost += gap;
                entry.answered = if answer { meta.version } else { 0 };
                entry.stats.accepted += 1;
                entry.stats.remote_version = meta.version;
                entry.stats.local_version = local;
                entry.stats.remote_published_at = Some(meta.published_at);
                entry.stats.remote_timestamp = Some(meta.timestamp);
                entry.stats.refused = None;
                // A sample is the writer's sign of life.
                if entry.stats.writer_alive == Some(false) {
                    entry.stats.writer_alive = Some(true);
                }
            }
            Err(e) => {
                entry.stats.refused = Some(e.to_string());
                let reason = format!("{key}: publishing into the local buffer: {e}");
                self.error(reason);
            }
        }
    }
    /// Makes sure `key` has a target whose layout hashes to `hash`.
    fn ensure_target(&mut self, key: &str, hash: u64) -> Result<(), String> {
        if let Some(target) = &self.entries[key].target {
            if target.layout_hash() == hash {
                return Ok(());
            }
            let local = target.layout().clone();
            let remote = self
                .layout_for(key, hash)
                .map(|l| l.to_string())
                .unwrap_or_else(|| format!("unknown (hash {hash:#018x})"));
            return Err(format!("layout mismatch: local {local}, remote {remote}"));
        }
        if matches!(self.kind, Kind::Ring) {
            return Err("no local buffer".into());
        }
        let Some(layout) = self.layout_for(key, hash) else {
            return Err(format!("unknown layout (hash {hash:#018x})"));
        };
        let name = self.entries[key].stats.local_name.clone();
        let options = CreateOptions::default();
        let writer = RawBuffer::create(&name, &layout, self.options.capacity, options)
            .map_err(|e| e.to_string())?;
        let keeper = RawBuffer::open(&name).map_err(|e| e.to_string())?;
        let entry = self.entries.get_mut(key).expect("exists");
        entry.target = Some(Box::new(SharedTarget {
            name,
            hash: layout.hash(),
            layout,
            writer: Some(writer),
            keeper,
        }));
        Ok(())
    }

    /// The layout with `hash`, learned from `key`'s queryable (asked at
    /// most once per query timeout per key).
    fn layout_for(&mut self, key: &str, hash: u64) -> Option<Layout> {
        if let Some(l) = self.layouts.get(&hash) {
            return Some(l.clone());
        }
        let timeout = self.options.query_timeout;
        let entry = self.entries.get_mut(key)?;
        if entry.asked.is_some_and(|t| t.elapsed() < timeout) {
            return None;
        }
        entry.asked = Some(Instant::now());
        let layout = query_layout(&self.session, key, timeout)?;
        let found = layout.hash();
        self.layouts.insert(found, layout.clone());
        (found == hash).then_some(layout)
    }
}
