//! Export: each chosen buffer is read on its own thread (through a
//! [`Reader`](rtstate::Reader) or a [`RawReader`]; the writer's path is
//! untouched) and put on `rtstate/<namespace>/<buffer>`, with a queryable
//! answering the latest sample (and the layout) and a liveliness token
//! that lives while the buffer's writer does.

use crate::wire::{Meta, LAYOUT_QUERY};
use crate::{key_for, BridgeError};
use rtstate::layout::{Layout, PodLayout};
use rtstate::shm::{RawBuffer, RawReader};
use rtstate::{Error, Reader, SlotRing, StateManager};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use zenoh::{Session, Wait};

/// How long an export thread waits for a publish before it looks at its
/// stop flag and the writer's liveness again.
const TICK: Duration = Duration::from_millis(50);

/// One state read from the exported buffer.
struct Read {
    bytes: Vec<u8>,
    version: u64,
    published_at: f64,
    timestamp: f64,
    source: String,
}

/// The latest sample put: payload and attachment, for late joiners.
type Latest = Option<(Vec<u8>, Vec<u8>)>;

/// What an export thread reads from.
trait ExportSource: Send + 'static {
    /// The next state newer than the last one read, waiting up to `timeout`
    /// (`Ok(None)` when nothing came); `Err` when the buffer is closed.
    fn next(&mut self, timeout: Duration) -> Result<Option<Read>, Error>;
    /// Whether the buffer's writer is alive.
    fn writer_alive(&self) -> bool;
}

struct RingSource<T: PodLayout + Send + Sync> {
    reader: Reader<SlotRing<T>>,
}

