//! A buffer's file: header layout, creation, validated opening, the writer
//! lock, per-process statistics rows, the futex words and the directory
//! listing. Safe code over the atomic words that `map.rs` hands out.
//!
//! # Header
//!
//! Offsets in bytes; every field is a native-endian `u64` word unless
//! noted. Words 0-10 are written once by the creator before the magic (the
//! magic is stored last, `Release`), and never change.
//!
//! | offset | field |
//! | --- | --- |
//! | 0 | magic `b"rtstate\0"` (as a little-endian `u64`) |
//! | 8 | format version ([`FORMAT_VERSION`]) |
//! | 16 | header size = offset of slot 0 (multiple of 64) |
//! | 24 | file size |
//! | 32 | slot count `K` (a power of two ≥ 2) |
//! | 40 | history capacity (`1 ≤ capacity < K`) |
//! | 48 | slot size in bytes (multiple of 64) |
//! | 56 | layout hash (FNV-1a 64 of the layout block) |
//! | 64 | layout block length in bytes |
//! | 72 | creation time, wall-clock ns |
//! | 80 | state size in bytes |
//! | 88 | size of the storage header at 3072 (checked: same build family) |
//! | 192 | writer: `start_time << 22 \| pid` of the writing process, 0 if none |
//! | 200 | last writer (same encoding; kept after the writer leaves) |
//! | 208 | closed flag |
//! | 256 | futex word (`u32`, wake-up sequence) |
//! | 264 | waiters (threads blocked on the futex word, all processes) |
//! | 320 | reads by processes that have detached |
//! | 328 | lost, likewise |
//! | 336 | stale reads, likewise |
//! | 512 | 32 process rows of 64 bytes: owner, reads, lost, stale, readers, waiters |
//! | 2560 | 16 source names of 32 bytes: length byte, then UTF-8 |
//! | 3072 | the crate's storage [`Header`]: `latest` (sequence number of the latest publish), `base` (`latest` at the last reset; version = seq − base), resets, read counters (see [`crate::storage`]) |
//! | 3072 + its size, rounded to 64 | layout block ([`Layout::encode`]), padded to 64 |
//! | header size | `K` slots: stamp, version, timestamp, published_at, published_ns, source index, state words |
//!
//! Everything a reader uses is checked before use: the file size (from
//! `fstat`) is what was mapped; the magic and format; header size, slot
//! count, capacity, slot size and state size are consistent with each other
//! and with the file size (checked arithmetic); the layout block decodes,
//! hashes to the recorded hash and describes the recorded state size.

use super::map::{Mapping, FUTEX_OFFSET};
use super::name::{name_of_file, path_in, shm_dir, FILE_PREFIX};
use super::wake::{self, WakeWords};
use super::ShmError;
use crate::layout::Layout;
use crate::storage::stamped::slot_words;
use crate::storage::Header;
use crate::sync::Ordering;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64; // shim-exempt: words of the mapped file (loom cannot model mapped memory; the futex handshake is modelled in wake.rs)
use std::sync::OnceLock;
use std::time::Duration;

/// The prefix of a buffer file being created (linked to its name once
/// its header is complete; left behind only by a process that died while
/// creating, and removed by [`clean`]).
pub const INIT_PREFIX: &str = ".rtstate-init.";

/// `b"rtstate\0"` read as a little-endian word.
pub const MAGIC: u64 = u64::from_le_bytes(*b"rtstate\0");
/// The header format this build reads and writes.
pub const FORMAT_VERSION: u64 = 1;

const W_MAGIC: usize = 0;
const W_FORMAT: usize = 1;
const W_HEADER_SIZE: usize = 2;
const W_FILE_SIZE: usize = 3;
const W_SLOTS: usize = 4;
const W_CAPACITY: usize = 5;
const W_SLOT_SIZE: usize = 6;
const W_LAYOUT_HASH: usize = 7;
const W_LAYOUT_LEN: usize = 8;
const W_CREATED_NS: usize = 9;
const W_STATE_SIZE: usize = 10;
const W_STORAGE_HEADER_SIZE: usize = 11;
const W_WRITER: usize = 24;
const W_LAST_WRITER: usize = 25;
const W_CLOSED: usize = 26;
const W_WAITERS: usize = 33;
const W_RETIRED_READS: usize = 40;
const W_RETIRED_LOST: usize = 41;
const W_RETIRED_STALE: usize = 42;
const ROWS_WORD: usize = 64;
/// Process rows in the header.
pub const ROWS: usize = 32;
const ROW_WORDS: usize = 8;
const SOURCES_WORD: usize = 320;
/// Source names the header can hold.
pub const SOURCES: usize = 16;
const SOURCE_WORDS: usize = 4;
/// Where the buffer's [`Header`] (sequence words, read counters) lives.
const STORAGE_HEADER_OFFSET: usize = 3072;
/// Where the layout block starts (after the storage header).
pub const LAYOUT_OFFSET: usize =
    (STORAGE_HEADER_OFFSET + std::mem::size_of::<Header>()).div_ceil(64) * 64;
