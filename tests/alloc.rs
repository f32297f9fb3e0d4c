//! A counting global allocator proves that plain-data publishes and reads
//! allocate nothing (a guarantee the README lists). Run in release by
//! `make test` and in debug by `cargo test`.
#![allow(unsafe_code)] // A GlobalAlloc impl is unsafe by definition; test-only.

use rtstate::{FastDroneState, Policy, SlotRing, Source};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

struct Counting;

static ALLOCATED: AtomicU64 = AtomicU64::new(0);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

std::thread_local! {
    /// Only the measuring thread counts: the test harness's own threads
    /// allocate at times of their choosing.
    static COUNTING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn count(size: usize) {
    if COUNTING.with(|c| c.get()) {
        ALLOCATED.fetch_add(size as u64, Ordering::Relaxed);
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every method forwards to the system allocator with the caller's
// arguments unchanged; the counters have no effect on the memory returned.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was returned by `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocated() -> (u64, u64) {
    (
        ALLOCATED.load(Ordering::Relaxed),
        ALLOCATIONS.load(Ordering::Relaxed),
    )
}

fn state(i: u64) -> FastDroneState {
    let x = i as f64;
    FastDroneState {
        timestamp: x,
        position: [x; 3],
        ..FastDroneState::default()
    }
}

#[test]
fn slot_ring_publishes_and_reads_allocate_nothing() {
    let ring = SlotRing::<FastDroneState>::checked(8).unwrap();
    let source = Source::intern("alloc-test");
    let mut reader = ring.reader();
    // A subscription that is never read: delivering copies into its
    // preallocated ring.
    let subscription = ring.subscribe(4, Policy::DropOldest).unwrap();
    // Warm up: first-use thread-local set-up (stripe index, arc-swap debt
    // slots) is allowed once per thread.
    ring.publish(state(0), source).unwrap();
    let _ = ring.latest();
    let _ = reader.read();

    // Make sure the counter works at all: a Box allocates.
    COUNTING.with(|c| c.set(true));
    let probe = allocated();
    drop(std::hint::black_box(Box::new([0u8; 64])));
    assert_eq!(allocated().0 - probe.0, 64, "the counting allocator counts");
    COUNTING.with(|c| c.set(false));

    let before = allocated();
    COUNTING.with(|c| c.set(true));
    let mut checksum = 0.0;
    for i in 1..=100_000u64 {
        ring.publish(state(i), source).unwrap();
        if let Some(s) = ring.latest() {
            checksum += s.state.position[0];
        }
        if let Some(s) = reader.read_if_updated() {
            checksum += s.state.timestamp;
        }
    }
    COUNTING.with(|c| c.set(false));
    let after = allocated();
    assert!(checksum > 0.0);
    assert_eq!(
        after,
        before,
        "100 000 publishes and reads allocated {} bytes in {} allocations",
        after.0 - before.0,
        after.1 - before.1
    );
    assert_eq!(
        subscription.counters().dropped + subscription.len() as u64,
        100_001
    );
}
