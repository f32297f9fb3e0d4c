//! Public behaviour of `control::ControlLoop`: exact deadlines on a mock
//! clock, overrun and missed-tick accounting, a real run at 1 kHz (a floor,
//! never a ceiling), real-time policies, errors, panics and stopping.

use rtstate::control::{ControlLoop, Flow, LoopConfig, RtPolicy, RtSettings, StopReason, Tick};
use rtstate::{Error, MockClock};
use std::sync::mpsc;
use std::time::Duration;

const MS: u64 = 1_000_000;
const GENEROUS: Duration = Duration::from_secs(10);

fn mock_1ms() -> (MockClock, LoopConfig) {
    let m = MockClock::new(1000.0);
    let c = LoopConfig::from_period(Duration::from_millis(1))
        .unwrap()
        .with_clock(m.clock());
    (m, c)
}

#[test]
fn mock_clock_tick_k_runs_at_exactly_k_ms() {
    let (m, c) = mock_1ms();
    let mut times = Vec::new();
    let mut l = ControlLoop::new(c, |t: &Tick| {
        times.push((t.index, t.iteration, t.deadline_ns, t.now_ns, t.lateness));
        Ok(Flow::Continue)
    })
    .unwrap();
    let s = l.run_for(100).unwrap();
    drop(l);
    assert_eq!(times.len(), 100);
    for (k, &(index, iteration, deadline, now, lateness)) in times.iter().enumerate() {
        let k = k as u64;
        assert_eq!((index, iteration), (k, k));
        assert_eq!(deadline, k * MS);
        assert_eq!(now, k * MS);
        assert_eq!(lateness, Duration::ZERO);
    }
    assert_eq!(m.now_ns(), 99 * MS);
    assert_eq!(s.iteration_count, 100);
    assert_eq!((s.overruns, s.missed_ticks, s.errors), (0, 0, 0));
    assert_eq!(s.period.p50, Duration::from_millis(1));
    assert_eq!(s.period.max, Duration::from_millis(1));
    assert_eq!(s.period_error.max, Duration::ZERO);
    assert_eq!(s.lateness.max, Duration::ZERO);
    assert_eq!(s.jitter_rms, Duration::ZERO);
    assert!((s.frequency_actual_hz - 1000.0).abs() < 1e-9);
    assert!((s.frequency_target_hz() - 1000.0).abs() < 1e-9);
    assert_eq!(s.stop_reason, Some(StopReason::Completed));
    assert!(!s.running);
}

#[test]
fn a_tick_of_2_5_periods_overruns_and_misses_two_deadlines() {
    // Every tick advances the mock clock by 2.5 ms: tick at 0 ends at 2.5,
    // deadlines 1 and 2 are skipped (catch_up 1: no burst), the next tick
    // runs at 3.
    let (m, c) = mock_1ms();
    let c = c.with_catch_up(1);
    let mut seen = Vec::new();
    let mut l = ControlLoop::new(c, |t: &Tick| {
        seen.push((t.index, t.now_ns));
        m.advance(Duration::from_micros(2500));
        Ok(Flow::Continue)
    })
    .unwrap();
    let s = l.run_for(4).unwrap();
    drop(l);
    assert_eq!(seen, vec![(0, 0), (3, 3 * MS), (6, 6 * MS), (9, 9 * MS)]);
    assert_eq!(s.iteration_count, 4);
    assert_eq!(s.overruns, 4);
    assert_eq!(s.missed_ticks, 8);
    assert_eq!(s.execution_mean, Duration::from_micros(2500));
    assert_eq!(s.execution_max, Duration::from_micros(2500));
    assert_eq!(s.execution_min, Duration::from_micros(2500));
    // Period 3 ms between ticks (histogram: within 1 %), expected 3 ms
    // (three deadlines apart), so no period error.
    let p50 = s.period.p50.as_secs_f64();
    assert!((p50 - 0.003).abs() < 0.003 * 0.01, "{p50}");
    assert_eq!(s.period.max, Duration::from_millis(3));
    assert_eq!(s.period_error.max, Duration::ZERO);
}

