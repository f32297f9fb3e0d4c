//! Recording buffers to [MCAP](https://mcap.dev) and replaying them
//! (feature `record`).
//!
//! A [`Recorder`] runs on its own thread and drains every buffer it
//! records: an in-process [`SlotRing`] through one [`Subscription`](crate::Subscription)
//! (the writer pays what one subscription costs and never waits; a full
//! queue drops, counted), a shared buffer by polling its ring from the
//! recorder's process (the writer pays nothing; a publish the ring
//! overwrote before the recorder copied it is counted as dropped). Drops
//! are written into the file (a metadata record named `rtstate.recording`,
//! indexed in the summary) and returned by [`Recorder::stop`].
//!
//! Each buffer is one channel, topic = the buffer's name, JSON-encoded
//! messages `{"version", "seq", "source", "timestamp", "publish_time",
//! "state": {field: value, …}}` with a JSON schema generated from the
//! layout (schema encoding `jsonschema`), so that Foxglove and the Python
//! `mcap` reader decode them; the channel's metadata carries the layout
//! (`rtstate.layout`, hex of [`Layout::encode`]) for replay. A buffer whose
//! layout is [`FastDroneState`]'s is also written as
//! `foxglove.FrameTransform` (`<name>/tf`, `world` → `base_link`) and
//! `foxglove.PoseInFrame` (`<name>/pose`). Message log and publish times
//! are the publish's wall-clock time in nanoseconds.
//!
//! The file is written as `<path>.partial` and renamed to `path` once its
//! summary is written, so `path` is always a complete file.
//!
//! [`replay`] reads a recording back: [`Recording::states`] in publish
//! order, [`replay::replay_shared`] into shared buffers (original timing
//! scaled by a rate, or as fast as possible), [`replay::replay_into`] and
//! [`replay::replay_into_rings`] into in-process [`SlotRing`]s,
//! [`replay::replay_into_manager`] into a [`StateManager`]'s.

pub mod foxglove;
pub(crate) mod json;
pub mod replay;

pub use replay::{RecordedChannel, RecordedState, Recording, ReplayStatistics};

use crate::layout::{Layout, PodLayout};
use crate::shm::RawBuffer;
use crate::sync::{AtomicBool, AtomicU64, Ordering};
use crate::{FastDroneState, Policy, SlotRing, Snapshot, StateManager, Subscription};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// The message encoding of every channel.
pub const MESSAGE_ENCODING: &str = "json";
/// The schema encoding of every channel.
pub const SCHEMA_ENCODING: &str = "jsonschema";
/// The channel metadata key holding the layout (hex of [`Layout::encode`]).
pub const LAYOUT_KEY: &str = "rtstate.layout";
/// The name of the metadata record with the recording's counts.
pub const METADATA_NAME: &str = "rtstate.recording";

