//! Unit tests of the queue, the registry and the handle; loom models of one
//! queue.

#[cfg(not(loom))]
mod unit {
    use super::super::{Policy, Subscribers, Subscription, MAX_CAPACITY};
    use crate::error::Error;
    use crate::snapshot::Snapshot;
    use crate::source::Source;
    use crate::statistics::SubscriptionCounters;
    use crate::storage::{ArcSlots, PodSlots};
    use crate::sync::AtomicUsize as StdAtomicUsize;
    use crate::sync::Ordering;
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};
    use std::thread;
    use std::time::{Duration, Instant};

    type Pod = PodSlots<[u64; 2]>;

    /// A snapshot whose two state words must agree (torn-copy detector).
    fn snap(version: u64) -> Snapshot<[u64; 2]> {
        Snapshot {
            state: [version, !version],
            version,
            timestamp: version as f64,
            published_at: 0.0,
            published_ns: version,
            source: Source::intern("subscription-test"),
        }
    }

    fn versions(sub: &Subscription<Snapshot<[u64; 2]>>) -> Vec<u64> {
        let mut out = Vec::new();
        while let Ok(e) = sub.try_recv() {
            assert_eq!(e.state, [e.version, !e.version], "torn event");
            out.push(e.version);
        }
        out
    }

    #[derive(Default)]
    struct CountingWaker(StdAtomicUsize);
    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn subscribe_validates_capacity_and_closed_state() {
        let subs = Subscribers::<Pod>::new();
        assert!(matches!(
            subs.subscribe(0, Policy::DropOldest),
            Err(Error::InvalidArgument {
                name: "capacity",
                ..
            })
        ));
        assert!(matches!(
            subs.subscribe(MAX_CAPACITY + 1, Policy::DropOldest),
            Err(Error::InvalidArgument {
                name: "capacity",
                ..
            })
        ));
        assert!(!subs.any());
        let sub = subs.subscribe(3, Policy::DropOldest).unwrap();
        assert!(subs.any());
        assert_eq!(
            (subs.len(), sub.capacity(), sub.policy()),
            (1, 3, Policy::DropOldest)
        );
        subs.close_all().wake();
        assert!(!subs.any());
        assert_eq!(
            subs.subscribe(3, Policy::DropOldest).unwrap_err(),
            Error::Closed
        );
        subs.reopen();
        assert!(subs.subscribe(3, Policy::DropOldest).is_ok());
    }

    #[test]
    fn drop_oldest_keeps_the_newest_and_counts_drops() {
        let subs = Subscribers::<Pod>::new();
        let sub = subs.subscribe(4, Policy::DropOldest).unwrap();
        for v in 1..=100 {
            subs.deliver(&snap(v)).notify();
        }
        assert!(sub.is_full());
        assert_eq!(sub.len(), 4);
        // Already-overwritten events count before the consumer notices.
        assert_eq!(sub.counters().dropped, 96);
        assert_eq!(versions(&sub), vec![97, 98, 99, 100]);
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
        assert!(sub.is_empty());
    }

    #[test]
    fn drop_newest_keeps_the_oldest_and_counts_drops() {
        let subs = Subscribers::<Pod>::new();
        let sub = subs.subscribe(4, Policy::DropNewest).unwrap();
        for v in 1..=100 {
            subs.deliver(&snap(v)).notify();
        }
        assert_eq!(sub.counters().dropped, 96);
        assert_eq!(versions(&sub), vec![1, 2, 3, 4]);
        assert_eq!(sub.counters().gaps, 0);
        subs.deliver(&snap(101)).notify();
        assert_eq!(versions(&sub), vec![101]);
        assert_eq!(
            sub.counters(),
            SubscriptionCounters {
                delivered: 5,
                dropped: 96,
                gaps: 1,
                duplicates: 0
            }
        );
    }

    #[test]
    fn keep_latest_conflates_to_one() {
        let subs = Subscribers::<Pod>::new();
        let sub = subs.subscribe(10, Policy::KeepLatest).unwrap();
        assert_eq!(sub.capacity(), 1);
        for v in 1..=5 {
            subs.deliver(&snap(v)).notify();
        }
        assert_eq!(versions(&sub), vec![5]);
        subs.deliver(&snap(6)).notify();
        assert_eq!(versions(&sub), vec![6]);
        assert_eq!(
            sub.counters(),
            SubscriptionCounters {
                delivered: 2,
                dropped: 4,
                gaps: 1,
                duplicates: 0
            }
        );
    }

    #[test]
    fn duplicates_are_skipped_and_counted() {
        let subs = Subscribers::<Pod>::new();
        let sub = subs.subscribe(8, Policy::DropOldest).unwrap();
        for v in [1, 2, 2, 1, 3, 5] {
            subs.deliver(&snap(v)).notify();
        }
        assert_eq!(versions(&sub), vec![1, 2, 3, 5]);
        assert_eq!(
            sub.counters(),
            SubscriptionCounters {
                delivered: 4,
                dropped: 0,
                gaps: 1,
                duplicates: 2
            }
        );
    }

    #[test]
    fn first_event_after_subscribe_is_not_a_gap() {
        let subs = Subscribers::<Pod>::new();
        let sub = subs.subscribe(2, Policy::DropOldest).unwrap();
        subs.deliver(&snap(41)).notify();
        subs.deliver(&snap(42)).notify();
        assert_eq!(versions(&sub), vec![41, 42]);
        assert_eq!(sub.counters().gaps, 0);
    }

    #[test]
    fn close_all_drains_then_closes() {
        let subs = Subscribers::<Pod>::new();
        let sub = subs.subscribe(4, Policy::DropOldest).unwrap();
        subs.deliver(&snap(1)).notify();
        subs.close_all().wake();
        assert!(sub.is_closed());
        subs.deliver(&snap(2)).notify(); // not queued: the queue is closed
        assert_eq!(sub.try_recv().map(|e| e.version), Ok(1));
        assert_eq!(sub.try_recv().unwrap_err(), Error::Closed);
        assert_eq!(sub.recv().unwrap_err(), Error::Closed);
        assert_eq!(sub.iter().count(), 0);
    }

    #[test]
    fn close_detaches_and_drop_folds_counters() {
        let subs = Subscribers::<Pod>::new();
        let a = subs.subscribe(2, Policy::DropOldest).unwrap();
        let b = subs.subscribe(2, Policy::DropNewest).unwrap();
        for v in 1..=5 {
            subs.deliver(&snap(v)).notify();
        }
        assert_eq!(subs.len(), 2);
        a.close();
        assert_eq!(subs.len(), 1);
        subs.deliver(&snap(6)).notify();
        assert_eq!(versions(&a), vec![4, 5]);
        assert_eq!(a.try_recv().unwrap_err(), Error::Closed);
        // a: 2 delivered, 3 dropped, 1 gap; b: 0 delivered, 4 dropped.
        let expect = SubscriptionCounters {
            delivered: 2,
            dropped: 7,
            gaps: 1,
            duplicates: 0,
        };
        assert_eq!(subs.counters(), expect);
        drop(a);
        drop(b);
        assert_eq!(subs.len(), 0);
        assert_eq!(subs.counters(), expect, "ended subscriptions stay counted");
        subs.reset_counters();
        assert_eq!(subs.counters(), SubscriptionCounters::default());
    }

    #[test]
    fn dropping_the_registry_closes_subscriptions() {
        let subs = Subscribers::<Pod>::new();
        let sub = subs.subscribe(2, Policy::DropOldest).unwrap();
        drop(subs);
        assert!(sub.is_closed());
        assert_eq!(sub.recv().unwrap_err(), Error::Closed);
        sub.close(); // no registry left: still fine
    }

    #[test]
    fn arc_events_are_shared_not_copied() {
        let subs = Subscribers::<ArcSlots<String>>::new();
        let sub = subs.subscribe(2, Policy::DropOldest).unwrap();
        let e = Arc::new(Snapshot {
            state: "hello".to_string(),
            version: 1,
            timestamp: 0.0,
            published_at: 0.0,
            published_ns: 0,
            source: Source::UNKNOWN,
        });
        subs.deliver(&e).notify();
        assert!(Arc::ptr_eq(&sub.try_recv().unwrap(), &e));
    }

    #[test]
    fn blocking_recv_is_woken_by_another_thread() {
        let subs = Arc::new(Subscribers::<Pod>::new());
        let sub = subs.subscribe(4, Policy::DropOldest).unwrap();
        let producer = {
            let subs = Arc::clone(&subs);
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(20));
                subs.deliver(&snap(1)).notify();
            })
        };
        assert_eq!(
            sub.recv_timeout(Duration::from_secs(10)).map(|e| e.version),
            Ok(1)
        );
        producer.join().unwrap();
    }

    #[test]
    fn recv_timeout_times_out() {
        let subs = Subscribers::<Pod>::new();
        let sub = subs.subscribe(4, Policy::DropOldest).unwrap();
        let t = Duration::from_millis(10);
        let start = Instant::now();
        assert_eq!(sub.recv_timeout(t).unwrap_err(), Error::Timeout(t));
        assert!(start.elapsed() >= t);
        assert_eq!(
            sub.recv_timeout(Duration::ZERO).unwrap_err(),
            Error::Timeout(Duration::ZERO)
        );
    }

    #[test]
    fn close_wakes_a_blocked_receiver() {
        let subs = Subscribers::<Pod>::new();
        let sub = Arc::new(subs.subscribe(4, Policy::DropOldest).unwrap());
        let consumer = {
            let sub = Arc::clone(&sub);
            thread::spawn(move || sub.recv_timeout(Duration::from_secs(10)))
        };
        thread::sleep(Duration::from_millis(20));
        sub.close();
        assert_eq!(consumer.join().unwrap().unwrap_err(), Error::Closed);
    }

    #[test]
    fn poll_recv_registers_and_is_woken() {
        let subs = Subscribers::<Pod>::new();
        let sub = subs.subscribe(4, Policy::DropOldest).unwrap();
        let counter = Arc::new(CountingWaker::default());
        let waker = Waker::from(Arc::clone(&counter));
        let mut cx = Context::from_waker(&waker);
        assert!(sub.poll_recv(&mut cx).is_pending());
        subs.deliver(&snap(1)).notify();
        assert_eq!(counter.0.load(Ordering::SeqCst), 1);
        match sub.poll_recv(&mut cx) {
            Poll::Ready(Ok(e)) => assert_eq!(e.version, 1),
            other => panic!("unexpected {other:?}"),
        }
        assert!(sub.poll_recv(&mut cx).is_pending());
        subs.close_all().wake();
        assert_eq!(counter.0.load(Ordering::SeqCst), 2);
        assert!(matches!(
            sub.poll_recv(&mut cx),
            Poll::Ready(Err(Error::Closed))
        ));
    }

    /// Every event number is delivered or dropped exactly once, in order,
    /// never torn, while the producer laps a slow consumer.
    #[test]
    fn concurrent_producer_and_consumer_account_for_every_event() {
        const N: u64 = 200_000;
        for policy in [Policy::DropOldest, Policy::DropNewest, Policy::KeepLatest] {
            let subs = Arc::new(Subscribers::<Pod>::new());
            let sub = subs.subscribe(3, policy).unwrap();
            let producer = {
                let subs = Arc::clone(&subs);
                thread::spawn(move || {
                    for v in 1..=N {
                        subs.deliver(&snap(v)).notify();
                    }
                    subs.close_all().wake();
                })
            };
            let mut last = 0;
            let mut received = 0u64;
            for e in &sub {
                assert_eq!(e.state, [e.version, !e.version], "torn event");
                assert!(e.version > last, "out of order");
                last = e.version;
                received += 1;
            }
            producer.join().unwrap();
            let c = sub.counters();
            assert_eq!(c.delivered, received);
            assert_eq!(c.duplicates, 0);
            assert_eq!(c.delivered + c.dropped, N, "{policy:?}: {c:?}");
            if policy != Policy::DropNewest {
                assert_eq!(last, N, "the newest event is never lost");
            }
        }
    }
}