/// Metadata words before the state in a slot.
pub const SLOT_META_WORDS: usize = crate::storage::stamped::META_WORDS;
const MAX_SLOTS: u64 = 1 << 20;
const MAX_FILE: u64 = 1 << 36;

const _: () = assert!(FUTEX_OFFSET == 32 * 8 && W_WAITERS == 33);
const _: () = assert!(ROWS_WORD * 8 + ROWS * ROW_WORDS * 8 == SOURCES_WORD * 8);
const _: () = assert!(SOURCES_WORD * 8 + SOURCES * SOURCE_WORDS * 8 == STORAGE_HEADER_OFFSET);
const _: () = assert!(STORAGE_HEADER_OFFSET.is_multiple_of(std::mem::align_of::<Header>()));

/// Where a row's fields are.
const ROW_OWNER: usize = 0;
const ROW_READS: usize = 1;
const ROW_LOST: usize = 2;
const ROW_STALE: usize = 3;
const ROW_READERS: usize = 4;
/// Threads of the row's process waiting on the futex through this handle
/// (part of the header's waiter count, taken back out when the process is
/// found dead).
const ROW_WAITERS: usize = 5;

/// The geometry recorded in a header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Slots `K`.
    pub slots: usize,
    /// History capacity.
    pub capacity: usize,
    /// Bytes per slot.
    pub slot_size: usize,
    /// Offset of slot 0.
    pub header_size: usize,
    /// The file's size.
    pub file_size: usize,
}

impl Geometry {
    /// The geometry for `layout` with `capacity` history entries and at
    /// least `min_slots` slots.
    pub fn for_layout(
        layout: &Layout,
        capacity: usize,
        min_slots: usize,
    ) -> Result<Self, ShmError> {
        let bad = |reason: String| ShmError::InvalidArgument {
            name: "capacity",
            reason,
        };
        if capacity == 0 {
            return Err(bad("must be at least 1".into()));
        }
        let slots = min_slots
            .max(capacity.saturating_add(1))
            .checked_next_power_of_two()
            .filter(|&k| k as u64 <= MAX_SLOTS)
            .ok_or_else(|| bad(format!("too large: {capacity}")))?;
        let slot_size = slot_words(layout.size()) * 8;
        let header_size = (LAYOUT_OFFSET + layout.encode().len()).div_ceil(64) * 64;
        let file_size = slots
            .checked_mul(slot_size)
            .and_then(|s| s.checked_add(header_size))
            .filter(|&s| s as u64 <= MAX_FILE)
            .ok_or_else(|| bad(format!("too large: {capacity}")))?;
        Ok(Geometry {
            slots,
            capacity,
            slot_size,
            header_size,
            file_size,
        })
    }
}

/// This process's identity as a writer/row owner: `start_time << 22 | pid`
/// (Linux pids are below 2^22; start time is in clock ticks since boot).
pub fn process_ident() -> u64 {
    static ME: OnceLock<u64> = OnceLock::new();
    *ME.get_or_init(|| {
        let pid = std::process::id();
        ident(pid, start_time(pid).unwrap_or(0))
    })
}

fn ident(pid: u32, start: u64) -> u64 {
    (start << 22) | u64::from(pid & ((1 << 22) - 1))
}

/// The pid in an identity word.
pub fn ident_pid(word: u64) -> u32 {
    (word & ((1 << 22) - 1)) as u32
}

/// A process's start time (field 22 of `/proc/<pid>/stat`), if it is
/// running (not a zombie).
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    // `rest` starts at field 3; field 22 is 19 further.
    fields.nth(18)?.parse().ok()
}

/// Whether the process an identity word names is still running (same pid
/// and same start time, so a reused pid is not mistaken for it).
pub fn ident_alive(word: u64) -> bool {
    if word == 0 {
        return false;
    }
    let pid = ident_pid(word);
    match start_time(pid) {
        Some(start) => ident(pid, start) == word,
        None => false,
    }
}

fn wall_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

fn io_error(path: &Path, e: io::Error) -> ShmError {
    ShmError::Io {
        path: path.display().to_string(),
        kind: e.kind(),
        message: e.to_string(),
    }
}

/// How a buffer file is created.
#[derive(Clone, Copy, Debug)]
pub struct CreateOptions {
    /// File mode (default `0o600`: the owner only).
    pub mode: u32,
    /// The fewest slots (default [`DEFAULT_SLOTS`](crate::DEFAULT_SLOTS)).
    pub min_slots: usize,
}

impl Default for CreateOptions {
    fn default() -> Self {
        CreateOptions {
            mode: 0o600,
            min_slots: crate::DEFAULT_SLOTS,
        }
    }
}

/// A mapped, validated buffer file.
#[derive(Debug)]
pub struct Region {
    map: Mapping,
    name: String,
    path: PathBuf,
    layout: Layout,
    geometry: Geometry,
    /// Wake-up syscalls this process made on the buffer (see
    /// [`Region::notify`]).
    wakes: crate::sync::AtomicU64,
}

