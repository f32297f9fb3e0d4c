//! A live [Foxglove](https://foxglove.dev) view of buffers: a Foxglove
//! WebSocket server (feature `serve`, the `foxglove` crate's `websocket`
//! server only).
//!
//! A [`Server`] advertises every buffer it serves as a channel with the
//! same topic, JSON schema and JSON messages as the MCAP
//! [recorder](crate::record) writes (`<name>`; a [`FastDroneState`](crate::FastDroneState)
//! buffer also `<name>/tf`, `foxglove.FrameTransform`, and `<name>/pose`,
//! `foxglove.PoseInFrame`). Its own thread drains the buffers the way the
//! recorder does (an in-process slot ring through one subscription: the
//! writer pays one subscription's cost and never waits, a full queue
//! drops, counted; a shared buffer by polling its ring) and logs each
//! publish to the channels' subscribers. A client that subscribes to a
//! channel is sent the buffer's latest state at once (to that client
//! only), then every publish.
//!
//! The server binds `127.0.0.1` unless told otherwise
//! ([`ServerBuilder::host`]); port 0 takes a free port ([`Server::port`]).
//! Each server has its own Foxglove context, so channels of one server
//! are never seen by another. The WebSocket connections run on the
//! `foxglove` crate's tokio runtime (created once per process).
//!
//! ```no_run
//! use rtstate::{FastDroneState, SlotRing};
//! use rtstate::serve::Server;
//!
//! let ring = SlotRing::<FastDroneState>::new(16)?;
//! let mut server = Server::builder().port(8765).buffer("drone", &ring)?.start()?;
//! println!("open {} in Foxglove", server.url());
//! // ... publish to `ring` ...
//! let statistics = server.stop()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::layout::PodLayout;
use crate::record::{
    foxglove_channels, foxglove_messages, state_channel, state_message, ChannelSpec, Entry,
    RecordError, Sources, MESSAGE_ENCODING, SCHEMA_ENCODING,
};
use crate::shm::RawBuffer;
use crate::sync::{lock, Arc, AtomicBool, AtomicU64, Mutex, Ordering};
use crate::{SlotRing, StateBuffer, StateManager};
use foxglove::websocket::{ChannelView, Client, ServerListener};
use foxglove::{ChannelId, Context, PartialMetadata, RawChannel, Schema, WebSocketServerHandle};
use std::collections::HashMap;
use std::path::Path;
use std::thread::JoinHandle;
use std::time::Duration;

/// The default port (Foxglove's usual one).
pub const DEFAULT_PORT: u16 = 8765;
/// The default host: loopback only.
pub const DEFAULT_HOST: &str = "127.0.0.1";

/// What can go wrong starting or running a live server.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The address could not be bound (in use, not an address of this
    /// machine, not allowed).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// `host:port` as asked.
        addr: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A buffer could not be opened or subscribed to, or was added twice.
    #[error(transparent)]
    Buffer(#[from] RecordError),
    /// The Foxglove server refused something else (a channel, the start).
    #[error("foxglove server: {0}")]
    Foxglove(String),
    /// A bad argument (no buffer to serve, …).
    #[error("{0}")]
    Invalid(String),
}

impl From<crate::Error> for ServeError {
    fn from(e: crate::Error) -> Self {
        ServeError::Buffer(RecordError::Buffer(e))
    }
}

/// How a [`Server`] listens and drains its buffers.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// The address to bind (default `127.0.0.1`: this machine only).
    pub host: String,
    /// The port (default 8765; 0 takes a free one).
    pub port: u16,
    /// How long the thread sleeps when no buffer had anything new
    /// (default 1 ms; [`Server::stop`] wakes it).
    pub poll_interval: Duration,
    /// The queue of each in-process subscription (default 1024 events).
    pub queue: usize,
    /// Whether drone-state buffers also get the Foxglove channels
    /// (default true).
    pub foxglove: bool,
    /// The server's name, shown by Foxglove (default `rtstate`).
    pub name: String,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            host: DEFAULT_HOST.to_owned(),
            port: DEFAULT_PORT,
            poll_interval: Duration::from_millis(1),
            queue: 1024,
            foxglove: true,
            name: "rtstate".to_owned(),
        }
    }
}

/// Collects the buffers to serve, then starts the server
/// ([`Server::builder`]). Each buffer is drained from the moment it is
/// added; its latest state then is what a subscriber gets first.
pub struct ServerBuilder {
    options: ServerOptions,
    sources: Sources,
}

