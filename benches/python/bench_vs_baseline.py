"""rtstate's Python API against the pure-Python design it is compatible with
(``baseline_buffer.py`` beside this file: a double buffer with a writer
lock, a version counter, a history deque and asyncio subscriber queues fed
by ``call_soon_threadsafe``), on the same operations, in the same run.

Like for like: both sides get the same calls with the same arguments, and
every row that returns a state consumes all of it the same way — reads
every field of the snapshot (``state``, ``version``, ``timestamp``,
``source``) and of the state (``timestamp``, ``position``, ``velocity``,
``attitude``, ``angular_velocity``); ``get_history()`` does so for each
snapshot, ``get_statistics()`` reads every value.

Rows:

* ``update_state(FastDroneState)``, no subscriber, and with one subscriber
  whose consumer task drains its queue on an asyncio loop running in
  another thread (both designs do their per-event work there);
* ``get_latest_state()`` (the call alone, returning the snapshot object);
* ``get_latest_state()`` + every field;
* ``get_history()`` + every field of each snapshot;
* ``get_statistics()`` + every value.

Timing: the calling thread's CPU time (``time.thread_time``), so that other
processes on a shared machine do not inflate the figures; the row with a
subscriber in wall time (``time.perf_counter``), since part of its work runs
on the loop's thread.

Prints Markdown: medians of ``timeit`` batches (ns per operation), the ratio
rtstate / baseline per row, and a met / not met verdict where there is a
target.

    .venv/bin/python benches/python/bench_vs_baseline.py [--quick]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import threading
import time
import timeit
from pathlib import Path
from typing import Any, Callable, Optional

import rtstate

sys.path.insert(0, str(Path(__file__).resolve().parent))
import baseline_buffer  # noqa: E402  (this directory, put on the path above)

QUICK = "--quick" in sys.argv[1:]
REPEATS = 5 if QUICK else 9
NUMBER = 5_000 if QUICK else 20_000

# (row, target ratio rtstate / baseline or None)
TARGETS = {
    "update_state(FastDroneState)": 0.5,
    "get_latest_state()": 0.6,
    "get_latest_state() + every field": 0.6,
}


def consume(snapshot: Any) -> tuple:
    """Every field of a snapshot and of its state."""
    s = snapshot.state
    return (
        snapshot.version,
        snapshot.timestamp,
        snapshot.source,
        s.timestamp,
        s.position,
        s.velocity,
        s.attitude,
        s.angular_velocity,
    )


def consume_event(event: Any) -> tuple:
    """Every field of a subscription event and of its state (both designs'
    events answer ``event[key]``)."""
    s = event["state"]
    return (
        event["version"],
        event["timestamp"],
        event["source"],
        s.timestamp,
        s.position,
        s.velocity,
        s.attitude,
        s.angular_velocity,
    )


def medians_ns(
    ours: Callable[[], object], base: Callable[[], object], timer: Callable[[], float]
) -> tuple[float, float]:
    """Median ns per call of each on `timer`, batches interleaved (ours,
    base, ours, …) after one discarded warm-up batch each, so drift hits
    both alike."""
    timeit.timeit(ours, number=NUMBER // 10, timer=timer)
    timeit.timeit(base, number=NUMBER // 10, timer=timer)
    o, b = [], []
    for _ in range(REPEATS):
        o.append(timeit.timeit(ours, number=NUMBER, timer=timer))
        b.append(timeit.timeit(base, number=NUMBER, timer=timer))
    return statistics.median(o) / NUMBER * 1e9, statistics.median(b) / NUMBER * 1e9


class LoopThread:
    """An asyncio loop running in a daemon thread, for subscribers."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Any, timeout: float = 10.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10.0)
        self.loop.close()


async def drain(queue: Any) -> None:
    """Consumes every event of a subscription until cancelled."""
    while True:
        consume_event(await queue.get())