impl Region {
    /// Creates buffer `name` in the buffer directory (`O_CREAT|O_EXCL`),
    /// or, if it exists, opens it (checking `layout` and `capacity`).
    /// Does not take the writer lock.
    pub fn create_or_open(
        name: &str,
        layout: &Layout,
        capacity: usize,
        options: CreateOptions,
    ) -> Result<Region, ShmError> {
        Self::create_or_open_in(&shm_dir(), name, layout, capacity, options)
    }

    /// [`create_or_open`](Self::create_or_open) in `dir`.
    pub fn create_or_open_in(
        dir: &Path,
        name: &str,
        layout: &Layout,
        capacity: usize,
        options: CreateOptions,
    ) -> Result<Region, ShmError> {
        let path = path_in(dir, name)?;
        let geometry = Geometry::for_layout(layout, capacity, options.min_slots)?;
        // Built under a temporary name, then linked into place: `link`
        // fails if the name exists (the `O_EXCL` of the final name), and an
        // opener never sees a file whose header is still being written.
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0); // shim-exempt: a unique number for temporary names
                                                                                          // ORDERING: a unique counter; nothing hangs on it.
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!("{INIT_PREFIX}{}.{n}", std::process::id()));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(options.mode)
            .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
            .open(&tmp)
            .map_err(|e| io_error(&tmp, e))?;
        let built = Self::initialise(&file, &path, name, layout, &geometry);
        let linked = built
            .as_ref()
            .map_err(Clone::clone)
            .and_then(|_| std::fs::hard_link(&tmp, &path).map_err(|e| io_error(&path, e)));
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => built,
            Err(ShmError::Io {
                kind: io::ErrorKind::AlreadyExists,
                ..
            }) => {
                let region = Self::open_in(dir, name)?;
                region.expect_layout(layout)?;
                if region.geometry.capacity != capacity {
                    return Err(ShmError::InvalidArgument {
                        name: "capacity",
                        reason: format!(
                            "buffer `{name}` exists with capacity {}, not {capacity}",
                            region.geometry.capacity
                        ),
                    });
                }
                Ok(region)
            }
            Err(e) => Err(e),
        }
    }

    fn initialise(
        file: &File,
        path: &Path,
        name: &str,
        layout: &Layout,
        g: &Geometry,
    ) -> Result<Region, ShmError> {
        file.set_len(g.file_size as u64)
            .map_err(|e| io_error(path, e))?;
        let map = Mapping::new(file).map_err(|e| io_error(path, e))?;
        let w = map.words();
        let encoded = layout.encode();
        let set = |i: usize, v: u64| {
            // ORDERING: Relaxed; published by the Release store of the magic.
            w[i].store(v, Ordering::Relaxed)
        };
        set(W_FORMAT, FORMAT_VERSION);
        set(W_HEADER_SIZE, g.header_size as u64);
        set(W_FILE_SIZE, g.file_size as u64);
        set(W_SLOTS, g.slots as u64);
        set(W_CAPACITY, g.capacity as u64);
        set(W_SLOT_SIZE, g.slot_size as u64);
        set(W_LAYOUT_HASH, layout.hash());
        set(W_LAYOUT_LEN, encoded.len() as u64);
        set(W_CREATED_NS, wall_ns());
        set(W_STATE_SIZE, layout.size() as u64);
        set(W_STORAGE_HEADER_SIZE, std::mem::size_of::<Header>() as u64);
        for (i, chunk) in encoded.chunks(8).enumerate() {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            set(LAYOUT_OFFSET / 8 + i, u64::from_le_bytes(word));
        }
        // ORDERING: Release; pairs with the Acquire load of the magic in
        // `validate`: an opener that sees the magic sees the whole header.
        w[W_MAGIC].store(MAGIC, Ordering::Release);
        Ok(Region {
            map,
            name: name.to_string(),
            path: path.to_path_buf(),
            layout: layout.clone(),
            geometry: g.clone(),
            wakes: Default::default(),
        })
    }

    /// Opens existing buffer `name` in the buffer directory, validating its
    /// header against the file.
    pub fn open(name: &str) -> Result<Region, ShmError> {
        Self::open_in(&shm_dir(), name)
    }

    /// [`open`](Self::open) in `dir`.
    pub fn open_in(dir: &Path, name: &str) -> Result<Region, ShmError> {
        let path = path_in(dir, name)?;
        Self::open_path(&path, name)
    }

    fn open_path(path: &Path, name: &str) -> Result<Region, ShmError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
            .open(path)
            .map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => ShmError::NotFound {
                    name: name.to_string(),
                    path: path.display().to_string(),
                },
                _ => io_error(path, e),
            })?;
        let meta = file.metadata().map_err(|e| io_error(path, e))?;
        let not_buffer = |reason: String| ShmError::NotABuffer {
            path: path.display().to_string(),
            reason,
        };
        if !meta.is_file() {
            return Err(not_buffer("not a regular file".into()));
        }
        let len = meta.len();
        if len < (LAYOUT_OFFSET + 64) as u64 || len % 64 != 0 || len > MAX_FILE {
            return Err(not_buffer(format!(
                "file size {len} cannot hold a buffer (truncated?)"
            )));
        }
        let map = Mapping::new(&file).map_err(|e| io_error(path, e))?;
        let (layout, geometry) = validate(&map).map_err(not_buffer)?;
        Ok(Region {
            map,
            name: name.to_string(),
            path: path.to_path_buf(),
            layout,
            geometry,
            wakes: Default::default(),
        })
    }

    /// Refuses a different layout, showing both.
    pub fn expect_layout(&self, layout: &Layout) -> Result<(), ShmError> {
        if &self.layout == layout {
            Ok(())
        } else {
            Err(ShmError::LayoutMismatch {
                name: self.name.clone(),
                expected: layout.to_string(),
                found: self.layout.to_string(),
            })
        }
    }

    /// The buffer's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The recorded layout.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The recorded geometry.
    pub fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    /// Every word of the mapping (the slots' words are validated to be
    /// inside it: header size + K × slot size = file size).
    #[inline]
    pub(crate) fn words(&self) -> &[AtomicU64] {
        self.map.words()
    }

    #[inline]
    fn word(&self, i: usize) -> &AtomicU64 {
        &self.map.words()[i]
    }

    /// The buffer's sequence words and read counters (the crate's
    /// storage [`Header`], placed in the mapping).
    #[inline(always)]
    pub(crate) fn header(&self) -> &Header {
        self.map.storage_header(STORAGE_HEADER_OFFSET)
    }

    /// Closes the buffer for every process (and wakes their waiters).
    pub fn close(&self) {
        // ORDERING: Release; pairs with the Acquire in `is_closed`.
        self.word(W_CLOSED).store(1, Ordering::Release);
        self.notify();
    }

    /// Whether some process closed the buffer.
    #[inline]
    pub fn is_closed(&self) -> bool {
        // ORDERING: Acquire; pairs with the Release in `close`.
        self.word(W_CLOSED).load(Ordering::Acquire) != 0
    }

    /// The words of slot `index` (`< K`).
    #[inline]
    pub(crate) fn slot_words(&self, index: usize) -> &[AtomicU64] {
        let g = &self.geometry;
        let start = (g.header_size + index * g.slot_size) / 8;
        &self.map.words()[start..start + g.slot_size / 8]
    }

    /// The latest version (0 when empty).
    pub fn version(&self) -> u64 {
        self.header().words().version()
    }

    /// Creation time, wall-clock ns.
    pub fn created_ns(&self) -> u64 {
        // ORDERING: immutable after creation (published by the magic).
        self.word(W_CREATED_NS).load(Ordering::Relaxed)
    }

    /// Takes the writer lock for this process: free, or held by a process
    /// that is no longer running (then taken over). Held by a live process
    /// (this one included, through another handle): `WriterBusy`.
    pub fn take_writer(&self) -> Result<(), ShmError> {
        let me = process_ident();
        let word = self.word(W_WRITER);
        loop {
            // ORDERING: Acquire; pairs with the AcqRel exchange of the
            // previous holder (its writes to the slots are visible to us).
            let current = word.load(Ordering::Acquire);
            if current != 0 && ident_alive(current) {
                return Err(ShmError::WriterBusy {
                    name: self.name.clone(),
                    pid: ident_pid(current),
                });
            }
            // ORDERING: AcqRel; pairs with other takers and with the
            // Release in `release_writer`.
            if word
                .compare_exchange(current, me, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                // ORDERING: a display value.
                self.word(W_LAST_WRITER).store(me, Ordering::Relaxed);
                return Ok(());
            }
        }
    }

    /// Releases the writer lock if this process holds it.
    pub fn release_writer(&self) {
        // ORDERING: Release; pairs with the next taker's Acquire.
        let _ = self.word(W_WRITER).compare_exchange(
            process_ident(),
            0,
            Ordering::Release,
            Ordering::Relaxed,
        );
    }

    /// The writer's identity word (0: none).
    pub fn writer(&self) -> u64 {
        // ORDERING: a display value.
        self.word(W_WRITER).load(Ordering::Relaxed)
    }

    /// The last writer's identity word (kept after it leaves).
    pub fn last_writer(&self) -> u64 {
        // ORDERING: a display value.
        self.word(W_LAST_WRITER).load(Ordering::Relaxed)
    }

    /// Wakes every waiter in every process; free when nobody waits.
    ///
    /// A waiter killed while waiting cannot take itself out of the waiter
    /// count, which would make every later publish a useless wake-up
    /// syscall. Each waiter is also counted in its handle's row, so the
    /// count of a dead process is taken back out: when a handle claims the
    /// dead process's row, and, by a publisher making wake-ups, every
    /// [`SWEEP_EVERY`] of them (checking only rows with waiters).
    #[inline]
    pub fn notify(&self) {
        if wake::notify(&Futex(self, None)) {
            // ORDERING: a process-local count; nothing hangs on it.
            let n = self.wakes.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_multiple_of(SWEEP_EVERY) {
                self.reap_dead_waiters();
            }
        }
    }

    /// Blocks until `ready` returns `Some`, or `timeout` passes (`None`);
    /// the wait is counted in `row` (the handle's, if it has one) as well
    /// as in the header.
    pub fn wait_until<R>(
        &self,
        row: Option<Row>,
        ready: impl FnMut() -> Option<R>,
        timeout: Option<Duration>,
    ) -> Option<R> {
        wake::wait_until(&Futex(self, row), ready, timeout)
    }

    /// Threads blocked on this buffer, in every process.
    pub fn waiting(&self) -> u64 {
        Futex(self, None).waiters()
    }

    /// Takes the waiters of dead processes out of the waiter count: each
    /// row with waiters whose owner is no longer running is claimed by this
    /// process and released (its counts folded, its waiters subtracted).
    /// Returns how many waiters it took out.
    pub fn reap_dead_waiters(&self) -> u64 {
        let mut reaped = 0;
        for i in 0..ROWS {
            let row = Row {
                base: ROWS_WORD + i * ROW_WORDS,
            };
            // ORDERING: a hint; the claim below re-checks the owner.
            if self.row_field(row, ROW_WAITERS).load(Ordering::Relaxed) == 0 {
                continue;
            }
            let owner = self.row_field(row, ROW_OWNER);
            // ORDERING: Acquire; as in `claim_row`.
            let current = owner.load(Ordering::Acquire);
            if current == 0 || ident_alive(current) {
                continue;
            }
            // Claimed from the dead owner (so no other process folds or
            // reuses the row meanwhile), then released.
            // ORDERING: AcqRel; as in `claim_row`.
            if owner
                .compare_exchange(
                    current,
                    process_ident(),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_ok()
            {
                reaped += self.fold_row(row);
                // ORDERING: Release; pairs with the next claimer's Acquire.
                self.row_field(row, ROW_OWNER).store(0, Ordering::Release);
            }
        }
        reaped
    }

    /// Claims a statistics row for this handle (reusing a free row or one
    /// whose process has died, folding its counts into the totals). `None`
    /// when every row belongs to a live process.
    pub fn claim_row(&self) -> Option<Row> {
        let me = process_ident();
        for i in 0..ROWS {
            let base = ROWS_WORD + i * ROW_WORDS;
            let owner = self.word(base + ROW_OWNER);
            // ORDERING: Acquire; pairs with the AcqRel claim below by
            // another process (its counts are visible to the fold).
            let current = owner.load(Ordering::Acquire);
            if current != 0 && ident_alive(current) {
                continue;
            }
            // ORDERING: AcqRel; pairs with other claimers and `Row::drop`.
            if owner
                .compare_exchange(current, me, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                let row = Row { base };
                self.fold_row(row);
                return Some(row);
            }
        }
        None
    }

    /// Statistics summed over every process row and the detached totals.
    pub fn counts(&self) -> Counts {
        // ORDERING (all loads): statistics.
        let load = |i: usize| self.word(i).load(Ordering::Relaxed);
        // Reads counted through the buffer API (`latest`, reader handles
        // every 256 reads and when dropped) are in the storage header; reader handles of the bytes
        // API count in this process's row.
        let (reads, stale, retired_reads, retired_lost) = self.header().counts();
        let mut counts = Counts {
            reads: load(W_RETIRED_READS) + reads + retired_reads,
            lost: load(W_RETIRED_LOST) + retired_lost,
            stale: load(W_RETIRED_STALE) + stale,
            readers: 0,
            processes: 0,
        };
        for i in 0..ROWS {
            let base = ROWS_WORD + i * ROW_WORDS;
            let owner = load(base + ROW_OWNER);
            if owner == 0 {
                continue;
            }
            counts.reads += load(base + ROW_READS);
            counts.lost += load(base + ROW_LOST);
            counts.stale += load(base + ROW_STALE);
            if ident_alive(owner) {
                counts.readers += load(base + ROW_READERS);
                counts.processes += 1;
            }
        }
        counts
    }

    /// The index of `name` in the header's source table, adding it (the
    /// writer alone adds); `None` if the table is full or the name is over
    /// 31 bytes.
    pub fn source_index(&self, name: &str) -> Option<u32> {
        let bytes = name.as_bytes();
        if bytes.is_empty() || bytes.len() >= SOURCE_WORDS * 8 {
            return None;
        }
        for i in 0..SOURCES {
            match self.source_name(i as u32) {
                Some(existing) if existing == name => return Some(i as u32),
                Some(_) => continue,
                None => {
                    let mut raw = [0u8; SOURCE_WORDS * 8];
                    raw[0] = bytes.len() as u8;
                    raw[1..=bytes.len()].copy_from_slice(bytes);
                    let base = SOURCES_WORD + i * SOURCE_WORDS;
                    // Length byte last: store words 1.. first, word 0 last.
                    for (w, chunk) in raw.chunks(8).enumerate().rev() {
                        let mut word = [0u8; 8];
                        word.copy_from_slice(chunk);
                        // ORDERING: Release; pairs with the Acquire in
                        // `source_name` (word 0, holding the length, is
                        // stored last).
                        self.word(base + w)
                            .store(u64::from_le_bytes(word), Ordering::Release);
                    }
                    return Some(i as u32);
                }
            }
        }
        None
    }

    /// The source name at `index`, if set and valid UTF-8.
    pub fn source_name(&self, index: u32) -> Option<String> {
        let index = index as usize;
        if index >= SOURCES {
            return None;
        }
        let base = SOURCES_WORD + index * SOURCE_WORDS;
        let mut raw = [0u8; SOURCE_WORDS * 8];
        for w in 0..SOURCE_WORDS {
            // ORDERING: Acquire; pairs with the Release stores in
            // `source_index` (word 0 first, then the rest).
            let word = self.word(base + w).load(Ordering::Acquire);
            raw[w * 8..w * 8 + 8].copy_from_slice(&word.to_le_bytes());
        }
        let len = raw[0] as usize;
        if len == 0 || len >= raw.len() {
            return None;
        }
        std::str::from_utf8(&raw[1..=len]).ok().map(str::to_string)
    }
}

