//! The memory mapping of a shared buffer's file, and the futex calls on a
//! word in it. The only module of `shm` with `unsafe` code: `mmap`,
//! `munmap`, the two `futex` calls, and the casts that turn the mapped
//! bytes into atomics.
//!
//! # Safety
//!
//! Why no access through a [`Mapping`] can touch memory outside it:
//!
//! - [`Mapping::new`] maps exactly `len` bytes, where `len` is the file's
//!   size as `fstat` reports it on the descriptor being mapped, checked to
//!   be non-zero and a multiple of 64 before the call. `mmap` returns
//!   page-aligned memory, so the first byte is aligned for `AtomicU64`.
//! - The only views handed out are a `&[AtomicU64]` of exactly `len / 8`
//!   words, one `&AtomicU32` at a fixed offset inside the first
//!   [`FUTEX_OFFSET`]` + 4 ≤ len` bytes (checked in `new`), and the
//!   buffer's `storage::Header` (a `#[repr(C)]` struct of `AtomicU64`s)
//!   at an offset checked in bounds and aligned before the cast. Every other
//!   access is safe, bounds-checked slice indexing; header values (sizes,
//!   counts, offsets) are validated against `len` by the safe code in
//!   `shm/header.rs` before they are used as indices, and an index that is
//!   still wrong panics in the slice indexing instead of reading outside.
//! - Everything else in the file may be written by other processes at any
//!   time, so it is only ever accessed through atomics (no `&[u8]` over the
//!   mapping exists): there is no data race in Rust's model, and any bit
//!   pattern is a valid `u64`. The `AtomicU32` word's bytes are never
//!   accessed through the `u64` view (callers keep to that rule), so no
//!   mixed-size access happens.
//! - The views borrow the `Mapping`, and `munmap` runs only in `Drop`, so no
//!   view outlives the mapping.
//! - `futex(FUTEX_WAIT)` and `futex(FUTEX_WAKE)` take the address of the
//!   `AtomicU32` (valid and aligned for the call) and, for the wait, a
//!   `timespec` on the stack; the kernel keeps neither after returning.
//!   The operations are not `FUTEX_PRIVATE_FLAG`, so they work across
//!   processes mapping the same file.
//!
//! # Limitations
//!
//! Another process of the same user may truncate the file after it is
//! mapped; an access past the new end then raises `SIGBUS` (as with any
//! shared memory file: iceoryx and POSIX `shm_open` users share this). The
//! files are created `0600`, so only the owner can do so.

#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64}; // shim-exempt: words of the mapped file; loom cannot model mapped memory (the futex handshake is modelled in wake.rs)
use std::time::Duration;

/// The byte offset of the futex word (an `AtomicU32`) in every mapping.
pub(crate) const FUTEX_OFFSET: usize = 256;

