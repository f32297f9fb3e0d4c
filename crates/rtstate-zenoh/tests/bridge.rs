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
    assert_eq!(stats.local_version, 5, "versions are the remote ones");
    assert_eq!(stats.lost, 0, "versions before joining are not lost");
    assert_eq!(late.latest().unwrap().state, last);
    assert_eq!(late.latest().unwrap().version, 5);
    assert_eq!(late.statistics().updates, 1, "one publish, at version 5");
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
    // A local reader of the mirror, watching the versions on its own
    // thread: they never go back, and each state is its version's.
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let local = local.clone();
        let done = done.clone();
        std::thread::spawn(move || {
            let mut reader = local.reader();
            let mut seen = Vec::new();
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(s) = reader.wait(std::time::Duration::from_millis(20)) {
                    assert_eq!(
                        s.state.position[0], s.version as f64,
                        "state of its version"
                    );
                    assert!(seen.last().is_none_or(|&l| s.version > l), "went back");
                    seen.push(s.version);
                }
            }
            (seen, reader.lost())
        })
    };
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
    // Every remote version is either accepted or lost, none twice (the
    // mirror accepted version 1 first).
    assert_eq!(stats.accepted + stats.lost, 200, "{stats:?}");
    assert!(stats.accepted < 200);
    assert_eq!(local.latest().unwrap().state.position[0], 200.0);
    // Versions are the remote ones: the local buffer is at 200, made of
    // one publish per accepted sample; the gaps are absent from its
    // history, never filled by another state.
    assert_eq!(local.version(), 200);
    assert_eq!(stats.local_version, 200);
    let local_stats = local.statistics();
    assert_eq!(local_stats.updates, stats.accepted);
    assert_eq!(local_stats.current_version, 200);
    let history = local.history();
    assert!(!history.is_empty());
    for s in &history {
        assert_eq!(s.state.position[0], s.version as f64);
    }
    assert!(history.windows(2).all(|w| w[0].version < w[1].version));
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let (seen, reader_lost) = watcher.join().unwrap();
    assert_eq!(seen.last(), Some(&200), "{seen:?}");
    // The local reader (created before version 1) counts as lost every
    // version it did not read: at least the mirror's gaps.
    assert!(reader_lost >= stats.lost, "{reader_lost} < {}", stats.lost);
}

