//! Across two processes: the `rtstate-bridge` binary exports or mirrors,
//! this test process is the other side (peer mode, multicast scouting off,
//! unix-socket endpoints).

mod common;

use common::*;
use rtstate::shm::RawBuffer;
use rtstate::{FastDroneState, SlotRing, Source};
use rtstate_zenoh::{Exporter, Mirror, MirrorOptions};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;

/// A running `rtstate-bridge`, killed when dropped.
struct Bridge {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Bridge {
    fn spawn(args: &[&str]) -> Bridge {
        let mut child = Command::new(env!("CARGO_BIN_EXE_rtstate-bridge"))
            .args(args)
            .args(["--mode", "peer", "--no-multicast-scouting"])
            .env("RTSTATE_SHM_DIR", dir())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let bridge = Bridge { child, lines };
        bridge.expect_line(|l| l == "ready");
        bridge
    }

    /// Waits for a line of output matching `f`; returns it.
    fn expect_line(&self, f: impl Fn(&str) -> bool) -> String {
        let deadline = std::time::Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if f(&line) => return line,
                Ok(_) => {}
                Err(e) => panic!("no matching line from rtstate-bridge: {e}"),
            }
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        self.kill();
    }
}

#[test]
fn exporting_process_killed_the_mirror_reports_the_writer_gone() {
    let _c = Cleanup::new();
    let ring = SlotRing::<FastDroneState>::create_shared("px/fast", 4).unwrap();
    let est = Source::intern("estimator");
    ring.publish(drone(1), est).unwrap();
    let ep = endpoint();
    let mut bridge = Bridge::spawn(&[
        "export",
        "px/fast",
        "--namespace",
        "px",
        "--listen",
        &ep,
        "--stats",
        "0",
    ]);
    let b = connector(&ep);
    let local = SlotRing::<FastDroneState>::checked(8).unwrap();
    let key = "rtstate/px/px/fast";
    let mirror = Mirror::ring(&b, key, &local, MirrorOptions::default()).unwrap();
    // A late joiner: version 1 came before the mirror.
    let (stats, ok) = mirror.wait_for(TIMEOUT, |s| {
        s.buffer(key).is_some_and(|b| b.remote_version == 1)
    });
    assert!(ok, "{stats:?}");
    for i in 2..=5 {
        ring.publish(drone(i), est).unwrap();
        let (stats, ok) = mirror.wait_for(TIMEOUT, |s| {
            s.buffer(key).is_some_and(|b| b.remote_version == i)
        });
        assert!(ok, "{stats:?}");
    }
    assert_eq!(local.latest().unwrap().state.position[0], 5.0);
    assert_eq!(local.latest().unwrap().source.as_str(), "estimator");
    let alive = mirror.statistics().buffer(key).unwrap().writer_alive;
    assert_eq!(alive, Some(true));

    bridge.kill();
    let (stats, ok) = mirror.wait_for(TIMEOUT, |s| {
        s.buffer(key).is_some_and(|b| b.writer_alive == Some(false))
    });
    assert!(ok, "the writer never reported gone: {stats:?}");
    let s = stats.buffer(key).unwrap();
    assert_eq!(s.writer_lost, 1);
    assert_eq!(s.remote_version, 5);
    assert_eq!(local.latest().unwrap().state.position[0], 5.0);

    // The network (here: the exporting process) comes back: the writer is
    // alive again, the new exporter's epoch restarts the remote count, the
    // local versions go on.
    ring.publish(drone(6), est).unwrap();
    let _bridge = Bridge::spawn(&[
        "export",
        "px/fast",
        "--namespace",
        "px",
        "--listen",
        &ep,
        "--stats",
        "0",
    ]);
    let (stats, ok) = mirror.wait_for(TIMEOUT, |s| {
        s.buffer(key)
            .is_some_and(|b| b.writer_alive == Some(true) && b.remote_version == 6)
    });
    assert!(ok, "the writer never came back: {stats:?}");
    let s = stats.buffer(key).unwrap();
    assert_eq!(s.remote_restarts, 1);
    assert_eq!(s.local_version, 6);
    assert_eq!(local.latest().unwrap().version, 6);
    assert_eq!(local.latest().unwrap().state.position[0], 6.0);
}