/// A shared read-write mapping of a whole file.
pub(crate) struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is plain shared memory accessed only through atomics;
// the pointer is not tied to the thread that created it.
unsafe impl Send for Mapping {}
// SAFETY: as above; `&Mapping` hands out only atomic views.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Maps all of `file` (opened read-write), whose size must be a
    /// non-zero multiple of 64 covering the futex word.
    pub(crate) fn new(file: &File) -> io::Result<Mapping> {
        let len = file.metadata()?.len();
        let len = usize::try_from(len)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "file too large"))?;
        if len == 0 || len % 64 != 0 || len < FUTEX_OFFSET + 4 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("file size {len} is not a valid buffer size"),
            ));
        }
        // SAFETY: a fresh shared mapping of `len` bytes of a descriptor we
        // hold open for the duration of the call (the mapping keeps its own
        // reference to the file); null hint, so no existing mapping is
        // replaced.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr =
            NonNull::new(ptr.cast::<u8>()).ok_or_else(|| io::Error::other("mmap returned null"))?;
        Ok(Mapping { ptr, len })
    }

    /// The mapping's length in bytes (the file size when it was mapped).
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The whole mapping as 64-bit words.
    #[inline(always)]
    pub(crate) fn words(&self) -> &[AtomicU64] {
        // SAFETY: `ptr` is page-aligned and valid for `len` bytes (a
        // multiple of 8) for as long as `self` lives; AtomicU64 has the
        // size and alignment of u64 and every bit pattern is valid; all
        // accesses through it are atomic (see the module docs).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().cast::<AtomicU64>(), self.len / 8) }
    }

    /// The futex word at [`FUTEX_OFFSET`].
    pub(crate) fn futex_word(&self) -> &AtomicU32 {
        // SAFETY: FUTEX_OFFSET + 4 ≤ len (checked in `new`) and
        // FUTEX_OFFSET is a multiple of 4 from a page-aligned base; the
        // word's bytes are accessed only through this view.
        unsafe { &*self.ptr.as_ptr().add(FUTEX_OFFSET).cast::<AtomicU32>() }
    }

    /// The buffer's [`Header`](crate::storage::Header) (sequence words and
    /// counters) at byte `offset` of the mapping.
    ///
    /// Panics if it would not fit or is misaligned (callers pass the fixed
    /// offset validated against the file size).
    #[inline(always)]
    pub(crate) fn storage_header(&self, offset: usize) -> &crate::storage::Header {
        use crate::storage::Header;
        let end = offset.checked_add(std::mem::size_of::<Header>());
        if !(end.is_some_and(|e| e <= self.len)
            && offset.is_multiple_of(std::mem::align_of::<Header>()))
        {
            out_of_mapping();
        }
        // SAFETY: in bounds and aligned (checked above, from a page-aligned
        // base); `Header` is `#[repr(C)]` and holds only `AtomicU64`s (in
        // `CachePadded` wrappers), for which every bit pattern is valid, and
        // which are only ever accessed atomically; the bytes it covers are
        // never accessed through the `u64` view (`region.rs` keeps its own
        // words elsewhere). The reference borrows `self`.
        unsafe { &*self.ptr.as_ptr().add(offset).cast::<Header>() }
    }

    /// Blocks while the futex word holds `expected`, for at most
    /// `timeout` (`None`: no limit). Returns on a wake, a timeout, a
    /// signal, or at once if the word differs; callers re-check their
    /// condition.
    pub(crate) fn futex_wait(&self, expected: u32, timeout: Option<Duration>) {
        let ts = timeout.map(|t| libc::timespec {
            tv_sec: t.as_secs().min(i64::MAX as u64) as libc::time_t,
            tv_nsec: t.subsec_nanos() as libc::c_long,
        });
        let ts_ptr = ts
            .as_ref()
            .map_or(std::ptr::null(), |t| t as *const libc::timespec);
        // SAFETY: the address is our mapped, aligned AtomicU32 (see
        // `futex_word`); `ts_ptr` is null or points to a timespec on this
        // stack frame; the remaining arguments are unused by FUTEX_WAIT.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                self.futex_word().as_ptr(),
                libc::FUTEX_WAIT,
                expected,
                ts_ptr,
                std::ptr::null::<u32>(),
                0u32,
            );
        }
    }

    /// Wakes every process and thread waiting on the futex word.
    pub(crate) fn futex_wake_all(&self) {
        // SAFETY: as in `futex_wait`; FUTEX_WAKE reads only the address and
        // the count.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                self.futex_word().as_ptr(),
                libc::FUTEX_WAKE,
                i32::MAX,
                std::ptr::null::<libc::timespec>(),
                std::ptr::null::<u32>(),
                0u32,
            );
        }
    }
}

#[cold]
#[inline(never)]
fn out_of_mapping() -> ! {
    panic!("storage header out of the mapping")
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly what `new` mapped; no view outlives `self`
        // (they borrow it).
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
}

impl std::fmt::Debug for Mapping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mapping").field("len", &self.len).finish()
    }
}