#[test]
fn one_long_tick_among_short_ones() {
    let (m, c) = mock_1ms();
    let c = c.with_catch_up(1);
    let mut seen = Vec::new();
    let mut l = ControlLoop::new(c, |t: &Tick| {
        seen.push(t.index);
        match t.index {
            2 => m.advance(Duration::from_micros(2500)), // ends at 4.5: misses 3, 4
            6 => m.advance(Duration::from_micros(1200)), // ends at 7.2: tick 7 late
            _ => m.advance(Duration::from_micros(100)),
        }
        Ok(Flow::Continue)
    })
    .unwrap();
    let s = l.run_for(7).unwrap();
    drop(l);
    assert_eq!(seen, vec![0, 1, 2, 5, 6, 7, 8]);
    assert_eq!((s.overruns, s.missed_ticks), (2, 2));
    assert_eq!(s.lateness.max, Duration::from_micros(200));
}

#[test]
fn a_short_stall_is_caught_up_a_long_one_skipped() {
    // Default catch_up (4 periods): tick 2 ends at 4.5 ms (deadline 3 is 1.5
    // periods behind), so deadlines 3 and 4 still run, back to back; tick 6
    // ends at 12 ms (deadline 7 is 5 periods behind): 7..=11 are skipped.
    let (m, c) = mock_1ms();
    assert_eq!(c.catch_up, rtstate::control::DEFAULT_CATCH_UP);
    let mut seen = Vec::new();
    let mut l = ControlLoop::new(c, |t: &Tick| {
        seen.push((t.index, t.now_ns));
        match t.index {
            2 => m.advance(Duration::from_micros(2500)),
            6 => m.advance(Duration::from_micros(6000)),
            _ => m.advance(Duration::from_micros(100)),
        }
        Ok(Flow::Continue)
    })
    .unwrap();
    let s = l.run_for(8).unwrap();
    drop(l);
    let ticks: Vec<u64> = seen.iter().map(|(k, _)| *k).collect();
    assert_eq!(ticks, vec![0, 1, 2, 3, 4, 5, 6, 12]);
    // Caught-up ticks run late, at once: 3 at 4.5 ms, 4 at 4.6 ms.
    assert_eq!(seen[3], (3, 4_500_000));
    assert_eq!(seen[4], (4, 4_600_000));
    assert_eq!(s.missed_ticks, 5);
    assert!(s.overruns >= 2);
}

#[test]
fn a_real_second_at_1_khz_reaches_at_least_90_percent_of_the_ticks() {
    let config = LoopConfig::from_rate_hz(1000.0)
        .unwrap()
        .with_name("test-1khz");
    let h = ControlLoop::spawn(config, |_t: &Tick| Ok(Flow::Continue)).unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    let s = h.stop(GENEROUS).unwrap();
    assert!(
        s.iteration_count >= 900,
        "{} ticks in 1 s",
        s.iteration_count
    );
    assert_eq!(s.stop_reason, Some(StopReason::Requested));
    assert!(s.cpu_time > Duration::ZERO);
    assert!(s.period.count >= 899);
    eprintln!(
        "1 s at 1 kHz: {} ticks, period p50 {:?} p99 {:?} max {:?}, lateness p99 {:?}, cpu {:?}",
        s.iteration_count, s.period.p50, s.period.p99, s.period.max, s.lateness.p99, s.cpu_time
    );
}

#[test]
fn statistics_are_readable_while_running() {
    let (tx, rx) = mpsc::channel();
    let config = LoopConfig::from_rate_hz(500.0).unwrap();
    let h = ControlLoop::spawn(config, move |t: &Tick| {
        if t.iteration == 20 {
            let _ = tx.send(());
        }
        Ok(Flow::Continue)
    })
    .unwrap();
    rx.recv_timeout(GENEROUS).expect("20 ticks");
    let s = h.stats();
    assert!(s.running && h.is_running());
    assert!(s.iteration_count >= 20);
    let end = h.stop(GENEROUS).unwrap();
    assert!(!end.running && !h.is_running());
    assert!(end.iteration_count >= s.iteration_count);
}