/// Loom models of one queue and its wake-up. Run with
/// `RUSTFLAGS="--cfg loom" cargo test --release --lib subscription::loom_tests`.
#[cfg(loom)]
mod loom_tests {
    use super::super::queue::{Consumer, Queue};
    use super::super::{Policy, Subscription};
    use crate::error::Error;
    use crate::snapshot::Snapshot;
    use crate::source::Source;
    use crate::storage::PodSlots;
    use std::sync::Arc;

    type Q = Queue<PodSlots<[u64; 2]>>;

    fn snap(version: u64) -> Snapshot<[u64; 2]> {
        Snapshot {
            state: [version, !version],
            version,
            timestamp: 0.0,
            published_at: 0.0,
            published_ns: 0,
            source: Source::UNKNOWN,
        }
    }

    fn model(f: impl Fn() + Sync + Send + 'static) {
        let mut builder = loom::model::Builder::new();
        // LOOM_MAX_PREEMPTIONS overrides; 2 keeps both models to seconds
        // (3 takes about a minute on 2 cores).
        if builder.preemption_bound.is_none() {
            builder.preemption_bound = Some(2);
        }
        builder.check(f);
    }

    fn detached(queue: &Arc<Q>) -> Subscription<Snapshot<[u64; 2]>> {
        Subscription::new(Arc::clone(queue) as Arc<dyn Consumer<_>>, None)
    }