impl std::fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("options", &self.options)
            .field("buffers", &self.names())
            .field("skipped", &self.sources.skipped)
            .finish()
    }
}

impl ServerBuilder {
    /// Sets all the options.
    pub fn options(mut self, options: ServerOptions) -> Self {
        self.options = options;
        self
    }

    /// The address to bind (`0.0.0.0` or a LAN address exposes the
    /// buffers to the network: an explicit choice).
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.options.host = host.into();
        self
    }

    /// The port (0: a free one, see [`Server::port`]).
    pub fn port(mut self, port: u16) -> Self {
        self.options.port = port;
        self
    }

    /// Serves an in-process slot ring under `name`, through one
    /// subscription (queue [`ServerOptions::queue`], drop-oldest).
    pub fn buffer<T>(mut self, name: &str, ring: &SlotRing<T>) -> Result<Self, ServeError>
    where
        T: PodLayout + crate::State + Send + Sync + 'static,
    {
        self.sources.buffer(name, ring, self.options.queue)?;
        Ok(self)
    }

    /// Serves an in-process `StateBuffer` of any state type under `name`,
    /// each state sent as `map` gives it in a described layout (None: not
    /// sent, counted as dropped); see
    /// [`RecorderBuilder::buffer_as`](crate::record::RecorderBuilder::buffer_as).
    pub fn buffer_as<T, U>(
        mut self,
        name: &str,
        buffer: &StateBuffer<T>,
        map: fn(&T) -> Option<U>,
    ) -> Result<Self, ServeError>
    where
        T: crate::State + Send + Sync + 'static,
        U: PodLayout,
    {
        self.sources.mapped(name, buffer, self.options.queue, map)?;
        Ok(self)
    }

    /// Serves every buffer of `manager` that is a
    /// `SlotRing<FastDroneState>` or a `StateBuffer<DroneState>` (sent as
    /// its [`FastDroneState`](crate::DroneState::to_fast_state)); the
    /// others are listed by [`skipped`](Self::skipped).
    pub fn manager(mut self, manager: &StateManager) -> Result<Self, ServeError> {
        self.sources.manager(manager, self.options.queue)?;
        Ok(self)
    }

    /// Serves an open shared buffer (states decoded by its layout).
    pub fn raw(mut self, buffer: RawBuffer) -> Result<Self, ServeError> {
        self.sources.raw(buffer)?;
        Ok(self)
    }

    /// Serves the shared buffer `name` (in `dir`, or the default
    /// directory); an unknown name is an error.
    pub fn shared(mut self, name: &str, dir: Option<&Path>) -> Result<Self, ServeError> {
        self.sources.shared(name, dir)?;
        Ok(self)
    }

    /// The names served so far.
    pub fn names(&self) -> Vec<String> {
        self.sources.names()
    }

    /// The manager's buffers left out (not slot rings of a described type).
    pub fn skipped(&self) -> &[String] {
        &self.sources.skipped
    }

    /// Creates the channels, binds the address and starts the streaming
    /// thread. Errors: no buffer, the address cannot be bound
    /// ([`ServeError::Bind`] naming `host:port`). It blocks on the
    /// `foxglove` crate's tokio runtime: call it outside an async context
    /// (or in `spawn_blocking`).
    pub fn start(self) -> Result<Server, ServeError> {
        if self.sources.list.is_empty() {
            return Err(ServeError::Invalid("no buffer to serve".into()));
        }
        let context = Context::new();
        let mut links = Vec::with_capacity(self.sources.list.len());
        let mut by_id = HashMap::new();
        for s in &self.sources.list {
            let state = live(&context, state_channel(&s.name, &s.layout, s.capacity))?;
            let foxglove =
                match foxglove_channels(&s.name, &s.layout).filter(|_| self.options.foxglove) {
                    Some([tf, pose]) => Some([live(&context, tf)?, live(&context, pose)?]),
                    None => None,
                };
            let link = Link { state, foxglove };
            for l in link.all() {
                by_id.insert(l.channel.id(), l.clone());
            }
            links.push(link);
        }
        // The latest state of each buffer, before any client can connect.
        let mut last_seq = Vec::with_capacity(links.len());
        let mut text = String::with_capacity(1024);
        for (s, link) in self.sources.list.iter().zip(&links) {
            match &s.latest {
                Some(e) => {
                    link.publish(s, e, &mut text, true);
                    last_seq.push(e.seq);
                }
                None => last_seq.push(0),
            }
        }
        let host = bracketed(&self.options.host);
        let addr = format!("{host}:{}", self.options.port);
        let handle = context
            .websocket_server()
            .name(self.options.name.clone())
            .bind(host, self.options.port)
            .listener(Arc::new(Listener { by_id }))
            .start_blocking()
            .map_err(|e| match e {
                foxglove::FoxgloveError::Bind(source) => ServeError::Bind {
                    addr: addr.clone(),
                    source,
                },
                other => ServeError::Foxglove(other.to_string()),
            })?;
        let port = handle.port();
        let names = self.sources.names();
        let counters: Arc<[Counter]> = names.iter().map(|_| Counter::default()).collect();
        let stop = Arc::new(AtomicBool::new(false));
        let job = Job {
            sources: self.sources.list,
            links,
            last_seq,
            counters: counters.clone(),
            stop: stop.clone(),
            poll: self.options.poll_interval,
        };
        let thread = match std::thread::Builder::new()
            .name("rtstate-serve".into())
            .spawn(move || job.run())
        {
            Ok(t) => t,
            Err(e) => {
                handle.stop().wait_blocking();
                return Err(ServeError::Foxglove(format!(
                    "cannot start the streaming thread: {e}"
                )));
            }
        };
        Ok(Server {
            host: self.options.host,
            port,
            names,
            counters,
            stop,
            thread: Some(thread),
            handle: Some(handle),
            _context: context,
        })
    }
}