/// What can go wrong recording or replaying.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// A file could not be created, written or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The MCAP library refused a write or a read (a truncated or corrupt
    /// file).
    #[error("{path}: not a valid MCAP file: {reason}")]
    Mcap {
        /// The file.
        path: String,
        /// The cause.
        reason: String,
    },
    /// A buffer could not be opened, created or published to.
    #[error(transparent)]
    Buffer(#[from] crate::Error),
    /// Anything else: an unknown channel, a layout that does not match, a
    /// message that does not decode, a bad argument.
    #[error("{0}")]
    Invalid(String),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> RecordError + '_ {
    move |source| RecordError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn mcap_err(path: &Path) -> impl FnOnce(mcap::McapError) -> RecordError + '_ {
    move |e| RecordError::Mcap {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

/// How a [`Recorder`] drains its buffers.
#[derive(Clone, Copy, Debug)]
pub struct RecorderOptions {
    /// How long the thread sleeps when no buffer had anything new
    /// (default 1 ms; [`Recorder::stop`] wakes it). A shared buffer must
    /// not be lapped (its capacity publishes) within it, or publishes are
    /// dropped.
    pub poll_interval: Duration,
    /// The queue of each in-process subscription (default 1024 events).
    pub queue: usize,
    /// Whether drone-state buffers also get the Foxglove channels
    /// (default true).
    pub foxglove: bool,
}

impl Default for RecorderOptions {
    fn default() -> Self {
        RecorderOptions {
            poll_interval: Duration::from_millis(1),
            queue: 1024,
            foxglove: true,
        }
    }
}

/// One drained publish.
struct Entry {
    seq: u64,
    version: u64,
    source: String,
    timestamp: f64,
    published_at: f64,
    bytes: Vec<u8>,
}

/// Where one recorded buffer's publishes come from.
trait Tap: Send {
    /// Appends what is new to `out`; returns the publishes lost since the
    /// last call.
    fn drain(&mut self, out: &mut Vec<Entry>) -> u64;
}

struct SharedTap {
    buffer: RawBuffer,
    last_seq: u64,
}

impl Tap for SharedTap {
    fn drain(&mut self, out: &mut Vec<Entry>) -> u64 {
        let (_, latest) = self.buffer.position();
        if latest <= self.last_seq {
            return 0;
        }
        let mut dropped = 0;
        for s in self.buffer.history() {
            if s.seq <= self.last_seq {
                continue;
            }
            dropped += s.seq - self.last_seq - 1;
            self.last_seq = s.seq;
            out.push(Entry {
                seq: s.seq,
                version: s.version,
                source: s.source.unwrap_or_default(),
                timestamp: s.timestamp,
                published_at: s.published_at,
                bytes: s.bytes,
            });
        }
        // Publishes after the history was taken are found next time; one
        // the history could not copy (lapped) shows as a gap then.
        dropped
    }
}

struct RingTap<T: PodLayout> {
    subscription: Subscription<Snapshot<T>>,
    dropped: u64,
}

impl<T: PodLayout + Send + Sync + 'static> Tap for RingTap<T> {
    fn drain(&mut self, out: &mut Vec<Entry>) -> u64 {
        while let Ok(s) = self.subscription.try_recv() {
            out.push(Entry {
                seq: s.version,
                version: s.version,
                source: s.source.as_str().to_owned(),
                timestamp: s.timestamp,
                published_at: s.published_at,
                bytes: bytemuck::bytes_of(&s.state).to_vec(),
            });
        }
        let dropped = self.subscription.counters().dropped;
        let new = dropped - self.dropped;
        self.dropped = dropped;
        new
    }
}

struct Source {
    name: String,
    layout: Layout,
    capacity: usize,
    tap: Box<dyn Tap>,
}

/// Collects the buffers of a recording, then starts it
/// ([`Recorder::builder`]). Each buffer is recorded from the moment it is
/// added.
pub struct RecorderBuilder {
    path: PathBuf,
    options: RecorderOptions,
    sources: Vec<Source>,
    skipped: Vec<String>,
}

impl std::fmt::Debug for RecorderBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecorderBuilder")
            .field("path", &self.path)
            .field("buffers", &self.names())
            .field("skipped", &self.skipped)
            .finish()
    }
}

impl RecorderBuilder {
    /// Sets the options.
    pub fn options(mut self, options: RecorderOptions) -> Self {
        self.options = options;
        self
    }

    fn check_name(&self, name: &str) -> Result<(), RecordError> {
        if self.sources.iter().any(|s| s.name == name) {
            return Err(RecordError::Invalid(format!(
                "buffer {name:?} is already recorded"
            )));
        }
        Ok(())
    }

    /// Records an in-process slot ring under `name`, through one
    /// subscription (queue [`RecorderOptions::queue`], drop-oldest).
    pub fn buffer<T>(mut self, name: &str, ring: &SlotRing<T>) -> Result<Self, RecordError>
    where
        T: PodLayout + crate::State + Send + Sync + 'static,
    {
        self.check_name(name)?;
        let subscription = ring.subscribe(self.options.queue, Policy::DropOldest)?;
        self.sources.push(Source {
            name: name.to_owned(),
            layout: T::layout(),
            capacity: ring.capacity(),
            tap: Box::new(RingTap {
                subscription,
                dropped: 0,
            }),
        });
        Ok(self)
    }

