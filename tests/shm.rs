//! Shared-memory buffers: files, headers, names, layouts, the writer lock
//! and its takeover, across processes. Child processes are this test
//! binary run again with `RTSTATE_SHM_CHILD` naming a role (see
//! `child_role`). Every test uses its own `RTSTATE_SHM_DIR` under the
//! system temp dir and removes it.

use rtstate::layout::PodLayout;
use rtstate::shm::region::LAYOUT_OFFSET;
use rtstate::shm::{self, CreateOptions, RawBuffer, Region, ShmError};
use rtstate::{Error, FastDroneState};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "common/tempdir.rs"]
mod tempdir;
use tempdir::TempDir;

/// A state whose every word carries the sequence number: a torn read
/// mixes two of them.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
struct Pattern {
    seq: u64,
    words: [u64; 15],
}
rtstate::layout!(Pattern {
    seq: u64,
    words: [u64; 15]
});

impl Pattern {
    fn of(seq: u64) -> Pattern {
        Pattern {
            seq,
            words: [seq; 15],
        }
    }
    fn from_bytes(bytes: &[u8]) -> Pattern {
        bytemuck::pod_read_unaligned(bytes)
    }
    /// Panics on a torn copy.
    fn check(&self) -> u64 {
        assert!(
            self.words.iter().all(|&w| w == self.seq),
            "torn read: {self:?}"
        );
        self.seq
    }
}

fn fast_layout() -> rtstate::layout::Layout {
    FastDroneState::layout()
}

