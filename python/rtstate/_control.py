"""DART-Planner's estimator-controller integration and factories, on the
native loops of :mod:`rtstate._rtstate`.

``RealTimeControlWrapper`` and ``ControlLoop`` are native (Rust threads that
attach to Python only to call a Python callable). ``StateEstimatorController``
composes them: the wrapper's Rust autopilot at its rate, and a
``ControlLoop`` at ``update_frequency_hz`` that runs the Python estimator.
"""

from __future__ import annotations

import atexit
import math
import numbers
import threading
import time
from typing import TYPE_CHECKING, Any, TypedDict

from ._rtstate import ControlLoop, RealTimeControlWrapper, _stop_all_loops

if TYPE_CHECKING:
    from ._rtstate import _LoopStatsDict

__all__ = [
    "StateEstimatorController",
    "create_estimator_controller",
    "create_rt_control_wrapper",
]


def _rate(value: Any, name: str) -> float:
    """``value`` as a rate in Hz: a real number, finite and > 0. The error
    names ``name`` as the caller wrote it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number (Hz), got {type(value).__name__}")
    hz = float(value)
    if not (math.isfinite(hz) and 0.0 < hz <= 1e9):
        raise ValueError(f"{name} must be finite, > 0 and at most 1e9 Hz, got {hz}")
    return hz


def _require(obj: Any, what: str, methods: tuple[str, ...]) -> None:
    missing = [m for m in methods if not callable(getattr(obj, m, None))]
    if missing:
        raise TypeError(
            f"{what} must have {' and '.join(f'{m}()' for m in methods)}; "
            f"{type(obj).__qualname__} lacks {', '.join(f'{m}()' for m in missing)}"
        )


class EstimatorCounts(TypedDict):
    """``StateEstimatorController.get_statistics()["estimator_controller"]``."""

    estimator_updates: int
    """Calls of ``estimator.update()``."""
    controller_updates: int
    """Estimates published into the controller."""
    empty_estimates: int
    """Ticks whose ``estimator.get_latest()`` returned None."""
    last_estimator_update: float
    """Wall-clock time of the last ``update()``, s (0 before)."""
    last_controller_update: float
    """Wall-clock time of the last publish into the controller, s (0 before)."""


class EstimatorControllerStats(TypedDict):
    """:meth:`StateEstimatorController.get_statistics`."""

    estimator_controller: EstimatorCounts
    """The counts above."""
    estimator_loop: "_LoopStatsDict"
    """The estimator loop's statistics (a :class:`ControlLoop`'s)."""
    controller: Any
    """The controller's ``get_combined_stats()``."""
    running: bool
    """Whether both the estimator loop and the controller run."""
    update_frequency_hz: float
    """The estimator loop's rate, Hz."""


class StateEstimatorController:
    """Runs an estimator into a :class:`RealTimeControlWrapper`.

    ``start()`` starts the controller, then a native :class:`ControlLoop` at
    ``update_frequency_hz`` that calls ``estimator.update()`` and publishes
    ``estimator.get_latest()`` (an ``EstimatedState`` or anything with
    ``.pose``/``.twist`` is converted; a ``DroneState`` or ``FastDroneState``
    is taken as is; ``None`` is skipped) into the controller with source
    ``"estimator"``. An exception from the estimator is counted and kept
    (``get_statistics()["estimator_loop"]["errors"]``, ``last_error``) and
    the loop goes on.
    """

    def __init__(
        self,
        estimator: Any,
        controller: RealTimeControlWrapper,
        update_frequency_hz: float = 100.0,
    ) -> None:
        _require(estimator, "estimator", ("update", "get_latest"))
        # A RealTimeControlWrapper, or anything with its loop interface.
        _require(controller, "controller", ("update_state", "start", "stop", "is_running"))
        self.estimator = estimator
        self.controller = controller
        self.update_frequency_hz = _rate(update_frequency_hz, "update_frequency_hz")
        self.update_period = 1.0 / self.update_frequency_hz
        self._lock = threading.RLock()
        self._loop = ControlLoop(self._step, self.update_frequency_hz)
        self._stats: EstimatorCounts = {
            "estimator_updates": 0,
            "controller_updates": 0,
            "empty_estimates": 0,
            "last_estimator_update": 0.0,
            "last_controller_update": 0.0,
        }

    def _step(self) -> None:
        """One estimator tick (on the loop thread)."""
        self.estimator.update()
        now = time.time()
        self._stats["estimator_updates"] += 1
        self._stats["last_estimator_update"] = now
        estimate = self.estimator.get_latest()
        if estimate is None:
            self._stats["empty_estimates"] += 1
            return
        self.controller.update_state(estimate, "estimator")
        self._stats["controller_updates"] += 1
        self._stats["last_controller_update"] = now

    def start(self) -> None:
        """Starts the controller and the estimator loop (no-op if running)."""
        with self._lock:
            if self._loop.is_running():
                return
            self.controller.start()
            self._loop.start()

    def stop(self, timeout: float = 1.0) -> None:
        """Stops the estimator loop, then the controller."""
        with self._lock:
            try:
                self._loop.stop(timeout)
            finally:
                self.controller.stop(timeout)

    def is_running(self) -> bool:
        """Whether both the estimator loop and the controller run."""
        return self._loop.is_running() and self.controller.is_running()

    def get_statistics(self) -> EstimatorControllerStats:
        """``{"estimator_controller", "estimator_loop", "controller",
        "running", "update_frequency_hz"}``: the counts, the estimator loop's
        statistics (errors, last_error, rates, lateness), the controller's
        combined statistics."""
        return {
            "estimator_controller": EstimatorCounts(**self._stats),
            "estimator_loop": self._loop.get_stats(),
            "controller": self.controller.get_combined_stats(),
            "running": self.is_running(),
            "update_frequency_hz": self.update_frequency_hz,
        }

    def raise_last_error(self) -> None:
        """Raises ``CallbackError`` from the estimator's last exception, if any."""
        self._loop.raise_last_error()


def create_rt_control_wrapper(
    frequency_hz: float = 1000.0, use_fast_state: bool = True
) -> RealTimeControlWrapper:
    """A :class:`RealTimeControlWrapper` with default settings."""
    return RealTimeControlWrapper(
        frequency_hz=_rate(frequency_hz, "frequency_hz"), use_fast_state=use_fast_state
    )


def create_estimator_controller(
    estimator: Any, frequency_hz: float = 1000.0, estimator_frequency_hz: float = 100.0
) -> StateEstimatorController:
    """A :class:`StateEstimatorController` over a new wrapper at ``frequency_hz``."""
    _require(estimator, "estimator", ("update", "get_latest"))
    hz = _rate(estimator_frequency_hz, "estimator_frequency_hz")
    controller = create_rt_control_wrapper(frequency_hz)
    return StateEstimatorController(estimator, controller, hz)


# Loop threads must not attach to a finalising interpreter: stop them first.
atexit.register(_stop_all_loops)