/// Whether this process may use SCHED_FIFO, found by asking the loop itself
/// under the warn policy.
#[test]
fn strict_fifo_agrees_with_what_warn_reports() {
    let settings = RtSettings {
        fifo_priority: Some(10),
        ..RtSettings::default()
    };
    let config = |policy| {
        LoopConfig::from_rate_hz(1000.0)
            .unwrap()
            .with_real_time(settings.clone(), policy)
    };
    let warn = ControlLoop::new(config(RtPolicy::Warn), |_t: &Tick| Ok(Flow::Continue))
        .unwrap()
        .run_for(5)
        .unwrap();
    assert_eq!(warn.iteration_count, 5, "warn always runs");
    let permitted = warn
        .real_time
        .applied("sched_fifo")
        .expect("a requested setting is always reported");
    eprintln!(
        "sched_fifo permitted here: {permitted}: {:?}",
        warn.real_time
    );

    let strict = ControlLoop::new(config(RtPolicy::Strict), |_t: &Tick| Ok(Flow::Continue))
        .unwrap()
        .run_for(5);
    match strict {
        Ok(s) => {
            assert!(permitted, "strict started although warn reported a refusal");
            assert_eq!(s.real_time.applied("sched_fifo"), Some(true));
            assert_eq!(s.iteration_count, 5);
        }
        Err(Error::RealTime { setting, reason }) => {
            assert!(
                !permitted,
                "strict refused ({reason}) although warn applied it"
            );
            assert_eq!(setting, "sched_fifo");
        }
        Err(e) => panic!("unexpected error {e}"),
    }
    // The same through spawn.
    match ControlLoop::spawn(config(RtPolicy::Strict), |_t: &Tick| Ok(Flow::Continue)) {
        Ok(h) => {
            assert!(permitted);
            let s = h.stop(GENEROUS).unwrap();
            assert_eq!(s.real_time.applied("sched_fifo"), Some(true));
        }
        Err(Error::RealTime { setting, .. }) => {
            assert!(!permitted);
            assert_eq!(setting, "sched_fifo");
        }
        Err(e) => panic!("unexpected error {e}"),
    }
}

#[test]
fn a_setting_that_cannot_apply_is_refused_under_strict_and_reported_under_warn() {
    // No machine has CPU 1000 (below the cpu_set_t size of 1024): EINVAL,
    // whatever the privileges.
    let settings = RtSettings {
        cpu_affinity: Some(vec![1000]),
        timer_slack: Some(Duration::from_nanos(1)),
        ..RtSettings::default()
    };
    let config = |policy| {
        LoopConfig::from_rate_hz(1000.0)
            .unwrap()
            .with_real_time(settings.clone(), policy)
    };
    let err =
        ControlLoop::spawn(config(RtPolicy::Strict), |_t: &Tick| Ok(Flow::Continue)).unwrap_err();
    assert!(
        matches!(
            err,
            Error::RealTime {
                setting: "cpu_affinity",
                ..
            }
        ),
        "{err:?}"
    );
    let h = ControlLoop::spawn(config(RtPolicy::Warn), |_t: &Tick| Ok(Flow::Continue)).unwrap();
    let s = h.stop(GENEROUS).unwrap();
    assert_eq!(s.real_time.applied("cpu_affinity"), Some(false));
    assert_eq!(s.real_time.applied("timer_slack"), Some(true));
    assert_eq!(s.real_time.applied("sched_fifo"), None, "not requested");
    let aff = &s.real_time.settings[1];
    assert!(
        aff.outcome.as_ref().unwrap_err().contains("nvalid"),
        "{aff:?}"
    );
}

#[test]
fn a_panicking_tick_stops_the_loop_and_is_reported() {
    let (_m, c) = mock_1ms();
    let mut l = ControlLoop::new(c.clone(), |t: &Tick| {
        if t.index == 3 {
            panic!("boom at {}", t.index);
        }
        Ok(Flow::Continue)
    })
    .unwrap();
    assert_eq!(l.run_for(10), Err(Error::Panicked("boom at 3".into())));
    let s = l.stats();
    assert_eq!(s.iteration_count, 4);
    assert_eq!(s.last_panic.as_deref(), Some("boom at 3"));
    assert_eq!(s.stop_reason, Some(StopReason::Panicked));

    // On a thread: `stop` returns the panic; the statistics keep it.
    let h = ControlLoop::spawn(c, |_t: &Tick| -> Result<Flow, String> {
        panic!("thread boom")
    })
    .unwrap();
    let deadline = std::time::Instant::now() + GENEROUS;
    while h.is_running() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(h.stop(GENEROUS), Err(Error::Panicked("thread boom".into())));
    assert_eq!(h.stats().last_panic.as_deref(), Some("thread boom"));
}

