//! Two Zenoh sessions in one process (peer mode, multicast scouting off,
//! unix-socket or loopback TCP endpoints): export and mirror, late
//! joiners, gaps, the writer's liveliness, layout mismatch, bad input.

mod common;

use common::*;
use rtstate::shm::RawBuffer;
use rtstate::{FastDroneState, SlotRing, Source};
use rtstate_zenoh::wire::Meta;
use rtstate_zenoh::{BridgeError, Exporter, Mirror, MirrorOptions};
use zenoh::Wait;

fn accepted(m: &Mirror, key: &str, version: u64) -> rtstate_zenoh::BufferStatistics {
    let (stats, ok) = m.wait_for(TIMEOUT, |s| {
        s.buffer(key).is_some_and(|b| b.remote_version >= version)
    });
    assert!(
        ok,
        "{key} never reached remote version {version}: {stats:?}"
    );
    stats.buffer(key).unwrap().clone()
}

#[test]
fn fast_drone_state_ring_to_ring_over_tcp_and_a_late_joiner() {
    let _c = Cleanup::new();
    let ep = tcp_endpoint();
    let a = listener(&ep);
    let b = connector(&ep);
    // `checked`: the snapshot's timestamp is the state's own.
    let ring = SlotRing::<FastDroneState>::checked(8).unwrap();
    let mut exporter = Exporter::new(&a, "tcp1").unwrap();
    exporter.export_ring("fast_state", &ring).unwrap();
    let local = SlotRing::<FastDroneState>::checked(8).unwrap();
    let key = "rtstate/tcp1/fast_state";
    let mirror = Mirror::ring(&b, key, &local, MirrorOptions::default()).unwrap();
    // Wait for the remote writer's token: the subscription is then known.
    mirror.wait_for(TIMEOUT, |s| {
        s.buffer(key).is_some_and(|b| b.writer_alive == Some(true))
    });
    let est = Source::intern("estimator");
    let mut last = drone(0);
    for i in 1..=5 {
        last = drone(i);
        ring.publish(last, est).unwrap();
        accepted(&mirror, key, i);
    }
    let stats = accepted(&mirror, key, 5);
    assert_eq!(stats.lost, 0);
    assert_eq!(stats.malformed, 0);
    let snap = local.latest().unwrap();
    assert_eq!(snap.state, last);
    assert_eq!(snap.source.as_str(), "estimator");
    // The local ring keeps the remote state's timestamp.
    assert_eq!(snap.timestamp, last.timestamp);
    assert_eq!(stats.remote_timestamp, Some(last.timestamp));
    assert!(stats.remote_published_at.is_some());

    // A late joiner, nothing published after it starts: it gets the
    // latest at once (from the exporter's queryable).
    let c = connector(&ep);
    let late = SlotRing::<FastDroneState>::new(8).unwrap();
    let late_mirror = Mirror::ring(&c, key, &late, MirrorOptions::default()).unwrap();
    let stats = accepted(&late_mirror, key, 5);
    assert_eq!(stats.remote_version, 5);
    assert_eq!(stats.local_version, 1);
    assert_eq!(stats.lost, 0, "versions before joining are not lost");
    assert_eq!(late.latest().unwrap().state, last);
    // The exporter's own statistics.
    let e = &exporter.statistics()[0];
    assert_eq!(e.key, key);
    assert_eq!(e.last_version, 5);
    assert!(e.queries >= 1);
}

