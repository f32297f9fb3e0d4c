"""The pure-Python peer of the Python benchmarks: a state buffer in the style
of DART-Planner's ``common/state_buffer.py``, written for this repository.

It is what a Python robotics stack does without rtstate: a double buffer
(the writer fills the back slot and swaps it to the front) guarded by a
``threading.Lock``, a bounded history ``deque``, a ``threading.Condition``
for blocking waits, and asyncio subscribers, each an ``asyncio.Queue`` bound
to the event loop that subscribed, fed from any thread through
``loop.call_soon_threadsafe`` (a full queue drops its oldest event).

Only the standard library; states are plain dataclasses of floats and numpy
arrays, as DART-Planner's ``FastDroneState``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Deque, Dict, List, Optional, Tuple

import numpy as np


def _vec() -> np.ndarray:
    return np.zeros(3)


@dataclass
class FastDroneState:
    """A vehicle state as plain arrays (SI units)."""

    timestamp: float = 0.0
    position: np.ndarray = field(default_factory=_vec)
    velocity: np.ndarray = field(default_factory=_vec)
    attitude: np.ndarray = field(default_factory=_vec)
    angular_velocity: np.ndarray = field(default_factory=_vec)


@dataclass
class StateSnapshot:
    """One published state with its version and metadata."""

    state: Any
    version: int
    timestamp: float
    source: str
    metadata: Dict[str, Any] = field(default_factory=dict)


class ThreadSafeStateBuffer:
    """A lock-guarded double buffer with history, waits and asyncio
    subscribers (``call_soon_threadsafe``)."""

    def __init__(self, buffer_size: int = 10) -> None:
        self.buffer_size = buffer_size
        self._lock = threading.Lock()
        self._updated = threading.Condition(self._lock)
        self._slots: List[Optional[StateSnapshot]] = [None, None]
        self._front = 0
        self._history: Deque[StateSnapshot] = deque(maxlen=buffer_size)
        self._version = 0
        self._subscribers: List[Tuple[asyncio.AbstractEventLoop, asyncio.Queue]] = []
        self._updates = 0
        self._reads = 0

    # -- writer --------------------------------------------------------------

    def update_state(self, state: Any, source: str = "unknown") -> int:
        """Publishes ``state``; returns its version."""
        with self._lock:
            self._version += 1
            ts = getattr(state, "timestamp", None)
            snap = StateSnapshot(
                state=state,
                version=self._version,
                timestamp=ts if ts is not None else time.time(),
                source=source,
            )
            back = 1 - self._front
            self._slots[back] = snap
            self._front = back
            self._history.append(snap)
            self._updates += 1
            subscribers = list(self._subscribers)
            self._updated.notify_all()
        event = {
            "state": snap.state,
            "version": snap.version,
            "timestamp": snap.timestamp,
            "source": snap.source,
        }
        for loop, queue in subscribers:
            try:
                loop.call_soon_threadsafe(_deliver, queue, event)
            except RuntimeError:  # the loop is closed
                pass
        return snap.version

    # -- readers -------------------------------------------------------------

    def get_latest_state(self) -> Optional[StateSnapshot]:
        with self._lock:
            self._reads += 1
            return self._slots[self._front]

    def get_state_at_time(self, target_time: float, max_age: float = 0.1) -> Optional[StateSnapshot]:
        with self._lock:
            best = None
            for snap in self._history:
                d = abs(snap.timestamp - target_time)
                if d <= max_age and (best is None or d < abs(best.timestamp - target_time)):
                    best = snap
            return best

    def get_history(self) -> List[StateSnapshot]:
        with self._lock:
            return list(self._history)

    def wait_for_update(self, timeout: float = 1.0) -> Optional[StateSnapshot]:
        with self._lock:
            seen = self._version
            if not self._updated.wait_for(lambda: self._version > seen, timeout):
                return None
            return self._slots[self._front]

    def get_statistics(self) -> Dict[str, Any]:
        with self._lock:
            return {
                "version": self._version,
                "update_count": self._updates,
                "read_count": self._reads,
                "subscribers": len(self._subscribers),
            }

    # -- asyncio subscribers -------------------------------------------------

    def subscribe(self, queue_size: int = 10) -> asyncio.Queue:
        """A queue fed on the running loop (call from a coroutine)."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue(maxsize=queue_size)
        with self._lock:
            self._subscribers.append((loop, queue))
        return queue

    def unsubscribe(self, queue: asyncio.Queue) -> None:
        with self._lock:
            self._subscribers = [(l, q) for l, q in self._subscribers if q is not queue]


def _deliver(queue: asyncio.Queue, event: Dict[str, Any]) -> None:
    """On the subscriber's loop: enqueue, dropping the oldest when full."""
    if queue.full():
        try:
            queue.get_nowait()
        except asyncio.QueueEmpty:
            pass
    queue.put_nowait(event)