#[test]
fn a_remote_reset_resets_the_mirror_and_old_samples_are_dropped() {
    let _c = Cleanup::new();
    let ep = endpoint();
    let a = listener(&ep);
    let b = connector(&ep);
    let ring = SlotRing::<FastDroneState>::new(8).unwrap();
    let mut exporter = Exporter::new(&a, "rst").unwrap();
    exporter.export_ring("s", &ring).unwrap();
    let local = SlotRing::<FastDroneState>::new(8).unwrap();
    let key = "rtstate/rst/s";
    let mirror = Mirror::ring(&b, key, &local, MirrorOptions::default()).unwrap();
    mirror.wait_for(TIMEOUT, |s| {
        s.buffer(key).is_some_and(|b| b.writer_alive == Some(true))
    });
    let src = Source::intern("est");
    for i in 1..=4 {
        ring.publish(drone(i), src).unwrap();
        accepted(&mirror, key, i);
    }
    assert_eq!(local.version(), 4);
    let epoch_before = local.epoch();
    let latest_meta = || {
        let reply = a
            .get(key)
            .wait()
            .unwrap()
            .recv_timeout(TIMEOUT)
            .unwrap()
            .unwrap();
        let sample = reply.result().unwrap();
        Meta::decode(&sample.attachment().unwrap().to_bytes()).unwrap()
    };
    let old_epoch = latest_meta().epoch;
    // The remote buffer is reset: its versions restart at 1.
    ring.reset();
    ring.publish(drone(101), src).unwrap();
    let (stats, ok) = mirror.wait_for(TIMEOUT, |s| {
        s.buffer(key)
            .is_some_and(|b| b.local_resets == 1 && b.remote_version == 1)
    });
    assert!(ok, "the mirror never followed the reset: {stats:?}");
    let s = stats.buffer(key).unwrap();
    assert_eq!(s.remote_restarts, 1);
    assert_eq!(s.dropped_old, 0);
    assert_eq!(local.epoch(), epoch_before + 1, "a local reset");
    assert_eq!(local.version(), 1);
    assert_eq!(local.latest().unwrap().state.position[0], 101.0);
    assert_ne!(latest_meta().epoch, old_epoch, "a new exporter epoch");
    // The new epoch goes on.
    ring.publish(drone(102), src).unwrap();
    let s = accepted(&mirror, key, 2);
    assert_eq!((s.local_version, s.lost), (2, 0));
    assert_eq!(local.latest().unwrap().state.position[0], 102.0);
    // A late sample of the epoch the mirror left is dropped, even with a
    // version above the local one: never a reset back, never backwards.
    let late = Meta {
        version: 9,
        published_at: now(),
        timestamp: now(),
        layout_hash: <FastDroneState as rtstate::layout::PodLayout>::layout().hash(),
        epoch: old_epoch,
        source: "late".into(),
    };
    a.put(key, bytemuck::bytes_of(&drone(9)).to_vec())
        .attachment(late.encode())
        .wait()
        .unwrap();
    let (stats, ok) = mirror.wait_for(TIMEOUT, |s| {
        s.buffer(key).is_some_and(|b| b.dropped_old == 1)
    });
    assert!(ok, "{stats:?}");
    assert_eq!(local.version(), 2);
    assert_eq!(local.latest().unwrap().state.position[0], 102.0);
    assert_eq!(stats.buffer(key).unwrap().local_resets, 1);
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

/// A TCP proxy on a free loopback port in front of `upstream`
/// (`127.0.0.1:PORT`), which the test cuts (every connection shut, new ones
/// refused) and restores: the network going away and coming back.
struct Proxy {
    port: u16,
    open: std::sync::Arc<std::sync::atomic::AtomicBool>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    conns: std::sync::Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
    accept: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    fn start(upstream: std::net::SocketAddr) -> Proxy {
        use std::net::{Shutdown, TcpListener, TcpStream};
        use std::sync::atomic::Ordering::SeqCst;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let open = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let conns = std::sync::Arc::new(std::sync::Mutex::new(Vec::<TcpStream>::new()));
        let accept = {
            let (open, stop, conns) = (open.clone(), stop.clone(), conns.clone());
            std::thread::spawn(move || {
                while !stop.load(SeqCst) {
                    let client = match listener.accept() {
                        Ok((client, _)) => client,
                        Err(_) => {
                            std::thread::sleep(std::time::Duration::from_millis(5));
                            continue;
                        }
                    };
                    client.set_nonblocking(false).unwrap();
                    if !open.load(SeqCst) {
                        let _ = client.shutdown(Shutdown::Both);
                        continue;
                    }
                    let Ok(server) = TcpStream::connect(upstream) else {
                        let _ = client.shutdown(Shutdown::Both);
                        continue;
                    };
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    let pump = |mut from: TcpStream, mut to: TcpStream| {
                        std::thread::spawn(move || {
                            let _ = std::io::copy(&mut from, &mut to);
                            let _ = to.shutdown(Shutdown::Both);
                            let _ = from.shutdown(Shutdown::Both);
                        });
                    };
                    let mut held = conns.lock().unwrap();
                    held.push(client.try_clone().unwrap());
                    held.push(server.try_clone().unwrap());
                    drop(held);
                    pump(client.try_clone().unwrap(), server.try_clone().unwrap());
                    pump(server, client);
                }
            })
        };
        Proxy {
            port,
            open,
            stop,
            conns,
            accept: Some(accept),
        }
    }

    /// Shuts every connection and refuses new ones.
    fn cut(&self) {
        self.open.store(false, std::sync::atomic::Ordering::SeqCst);
        for c in self.conns.lock().unwrap().drain(..) {
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
    }

    /// Accepts connections again.
    fn restore(&self) {
        self.open.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

/// A loopback peer session with gossip scouting off too, so that the only
/// path between the two sessions is the one configured (the proxy).
fn only_through(listen: &[&str], connect: &[&str]) -> zenoh::Session {
    let mut config = rtstate_zenoh::ZenohOptions::loopback_peer(listen, connect)
        .to_config()
        .unwrap();
    config
        .insert_json5("scouting/gossip/enabled", "false")
        .unwrap();
    zenoh::open(config).wait().unwrap()
}

#[test]
fn the_network_going_away_and_coming_back_is_counted_never_backwards() {
    let _c = Cleanup::new();
    let ep = tcp_endpoint();
    let a = only_through(&[&ep], &[]);
    let upstream: std::net::SocketAddr = ep.trim_start_matches("tcp/").parse().unwrap();
    let proxy = Proxy::start(upstream);
    let b = only_through(&[], &[&format!("tcp/127.0.0.1:{}", proxy.port)]);
    let ring = SlotRing::<FastDroneState>::new(8).unwrap();
    let mut exporter = Exporter::new(&a, "net").unwrap();
    exporter.export_ring("s", &ring).unwrap();
    let local = SlotRing::<FastDroneState>::new(8).unwrap();
    let key = "rtstate/net/s";
    let mirror = Mirror::ring(&b, key, &local, MirrorOptions::default()).unwrap();
    mirror.wait_for(TIMEOUT, |s| {
        s.buffer(key).is_some_and(|b| b.writer_alive == Some(true))
    });
    let src = Source::intern("est");
    for i in 1..=3 {
        ring.publish(drone(i), src).unwrap();
        accepted(&mirror, key, i);
    }

    // The network goes away: the remote writer is reported gone, the
    // local state stays.
    proxy.cut();
    let (stats, ok) = mirror.wait_for(TIMEOUT, |s| {
        s.buffer(key).is_some_and(|b| b.writer_alive == Some(false))
    });
    assert!(ok, "the cut was never noticed: {stats:?}");
    for i in 4..=10 {
        ring.publish(drone(i), src).unwrap();
    }
    eventually("the exporter to put version 10", || {
        (exporter.statistics()[0].last_version == 10).then_some(())
    });
    assert_eq!(local.version(), 3);
    assert_eq!(local.latest().unwrap().state.position[0], 3.0);

    // It comes back: the session reconnects, the token returns, the mirror
    // asks for the latest (version 10) and counts 4..=9 as lost.
    proxy.restore();
    let (stats, ok) = mirror.wait_for(TIMEOUT, |s| {
        s.buffer(key)
            .is_some_and(|b| b.writer_alive == Some(true) && b.remote_version == 10)
    });
    assert!(ok, "the mirror never resumed: {stats:?}");
    let s = stats.buffer(key).unwrap();
    assert!(s.writer_lost >= 1, "{s:?}");
    assert_eq!(s.lost, 6, "{s:?}");
    assert_eq!(s.dropped_old, 0, "{s:?}");
    assert_eq!(local.version(), 10);
    assert_eq!(local.latest().unwrap().state.position[0], 10.0);
    let held: Vec<u64> = local.history().iter().map(|s| s.version).collect();
    // The history holds what it has of the last 8 versions (3..=10).
    assert_eq!(held, [3, 10], "never backwards, the gap absent");
    // And goes on live.
    ring.publish(drone(11), src).unwrap();
    let s = accepted(&mirror, key, 11);
    assert_eq!((s.local_version, s.lost), (11, 6));
}

#[test]
fn a_mirror_into_a_ring_ahead_of_the_remote_restarts_its_versions() {
    let _c = Cleanup::new();
    let ep = endpoint();
    let a = listener(&ep);
    let b = connector(&ep);
    let ring = SlotRing::<FastDroneState>::new(8).unwrap();
    let mut exporter = Exporter::new(&a, "ahead").unwrap();
    exporter.export_ring("s", &ring).unwrap();
    // The local ring is already at version 50 (an earlier mirror of a
    // remote that has since started over).
    let local = SlotRing::<FastDroneState>::new(8).unwrap();
    local
        .publish_at_version(drone(50), Source::UNKNOWN, 50)
        .unwrap();
    let key = "rtstate/ahead/s";
    let mirror = Mirror::ring(&b, key, &local, MirrorOptions::default()).unwrap();
    mirror.wait_for(TIMEOUT, |s| {
        s.buffer(key).is_some_and(|b| b.writer_alive == Some(true))
    });
    for i in 1..=3 {
        ring.publish(drone(i), Source::UNKNOWN).unwrap();
        accepted(&mirror, key, i);
    }
    let s = mirror.statistics().buffer(key).unwrap().clone();
    // The remote's first version was not newer than the ring's 50: the ring
    // was reset once, then carried the remote versions.
    assert_eq!(
        (s.local_resets, s.remote_restarts, s.lost),
        (1, 0, 0),
        "{s:?}"
    );
    assert_eq!(s.dropped_old, 0, "{s:?}");
    assert_eq!(local.epoch(), 1);
    assert_eq!(local.version(), 3);
    assert_eq!(local.latest().unwrap().state.position[0], 3.0);
}

#[test]
fn a_burst_is_counted_exactly_and_never_goes_back() {
    // Samples put straight onto the key (one publisher, reliable and
    // blocking, so delivered in order): the mirror publishes most from
    // Zenoh's callback and hands the rest (the first, those while paused
    // and those queued behind them, the old ones) to its thread; each is
    // counted once either way, and none overtakes another.
    let _c = Cleanup::new();
    let ep = endpoint();
    let a = listener(&ep);
    let b = connector(&ep);
    let local = SlotRing::<FastDroneState>::new(8).unwrap();
    let key = "rtstate/burst/s";
    let options = MirrorOptions {
        // Nothing dropped from the mirror's queue while it is paused.
        queue: 8192,
        query_timeout: std::time::Duration::from_millis(200),
        ..Default::default()
    };
    let mirror = Mirror::ring(&b, key, &local, options).unwrap();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let local = local.clone();
        let done = done.clone();
        std::thread::spawn(move || {
            let mut reader = local.reader();
            let mut last = 0;
            let mut read = 0u64;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(s) = reader.wait(std::time::Duration::from_millis(20)) {
                    assert_eq!(
                        s.state.position[0], s.version as f64,
                        "state of its version"
                    );
                    assert!(s.version > last, "went back: {} after {last}", s.version);
                    last = s.version;
                    read += 1;
                }
            }
            (last, read)
        })
    };
    let hash = <FastDroneState as rtstate::layout::PodLayout>::layout().hash();
    let put = |version: u64| {
        let meta = Meta {
            version,
            published_at: now(),
            timestamp: now(),
            layout_hash: hash,
            epoch: 7,
            source: "burst".into(),
        };
        a.put(key, bytemuck::bytes_of(&drone(version)).to_vec())
            .attachment(meta.encode())
            .congestion_control(zenoh::qos::CongestionControl::Block)
            .wait()
            .unwrap();
    };
    // Until the mirror's subscription has reached A: the first sample
    // delivered is accepted (none lost before it), the later ones follow
    // in order.
    let mut n = 0;
    loop {
        n += 1;
        assert!(n < 400, "the mirror never received a sample");
        put(n);
        let (_, ok) = mirror.wait_for(std::time::Duration::from_millis(50), |s| {
            s.buffer(key).is_some_and(|b| b.accepted >= 1)
        });
        if ok {
            break;
        }
    }
    let s0 = accepted(&mirror, key, n);
    assert_eq!((s0.lost, s0.dropped_old, s0.malformed), (0, 0, 0), "{s0:?}");
    assert_eq!(s0.received, s0.accepted, "{s0:?}");

    let (mut fresh, mut skipped, mut old) = (0u64, 0u64, 0u64);
    let last = n + 2000;
    for i in 1..=2000u64 {
        let v = n + i;
        if i == 1000 {
            mirror.pause();
        }
        if i == 1500 {
            mirror.resume();
        }
        if v % 97 == 0 && v != last {
            skipped += 1;
        } else {
            put(v);
            fresh += 1;
        }
        if i % 50 == 0 {
            put(v - 3);
            old += 1;
        }
    }
    let (stats, ok) = mirror.wait_for(TIMEOUT, |s| {
        s.buffer(key)
            .is_some_and(|b| b.received == s0.received + fresh + old && b.remote_version == last)
    });
    let s = stats.buffer(key).unwrap().clone();
    assert!(ok, "{s:?}");
    assert_eq!(s.accepted - s0.accepted, fresh, "{s:?}");
    assert_eq!(s.lost, skipped, "{s:?}");
    assert_eq!(s.dropped_old, old, "{s:?}");
    assert_eq!(
        (
            s.malformed,
            s.layout_refused,
            s.local_resets,
            s.remote_restarts
        ),
        (0, 0, 0, 0),
        "{s:?}"
    );
    // Every version up to the last is either accepted or lost, once.
    assert_eq!(
        s.accepted + s.lost + (s0.remote_version - s0.accepted),
        last
    );
    assert_eq!(s.local_version, last);
    assert_eq!(local.version(), last);
    assert_eq!(local.statistics().updates, s.accepted);
    assert_eq!(local.latest().unwrap().state.position[0], last as f64);
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let (seen, read) = watcher.join().unwrap();
    assert_eq!(seen, last);
    assert!(read >= 1);
}