#[test]
fn user_layout_shared_to_shared_and_the_writer_going_away() {
    let _c = Cleanup::new();
    let ep = endpoint();
    let a = listener(&ep);
    let b = connector(&ep);
    let writer = SlotRing::<Wheel>::create_shared("ul/wheel", 4).unwrap();
    writer
        .publish(wheel(1), Source::intern("odometry"))
        .unwrap();
    let mut exporter = Exporter::new(&a, "ul").unwrap();
    exporter.export_shared("ul/wheel").unwrap();
    let options = MirrorOptions {
        local_prefix: "mirror/".into(),
        ..Default::default()
    };
    let mirror = Mirror::shared(&b, "rtstate/ul/**", options).unwrap();
    let key = "rtstate/ul/ul/wheel";
    // Late joiner: version 1 was published before the mirror started.
    let stats = accepted(&mirror, key, 1);
    assert_eq!(stats.local_name, "mirror/ul/ul/wheel");
    let local = SlotRing::<Wheel>::open_shared("mirror/ul/ul/wheel").unwrap();
    assert_eq!(local.latest().unwrap().state.ticks, 1);
    for i in 2..=6 {
        writer
            .publish(wheel(i), Source::intern("odometry"))
            .unwrap();
        accepted(&mirror, key, i);
    }
    let snap = local.latest().unwrap();
    assert_eq!(snap.state.ticks, 6);
    assert_eq!(snap.version, 6);
    let raw = RawBuffer::open("mirror/ul/ul/wheel").unwrap();
    assert_eq!(
        raw.layout(),
        &<Wheel as rtstate::layout::PodLayout>::layout()
    );
    assert!(raw.statistics().writer_alive, "the mirror writes the file");

    // The exporter goes away: its token with it.
    drop(exporter);
    let (stats, ok) = mirror.wait_for(TIMEOUT, |s| {
        s.buffer(key).is_some_and(|b| b.writer_alive == Some(false))
    });
    assert!(ok, "writer never reported gone: {stats:?}");
    assert_eq!(stats.buffer(key).unwrap().writer_lost, 1);
    // The local file shows no live writer (what `rtstate list` shows).
    eventually("the local writer released", || {
        (!raw.statistics().writer_alive).then_some(())
    });
    // The state is still there.
    assert_eq!(local.latest().unwrap().state.ticks, 6);
}

#[test]
fn gaps_are_counted_while_the_mirror_is_paused() {
    let _c = Cleanup::new();
    let ep = endpoint();
    let a = listener(&ep);
    let b = connector(&ep);
    let ring = SlotRing::<FastDroneState>::new(8).unwrap();
    let mut exporter = Exporter::new(&a, "gap").unwrap();
    exporter.export_ring("s", &ring).unwrap();
    let local = SlotRing::<FastDroneState>::new(8).unwrap();
    let key = "rtstate/gap/s";
    let options = MirrorOptions {
        queue: 4,
        ..Default::default()
    };
    let mirror = Mirror::ring(&b, key, &local, options).unwrap();
    let src = Source::intern("est");
    ring.publish(drone(1), src).unwrap();
    accepted(&mirror, key, 1);
    mirror.pause();
    for i in 2..=200 {
        ring.publish(drone(i), src).unwrap();
        // The exporter reads through a reader and may itself skip
        // versions; give it time to put most of them.
        if i % 10 == 0 {
            eventually("the exporter to catch up", || {
                (exporter.statistics()[0].last_version >= i).then_some(())
            });
        }
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    mirror.resume();
    let stats = accepted(&mirror, key, 200);
    assert!(stats.lost > 0, "{stats:?}");
    assert_eq!(stats.remote_version, 200);
    // Every remote version is either accepted or lost, none twice.
    assert!(stats.accepted + stats.lost <= 200);
    assert!(stats.accepted < 200);
    assert_eq!(local.latest().unwrap().state.position[0], 200.0);
    // Local versions are the mirror's own: one per accepted sample.
    assert_eq!(local.version(), stats.accepted);
}

#[test]
fn layout_mismatch_is_refused_naming_both_layouts() {
    let _c = Cleanup::new();
    let ep = endpoint();
    let a = listener(&ep);
    let b = connector(&ep);
    let ring = SlotRing::<FastDroneState>::new(8).unwrap();
    let mut exporter = Exporter::new(&a, "lm").unwrap();
    exporter.export_ring("s", &ring).unwrap();
    ring.publish(drone(1), Source::intern("est")).unwrap();
    let key = "rtstate/lm/s";
    // Wait until B sees the exporter (its token).
    let probe = SlotRing::<FastDroneState>::new(2).unwrap();
    let m = Mirror::ring(&b, key, &probe, MirrorOptions::default()).unwrap();
    accepted(&m, key, 1);
    let wrong = SlotRing::<Wheel>::new(8).unwrap();
    let err = Mirror::ring(&b, key, &wrong, MirrorOptions::default()).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, BridgeError::LayoutMismatch { .. }), "{text}");
    let wheel = <Wheel as rtstate::layout::PodLayout>::layout().to_string();
    let fast = <FastDroneState as rtstate::layout::PodLayout>::layout().to_string();
    assert!(text.contains(&wheel) && text.contains(&fast), "{text}");

    // A shared mirror whose local file has another layout refuses the
    // key, naming both.
    let _other = SlotRing::<Wheel>::create_shared("lmx/lm/s", 2).unwrap();
    let options = MirrorOptions {
        local_prefix: "lmx/".into(),
        ..Default::default()
    };
    let shared = Mirror::shared(&b, "rtstate/lm/**", options).unwrap();
    let (stats, ok) = shared.wait_for(TIMEOUT, |s| {
        s.buffer(key).is_some_and(|b| b.layout_refused > 0)
    });
    assert!(ok, "{stats:?}");
    let refused = stats.buffer(key).unwrap().refused.clone().unwrap();
    assert!(
        refused.contains(&wheel) && refused.contains(&fast),
        "{refused}"
    );
}

