"""rtstate's Python API against the pure-Python baseline (DART-Planner's
design, ../shared/baseline/seed_buffer.py) on the same operations, in the
same run. Prints medians of timeit batches (ns per operation) and ratios.

Targets: get_latest_state <= 1.0x the baseline (and repeated reads return
the same object); update_state of a FastDroneState <= 0.5x the baseline.
"""

from __future__ import annotations

import importlib.util
import statistics
import sys
import timeit
from pathlib import Path

import rtstate

BASELINE = Path(__file__).resolve().parents[3] / "shared" / "baseline" / "seed_buffer.py"
REPEATS = 9
NUMBER = 20_000


def load_baseline():
    spec = importlib.util.spec_from_file_location("seed_buffer", BASELINE)
    module = importlib.util.module_from_spec(spec)
    sys.modules["seed_buffer"] = module
    spec.loader.exec_module(module)
    return module


def median_ns(stmt, number=NUMBER) -> float:
    runs = timeit.repeat(stmt, number=number, repeat=REPEATS)
    return statistics.median(runs) / number * 1e9


def main() -> None:
    seed = load_baseline()
    ours = rtstate.create_fast_state_buffer(buffer_size=10)
    base = seed.ThreadSafeStateBuffer(buffer_size=10)
    ours_state = rtstate.FastDroneState(timestamp=1.0, position=[1.0, 2.0, 3.0])
    base_state = seed.FastDroneState(timestamp=1.0)
    base_state.position[:] = [1.0, 2.0, 3.0]
    for _ in range(20):
        ours.update_state(ours_state, "estimator")
        base.update_state(base_state, "estimator")
    assert ours.get_latest_state() is ours.get_latest_state(), "repeated reads must return one object"

    cases = [
        ("update_state(FastDroneState)", lambda: ours.update_state(ours_state, "estimator"),
         lambda: base.update_state(base_state, "estimator"), 0.5),
        ("get_latest_state()", ours.get_latest_state, base.get_latest_state, 1.0),
        ("get_latest_state().state.position[0]", lambda: ours.get_latest_state().state.position[0],
         lambda: base.get_latest_state().state.position[0], None),
        ("get_history()", ours.get_history, base.get_history, None),
        ("get_statistics()", ours.get_statistics, base.get_statistics, None),
    ]
    print(f"rtstate {rtstate.__version__} vs {BASELINE.name}; ns/op, median of {REPEATS} x {NUMBER}")
    print(f"{'operation':<40} {'rtstate':>10} {'baseline':>10} {'ratio':>7}  target")
    for name, ours_fn, base_fn, target in cases:
        o, b = median_ns(ours_fn), median_ns(base_fn)
        ratio = o / b
        verdict = "" if target is None else (f"<= {target}x " + ("ok" if ratio <= target else "MISSED"))
        print(f"{name:<40} {o:>10.1f} {b:>10.1f} {ratio:>6.2f}x  {verdict}")


if __name__ == "__main__":
    main()
