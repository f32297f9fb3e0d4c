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

use crate::buffer::{ItemOf, StateOf};
use crate::layout::{Layout, PodLayout};
use crate::shm::RawBuffer;
use crate::storage::Storage;
use crate::sync::{AtomicBool, AtomicU64, Ordering};
use crate::{
    DroneState, FastDroneState, GenericBuffer, Policy, SlotRing, Snapshot, StateBuffer,
    StateManager, Subscription,
};
use std::borrow::Borrow;
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
pub(crate) struct Entry {
    pub(crate) seq: u64,
    pub(crate) version: u64,
    pub(crate) source: String,
    pub(crate) timestamp: f64,
    pub(crate) published_at: f64,
    pub(crate) bytes: Vec<u8>,
}

impl Entry {
    fn from_raw(s: crate::shm::RawSnapshot) -> Entry {
        Entry {
            seq: s.seq,
            version: s.version,
            source: s.source.unwrap_or_default(),
            timestamp: s.timestamp,
            published_at: s.published_at,
            bytes: s.bytes,
        }
    }

    fn from_snapshot<T, U: PodLayout>(s: &Snapshot<T>, state: &U) -> Entry {
        Entry {
            seq: s.version,
            version: s.version,
            source: s.source.as_str().to_owned(),
            timestamp: s.timestamp,
            published_at: s.published_at,
            bytes: bytemuck::bytes_of(state).to_vec(),
        }
    }

    /// The publish's wall-clock time in nanoseconds (the message time).
    pub(crate) fn time_ns(&self) -> u64 {
        wall_ns(self.published_at)
    }
}

/// Where one buffer's publishes come from (the recorder's and the live
/// server's).
pub(crate) trait Tap: Send {
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
            out.push(Entry::from_raw(s));
        }
        // Publishes after the history was taken are found next time; one
        // the history could not copy (lapped) shows as a gap then.
        dropped
    }
}

/// An in-process buffer's tap: one subscription, each snapshot turned into
/// an [`Entry`] by `to_entry` (None: not recorded, counted as dropped).
struct RingTap<I, F> {
    subscription: Subscription<I>,
    dropped: u64,
    to_entry: F,
}

impl<I, F> Tap for RingTap<I, F>
where
    I: Send + 'static,
    F: FnMut(&I) -> Option<Entry> + Send,
{
    fn drain(&mut self, out: &mut Vec<Entry>) -> u64 {
        let mut refused = 0;
        while let Ok(s) = self.subscription.try_recv() {
            match (self.to_entry)(&s) {
                Some(e) => out.push(e),
                None => refused += 1,
            }
        }
        let dropped = self.subscription.counters().dropped;
        let new = dropped - self.dropped;
        self.dropped = dropped;
        new + refused
    }
}

/// One buffer read by a recorder or a live server.
pub(crate) struct Source {
    pub(crate) name: String,
    pub(crate) layout: Layout,
    pub(crate) capacity: usize,
    pub(crate) tap: Box<dyn Tap>,
    /// The buffer's latest state when it was added (after its tap was
    /// set up: the tap may deliver it again); the live server sends it to
    /// its first subscribers.
    #[cfg(feature = "serve")]
    pub(crate) latest: Option<Entry>,
}

/// The buffers of a recorder or a live server: in-process slot rings
/// (one subscription each) or shared buffers (polled), each under a
/// unique name.
#[derive(Default)]
pub(crate) struct Sources {
    pub(crate) list: Vec<Source>,
    pub(crate) skipped: Vec<String>,
}

impl Sources {
    fn check_name(&self, name: &str) -> Result<(), RecordError> {
        if self.list.iter().any(|s| s.name == name) {
            return Err(RecordError::Invalid(format!(
                "buffer {name:?} is already added"
            )));
        }
        Ok(())
    }