#[test]
fn tick_errors_are_counted_and_stop_the_loop_only_when_asked() {
    let (_m, c) = mock_1ms();
    let tick = |t: &Tick| {
        if t.index % 2 == 1 {
            Err(format!("odd tick {}", t.index))
        } else {
            Ok(Flow::Continue)
        }
    };
    let s = ControlLoop::new(c.clone(), tick)
        .unwrap()
        .run_for(10)
        .unwrap();
    assert_eq!((s.iteration_count, s.errors), (10, 5));
    assert_eq!(s.last_error.as_deref(), Some("odd tick 9"));
    assert!((s.success_rate() - 0.5).abs() < 1e-12);

    let s = ControlLoop::new(c.with_stop_on_error(true), tick)
        .unwrap()
        .run_for(10)
        .unwrap();
    assert_eq!((s.iteration_count, s.errors), (2, 1));
    assert_eq!(s.stop_reason, Some(StopReason::Error));
    assert_eq!(s.last_error.as_deref(), Some("odd tick 1"));
}

#[test]
fn the_tick_can_stop_the_loop() {
    let (_m, c) = mock_1ms();
    let h = ControlLoop::spawn(c, |t: &Tick| {
        Ok(if t.index == 41 {
            Flow::Stop
        } else {
            Flow::Continue
        })
    })
    .unwrap();
    let deadline = std::time::Instant::now() + GENEROUS;
    while h.is_running() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    let s = h.stop(GENEROUS).unwrap();
    assert_eq!(s.iteration_count, 42);
    assert_eq!(s.stop_reason, Some(StopReason::Flow));
}