    /// Records every buffer of `manager` that is a
    /// `SlotRing<FastDroneState>`; the names of the others are listed by
    /// [`skipped`](Self::skipped) (add a slot ring of your own layout with
    /// [`buffer`](Self::buffer)).
    pub fn manager(mut self, manager: &StateManager) -> Result<Self, RecordError> {
        for name in manager.names() {
            if let Ok(ring) = manager.get::<SlotRing<FastDroneState>>(&name) {
                self = self.buffer(&name, &ring)?;
            } else {
                self.skipped.push(name);
            }
        }
        Ok(self)
    }

    /// Records an open shared buffer (states decoded by its layout).
    pub fn raw(mut self, buffer: RawBuffer) -> Result<Self, RecordError> {
        let name = buffer.name().to_owned();
        self.check_name(&name)?;
        let (_, latest) = buffer.position();
        self.sources.push(Source {
            name,
            layout: buffer.layout().clone(),
            capacity: buffer.capacity(),
            tap: Box::new(SharedTap {
                buffer,
                last_seq: latest,
            }),
        });
        Ok(self)
    }

    /// Records the shared buffer `name` (in `dir`, or the default
    /// directory).
    pub fn shared(self, name: &str, dir: Option<&Path>) -> Result<Self, RecordError> {
        let buffer = match dir {
            Some(d) => RawBuffer::open_in(d, name)?,
            None => RawBuffer::open(name)?,
        };
        self.raw(buffer)
    }

    /// The names recorded so far.
    pub fn names(&self) -> Vec<String> {
        self.sources.iter().map(|s| s.name.clone()).collect()
    }

    /// The manager's buffers left out (not slot rings of a described type).
    pub fn skipped(&self) -> &[String] {
        &self.skipped
    }

    /// Creates the file (header, schemas, channels) and starts the
    /// recording thread. Errors: no buffer to record, the file cannot be
    /// created.
    pub fn start(self) -> Result<Recorder, RecordError> {
        if self.sources.is_empty() {
            return Err(RecordError::Invalid("no buffer to record".into()));
        }
        let partial = partial_path(&self.path);
        let file = File::create(&partial).map_err(io_err(&partial))?;
        let options = mcap::WriteOptions::new()
            .profile("")
            .library(concat!("rtstate ", env!("CARGO_PKG_VERSION")));
        let mut writer = options
            .create(BufWriter::new(file))
            .map_err(mcap_err(&partial))?;
        let mut channels = Vec::with_capacity(self.sources.len());
        for s in &self.sources {
            match add_channels(&mut writer, s, self.options.foxglove) {
                Ok(c) => channels.push(c),
                Err(e) => {
                    drop(writer);
                    let _ = std::fs::remove_file(&partial);
                    return Err(mcap_err(&partial)(e));
                }
            }
        }
        let counters: Arc<[Counter]> = self.sources.iter().map(|_| Counter::default()).collect();
        let stop = Arc::new(AtomicBool::new(false));
        let names: Vec<String> = self.names();
        let job = Job {
            writer,
            sources: self.sources,
            channels,
            counters: counters.clone(),
            stop: stop.clone(),
            poll: self.options.poll_interval,
            partial: partial.clone(),
            path: self.path.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("rtstate-recorder".into())
            .spawn(move || job.run())
            .map_err(io_err(&partial))?;
        Ok(Recorder {
            path: self.path,
            names,
            counters,
            stop,
            thread: Some(thread),
        })
    }
}

fn partial_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".partial");
    PathBuf::from(p)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

struct Channels {
    state: u16,
    foxglove: Option<(u16, u16)>,
}

type McapWriter = mcap::Writer<BufWriter<File>>;

