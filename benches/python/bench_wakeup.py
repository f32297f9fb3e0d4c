"""Publish -> awaiting asyncio subscriber wake-up latency: rtstate's
subscription against the pure-Python ``call_soon_threadsafe`` design
(``baseline_buffer.py`` beside this file: a DART-Planner-style double
buffer with a lock and asyncio subscribers), in the same run.

A publisher thread publishes one FastDroneState every INTERVAL seconds (so
each publish finds the consumer parked in ``await queue.get()``); an asyncio
consumer on the main thread records when each event arrives. Latency is
arrival minus the publisher's clock read just before ``update_state``
(``time.perf_counter_ns``). For the Rust-thread publisher (no GIL,
``_rtstate._publish_from_rust_thread``, a testing aid) it is ``time.time()``
at arrival minus the event's ``published_at`` (the core's wall clock read
inside the publish).

The last rows, for scale, are the floors of any design that parks the
loop in epoll: a bare socket write or eventfd write from a Python thread to
an ``add_reader`` callback (no queue, no task resumed).

Every row consumes the whole event it receives (its state's fields are
read). Prints p50/p90/p99 in microseconds and ratios to the baseline, and
the targets with a met / not met verdict: p50 and p99 <= 0.6x the
baseline's; the writer never takes the GIL for a subscriber.

    .venv/bin/python benches/python/bench_wakeup.py [events] [rounds]
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import statistics
import sys
import socket
import threading
import time
from pathlib import Path

import rtstate
from rtstate import _rtstate

BASELINE = Path(__file__).resolve().with_name("baseline_buffer.py")
EVENTS = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 3
INTERVAL = 0.0002  # seconds between publishes
WARMUP = 50  # events dropped from the front of each round


def load_baseline():
    spec = importlib.util.spec_from_file_location("baseline_buffer", BASELINE)
    module = importlib.util.module_from_spec(spec)
    sys.modules["baseline_buffer"] = module
    spec.loader.exec_module(module)
    return module


def consume(event):
    """Reads the whole state, as a consumer would."""
    st = event["state"]
    return (st.timestamp, st.position[0], st.velocity[0], st.attitude[0], st.angular_velocity[0])


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
        consume(event)
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
        consume(event)
        now = time.time()
        lat.append((now - event.published_at) * 1e9)
    await asyncio.to_thread(handle.join, 10.0)
    return lat[WARMUP:]


async def round_floor(n, kind):
    """The floor: a Python thread writes to a socket pair or an eventfd; the
    loop's ``add_reader`` callback records its arrival (no queue, no task
    wake)."""
    loop = asyncio.get_running_loop()
    if kind == "eventfd":
        rfd = wfd = os.eventfd(0, os.EFD_NONBLOCK)

        def send():
            os.eventfd_write(wfd, 1)

        def recv():
            return os.eventfd_read(rfd)

        def close():
            os.close(rfd)
    else:
        r, w = socket.socketpair()
        r.setblocking(False)
        rfd = r.fileno()

        def send():
            w.send(b"x")

        def recv():
            return len(r.recv(64))

        def close():
            r.close()
            w.close()

    sent_ns, arrived = [0] * n, []

    def readable():
        now = time.perf_counter_ns()
        arrived.append((now, recv()))

    loop.add_reader(rfd, readable)
    done = asyncio.Event()

    def run():
        for i in range(n):
            sent_ns[i] = time.perf_counter_ns()
            send()
            time.sleep(INTERVAL)
        loop.call_soon_threadsafe(done.set)

    threading.Thread(target=run, daemon=True).start()
    async with asyncio.timeout(30.0):
        await done.wait()
    loop.remove_reader(rfd)
    close()
    # A callback that saw k wake-ups matches the k-th send since the last;
    # only those that saw exactly one are timed (no coalesced sends).
    lat, total = [], 0
    for a, k in arrived:
        total += k
        if k == 1 and total <= n:
            lat.append(a - sent_ns[total - 1])
    return lat[WARMUP:]


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))]


async def main() -> None:
    base_mod = load_baseline()
    has_eventfd = hasattr(os, "eventfd")
    ours_states = [rtstate.FastDroneState(timestamp=float(i), position=[i, 0, 0]) for i in range(EVENTS)]
    base_states = [base_mod.FastDroneState(timestamp=float(i)) for i in range(EVENTS)]

    def make_baseline():
        buffer = base_mod.ThreadSafeStateBuffer(buffer_size=10)
        queue = buffer.subscribe(queue_size=EVENTS)  # needs the running loop
        return queue, buffer.update_state

    def make_ours():
        buffer = rtstate.create_fast_state_buffer(buffer_size=10)
        queue = buffer.subscribe(queue_size=EVENTS)
        return queue, buffer.update_state

    rows = [
        ("baseline (call_soon_threadsafe), Python publisher",
         lambda: round_python(make_baseline, base_states)),
        ("rtstate, Python publisher", lambda: round_python(make_ours, ours_states)),
        ("rtstate, Rust publisher (no GIL)", lambda: round_rust(ours_states)),
        ("floor: socket pair -> add_reader callback, Py thread",
         lambda: round_floor(EVENTS, "socket")),
    ]
    if has_eventfd:
        rows.append(("floor: eventfd -> add_reader callback, Py thread",
                     lambda: round_floor(EVENTS, "eventfd")))
    results = {name: [] for name, _ in rows}
    per_round_p50 = {k: [] for k in results}
    names = list(results)
    for _ in range(ROUNDS):  # interleaved, so drift hits every design alike
        for name, run in rows:
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
    ours = results[names[1]]
    for what, q, base_q in (("p50", pct(ours, 50), b50), ("p99", pct(ours, 99), b99)):
        ratio = q / base_q
        verdict = "met" if ratio <= 0.6 else "not met"
        print(f"target: rtstate (Python publisher) {what} <= 0.6x the baseline's: "
              f"{ratio:.2f}x -> {verdict}")


if __name__ == "__main__":
    asyncio.run(main())