/// Runs this test binary as a child in `role`, with `dir` as its buffer
/// directory.
fn spawn_child(role: &str, dir: &Path, extra: &[(&str, &str)]) -> Child {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["child_role", "--exact", "--nocapture", "--test-threads=1"])
        .env("RTSTATE_SHM_CHILD", role)
        .env("RTSTATE_SHM_DIR", dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in extra {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

/// Waits (with a timeout) until `path` exists.
fn wait_for_file(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits (with a timeout) until `child` waits on `region`'s futex.
fn wait_for_a_waiter(region: &Region, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while region.waiting() == 0 {
        assert!(Instant::now() < deadline, "the child never waited");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the child exited early"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The child side: does nothing unless `RTSTATE_SHM_CHILD` is set.
#[test]
fn child_role() {
    let Ok(role) = std::env::var("RTSTATE_SHM_CHILD") else {
        return;
    };
    let dir = PathBuf::from(std::env::var("RTSTATE_SHM_DIR").unwrap());
    match role.as_str() {
        // Takes the writer lock of "locked", says so through a file, then
        // sleeps until killed.
        "hold_writer" => {
            let region = Region::create_or_open_in(
                &dir,
                "locked",
                &fast_layout(),
                4,
                CreateOptions::default(),
            )
            .unwrap();
            region.take_writer().unwrap();
            std::fs::write(dir.join("holder.ready"), std::process::id().to_string()).unwrap();
            std::thread::sleep(Duration::from_secs(120));
        }
        // Publishes patterns into "stream" flat out until killed (or
        // `RTSTATE_SHM_COUNT` publishes, then exits).
        "writer_flat_out" => {
            let count: u64 = std::env::var("RTSTATE_SHM_COUNT")
                .ok()
                .and_then(|c| c.parse().ok())
                .unwrap_or(u64::MAX);
            let buffer = RawBuffer::create_in(
                &dir,
                "stream",
                &Pattern::layout(),
                8,
                CreateOptions::default(),
            )
            .unwrap();
            let first = buffer.version() + 1;
            for next in (first..).take_while(|n| n - first < count) {
                let v = buffer
                    .publish(bytemuck::bytes_of(&Pattern::of(next)), None, "child")
                    .unwrap();
                assert_eq!(v, next);
            }
        }
        // Waits for a publish on "stream" and reports the version it saw.
        "wait_once" => {
            let buffer = RawBuffer::open_in(&dir, "stream").unwrap();
            let mut reader = buffer.reader();
            let s = reader.wait(Duration::from_secs(60)).unwrap();
            std::fs::write(dir.join("woken"), s.version.to_string()).unwrap();
        }
        // The typed buffer (GenericBuffer on the mapped storage): publishes
        // patterns into "typed" flat out until killed.
        "typed_flat_out" => {
            let ring = rtstate::shm::SharedRing::<Pattern>::create_in(
                &dir,
                "typed",
                8,
                CreateOptions::default(),
            )
            .unwrap();
            let source = rtstate::Source::intern("typed-child");
            for seq in ring.version() + 1.. {
                assert_eq!(ring.publish(Pattern::of(seq), source).unwrap(), seq);
            }
        }
        // Waits through a typed reader for a publish on "typed".
        "typed_wait" => {
            let ring = rtstate::shm::SharedRing::<Pattern>::open_in(&dir, "typed").unwrap();
            let mut reader = ring.reader();
            let s = reader.wait(Duration::from_secs(60)).unwrap();
            std::fs::write(dir.join("woken"), s.version.to_string()).unwrap();
        }
        other => panic!("unknown child role {other}"),
    }
}

#[test]
fn create_then_open_reads_the_same_header() {
    let dir = TempDir::new("shm", "create");
    let created = Region::create_or_open_in(
        dir.path(),
        "drone1/fast_state",
        &fast_layout(),
        5,
        CreateOptions::default(),
    )
    .unwrap();
    let path = dir.path().join("rtstate.drone1~fast_state");
    assert_eq!(created.path(), path);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "owner-only by default");
    let opened = Region::open_in(dir.path(), "drone1/fast_state").unwrap();
    assert_eq!(opened.layout(), &fast_layout());
    assert_eq!(opened.geometry(), created.geometry());
    assert_eq!(opened.geometry().capacity, 5);
    assert_eq!(opened.geometry().slots, 8);
    assert_eq!(opened.version(), 0);
    // Creating again opens the same file (checking layout and capacity).
    let again = Region::create_or_open_in(
        dir.path(),
        "drone1/fast_state",
        &fast_layout(),
        5,
        CreateOptions::default(),
    )
    .unwrap();
    assert_eq!(again.geometry(), created.geometry());
    let err = Region::create_or_open_in(
        dir.path(),
        "drone1/fast_state",
        &fast_layout(),
        6,
        CreateOptions::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("capacity 5"), "{err}");
}

#[test]
fn a_mode_can_be_asked_for() {
    let dir = TempDir::new("shm", "mode");
    let options = CreateOptions {
        mode: 0o640,
        ..CreateOptions::default()
    };
    let r = Region::create_or_open_in(dir.path(), "m", &fast_layout(), 2, options).unwrap();
    let mode = std::fs::metadata(r.path()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640);
}

#[test]
fn opening_another_layout_shows_both() {
    let dir = TempDir::new("shm", "layout");
    Region::create_or_open_in(
        dir.path(),
        "cmd",
        &rtstate::control::pid::Command::layout(),
        4,
        CreateOptions::default(),
    )
    .unwrap();
    let err = Region::create_or_open_in(
        dir.path(),
        "cmd",
        &fast_layout(),
        4,
        CreateOptions::default(),
    )
    .unwrap_err();
    let ShmError::LayoutMismatch {
        expected, found, ..
    } = &err
    else {
        panic!("{err:?}");
    };
    assert!(
        expected.contains("angular_velocity: [f64; 3] @80"),
        "{expected}"
    );
    assert!(found.contains("yaw_rate: f64 @32"), "{found}");
    let message = err.to_string();
    assert!(message.contains(expected.as_str()) && message.contains(found.as_str()));
    // Through the crate's error type too.
    let e: Error = err.into();
    assert!(e.to_string().contains("expected {timestamp: f64 @0"));
}

#[test]
fn hostile_names_are_refused_before_touching_the_file_system() {
    let dir = TempDir::new("shm", "names");
    for name in [
        "../escape",
        "/etc/passwd",
        "a\0b",
        "a/../../b",
        "",
        "a//b",
        &"x".repeat(300),
    ] {
        let err = Region::create_or_open_in(
            dir.path(),
            name,
            &fast_layout(),
            2,
            CreateOptions::default(),
        )
        .unwrap_err();
        assert!(
            matches!(err, ShmError::InvalidName { .. }),
            "{name:?}: {err}"
        );
        assert!(matches!(
            Region::open_in(dir.path(), name),
            Err(ShmError::InvalidName { .. })
        ));
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn missing_buffer_is_not_found() {
    let dir = TempDir::new("shm", "missing");
    assert!(matches!(
        Region::open_in(dir.path(), "nobody"),
        Err(ShmError::NotFound { .. })
    ));
}

fn write_file(dir: &Path, name: &str, bytes: &[u8]) {
    let mut f = std::fs::File::create(dir.join(format!("rtstate.{name}"))).unwrap();
    f.write_all(bytes).unwrap();
}

#[test]
fn foreign_truncated_and_corrupted_files_are_errors_not_crashes() {
    let dir = TempDir::new("shm", "corrupt");
    let good = Region::create_or_open_in(
        dir.path(),
        "good",
        &fast_layout(),
        4,
        CreateOptions::default(),
    )
    .unwrap();
    let bytes = std::fs::read(good.path()).unwrap();
    drop(good);
    let expect_not_buffer = |name: &str, what: &str| match Region::open_in(dir.path(), name) {
        Err(ShmError::NotABuffer { reason, .. }) => {
            assert!(reason.contains(what), "{name}: {reason}")
        }
        other => panic!("{name}: {other:?}"),
    };
    write_file(dir.path(), "empty", b"");
    expect_not_buffer("empty", "size 0");
    write_file(dir.path(), "text", &b"hello world\n".repeat(1000)[..8192]);
    expect_not_buffer("text", "wrong magic");
    write_file(dir.path(), "zeros", &vec![0u8; 8192]);
    expect_not_buffer("zeros", "no magic");
    // Truncated to a multiple of 64 (and not).
    write_file(dir.path(), "short", &bytes[..bytes.len() - 64]);
    expect_not_buffer("short", "truncated");
    write_file(dir.path(), "odd", &bytes[..bytes.len() - 3]);
    expect_not_buffer("odd", "truncated");
    // Wrong version.
    let mut v = bytes.clone();
    v[8] = 99;
    write_file(dir.path(), "version", &v);
    expect_not_buffer("version", "format version 99");
    // Absurd counts and sizes in each header word, and a corrupted layout.
    for (offset, what) in [
        (16, "header size"),
        (24, "bytes"),
        (32, "slot count"),
        (40, "capacity"),
        (48, "slot size"),
        (56, "hash"),
        (64, "layout length"),
        (LAYOUT_OFFSET, "layout"),
        (LAYOUT_OFFSET + 8, "layout"),
        (88, "storage header size"),
    ] {
        for value in [0u64, 1, 0xffff_ffff, u64::MAX] {
            if offset == 40 && value == 1 {
                continue; // capacity 1 is valid
            }
            let mut b = bytes.clone();
            b[offset..offset + 8].copy_from_slice(&value.to_le_bytes());
            let name = format!("w{offset}_{value:x}");
            write_file(dir.path(), &name, &b);
            let err = Region::open_in(dir.path(), &name).unwrap_err();
            assert!(
                matches!(err, ShmError::NotABuffer { .. }),
                "{name} ({what}): {err}"
            );
        }
    }
    // A directory in place of the file.
    std::fs::create_dir(dir.path().join("rtstate.adir")).unwrap();
    assert!(Region::open_in(dir.path(), "adir").is_err());
    // Every single-byte flip of the fixed header is refused or accepted
    // consistently; none crashes.
    for i in 0..(LAYOUT_OFFSET + 256).min(bytes.len()) {
        let mut b = bytes.clone();
        b[i] ^= 0xa5;
        write_file(dir.path(), "flip", &b);
        if let Ok(r) = Region::open_in(dir.path(), "flip") {
            assert_eq!(r.geometry().file_size, bytes.len());
        }
    }
}

#[test]
fn a_second_writer_is_refused_naming_the_holder_and_a_dead_one_is_taken_over() {
    let dir = TempDir::new("shm", "writer");
    let mut child = spawn_child("hold_writer", dir.path(), &[]);
    let ready = dir.path().join("holder.ready");
    wait_for_file(&ready);
    let mut pid = String::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while pid.is_empty() {
        assert!(Instant::now() < deadline);
        pid = std::fs::read_to_string(&ready).unwrap();
    }
    let region = Region::open_in(dir.path(), "locked").unwrap();
    let err = region.take_writer().unwrap_err();
    assert_eq!(
        err,
        ShmError::WriterBusy {
            name: "locked".into(),
            pid: child.id()
        }
    );
    assert!(err.to_string().contains(&pid), "{err}");
    let listing = shm::list(Some(dir.path())).unwrap();
    let entry = listing[0].status.as_ref().unwrap();
    assert!(entry.writer_alive && entry.attached);
    assert_eq!(entry.writer_pid, child.id());
    // Nothing attached-but-alive is cleaned.
    assert!(shm::clean(Some(dir.path()), false).unwrap().is_empty());
    child.kill().unwrap();
    child.wait().unwrap();
    let listing = shm::list(Some(dir.path())).unwrap();
    let entry = listing[0].status.as_ref().unwrap();
    assert!(!entry.writer_alive);
    assert_eq!(entry.writer_pid, child.id());
    region.take_writer().unwrap();
    assert_eq!(
        rtstate::shm::region::ident_pid(region.writer()),
        std::process::id()
    );
    // A second handle in this process is refused too (one writing handle).
    let other = Region::open_in(dir.path(), "locked").unwrap();
    assert!(matches!(
        other.take_writer(),
        Err(ShmError::WriterBusy { .. })
    ));
    region.release_writer();
    other.take_writer().unwrap();
    other.release_writer();
}

#[test]
fn list_and_clean_see_every_file() {
    let dir = TempDir::new("shm", "list");
    let a = Region::create_or_open_in(
        dir.path(),
        "a/one",
        &fast_layout(),
        2,
        CreateOptions::default(),
    )
    .unwrap();
    let _row = a.claim_row().unwrap();
    Region::create_or_open_in(dir.path(), "b", &fast_layout(), 2, CreateOptions::default())
        .unwrap();
    write_file(dir.path(), "junk", b"not a buffer");
    std::fs::write(dir.path().join("unrelated"), b"x").unwrap();
    let listing = shm::list(Some(dir.path())).unwrap();
    let names: Vec<&str> = listing.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["a/one", "b", "junk"]);
    assert!(
        listing[0].status.as_ref().unwrap().attached,
        "a row is live"
    );
    assert!(!listing[1].status.as_ref().unwrap().attached);
    assert!(listing[2].status.is_err());
    assert_eq!(shm::clean(Some(dir.path()), false).unwrap(), ["b"]);
    assert_eq!(shm::clean(Some(dir.path()), true).unwrap(), ["junk"]);
    assert!(dir.path().join("unrelated").exists());
    assert!(dir.path().join("rtstate.a~one").exists());
}

#[test]
fn statistics_rows_are_summed_and_folded() {
    let dir = TempDir::new("shm", "rows");
    let r = Region::create_or_open_in(dir.path(), "s", &fast_layout(), 2, CreateOptions::default())
        .unwrap();
    let o = Region::open_in(dir.path(), "s").unwrap();
    let (r1, r2) = (r.claim_row().unwrap(), o.claim_row().unwrap());
    assert_ne!(r1, r2);
    r.add_reads(r1, 5);
    o.add_reads(r2, 7);
    o.add_lost(r2, 2);
    o.add_reader(r2, true);
    let c = r.counts();
    assert_eq!((c.reads, c.lost, c.readers, c.processes), (12, 2, 1, 2));
    o.release_row(r2);
    let c = r.counts();
    assert_eq!((c.reads, c.lost, c.readers, c.processes), (12, 2, 0, 1));
}

#[test]
fn source_names_are_shared_through_the_header() {
    let dir = TempDir::new("shm", "sources");
    let r = Region::create_or_open_in(dir.path(), "s", &fast_layout(), 2, CreateOptions::default())
        .unwrap();
    assert_eq!(r.source_index("estimator"), Some(0));
    assert_eq!(r.source_index("imu"), Some(1));
    assert_eq!(r.source_index("estimator"), Some(0));
    assert_eq!(r.source_index(&"x".repeat(40)), None, "too long");
    let o = Region::open_in(dir.path(), "s").unwrap();
    assert_eq!(o.source_name(1).as_deref(), Some("imu"));
    assert_eq!(o.source_name(2), None);
    assert_eq!(o.source_name(99), None);
    for i in 2..16 {
        assert_eq!(r.source_index(&format!("s{i}")), Some(i));
    }
    assert_eq!(r.source_index("one-too-many"), None, "table full");
}

#[test]
fn versions_history_and_lost_across_handles() {
    let dir = TempDir::new("shm", "versions");
    let writer = RawBuffer::create_in(
        dir.path(),
        "v",
        &Pattern::layout(),
        3,
        CreateOptions::default(),
    )
    .unwrap();
    let other = RawBuffer::open_in(dir.path(), "v").unwrap();
    assert_eq!(other.peek(), None);
    let mut reader = other.reader();
    assert!(!reader.updated());
    for i in 1..=5 {
        assert_eq!(
            writer
                .publish(bytemuck::bytes_of(&Pattern::of(i)), Some(i as f64), "est")
                .unwrap(),
            i
        );
    }
    assert!(reader.updated());
    let s = reader.read_if_updated().unwrap();
    assert_eq!((s.version, Pattern::from_bytes(&s.bytes).check()), (5, 5));
    assert_eq!(s.timestamp, 5.0);
    assert_eq!(s.source.as_deref(), Some("est"));
    assert_eq!(reader.lost(), 4);
    assert!(reader.read_if_updated().is_none());
    let versions: Vec<u64> = other.history().iter().map(|s| s.version).collect();
    assert_eq!(versions, [3, 4, 5]);
    assert_eq!(
        other.state_at(3.2, Duration::from_secs(1)).unwrap().version,
        3
    );
    assert!(other.state_at(100.0, Duration::from_secs(1)).is_none());
    let stats = writer.statistics();
    assert_eq!((stats.updates, stats.lost, stats.readers), (5, 4, 1));
    assert!(stats.reads >= 1);
    assert_eq!(stats.writer_pid, std::process::id());
    assert!(stats.writer_alive);
    assert_eq!(stats.stale_reads, 1);
    // A reader of another handle cannot write while this process writes
    // through `writer`.
    assert!(matches!(
        other.publish(bytemuck::bytes_of(&Pattern::of(6)), None, "x"),
        Err(Error::Shared(ShmError::WriterBusy { .. }))
    ));
    // Wrong sizes and values are refused before anything is written.
    assert!(writer.publish(&[0u8; 3], None, "x").is_err());
    assert!(matches!(
        writer.publish(bytemuck::bytes_of(&Pattern::of(6)), Some(f64::NAN), "x"),
        Err(Error::NonFinite { .. })
    ));
    // A reset restarts versions; readers follow it.
    writer.reset().unwrap();
    assert_eq!(other.version(), 0);
    assert!(other.peek().is_none() && other.history().is_empty());
    writer
        .publish(bytemuck::bytes_of(&Pattern::of(6)), None, "est")
        .unwrap();
    let s = reader.read_if_updated().unwrap();
    assert_eq!((s.version, Pattern::from_bytes(&s.bytes).check()), (1, 6));
    drop(reader);
    assert_eq!(writer.statistics().readers, 0);
    // Closing ends waits in every process and refuses publishes.
    writer.close();
    assert!(matches!(
        other.wait_for_update(1, Duration::from_secs(5)),
        Err(Error::Closed)
    ));
    assert!(matches!(
        writer.publish(bytemuck::bytes_of(&Pattern::of(7)), None, "x"),
        Err(Error::Closed)
    ));
}

#[test]
fn a_wait_is_woken_through_the_futex_in_another_thread_and_times_out() {
    let dir = TempDir::new("shm", "futex");
    let writer = RawBuffer::create_in(
        dir.path(),
        "w",
        &Pattern::layout(),
        2,
        CreateOptions::default(),
    )
    .unwrap();
    let reader = RawBuffer::open_in(dir.path(), "w").unwrap();
    assert!(matches!(
        reader.wait_for_update(0, Duration::from_millis(20)),
        Err(Error::Timeout(_))
    ));
    assert_eq!(reader.region().waiting(), 0);
    let waiter = std::thread::spawn(move || reader.wait_for_update(0, Duration::from_secs(60)));
    let deadline = Instant::now() + Duration::from_secs(30);
    while writer.region().waiting() == 0 {
        assert!(Instant::now() < deadline, "the waiter never registered");
        std::thread::sleep(Duration::from_millis(1));
    }
    writer
        .publish(bytemuck::bytes_of(&Pattern::of(1)), None, "w")
        .unwrap();
    assert_eq!(waiter.join().unwrap().unwrap(), 1);
    assert_eq!(writer.region().waiting(), 0);
}

#[test]
fn a_wait_in_another_process_is_woken_by_a_publish() {
    let dir = TempDir::new("shm", "futex-proc");
    let writer = RawBuffer::create_in(
        dir.path(),
        "stream",
        &Pattern::layout(),
        8,
        CreateOptions::default(),
    )
    .unwrap();
    let mut child = spawn_child("wait_once", dir.path(), &[]);
    wait_for_a_waiter(writer.region(), &mut child);
    writer
        .publish(bytemuck::bytes_of(&Pattern::of(1)), None, "w")
        .unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(
        std::fs::read_to_string(dir.path().join("woken")).unwrap(),
        "1"
    );
    assert_eq!(writer.region().waiting(), 0);
}

/// Reads `stream` as fast as possible while `child` writes it, checking
/// every copy is whole and versions never go back; returns the reads made.
fn read_while_running(buffer: &RawBuffer, child: &mut Child, until_version: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut reader = buffer.reader();
    let (mut last, mut reads) = (0, 0);
    loop {
        if let Some(s) = reader.read() {
            let seq = Pattern::from_bytes(&s.bytes).check();
            assert!(
                s.version >= last,
                "version went back: {} after {last}",
                s.version
            );
            assert_eq!(seq, s.version, "the state does not belong to its version");
            last = s.version;
            reads += 1;
        }
        if last >= until_version || child.try_wait().unwrap().is_some() {
            return reads;
        }
        assert!(Instant::now() < deadline, "the writer is too slow");
    }
}

#[test]
fn no_torn_read_across_processes_and_a_killed_writer_is_taken_over() {
    let dir = TempDir::new("shm", "torn");
    let mut child = spawn_child("writer_flat_out", dir.path(), &[]);
    wait_for_file(&dir.path().join("rtstate.stream"));
    let buffer = loop {
        match RawBuffer::open_in(dir.path(), "stream") {
            Ok(b) => break b,
            Err(_) => std::thread::sleep(Duration::from_millis(2)),
        }
    };
    let reads = read_while_running(&buffer, &mut child, 20_000);
    assert!(reads > 0);
    // SIGKILL mid-stream: the last complete version stays readable.
    child.kill().unwrap();
    child.wait().unwrap();
    let last = buffer.peek().unwrap();
    assert_eq!(Pattern::from_bytes(&last.bytes).check(), last.version);
    let stats = buffer.statistics();
    assert!(!stats.writer_alive);
    assert_eq!(stats.writer_pid, child.id());
    assert!(stats.latest_age.unwrap() >= 0.0);
    // A new writer (another process) continues the sequence.
    let mut next = spawn_child(
        "writer_flat_out",
        dir.path(),
        &[("RTSTATE_SHM_COUNT", "10")],
    );
    assert!(next.wait().unwrap().success());
    let s = buffer.peek().unwrap();
    assert_eq!(s.version, last.version + 10);
    assert_eq!(Pattern::from_bytes(&s.bytes).check(), s.version);
    // It released the lock on exit; this process can now write.
    buffer
        .publish(bytemuck::bytes_of(&Pattern::of(s.version + 1)), None, "me")
        .unwrap();
    assert_eq!(buffer.version(), last.version + 11);
}

#[test]
fn typed_rings_check_the_layout_and_read_whole_states() {
    use rtstate::control::pid::Command;
    use rtstate::shm::SharedRing;
    use rtstate::Source;
    let dir = TempDir::new("shm", "typed");
    let options = CreateOptions::default();
    let writer = SharedRing::<FastDroneState>::create_in(dir.path(), "d/fast", 5, options).unwrap();
    let state = FastDroneState::new(12.5, [1.0, 2.0, 3.0], [0.5; 3], [0.0; 3], [0.0; 3]).unwrap();
    assert_eq!(
        writer.publish(state, Source::intern("estimator")).unwrap(),
        1
    );
    let reader_ring = SharedRing::<FastDroneState>::open_in(dir.path(), "d/fast").unwrap();
    let mut reader = reader_ring.reader();
    let s = reader.read().unwrap();
    assert_eq!(s.state, state);
    assert_eq!(s.timestamp, 12.5, "the state's own timestamp field");
    assert_eq!(s.source.as_str(), "estimator");
    let bad = FastDroneState {
        timestamp: f64::INFINITY,
        ..state
    };
    let refused = writer.publish(bad, Source::UNKNOWN).unwrap_err();
    assert_eq!(refused.state, bad);
    assert!(matches!(
        refused.error,
        Error::NonFinite { field: "timestamp" }
    ));
    let err = SharedRing::<Command>::open_in(dir.path(), "d/fast").unwrap_err();
    assert!(
        err.to_string().contains("yaw_rate: f64 @32")
            && err.to_string().contains("angular_velocity: [f64; 3] @80"),
        "{err}"
    );
    let cmd = SharedRing::<Command>::create_in(dir.path(), "d/cmd", 2, options).unwrap();
    cmd.publish(Command::default(), Source::UNKNOWN).unwrap();
    assert_eq!(cmd.history().len(), 1);
}

#[test]
fn racing_creators_and_openers_never_see_a_half_built_file() {
    let dir = TempDir::new("shm", "race");
    let path = dir.path().to_path_buf();
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let path = path.clone();
            std::thread::spawn(move || {
                for round in 0..20 {
                    let name = format!("r{round}");
                    if i % 2 == 0 {
                        Region::create_or_open_in(
                            &path,
                            &name,
                            &fast_layout(),
                            4,
                            CreateOptions::default(),
                        )
                        .unwrap();
                    } else {
                        match Region::open_in(&path, &name) {
                            Ok(r) => assert_eq!(r.layout(), &fast_layout()),
                            Err(ShmError::NotFound { .. }) => {}
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 20, "no temporary file left: {names:?}");
    // A creator that died mid-creation leaves a temporary file; clean
    // removes it (its pid is no longer running).
    let mut dead = Command::new("true").spawn().unwrap();
    dead.wait().unwrap();
    let stale = dir
        .path()
        .join(format!("{}{}.0", shm::region::INIT_PREFIX, dead.id()));
    std::fs::write(&stale, b"half").unwrap();
    shm::clean(Some(dir.path()), false).unwrap();
    assert!(!stale.exists());
}

#[test]
fn the_generic_buffer_on_the_mapped_storage_works_across_processes() {
    use rtstate::shm::SharedRing;
    use rtstate::{Policy, Source};
    let dir = TempDir::new("shm", "typed-proc");
    // A reader process waiting through the futex is woken by a publish here.
    let ring =
        SharedRing::<Pattern>::create_in(dir.path(), "typed", 8, CreateOptions::default()).unwrap();
    let sub = ring.subscribe(4, Policy::DropOldest).unwrap();
    let mut child = spawn_child("typed_wait", dir.path(), &[]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while ring.region().waiting() == 0 {
        assert!(Instant::now() < deadline, "the child never waited");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the child exited early"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    ring.publish(Pattern::of(1), Source::intern("parent"))
        .unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(
        std::fs::read_to_string(dir.path().join("woken")).unwrap(),
        "1"
    );
    // In-process subscriptions of the writing process still work.
    assert_eq!(sub.try_recv().unwrap().version, 1);
    // A reset: versions restart, sequence numbers (stamps) go on.
    ring.reset();
    assert_eq!(ring.version(), 0);
    ring.publish(Pattern::of(1), Source::UNKNOWN).unwrap();
    drop(sub);
    drop(ring);

    // A writer process flat out: every typed read here is whole and in
    // order; killed mid-stream, the last whole state stays; a new writer
    // continues.
    let reader_ring = SharedRing::<Pattern>::open_in(dir.path(), "typed").unwrap();
    let mut child = spawn_child("typed_flat_out", dir.path(), &[]);
    let mut reader = reader_ring.reader();
    let (mut last, deadline) = (0, Instant::now() + Duration::from_secs(120));
    while last < last_target(&reader_ring) {
        if let Some(s) = reader.read() {
            assert_eq!(s.state.check(), s.version, "torn or mismatched");
            assert!(s.version >= last);
            last = s.version;
        }
        assert!(Instant::now() < deadline, "the writer is too slow");
        assert!(child.try_wait().unwrap().is_none(), "the writer died");
    }
    assert!(reader.lost() > 0 || last > 0);
    // This process cannot write while the child does.
    let refused = reader_ring
        .publish(Pattern::of(0), Source::UNKNOWN)
        .unwrap_err();
    assert_eq!(
        refused.error,
        Error::Shared(ShmError::WriterBusy {
            name: "typed".into(),
            pid: child.id()
        })
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let s = reader_ring.peek().unwrap();
    assert_eq!(s.state.check(), s.version);
    assert_eq!(s.source.as_str(), "typed-child");
    let v = reader_ring
        .publish(Pattern::of(s.version + 1), Source::UNKNOWN)
        .unwrap();
    assert_eq!(v, s.version + 1, "the sequence continues");
    // A close reaches every handle.
    let other = SharedRing::<Pattern>::open_in(dir.path(), "typed").unwrap();
    reader_ring.close();
    assert!(other.is_closed());
    assert!(matches!(
        other.wait_for_update(v, Duration::from_secs(5)),
        Err(Error::Closed)
    ));
}

/// Reads until the flat-out writer has published this many versions.
fn last_target<T: rtstate::layout::PodLayout + Send + Sync>(
    _ring: &rtstate::shm::SharedRing<T>,
) -> u64 {
    20_000
}

#[test]
fn a_live_readers_reads_reach_the_header_without_dropping_it() {
    use rtstate::shm::SharedRing;
    use rtstate::Source;
    let dir = TempDir::new("shm", "flush");
    let writer =
        SharedRing::<FastDroneState>::create_in(dir.path(), "d/flush", 4, CreateOptions::default())
            .unwrap();
    writer
        .publish(FastDroneState::default(), Source::UNKNOWN)
        .unwrap();
    // Another handle, as another process would open it.
    let ring = SharedRing::<FastDroneState>::open_in(dir.path(), "d/flush").unwrap();
    let mut reader = ring.reader();
    for _ in 0..1000 {
        assert!(reader.read().is_some());
    }
    // The header (what other processes see) holds at least the flushed
    // reads of the live reader, and never more than it made.
    let seen = writer.region().counts().reads;
    assert!((768..=1000).contains(&seen), "{seen}");
    // This process's statistics count each read once.
    assert_eq!(ring.statistics().reads, 1000);
    drop(reader);
    assert_eq!(writer.region().counts().reads, 1000);
    assert_eq!(ring.statistics().reads, 1000);
}

#[test]
fn a_waiter_killed_while_waiting_is_taken_out_of_the_waiter_count() {
    use rtstate::shm::region::SWEEP_EVERY;
    use rtstate::shm::SharedRing;
    let dir = TempDir::new("shm", "dead-waiter");
    let writer =
        SharedRing::<Pattern>::create_in(dir.path(), "typed", 8, CreateOptions::default()).unwrap();
    for round in 0..2 {
        let mut child = spawn_child("typed_wait", dir.path(), &[]);
        wait_for_a_waiter(writer.region(), &mut child);
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(writer.region().waiting(), 1, "killed while counted");
        if round == 0 {
            // Taken out explicitly...
            assert_eq!(writer.region().reap_dead_waiters(), 1);
        } else {
            // ... or by the publisher's periodic look.
            for _ in 0..SWEEP_EVERY {
                writer
                    .publish(Pattern::of(writer.version() + 1), rtstate::Source::UNKNOWN)
                    .unwrap();
            }
        }
        assert_eq!(writer.region().waiting(), 0, "round {round}");
    }
}

#[test]
fn publishing_at_a_chosen_version_in_shared_memory() {
    use rtstate::shm::SharedRing;
    use rtstate::Source;
    let dir = TempDir::new("shm", "at-version");
    // Typed ring on the mapped storage (capacity 3, 4 slots).
    let options = CreateOptions::default();
    let ring = SharedRing::<Pattern>::create_in(dir.path(), "typed", 3, options).unwrap();
    let other = SharedRing::<Pattern>::open_in(dir.path(), "typed").unwrap();
    let mut reader = other.reader();
    let at = |seq: u64, version: u64| {
        ring.publish_at_version(Pattern::of(seq), Source::UNKNOWN, version)
            .map_err(|e| e.error)
    };
    assert_eq!(at(1, 1).unwrap(), 1);
    assert_eq!(at(3, 3).unwrap(), 3);
    assert_eq!(at(10, 10).unwrap(), 10);
    let held: Vec<(u64, u64)> = other
        .history()
        .iter()
        .map(|s| (s.version, s.state.check()))
        .collect();
    assert_eq!(held, [(10, 10)], "skipped versions are absent");
    assert_eq!(
        at(4, 4).unwrap_err(),
        Error::VersionNotNewer {
            version: 4,
            latest: 10
        }
    );
    assert_eq!(other.version(), 10);
    let s = reader.read_if_updated().unwrap();
    assert_eq!((s.version, s.state.check()), (10, 10));
    assert_eq!(reader.lost(), 9);
    assert_eq!(other.statistics().updates, 3);

    // The run-time layout buffer.
    let raw = RawBuffer::create_in(dir.path(), "raw", &Pattern::layout(), 3, options).unwrap();
    let raw_other = RawBuffer::open_in(dir.path(), "raw").unwrap();
    let mut raw_reader = raw_other.reader();
    let bytes = |seq: u64| bytemuck::bytes_of(&Pattern::of(seq)).to_vec();
    assert_eq!(raw.publish_at_version(&bytes(2), None, "m", 2).unwrap(), 2);
    assert_eq!(raw.publish_at_version(&bytes(5), None, "m", 5).unwrap(), 5);
    assert_eq!(raw.publish(&bytes(6), None, "m").unwrap(), 6);
    let held: Vec<(u64, u64)> = raw_other
        .history()
        .iter()
        .map(|s| (s.version, Pattern::from_bytes(&s.bytes).check()))
        .collect();
    assert_eq!(held, [(5, 5), (6, 6)]);
    assert_eq!(
        raw.publish_at_version(&bytes(9), None, "m", 6),
        Err(Error::VersionNotNewer {
            version: 6,
            latest: 6
        })
    );
    let s = raw_reader.read_if_updated().unwrap();
    assert_eq!((s.version, Pattern::from_bytes(&s.bytes).check()), (6, 6));
    assert_eq!(raw_reader.lost(), 5);
    let stats = raw_other.statistics();
    assert_eq!((stats.current_version, stats.updates), (6, 3));
    // After a reset versions restart from the new base.
    raw.reset().unwrap();
    assert_eq!(raw.publish_at_version(&bytes(1), None, "m", 1).unwrap(), 1);
    assert_eq!(raw_other.version(), 1);
    assert_eq!(raw_other.statistics().updates, 1);
}
