//! A fresh directory under the system temp dir, removed on drop: the test
//! files' buffer directories and recordings (`#[path]`-included by each).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A fresh directory, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    /// `rtstate-<suite>-test-<tag>-<pid>-<n>` under the system temp dir.
    pub fn new(suite: &str, tag: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "rtstate-{suite}-test-{tag}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