#[test]
fn stop_times_out_while_a_tick_blocks_and_succeeds_later() {
    let (entered_tx, entered_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let config = LoopConfig::from_rate_hz(100.0).unwrap();
    let h = ControlLoop::spawn(config, move |_t: &Tick| {
        let _ = entered_tx.send(());
        // Blocks until released (bounded, so the test cannot hang).
        let _ = release_rx.recv_timeout(GENEROUS);
        Ok(Flow::Continue)
    })
    .unwrap();
    entered_rx
        .recv_timeout(GENEROUS)
        .expect("the first tick runs");
    let t = Duration::from_millis(20);
    assert_eq!(h.stop(t), Err(Error::Timeout(t)));
    assert!(h.is_running());
    release_tx.send(()).unwrap();
    let s = h.stop(GENEROUS).unwrap();
    assert_eq!(s.stop_reason, Some(StopReason::Requested));
    assert!(!s.running);
}

#[test]
fn a_slow_loop_stops_promptly() {
    // 0.2 Hz: a stop must not wait for the 5 s deadline (sleeps are sliced).
    let config = LoopConfig::from_rate_hz(0.2).unwrap();
    let h = ControlLoop::spawn(config, |_t: &Tick| Ok(Flow::Continue)).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let s = h.stop(Duration::from_secs(2)).unwrap();
    assert_eq!(s.iteration_count, 1);
}

#[test]
fn bad_configs_are_refused() {
    assert!(matches!(
        LoopConfig::from_rate_hz(f64::NAN),
        Err(Error::InvalidArgument {
            name: "rate_hz",
            ..
        })
    ));
    let c = LoopConfig::from_rate_hz(100.0)
        .unwrap()
        .with_name("bad\0name");
    assert!(matches!(
        ControlLoop::spawn(c, |_t: &Tick| Ok(Flow::Continue)),
        Err(Error::InvalidArgument { name: "name", .. })
    ));
    let c = LoopConfig::from_rate_hz(100.0).unwrap().with_real_time(
        RtSettings {
            fifo_priority: Some(100),
            ..RtSettings::default()
        },
        RtPolicy::Warn,
    );
    assert!(matches!(
        ControlLoop::new(c, |_t: &Tick| Ok(Flow::Continue)),
        Err(Error::InvalidArgument {
            name: "fifo_priority",
            ..
        })
    ));
}

#[test]
fn a_timeout_too_large_to_represent_waits_for_ever() {
    let config = LoopConfig::from_rate_hz(200.0).unwrap();
    let h = ControlLoop::spawn(config, |_t: &Tick| Ok(Flow::Continue)).unwrap();
    // `Instant::now() + Duration::MAX` overflows: it must mean "no limit",
    // not a panic.
    let s = h.stop(Duration::MAX).unwrap();
    assert!(!s.running);
    assert!(h.wait(Duration::MAX));
}

/// Threads polling `is_running()` and `stats()` while another stops the
/// loop: the stop neither waits for them nor makes them wait for it.
#[test]
fn pollers_do_not_delay_stop_and_stop_does_not_block_pollers() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let config = LoopConfig::from_rate_hz(1000.0).unwrap();
    let h = Arc::new(ControlLoop::spawn(config, |_t: &Tick| Ok(Flow::Continue)).unwrap());
    let quit = Arc::new(AtomicBool::new(false));
    let pollers: Vec<_> = (0..3)
        .map(|_| {
            let (h, quit) = (h.clone(), quit.clone());
            std::thread::spawn(move || {
                let mut polls = 0u64;
                while !quit.load(Ordering::Relaxed) {
                    let _ = h.is_running();
                    let _ = h.stats().iteration_count;
                    polls += 1;
                }
                polls
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(50));
    let s = h.stop(GENEROUS).expect("stops while others poll");
    assert!(!s.running && !h.is_running());
    // A second stop, from another thread, gets the same outcome.
    let h2 = h.clone();
    let again = std::thread::spawn(move || h2.stop(GENEROUS))
        .join()
        .unwrap();
    assert_eq!(again.map(|s| s.iteration_count), Ok(s.iteration_count));
    quit.store(true, Ordering::Relaxed);
    for p in pollers {
        assert!(p.join().unwrap() > 0);
    }
}

/// A tick reading its own loop's statistics and running flag.
#[test]
fn a_tick_reads_its_own_loops_statistics() {
    use std::sync::{Arc, OnceLock};
    let me: Arc<OnceLock<Arc<rtstate::control::Handle>>> = Arc::new(OnceLock::new());
    let (tx, rx) = mpsc::channel();
    let inner = me.clone();
    let config = LoopConfig::from_rate_hz(500.0).unwrap();
    let h = Arc::new(
        ControlLoop::spawn(config, move |t: &Tick| {
            if let Some(h) = inner.get() {
                let s = h.stats();
                let _ = tx.send((t.iteration, s.iteration_count, h.is_running()));
            }
            Ok(Flow::Continue)
        })
        .unwrap(),
    );
    me.set(h.clone()).unwrap();
    let (iteration, counted, running) = rx.recv_timeout(GENEROUS).expect("a tick reads");
    // The tick being run is not yet counted.
    assert_eq!(counted, iteration);
    assert!(running);
    let s = h.stop(GENEROUS).unwrap();
    assert!(!s.running);
}

/// `spawn_gated`: the loop applies its settings and reports ready, but its
/// first tick waits until the gate is opened (or dropped).
#[test]
fn a_gated_loop_ticks_only_once_its_gate_opens() {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    let ticks = Arc::new(AtomicU64::new(0));
    let counted = ticks.clone();
    let config = LoopConfig::from_rate_hz(1000.0).unwrap();
    let (h, gate) = ControlLoop::spawn_gated(config, move |_t: &Tick| {
        counted.fetch_add(1, Ordering::Relaxed);
        Ok(Flow::Continue)
    })
    .unwrap();
    assert!(h.is_running());
    std::thread::sleep(Duration::from_millis(30));
    assert_eq!(ticks.load(Ordering::Relaxed), 0);
    gate.open();
    let deadline = std::time::Instant::now() + GENEROUS;
    while ticks.load(Ordering::Relaxed) == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(ticks.load(Ordering::Relaxed) > 0);
    let s = h.stop(GENEROUS).unwrap();
    assert_eq!(s.iteration_count, ticks.load(Ordering::Relaxed));
}

/// A stop requested before the gate opens ends the loop without a tick.
#[test]
fn a_gated_loop_stopped_before_its_gate_opens_never_ticks() {
    let config = LoopConfig::from_rate_hz(1000.0).unwrap();
    let (h, gate) = ControlLoop::spawn_gated(config, |_t: &Tick| Ok(Flow::Continue)).unwrap();
    h.request_stop();
    drop(gate);
    let s = h.stop(GENEROUS).unwrap();
    assert_eq!(s.iteration_count, 0);
    assert_eq!(s.stop_reason, Some(StopReason::Requested));
}