    /// Adds an in-process slot ring under `name`, through one
    /// subscription (queue `queue`, drop-oldest).
    pub(crate) fn buffer<T>(
        &mut self,
        name: &str,
        ring: &SlotRing<T>,
        queue: usize,
    ) -> Result<(), RecordError>
    where
        T: PodLayout + crate::State + Send + Sync + 'static,
    {
        self.mapped(name, ring, queue, |s: &T| Some(*s))
    }

    /// Adds an in-process buffer of any state type under `name`, through
    /// one subscription (queue `queue`, drop-oldest), each state recorded
    /// as `map` gives it (None: not recorded, counted as dropped).
    pub(crate) fn mapped<S, U>(
        &mut self,
        name: &str,
        buffer: &GenericBuffer<S>,
        queue: usize,
        map: fn(&StateOf<S>) -> Option<U>,
    ) -> Result<(), RecordError>
    where
        S: Storage,
        ItemOf<S>: Send,
        U: PodLayout,
    {
        self.check_name(name)?;
        let subscription = buffer.subscribe(queue, Policy::DropOldest)?;
        let to_entry = move |item: &ItemOf<S>| {
            let s: &Snapshot<StateOf<S>> = item.borrow();
            map(&s.state).map(|u| Entry::from_snapshot(s, &u))
        };
        #[cfg(feature = "serve")]
        let latest = buffer.peek().and_then(|item| to_entry(&item));
        self.list.push(Source {
            name: name.to_owned(),
            layout: U::layout(),
            capacity: buffer.capacity(),
            tap: Box::new(RingTap {
                subscription,
                dropped: 0,
                to_entry,
            }),
            #[cfg(feature = "serve")]
            latest,
        });
        Ok(())
    }

    /// Adds every buffer of `manager` that is a `SlotRing<FastDroneState>`
    /// or a `StateBuffer<DroneState>` (recorded as its
    /// [`FastDroneState`](DroneState::to_fast_state)); the others' names go
    /// to `skipped`.
    pub(crate) fn manager(
        &mut self,
        manager: &StateManager,
        queue: usize,
    ) -> Result<(), RecordError> {
        for name in manager.names() {
            if let Ok(ring) = manager.get::<SlotRing<FastDroneState>>(&name) {
                self.buffer(&name, &ring, queue)?;
            } else if let Ok(buffer) = manager.get::<StateBuffer<DroneState>>(&name) {
                self.mapped(&name, &buffer, queue, |d: &DroneState| {
                    Some(d.to_fast_state())
                })?;
            } else {
                self.skipped.push(name);
            }
        }
        Ok(())
    }

    /// Adds an open shared buffer (states decoded by its layout).
    pub(crate) fn raw(&mut self, buffer: RawBuffer) -> Result<(), RecordError> {
        let name = buffer.name().to_owned();
        self.check_name(&name)?;
        let (_, latest) = buffer.position();
        #[cfg(feature = "serve")]
        let snapshot = buffer.peek().map(Entry::from_raw);
        self.list.push(Source {
            name,
            layout: buffer.layout().clone(),
            capacity: buffer.capacity(),
            tap: Box::new(SharedTap {
                buffer,
                last_seq: latest,
            }),
            #[cfg(feature = "serve")]
            latest: snapshot,
        });
        Ok(())
    }

    /// Adds the shared buffer `name` (in `dir`, or the default directory).
    pub(crate) fn shared(&mut self, name: &str, dir: Option<&Path>) -> Result<(), RecordError> {
        let buffer = match dir {
            Some(d) => RawBuffer::open_in(d, name)?,
            None => RawBuffer::open(name)?,
        };
        self.raw(buffer)
    }

    pub(crate) fn names(&self) -> Vec<String> {
        self.list.iter().map(|s| s.name.clone()).collect()
    }
}

/// Collects the buffers of a recording, then starts it
/// ([`Recorder::builder`]). Each buffer is recorded from the moment it is
/// added.
pub struct RecorderBuilder {
    path: PathBuf,
    options: RecorderOptions,
    sources: Sources,
}