fn add_channels(w: &mut McapWriter, s: &Source, foxglove: bool) -> mcap::McapResult<Channels> {
    let schema = json::channel_schema(&format!("rtstate.{}", s.name), &s.layout);
    let schema_id = w.add_schema(
        &format!("rtstate/{}", s.name),
        SCHEMA_ENCODING,
        schema.as_bytes(),
    )?;
    let mut meta = BTreeMap::new();
    meta.insert(LAYOUT_KEY.to_owned(), hex(&s.layout.encode()));
    meta.insert(
        "rtstate.layout_hash".to_owned(),
        format!("{:016x}", s.layout.hash()),
    );
    meta.insert("rtstate.capacity".to_owned(), s.capacity.to_string());
    let state = w.add_channel(schema_id, &s.name, MESSAGE_ENCODING, &meta)?;
    let foxglove = if foxglove && foxglove::is_drone_layout(&s.layout) {
        let empty = BTreeMap::new();
        let tf = w.add_schema(
            "foxglove.FrameTransform",
            SCHEMA_ENCODING,
            foxglove::frame_transform_schema().as_bytes(),
        )?;
        let pose = w.add_schema(
            "foxglove.PoseInFrame",
            SCHEMA_ENCODING,
            foxglove::pose_in_frame_schema().as_bytes(),
        )?;
        Some((
            w.add_channel(tf, &format!("{}/tf", s.name), MESSAGE_ENCODING, &empty)?,
            w.add_channel(pose, &format!("{}/pose", s.name), MESSAGE_ENCODING, &empty)?,
        ))
    } else {
        None
    };
    Ok(Channels { state, foxglove })
}

#[derive(Default)]
struct Counter {
    recorded: AtomicU64,
    dropped: AtomicU64,
}

struct Job {
    writer: McapWriter,
    sources: Vec<Source>,
    channels: Vec<Channels>,
    counters: Arc<[Counter]>,
    stop: Arc<AtomicBool>,
    poll: Duration,
    partial: PathBuf,
    path: PathBuf,
}

fn wall_ns(seconds: f64) -> u64 {
    if seconds.is_finite() && seconds > 0.0 {
        (seconds * 1e9).round() as u64
    } else {
        0
    }
}

impl Job {
    fn run(mut self) -> Result<(), RecordError> {
        let result = self.record();
        let finish = self.finish();
        result.and(finish)
    }

    fn record(&mut self) -> Result<(), RecordError> {
        let mut entries = Vec::new();
        let mut text = String::with_capacity(1024);
        let mut sequence = vec![0u32; self.sources.len()];
        loop {
            // Read the flag first: the drain after it sees every publish
            // made before `stop` was called.
            let stopping = self.stop.load(Ordering::SeqCst);
            let mut any = false;
            for (i, seq) in sequence.iter_mut().enumerate() {
                entries.clear();
                let dropped = self.sources[i].tap.drain(&mut entries);
                if dropped > 0 {
                    // ORDERING: a statistics counter with no partner; readers
                    // take a snapshot (exact after the thread is joined).
                    self.counters[i]
                        .dropped
                        .fetch_add(dropped, Ordering::Relaxed);
                }
                for e in &entries {
                    self.write(i, e, &mut text, seq)?;
                }
                if !entries.is_empty() {
                    any = true;
                    // ORDERING: as above.
                    self.counters[i]
                        .recorded
                        .fetch_add(entries.len() as u64, Ordering::Relaxed);
                }
            }
            if stopping {
                return Ok(());
            }
            if !any {
                // Woken early by `stop` (which unparks the thread).
                std::thread::park_timeout(self.poll);
            }
        }
    }