/// A handle's cache of the file's source table: each name interned in this
/// process once (entries never change once written).
#[derive(Debug, Default)]
pub(crate) struct SourceNames([OnceLock<crate::Source>; SOURCES]);

impl SourceNames {
    /// The publisher's name at `index` of `region`'s table
    /// ([`Source::UNKNOWN`](crate::Source::UNKNOWN) if unset or invalid).
    #[inline]
    pub(crate) fn get(&self, region: &Region, index: u32) -> crate::Source {
        let Some(cell) = self.0.get(index as usize) else {
            return crate::Source::UNKNOWN;
        };
        match cell.get() {
            Some(&s) => s,
            None => Self::first(cell, region, index),
        }
    }

    /// The first look-up of `index`: reads and interns the name.
    #[cold]
    #[inline(never)]
    fn first(cell: &OnceLock<crate::Source>, region: &Region, index: u32) -> crate::Source {
        match region.source_name(index) {
            Some(name) => *cell.get_or_init(|| crate::Source::intern(&name)),
            None => crate::Source::UNKNOWN,
        }
    }
}

/// Counts summed over every process.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Reads.
    pub reads: u64,
    /// Versions readers never saw.
    pub lost: u64,
    /// Stale reads.
    pub stale: u64,
    /// Live reader handles.
    pub readers: u64,
    /// Live processes with the buffer open.
    pub processes: u64,
}

