//! MCAP recording and replay (feature `record`): every publish of several
//! buffers, in-process and shared, read back with the crate's reader and
//! the `mcap` crate; drops when the recorder is starved; replay bit for
//! bit and at a rate; bad files.
#![cfg(feature = "record")]

use rtstate::record::replay::{replay_into, replay_shared};
use rtstate::record::{Recorder, RecorderOptions, Recording};
use rtstate::shm::{CreateOptions, RawBuffer, SharedRing};
use rtstate::{DroneState, FastDroneState, SlotRing, Source, StateBuffer, StateManager};
use std::time::{Duration, Instant};

#[path = "common/tempdir.rs"]
mod tempdir;
use tempdir::TempDir;

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
struct Wheel {
    timestamp: f64,
    speed: [f32; 4],
    ticks: u64,
    id: i32,
    flags: u32,
}
rtstate::layout!(Wheel {
    timestamp: f64,
    speed: [f32; 4],
    ticks: u64,
    id: i32,
    flags: u32
});
impl rtstate::State for Wheel {
    fn timestamp(&self) -> Option<f64> {
        Some(self.timestamp)
    }
}

fn drone(i: usize) -> FastDroneState {
    let t = 1.7e9 + i as f64 * 1e-3;
    let x = i as f64 * 0.1;
    FastDroneState::new(
        t,
        [x, -x, 1.0 / (i as f64 + 3.0)],
        [0.1; 3],
        [0.0, 0.0, x],
        [1e-9; 3],
    )
    .unwrap()
}

fn wheel(i: usize) -> Wheel {
    Wheel {
        timestamp: 1.7e9 + i as f64,
        speed: [i as f32 / 3.0, -0.0, f32::MAX, 1e-40],
        ticks: u64::MAX - i as u64,
        id: -(i as i32),
        flags: 0xdead_beef,
    }
}

const N: usize = 200;