    /// 3 events into a capacity-2 drop-oldest queue, consumer blocked in
    /// `recv`: it always ends with the newest event (no lost wake-up; a lost
    /// one is a loom deadlock), never sees a torn or out-of-order event, and
    /// every event is delivered or counted dropped.
    #[test]
    fn drop_oldest_no_lost_wakeup_no_torn_event() {
        model(|| {
            let queue = Arc::new(Q::new(2, Policy::DropOldest, 0).unwrap());
            let producer = {
                let queue = Arc::clone(&queue);
                loom::thread::spawn(move || {
                    for v in 1..=3 {
                        let _ = queue.push(&snap(v));
                        queue.notify();
                    }
                })
            };
            let sub = detached(&queue);
            let mut last = 0;
            while last < 3 {
                let e = sub.recv().unwrap();
                assert_eq!(e.state, [e.version, !e.version], "torn event");
                assert!(e.version > last, "out of order");
                last = e.version;
            }
            producer.join().unwrap();
            let c = sub.counters();
            assert_eq!(c.delivered + c.dropped, 3, "{c:?}");
            assert_eq!(c.duplicates, 0);
        });
    }

    /// Drop-newest into a capacity-1 queue: the producer never overwrites a
    /// slot the consumer is reading; events arrive in order; a close wakes
    /// the blocked consumer after it drained what was queued.
    #[test]
    fn drop_newest_and_close_wake_the_consumer() {
        model(|| {
            let queue = Arc::new(Q::new(1, Policy::DropNewest, 0).unwrap());
            let producer = {
                let queue = Arc::clone(&queue);
                loom::thread::spawn(move || {
                    let _ = queue.push(&snap(1));
                    queue.notify();
                    let _ = queue.push(&snap(2));
                    queue.notify();
                    queue.close();
                })
            };
            let sub = detached(&queue);
            let mut last = 0;
            loop {
                match sub.recv() {
                    Ok(e) => {
                        assert_eq!(e.state, [e.version, !e.version], "torn event");
                        assert!(e.version > last, "out of order");
                        last = e.version;
                    }
                    Err(err) => {
                        assert_eq!(err, Error::Closed);
                        break;
                    }
                }
            }
            producer.join().unwrap();
            assert!(last >= 1, "event 1 always fits");
            let c = sub.counters();
            assert_eq!(c.delivered + c.dropped, 2, "{c:?}");
        });
    }

