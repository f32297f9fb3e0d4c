//! Mirror: remote keys into local buffers.
//!
//! - Fast path: Zenoh's subscriber callback publishes a sample into its
//!   key's local buffer itself when everything it needs is known: the
//!   key's local buffer, ready, whose cached layout hash the sample
//!   carries; a well-formed payload; the exporter epoch already followed;
//!   a version past the local one; the mirror not paused; no sample
//!   waiting on the mirror's thread (so none is overtaken). The callback
//!   never waits: it only `try_lock`s the key's publishing side and hands
//!   the sample over when that is held. It counts the sample exactly as
//!   the mirror's thread would (one decision for both).
//! - Slow path: the mirror's thread takes every other sample from a small
//!   queue (the oldest dropped when it falls behind, so Zenoh never waits
//!   for it): first samples, layouts to ask for, new epochs, old,
//!   repeated or malformed samples, samples while paused and those queued
//!   behind them. It also follows liveliness and answers late joiners'
//!   queries for the latest. Statistics are read live from the per-key
//!   counters (whose lock is never held across a publish).
//! - Order: Zenoh delivers one link's samples in order, one at a time; a
//!   sample handed to the mirror's thread keeps the ones after it off the
//!   fast path until it is handled, so the local buffer takes them in the
//!   order they came. (Samples arriving concurrently over different links
//!   have no order between them; whichever is published second, if older,
//!   is dropped and counted, never published backwards.)
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
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use zenoh::pubsub::Subscriber;
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
    /// Samples queued between Zenoh and the mirror thread (the slow path:
    /// those the callback does not publish itself, all of them while
    /// paused); the oldest is dropped beyond this (and shows as a version
    /// gap).
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

/// What a publish into a local buffer leaves to do once the key's
/// publishing side is released: the local buffer's wake-ups
/// ([`rtstate::Wakeups`], whose drop runs wakers and may drop a displaced
/// state), type-erased; `None` when the publish runs no foreign code.
/// Dropped by [`Shared::apply`]'s callers after they release the lock.
type Wake = Option<Box<dyn std::any::Any>>;

/// Where a key's samples go.
trait Target: Send {
    fn layout(&self) -> &Layout;
    /// The layout's hash, computed once (checked on every sample).
    fn layout_hash(&self) -> u64;
    /// The local buffer's version (the last remote version accepted in its
    /// epoch; 0 when empty).
    fn version(&self) -> u64;
    /// Publishes at the remote version (`meta.version`), after a local
    /// reset if `reset`. Runs no foreign code: what would (wakers, a
    /// displaced state's drop) comes back in the [`Wake`], to drop once no
    /// lock is held (also when the publish was refused after a reset).
    fn publish(&mut self, bytes: &[u8], meta: &Meta, reset: bool) -> (Result<u64, Error>, Wake);
    fn writer_gone(&mut self) {}
    /// Whether a publish needs no setup first (the fast path's condition).
    fn ready(&self) -> bool {
        true
    }
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

