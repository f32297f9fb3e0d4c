"""asyncio glue for rtstate subscriptions (internal).

A ``Subscription`` owns a nonblocking socket pair: the Rust side holds the
write end inside a std ``Waker`` (a publish from any thread writes one byte,
without the interpreter, and only when a consumer is waiting); this module
owns the read end (:class:`_Waiters`). While a ``get()`` is pending, the read
end is registered with ``loop.add_reader`` on the loop running at that
moment, and removed when the ``get()`` completes or is cancelled, so a
subscription works whether or not a loop ran when it was created, and
across successive ``asyncio.run`` calls. Nothing here polls or sleeps.
"""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING, Any, Iterator, Optional

from ._rtstate import ClosedError

if TYPE_CHECKING:
    from ._rtstate import StateSnapshot, Subscription, ThreadSafeStateBuffer, UpdateEvent


class _Waiters:
    """One subscription's wake-up socket (read end) and its pending gets."""

    __slots__ = ("_fd", "_loop", "_futures")

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._futures: list[asyncio.Future[None]] = []

    def __del__(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            try:
                os.close(fd)
            except OSError:
                pass

    def _readable(self) -> None:
        # Drain first: a wake-up written after this read leaves the socket
        # readable again, so none is lost.
        try:
            os.read(self._fd, 4096)
        except OSError:  # BlockingIOError: a spurious call, nothing queued.
            pass
        for fut in self._futures:
            if not fut.done():
                fut.set_result(None)

    def _add(self, loop: asyncio.AbstractEventLoop, fut: asyncio.Future[None]) -> None:
        if self._loop is not loop:
            if self._futures:
                raise RuntimeError("this subscription is being awaited in another event loop")
            self._loop = loop
        if not self._futures:
            loop.add_reader(self._fd, self._readable)
        self._futures.append(fut)

    def _discard(self, fut: asyncio.Future[None]) -> None:
        try:
            self._futures.remove(fut)
        except ValueError:
            return
        loop = self._loop
        if not self._futures and loop is not None:
            self._loop = None
            if not loop.is_closed():
                loop.remove_reader(self._fd)


def _expire(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


async def get(
    sub: Subscription, waiters: _Waiters, deadline: Optional[float] = None
) -> UpdateEvent:
    """The next event of ``sub``; ``ClosedError`` once it ended and is drained.

    With ``deadline`` (a ``loop.time()``), None once it passes. Cancelling it
    loses nothing: an event leaves the Rust queue only when ``_poll()``
    returns it.
    """
    event = sub._poll()
    if event is not None:
        return event
    loop = asyncio.get_running_loop()
    while True:
        fut = loop.create_future()
        timer = None
        if deadline is not None:
            if loop.time() >= deadline:
                return None  # type: ignore[return-value]
            timer = loop.call_at(deadline, _expire, fut)
        waiters._add(loop, fut)
        try:
            await fut
        finally:
            waiters._discard(fut)
            if timer is not None:
                timer.cancel()
        event = sub._poll()
        if event is not None:
            return event


async def anext(sub: Subscription, waiters: _Waiters) -> UpdateEvent:
    """``async for``: the next event, or ``StopAsyncIteration`` once ended."""
    try:
        return await get(sub, waiters)
    except ClosedError:
        raise StopAsyncIteration from None


def iterate(sub: Subscription, timeout: Optional[float]) -> Iterator[UpdateEvent]:
    """Blocking iterator: ends when ``sub`` ends (drained) or after ``timeout``
    seconds without an event."""
    while True:
        event = sub._recv(timeout)
        if event is None:
            return
        yield event


async def wait_for_update(
    buffer: ThreadSafeStateBuffer, sub: Subscription, waiters: _Waiters, timeout: float
) -> Optional[StateSnapshot[Any]]:
    """The latest snapshot once a publish reaches ``sub`` (a keep-latest
    subscription made when ``wait_for_update_async`` was called), or None
    after ``timeout`` seconds. A reset of the buffer does not end the wait."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        while True:
            try:
                event = await get(sub, waiters, deadline)
            except ClosedError:
                # The buffer was reset: wait on a fresh subscription.
                sub.close()
                sub = buffer.subscribe(1, "keep_latest")
                waiters = sub._waiters
                continue
            if event is None:
                return None
            return buffer.get_latest_state()
    finally:
        sub.close()