/// A handle's statistics row in the header (an index; the counters are
/// in the mapping). Give it back with [`Region::release_row`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Row {
    base: usize,
}

impl Region {
    fn row_field(&self, row: Row, f: usize) -> &AtomicU64 {
        self.word(row.base + f)
    }

    #[inline]
    fn row_add(&self, row: Row, f: usize, n: u64) {
        // ORDERING: a statistic; the row is this process's, so only its
        // own threads contend on it.
        self.row_field(row, f).fetch_add(n, Ordering::Relaxed);
    }

    /// Counts `n` reads in `row`.
    #[inline]
    pub fn add_reads(&self, row: Row, n: u64) {
        self.row_add(row, ROW_READS, n);
    }

    /// Counts `n` lost versions in `row`.
    #[inline]
    pub fn add_lost(&self, row: Row, n: u64) {
        self.row_add(row, ROW_LOST, n);
    }

    /// Counts a stale read in `row`.
    pub fn add_stale(&self, row: Row) {
        self.row_add(row, ROW_STALE, 1);
    }

    /// A reader handle opened (`true`) or closed (`false`) in `row`.
    pub fn add_reader(&self, row: Row, opened: bool) {
        let delta = if opened { 1 } else { u64::MAX };
        self.row_add(row, ROW_READERS, delta);
    }