impl std::fmt::Debug for RecorderBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecorderBuilder")
            .field("path", &self.path)
            .field("buffers", &self.names())
            .field("skipped", &self.sources.skipped)
            .finish()
    }
}

impl RecorderBuilder {
    /// Sets the options.
    pub fn options(mut self, options: RecorderOptions) -> Self {
        self.options = options;
        self
    }

    /// Records an in-process slot ring under `name`, through one
    /// subscription (queue [`RecorderOptions::queue`], drop-oldest).
    pub fn buffer<T>(mut self, name: &str, ring: &SlotRing<T>) -> Result<Self, RecordError>
    where
        T: PodLayout + crate::State + Send + Sync + 'static,
    {
        self.sources.buffer(name, ring, self.options.queue)?;
        Ok(self)
    }

    /// Records an in-process `StateBuffer` of any state type under `name`,
    /// each state written as `map` gives it in a described layout (None:
    /// not recorded, counted as dropped), through one subscription as
    /// [`buffer`](Self::buffer) does. A `FastDroneState` map also gets the
    /// Foxglove channels:
    ///
    /// ```
    /// use rtstate::record::Recorder;
    /// use rtstate::{DroneState, StateBuffer};
    ///
    /// let buffer = StateBuffer::<DroneState>::new(16)?;
    /// let dir = std::env::temp_dir().join(format!("rtstate-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let recorder = Recorder::builder(dir.join("run.mcap"))
    ///     .buffer_as("drone", &buffer, |d: &DroneState| Some(d.to_fast_state()))?;
    /// assert_eq!(recorder.names(), ["drone"]);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn buffer_as<T, U>(
        mut self,
        name: &str,
        buffer: &StateBuffer<T>,
        map: fn(&T) -> Option<U>,
    ) -> Result<Self, RecordError>
    where
        T: crate::State + Send + Sync + 'static,
        U: PodLayout,
    {
        self.sources.mapped(name, buffer, self.options.queue, map)?;
        Ok(self)
    }

    /// Records every buffer of `manager` that is a
    /// `SlotRing<FastDroneState>` or a `StateBuffer<DroneState>` (recorded
    /// as its [`FastDroneState`](crate::DroneState::to_fast_state)); the
    /// names of the others are listed by
    /// [`skipped`](Self::skipped) (add a slot ring of your own layout with
    /// [`buffer`](Self::buffer)).
    pub fn manager(mut self, manager: &StateManager) -> Result<Self, RecordError> {
        self.sources.manager(manager, self.options.queue)?;
        Ok(self)
    }

    /// Records an open shared buffer (states decoded by its layout).
    pub fn raw(mut self, buffer: RawBuffer) -> Result<Self, RecordError> {
        self.sources.raw(buffer)?;
        Ok(self)
    }

    /// Records the shared buffer `name` (in `dir`, or the default
    /// directory).
    pub fn shared(mut self, name: &str, dir: Option<&Path>) -> Result<Self, RecordError> {
        self.sources.shared(name, dir)?;
        Ok(self)
    }

    /// The names recorded so far.
    pub fn names(&self) -> Vec<String> {
        self.sources.names()
    }

    /// The manager's buffers left out (not slot rings of a described type).
    pub fn skipped(&self) -> &[String] {
        &self.sources.skipped
    }

    /// Creates the file (header, schemas, channels) and starts the
    /// recording thread. Errors: no buffer to record, the file cannot be
    /// created.
    pub fn start(self) -> Result<Recorder, RecordError> {
        if self.sources.list.is_empty() {
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
        let mut channels = Vec::with_capacity(self.sources.list.len());
        for s in &self.sources.list {
            match add_channels(&mut writer, s, self.options.foxglove) {
                Ok(c) => channels.push(c),
                Err(e) => {
                    drop(writer);
                    let _ = std::fs::remove_file(&partial);
                    return Err(mcap_err(&partial)(e));
                }
            }
        }
        let counters: Arc<[Counter]> = self
            .sources
            .list
            .iter()
            .map(|_| Counter::default())
            .collect();
        let stop = Arc::new(AtomicBool::new(false));
        let names: Vec<String> = self.names();
        let job = Job {
            writer,
            sources: self.sources.list,
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

/// One channel of a buffer: its topic, schema and metadata (the same in
/// an MCAP file and on the live server).
pub(crate) struct ChannelSpec {
    pub(crate) topic: String,
    pub(crate) schema_name: String,
    pub(crate) schema: String,
    pub(crate) metadata: BTreeMap<String, String>,
}

/// The channel of a buffer (topic = its name, the layout's JSON schema,
/// the layout in the metadata).
pub(crate) fn state_channel(name: &str, layout: &Layout, capacity: usize) -> ChannelSpec {
    let mut metadata = BTreeMap::new();
    metadata.insert(LAYOUT_KEY.to_owned(), hex(&layout.encode()));
    metadata.insert(
        "rtstate.layout_hash".to_owned(),
        format!("{:016x}", layout.hash()),
    );
    metadata.insert("rtstate.capacity".to_owned(), capacity.to_string());
    ChannelSpec {
        topic: name.to_owned(),
        schema_name: format!("rtstate/{name}"),
        schema: json::channel_schema(&format!("rtstate.{name}"), layout),
        metadata,
    }
}

/// The Foxglove channels of a drone-state buffer (`<name>/tf`,
/// `<name>/pose`), or `None` for another layout.
pub(crate) fn foxglove_channels(name: &str, layout: &Layout) -> Option<[ChannelSpec; 2]> {
    if !foxglove::is_drone_layout(layout) {
        return None;
    }
    Some([
        ChannelSpec {
            topic: format!("{name}/tf"),
            schema_name: "foxglove.FrameTransform".to_owned(),
            schema: foxglove::frame_transform_schema(),
            metadata: BTreeMap::new(),
        },
        ChannelSpec {
            topic: format!("{name}/pose"),
            schema_name: "foxglove.PoseInFrame".to_owned(),
            schema: foxglove::pose_in_frame_schema(),
            metadata: BTreeMap::new(),
        },
    ])
}

/// Writes the JSON message of one publish on a buffer's channel into
/// `text` (cleared first).
pub(crate) fn state_message(text: &mut String, layout: &Layout, e: &Entry) {
    use std::fmt::Write as _;
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
    json::push_state(text, layout, &e.bytes);
    text.push('}');
}

/// The `foxglove.FrameTransform` and `foxglove.PoseInFrame` messages of a
/// drone state's bytes (the channels of [`foxglove_channels`], in order).
pub(crate) fn foxglove_messages(bytes: &[u8]) -> [String; 2] {
    let s: FastDroneState = bytemuck::pod_read_unaligned(bytes);
    [foxglove::frame_transform(&s), foxglove::pose_in_frame(&s)]
}

fn add_channel(w: &mut McapWriter, c: &ChannelSpec) -> mcap::McapResult<u16> {
    let schema = w.add_schema(&c.schema_name, SCHEMA_ENCODING, c.schema.as_bytes())?;
    w.add_channel(schema, &c.topic, MESSAGE_ENCODING, &c.metadata)
}

fn add_channels(w: &mut McapWriter, s: &Source, foxglove: bool) -> mcap::McapResult<Channels> {
    let state = add_channel(w, &state_channel(&s.name, &s.layout, s.capacity))?;
    let foxglove = match foxglove_channels(&s.name, &s.layout).filter(|_| foxglove) {
        Some([tf, pose]) => Some((add_channel(w, &tf)?, add_channel(w, &pose)?)),
        None => None,
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
        let source = &self.sources[i];
        let channels = &self.channels[i];
        state_message(text, &source.layout, e);
        let time = e.time_ns();
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
            let [tf_body, pose_body] = foxglove_messages(&e.bytes);
            for (id, body) in [(tf, tf_body), (pose, pose_body)] {
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
            sources: Sources::default(),
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
