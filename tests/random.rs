//! Property tests: random sequences of operations on both buffer kinds agree
//! with a simple reference model (a `Mutex<VecDeque>` of the last
//! `capacity` states and a few counters), on a mock clock so that every
//! staleness decision is deterministic. And a checked buffer of
//! `FastDroneState` refuses a NaN or an infinity in any field with the exact
//! error, leaving the buffer unchanged.
#![cfg(not(loom))]

use proptest::prelude::*;
use rtstate::{
    Buffer, Clock, Error, FastDroneState, MockClock, SlotRing, Snapshot, Source, StateBuffer,
    Version,
};
use std::borrow::Borrow;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

/// What a test compares of one snapshot: version, value, timestamp,
/// monotonic publish time.
type Obs = (Version, u64, f64, u64);

/// A buffer under test, holding states that encode one `u64`, built on a
/// mock clock (so states carry no timestamp of their own).
trait Subject: Buffer {
    const NAME: &'static str;
    fn make(capacity: usize, clock: Clock) -> Self;
    fn value(state: &Self::State) -> u64;
    fn publish_value(&self, x: u64) -> Version;
    fn history_obs(&self) -> Vec<Obs>;
    fn latest_fresh_obs(&self, max_age: Duration) -> Option<Obs>;
    fn state_at_obs(&self, time: f64, max_age: Duration) -> Option<Obs>;
    fn reset_buffer(&self);
}

fn obs<T, B: Subject<State = T>>(item: &B::Item) -> Obs {
    let s: &Snapshot<T> = item.borrow();
    (s.version, B::value(&s.state), s.timestamp, s.published_ns)
}

fn snap_obs<T>(s: &Snapshot<T>, value: impl Fn(&T) -> u64) -> Obs {
    (s.version, value(&s.state), s.timestamp, s.published_ns)
}

impl Subject for SlotRing<[u64; 2]> {
    const NAME: &'static str = "SlotRing";
    fn make(capacity: usize, clock: Clock) -> Self {
        SlotRing::with_clock(capacity, clock).unwrap()
    }
    fn value(state: &[u64; 2]) -> u64 {
        assert_eq!(state[1], !state[0], "torn or corrupted state");
        state[0]
    }
    fn publish_value(&self, x: u64) -> Version {
        self.publish([x, !x], Source::UNKNOWN).unwrap()
    }
    fn history_obs(&self) -> Vec<Obs> {
        self.history()
            .iter()
            .map(|s| snap_obs(s, Self::value))
            .collect()
    }
    fn latest_fresh_obs(&self, max_age: Duration) -> Option<Obs> {
        self.latest_fresh(max_age)
            .map(|s| snap_obs(&s, Self::value))
    }
    fn state_at_obs(&self, time: f64, max_age: Duration) -> Option<Obs> {
        self.state_at(time, max_age)
            .map(|s| snap_obs(&s, Self::value))
    }
    fn reset_buffer(&self) {
        self.reset();
    }
}

impl Subject for StateBuffer<String> {
    const NAME: &'static str = "StateBuffer";
    fn make(capacity: usize, clock: Clock) -> Self {
        StateBuffer::with_clock(capacity, clock).unwrap()
    }
    fn value(state: &String) -> u64 {
        state.parse().expect("a state this test published")
    }
    fn publish_value(&self, x: u64) -> Version {
        self.publish(x.to_string(), Source::UNKNOWN).unwrap()
    }
    fn history_obs(&self) -> Vec<Obs> {
        self.history()
            .iter()
            .map(|s| snap_obs(s, Self::value))
            .collect()
    }
    fn latest_fresh_obs(&self, max_age: Duration) -> Option<Obs> {
        self.latest_fresh(max_age)
            .map(|s| snap_obs(&s, Self::value))
    }
    fn state_at_obs(&self, time: f64, max_age: Duration) -> Option<Obs> {
        self.state_at(time, max_age)
            .map(|s| snap_obs(&s, Self::value))
    }
    fn reset_buffer(&self) {
        self.reset();
    }
}