    fn write(
        &mut self,
        i: usize,
        e: &Entry,
        text: &mut String,
        seq: &mut u32,
    ) -> Result<(), RecordError> {
        use std::fmt::Write as _;
        let source = &self.sources[i];
        let channels = &self.channels[i];
        text.clear();
        let _ = write!(
            text,
            "{{\"version\":{},\"seq\":{},\"source\":{},\"timestamp\":",
            e.version,
            e.seq,
            json::quote(&e.source)
        );
        let _ = write!(
            text,
            "{:?},\"publish_time\":{:?},\"state\":",
            e.timestamp, e.published_at
        );
        json::push_state(text, &source.layout, &e.bytes);
        text.push('}');
        let time = wall_ns(e.published_at);
        *seq = seq.wrapping_add(1);
        let header = mcap::records::MessageHeader {
            channel_id: channels.state,
            sequence: *seq,
            log_time: time,
            publish_time: time,
        };
        let partial = self.partial.clone();
        self.writer
            .write_to_known_channel(&header, text.as_bytes())
            .map_err(mcap_err(&partial))?;
        if let Some((tf, pose)) = channels.foxglove {
            let s: FastDroneState = bytemuck::pod_read_unaligned(&e.bytes);
            for (id, body) in [
                (tf, foxglove::frame_transform(&s)),
                (pose, foxglove::pose_in_frame(&s)),
            ] {
                let header = mcap::records::MessageHeader {
                    channel_id: id,
                    ..header
                };
                self.writer
                    .write_to_known_channel(&header, body.as_bytes())
                    .map_err(mcap_err(&partial))?;
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), RecordError> {
        let mut metadata = BTreeMap::new();
        let mut total = 0;
        for (s, c) in self.sources.iter().zip(self.counters.iter()) {
            // ORDERING: this thread is the counters' only writer.
            let (recorded, dropped) = (
                c.recorded.load(Ordering::Relaxed),
                c.dropped.load(Ordering::Relaxed),
            );
            total += dropped;
            metadata.insert(format!("{}.recorded", s.name), recorded.to_string());
            metadata.insert(format!("{}.dropped", s.name), dropped.to_string());
        }
        metadata.insert("dropped".to_owned(), total.to_string());
        let partial = self.partial.clone();
        self.writer
            .write_metadata(&mcap::records::Metadata {
                name: METADATA_NAME.to_owned(),
                metadata,
            })
            .map_err(mcap_err(&partial))?;
        self.writer.finish().map_err(mcap_err(&partial))?;
        std::fs::rename(&self.partial, &self.path).map_err(io_err(&self.path))?;
        Ok(())
    }
}

/// Per-buffer counts of a recording.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BufferRecordStatistics {
    /// The buffer's name (the channel's topic).
    pub name: String,
    /// Publishes written.
    pub recorded: u64,
    /// Publishes lost (a full queue, a lapped ring).
    pub dropped: u64,
}

/// A recording's counts ([`Recorder::statistics`], [`Recorder::stop`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordStatistics {
    /// The file.
    pub path: PathBuf,
    /// One row per buffer, in the order they were added.
    pub buffers: Vec<BufferRecordStatistics>,
}

impl RecordStatistics {
    /// Publishes written, all buffers.
    pub fn recorded(&self) -> u64 {
        self.buffers.iter().map(|b| b.recorded).sum()
    }

    /// Publishes lost, all buffers.
    pub fn dropped(&self) -> u64 {
        self.buffers.iter().map(|b| b.dropped).sum()
    }
}

/// A running recording; [`stop`](Self::stop) finishes the file (dropping
/// the recorder stops it too, ignoring errors).
pub struct Recorder {
    path: PathBuf,
    names: Vec<String>,
    counters: Arc<[Counter]>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<(), RecordError>>>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("path", &self.path)
            .field("buffers", &self.names)
            .field("running", &self.is_running())
            .finish()
    }
}

impl Recorder {
    /// A builder for a recording into `path`.
    pub fn builder(path: impl AsRef<Path>) -> RecorderBuilder {
        RecorderBuilder {
            path: path.as_ref().to_owned(),
            options: RecorderOptions::default(),
            sources: Vec::new(),
            skipped: Vec::new(),
        }
    }

    /// The file being written (complete once stopped).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the recording thread runs (false once stopped, or after an
    /// error, which [`stop`](Self::stop) returns).
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// The counts so far.
    pub fn statistics(&self) -> RecordStatistics {
        RecordStatistics {
            path: self.path.clone(),
            buffers: self
                .names
                .iter()
                .zip(self.counters.iter())
                .map(|(name, c)| BufferRecordStatistics {
                    name: name.clone(),
                    // ORDERING: statistics counters, no partner (see `Job::record`).
                    recorded: c.recorded.load(Ordering::Relaxed),
                    dropped: c.dropped.load(Ordering::Relaxed),
                })
                .collect(),
        }
    }

    /// Drains what was published before the call, writes the summary
    /// and the counts, closes the file and returns the counts. Calling it
    /// again returns the counts.
    pub fn stop(&mut self) -> Result<RecordStatistics, RecordError> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            match thread.join() {
                Ok(r) => r?,
                Err(_) => return Err(RecordError::Invalid("the recording thread panicked".into())),
            }
        }
        Ok(self.statistics())
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}
