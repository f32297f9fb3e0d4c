//! Subscriptions through the public buffers: overflow policies and their
//! counters, blocking and async receives, close, and a writer that never
//! waits for a consumer that never reads.
#![cfg(not(loom))]

use futures_core::Stream;
use rtstate::{Error, Policy, SlotRing, Source, StateBuffer, Subscription, SubscriptionCounters};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::thread;
use std::time::{Duration, Instant};

/// A plain-data state whose two words must agree (torn-copy detector).
type Pair = [u64; 2];

fn pair(i: u64) -> Pair {
    [i, !i]
}

fn ring(capacity: usize) -> SlotRing<Pair> {
    SlotRing::<Pair>::new(capacity).expect("ring")
}

fn publish(ring: &SlotRing<Pair>, i: u64) -> u64 {
    ring.publish(pair(i), Source::intern("x")).expect("publish")
}

fn drain(sub: &Subscription<rtstate::Snapshot<Pair>>) -> Vec<u64> {
    let mut out = Vec::new();
    while let Ok(e) = sub.try_recv() {
        assert_eq!(e.state, pair(e.state[0]), "torn event");
        out.push(e.version);
    }
    out
}

/// Minimal executor-free stream polling: the next item if ready now.
fn poll_next_now<S: Stream + Unpin>(s: &mut S) -> Poll<Option<S::Item>> {
    let waker = std::task::Waker::noop();
    let mut cx = Context::from_waker(waker);
    Pin::new(s).poll_next(&mut cx)
}

#[test]
fn drop_oldest_keeps_the_newest_four_and_counts_96_dropped() {
    let ring = ring(8);
    let sub = ring.subscribe(4, Policy::DropOldest).unwrap();
    for i in 1..=100 {
        publish(&ring, i);
    }
    assert_eq!(sub.len(), 4);
    assert!(sub.is_full());
    assert_eq!(sub.counters().dropped, 96);
    assert_eq!(drain(&sub), vec![97, 98, 99, 100]);
    assert_eq!(
        sub.counters(),
        SubscriptionCounters {
            delivered: 4,
            dropped: 96,
            gaps: 1,
            duplicates: 0
        }
    );
    assert_eq!(sub.try_recv().unwrap_err(), Error::Empty);
}

#[test]
fn drop_newest_keeps_the_first_four_and_counts_96_dropped() {
    let ring = ring(8);
    let sub = ring.subscribe(4, Policy::DropNewest).unwrap();
    for i in 1..=100 {
        publish(&ring, i);
    }
    assert_eq!(sub.counters().dropped, 96);
    assert_eq!(drain(&sub), vec![1, 2, 3, 4]);
    assert_eq!(sub.counters().gaps, 0);
    // The next event follows a hole: a gap.
    publish(&ring, 101);
    assert_eq!(drain(&sub), vec![101]);
    assert_eq!(sub.counters().gaps, 1);
}

#[test]
fn keep_latest_yields_only_the_newest() {
    let ring = ring(8);
    let sub = ring.subscribe(16, Policy::KeepLatest).unwrap();
    assert_eq!(sub.capacity(), 1);
    assert_eq!(sub.policy(), Policy::KeepLatest);
    for i in 1..=10 {
        publish(&ring, i);
    }
    assert_eq!(drain(&sub), vec![10]);
    assert_eq!(sub.counters().dropped, 9);
}

#[test]
fn gaps_are_counted_once_per_discontinuity() {
    let ring = ring(8);
    let sub = ring.subscribe(2, Policy::DropOldest).unwrap();
    publish(&ring, 1);
    assert_eq!(drain(&sub), vec![1]);
    for i in 2..=6 {
        publish(&ring, i); // 2, 3, 4 are overwritten
    }
    assert_eq!(drain(&sub), vec![5, 6]);
    publish(&ring, 7);
    assert_eq!(drain(&sub), vec![7]);
    let c = sub.counters();
    assert_eq!((c.delivered, c.dropped, c.gaps), (4, 3, 1));
}

#[test]
fn arc_buffer_subscriptions_share_the_snapshot() {
    let buffer = StateBuffer::<String>::new(4).unwrap();
    let sub = buffer.subscribe(4, Policy::DropOldest).unwrap();
    buffer
        .publish("hello".to_string(), Source::intern("x"))
        .unwrap();
    let e = sub.try_recv().unwrap();
    assert_eq!((e.version, e.state.as_str()), (1, "hello"));
}

#[test]
fn subscribe_refuses_a_zero_capacity() {
    let ring = ring(8);
    assert!(matches!(
        ring.subscribe(0, Policy::DropOldest),
        Err(Error::InvalidArgument {
            name: "capacity",
            ..
        })
    ));
}

#[test]
fn blocking_recv_is_woken_by_a_publish_from_another_thread() {
    let ring = ring(8);
    let sub = ring.subscribe(4, Policy::DropOldest).unwrap();
    let writer = {
        let ring = ring.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(30));
            publish(&ring, 1)
        })
    };
    // A timeout only so that a bug cannot hang the test suite.
    let e = sub.recv_timeout(Duration::from_secs(30)).unwrap();
    assert_eq!(e.version, writer.join().unwrap());
}

#[test]
fn recv_timeout_times_out() {
    let ring = ring(8);
    let sub = ring.subscribe(4, Policy::DropOldest).unwrap();
    let t = Duration::from_millis(20);
    let start = Instant::now();
    assert_eq!(sub.recv_timeout(t).unwrap_err(), Error::Timeout(t));
    assert!(start.elapsed() >= t);
}