// ---------------------------------------------------------------------------
// The reference model.

#[derive(Clone, Copy, Debug, Default)]
struct ModelReader {
    /// Last version read in the current epoch (0: none).
    last: Version,
    /// The version when the reader was created (0 after a reset).
    baseline: Version,
    reads: u64,
    lost: u64,
}

struct Model {
    capacity: usize,
    origin: f64,
    now_ns: u64,
    version: Version,
    history: Mutex<VecDeque<Obs>>,
    reads: u64,
    stale_reads: u64,
    readers: Vec<ModelReader>,
    retired_reads: u64,
    retired_lost: u64,
}

impl Model {
    fn new(capacity: usize, origin: f64, readers: usize) -> Self {
        Model {
            capacity,
            origin,
            now_ns: 0,
            version: 0,
            history: Mutex::new(VecDeque::new()),
            reads: 0,
            stale_reads: 0,
            readers: vec![ModelReader::default(); readers],
            retired_reads: 0,
            retired_lost: 0,
        }
    }

    /// Wall-clock seconds at monotonic `ns` (the clock's documented mapping).
    fn wall_at(&self, ns: u64) -> f64 {
        self.origin + ns as f64 * 1e-9
    }

    fn history(&self) -> Vec<Obs> {
        self.history.lock().unwrap().iter().copied().collect()
    }

    fn newest(&self) -> Option<Obs> {
        self.history.lock().unwrap().back().copied()
    }

    fn publish(&mut self, x: u64) -> Version {
        self.version += 1;
        let ts = self.wall_at(self.now_ns);
        let mut h = self.history.lock().unwrap();
        h.push_back((self.version, x, ts, self.now_ns));
        while h.len() > self.capacity {
            h.pop_front();
        }
        self.version
    }

    fn latest(&mut self) -> Option<Obs> {
        let s = self.newest()?;
        self.reads += 1;
        Some(s)
    }

    fn latest_fresh(&mut self, max_age: Duration) -> Option<Obs> {
        let s = self.newest()?;
        if self.wall_at(self.now_ns) - s.2 <= max_age.as_secs_f64() {
            self.reads += 1;
            Some(s)
        } else {
            self.stale_reads += 1;
            None
        }
    }

    fn state_at(&mut self, time: f64, max_age: Duration) -> Option<Obs> {
        let mut best: Option<Obs> = None;
        for s in self.history() {
            // The first (oldest) of equally near snapshots wins.
            if best.is_none_or(|b| (s.2 - time).abs() < (b.2 - time).abs()) {
                best = Some(s);
            }
        }
        let best = best?;
        if (best.2 - time).abs() <= max_age.as_secs_f64() {
            self.reads += 1;
            Some(best)
        } else {
            self.stale_reads += 1;
            None
        }
    }

    fn updated(&self, r: usize) -> bool {
        self.version != 0 && self.version != self.readers[r].last
    }

    fn reader_read(&mut self, r: usize) -> Option<Obs> {
        let s = self.newest()?;
        let reader = &mut self.readers[r];
        reader.reads += 1;
        let seen = reader.last.max(reader.baseline);
        if s.0 > seen + 1 {
            reader.lost += s.0 - seen - 1;
        }
        reader.last = s.0;
        Some(s)
    }

    fn reader_read_if_updated(&mut self, r: usize) -> Option<Obs> {
        if self.updated(r) {
            self.reader_read(r)
        } else {
            None
        }
    }

    fn replace_reader(&mut self, r: usize) {
        self.retired_reads += self.readers[r].reads;
        self.retired_lost += self.readers[r].lost;
        self.readers[r] = ModelReader {
            baseline: self.version,
            ..ModelReader::default()
        };
    }

