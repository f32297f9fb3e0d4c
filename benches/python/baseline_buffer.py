"""The pure-Python peer of rtstate's Python benchmarks.

A re-implementation, written for this repository, of the state buffer
design that rtstate's Python API is compatible with (DART-Planner's
``ThreadSafeStateBuffer``): the way a careful Python programmer builds a
versioned, thread-safe latest-value buffer without native code. It is not
a copy of DART-Planner's source; it follows the design, so that the
benchmarks compare rtstate against the same work done the pure-Python way:

* **Double buffer.** Two snapshot slots and the index of the current one.
  A writer takes a ``threading.Lock`` (writers serialise on it), builds the
  new ``StateSnapshot`` with the next version and ``time.time()``, stores it
  in the inactive slot, flips the index, appends it to the history.
* **Reads without the lock.** ``get_latest_state()`` reads the current slot
  under the GIL (the flip is one attribute store, so a reader sees the old
  or the new snapshot, never a mix) and counts the read.
* **Version counter, bounded history** (a ``collections.deque`` with
  ``maxlen``), **statistics** kept in a ``dict`` of counters (updates,
  reads, stale reads), returned as a new ``dict`` with the drops, the
  current version and the subscriber count.
* **Subscribers are asyncio queues** bound to the loop that subscribed. A
  publish schedules one put per subscriber on that loop with
  ``loop.call_soon_threadsafe`` (asyncio queues are not thread-safe); a
  full queue drops the newest event and counts the drop. Events are
  ``dict``s with ``state``, ``version``, ``timestamp`` and ``source`` (so a
  consumer reads ``event["version"]``, as it does rtstate's events).

``FastDroneState`` is the plain state of that design: a timestamp and four
3-vectors as NumPy arrays.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Generic, Optional, TypeVar

import numpy as np

T = TypeVar("T")

__all__ = ["BaselineStateBuffer", "FastDroneState", "StateSnapshot", "ThreadSafeStateBuffer"]


def _zeros3() -> np.ndarray:
    return np.zeros(3)


@dataclass
class FastDroneState:
    """A drone's state without units: time (s), position (m), velocity
    (m/s), attitude (roll, pitch, yaw, rad), angular velocity (rad/s)."""

    timestamp: float
    position: np.ndarray = field(default_factory=_zeros3)
    velocity: np.ndarray = field(default_factory=_zeros3)
    attitude: np.ndarray = field(default_factory=_zeros3)
    angular_velocity: np.ndarray = field(default_factory=_zeros3)


@dataclass
class StateSnapshot(Generic[T]):
    """One published state with its version, publish time and source."""

    state: T
    timestamp: float
    version: int
    source: str = "unknown"


class _Subscriber:
    """One asyncio queue, the loop it belongs to, and its drop count (only
    that loop's thread writes the count)."""

    __slots__ = ("loop", "queue", "dropped")

    def __init__(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue) -> None:
        self.loop = loop
        self.queue = queue
        self.dropped = 0

    def put(self, event: dict) -> None:
        """Runs on the subscriber's loop: queue the event, or drop it (the
        newest) when the queue is full."""
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1


class BaselineStateBuffer(Generic[T]):
    """A thread-safe, versioned latest-state buffer in pure Python (see the
    module docstring for the design)."""

    def __init__(self, buffer_size: int = 10) -> None:
        if buffer_size < 1:
            raise ValueError("buffer_size must be at least 1")
        self.buffer_size = buffer_size
        self._slots: list[Optional[StateSnapshot[T]]] = [None, None]
        self._current = 0
        self._lock = threading.Lock()
        self._version = 0
        self._history: deque[StateSnapshot[T]] = deque(maxlen=buffer_size)
        self._subscribers: list[_Subscriber] = []
        self._stats = {"updates": 0, "reads": 0, "stale_reads": 0}

    def update_state(self, state: T, source: str = "unknown") -> int:
        """Publishes ``state``; returns its version (1 for the first)."""
        with self._lock:
            self._version += 1
            snapshot = StateSnapshot(state, time.time(), self._version, source)
            inactive = 1 - self._current
            self._slots[inactive] = snapshot
            self._current = inactive
            self._history.append(snapshot)
            self._stats["updates"] += 1
            subscribers = self._subscribers
        if subscribers:
            event = {
                "state": state,
                "version": snapshot.version,
                "timestamp": snapshot.timestamp,
                "source": source,
            }
            for sub in subscribers:
                sub.loop.call_soon_threadsafe(sub.put, event)
        return snapshot.version

    def get_latest_state(self) -> Optional[StateSnapshot[T]]:
        """The latest snapshot (``None`` before the first publish), without
        taking the lock."""
        snapshot = self._slots[self._current]
        self._stats["reads"] += 1
        return snapshot

    def get_latest_fresh(self, max_age: float) -> Optional[StateSnapshot[T]]:
        """The latest snapshot if at most ``max_age`` seconds old; otherwise
        ``None``, counted as a stale read."""
        snapshot = self.get_latest_state()
        if snapshot is None or time.time() - snapshot.timestamp > max_age:
            self._stats["stale_reads"] += 1
            return None
        return snapshot

    def get_history(self) -> list[StateSnapshot[T]]:
        """The held snapshots, oldest first."""
        with self._lock:
            return list(self._history)

    def subscribe(self, queue_size: int = 10) -> asyncio.Queue:
        """An ``asyncio.Queue`` of every later publish's event, bound to the
        running loop (call it from a coroutine)."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue(maxsize=queue_size)
        with self._lock:
            # Copy on write: a publish iterates the list it took under the lock.
            self._subscribers = [*self._subscribers, _Subscriber(loop, queue)]
        return queue

    def unsubscribe(self, queue: asyncio.Queue) -> None:
        """Stops feeding ``queue``."""
        with self._lock:
            self._subscribers = [s for s in self._subscribers if s.queue is not queue]

    def get_statistics(self) -> dict[str, Any]:
        """A new dict of the counters."""
        with self._lock:
            subscribers = self._subscribers
            return {
                **self._stats,
                "dropped": sum(s.dropped for s in subscribers),
                "current_version": self._version,
                "history_size": len(self._history),
                "buffer_size": self.buffer_size,
                "subscribers": len(subscribers),
            }


#: The design's own name for the class.
ThreadSafeStateBuffer = BaselineStateBuffer