impl<T: PodLayout + Send + Sync> ExportSource for RingSource<T> {
    fn next(&mut self, timeout: Duration) -> Result<Option<Read>, Error> {
        match self.reader.wait(timeout) {
            Ok(s) => Ok(Some(Read {
                bytes: bytemuck::bytes_of(&s.state).to_vec(),
                version: s.version,
                published_at: s.published_at,
                timestamp: s.timestamp,
                source: s.source.as_str().to_string(),
            })),
            Err(Error::Timeout(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn writer_alive(&self) -> bool {
        !self.reader.buffer().is_closed()
    }
}

struct RawSource {
    reader: RawReader,
}

impl ExportSource for RawSource {
    fn next(&mut self, timeout: Duration) -> Result<Option<Read>, Error> {
        match self.reader.wait(timeout) {
            Ok(s) => Ok(Some(Read {
                bytes: s.bytes,
                version: s.version,
                published_at: s.published_at,
                timestamp: s.timestamp,
                source: s.source.unwrap_or_default(),
            })),
            Err(Error::Timeout(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn writer_alive(&self) -> bool {
        let stats = self.reader.buffer().statistics();
        stats.writer_alive && !stats.closed
    }
}

/// What an exported buffer has done.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ExportStatistics {
    /// The buffer's name.
    pub name: String,
    /// Its key expression.
    pub key: String,
    /// Samples put.
    pub published: u64,
    /// Puts Zenoh refused.
    pub errors: u64,
    /// Queries answered.
    pub queries: u64,
    /// Whether the liveliness token is declared (the writer is alive).
    pub writer_alive: bool,
    /// The version of the last sample put.
    pub last_version: u64,
}

#[derive(Default)]
struct Counters {
    published: AtomicU64,
    errors: AtomicU64,
    queries: AtomicU64,
    last_version: AtomicU64,
    alive: AtomicBool,
}

struct Export {
    name: String,
    key: String,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// Publishes buffers on a Zenoh session under `rtstate/<namespace>/`.
/// Dropping it stops every export thread and undeclares its entities.
pub struct Exporter {
    session: Session,
    namespace: String,
    exports: Vec<Export>,
}

impl std::fmt::Debug for Exporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exporter")
            .field("namespace", &self.namespace)
            .field("exports", &self.exports.len())
            .finish()
    }
}

fn random_epoch() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.write_u32(std::process::id());
    h.finish() | 1
}

impl Exporter {
    /// An exporter on `session` for `namespace` (one or more key chunks,
    /// no wildcards).
    pub fn new(session: &Session, namespace: &str) -> Result<Self, BridgeError> {
        crate::check_namespace(namespace)?;
        Ok(Exporter {
            session: session.clone(),
            namespace: namespace.to_string(),
            exports: Vec::new(),
        })
    }

    /// The namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Exports shared buffer `name` (any layout), read through a
    /// [`RawReader`] in this process.
    pub fn export_shared(&mut self, name: &str) -> Result<(), BridgeError> {
        let buffer = RawBuffer::open(name)?;
        let layout = buffer.layout().clone();
        let reader = buffer.reader();
        self.start(name, layout, RawSource { reader })
    }

    /// Exports the in-process ring `ring` under `name`.
    pub fn export_ring<T: PodLayout + Send + Sync>(
        &mut self,
        name: &str,
        ring: &SlotRing<T>,
    ) -> Result<(), BridgeError> {
        let reader = ring.reader();
        self.start(name, T::layout(), RingSource { reader })
    }

    /// Exports the manager's buffer `name`, a [`SlotRing<T>`].
    pub fn export_from_manager<T: PodLayout + Send + Sync>(
        &mut self,
        manager: &StateManager,
        name: &str,
    ) -> Result<(), BridgeError> {
        let ring: SlotRing<T> = manager.get(name)?;
        self.export_ring(name, &ring)
    }

    /// What each export has done.
    pub fn statistics(&self) -> Vec<ExportStatistics> {
        self.exports
            .iter()
            .map(|e| ExportStatistics {
                name: e.name.clone(),
                key: e.key.clone(),
                published: e.counters.published.load(Ordering::Relaxed),
                errors: e.counters.errors.load(Ordering::Relaxed),
                queries: e.counters.queries.load(Ordering::Relaxed),
                writer_alive: e.counters.alive.load(Ordering::Relaxed),
                last_version: e.counters.last_version.load(Ordering::Relaxed),
            })
            .collect()
    }

    fn start(
        &mut self,
        name: &str,
        layout: Layout,
        source: impl ExportSource,
    ) -> Result<(), BridgeError> {
        let key = key_for(&self.namespace, name)?;
        if self.exports.iter().any(|e| e.key == key) {
            return Err(BridgeError::Invalid {
                what: "buffer",
                value: name.to_string(),
                reason: "already exported".into(),
            });
        }
        let zerr = |what: &str, e: zenoh::Error| BridgeError::Zenoh(format!("{what} {key}: {e}"));
        let publisher = self
            .session
            .declare_publisher(key.clone())
            .wait()
            .map_err(|e| zerr("declaring the publisher on", e))?;
        let latest: Arc<Mutex<Latest>> = Arc::default();
        let counters = Arc::new(Counters::default());
        let encoded_layout = layout.encode();
        let queryable = {
            let latest = latest.clone();
            let counters = counters.clone();
            let key = key.clone();
            self.session
                .declare_queryable(key.clone())
                .callback(move |query| {
                    counters.queries.fetch_add(1, Ordering::Relaxed);
                    if query.parameters().as_str() == LAYOUT_QUERY {
                        let _ = query.reply(key.clone(), encoded_layout.clone()).wait();
                        return;
                    }
                    // Cloned out of the lock: the reply runs after it.
                    let sample = latest.lock().unwrap_or_else(|p| p.into_inner()).clone();
                    if let Some((payload, attachment)) = sample {
                        let _ = query
                            .reply(key.clone(), payload)
                            .attachment(attachment)
                            .wait();
                    }
                })
                .wait()
                .map_err(|e| zerr("declaring the queryable on", e))?
        };
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            let counters = counters.clone();
            let session = self.session.clone();
            let key = key.clone();
            let hash = layout.hash();
            std::thread::Builder::new()
                .name(format!("rtstate-export {name}"))
                .spawn(move || {
                    let mut source = source;
                    // A new epoch per export, and whenever the buffer's
                    // versions go back (it was reset): a mirror then
                    // restarts its versions too instead of dropping the
                    // new ones as old.
                    let mut epoch = random_epoch();
                    let mut last_version = 0;
                    let mut token = None;
                    // The writer's liveness is looked at once per tick, not
                    // per state (it reads the buffer's header).
                    let mut looked: Option<Instant> = None;
                    while !stop.load(Ordering::Relaxed) {
                        if looked.is_none_or(|t| t.elapsed() >= TICK) {
                            let alive = source.writer_alive();
                            looked = Some(Instant::now());
                            if alive && token.is_none() {
                                token = session.liveliness().declare_token(key.clone()).wait().ok();
                            } else if !alive && token.is_some() {
                                if let Some(t) = token.take() {
                                    let _ = t.undeclare().wait();
                                }
                            }
                            counters.alive.store(token.is_some(), Ordering::Relaxed);
                        }
                        let read = match source.next(TICK) {
                            Ok(Some(read)) => read,
                            Ok(None) => continue,
                            Err(_) => {
                                // Closed: nothing more will come.
                                std::thread::sleep(TICK);
                                continue;
                            }
                        };
                        if read.version <= last_version {
                            epoch = random_epoch();
                        }
                        last_version = read.version;
                        let attachment = Meta {
                            version: read.version,
                            published_at: read.published_at,
                            timestamp: read.timestamp,
                            layout_hash: hash,
                            epoch,
                            source: read.source,
                        }
                        .encode();
                        *latest.lock().unwrap_or_else(|p| p.into_inner()) =
                            Some((read.bytes.clone(), attachment.clone()));
                        match publisher.put(read.bytes).attachment(attachment).wait() {
                            Ok(()) => {
                                counters.published.fetch_add(1, Ordering::Relaxed);
                                counters.last_version.store(read.version, Ordering::Relaxed);
                            }
                            Err(_) => {
                                counters.errors.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    drop(token);
                    drop(queryable);
                    drop(publisher);
                })
                .map_err(|e| BridgeError::Zenoh(format!("spawning the export thread: {e}")))?
        };
        self.exports.push(Export {
            name: name.to_string(),
            key,
            counters,
            stop,
            thread: Some(thread),
        });
        Ok(())
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        for e in &self.exports {
            e.stop.store(true, Ordering::Relaxed);
        }
        for e in &mut self.exports {
            if let Some(t) = e.thread.take() {
                let _ = t.join();
            }
        }
    }
}
