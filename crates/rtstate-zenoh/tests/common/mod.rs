//! Helpers of the bridge's tests: a private shared-memory directory per
//! test binary, unix-socket endpoints, session pairs, a user layout.
#![allow(dead_code)]

use rtstate_zenoh::ZenohOptions;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Every wait in these tests gives up after this long.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// A user's own layout.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Wheel {
    pub timestamp: f64,
    pub speed: [f32; 4],
    pub ticks: u64,
}
rtstate::layout!(Wheel {
    timestamp: f64,
    speed: [f32; 4],
    ticks: u64
});

impl rtstate::State for Wheel {
    fn timestamp(&self) -> Option<f64> {
        Some(self.timestamp)
    }
}

/// This test binary's directory (shared memory files, sockets), set as
/// `RTSTATE_SHM_DIR` before any buffer is made.
pub fn dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!(
            "rtstate-zenoh-test-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        std::env::set_var("RTSTATE_SHM_DIR", &dir);
        dir
    })
}

/// Removes this binary's directory when a test ends (the last one out
/// removes it; a directory left by a crashed run is in the temp dir).
pub struct Cleanup;

static RUNNING: Mutex<usize> = Mutex::new(0);

impl Cleanup {
    pub fn new() -> Cleanup {
        let mut running = RUNNING.lock().unwrap_or_else(|p| p.into_inner());
        *running += 1;
        std::fs::create_dir_all(dir()).unwrap();
        Cleanup
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let mut running = RUNNING.lock().unwrap_or_else(|p| p.into_inner());
        *running -= 1;
        if *running == 0 {
            let _ = std::fs::remove_dir_all(dir());
        }
    }
}

/// A fresh unix-socket endpoint in this binary's directory.
pub fn endpoint() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!(
        "unixsock-stream/{}",
        dir().join(format!("z{n}.sock")).display()
    )
}

/// A TCP endpoint on a free loopback port.
pub fn tcp_endpoint() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    format!("tcp/127.0.0.1:{port}")
}

/// A session listening on `listen`.
pub fn listener(listen: &str) -> zenoh::Session {
    ZenohOptions::loopback_peer(&[listen], &[]).open().unwrap()
}

/// A session connected to `connect`.
pub fn connector(connect: &str) -> zenoh::Session {
    ZenohOptions::loopback_peer(&[], &[connect]).open().unwrap()
}

/// Polls `f` until it returns `Some`, up to [`TIMEOUT`].
pub fn eventually<R>(what: &str, mut f: impl FnMut() -> Option<R>) -> R {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(r) = f() {
            return r;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub fn now() -> f64 {
    rtstate::Clock::System.wall()
}

pub fn wheel(ticks: u64) -> Wheel {
    Wheel {
        timestamp: now(),
        speed: [ticks as f32, 1.0, 2.0, 3.0],
        ticks,
    }
}

pub fn drone(i: u64) -> rtstate::FastDroneState {
    rtstate::FastDroneState {
        timestamp: now(),
        position: [i as f64, 2.0, 3.0],
        ..Default::default()
    }
}
