//! The wake-up descriptor of a subscription (see the module docs of
//! `subscription`): a std [`Waker`] that makes an `eventfd` (Linux) or a
//! socket pair readable, from any thread, without the interpreter.

use pyo3::prelude::*;
use std::io::Write;
use std::os::fd::IntoRawFd;
use std::sync::Arc;
use std::task::{Wake, Waker};

/// A std waker that makes a descriptor readable: callable from any thread,
/// no interpreter needed.
struct FdWaker {
    file: std::fs::File,
}

impl Wake for FdWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // An eventfd adds 1 to its counter (8 bytes, native order); a socket
        // takes one byte. Either way the read side becomes readable. A full
        // socket (EAGAIN) already holds an unread wake-up, an eventfd cannot
        // overflow before 2^64 − 2 unread wake-ups; any other error leaves
        // nothing to do (the reader is gone).
        let one = 1u64.to_ne_bytes();
        let len = if cfg!(target_os = "linux") { 8 } else { 1 };
        let _ = (&self.file).write(&one[..len]);
    }
}

/// A waker and the raw read side of its descriptor (nonblocking,
/// close-on-exec), whose ownership passes to the caller. On Linux both
/// sides are descriptors of one `eventfd`, so that the glue can close its
/// side without closing the waker's.
#[cfg(target_os = "linux")]
pub(super) fn fd_waker() -> PyResult<(Waker, i32)> {
    let write = crate::control::rt::eventfd()?;
    let read = write.try_clone()?;
    let file = std::fs::File::from(write);
    Ok((Waker::from(Arc::new(FdWaker { file })), read.into_raw_fd()))
}

/// A waker and the raw read end of its socket pair (elsewhere than Linux).
#[cfg(not(target_os = "linux"))]
pub(super) fn fd_waker() -> PyResult<(Waker, i32)> {
    let (tx, rx) = std::os::unix::net::UnixStream::pair()?;
    tx.set_nonblocking(true)?;
    rx.set_nonblocking(true)?;
    let file = std::fs::File::from(std::os::fd::OwnedFd::from(tx));
    Ok((Waker::from(Arc::new(FdWaker { file })), rx.into_raw_fd()))
}
