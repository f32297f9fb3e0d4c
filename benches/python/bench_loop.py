"""The 1 kHz loop from Python, against its peers in the same run.

Rows (each runs RTSTATE_LOOP_SECS seconds, default 10, at 1 kHz):
- rtstate ControlLoop, no-op Rust tick (``_rtstate._bench_rust_loop``);
- rtstate ControlLoop, Python callable (the GIL taken for each call);
- DART-Planner's loop: a Python thread sleeping ``time.sleep(deadline - now)``
  to an absolute deadline (its ``RealTimeControlLoop``);
- DART-Planner's estimator loop: ``time.sleep(0.001)`` after each tick;
- bare Rust ``clock_nanosleep`` absolute-deadline loop (the kernel's floor,
  ``rtstate::control::bare_loop``).

Every row records the time each tick started (CLOCK_MONOTONIC, ns) and is
summarised the same way: ticks, ticks expected, drift (last tick vs its
nominal time), and the period error |t[k] - t[k-1] - 1 ms| as p50, p90,
p99, max in µs. Targets: ticks within 0.1 % of the expected;
p99 period error ≤ 0.25× the sleep loop's and ≤ 1.5× the bare Rust loop's.
"""

from __future__ import annotations

import os
import platform
import time
from typing import Callable, Dict, List

import numpy as np

import rtstate
from rtstate import _rtstate

HZ = 1000.0
PERIOD_NS = int(1e9 / HZ)


def rust_tick(secs: float) -> List[int]:
    return list(_rtstate._bench_rust_loop(HZ, secs))


def python_callable(secs: float) -> List[int]:
    stamps: List[int] = []
    now = time.perf_counter_ns  # CLOCK_MONOTONIC on Linux
    loop = rtstate.ControlLoop(lambda: stamps.append(now()), HZ)
    loop.run(secs)
    return stamps


def dart_sleep_to_deadline(secs: float) -> List[int]:
    stamps: List[int] = []
    now = time.perf_counter
    period = 1.0 / HZ
    start = now()
    deadline = start
    while True:
        t = now()
        if t - start >= secs:
            break
        stamps.append(time.perf_counter_ns())
        deadline += period
        remaining = deadline - now()
        if remaining > 0:
            time.sleep(remaining)
    return stamps


def dart_sleep_1ms(secs: float) -> List[int]:
    stamps: List[int] = []
    start = time.perf_counter()
    while time.perf_counter() - start < secs:
        stamps.append(time.perf_counter_ns())
        time.sleep(0.001)
    return stamps


def bare_rust(secs: float) -> List[int]:
    return list(_rtstate._bare_loop(HZ, secs))


def summarise(stamps: List[int], secs: float) -> Dict[str, float]:
    t = np.asarray(stamps, dtype=np.int64)
    err_us = np.abs(np.diff(t) - PERIOD_NS) / 1e3
    expected = int(secs * HZ)
    drift_ms = ((t[-1] - t[0]) - (len(t) - 1) * PERIOD_NS) / 1e6 if len(t) > 1 else 0.0
    q = np.percentile(err_us, [50, 90, 99]) if len(err_us) else [0.0, 0.0, 0.0]
    return {
        "ticks": len(t),
        "expected": expected,
        "drift_ms": drift_ms,
        "p50": q[0],
        "p90": q[1],
        "p99": q[2],
        "max": float(err_us.max()) if len(err_us) else 0.0,
    }


def main() -> None:
    secs = float(os.environ.get("RTSTATE_LOOP_SECS", "10"))
    print(
        f"1 kHz loops, {secs:g} s each, same run; {platform.machine()} "
        f"{os.cpu_count()} CPUs ({platform.platform()}); period error |Δt - 1 ms| in µs"
    )
    rows: Dict[str, Callable[[float], List[int]]] = {
        "rtstate loop, Rust tick": rust_tick,
        "rtstate loop, Python callable": python_callable,
        "Python sleep-to-deadline (DART)": dart_sleep_to_deadline,
        "Python time.sleep(0.001) (DART-Planner)": dart_sleep_1ms,
        "bare Rust clock_nanosleep": bare_rust,
    }
    results = {}
    header = (
        f"{'loop':34} {'ticks':>7} {'expect':>7} {'drift ms':>9} "
        f"{'p50':>8} {'p90':>8} {'p99':>8} {'max':>9}"
    )
    print(header)
    print("-" * len(header))
    for name, fn in rows.items():
        r = summarise(fn(secs), secs)
        results[name] = r
        print(
            f"{name:34} {r['ticks']:7d} {r['expected']:7d} {r['drift_ms']:9.2f} "
            f"{r['p50']:8.1f} {r['p90']:8.1f} {r['p99']:8.1f} {r['max']:9.1f}"
        )
    ours = results["rtstate loop, Rust tick"]["p99"]
    ours_py = results["rtstate loop, Python callable"]["p99"]
    sleep = results["Python time.sleep(0.001) (DART-Planner)"]["p99"]
    dart = results["Python sleep-to-deadline (DART)"]["p99"]
    bare = results["bare Rust clock_nanosleep"]["p99"]

    def ratio(a: float, b: float) -> str:
        return f"{a / b:.2f}x" if b > 0 else "n/a"

    print()
    print(
        f"p99 ratios: Rust tick vs DART-Planner sleep loop {ratio(ours, sleep)} (target <= 0.25x), "
        f"vs DART sleep-to-deadline {ratio(ours, dart)}, vs bare Rust {ratio(ours, bare)} "
        f"(target <= 1.5x); Python callable vs DART-Planner sleep loop {ratio(ours_py, sleep)}, "
        f"vs bare Rust {ratio(ours_py, bare)}"
    )
    r = results["rtstate loop, Rust tick"]
    print(
        f"tick count, Rust tick: {r['ticks']} of {r['expected']} "
        f"({abs(r['ticks'] - r['expected']) / r['expected'] * 100:.3f} % off; target <= 0.1 %)"
    )


if __name__ == "__main__":
    main()