    /// Moves a row's counts to the detached totals and zeroes them; takes
    /// its waiters (those of a dead process: a live one has none left when
    /// it releases its row) out of the waiter count, and returns how many.
    fn fold_row(&self, row: Row) -> u64 {
        for (f, total) in [
            (ROW_READS, W_RETIRED_READS),
            (ROW_LOST, W_RETIRED_LOST),
            (ROW_STALE, W_RETIRED_STALE),
        ] {
            // ORDERING: statistics.
            let n = self.row_field(row, f).swap(0, Ordering::Relaxed);
            self.word(total).fetch_add(n, Ordering::Relaxed);
        }
        // ORDERING: statistics.
        self.row_field(row, ROW_READERS).store(0, Ordering::Relaxed);
        // ORDERING: Relaxed; the row is owned by the caller (claimed from a
        // dead process, or its own), so no live thread counts in it.
        let waiters = self.row_field(row, ROW_WAITERS).swap(0, Ordering::Relaxed);
        if waiters != 0 {
            // ORDERING: Relaxed; the dead waiters' increments are gone
            // with them: no wake-up is owed to them.
            self.word(W_WAITERS).fetch_sub(waiters, Ordering::Relaxed);
        }
        waiters
    }

    /// Gives a row back: its counts move to the detached totals.
    pub fn release_row(&self, row: Row) {
        self.fold_row(row);
        // ORDERING: Release; pairs with the next claimer's Acquire load.
        self.row_field(row, ROW_OWNER).store(0, Ordering::Release);
    }
}

