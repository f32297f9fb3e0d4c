"""The asyncio wake-up of subscriptions: the reader stays registered with the
loop while a subscription is used (not per get()), is removed when the
subscription is closed or collected, a cancelled get() loses no event, and
events published faster than the loop drains them all arrive.

Every wait has a timeout."""

from __future__ import annotations

import asyncio
import gc
import sys
import threading

import pytest

import rtstate
from rtstate import ClosedError, FastDroneState
from rtstate._rtstate import _publish_from_rust_thread


def registered_fds(loop):
    return set(loop._selector.get_map().keys())  # noqa: SLF001 - the property under test


async def publish_later(buffer, n=1, delay=0.01):
    def run():
        for i in range(n):
            buffer.update_state(FastDroneState(timestamp=float(i)), "t")

    await asyncio.sleep(delay)
    await asyncio.to_thread(run)


def test_the_reader_stays_registered_across_gets_and_goes_on_close():
    async def main():
        loop = asyncio.get_running_loop()
        buffer = rtstate.create_fast_state_buffer()
        sub = buffer.subscribe(16)
        base = registered_fds(loop)
        fds = set()
        for i in range(5):
            task = asyncio.ensure_future(publish_later(buffer))
            async with asyncio.timeout(10.0):
                event = await sub.get()
                await task
            assert event.version == i + 1
            assert sub._waiters.registered
            fds.add(frozenset(registered_fds(loop) - base))
        # One registration, the same all along.
        assert len(fds) == 1 and len(next(iter(fds))) == 1
        sub.close()
        assert not sub._waiters.registered
        assert registered_fds(loop) == base
        with pytest.raises(ClosedError):
            async with asyncio.timeout(10.0):
                await sub.get()
        assert registered_fds(loop) == base

    asyncio.run(main())


def test_a_collected_subscription_leaves_nothing_registered():
    async def main():
        loop = asyncio.get_running_loop()
        base = registered_fds(loop)
        buffer = rtstate.create_fast_state_buffer()
        for _ in range(20):
            sub = buffer.subscribe(4)
            task = asyncio.ensure_future(publish_later(buffer))
            async with asyncio.timeout(10.0):
                await sub.get()
                await task
            assert len(registered_fds(loop) - base) == 1
            del sub
            gc.collect()
            assert registered_fds(loop) == base

    asyncio.run(main())


def test_a_subscription_collected_on_another_thread_is_unregistered_by_the_loop():
    async def main():
        loop = asyncio.get_running_loop()
        base = registered_fds(loop)
        buffer = rtstate.create_fast_state_buffer()
        sub = buffer.subscribe(4)
        task = asyncio.ensure_future(publish_later(buffer))
        async with asyncio.timeout(10.0):
            await sub.get()
            await task
        holder = [sub]
        del sub

        def drop():
            holder.clear()
            gc.collect()

        t = threading.Thread(target=drop)
        t.start()
        await asyncio.to_thread(t.join, 10.0)
        for _ in range(100):
            if registered_fds(loop) == base:
                break
            await asyncio.sleep(0.01)
        assert registered_fds(loop) == base

    asyncio.run(main())


def test_a_cancelled_get_loses_no_event_and_keeps_the_reader():
    async def main():
        buffer = rtstate.create_fast_state_buffer()
        sub = buffer.subscribe(8)
        for _ in range(10):
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.001):
                    await sub.get()
        assert sub._waiters.registered
        assert sub._waiters._futures == []
        buffer.update_state(FastDroneState(timestamp=1.0), "t")
        async with asyncio.timeout(10.0):
            event = await sub.get()
        assert event.version == 1
        # A cancel racing the wake-up: the event stays queued.
        getter = asyncio.ensure_future(sub.get())
        await asyncio.sleep(0)
        buffer.update_state(FastDroneState(timestamp=2.0), "t")
        getter.cancel()
        try:
            event = await getter
        except asyncio.CancelledError:
            async with asyncio.timeout(10.0):
                event = await sub.get()
        assert event.version == 2
        assert sub.counters["delivered"] == 2

    asyncio.run(main())


def test_a_burst_from_a_rust_thread_arrives_whole_in_order_and_batched(monkeypatch):
    from rtstate import _asyncio

    wakeups = []
    readable = _asyncio._Waiters._readable

    def counting(self):
        wakeups.append(1)
        readable(self)

    monkeypatch.setattr(_asyncio._Waiters, "_readable", counting)

    async def main():
        buffer = rtstate.create_fast_state_buffer(buffer_size=8)
        sub = buffer.subscribe(10_000)
        states = [FastDroneState(timestamp=float(i)) for i in range(2000)]
        # The first get() waits on the empty queue before the burst starts,
        # so at least one wake-up is needed whatever the scheduling.
        first = asyncio.ensure_future(sub.get())
        await asyncio.sleep(0)
        pub = _publish_from_rust_thread(buffer, states, 0.0)
        got = []
        async with asyncio.timeout(30.0):
            got.append((await first).version)
            while len(got) < len(states):
                got.append((await sub.get()).version)
        assert got == list(range(1, len(states) + 1))
        assert await asyncio.to_thread(pub.join, 10.0) == len(states)

    asyncio.run(main())
    # Events published faster than the loop drains them share wake-ups:
    # the waker is armed again only when a get() finds the queue empty. (No
    # wake-up at all is possible too: the whole burst may land before the
    # first get() waits.)
    assert len(wakeups) < 2000


def test_successive_event_loops_each_get_the_reader():
    buffer = rtstate.create_fast_state_buffer()
    sub = buffer.subscribe(8)

    async def one(expected):
        task = asyncio.ensure_future(publish_later(buffer))
        async with asyncio.timeout(10.0):
            event = await sub.get()
            await task
        assert event.version == expected
        assert sub._waiters.registered

    for i in range(3):
        asyncio.run(one(i + 1))
    sub.close()


@pytest.mark.skipif(sys.platform != "linux", reason="eventfd is Linux's")
def test_the_wake_up_descriptor_is_an_eventfd_on_linux():
    import os

    sub = rtstate.create_fast_state_buffer().subscribe(1)
    target = os.readlink(f"/proc/self/fd/{sub._waiters._fd}")
    assert "eventfd" in target, target
