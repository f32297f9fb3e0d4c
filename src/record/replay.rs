//! Reading a recording back and publishing it again.

use super::json::{self, Value};
use super::{mcap_err, RecordError, LAYOUT_KEY, MESSAGE_ENCODING};
use crate::layout::{Layout, PodLayout};
use crate::shm::{CreateOptions, RawBuffer};
use crate::{SlotRing, Source};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A buffer's channel in a recording.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedChannel {
    /// The buffer's name (the topic).
    pub name: String,
    /// Its state's layout.
    pub layout: Layout,
    /// Its history capacity when recorded.
    pub capacity: usize,
}

/// One recorded publish.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedState {
    /// The buffer's name.
    pub channel: String,
    /// The version it had.
    pub version: u64,
    /// Its sequence number (the version for in-process buffers).
    pub seq: u64,
    /// The publisher's name.
    pub source: String,
    /// The state's time, wall-clock seconds.
    pub timestamp: f64,
    /// The publish's wall-clock time, seconds.
    pub published_at: f64,
    /// The MCAP log time, nanoseconds.
    pub log_time: u64,
    /// The state's bytes, in the channel's layout.
    pub bytes: Vec<u8>,
}

/// A recording read into memory: its buffers' channels and their
/// publishes in log-time order (Foxglove channels are skipped).
#[derive(Clone, Debug)]
pub struct Recording {
    path: PathBuf,
    channels: Vec<RecordedChannel>,
    states: Vec<RecordedState>,
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn invalid(path: &Path, what: String) -> RecordError {
    RecordError::Invalid(format!("{}: {what}", path.display()))
}

impl Recording {
    /// Reads and decodes `path`. Errors: unreadable, truncated or not
    /// MCAP ([`RecordError::Io`], [`RecordError::Mcap`]); no rtstate
    /// channel in it, or a message that does not decode by its channel's
    /// layout ([`RecordError::Invalid`]).
    pub fn open(path: impl AsRef<Path>) -> Result<Recording, RecordError> {
        let path = path.as_ref();
        let data = std::fs::read(path).map_err(super::io_err(path))?;
        // The summary and footer must be there: a file cut short is refused
        // rather than replayed in part.
        mcap::read::footer(&data).map_err(mcap_err(path))?;
        let mut channels: BTreeMap<u16, Option<RecordedChannel>> = BTreeMap::new();
        let mut states = Vec::new();
        for message in mcap::MessageStream::new(&data).map_err(mcap_err(path))? {
            let message = message.map_err(mcap_err(path))?;
            let ch = &message.channel;
            let entry = channels.entry(ch.id).or_insert_with(|| {
                let layout = ch
                    .metadata
                    .get(LAYOUT_KEY)
                    .and_then(|h| unhex(h))
                    .and_then(|b| Layout::decode(&b).ok())?;
                Some(RecordedChannel {
                    name: ch.topic.clone(),
                    layout,
                    capacity: ch
                        .metadata
                        .get("rtstate.capacity")
                        .and_then(|c| c.parse().ok())
                        .unwrap_or(crate::DEFAULT_SLOTS),
                })
            });
            let Some(channel) = entry else {
                continue;
            };
            if ch.message_encoding != MESSAGE_ENCODING {
                return Err(invalid(
                    path,
                    format!("channel {:?}: encoding {:?}", ch.topic, ch.message_encoding),
                ));
            }
            let bad = |what: &str| {
                invalid(
                    path,
                    format!(
                        "channel {:?}, message {}: {what}",
                        ch.topic, message.sequence
                    ),
                )
            };
            let value = json::parse(&message.data).map_err(|e| bad(&e))?;
            let number = |key: &str| {
                value
                    .get(key)
                    .and_then(Value::as_f64)
                    .ok_or_else(|| bad(&format!("no {key:?}")))
            };
            let state = value.get("state").ok_or_else(|| bad("no \"state\""))?;
            let bytes = json::state_bytes(&channel.layout, state).map_err(|e| bad(&e))?;
            states.push(RecordedState {
                channel: channel.name.clone(),
                version: value
                    .get("version")
                    .and_then(Value::as_u64)
                    .ok_or_else(|| bad("no \"version\""))?,
                seq: value.get("seq").and_then(Value::as_u64).unwrap_or(0),
                source: value
                    .get("source")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
                timestamp: number("timestamp")?,
                published_at: number("publish_time")?,
                log_time: message.log_time,
                bytes,
            });
        }
        let channels: Vec<RecordedChannel> = channels.into_values().flatten().collect();
        if channels.is_empty() {
            return Err(invalid(
                path,
                "no rtstate channel (a recording made by another tool?)".into(),
            ));
        }
        states.sort_by_key(|s| s.log_time);
        Ok(Recording {
            path: path.to_owned(),
            channels,
            states,
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The buffers' channels (those with at least one message).
    pub fn channels(&self) -> &[RecordedChannel] {
        &self.channels
    }

    /// The channel of buffer `name`; an unknown name is an error listing
    /// the recorded ones.
    pub fn channel(&self, name: &str) -> Result<&RecordedChannel, RecordError> {
        self.channels
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| {
                let names: Vec<&str> = self.channels.iter().map(|c| c.name.as_str()).collect();
                RecordError::Invalid(format!(
                    "{}: no channel {name:?} (recorded: {})",
                    self.path.display(),
                    names.join(", ")
                ))
            })
    }

    /// Every recorded publish, in log-time order.
    pub fn states(&self) -> &[RecordedState] {
        &self.states
    }
}

/// What a replay did.
#[derive(Clone, Debug, PartialEq)]
pub struct ReplayStatistics {
    /// Publishes made.
    pub published: u64,
    /// Wall-clock time the replay took.
    pub elapsed: Duration,
}

/// The pace of a replay.
fn pace(rate: Option<f64>) -> Result<Option<f64>, RecordError> {
    match rate {
        Some(r) if !(r.is_finite() && r > 0.0) => Err(RecordError::Invalid(format!(
            "rate: {r} is not a positive number"
        ))),
        r => Ok(r),
    }
}

fn wait_for(start: Instant, first: f64, at: f64, rate: Option<f64>) {
    if let Some(rate) = rate {
        let offset = ((at - first) / rate).max(0.0);
        let due = start + Duration::from_secs_f64(offset);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
    }
}

/// Publishes the recording's states into shared buffers of the same names
/// (in `dir`, or the default directory), created with the recorded layout
/// and capacity where missing. `only` (if not empty) picks the buffers.
/// `rate`: `Some(x)` keeps the recorded timing scaled by `x` (2.0: twice as
/// fast); `None` publishes as fast as possible. States are published
/// bit for bit with their recorded sources; versions follow the target
/// buffer's. Errors: an unknown name in `only`, a target buffer of another
/// layout (both layouts shown), a buffer another process writes.
pub fn replay_shared(
    recording: &Recording,
    dir: Option<&Path>,
    only: &[String],
    rate: Option<f64>,
) -> Result<ReplayStatistics, RecordError> {
    let rate = pace(rate)?;
    for name in only {
        recording.channel(name)?;
    }
    let mut targets = BTreeMap::new();
    for c in recording.channels() {
        if !only.is_empty() && !only.contains(&c.name) {
            continue;
        }
        let dir = dir.map_or_else(crate::shm::name::shm_dir, Path::to_owned);
        let buffer = RawBuffer::create_in(
            &dir,
            &c.name,
            &c.layout,
            c.capacity,
            CreateOptions::default(),
        )?;
        buffer.take_writer()?;
        targets.insert(c.name.clone(), buffer);
    }
    let start = Instant::now();
    let first = recording.states().first().map_or(0.0, |s| s.published_at);
    let mut published = 0;
    for s in recording.states() {
        let Some(buffer) = targets.get(&s.channel) else {
            continue;
        };
        wait_for(start, first, s.published_at, rate);
        let timestamp = s.timestamp.is_finite().then_some(s.timestamp);
        buffer.publish(&s.bytes, timestamp, &s.source)?;
        published += 1;
    }
    Ok(ReplayStatistics {
        published,
        elapsed: start.elapsed(),
    })
}

/// Publishes the states of channel `name` into an in-process slot ring
/// (with their recorded sources); `rate` as for [`replay_shared`].
/// Errors: an unknown channel, a layout other than `T`'s (both shown), a
/// state `T` refuses.
pub fn replay_into<T>(
    recording: &Recording,
    name: &str,
    ring: &SlotRing<T>,
    rate: Option<f64>,
) -> Result<ReplayStatistics, RecordError>
where
    T: PodLayout + crate::State + Send + Sync + 'static,
{
    let rate = pace(rate)?;
    let channel = recording.channel(name)?;
    let layout = T::layout();
    if channel.layout != layout {
        return Err(RecordError::Invalid(format!(
            "channel {name:?} has the layout\n{}\nthe target buffer\n{layout}",
            channel.layout
        )));
    }
    let start = Instant::now();
    let states: Vec<&RecordedState> = recording
        .states()
        .iter()
        .filter(|s| s.channel == name)
        .collect();
    let first = states.first().map_or(0.0, |s| s.published_at);
    let mut published = 0;
    for s in states {
        wait_for(start, first, s.published_at, rate);
        let state: T = bytemuck::pod_read_unaligned(&s.bytes);
        let source = Source::try_intern(&s.source)?;
        ring.publish(state, source)
            .map_err(|e| RecordError::Buffer(e.error))?;
        published += 1;
    }
    Ok(ReplayStatistics {
        published,
        elapsed: start.elapsed(),
    })
}

/// Publishes the channels named in `rings` into those in-process slot
/// rings, interleaved in log-time order (with their recorded sources);
/// `rate` as for [`replay_shared`]. Errors: a name that is not a recorded
/// channel, a channel whose layout is not `T`'s (both shown), a state `T`
/// refuses.
pub fn replay_into_rings<T>(
    recording: &Recording,
    rings: &[(String, SlotRing<T>)],
    rate: Option<f64>,
) -> Result<ReplayStatistics, RecordError>
where
    T: PodLayout + crate::State + Send + Sync + 'static,
{
    let rate = pace(rate)?;
    let layout = T::layout();
    for (name, _) in rings {
        let channel = recording.channel(name)?;
        if channel.layout != layout {
            return Err(RecordError::Invalid(format!(
                "channel {name:?} has the layout\n{}\nthe target buffer\n{layout}",
                channel.layout
            )));
        }
    }
    let start = Instant::now();
    let mut first = None;
    let mut published = 0;
    for s in recording.states() {
        let Some((_, ring)) = rings.iter().find(|(n, _)| *n == s.channel) else {
            continue;
        };
        let t0 = *first.get_or_insert(s.published_at);
        wait_for(start, t0, s.published_at, rate);
        let state: T = bytemuck::pod_read_unaligned(&s.bytes);
        let source = Source::try_intern(&s.source)?;
        ring.publish(state, source)
            .map_err(|e| RecordError::Buffer(e.error))?;
        published += 1;
    }
    Ok(ReplayStatistics {
        published,
        elapsed: start.elapsed(),
    })
}

/// Publishes every recorded channel whose name is a
/// `SlotRing<FastDroneState>` of `manager` into it ([`replay_into_rings`]).
/// Errors: none of the manager's buffers is a recorded drone-state
/// channel; a recorded name the manager holds as another type.
pub fn replay_into_manager(
    recording: &Recording,
    manager: &crate::StateManager,
    rate: Option<f64>,
) -> Result<ReplayStatistics, RecordError> {
    let names = manager.names();
    let mut rings = Vec::new();
    for c in recording.channels() {
        if !names.contains(&c.name) {
            continue;
        }
        let ring = manager.get::<SlotRing<crate::FastDroneState>>(&c.name)?;
        rings.push((c.name.clone(), ring));
    }
    if rings.is_empty() {
        let recorded: Vec<&str> = recording
            .channels()
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        return Err(RecordError::Invalid(format!(
            "{}: no buffer of the manager is a recorded channel (recorded: {})",
            recording.path().display(),
            recorded.join(", ")
        )));
    }
    replay_into_rings(recording, &rings, rate)
}