    /// A reset forgets states, the version and every counter. Each reader
    /// starts afresh: everything published after the reset is new to it.
    fn reset(&mut self) {
        self.version = 0;
        self.history.lock().unwrap().clear();
        self.reads = 0;
        self.stale_reads = 0;
        self.retired_reads = 0;
        self.retired_lost = 0;
        for r in &mut self.readers {
            *r = ModelReader::default();
        }
    }
}

// ---------------------------------------------------------------------------
// Operations.

#[derive(Clone, Debug)]
enum Op {
    Publish(u64),
    Latest,
    Peek,
    History,
    LatestFresh {
        max_age_us: u64,
    },
    /// `state_at` at a time near a held snapshot (`anchor` picks one, by
    /// position from the oldest) or near the clock's origin.
    StateAt {
        anchor: Option<usize>,
        offset_us: i64,
        max_age_us: u64,
    },
    ReaderRead(usize),
    ReaderReadIfUpdated(usize),
    /// Drops reader `i` (its counts stay in the statistics) and makes a new
    /// one.
    ReplaceReader(usize),
    Advance {
        us: u64,
    },
    Reset,
}

const READERS: usize = 2;

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => any::<u64>().prop_map(Op::Publish),
        2 => Just(Op::Latest),
        1 => Just(Op::Peek),
        1 => Just(Op::History),
        2 => (0u64..300_000).prop_map(|max_age_us| Op::LatestFresh { max_age_us }),
        2 => (proptest::option::of(0usize..8), -50_000i64..50_000, 0u64..30_000)
            .prop_map(|(anchor, offset_us, max_age_us)| Op::StateAt { anchor, offset_us, max_age_us }),
        2 => (0..READERS).prop_map(Op::ReaderRead),
        2 => (0..READERS).prop_map(Op::ReaderReadIfUpdated),
        1 => (0..READERS).prop_map(Op::ReplaceReader),
        3 => prop_oneof![Just(0u64), 0u64..100_000].prop_map(|us| Op::Advance { us }),
        1 => Just(Op::Reset),
    ]
}