#[test]
fn a_mirroring_process_makes_a_shared_buffer_of_a_user_layout() {
    let _c = Cleanup::new();
    let ep = endpoint();
    let a = listener(&ep);
    let ring = SlotRing::<Wheel>::checked(8).unwrap();
    let mut exporter = Exporter::new(&a, "py").unwrap();
    exporter.export_ring("wheel", &ring).unwrap();
    let src = Source::intern("odometry");
    ring.publish(wheel(1), src).unwrap();
    let _bridge = Bridge::spawn(&[
        "mirror",
        "rtstate/py/**",
        "--prefix",
        "pm/",
        "--connect",
        &ep,
        "--stats",
        "0",
    ]);
    // Late joiner: version 1 arrives without a new publish.
    let local = eventually("the mirror's shared buffer", || {
        let l = SlotRing::<Wheel>::open_shared("pm/py/wheel").ok()?;
        (l.latest()?.state.ticks == 1).then_some(l)
    });
    for i in 2..=5 {
        ring.publish(wheel(i), src).unwrap();
        eventually("the next version", || {
            (local.latest()?.state.ticks == i).then_some(())
        });
    }
    let snap = local.latest().unwrap();
    assert_eq!(snap.version, 5);
    assert_eq!(snap.source.as_str(), "odometry");
    let raw = RawBuffer::open("pm/py/wheel").unwrap();
    assert!(raw.statistics().writer_alive);
    assert_ne!(raw.statistics().writer_pid, std::process::id());

    // The exporter goes: the mirroring process lets go of the file's
    // writer lock, so `rtstate list` shows no live writer.
    drop(exporter);
    eventually("the mirror's writer released", || {
        (!raw.statistics().writer_alive).then_some(())
    });
    assert_eq!(local.latest().unwrap().state.ticks, 5);
}

#[test]
fn a_mirroring_process_refuses_a_local_file_of_another_layout() {
    let _c = Cleanup::new();
    let ep = endpoint();
    let a = listener(&ep);
    let ring = SlotRing::<FastDroneState>::new(8).unwrap();
    let mut exporter = Exporter::new(&a, "pl").unwrap();
    exporter.export_ring("s", &ring).unwrap();
    ring.publish(drone(1), Source::intern("est")).unwrap();
    let _other = SlotRing::<Wheel>::create_shared("plm/pl/s", 2).unwrap();
    drop(_other);
    let bridge = Bridge::spawn(&[
        "mirror",
        "rtstate/pl/**",
        "--prefix",
        "plm/",
        "--connect",
        &ep,
        "--stats",
        "0.1",
    ]);
    let line = bridge.expect_line(|l| l.starts_with("error:"));
    let wheel = <Wheel as rtstate::layout::PodLayout>::layout().to_string();
    let fast = <FastDroneState as rtstate::layout::PodLayout>::layout().to_string();
    assert!(line.contains(&wheel) && line.contains(&fast), "{line}");
    let line = bridge.expect_line(|l| l.starts_with("rtstate/pl/s"));
    assert!(line.contains("layout_refused="), "{line}");
    assert!(!line.contains("layout_refused=0 "), "{line}");
}

#[test]
fn bad_command_lines_exit_with_usage() {
    let bin = env!("CARGO_BIN_EXE_rtstate-bridge");
    for args in [
        &["frobnicate"][..],
        &["export", "x"][..],
        &["mirror", "rtstate/a/**", "--mode", "router"][..],
        &["mirror", "other/**", "--no-multicast-scouting"][..],
        &["export", "x", "--namespace", "a/*"][..],
    ] {
        let out = Command::new(bin)
            .args(args)
            .env("RTSTATE_SHM_DIR", std::env::temp_dir().join("rtstate-none"))
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).starts_with("rtstate-bridge: "),
            "{args:?}"
        );
    }
    let out = Command::new(bin).arg("--help").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("rtstate-bridge export"));
}