#[test]
fn bad_samples_are_counted_never_a_crash_never_backwards() {
    let _c = Cleanup::new();
    let ep = endpoint();
    let a = listener(&ep);
    let b = connector(&ep);
    let ring = SlotRing::<FastDroneState>::new(8).unwrap();
    let mut exporter = Exporter::new(&a, "bad").unwrap();
    exporter.export_ring("s", &ring).unwrap();
    let options = MirrorOptions {
        local_prefix: "badm/".into(),
        ..Default::default()
    };
    let mirror = Mirror::shared(&b, "rtstate/**", options).unwrap();
    let key = "rtstate/bad/s";
    for i in 1..=3 {
        ring.publish(drone(i), Source::intern("est")).unwrap();
        accepted(&mirror, key, i);
    }
    let hash = <FastDroneState as rtstate::layout::PodLayout>::layout().hash();
    let meta = |version: u64, layout_hash: u64| Meta {
        version,
        published_at: now(),
        timestamp: now(),
        layout_hash,
        epoch: 0,
        source: "intruder".into(),
    };
    let state = bytemuck::bytes_of(&drone(99)).to_vec();
    let epoch = {
        // The exporter's epoch, from its latest sample.
        let reply = a
            .get(key)
            .wait()
            .unwrap()
            .recv_timeout(TIMEOUT)
            .unwrap()
            .unwrap();
        let sample = reply.result().unwrap();
        Meta::decode(&sample.attachment().unwrap().to_bytes())
            .unwrap()
            .epoch
    };
    let put = |key: &str, payload: Vec<u8>, attachment: Option<Vec<u8>>| {
        let mut p = a.put(key, payload);
        if let Some(att) = attachment {
            p = p.attachment(att);
        }
        p.wait().unwrap();
    };
    // No attachment; a garbage one; the wrong payload size.
    put(key, state.clone(), None);
    put(key, state.clone(), Some(b"garbage".to_vec()));
    let mut m = meta(10, hash);
    m.epoch = epoch;
    put(key, vec![0u8; 7], Some(m.encode()));
    // An older and a repeated version.
    let mut old = meta(2, hash);
    old.epoch = epoch;
    put(key, state.clone(), Some(old.encode()));
    let mut same = meta(3, hash);
    same.epoch = epoch;
    put(key, state.clone(), Some(same.encode()));
    // An unknown layout on a key nobody answers for.
    put(
        "rtstate/bad/ghost",
        state.clone(),
        Some(meta(1, 0x1234).encode()),
    );
    // Keys outside rtstate/<namespace>/<buffer>.
    put("rtstate/bad", state.clone(), Some(meta(1, hash).encode()));
    put(
        "rtstate/bad/..",
        state.clone(),
        Some(meta(1, hash).encode()),
    );

    let (stats, ok) = mirror.wait_for(TIMEOUT, |s| {
        s.buffer(key)
            .is_some_and(|b| b.malformed >= 3 && b.dropped_old >= 2)
            && s.buffer("rtstate/bad/ghost")
                .is_some_and(|b| b.layout_refused >= 1)
            && s.outside_namespace >= 2
    });
    assert!(ok, "{stats:?}");
    let s = stats.buffer(key).unwrap();
    assert_eq!(s.malformed, 3, "{stats:?}");
    assert_eq!(s.dropped_old, 2, "{stats:?}");
    assert_eq!(s.remote_version, 3, "never backwards");
    assert!(!stats.errors.is_empty());
    let local = SlotRing::<FastDroneState>::open_shared("badm/bad/s").unwrap();
    assert_eq!(local.latest().unwrap().state.position[0], 3.0);
    // The mirror still works.
    ring.publish(drone(4), Source::intern("est")).unwrap();
    accepted(&mirror, key, 4);
    assert_eq!(local.latest().unwrap().state.position[0], 4.0);
}