/// Whether `Reset` keeps the reader handles (true) or replaces them with new
/// ones (false, which stays clear of the reader/reset defect reported with
/// `readers_keep_their_cursors_across_resets`).
fn run<B: Subject>(
    capacity: usize,
    origin: f64,
    ops: &[Op],
    readers_survive_reset: bool,
) -> Result<(), TestCaseError> {
    let mock = MockClock::new(origin);
    let buffer = B::make(capacity, mock.clock());
    let mut readers: Vec<_> = (0..READERS).map(|_| buffer.reader()).collect();
    let mut model = Model::new(capacity, origin, READERS);
    let name = B::NAME;
    for (step, op) in ops.iter().enumerate() {
        let ctx = format!("{name}, step {step}: {op:?}");
        match *op {
            Op::Publish(x) => {
                prop_assert_eq!(buffer.publish_value(x), model.publish(x), "{}", ctx);
            }
            Op::Latest => {
                let got = buffer.latest().map(|i| obs::<_, B>(&i));
                prop_assert_eq!(got, model.latest(), "{}", ctx);
            }
            Op::Peek => {
                let got = buffer.peek().map(|i| obs::<_, B>(&i));
                prop_assert_eq!(got, model.newest(), "{}", ctx);
            }
            Op::History => {
                prop_assert_eq!(buffer.history_obs(), model.history(), "{}", ctx);
            }
            Op::LatestFresh { max_age_us } => {
                let d = Duration::from_micros(max_age_us);
                prop_assert_eq!(buffer.latest_fresh_obs(d), model.latest_fresh(d), "{}", ctx);
            }
            Op::StateAt {
                anchor,
                offset_us,
                max_age_us,
            } => {
                let history = model.history();
                let base = match anchor {
                    Some(i) if !history.is_empty() => history[i % history.len()].2,
                    _ => origin,
                };
                let time = base + offset_us as f64 * 1e-6;
                let d = Duration::from_micros(max_age_us);
                prop_assert_eq!(
                    buffer.state_at_obs(time, d),
                    model.state_at(time, d),
                    "{}",
                    ctx
                );
            }
            Op::ReaderRead(r) => {
                let got = readers[r].read().map(|i| obs::<_, B>(&i));
                prop_assert_eq!(got, model.reader_read(r), "{}", ctx);
            }
            Op::ReaderReadIfUpdated(r) => {
                let got = readers[r].read_if_updated().map(|i| obs::<_, B>(&i));
                prop_assert_eq!(got, model.reader_read_if_updated(r), "{}", ctx);
            }
            Op::ReplaceReader(r) => {
                readers[r] = buffer.reader();
                model.replace_reader(r);
            }
            Op::Advance { us } => {
                mock.advance(Duration::from_micros(us));
                model.now_ns += us * 1000;
            }
            Op::Reset => {
                buffer.reset_buffer();
                model.reset();
                if !readers_survive_reset {
                    // New handles, with no counts (the old ones were zeroed
                    // by the reset, so dropping them retires nothing).
                    for reader in readers.iter_mut() {
                        *reader = buffer.reader();
                    }
                }
            }
        }
        // After every step: version, readers, statistics.
        prop_assert_eq!(buffer.version(), model.version, "{}: version", ctx);
        for (r, reader) in readers.iter().enumerate() {
            prop_assert_eq!(
                reader.updated(),
                model.updated(r),
                "{}: reader {} updated",
                ctx,
                r
            );
            prop_assert_eq!(
                reader.reads(),
                model.readers[r].reads,
                "{}: reader {} reads",
                ctx,
                r
            );
            prop_assert_eq!(
                reader.lost(),
                model.readers[r].lost,
                "{}: reader {} lost",
                ctx,
                r
            );
        }
        let stats = buffer.statistics();
        let reader_reads: u64 = model.readers.iter().map(|r| r.reads).sum();
        let reader_lost: u64 = model.readers.iter().map(|r| r.lost).sum();
        prop_assert_eq!(stats.updates, model.version, "{}: updates", ctx);
        prop_assert_eq!(
            stats.current_version,
            model.version,
            "{}: current_version",
            ctx
        );
        prop_assert_eq!(
            stats.reads,
            model.reads + reader_reads + model.retired_reads,
            "{}: reads",
            ctx
        );
        prop_assert_eq!(stats.stale_reads, model.stale_reads, "{}: stale_reads", ctx);
        prop_assert_eq!(
            stats.lost,
            reader_lost + model.retired_lost,
            "{}: lost",
            ctx
        );
        prop_assert_eq!(stats.readers, READERS, "{}: readers", ctx);
        prop_assert_eq!(
            stats.history_len,
            model.history().len(),
            "{}: history_len",
            ctx
        );
        prop_assert_eq!(stats.capacity, capacity, "{}: capacity", ctx);
        let newest = model.newest();
        let now = model.wall_at(model.now_ns);
        prop_assert_eq!(
            stats.latest_age,
            newest.map(|s| Duration::try_from_secs_f64((now - s.2).max(0.0)).unwrap()),
            "{}: latest_age",
            ctx
        );
        prop_assert_eq!(
            stats.last_update_time,
            newest.map(|s| s.2),
            "{}: last_update_time",
            ctx
        );
    }
    Ok(())
}