/// How many wake-up syscalls a process makes on a buffer between two looks
/// for waiters of dead processes ([`Region::reap_dead_waiters`]).
pub const SWEEP_EVERY: u64 = 1024;

/// The futex words of a region, and the row of the handle that waits.
struct Futex<'a>(&'a Region, Option<Row>);

impl WakeWords for Futex<'_> {
    fn add_waiters(&self, delta: i64) {
        // The header first on the way in and last on the way out, so that
        // the row never counts a waiter the header does not (a process
        // killed in between leaves the header one too high, never low).
        let header = || {
            // ORDERING: Relaxed; ordered before the waiter's next check by
            // the SeqCst fence in `wake::wait_until`, which pairs with
            // `notify`.
            self.0
                .word(W_WAITERS)
                .fetch_add(delta as u64, Ordering::Relaxed);
        };
        if delta > 0 {
            header();
        }
        if let Some(row) = self.1 {
            // ORDERING: Relaxed; a count only `fold_row` takes, after
            // claiming the row from a dead process.
            self.0
                .row_field(row, ROW_WAITERS)
                .fetch_add(delta as u64, Ordering::Relaxed);
        }
        if delta < 0 {
            header();
        }
    }
    #[inline]
    fn waiters(&self) -> u64 {
        // ORDERING: Relaxed after the SeqCst fence in `wake::notify`.
        self.0.word(W_WAITERS).load(Ordering::Relaxed)
    }
    fn seq(&self) -> u32 {
        // ORDERING: Acquire; pairs with the Release bump.
        self.0.map.futex_word().load(Ordering::Acquire)
    }
    fn bump_seq(&self) {
        // ORDERING: Release; pairs with `seq`.
        self.0.map.futex_word().fetch_add(1, Ordering::Release);
    }
    fn wait(&self, expected: u32, timeout: Option<Duration>) {
        self.0.map.futex_wait(expected, timeout);
    }
    fn wake_all(&self) {
        self.0.map.futex_wake_all();
    }
}

/// Checks a mapped header against the mapping's length; returns the
/// layout and geometry, or why the file is not a usable buffer.
fn validate(map: &Mapping) -> Result<(Layout, Geometry), String> {
    let w = map.words();
    let len = map.len();
    // ORDERING: Acquire; pairs with the creator's Release store of the
    // magic: the words read below are complete.
    let magic = w[W_MAGIC].load(Ordering::Acquire);
    if magic != MAGIC {
        return Err(if magic == 0 {
            "no magic: not initialised (still being created?)".into()
        } else {
            format!("wrong magic {magic:#018x}: not an rtstate buffer")
        });
    }
    // ORDERING: immutable words, published by the magic.
    let get = |i: usize| w[i].load(Ordering::Relaxed);
    let format = get(W_FORMAT);
    if format != FORMAT_VERSION {
        return Err(format!(
            "format version {format}, this build reads {FORMAT_VERSION}"
        ));
    }
    let storage_header = get(W_STORAGE_HEADER_SIZE);
    if storage_header != std::mem::size_of::<Header>() as u64 {
        return Err(format!(
            "storage header of {storage_header} bytes, this build's is {} (another rtstate build?)",
            std::mem::size_of::<Header>()
        ));
    }
    let as_usize =
        |v: u64, what: &str| usize::try_from(v).map_err(|_| format!("{what} {v} is out of range"));
    let file_size = as_usize(get(W_FILE_SIZE), "file size")?;
    if file_size != len {
        return Err(format!(
            "header says {file_size} bytes, the file has {len} (truncated?)"
        ));
    }
    let header_size = as_usize(get(W_HEADER_SIZE), "header size")?;
    let slots = get(W_SLOTS);
    let capacity = get(W_CAPACITY);
    let slot_size = as_usize(get(W_SLOT_SIZE), "slot size")?;
    let layout_len = as_usize(get(W_LAYOUT_LEN), "layout length")?;
    let state_size = as_usize(get(W_STATE_SIZE), "state size")?;
    if !(2..=MAX_SLOTS).contains(&slots) || !slots.is_power_of_two() {
        return Err(format!(
            "slot count {slots} is not a power of two in 2..=2^20"
        ));
    }
    if capacity == 0 || capacity >= slots {
        return Err(format!("capacity {capacity} is not in 1..{slots}"));
    }
    if layout_len < 8 || layout_len > len {
        return Err(format!("layout length {layout_len} is out of range"));
    }
    let layout_end = LAYOUT_OFFSET
        .checked_add(layout_len)
        .ok_or("layout length overflows")?;
    if header_size % 64 != 0 || header_size != layout_end.div_ceil(64) * 64 {
        return Err(format!("header size {header_size} does not fit the layout"));
    }
    let mut bytes = Vec::with_capacity(layout_len.div_ceil(8) * 8);
    for word in &w[LAYOUT_OFFSET / 8..layout_end.div_ceil(8)] {
        // ORDERING: immutable words, published by the magic.
        bytes.extend_from_slice(&word.load(Ordering::Relaxed).to_le_bytes());
    }
    bytes.truncate(layout_len);
    let layout = Layout::decode(&bytes).map_err(|e| e.to_string())?;
    if layout.hash() != get(W_LAYOUT_HASH) {
        return Err("the layout does not match its recorded hash".into());
    }
    if layout.size() != state_size {
        return Err(format!(
            "state size {state_size} differs from the layout's {}",
            layout.size()
        ));
    }
    let expected_slot = slot_words(state_size) * 8;
    if slot_size != expected_slot {
        return Err(format!(
            "slot size {slot_size}, the layout needs {expected_slot}"
        ));
    }
    let total = (slots as usize)
        .checked_mul(slot_size)
        .and_then(|s| s.checked_add(header_size));
    if total != Some(len) {
        return Err(format!(
            "{slots} slots of {slot_size} bytes after a {header_size}-byte header do not make {len} bytes"
        ));
    }
    Ok((
        layout,
        Geometry {
            slots: slots as usize,
            capacity: capacity as usize,
            slot_size,
            header_size,
            file_size,
        },
    ))
}