def with_subscriber(loop: LoopThread, buffer: Any) -> Callable[[], None]:
    """Subscribes to `buffer` on `loop` and starts a consumer task there;
    returns a function that stops the task and unsubscribes."""
    holder: dict[str, Any] = {}

    async def start() -> asyncio.Task:
        holder["queue"] = buffer.subscribe(queue_size=64)
        return asyncio.get_running_loop().create_task(drain(holder["queue"]))

    task = loop.run(start())

    def stop() -> None:
        async def cancel() -> None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            buffer.unsubscribe(holder["queue"])

        loop.run(cancel())

    return stop


def verdict(ratio: float, target: Optional[float]) -> str:
    if target is None:
        return "—"
    return "met" if ratio <= target else "not met"


def main() -> None:
    ours = rtstate.create_fast_state_buffer(buffer_size=10)
    base = baseline_buffer.BaselineStateBuffer(buffer_size=10)
    ours_state = rtstate.FastDroneState(
        timestamp=1.0,
        position=[1.0, 2.0, 3.0],
        velocity=[0.1, 0.2, 0.3],
        attitude=[0.01, 0.02, 0.03],
        angular_velocity=[0.4, 0.5, 0.6],
    )
    base_state = baseline_buffer.FastDroneState(timestamp=1.0)
    base_state.position[:] = [1.0, 2.0, 3.0]
    base_state.velocity[:] = [0.1, 0.2, 0.3]
    base_state.attitude[:] = [0.01, 0.02, 0.03]
    base_state.angular_velocity[:] = [0.4, 0.5, 0.6]
    for _ in range(20):
        ours.update_state(ours_state, "estimator")
        base.update_state(base_state, "estimator")

    rows: list[tuple[str, float, float]] = []

    def measure(
        name: str,
        ours_fn: Callable[[], object],
        base_fn: Callable[[], object],
        timer: Callable[[], float] = time.thread_time,
    ) -> None:
        rows.append((name, *medians_ns(ours_fn, base_fn, timer)))

    measure(
        "update_state(FastDroneState)",
        lambda: ours.update_state(ours_state, "estimator"),
        lambda: base.update_state(base_state, "estimator"),
    )

    loop = LoopThread()
    try:
        stop_ours = with_subscriber(loop, ours)
        stop_base = with_subscriber(loop, base)
        measure(
            "update_state(FastDroneState), 1 subscriber draining",
            lambda: ours.update_state(ours_state, "estimator"),
            lambda: base.update_state(base_state, "estimator"),
            timer=time.perf_counter,
        )
        stop_ours()
        stop_base()
    finally:
        loop.close()
    assert base.get_statistics()["subscribers"] == 0

    measure("get_latest_state()", ours.get_latest_state, base.get_latest_state)
    measure(
        "get_latest_state() + every field",
        lambda: consume(ours.get_latest_state()),
        lambda: consume(base.get_latest_state()),
    )
    measure(
        "get_history() + every field of each",
        lambda: [consume(s) for s in ours.get_history()],
        lambda: [consume(s) for s in base.get_history()],
    )
    measure(
        "get_statistics() + every value",
        lambda: list(ours.get_statistics().values()),
        lambda: list(base.get_statistics().values()),
    )

    print(
        f"rtstate {rtstate.__version__} vs the pure-Python design (benches/python/baseline_buffer.py); "
        f"Python {sys.version.split()[0]}; ns per operation, median of {REPEATS} x {NUMBER}; "
        "thread CPU time (the subscriber row: wall time)"
    )
    print()
    print("| operation | rtstate ns | baseline ns | rtstate / baseline | target | verdict |")
    print("| --- | ---: | ---: | ---: | --- | --- |")
    for name, o, b in rows:
        target = TARGETS.get(name)
        ratio = o / b
        shown = "—" if target is None else f"≤ {target}×"
        print(f"| {name} | {o:,.0f} | {b:,.0f} | {ratio:.2f}× | {shown} | {verdict(ratio, target)} |")


if __name__ == "__main__":
    main()