/// An IPv6 address in brackets (`::1` → `[::1]`), for `host:port`.
fn bracketed(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

/// One advertised channel and the last message logged to it.
struct Live {
    channel: Arc<RawChannel>,
    /// The last message and its time (ns). Held while logging, so that a
    /// new subscriber gets the latest, then only newer ones: logging only
    /// queues the message for each client (lossy, never waits), and no
    /// foreign code runs under it.
    latest: Mutex<Option<(Vec<u8>, u64)>>,
}

fn live(context: &Arc<Context>, spec: ChannelSpec) -> Result<Arc<Live>, ServeError> {
    let channel = context
        .channel_builder(spec.topic)
        .message_encoding(MESSAGE_ENCODING)
        .schema(Schema::new(
            spec.schema_name,
            SCHEMA_ENCODING,
            spec.schema.into_bytes(),
        ))
        .metadata(spec.metadata)
        .build_raw()
        .map_err(|e| ServeError::Foxglove(e.to_string()))?;
    Ok(Arc::new(Live {
        channel,
        latest: Mutex::new(None),
    }))
}

impl Live {
    fn log(&self, msg: &[u8], time: u64, keep: bool) {
        let mut latest = lock(&self.latest);
        self.channel.log_with_meta(
            msg,
            PartialMetadata {
                log_time: Some(time),
            },
        );
        if keep {
            *latest = Some((msg.to_vec(), time));
        }
    }
}

/// A buffer's channels.
struct Link {
    state: Arc<Live>,
    foxglove: Option<[Arc<Live>; 2]>,
}

impl Link {
    fn all(&self) -> impl Iterator<Item = &Arc<Live>> {
        std::iter::once(&self.state).chain(self.foxglove.iter().flatten())
    }

    fn has_sinks(&self) -> bool {
        self.all().any(|l| l.channel.has_sinks())
    }

    /// Logs one publish to the buffer's channels; `keep`: it is the
    /// latest (sent to the next subscribers).
    fn publish(&self, s: &crate::record::Source, e: &Entry, text: &mut String, keep: bool) {
        let time = e.time_ns();
        state_message(text, &s.layout, e);
        self.state.log(text.as_bytes(), time, keep);
        if let Some([tf, pose]) = &self.foxglove {
            let [tf_msg, pose_msg] = foxglove_messages(&e.bytes);
            tf.log(tf_msg.as_bytes(), time, keep);
            pose.log(pose_msg.as_bytes(), time, keep);
        }
    }
}

/// Sends the latest state of a channel to a client that subscribes.
struct Listener {
    by_id: HashMap<ChannelId, Arc<Live>>,
}

impl ServerListener for Listener {
    fn on_subscribe(&self, client: Client, channel: ChannelView) {
        let Some(live) = self.by_id.get(&channel.id()) else {
            return;
        };
        // The client's subscription is registered before this call: a
        // publish logged from now on reaches it, and the lock orders this
        // send before any later one.
        let latest = lock(&live.latest);
        if let Some((msg, time)) = latest.as_ref() {
            live.channel.log_with_meta_to_sink(
                msg,
                PartialMetadata {
                    log_time: Some(*time),
                },
                client.sink_id(),
            );
        }
    }
}

#[derive(Default)]
struct Counter {
    streamed: AtomicU64,
    dropped: AtomicU64,
}

struct Job {
    sources: Vec<crate::record::Source>,
    links: Vec<Link>,
    last_seq: Vec<u64>,
    counters: Arc<[Counter]>,
    stop: Arc<AtomicBool>,
    poll: Duration,
}

impl Job {
    fn run(mut self) {
        let mut entries = Vec::new();
        let mut text = String::with_capacity(1024);
        loop {
            let stopping = self.stop.load(Ordering::SeqCst);
            let mut any = false;
            for i in 0..self.sources.len() {
                entries.clear();
                let dropped = self.sources[i].tap.drain(&mut entries);
                if dropped > 0 {
                    // ORDERING: a statistics counter with no partner.
                    self.counters[i]
                        .dropped
                        .fetch_add(dropped, Ordering::Relaxed);
                }
                // The tap may deliver again the latest taken at start.
                let last = self.last_seq[i];
                entries.retain(|e| e.seq > last);
                let Some(newest) = entries.last() else {
                    continue;
                };
                any = true;
                self.last_seq[i] = newest.seq;
                let link = &self.links[i];
                let n = entries.len();
                // Nobody subscribed: only the newest is encoded (kept for
                // the next subscriber).
                let from = if link.has_sinks() { 0 } else { n - 1 };
                for (k, e) in entries.iter().enumerate().skip(from) {
                    link.publish(&self.sources[i], e, &mut text, k == n - 1);
                }
                // ORDERING: as above.
                self.counters[i]
                    .streamed
                    .fetch_add(n as u64, Ordering::Relaxed);
            }
            if stopping {
                return;
            }
            if !any {
                // Woken early by `stop` (which unparks the thread).
                std::thread::park_timeout(self.poll);
            }
        }
    }
}

/// Per-buffer counts of a live server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BufferServeStatistics {
    /// The buffer's name (its channel's topic).
    pub name: String,
    /// Publishes drained and logged to the channel (to the clients
    /// subscribed then).
    pub streamed: u64,
    /// Publishes lost before the server drained them (a full queue, a
    /// lapped ring).
    pub dropped: u64,
}