#[tokio::test(flavor = "current_thread")]
async fn recv_async_is_woken_by_a_publish_from_a_std_thread() {
    let ring = ring(8);
    let sub = ring.subscribe(4, Policy::DropOldest).unwrap();
    let writer = {
        let ring = ring.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(30));
            publish(&ring, 1)
        })
    };
    let e = tokio::time::timeout(Duration::from_secs(30), sub.recv_async())
        .await
        .expect("woken")
        .unwrap();
    assert_eq!(e.version, 1);
    writer.join().unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn cancelling_recv_async_loses_no_event() {
    let ring = ring(8);
    let sub = ring.subscribe(4, Policy::DropOldest).unwrap();
    // Cancelled while pending: nothing taken.
    let r = tokio::time::timeout(Duration::from_millis(10), sub.recv_async()).await;
    assert!(r.is_err(), "nothing was published");
    publish(&ring, 1);
    // A future created and dropped without being polled to completion.
    drop(sub.recv_async());
    let e = tokio::time::timeout(Duration::from_secs(30), sub.recv_async())
        .await
        .expect("the event is still there")
        .unwrap();
    assert_eq!(e.version, 1);
    assert_eq!(sub.counters().delivered, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_yields_events_and_ends_on_close() {
    let ring = ring(8);
    let mut sub = ring.subscribe(8, Policy::DropOldest).unwrap();
    let writer = {
        let ring = ring.clone();
        thread::spawn(move || {
            for i in 1..=3 {
                publish(&ring, i);
                thread::sleep(Duration::from_millis(5));
            }
            ring.close();
        })
    };
    let mut seen = Vec::new();
    loop {
        let next = std::future::poll_fn(|cx| Pin::new(&mut sub).poll_next(cx));
        match tokio::time::timeout(Duration::from_secs(30), next)
            .await
            .expect("stream ends")
        {
            Some(e) => seen.push(e.version),
            None => break,
        }
    }
    writer.join().unwrap();
    assert_eq!(seen, vec![1, 2, 3]);
    assert!(sub.is_closed());
    assert_eq!(poll_next_now(&mut sub), Poll::Ready(None));
}

#[test]
fn close_ends_a_blocked_recv() {
    let ring = ring(8);
    let sub = Arc::new(ring.subscribe(4, Policy::DropOldest).unwrap());
    let consumer = {
        let sub = Arc::clone(&sub);
        thread::spawn(move || sub.recv_timeout(Duration::from_secs(30)))
    };
    thread::sleep(Duration::from_millis(30));
    ring.close();
    assert_eq!(consumer.join().unwrap().unwrap_err(), Error::Closed);
    assert_eq!(
        ring.subscribe(4, Policy::DropOldest).unwrap_err(),
        Error::Closed
    );
}

#[test]
fn subscription_close_ends_its_blocking_iterator() {
    let ring = ring(8);
    let sub = Arc::new(ring.subscribe(4, Policy::DropOldest).unwrap());
    publish(&ring, 1);
    let consumer = {
        let sub = Arc::clone(&sub);
        thread::spawn(move || sub.iter().map(|e| e.version).collect::<Vec<_>>())
    };
    thread::sleep(Duration::from_millis(30));
    sub.close();
    publish(&ring, 2); // not delivered: the subscription ended
    assert_eq!(consumer.join().unwrap(), vec![1]);
}

#[test]
fn reset_ends_subscriptions_and_accepts_new_ones() {
    let ring = ring(8);
    let old = ring.subscribe(4, Policy::DropOldest).unwrap();
    publish(&ring, 1);
    ring.reset();
    assert!(old.is_closed());
    // Queued events remain readable, then the subscription reports Closed.
    assert_eq!(drain(&old), vec![1]);
    assert_eq!(old.try_recv().unwrap_err(), Error::Closed);
    let new = ring.subscribe(4, Policy::DropOldest).unwrap();
    assert_eq!(publish(&ring, 2), 1, "versions restart after reset");
    assert_eq!(drain(&new), vec![1]);
}

#[test]
fn dropping_a_subscription_unsubscribes() {
    let ring = ring(8);
    let sub = ring.subscribe(4, Policy::DropOldest).unwrap();
    publish(&ring, 1);
    drop(sub);
    publish(&ring, 2); // must not fail or block
}

/// A consumer that never reads costs the writer nothing but drops.
#[test]
fn a_consumer_that_never_reads_does_not_block_the_writer() {
    const N: u64 = 1_000_000;
    let ring = ring(8);
    let oldest = ring.subscribe(4, Policy::DropOldest).unwrap();
    let newest = ring.subscribe(4, Policy::DropNewest).unwrap();
    for i in 1..=N {
        publish(&ring, i);
    }
    assert_eq!(oldest.counters().dropped, N - 4);
    assert_eq!(newest.counters().dropped, N - 4);
    assert_eq!(drain(&oldest), vec![N - 3, N - 2, N - 1, N]);
    assert_eq!(drain(&newest), vec![1, 2, 3, 4]);
}

/// A slow consumer on another thread: every event is delivered or counted
/// dropped, in order, never torn.
#[test]
fn concurrent_consumer_accounts_for_every_event() {
    const N: u64 = 200_000;
    let ring = ring(8);
    let sub = ring.subscribe(4, Policy::DropOldest).unwrap();
    let consumer = thread::spawn(move || {
        let mut last = 0;
        for e in &sub {
            assert_eq!(e.state, pair(e.state[0]), "torn event");
            assert!(e.version > last, "out of order");
            last = e.version;
        }
        (last, sub.counters())
    });
    for i in 1..=N {
        publish(&ring, i);
    }
    ring.close();
    let (last, c) = consumer.join().unwrap();
    assert_eq!(last, N);
    assert_eq!(c.delivered + c.dropped, N, "{c:?}");
    assert_eq!(c.duplicates, 0);
}
