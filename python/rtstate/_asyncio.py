"""asyncio glue for rtstate subscriptions (internal).

A ``Subscription`` owns a nonblocking wake-up descriptor (an ``eventfd`` on
Linux, a socket pair elsewhere): the Rust side makes it readable from a std
``Waker`` (a publish from any thread, without the interpreter, and only when
a consumer is waiting); this module owns the read side (:class:`_Waiters`).

The read side is registered with ``loop.add_reader`` at the first ``get()``
that has to wait on a loop, and stays registered while the subscription is
used there: a ``get()`` that waits creates a future and nothing else (no
``epoll_ctl``). It is removed when the subscription ends (a ``get()`` that
meets ``ClosedError``, or ``close()``), when it is garbage collected, or
when it is awaited on another loop (asyncio.run after asyncio.run). Nothing
here polls or sleeps.
"""

from __future__ import annotations

import asyncio
import os
import weakref
from typing import TYPE_CHECKING, Any, Iterator, Optional

from ._rtstate import ClosedError

if TYPE_CHECKING:
    from ._rtstate import StateSnapshot, Subscription, ThreadSafeStateBuffer, UpdateEvent


def _unregister_and_close(loop: asyncio.AbstractEventLoop, fd: int) -> None:
    """Removes ``fd`` from ``loop`` (on the loop's thread), then closes it:
    the number cannot be reused while the loop's selector still holds it."""
    try:
        if not loop.is_closed():
            loop.remove_reader(fd)
    finally:
        if fd >= 0:
            try:
                os.close(fd)
            except OSError:
                pass


def _on_loop_thread(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


class _Waiters:
    """One subscription's wake-up descriptor (read side), the loop it is
    registered with, and the pending gets."""

    __slots__ = ("_fd", "_loop", "_futures", "__weakref__")

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._futures: list[asyncio.Future[None]] = []

    def __del__(self) -> None:
        fd, self._fd = self._fd, -1
        loop, self._loop = self._loop, None
        if fd < 0:
            return
        try:
            if loop is None or loop.is_closed():
                _close(fd)
            elif _on_loop_thread(loop):
                _unregister_and_close(loop, fd)
            else:
                # Collected on another thread: the loop's thread unregisters,
                # then closes (the descriptor stays open until then).
                loop.call_soon_threadsafe(_unregister_and_close, loop, fd)
        except Exception:  # the loop closed meanwhile, or interpreter exit
            _close(fd)

    def _readable(self) -> None:
        # Drain first: a wake-up written after this read leaves the
        # descriptor readable again, so none is lost. One read takes every
        # wake-up written since the last (an eventfd returns their sum).
        try:
            os.read(self._fd, 4096)
        except OSError:  # BlockingIOError: a spurious call, nothing queued.
            pass
        futures = self._futures
        for fut in futures:
            if not fut.done():
                fut.set_result(None)

    def _add(self, loop: asyncio.AbstractEventLoop, fut: asyncio.Future[None]) -> None:
        if self._loop is not loop:
            if self._futures:
                raise RuntimeError("this subscription is being awaited in another event loop")
            self.release()
            if self._fd < 0:
                raise ClosedError("the subscription's wake-up descriptor is closed")
            # Through a weak reference: the loop's registration must not keep
            # the subscription's glue alive (its finaliser unregisters).
            loop.add_reader(self._fd, _on_readable, weakref.ref(self))
            self._loop = loop
        self._futures.append(fut)

    def _discard(self, fut: asyncio.Future[None]) -> None:
        # The reader stays registered for the next get().
        try:
            self._futures.remove(fut)
        except ValueError:
            pass

    def release(self) -> None:
        """Removes the reader from its loop (the descriptor stays open for a
        later ``get()``, which registers it again)."""
        loop, self._loop = self._loop, None
        if loop is None or loop.is_closed() or self._fd < 0:
            return
        if _on_loop_thread(loop):
            loop.remove_reader(self._fd)
        else:
            # Only the loop's thread may touch its selector; the descriptor
            # is not closed before `__del__`, which is queued after this.
            try:
                loop.call_soon_threadsafe(loop.remove_reader, self._fd)
            except RuntimeError:  # closed meanwhile
                pass

    def _closed(self) -> None:
        """The subscription was closed: with no ``get()`` pending, remove the
        reader now; pending ones are woken by the close, meet
        ``ClosedError`` once drained, and remove it then (removing it first
        could cancel the wake-up they wait for)."""
        if not self._futures:
            self.release()

    @property
    def registered(self) -> bool:
        """Whether the reader is registered with a loop (for tests)."""
        return self._loop is not None


def _on_readable(ref: weakref.ref[_Waiters]) -> None:
    waiters = ref()
    if waiters is not None:
        waiters._readable()


def _close(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


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
    try:
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
    except ClosedError:
        # Ended and drained: nothing more will wake it.
        waiters.release()
        raise


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
