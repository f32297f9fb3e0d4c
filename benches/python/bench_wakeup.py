"""Publish -> awaiting asyncio subscriber wake-up latency: rtstate's
subscription against the baseline's ``call_soon_threadsafe`` design
(../shared/baseline/seed_buffer.py, DART-Planner's), in the same run.

A publisher thread publishes one FastDroneState every INTERVAL seconds (so
each publish finds the consumer parked in ``await queue.get()``); an asyncio
consumer on the main thread records when each event arrives. Latency is
arrival minus the publisher's clock read just before ``update_state``
(``time.perf_counter_ns``). For the Rust-thread publisher (no GIL,
``_rtstate._publish_from_rust_thread``, a testing aid) it is ``time.time()``
at arrival minus the event's ``published_at`` (the core's wall clock read
inside the publish).

A last row, for scale, is the floor of any design that parks the loop in
epoll: a bare socket write from a Python thread to an ``add_reader``
callback (no queue, no task resumed).

Prints p50/p90/p99 in microseconds and ratios to the baseline. Target:
p50 <= 0.5x the baseline's; the writer never takes the GIL for a subscriber.

    .venv/bin/python benches/python/bench_wakeup.py [events] [rounds]
"""

from __future__ import annotations

import asyncio
import importlib.util
import statistics
import sys
import socket
import threading
import time
from pathlib import Path

import rtstate
from rtstate import _rtstate

BASELINE = Path(__file__).resolve().parents[3] / "shared" / "baseline" / "seed_buffer.py"
EVENTS = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 3
INTERVAL = 0.0002  # seconds between publishes
WARMUP = 50  # events dropped from the front of each round


def load_baseline():
    spec = importlib.util.spec_from_file_location("seed_buffer", BASELINE)
    module = importlib.util.module_from_spec(spec)
    sys.modules["seed_buffer"] = module
    spec.loader.exec_module(module)
    return module


def python_publisher(update, states, sent_ns):
    """A Python thread: clock, publish, sleep."""

    def run():
        for i, state in enumerate(states):
            sent_ns[i] = time.perf_counter_ns()
            update(state, "bench")
            time.sleep(INTERVAL)

    return threading.Thread(target=run, daemon=True)


async def round_python(make_queue_and_update, states):
    """Latencies (ns) of one round with a Python publisher thread."""
    queue, update = make_queue_and_update()
    n = len(states)
    sent_ns = [0] * n
    publisher = python_publisher(update, states, sent_ns)
    lat = []
    publisher.start()
    for _ in range(n):
        async with asyncio.timeout(10.0):  # no extra task, unlike wait_for
            event = await queue.get()
        now = time.perf_counter_ns()
        lat.append(now - sent_ns[event["version"] - 1])
    await asyncio.to_thread(publisher.join, 10.0)
    return lat[WARMUP:]


async def round_rust(states):
    """Latencies (ns) of one round with a Rust publisher thread (no GIL)."""
    buffer = rtstate.create_fast_state_buffer(buffer_size=10)
    queue = buffer.subscribe(queue_size=len(states))
    handle = _rtstate._publish_from_rust_thread(buffer, states, INTERVAL)
    lat = []
    for _ in range(len(states)):
        async with asyncio.timeout(10.0):
            event = await queue.get()
        now = time.time()
        lat.append((now - event.published_at) * 1e9)
    await asyncio.to_thread(handle.join, 10.0)
    return lat[WARMUP:]


async def round_floor(n):
    """The floor: a Python thread writes one byte to a socket pair; the loop's
    ``add_reader`` callback records its arrival (no queue, no task wake)."""
    loop = asyncio.get_running_loop()
    r, w = socket.socketpair()
    r.setblocking(False)
    sent_ns, arrived = [0] * n, []

    def readable():
        now = time.perf_counter_ns()
        arrived.append((now, len(r.recv(64))))

    loop.add_reader(r.fileno(), readable)
    done = asyncio.Event()

    def run():
        for i in range(n):
            sent_ns[i] = time.perf_counter_ns()
            w.send(b"x")
            time.sleep(INTERVAL)
        loop.call_soon_threadsafe(done.set)

    threading.Thread(target=run, daemon=True).start()
    async with asyncio.timeout(30.0):
        await done.wait()
    loop.remove_reader(r.fileno())
    r.close()
    w.close()
    # Only callbacks that saw exactly one byte match one send.
    lat = [a - s for (a, k), s in zip(arrived, sent_ns) if k == 1]
    return lat[WARMUP:]


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))]


async def main() -> None:
    seed = load_baseline()
    ours_states = [rtstate.FastDroneState(timestamp=float(i), position=[i, 0, 0]) for i in range(EVENTS)]
    seed_states = [seed.FastDroneState(timestamp=float(i)) for i in range(EVENTS)]

    def make_baseline():
        buffer = seed.ThreadSafeStateBuffer(buffer_size=10)
        queue = buffer.subscribe(queue_size=EVENTS)  # needs the running loop
        return queue, buffer.update_state

    def make_ours():
        buffer = rtstate.create_fast_state_buffer(buffer_size=10)
        queue = buffer.subscribe(queue_size=EVENTS)
        return queue, buffer.update_state

    results = {"baseline (call_soon_threadsafe), Python publisher": [],
               "rtstate, Python publisher": [],
               "rtstate, Rust publisher (no GIL)": [],
               "floor: bare socket -> add_reader callback, Py thread": []}
    per_round_p50 = {k: [] for k in results}
    names = list(results)
    for _ in range(ROUNDS):  # interleaved, so drift hits every design alike
        for name, run in ((names[0], lambda: round_python(make_baseline, seed_states)),
                          (names[1], lambda: round_python(make_ours, ours_states)),
                          (names[2], lambda: round_rust(ours_states)),
                          (names[3], lambda: round_floor(EVENTS))):
            lat = await run()
            results[name].extend(lat)
            per_round_p50[name].append(statistics.median(lat))

    base = results[names[0]]
    b50, b99 = pct(base, 50), pct(base, 99)
    print(f"publish -> awaiting asyncio get() wake-up; {EVENTS} events x {ROUNDS} rounds, "
          f"one every {INTERVAL * 1e6:.0f} us; Python {sys.version.split()[0]}")
    print(f"{'design':<52} {'p50 us':>8} {'p90 us':>8} {'p99 us':>8} {'p50/base':>9} {'p99/base':>9}"
          f" {'round p50s (us)':>22}")
    for name, lat in results.items():
        p50, p90, p99 = pct(lat, 50), pct(lat, 90), pct(lat, 99)
        rounds = ", ".join(f"{v / 1e3:.1f}" for v in per_round_p50[name])
        print(f"{name:<52} {p50 / 1e3:8.1f} {p90 / 1e3:8.1f} {p99 / 1e3:8.1f} "
              f"{p50 / b50:8.2f}x {p99 / b99:8.2f}x {rounds:>22}")
    print("target: rtstate p50 <= 0.5x the baseline's p50")


if __name__ == "__main__":
    asyncio.run(main())
