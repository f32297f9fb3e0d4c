//! The 1 kHz loop against its peers, in one run: rtstate's `ControlLoop`
//! with a Rust closure, and a bare Rust `clock_nanosleep` absolute-deadline
//! loop (the kernel's floor). Each runs `RTSTATE_LOOP_SECS` seconds (default
//! 10). Prints tick counts and period-error percentiles (|interval between
//! consecutive tick starts − period|, in µs) computed the same way, from
//! tick start times recorded into preallocated vectors.
//!
//! A third row runs `ControlLoop` with SCHED_FIFO 80 and a 1 ns timer slack
//! (warn policy: the row says whether they applied). The Python loops are
//! added to this table by the Python benchmark.
//!
//! `cargo bench --bench control_loop` (set `RTSTATE_LOOP_SECS=1` for a quick look).

use rtstate::control::{
    bare_loop, ControlLoop, Flow, LoopConfig, LoopStats, RtPolicy, RtSettings, Tick,
};
use std::time::Duration;

const RATE_HZ: f64 = 1000.0;

struct Row {
    name: String,
    ticks: usize,
    expected: usize,
    /// Period errors, ns, sorted.
    errors: Vec<u64>,
    note: String,
}

fn period_errors(starts: &[u64], period: u64) -> Vec<u64> {
    let mut e: Vec<u64> = starts
        .windows(2)
        .map(|w| (w[1] - w[0]).abs_diff(period))
        .collect();
    e.sort_unstable();
    e
}

fn pct(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1] as f64 / 1000.0
}

fn rtstate_row(name: &str, secs: f64, rt: RtSettings) -> Row {
    let config = LoopConfig::from_rate_hz(RATE_HZ)
        .expect("valid rate")
        .with_real_time(rt, RtPolicy::Warn);
    let period = config.period.as_nanos() as u64;
    let expected = (secs * RATE_HZ).round() as usize;
    let mut starts: Vec<u64> = Vec::with_capacity(expected + 16);
    // Ticks run in the window of `expected` deadlines (skipped deadlines
    // lower the count); the tick at deadline `expected` only stops the loop.
    let mut ticks = 0;
    let mut l = ControlLoop::new(config, |t: &Tick| {
        if t.index >= expected as u64 {
            ticks = t.iteration as usize;
            return Ok(Flow::Stop);
        }
        if starts.len() < starts.capacity() {
            starts.push(t.now_ns);
        }
        Ok(Flow::Continue)
    })
    .expect("valid config");
    let stats: LoopStats = l.run_for(u64::MAX).expect("runs");
    drop(l);
    let rt: Vec<String> = stats
        .real_time
        .settings
        .iter()
        .map(|s| match &s.outcome {
            Ok(()) => format!("{} applied", s.setting),
            Err(e) => format!("{} NOT applied ({e})", s.setting),
        })
        .collect();
    let elapsed = stats.elapsed.as_secs_f64();
    Row {
        name: name.to_string(),
        ticks,
        expected,
        errors: period_errors(&starts, period),
        note: format!(
            "elapsed {:.4} s, overruns {}, missed {}, lateness p99 {:.1} µs, cpu {:.1} % ; loop's own histogram: period-error p99 {:.1} µs{}{}",
            elapsed,
            stats.overruns,
            stats.missed_ticks,
            stats.lateness.p99.as_secs_f64() * 1e6,
            100.0 * stats.cpu_time.as_secs_f64() / elapsed.max(1e-9),
            stats.period_error.p99.as_secs_f64() * 1e6,
            if rt.is_empty() { "" } else { " ; " },
            rt.join(", ")
        ),
    }
}

fn bare_row(secs: f64) -> Row {
    let period = Duration::from_secs_f64(1.0 / RATE_HZ);
    let wakes = bare_loop(period, Duration::from_secs_f64(secs));
    let p = period.as_nanos() as u64;
    let late: Vec<u64> = {
        let mut l: Vec<u64> = wakes
            .iter()
            .enumerate()
            .map(|(k, &w)| w.saturating_sub(k as u64 * p))
            .collect();
        l.sort_unstable();
        l
    };
    Row {
        name: "bare clock_nanosleep loop".into(),
        ticks: wakes.len(),
        expected: (secs * RATE_HZ).round() as usize,
        errors: period_errors(&wakes, p),
        note: format!(
            "lateness p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs (wake-up after the absolute deadline)",
            pct(&late, 0.5),
            pct(&late, 0.99),
            pct(&late, 1.0)
        ),
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` does not,
    // and then a short run only checks that the bench works.
    let default_secs = if std::env::args().any(|a| a == "--bench") {
        10.0
    } else {
        0.2
    };
    let secs: f64 = std::env::var("RTSTATE_LOOP_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|s: &f64| s.is_finite() && *s > 0.0)
        .unwrap_or(default_secs);
    println!(
        "control loop at {RATE_HZ} Hz, {secs} s per row, {} cpus",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let rows = vec![
        rtstate_row(
            "rtstate ControlLoop (defaults: spin, catch-up, 1 ns slack)",
            secs,
            LoopConfig::from_rate_hz(RATE_HZ)
                .expect("valid rate")
                .real_time,
        ),
        rtstate_row(
            "rtstate ControlLoop (kernel's timer slack)",
            secs,
            RtSettings::default(),
        ),
        bare_row(secs),
        rtstate_row(
            "rtstate ControlLoop (fifo 80, slack 1 ns)",
            secs,
            RtSettings {
                fifo_priority: Some(80),
                timer_slack: Some(Duration::from_nanos(1)),
                ..RtSettings::default()
            },
        ),
    ];
    println!();
    println!("| loop | ticks | expected | period error p50 µs | p90 µs | p99 µs | max µs |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for r in &rows {
        println!(
            "| {} | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} |",
            r.name,
            r.ticks,
            r.expected,
            pct(&r.errors, 0.5),
            pct(&r.errors, 0.9),
            pct(&r.errors, 0.99),
            pct(&r.errors, 1.0)
        );
    }
    println!();
    for r in &rows {
        println!("{}: {}", r.name, r.note);
    }
    // The defaults row against the bare loop, found by name.
    let a = &rows[0];
    let b = rows
        .iter()
        .find(|r| r.name.starts_with("bare"))
        .expect("the bare row");
    println!(
        "\np99 period error, rtstate / bare: {:.2}x (target ≤ 1.5x)",
        pct(&a.errors, 0.99) / pct(&b.errors, 0.99)
    );
}