#[test]
fn in_process_buffers_are_recorded_whole_and_in_order() {
    let dir = TempDir::new("record", "inproc");
    let path = dir.path().join("run.mcap");
    let manager = StateManager::new();
    let a = SlotRing::<FastDroneState>::new(8).unwrap();
    let b = SlotRing::<FastDroneState>::new(8).unwrap();
    manager.register("drone/a", a.clone()).unwrap();
    manager.register("drone/b", b.clone()).unwrap();
    manager
        .register("other", StateBuffer::<u32>::new(4).unwrap())
        .unwrap();
    let wheels = SlotRing::<Wheel>::new(4).unwrap();
    let builder = Recorder::builder(&path).manager(&manager).unwrap();
    assert_eq!(builder.skipped(), ["other".to_owned()]);
    let mut recorder = builder.buffer("wheels", &wheels).unwrap().start().unwrap();
    for i in 0..N {
        a.publish(drone(i), Source::intern("est-a")).unwrap();
        b.publish(drone(i + 1), Source::intern("est-b")).unwrap();
        wheels.publish(wheel(i), Source::intern("odo")).unwrap();
        if i % 50 == 0 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let stats = recorder.stop().unwrap();
    assert_eq!(stats.dropped(), 0, "{stats:?}");
    assert_eq!(stats.recorded(), 3 * N as u64);
    assert!(path.exists());
    assert!(!dir.path().join("run.mcap.partial").exists());

    let rec = Recording::open(&path).unwrap();
    let mut names: Vec<&str> = rec.channels().iter().map(|c| c.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["drone/a", "drone/b", "wheels"]);
    type Make = Box<dyn Fn(usize) -> Vec<u8>>;
    let expected: [(&str, &str, Make); 3] = [
        (
            "drone/a",
            "est-a",
            Box::new(|i| bytemuck::bytes_of(&drone(i)).to_vec()),
        ),
        (
            "drone/b",
            "est-b",
            Box::new(|i| bytemuck::bytes_of(&drone(i + 1)).to_vec()),
        ),
        (
            "wheels",
            "odo",
            Box::new(|i| bytemuck::bytes_of(&wheel(i)).to_vec()),
        ),
    ];
    for (name, source, make) in expected {
        let states: Vec<_> = rec.states().iter().filter(|s| s.channel == name).collect();
        assert_eq!(states.len(), N, "{name}");
        for (i, s) in states.iter().enumerate() {
            assert_eq!(s.version, i as u64 + 1, "{name}");
            assert_eq!(s.source, source);
            assert_eq!(s.bytes, make(i), "{name} #{i}");
            assert_eq!(s.log_time, (s.published_at * 1e9).round() as u64);
        }
        assert!(states
            .windows(2)
            .all(|w| w[0].published_at <= w[1].published_at));
    }

    // The mcap crate's own reader: the Foxglove channels and the counts.
    let data = std::fs::read(&path).unwrap();
    let mut per_topic = std::collections::BTreeMap::<String, usize>::new();
    for m in mcap::MessageStream::new(&data).unwrap() {
        let m = m.unwrap();
        *per_topic.entry(m.channel.topic.clone()).or_default() += 1;
        if m.channel.topic.ends_with("/tf") {
            let schema = m.channel.schema.as_ref().unwrap();
            assert_eq!(schema.name, "foxglove.FrameTransform");
            assert_eq!(schema.encoding, "jsonschema");
            let text = std::str::from_utf8(&m.data).unwrap();
            assert!(text.contains("\"parent_frame_id\":\"world\""), "{text}");
            assert!(text.contains("\"child_frame_id\":\"base_link\""), "{text}");
        }
    }
    for topic in [
        "drone/a",
        "drone/a/tf",
        "drone/a/pose",
        "drone/b/tf",
        "wheels",
    ] {
        assert_eq!(per_topic.get(topic), Some(&N), "{topic}: {per_topic:?}");
    }
    assert!(!per_topic.contains_key("wheels/tf"));
    let summary = mcap::Summary::read(&data).unwrap().unwrap();
    assert_eq!(
        summary.stats.unwrap().message_count,
        3 * N as u64 + 2 * 2 * N as u64
    );
}

#[test]
fn shared_buffers_are_recorded_by_name_and_replayed_bit_for_bit() {
    let dir = TempDir::new("record", "shared");
    let path = dir.path().join("run.mcap");
    let options = CreateOptions::default();
    let fast = SharedRing::<FastDroneState>::create_in(dir.path(), "d/fast", 64, options).unwrap();
    let wheels = SharedRing::<Wheel>::create_in(dir.path(), "d/wheels", 64, options).unwrap();
    fast.publish(drone(999), Source::intern("before")).unwrap();
    let mut recorder = Recorder::builder(&path)
        .shared("d/fast", Some(dir.path()))
        .unwrap()
        .shared("d/wheels", Some(dir.path()))
        .unwrap()
        .start()
        .unwrap();
    for i in 0..N {
        fast.publish(drone(i), Source::intern("est")).unwrap();
        wheels.publish(wheel(i), Source::intern("odo")).unwrap();
        if i % 16 == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let stats = recorder.stop().unwrap();
    assert_eq!(stats.dropped(), 0, "{stats:?}");
    assert_eq!(
        stats.recorded(),
        2 * N as u64,
        "the state before the start is not recorded"
    );
    let rec = Recording::open(&path).unwrap();
    let fast_states: Vec<_> = rec
        .states()
        .iter()
        .filter(|s| s.channel == "d/fast")
        .collect();
    assert_eq!(fast_states.len(), N);
    assert_eq!(fast_states[0].version, 2);

    // Replay as fast as possible into a fresh directory: same bytes, same
    // sources, versions in order.
    let out = TempDir::new("record", "replay");
    let r = replay_shared(&rec, Some(out.path()), &[], None).unwrap();
    assert_eq!(r.published, 2 * N as u64);
    let replayed = RawBuffer::open_in(out.path(), "d/wheels").unwrap();
    let history = replayed.history();
    assert_eq!(replayed.version(), N as u64);
    for s in &history {
        let i = s.version as usize - 1;
        assert_eq!(
            s.bytes,
            bytemuck::bytes_of(&wheel(i)),
            "version {}",
            s.version
        );
        assert_eq!(s.source.as_deref(), Some("odo"));
    }
    assert!(history.windows(2).all(|w| w[1].version == w[0].version + 1));

    // Into a buffer of another layout: an error naming both.
    let other = TempDir::new("record", "mismatch");
    RawBuffer::create_in(other.path(), "d/fast", &Wheel::layout_of(), 4, options).unwrap();
    let e = replay_shared(&rec, Some(other.path()), &["d/fast".into()], None).unwrap_err();
    assert!(e.to_string().contains("layout"), "{e}");
    // An unknown channel.
    let e = replay_shared(&rec, Some(other.path()), &["nope".into()], None).unwrap_err();
    assert!(e.to_string().contains("no channel \"nope\""), "{e}");
}

trait LayoutOf {
    fn layout_of() -> rtstate::layout::Layout;
}
impl<T: rtstate::layout::PodLayout> LayoutOf for T {
    fn layout_of() -> rtstate::layout::Layout {
        T::layout()
    }
}

#[test]
fn replay_into_a_ring_is_bit_for_bit_and_keeps_the_timing_at_rate_one() {
    let dir = TempDir::new("record", "rate");
    let path = dir.path().join("run.mcap");
    let ring = SlotRing::<FastDroneState>::new(8).unwrap();
    let mut recorder = Recorder::builder(&path)
        .buffer("d", &ring)
        .unwrap()
        .start()
        .unwrap();
    let begun = Instant::now();
    for i in 0..20 {
        ring.publish(drone(i), Source::intern("est")).unwrap();
        std::thread::sleep(Duration::from_millis(10));
    }
    let recorded_span = begun.elapsed();
    recorder.stop().unwrap();
    let rec = Recording::open(&path).unwrap();
    let span = {
        let s = rec.states();
        s[s.len() - 1].published_at - s[0].published_at
    };
    assert!(
        span > 0.15 && span <= recorded_span.as_secs_f64() + 0.01,
        "{span}"
    );

    let target = SlotRing::<FastDroneState>::new(32).unwrap();
    let sub = target.subscribe(64, rtstate::Policy::DropNewest).unwrap();
    let r = replay_into(&rec, "d", &target, Some(1.0)).unwrap();
    assert_eq!(r.published, 20);
    // A floor only: the replay waited out the recorded gaps.
    assert!(
        r.elapsed.as_secs_f64() >= span * 0.95,
        "{:?} < {span}",
        r.elapsed
    );
    let got: Vec<_> = std::iter::from_fn(|| sub.try_recv().ok()).collect();
    assert_eq!(got.len(), 20);
    for (i, s) in got.iter().enumerate() {
        assert_eq!(s.version, i as u64 + 1);
        assert_eq!(bytemuck::bytes_of(&s.state), bytemuck::bytes_of(&drone(i)));
        assert_eq!(s.source.as_str(), "est");
    }
    // Twice as fast takes at least half the span; a bad rate is refused.
    let target2 = SlotRing::<FastDroneState>::new(32).unwrap();
    let r = replay_into(&rec, "d", &target2, Some(2.0)).unwrap();
    assert!(r.elapsed.as_secs_f64() >= span / 2.0 * 0.95);
    assert!(replay_into(&rec, "d", &target2, Some(0.0)).is_err());
    assert!(replay_into(&rec, "d", &target2, Some(f64::NAN)).is_err());
    // Another layout.
    let wheels = SlotRing::<Wheel>::new(4).unwrap();
    let e = replay_into(&rec, "d", &wheels, None).unwrap_err();
    assert!(e.to_string().contains("layout"), "{e}");
}

#[test]
fn drone_state_buffers_are_recorded_as_their_fast_twins() {
    let dir = TempDir::new("record", "drones");
    let path = dir.path().join("run.mcap");
    let manager = StateManager::new();
    let slow = StateBuffer::<DroneState>::new(4).unwrap();
    manager.register("drone/slow", slow.clone()).unwrap();
    // Through a map of one's own: odd versions refused, counted as dropped.
    let picky = StateBuffer::<DroneState>::new(4).unwrap();
    fn even_only(d: &DroneState) -> Option<FastDroneState> {
        (d.timestamp as u64)
            .is_multiple_of(2)
            .then(|| d.to_fast_state())
    }
    let builder = Recorder::builder(&path).manager(&manager).unwrap();
    assert!(builder.skipped().is_empty());
    let mut recorder = builder
        .buffer_as("picky", &picky, even_only)
        .unwrap()
        .start()
        .unwrap();
    let states: Vec<DroneState> = (0..40)
        .map(|i| {
            let f = drone(i);
            DroneState::from_si(
                i as f64,
                f.position,
                f.velocity,
                f.attitude,
                f.angular_velocity,
                vec![1000.0; 4],
            )
            .unwrap()
        })
        .collect();
    for s in &states {
        slow.publish(s.clone(), Source::intern("est")).unwrap();
        picky.publish(s.clone(), Source::intern("est")).unwrap();
    }
    let stats = recorder.stop().unwrap();
    let per: std::collections::BTreeMap<_, _> = stats
        .buffers
        .iter()
        .map(|b| (b.name.as_str(), (b.recorded, b.dropped)))
        .collect();
    assert_eq!(per["drone/slow"], (40, 0), "{stats:?}");
    assert_eq!(per["picky"], (20, 20), "{stats:?}");

    let rec = Recording::open(&path).unwrap();
    let got: Vec<_> = rec
        .states()
        .iter()
        .filter(|s| s.channel == "drone/slow")
        .collect();
    assert_eq!(got.len(), 40);
    for (i, s) in got.iter().enumerate() {
        assert_eq!(s.version, i as u64 + 1);
        assert_eq!(s.bytes, bytemuck::bytes_of(&states[i].to_fast_state()));
    }
    let picked: Vec<u64> = rec
        .states()
        .iter()
        .filter(|s| s.channel == "picky")
        .map(|s| s.version)
        .collect();
    assert_eq!(picked, (1..=40).step_by(2).collect::<Vec<u64>>());
    // The Foxglove channels come with a FastDroneState map.
    let data = std::fs::read(&path).unwrap();
    let tf = mcap::MessageStream::new(&data)
        .unwrap()
        .filter(|m| m.as_ref().unwrap().channel.topic == "drone/slow/tf")
        .count();
    assert_eq!(tf, 40);
}

#[test]
fn a_starved_recorder_counts_its_drops_in_the_file() {
    let dir = TempDir::new("record", "drops");
    let path = dir.path().join("run.mcap");
    let ring = SlotRing::<FastDroneState>::new(8).unwrap();
    let options = RecorderOptions {
        poll_interval: Duration::from_millis(300),
        queue: 2,
        foxglove: false,
    };
    let mut recorder = Recorder::builder(&path)
        .options(options)
        .buffer("d", &ring)
        .unwrap()
        .start()
        .unwrap();
    // The thread's first pass finds nothing and sleeps 300 ms: 100
    // publishes overflow the queue of 2 meanwhile.
    std::thread::sleep(Duration::from_millis(50));
    for i in 0..100 {
        ring.publish(drone(i), Source::intern("est")).unwrap();
    }
    let stats = recorder.stop().unwrap();
    assert!(stats.dropped() > 0, "{stats:?}");
    assert_eq!(stats.recorded() + stats.dropped(), 100, "{stats:?}");
    let data = std::fs::read(&path).unwrap();
    let summary = mcap::Summary::read(&data).unwrap().unwrap();
    let index = summary
        .metadata_indexes
        .iter()
        .find(|m| m.name == "rtstate.recording")
        .expect("the counts' metadata record");
    let meta = mcap::read::metadata(&data, index).unwrap();
    assert_eq!(meta.metadata["dropped"], stats.dropped().to_string());
    assert_eq!(meta.metadata["d.recorded"], stats.recorded().to_string());
    let rec = Recording::open(&path).unwrap();
    assert_eq!(rec.states().len() as u64, stats.recorded());
}

#[test]
fn bad_files_are_clear_errors() {
    let dir = TempDir::new("record", "bad");
    let path = dir.path().join("run.mcap");
    let ring = SlotRing::<FastDroneState>::new(8).unwrap();
    let mut recorder = Recorder::builder(&path)
        .buffer("d", &ring)
        .unwrap()
        .start()
        .unwrap();
    for i in 0..10 {
        ring.publish(drone(i), Source::intern("est")).unwrap();
    }
    recorder.stop().unwrap();
    let data = std::fs::read(&path).unwrap();

    let cut = dir.path().join("cut.mcap");
    std::fs::write(&cut, &data[..data.len() / 2]).unwrap();
    let e = Recording::open(&cut).unwrap_err();
    assert!(e.to_string().contains("not a valid MCAP file"), "{e}");

    let junk = dir.path().join("junk.mcap");
    std::fs::write(&junk, b"this is not an mcap file at all, not even close").unwrap();
    assert!(Recording::open(&junk).is_err());

    // A valid MCAP written by someone else: no rtstate channel.
    let foreign = dir.path().join("foreign.mcap");
    {
        let mut w = mcap::Writer::new(std::io::BufWriter::new(
            std::fs::File::create(&foreign).unwrap(),
        ))
        .unwrap();
        let ch = w
            .add_channel(0, "chatter", "json", &Default::default())
            .unwrap();
        let header = mcap::records::MessageHeader {
            channel_id: ch,
            sequence: 1,
            log_time: 1,
            publish_time: 1,
        };
        w.write_to_known_channel(&header, b"{}").unwrap();
        w.finish().unwrap();
    }
    let e = Recording::open(&foreign).unwrap_err();
    assert!(e.to_string().contains("no rtstate channel"), "{e}");

    let missing = Recording::open(dir.path().join("absent.mcap")).unwrap_err();
    assert!(missing.to_string().contains("absent.mcap"), "{missing}");
    // Nothing to record; an unwritable path.
    assert!(Recorder::builder(&path).start().is_err());
    let e = Recorder::builder(dir.path().join("no/such/dir/x.mcap"))
        .buffer("d", &ring)
        .unwrap()
        .start()
        .unwrap_err();
    assert!(e.to_string().contains("x.mcap.partial"), "{e}");
}

#[test]
fn stop_wakes_a_recorder_sleeping_its_poll_interval() {
    let dir = TempDir::new("record", "wake");
    let path = dir.path().join("run.mcap");
    let ring = SlotRing::<FastDroneState>::new(8).unwrap();
    let options = RecorderOptions {
        poll_interval: Duration::from_secs(3600),
        ..RecorderOptions::default()
    };
    let mut recorder = Recorder::builder(&path)
        .options(options)
        .buffer("d", &ring)
        .unwrap()
        .start()
        .unwrap();
    std::thread::sleep(Duration::from_millis(20));
    ring.publish(drone(0), Source::intern("est")).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(recorder.stop().map(|s| s.recorded())).unwrap());
    // Not a timing claim: without the wake-up this would wait an hour.
    let recorded = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("stop returned")
        .unwrap();
    assert_eq!(recorded, 1);
}

#[test]
fn replay_into_a_manager_interleaves_its_buffers() {
    let dir = TempDir::new("record", "manager");
    let path = dir.path().join("run.mcap");
    let manager = StateManager::new();
    let (a, b) = (
        SlotRing::<FastDroneState>::new(8).unwrap(),
        SlotRing::<FastDroneState>::new(8).unwrap(),
    );
    manager.register("a", a.clone()).unwrap();
    manager.register("b", b.clone()).unwrap();
    let mut recorder = Recorder::builder(&path)
        .manager(&manager)
        .unwrap()
        .start()
        .unwrap();
    for i in 0..30 {
        a.publish(drone(i), Source::intern("sa")).unwrap();
        b.publish(drone(100 + i), Source::intern("sb")).unwrap();
    }
    recorder.stop().unwrap();
    let rec = Recording::open(&path).unwrap();

    let target = StateManager::new();
    let (ta, tb) = (
        SlotRing::<FastDroneState>::new(64).unwrap(),
        SlotRing::<FastDroneState>::new(64).unwrap(),
    );
    target.register("a", ta.clone()).unwrap();
    target.register("b", tb.clone()).unwrap();
    let r = rtstate::record::replay::replay_into_manager(&rec, &target, None).unwrap();
    assert_eq!(r.published, 60);
    assert_eq!((ta.version(), tb.version()), (30, 30));
    let history = tb.history();
    let last = history.last().unwrap();
    assert_eq!(
        bytemuck::bytes_of(&last.state),
        bytemuck::bytes_of(&drone(129))
    );
    assert_eq!(last.source.as_str(), "sb");
    // A manager holding none of the channels; one holding a name as another type.
    assert!(
        rtstate::record::replay::replay_into_manager(&rec, &StateManager::new(), None).is_err()
    );
    let wrong = StateManager::new();
    wrong
        .register("a", SlotRing::<Wheel>::new(4).unwrap())
        .unwrap();
    assert!(rtstate::record::replay::replay_into_manager(&rec, &wrong, None).is_err());
}