/// One file of the buffer directory, as `rtstate list` shows it.
#[derive(Clone, Debug)]
pub struct Listing {
    /// The buffer's name.
    pub name: String,
    /// The file.
    pub path: PathBuf,
    /// The header, if the file is a valid buffer; otherwise why not.
    pub status: Result<ListedBuffer, String>,
}

/// What the header of a listed buffer says.
#[derive(Clone, Debug)]
pub struct ListedBuffer {
    /// The layout.
    pub layout: Layout,
    /// Latest version.
    pub version: u64,
    /// History capacity.
    pub capacity: usize,
    /// Writer pid (of the current writer, else of the last one; 0: never).
    pub writer_pid: u32,
    /// Whether a writer holds the buffer and is running.
    pub writer_alive: bool,
    /// Whether any process (writer or a reader's row) is still attached.
    pub attached: bool,
    /// Summed statistics.
    pub counts: Counts,
    /// Threads waiting.
    pub waiting: u64,
}

/// Every buffer file in `dir` (default: the buffer directory), sorted by
/// name, each with its header or the reason it is unusable.
pub fn list(dir: Option<&Path>) -> Result<Vec<Listing>, ShmError> {
    let dir = dir.map_or_else(shm_dir, Path::to_path_buf);
    let entries = std::fs::read_dir(&dir).map_err(|e| io_error(&dir, e))?;
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let file = entry.file_name();
        let Some(file) = file.to_str() else { continue };
        if !file.starts_with(FILE_PREFIX) {
            continue;
        }
        let Some(name) = name_of_file(file) else {
            continue;
        };
        let path = entry.path();
        let status = match Region::open_path(&path, &name) {
            Ok(region) => {
                let writer = region.writer();
                let shown = if writer != 0 {
                    writer
                } else {
                    region.last_writer()
                };
                let writer_alive = ident_alive(writer);
                let counts = region.counts();
                Ok(ListedBuffer {
                    layout: region.layout.clone(),
                    version: region.version(),
                    capacity: region.geometry.capacity,
                    writer_pid: ident_pid(shown),
                    writer_alive,
                    attached: writer_alive || counts.processes > 0,
                    counts,
                    waiting: region.waiting(),
                })
            }
            Err(e) => Err(e.to_string()),
        };
        out.push(Listing { name, path, status });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Removes the buffer files in `dir` (default: the buffer directory) that
/// no running process has attached (no live writer, no live reader row);
/// with `invalid`, also files named like buffers that are not valid
/// buffers; and files left by a process that died while creating one.
/// Returns the buffer names removed.
pub fn clean(dir: Option<&Path>, invalid: bool) -> Result<Vec<String>, ShmError> {
    let mut removed = Vec::new();
    let root = dir.map_or_else(shm_dir, Path::to_path_buf);
    let entries = std::fs::read_dir(&root).map_err(|e| io_error(&root, e))?;
    for entry in entries.flatten() {
        let file = entry.file_name();
        let Some(rest) = file.to_str().and_then(|f| f.strip_prefix(INIT_PREFIX)) else {
            continue;
        };
        let creator = rest.split('.').next().and_then(|p| p.parse::<u32>().ok());
        if creator.is_some_and(|pid| start_time(pid).is_none()) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    for listing in list(dir)? {
        let remove = match &listing.status {
            Ok(buffer) => !buffer.attached,
            Err(_) => invalid,
        };
        if remove {
            std::fs::remove_file(&listing.path).map_err(|e| io_error(&listing.path, e))?;
            removed.push(listing.name);
        }
    }
    Ok(removed)
}

/// Removes buffer `name`'s file (readers that have it mapped keep their
/// mapping).
pub fn remove(name: &str) -> Result<(), ShmError> {
    let path = path_in(&shm_dir(), name)?;
    std::fs::remove_file(&path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => ShmError::NotFound {
            name: name.to_string(),
            path: path.display().to_string(),
        },
        _ => io_error(&path, e),
    })
}