/// A live Foxglove WebSocket server of buffers; [`stop`](Self::stop)
/// closes it (dropping it does too).
pub struct Server {
    host: String,
    port: u16,
    names: Vec<String>,
    counters: Arc<[Counter]>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    handle: Option<WebSocketServerHandle>,
    _context: Arc<Context>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("url", &self.url())
            .field("buffers", &self.names)
            .field("running", &self.is_running())
            .finish()
    }
}

impl Server {
    /// A builder (binds `127.0.0.1:8765` unless told otherwise).
    pub fn builder() -> ServerBuilder {
        ServerBuilder {
            options: ServerOptions::default(),
            sources: Sources::default(),
        }
    }

    /// The bound port (the free one taken for port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The host it binds.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The URL to open in Foxglove (`ws://host:port`).
    pub fn url(&self) -> String {
        format!("ws://{}:{}", bracketed(&self.host), self.port)
    }

    /// The buffers served, in the order they were added.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Whether it serves (false once stopped).
    pub fn is_running(&self) -> bool {
        self.handle.is_some() && self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// The clients connected now.
    pub fn client_count(&self) -> usize {
        self.handle.as_ref().map_or(0, |h| h.client_count())
    }

    /// The counts so far.
    pub fn statistics(&self) -> Vec<BufferServeStatistics> {
        self.names
            .iter()
            .zip(self.counters.iter())
            .map(|(name, c)| BufferServeStatistics {
                name: name.clone(),
                // ORDERING: statistics counters, no partner.
                streamed: c.streamed.load(Ordering::Relaxed),
                dropped: c.dropped.load(Ordering::Relaxed),
            })
            .collect()
    }

    /// Stops the streaming thread (joined), closes the connections and
    /// the listening socket (waits for them), and returns the counts.
    /// Calling it again returns the counts. Like [`ServerBuilder::start`],
    /// it blocks on the `foxglove` crate's tokio runtime: call it outside
    /// an async context (or in `spawn_blocking`).
    pub fn stop(&mut self) -> Result<Vec<BufferServeStatistics>, ServeError> {
        self.stop.store(true, Ordering::SeqCst);
        let mut panicked = false;
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            panicked = thread.join().is_err();
        }
        if let Some(handle) = self.handle.take() {
            handle.stop().wait_blocking();
        }
        if panicked {
            return Err(ServeError::Invalid("the streaming thread panicked".into()));
        }
        Ok(self.statistics())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}
