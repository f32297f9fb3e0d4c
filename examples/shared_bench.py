"""Shared buffers from Python, against their in-process and multiprocessing
peers, in one run (medians):

1. ``get_latest_state()`` on a shared ``FastDroneState`` buffer against the
   in-process ``FastDroneStateBuffer``;
2. a hand-off between two processes: DART-Planner's ``ProcessControlLoop``
   passes the latest state through ``multiprocessing.Queue(maxsize=1)``
   (put -> get); here a ping-pong of a state through two such queues
   against the same ping-pong through two shared buffers (publish ->
   blocked ``wait_for_update`` wakes and reads). One way = round trip / 2.

``python examples/shared_bench.py``
"""

from __future__ import annotations

import multiprocessing as mp
import os
import statistics
import tempfile
import time
import timeit

import numpy as np

import rtstate

FAST = np.dtype(
    [
        ("timestamp", "<f8"),
        ("position", "<f8", (3,)),
        ("velocity", "<f8", (3,)),
        ("attitude", "<f8", (3,)),
        ("angular_velocity", "<f8", (3,)),
    ]
)
ROUNDS = 2000


def per_call_ns(fn, number=20000, repeat=15) -> float:
    return statistics.median(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e9


def queue_echo(q_in, q_out) -> None:
    for _ in range(ROUNDS):
        q_out.put(q_in.get())


def shared_echo(directory: str) -> None:
    os.environ["RTSTATE_SHM_DIR"] = directory
    pong = rtstate.SharedBuffer("pong", FAST, buffer_size=2)
    while True:
        try:
            ping = rtstate.open_shared("ping")
            break
        except FileNotFoundError:
            time.sleep(0.001)
    reader = ping.reader()
    for _ in range(ROUNDS):
        snap = reader.wait(timeout=10.0)
        pong.update_state(snap.state)


def queue_state() -> dict:
    """What DART-Planner's loop pickles: a state of numpy vectors."""
    return {
        "timestamp": 1.0,
        "position": np.array([1.0, 2.0, 3.0]),
        "velocity": np.zeros(3),
        "attitude": np.zeros(3),
        "angular_velocity": np.zeros(3),
    }


def handoff_queue() -> float:
    ctx = mp.get_context("spawn")
    q1, q2 = ctx.Queue(maxsize=1), ctx.Queue(maxsize=1)
    p = ctx.Process(target=queue_echo, args=(q1, q2))
    p.start()
    state = queue_state()
    times = []
    for _ in range(ROUNDS):
        t = time.perf_counter_ns()
        q1.put(state)
        q2.get()
        times.append((time.perf_counter_ns() - t) / 2)
    p.join()
    return statistics.median(times)


def handoff_shared(directory: str) -> float:
    ping = rtstate.SharedBuffer("ping", FAST, buffer_size=2, directory=directory)
    p = mp.get_context("spawn").Process(target=shared_echo, args=(directory,))
    p.start()
    while True:
        try:
            pong = rtstate.open_shared("pong", directory=directory)
            break
        except FileNotFoundError:
            time.sleep(0.001)
    state = rtstate.FastDroneState(1.0, [1.0, 2.0, 3.0])
    reader = pong.reader()
    times = []
    for _ in range(ROUNDS):
        t = time.perf_counter_ns()
        ping.update_state(state)
        reader.wait(timeout=10.0)
        times.append((time.perf_counter_ns() - t) / 2)
    p.join()
    return statistics.median(times)


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        local = rtstate.FastDroneStateBuffer(buffer_size=5)
        local.update_state(rtstate.FastDroneState(1.0, [1.0, 2.0, 3.0]))
        shared = rtstate.SharedBuffer("fast", FAST, buffer_size=5, directory=d)
        shared.update_state(rtstate.FastDroneState(1.0, [1.0, 2.0, 3.0]))
        reader = rtstate.open_shared("fast", directory=d)
        in_proc = per_call_ns(local.get_latest_state)
        cross = per_call_ns(reader.get_latest_state)
        print("get_latest_state()                       ns     ratio")
        print(f"  in-process FastDroneStateBuffer   {in_proc:9.0f}      1.00")
        print(f"  shared (open_shared)              {cross:9.0f}  {cross / in_proc:8.2f}")
        q = handoff_queue()
        s = handoff_shared(d)
        print("hand-off between processes, one way       us     ratio")
        print(f"  multiprocessing.Queue(maxsize=1)  {q / 1e3:9.1f}      1.00")
        print(f"  shared buffer publish -> read     {s / 1e3:9.1f}  {s / q:8.2f}")


if __name__ == "__main__":
    main()