    fn publish(&mut self, bytes: &[u8], meta: &Meta, reset: bool) -> (Result<u64, Error>, Wake) {
        let state: T = bytemuck::pod_read_unaligned(bytes);
        let source = match self.sources.get(&meta.source) {
            Some(&s) => s,
            None => {
                let s = Source::try_intern(&meta.source).unwrap_or(Source::UNKNOWN);
                self.sources.insert(meta.source.clone(), s);
                s
            }
        };
        // Both deferred: the caller holds the key's publishing side.
        let reset = reset.then(|| self.ring.reset_deferred());
        let (published, wakeups) =
            match self
                .ring
                .publish_at_version_deferred(state, source, meta.version)
            {
                Ok((version, wakeups)) => (Ok(version), Some(wakeups)),
                Err(e) => (Err(e.error), None),
            };
        // Dropped in order: the reset's wake-ups, then the publish's.
        let wake: Box<dyn std::any::Any> = Box::new((reset, wakeups));
        (published, Some(wake))
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

impl SharedTarget {
    fn publish_raw(&mut self, bytes: &[u8], meta: &Meta, reset: bool) -> Result<u64, Error> {
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

    /// A shared buffer's publish and reset run no foreign code: their only
    /// wake-up is a futex wake (a syscall; waiters in this process wait on
    /// the same futex), so they run under the key's publishing side and
    /// leave nothing to wake afterwards.
    fn publish(&mut self, bytes: &[u8], meta: &Meta, reset: bool) -> (Result<u64, Error>, Wake) {
        (self.publish_raw(bytes, meta, reset), None)
    }

    fn writer_gone(&mut self) {
        self.writer = None;
    }

    fn ready(&self) -> bool {
        self.writer.is_some()
    }
}

/// Epochs a key remembers having left (samples of them are dropped).
const LEFT_EPOCHS: usize = 8;

/// One key, shared by Zenoh's subscriber callback (the fast path) and the
/// mirror thread (the slow path).
struct KeyState {
    /// The local buffer's name (shared mirrors).
    local_name: String,
    /// The publishing side. Whoever holds it is the key's only publisher:
    /// the mirror thread locks it; Zenoh's callback only `try_lock`s it and
    /// hands the sample to the mirror thread when it is held, so the
    /// callback never waits. Nothing else ever waits for it (statistics
    /// read `stats`). No foreign code runs under it: the local buffer's
    /// wake-ups (wakers, a displaced state's drop) are deferred, and
    /// dropped by the holder after releasing it (see [`Shared::apply`]).
    core: Mutex<Core>,
    /// The counters: held only to read or update them, never across a
    /// publish or any foreign code.
    stats: Mutex<BufferStatistics>,
}

struct Core {
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

impl Core {
    /// Whether a live sample is a plain next one that the fast path
    /// publishes as is: a known local buffer ready to take it, the cached
    /// layout hash, a well-formed payload, the epoch already followed and a
    /// version past the local one. Anything else (a first sample, a new
    /// epoch, an old or repeated version, a layout or size mismatch, a
    /// shared writer to reopen) is the mirror thread's.
    fn fast_ok(&self, meta: &Meta, payload_len: usize) -> bool {
        let Some(target) = self.target.as_ref() else {
            return false;
        };
        self.epoch != 0
            && meta.epoch == self.epoch
            && target.ready()
            && target.layout_hash() == meta.layout_hash
            && payload_len == target.layout().size()
            && meta.version > target.version()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

enum Kind {
    /// One key into one in-process ring.
    Ring,
    /// Any key into shared buffers created on first sight.
    Shared,
}

/// What Zenoh's callback, the mirror thread and [`Mirror::statistics`]
/// share.
struct Shared {
    key_expr: String,
    kind: Kind,
    local_prefix: String,
    /// Per remote key. Written only by the mirror thread, to add a key;
    /// the callback only `try_read`s it (falling back to the slow path).
    keys: RwLock<BTreeMap<String, Arc<KeyState>>>,
    outside: AtomicU64,
    errors: Mutex<Vec<String>>,
    /// Samples handed to the mirror thread (the oldest dropped beyond
    /// `queue_len`, so Zenoh never waits for it). Held only to push or pop.
    queue: Mutex<VecDeque<Sample>>,
    queued: Condvar,
    queue_len: usize,
    /// Samples handed to the mirror thread and not handled yet (queued or
    /// being handled): while any is, live samples take the slow path too,
    /// so that none overtakes an earlier one.
    pending: AtomicUsize,
    paused: AtomicBool,
    stop: AtomicBool,
}

impl Shared {
    fn error(&self, reason: String) {
        let mut errors = lock(&self.errors);
        if errors.len() == MAX_ERRORS {
            errors.remove(0);
        }
        errors.push(reason);
    }

    fn key(&self, key: &str) -> Option<Arc<KeyState>> {
        self.keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned()
    }

    /// Zenoh's subscriber callback: the fast path, or a hand-off to the
    /// mirror thread. Never blocks beyond the queue's push.
    fn on_sample(&self, sample: Sample) {
        if !self.fast(&sample) {
            self.pending.fetch_add(1, Ordering::AcqRel);
            let mut queue = lock(&self.queue);
            if queue.len() >= self.queue_len {
                // The oldest is never handled: a gap when the mirror
                // catches up.
                queue.pop_front();
                self.pending.fetch_sub(1, Ordering::AcqRel);
            }
            queue.push_back(sample);
            drop(queue);
            self.queued.notify_one();
        }
    }

    /// Publishes `sample` from the callback if everything it needs is
    /// known; `false` hands it to the mirror thread.
    fn fast(&self, sample: &Sample) -> bool {
        if self.paused.load(Ordering::Acquire) || self.pending.load(Ordering::Acquire) != 0 {
            return false;
        }
        let key = sample.key_expr().as_str();
        let state = match self.keys.try_read() {
            Ok(keys) => match keys.get(key) {
                Some(state) => state.clone(),
                None => return false,
            },
            Err(_) => return false,
        };
        let Ok(mut core) = state.core.try_lock() else {
            return false;
        };
        // Under the key's publishing side: a sample handed over meanwhile
        // goes first.
        if self.pending.load(Ordering::Acquire) != 0 {
            return false;
        }
        let Some(meta) = sample
            .attachment()
            .and_then(|a| Meta::decode(&a.to_bytes()).ok())
        else {
            return false;
        };
        let payload = sample.payload().to_bytes();
        if !core.fast_ok(&meta, payload.len()) {
            return false;
        }
        lock(&state.stats).received += 1;
        let wake = self.apply(key, &state, &mut core, &payload, &meta, false);
        // The rule: no foreign code under a lock. The publishing side is
        // released first, then the local buffer's wakers run.
        drop(core);
        drop(wake);
        true
    }

    /// A received, well-formed sample of `key` whose target is ready and of
    /// the sample's layout, under the key's publishing side: published, or
    /// counted as dropped (the one decision for both paths). Returns the
    /// publish's wake-ups, which the caller drops after releasing the
    /// publishing side (never under it: wakers are foreign code).
    #[must_use = "drop the wake-ups after releasing the publishing side"]
    fn apply(
        &self,
        key: &str,
        state: &KeyState,
        core: &mut Core,
        payload: &[u8],
        meta: &Meta,
        answer: bool,
    ) -> Wake {
        let target = core.target.as_mut().expect("checked by the caller");
        if payload.len() != target.layout().size() {
            let size = target.layout().size();
            lock(&state.stats).malformed += 1;
            self.error(format!(
                "{key}: payload of {} bytes, the layout has {size}",
                payload.len()
            ));
            return None;
        }
        if core.left.contains(&meta.epoch) {
            // A late sample of an exporter the mirror has left.
            lock(&state.stats).dropped_old += 1;
            self.error(format!(
                "{key}: version {} of a previous exporter epoch, dropped",
                meta.version
            ));
            return None;
        }
        let local = target.version();
        let new_epoch = core.epoch != meta.epoch;
        let restart = new_epoch && core.epoch != 0;
        let mut reset = false;
        if meta.version <= local {
            if !new_epoch {
                // A reply to the mirror's own query for the latest, or the
                // live sample of a version a reply already brought, is no
                // anomaly.
                let echo = answer || (meta.version == core.answered && meta.version == local);
                if !echo {
                    lock(&state.stats).dropped_old += 1;
                    self.error(format!(
                        "{key}: version {} from {:?} is not newer than {local}, dropped",
                        meta.version, meta.source
                    ));
                }
                return None;
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
        } else if core.epoch != 0 && local != 0 {
            meta.version - local - 1
        } else {
            0
        };
        // The publish runs no foreign code (its wake-ups come back in
        // `wake`); no counter lock is held across it.
        let (published, wake) = target.publish(payload, meta, reset);
        match published {
            Ok(local) => {
                let mut stats = lock(&state.stats);
                if new_epoch {
                    if restart {
                        stats.remote_restarts += 1;
                        if core.left.len() == LEFT_EPOCHS {
                            core.left.remove(0);
                        }
                        core.left.push(core.epoch);
                    }
                    core.epoch = meta.epoch;
                }
                if reset {
                    stats.local_resets += 1;
                }
                stats.lost += gap;
                core.answered = if answer { meta.version } else { 0 };
                stats.accepted += 1;
                stats.remote_version = meta.version;
                stats.local_version = local;
                stats.remote_published_at = Some(meta.published_at);
                stats.remote_timestamp = Some(meta.timestamp);
                stats.refused = None;
                // A sample is the writer's sign of life.
                if stats.writer_alive == Some(false) {
                    stats.writer_alive = Some(true);
                }
            }
            Err(e) => {
                lock(&state.stats).refused = Some(e.to_string());
                self.error(format!("{key}: publishing into the local buffer: {e}"));
            }
        }
        wake
    }
}

/// The mirror thread's own state.
struct Worker {
    session: Session,
    options: MirrorOptions,
    shared: Arc<Shared>,
    /// Layouts learned, by hash.
    layouts: HashMap<u64, Layout>,
}

/// A running mirror. Dropping it stops its thread (the local buffers stay).
pub struct Mirror {
    shared: Arc<Shared>,
    /// Zenoh's subscriber, whose callback runs the fast path.
    subscriber: Option<Subscriber<()>>,
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
        let shared = Arc::new(Shared {
            key_expr: key_expr.to_string(),
            kind,
            local_prefix: options.local_prefix.clone(),
            keys: RwLock::new(BTreeMap::new()),
            outside: AtomicU64::new(0),
            errors: Mutex::new(Vec::new()),
            queue: Mutex::new(VecDeque::new()),
            queued: Condvar::new(),
            queue_len: options.queue.max(1),
            pending: AtomicUsize::new(0),
            paused: AtomicBool::new(false),
            stop: AtomicBool::new(false),
        });
        let mut worker = Worker {
            session: session.clone(),
            options,
            shared: shared.clone(),
            layouts: HashMap::new(),
        };
        if let Some(target) = target {
            let state = worker.entry(key_expr);
            lock(&state.core).target = Some(target);
        }
        let liveliness = session
            .liveliness()
            .declare_subscriber(key_expr.to_string())
            .history(true)
            .wait()
            .map_err(|e| zerr("subscribing to the liveliness of", e))?;
        let subscriber = {
            let shared = shared.clone();
            session
                .declare_subscriber(key_expr.to_string())
                .callback(move |sample| shared.on_sample(sample))
                .wait()
                .map_err(|e| zerr("subscribing to", e))?
        };
        let thread = std::thread::Builder::new()
            .name(format!("rtstate-mirror {key_expr}"))
            .spawn(move || {
                worker.fetch_latest();
                let shared = worker.shared.clone();
                while !shared.stop.load(Ordering::Acquire) {
                    while let Ok(Some(s)) = liveliness.try_recv() {
                        worker.on_liveliness(&s);
                    }
                    if shared.paused.load(Ordering::Acquire) {
                        std::thread::sleep(TICK);
                        continue;
                    }
                    let sample = {
                        let queue = lock(&shared.queue);
                        let (mut queue, _) = shared
                            .queued
                            .wait_timeout_while(queue, TICK, |q| {
                                q.is_empty() && !shared.stop.load(Ordering::Acquire)
                            })
                            .unwrap_or_else(|p| p.into_inner());
                        queue.pop_front()
                    };
                    if let Some(s) = sample {
                        worker.on_sample(&s, false);
                        // Handled: live samples may take the fast path
                        // again once none is left.
                        shared.pending.fetch_sub(1, Ordering::AcqRel);
                    }
                }
            })
            .map_err(|e| BridgeError::Zenoh(format!("spawning the mirror thread: {e}")))?;
        Ok(Mirror {
            shared,
            subscriber: Some(subscriber),
            thread: Some(thread),
        })
    }

    /// The mirror's statistics, as of now (samples are counted as they are
    /// handled, on Zenoh's callback or on the mirror's thread).
    pub fn statistics(&self) -> MirrorStatistics {
        let shared = &self.shared;
        let buffers = shared
            .keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .map(|k| lock(&k.stats).clone())
            .collect();
        MirrorStatistics {
            buffers,
            outside_namespace: shared.outside.load(Ordering::Acquire),
            errors: lock(&shared.errors).clone(),
        }
    }

    /// Stops taking samples (they queue, the oldest dropped, and show as
    /// gaps when the mirror resumes); liveliness is still followed.
    pub fn pause(&self) {
        self.shared.paused.store(true, Ordering::Release);
    }

    /// Takes samples again.
    pub fn resume(&self) {
        self.shared.paused.store(false, Ordering::Release);
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
        // No more callbacks, then the thread.
        drop(self.subscriber.take());
        self.shared.stop.store(true, Ordering::Release);
        self.shared.queued.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Worker {
    /// `key`'s state, created on first sight.
    fn entry(&mut self, key: &str) -> Arc<KeyState> {
        if let Some(state) = self.shared.key(key) {
            return state;
        }
        let local_name = match parse_key(key) {
            Some((ns, buffer)) if matches!(self.shared.kind, Kind::Shared) => {
                format!("{}{ns}/{buffer}", self.shared.local_prefix)
            }
            _ => String::new(),
        };
        let mut keys = self.shared.keys.write().unwrap_or_else(|p| p.into_inner());
        keys.entry(key.to_string())
            .or_insert_with(|| {
                Arc::new(KeyState {
                    core: Mutex::new(Core {
                        target: None,
                        epoch: 0,
                        left: Vec::new(),
                        answered: 0,
                        asked: None,
                    }),
                    stats: Mutex::new(BufferStatistics {
                        key: key.to_string(),
                        local_name: local_name.clone(),
                        ..Default::default()
                    }),
                    local_name,
                })
            })
            .clone()
    }

    /// The latest sample of every matching key, for a late joiner.
    fn fetch_latest(&mut self) {
        self.fetch(self.shared.key_expr.clone());
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
    }

    fn on_liveliness(&mut self, sample: &Sample) {
        let key = sample.key_expr().as_str().to_string();
        if matches!(self.shared.kind, Kind::Ring) && key != self.shared.key_expr {
            return;
        }
        let state = self.entry(&key);
        match sample.kind() {
            SampleKind::Put => {
                lock(&state.stats).writer_alive = Some(true);
                // The token arrives once the remote's declarations have:
                // ask for its latest sample now (the query at start may
                // have gone out before the connection was up, and a writer
                // coming back may have put its latest before it was).
                self.fetch(key);
            }
            SampleKind::Delete => {
                {
                    let mut stats = lock(&state.stats);
                    stats.writer_alive = Some(false);
                    stats.writer_lost += 1;
                }
                if let Some(t) = lock(&state.core).target.as_mut() {
                    t.writer_gone();
                }
            }
        }
    }

    /// One sample on the slow path (`answer`: a reply to the mirror's own
    /// query for the latest, which repeats a version already held without
    /// it counting as old).
    fn on_sample(&mut self, sample: &Sample, answer: bool) {
        let key = sample.key_expr().as_str().to_string();
        let shared = self.shared.clone();
        let valid = match (parse_key(&key), &shared.kind) {
            (None, _) => false,
            (Some(_), Kind::Ring) => key == shared.key_expr,
            (Some((ns, buffer)), Kind::Shared) => {
                rtstate::shm::name::file_name(&format!("{}{ns}/{buffer}", shared.local_prefix))
                    .is_ok()
            }
        };
        if !valid {
            shared.outside.fetch_add(1, Ordering::AcqRel);
            shared.error(format!("{key}: outside rtstate/<namespace>/<buffer>"));
            return;
        }
        let meta = sample
            .attachment()
            .ok_or_else(|| "no attachment".to_string())
            .and_then(|a| Meta::decode(&a.to_bytes()).map_err(|e| e.to_string()));
        let state = self.entry(&key);
        let meta = match meta {
            Ok(meta) => meta,
            Err(reason) => {
                {
                    let mut stats = lock(&state.stats);
                    stats.received += 1;
                    stats.malformed += 1;
                }
                shared.error(format!("{key}: {reason}"));
                return;
            }
        };
        lock(&state.stats).received += 1;
        // The key's publishing side, for the whole decision and publish
        // (the callback falls back to this thread meanwhile).
        let mut core = lock(&state.core);
        if let Err(reason) = self.ensure_target(&key, &state, &mut core, meta.layout_hash) {
            {
                let mut stats = lock(&state.stats);
                stats.layout_refused += 1;
                stats.refused = Some(reason.clone());
            }
            shared.error(format!("{key}: {reason}"));
            return;
        }
        let payload = sample.payload().to_bytes();
        let wake = shared.apply(&key, &state, &mut core, &payload, &meta, answer);
        // The rule: no foreign code under a lock. The publishing side is
        // released first, then the local buffer's wakers run.
        drop(core);
        drop(wake);
    }

    /// Makes sure `key` has a target whose layout hashes to `hash`.
    fn ensure_target(
        &mut self,
        key: &str,
        state: &KeyState,
        core: &mut Core,
        hash: u64,
    ) -> Result<(), String> {
        if let Some(target) = &core.target {
            if target.layout_hash() == hash {
                return Ok(());
            }
            let local = target.layout().clone();
            let remote = self
                .layout_for(core, key, hash)
                .map(|l| l.to_string())
                .unwrap_or_else(|| format!("unknown (hash {hash:#018x})"));
            return Err(format!("layout mismatch: local {local}, remote {remote}"));
        }
        if matches!(self.shared.kind, Kind::Ring) {
            return Err("no local buffer".into());
        }
        let Some(layout) = self.layout_for(core, key, hash) else {
            return Err(format!("unknown layout (hash {hash:#018x})"));
        };
        let name = state.local_name.clone();
        let options = CreateOptions::default();
        let writer = RawBuffer::create(&name, &layout, self.options.capacity, options)
            .map_err(|e| e.to_string())?;
        let keeper = RawBuffer::open(&name).map_err(|e| e.to_string())?;
        core.target = Some(Box::new(SharedTarget {
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
    fn layout_for(&mut self, core: &mut Core, key: &str, hash: u64) -> Option<Layout> {
        if let Some(l) = self.layouts.get(&hash) {
            return Some(l.clone());
        }
        let timeout = self.options.query_timeout;
        if core.asked.is_some_and(|t| t.elapsed() < timeout) {
            return None;
        }
        core.asked = Some(Instant::now());
        let layout = query_layout(&self.session, key, timeout)?;
        let found = layout.hash();
        self.layouts.insert(found, layout.clone());
        (found == hash).then_some(layout)
    }
}
