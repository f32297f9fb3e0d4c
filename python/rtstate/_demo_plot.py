"""The demo's picture: the recorded trajectory against its setpoints, and
the period histogram of rtstate's ``ControlLoop`` beside a ``time.sleep``
loop's at the same rate. Needs matplotlib and the ``mcap`` reader (the
``demo`` extra installs both)."""

from __future__ import annotations

import json
import time
from typing import Any, Sequence

import numpy as np

from ._rtstate import ControlLoop


def loop_periods(rate: float, seconds: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """Periods (ms) of a ``ControlLoop`` ticking a Python callback at
    ``rate`` Hz, then of a ``time.sleep(1/rate)`` loop, each for ``seconds``."""
    ticks: list[float] = []
    loop = ControlLoop(lambda: ticks.append(time.perf_counter()), rate, timer_slack_ns=1000, realtime_policy="warn")
    loop.start()
    time.sleep(seconds)
    loop.stop(1.0)
    sleeps: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        sleeps.append(time.perf_counter())
        time.sleep(1.0 / rate)
    return np.diff(ticks) * 1e3, np.diff(sleeps) * 1e3


def read_positions(path: str, topic: str) -> tuple[np.ndarray, np.ndarray]:
    """Publish times (s) and positions of ``topic`` in an MCAP recording."""
    from mcap.reader import make_reader

    times, positions = [], []
    with open(path, "rb") as f:
        for _, _, message in make_reader(f).iter_messages(topics=[topic], log_time_order=True):
            d = json.loads(message.data)
            times.append(d["publish_time"])
            positions.append(d["state"]["position"])
    return np.asarray(times), np.asarray(positions).reshape(-1, 3)


def make_png(
    mcap_path: str,
    png_path: str,
    topic: str,
    setpoints: Sequence[Sequence[float]],
    switch_time: float,
    rate: float,
) -> dict[str, Any]:
    """Writes the figure; returns the figures it shows."""
    # matplotlib comes with the demo's extra (`.[demo]`), not with the core
    # package or the test tools: stubtest must not need it.
    import matplotlib  # type: ignore[import-not-found, unused-ignore]

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # type: ignore[import-not-found, unused-ignore]

    t, p = read_positions(mcap_path, topic)
    loop, sleep = loop_periods(rate)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.8))
    if len(t):
        t0 = t[0]
        for k, (axis, color) in enumerate(zip("xyz", ("tab:red", "tab:green", "tab:blue"))):
            ax1.plot(t - t0, p[:, k], color=color, label=f"{axis} (recorded)")
            sp = np.where(t < switch_time, setpoints[0][k], setpoints[1][k])
            ax1.plot(t - t0, sp, color=color, linestyle="--", linewidth=1, label=f"{axis} setpoint")
    ax1.set_xlabel("time (s)")
    ax1.set_ylabel("position (m)")
    ax1.set_title(f"trajectory vs setpoints ({topic!r} in {mcap_path})")
    ax1.legend(ncol=2, fontsize=8)
    target = 1e3 / rate
    hi = max(target * 3, float(np.percentile(np.concatenate([loop, sleep]), 99.5)) if len(loop) and len(sleep) else target * 3)
    bins = np.linspace(0, hi, 80)
    ax2.hist(np.clip(loop, 0, hi), bins=bins, alpha=0.7, label=f"rtstate ControlLoop: {1e3 / np.mean(loop):.0f} Hz achieved, p99 {np.percentile(loop, 99):.3f} ms")
    ax2.hist(np.clip(sleep, 0, hi), bins=bins, alpha=0.7, label=f"time.sleep loop: {1e3 / np.mean(sleep):.0f} Hz achieved, p99 {np.percentile(sleep, 99):.3f} ms")
    ax2.axvline(target, color="k", linestyle=":", label=f"target {target:.3f} ms")
    ax2.set_yscale("log")
    ax2.set_xlabel("period (ms)")
    ax2.set_ylabel("ticks")
    ax2.set_title(f"loop period at {rate:g} Hz (Python callback, {len(loop) + 1} / {len(sleep) + 1} ticks)")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png_path, dpi=110)
    plt.close(fig)
    return {
        "samples": int(len(t)),
        "loop_hz": float(1e3 / np.mean(loop)) if len(loop) else float("nan"),
        "sleep_hz": float(1e3 / np.mean(sleep)) if len(sleep) else float("nan"),
        "loop_p50_ms": float(np.median(loop)) if len(loop) else float("nan"),
        "loop_p99_ms": float(np.percentile(loop, 99)) if len(loop) else float("nan"),
        "sleep_p50_ms": float(np.median(sleep)) if len(sleep) else float("nan"),
        "sleep_p99_ms": float(np.percentile(sleep, 99)) if len(sleep) else float("nan"),
    }