    /// `close` racing `push`: a producer pushes 1 and 2 into a capacity-2
    /// queue while another thread closes it; the consumer, blocked in
    /// `recv`, drains what was queued and then always gets `Closed` (a lost
    /// wake-up is a loom deadlock). Events come in order, unseen events
    /// are exactly those the close stopped. Leaves out: the registry's
    /// `close_all` (it marks each queue the same way) and drop-newest.
    #[test]
    fn close_racing_push_wakes_the_consumer() {
        model(|| {
            let queue = Arc::new(Q::new(2, Policy::DropOldest, 0).unwrap());
            let producer = {
                let queue = Arc::clone(&queue);
                loom::thread::spawn(move || {
                    for v in 1..=2 {
                        let _ = queue.push(&snap(v));
                        queue.notify();
                    }
                })
            };
            let closer = {
                let queue = Arc::clone(&queue);
                loom::thread::spawn(move || queue.close())
            };
            let sub = detached(&queue);
            let mut last = 0;
            loop {
                match sub.recv() {
                    Ok(e) => {
                        assert_eq!(e.state, [e.version, !e.version], "torn event");
                        assert!(e.version > last, "out of order");
                        last = e.version;
                    }
                    Err(err) => {
                        assert_eq!(err, Error::Closed);
                        break;
                    }
                }
            }
            producer.join().unwrap();
            closer.join().unwrap();
            let c = sub.counters();
            assert_eq!(c.dropped, 0, "capacity 2 holds both: {c:?}");
            assert!(c.delivered <= 2);
        });
    }
}