fn origin() -> impl Strategy<Value = f64> {
    prop_oneof![Just(0.0), Just(1_700_000_000.0), 0.0..2e9]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn slot_ring_agrees_with_the_model(
        capacity in 1usize..10,
        origin in origin(),
        ops in proptest::collection::vec(op(), 1..80),
    ) {
        run::<SlotRing<[u64; 2]>>(capacity, origin, &ops, false)?;
    }

    #[test]
    fn state_buffer_agrees_with_the_model(
        capacity in 1usize..10,
        origin in origin(),
        ops in proptest::collection::vec(op(), 1..80),
    ) {
        run::<StateBuffer<String>>(capacity, origin, &ops, false)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Reader handles kept across resets must treat everything published
    /// after the reset as new (`updated`, `read_if_updated`, `lost`).
    #[test]
    fn readers_keep_their_cursors_across_resets(
        capacity in 1usize..10,
        ops in proptest::collection::vec(op(), 1..80),
    ) {
        run::<SlotRing<[u64; 2]>>(capacity, 0.0, &ops, true)?;
        run::<StateBuffer<String>>(capacity, 0.0, &ops, true)?;
    }
}

// ---------------------------------------------------------------------------
// Checked buffers of FastDroneState refuse non-finite values.

/// The field holding word `i` of a `FastDroneState`.
fn field_of(word: usize) -> &'static str {
    match word {
        0 => "timestamp",
        1..=3 => "position",
        4..=6 => "velocity",
        7..=9 => "attitude",
        _ => "angular_velocity",
    }
}

fn finite_state() -> impl Strategy<Value = FastDroneState> {
    proptest::array::uniform13(-1e6f64..1e6).prop_map(bytemuck::cast)
}

fn non_finite() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(-f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY)
    ]
}

fn bits(s: &FastDroneState) -> [u64; 13] {
    bytemuck::cast(*s)
}

proptest! {
    #[test]
    fn checked_buffers_refuse_non_finite_fields(
        before in proptest::collection::vec(finite_state(), 0..4),
        good in finite_state(),
        word in 0usize..13,
        bad in non_finite(),
    ) {
        let mut words: [f64; 13] = bytemuck::cast(good);
        words[word] = bad;
        let state: FastDroneState = bytemuck::cast(words);
        let expected = Error::NonFinite { field: field_of(word) };

        let ring = SlotRing::<FastDroneState>::checked_with_clock(3, MockClock::new(0.0).clock()).unwrap();
        for s in &before {
            ring.publish(*s, Source::UNKNOWN).unwrap();
        }
        let history: Vec<_> = ring.history().iter().map(|s| (s.version, bits(&s.state))).collect();
        let err = ring.publish(state, Source::UNKNOWN).unwrap_err();
        prop_assert_eq!(&err.error, &expected);
        prop_assert_eq!(bits(&err.state), bits(&state), "the state comes back bit for bit");
        prop_assert_eq!(ring.version(), before.len() as u64);
        prop_assert_eq!(ring.peek().map(|s| bits(&s.state)), before.last().map(bits));
        let after: Vec<_> = ring.history().iter().map(|s| (s.version, bits(&s.state))).collect();
        prop_assert_eq!(after, history);
        prop_assert_eq!(ring.statistics().updates, before.len() as u64);
        prop_assert_eq!(ring.publish(good, Source::UNKNOWN).unwrap(), before.len() as u64 + 1);

        let buffer = StateBuffer::<FastDroneState>::checked_with_clock(3, MockClock::new(0.0).clock()).unwrap();
        for s in &before {
            buffer.publish(*s, Source::UNKNOWN).unwrap();
        }
        let history: Vec<_> = buffer.history().iter().map(|s| (s.version, bits(&s.state))).collect();
        let err = buffer.publish(state, Source::UNKNOWN).unwrap_err();
        prop_assert_eq!(&err.error, &expected);
        prop_assert_eq!(bits(&err.state), bits(&state));
        prop_assert_eq!(buffer.version(), before.len() as u64);
        prop_assert_eq!(buffer.peek().map(|s| bits(&s.state)), before.last().map(bits));
        let after: Vec<_> = buffer.history().iter().map(|s| (s.version, bits(&s.state))).collect();
        prop_assert_eq!(after, history);
        prop_assert_eq!(buffer.statistics().updates, before.len() as u64);
        prop_assert_eq!(buffer.publish(good, Source::UNKNOWN).unwrap(), before.len() as u64 + 1);
    }
}
