"""Type stubs for the rtstate extension module (hand-written, checked by
``python -m mypy.stubtest rtstate._rtstate``)."""

from typing import Any, Generic, Optional, TypeVar, final

import numpy as np
import numpy.typing as npt
from typing_extensions import disjoint_base

__all__ = [
    "Accel",
    "AlreadyRunningError",
    "ClosedError",
    "DroneState",
    "DroneStateBuffer",
    "EmptyError",
    "EstimatedState",
    "FastDroneState",
    "FastDroneStateBuffer",
    "PanickedError",
    "Pose",
    "Reader",
    "RealTimeError",
    "RtStateError",
    "StateManager",
    "StateSnapshot",
    "ThreadSafeStateBuffer",
    "Twist",
    "create_drone_state_buffer",
    "create_fast_state_buffer",
    "create_state_manager",
    "_raise_error",
]

_T = TypeVar("_T")
_Array = npt.NDArray[np.float64]

class RtStateError(Exception):
    """Base of the errors rtstate raises that no built-in exception describes."""

class ClosedError(RtStateError):
    """The buffer or subscription is closed."""

class EmptyError(RtStateError):
    """Nothing is ready now (a non-blocking receive)."""

class RealTimeError(RtStateError):
    """A real-time setting could not be applied under the strict policy."""

class AlreadyRunningError(RtStateError):
    """A control loop is already running."""

class PanickedError(RtStateError):
    """A control loop's tick panicked in Rust."""

@final
class DroneState:
    """A drone's state in SI units, with motor speeds.

    Quantities of any pint registry are converted to SI (cm to m, km/h to
    m/s, deg to rad); plain sequences and ndarrays are taken as SI. A wrong
    dimension raises :class:`rtstate.DimensionalityError`, NaN/inf or a wrong
    shape ``ValueError``, a wrong type ``TypeError``, each naming the field.
    ``timestamp`` defaults to the current time (``time.time()``). Fields read
    back as read-only pint quantities where pint is installed (else float64
    arrays), built once per object.
    """

    def __new__(
        cls,
        timestamp: Optional[float] = None,
        position: Any = None,
        velocity: Any = None,
        attitude: Any = None,
        angular_velocity: Any = None,
        motor_rpms: Any = None,
    ) -> DroneState: ...
    @classmethod
    def from_quaternion(
        cls,
        quaternion: Any,
        timestamp: Optional[float] = None,
        position: Any = None,
        velocity: Any = None,
        angular_velocity: Any = None,
        motor_rpms: Any = None,
    ) -> DroneState:
        """A state whose attitude is the quaternion ``[w, x, y, z]`` (normalised)."""
    @property
    def timestamp(self) -> float:
        """Measurement time, wall-clock seconds."""
    @property
    def position(self) -> Any:
        """Position, metres (a quantity in m)."""
    @property
    def velocity(self) -> Any:
        """Velocity (a quantity in m/s)."""
    @property
    def attitude(self) -> Any:
        """Roll, pitch, yaw (a quantity in rad)."""
    @property
    def angular_velocity(self) -> Any:
        """Body rates p, q, r (a quantity in rad/s)."""
    @property
    def motor_rpms(self) -> _Array:
        """Motor speeds, revolutions per minute."""
    def to_fast_state(self) -> FastDroneState:
        """The unit-stripped twin (motor speeds dropped)."""
    def attitude_quaternion(self) -> _Array:
        """The attitude as a quaternion ``[w, x, y, z]`` (body to world)."""
    def __eq__(self, other: object, /) -> bool: ...

@final
class FastDroneState:
    """A drone's state as plain SI floats (metres, m/s, rad, rad/s).

    Fields read back as read-only float64 arrays, created once per object.
    ``timestamp`` defaults to the current time.
    """

    def __new__(
        cls,
        timestamp: Optional[float] = None,
        position: Any = None,
        velocity: Any = None,
        attitude: Any = None,
        angular_velocity: Any = None,
    ) -> FastDroneState: ...
    @classmethod
    def from_quaternion(
        cls,
        quaternion: Any,
        timestamp: Optional[float] = None,
        position: Any = None,
        velocity: Any = None,
        angular_velocity: Any = None,
    ) -> FastDroneState:
        """A state whose attitude is the quaternion ``[w, x, y, z]`` (normalised)."""
    @classmethod
    def from_drone_state(cls, state: DroneState) -> FastDroneState:
        """The unit-stripped state of a :class:`DroneState`."""
    def to_drone_state(self) -> DroneState:
        """The unit-checked twin, with four motor speeds of zero."""
    @property
    def timestamp(self) -> float:
        """Measurement time, wall-clock seconds."""
    @property
    def position(self) -> _Array:
        """Position, metres."""
    @property
    def velocity(self) -> _Array:
        """Velocity, metres per second."""
    @property
    def attitude(self) -> _Array:
        """Roll, pitch, yaw, radians."""
    @property
    def angular_velocity(self) -> _Array:
        """Body rates p, q, r, radians per second."""
    def attitude_quaternion(self) -> _Array:
        """The attitude as a quaternion ``[w, x, y, z]`` (body to world)."""
    def __eq__(self, other: object, /) -> bool: ...

@final
class Pose:
    """A position (m) and an orientation: a quaternion ``[w, x, y, z]``, or
    roll, pitch, yaw (3 values, converted). Defaults: origin, identity."""

    def __new__(cls, position: Any = None, orientation: Any = None) -> Pose: ...
    @property
    def position(self) -> Any:
        """Position (a quantity in m)."""
    @property
    def orientation(self) -> _Array:
        """The orientation quaternion ``[w, x, y, z]`` (normalised)."""
    def orientation_rpy(self) -> Any:
        """The orientation as roll, pitch, yaw (a quantity in rad)."""
    def __eq__(self, other: object, /) -> bool: ...

@final
class Twist:
    """Linear (m/s) and angular (rad/s) velocity."""

    def __new__(cls, linear: Any = None, angular: Any = None) -> Twist: ...
    @property
    def linear(self) -> Any:
        """Linear velocity (a quantity in m/s)."""
    @property
    def angular(self) -> Any:
        """Angular velocity (a quantity in rad/s)."""
    def __eq__(self, other: object, /) -> bool: ...

@final
class Accel:
    """Linear (m/s²) and angular (rad/s²) acceleration."""

    def __new__(cls, linear: Any = None, angular: Any = None) -> Accel: ...
    @property
    def linear(self) -> Any:
        """Linear acceleration (a quantity in m/s**2)."""
    @property
    def angular(self) -> Any:
        """Angular acceleration (a quantity in rad/s**2)."""
    def __eq__(self, other: object, /) -> bool: ...

@final
class EstimatedState:
    """An estimator's output: pose, twist, acceleration, an optional 6×6
    pose covariance (36 values) and the estimator's name."""

    def __new__(
        cls,
        timestamp: Optional[float] = None,
        pose: Optional[Pose] = None,
        twist: Optional[Twist] = None,
        accel: Optional[Accel] = None,
        covariance: Any = None,
        source: str = "unknown",
    ) -> EstimatedState: ...
    @property
    def timestamp(self) -> float:
        """Measurement time, wall-clock seconds."""
    @property
    def pose(self) -> Pose:
        """Position and orientation."""
    @property
    def twist(self) -> Twist:
        """Velocity."""
    @property
    def accel(self) -> Accel:
        """Acceleration."""
    @property
    def covariance(self) -> Optional[_Array]:
        """The 6×6 pose covariance (read-only), or None."""
    @property
    def source(self) -> str:
        """The estimator's name."""
    def to_drone_state(self) -> DroneState:
        """The :class:`DroneState` it describes."""
    def __eq__(self, other: object, /) -> bool: ...

@final
class StateSnapshot(Generic[_T]):
    """An immutable published state. Repeated reads of one version return
    the same object."""

    def __new__(
        cls,
        state: _T,
        timestamp: float,
        version: int,
        source: str = "unknown",
        metadata: Optional[dict[str, Any]] = None,
        published_at: Optional[float] = None,
    ) -> StateSnapshot[_T]: ...
    @property
    def state(self) -> _T:
        """The state."""
    @property
    def timestamp(self) -> float:
        """The state's own time, else the publish time (wall-clock seconds)."""
    @property
    def version(self) -> int:
        """The buffer's version of this publish (1 for the first)."""
    @property
    def source(self) -> str:
        """Who published it."""
    @property
    def metadata(self) -> dict[str, Any]:
        """What the publisher attached (a copy)."""
    @property
    def published_at(self) -> float:
        """Wall-clock seconds when it was published."""
    @property
    def age(self) -> float:
        """Seconds since ``timestamp``."""

@disjoint_base
class ThreadSafeStateBuffer:
    """A versioned, thread-safe state buffer (DART-Planner's API).

    States of ``state_type`` only (``TypeError`` otherwise). With
    ``state_type=FastDroneState`` it runs on the lock-free Rust slot ring.
    """

    def __new__(cls, buffer_size: int = 10, state_type: Optional[type] = None) -> ThreadSafeStateBuffer: ...
    @property
    def buffer_size(self) -> int:
        """The most snapshots the history holds."""
    @property
    def state_type(self) -> type:
        """The type of state accepted."""
    @property
    def version(self) -> int:
        """The latest version (0 before the first update)."""
    def update_state(self, state: Any, source: Optional[str] = None, metadata: Optional[dict[str, Any]] = None) -> int:
        """Publishes ``state`` (source defaults to "unknown"); returns its version."""
    def get_latest_state(self) -> Optional[StateSnapshot[Any]]:
        """The latest snapshot, or None before the first update."""
    def get_state_at_time(self, target_time: float, max_age: float = 0.1) -> Optional[StateSnapshot[Any]]:
        """The held snapshot nearest ``target_time`` if within ``max_age``; else None (a stale read)."""
    def get_history(self) -> list[StateSnapshot[Any]]:
        """The snapshots held, oldest first."""
    def wait_for_update(self, timeout: float = 1.0) -> Optional[StateSnapshot[Any]]:
        """Blocks, interpreter released, until a newer version; None on timeout."""
    def get_statistics(self) -> dict[str, Any]:
        """Counters and rates: DART-Planner's keys plus rtstate's."""
    def reset(self) -> None:
        """Forgets every state, the version and the statistics."""
    def reader(self) -> Reader:
        """A new per-consumer reader."""

@final
class DroneStateBuffer(ThreadSafeStateBuffer):
    """A buffer of :class:`DroneState`."""

    def __new__(cls, buffer_size: int = 10) -> DroneStateBuffer: ...
    def update_from_estimator(self, estimated_state: Any, source: Optional[str] = None) -> int:
        """Publishes an estimate (anything with ``.pose`` and ``.twist``) converted
        to a DroneState, or a DroneState as is; source defaults to "estimator"."""

@final
class FastDroneStateBuffer(ThreadSafeStateBuffer):
    """A buffer of :class:`FastDroneState` on the lock-free slot ring."""

    def __new__(cls, buffer_size: int = 5) -> FastDroneStateBuffer: ...
    def update_from_drone_state(self, drone_state: DroneState, source: Optional[str] = None) -> int:
        """Publishes a DroneState converted; source defaults to "converter"."""

@final
class Reader:
    """One consumer's cursor on a buffer."""

    def updated(self) -> bool:
        """Whether a version other than the last one read exists."""
    def read_if_updated(self) -> Optional[StateSnapshot[Any]]:
        """The latest snapshot if newer than the last one read, else None."""
    def read(self) -> Optional[StateSnapshot[Any]]:
        """The latest snapshot, even if already read."""
    def wait(self, timeout: float = 1.0) -> Optional[StateSnapshot[Any]]:
        """Blocks, interpreter released, for a version newer than the last read."""
    @property
    def lost(self) -> int:
        """Versions published after this reader was created that it never read."""
    @property
    def last_version(self) -> int:
        """The last version read (0 before the first read)."""
    @property
    def reads(self) -> int:
        """Reads made through this reader."""

@final
class StateManager:
    """A named registry of buffers."""

    def __new__(cls) -> StateManager: ...
    def register_buffer(self, name: str, buffer: ThreadSafeStateBuffer) -> None:
        """Registers ``buffer`` under ``name``; a taken name raises ValueError."""
    def unregister_buffer(self, name: str) -> None:
        """Removes the buffer named ``name`` (KeyError if none)."""
    def get_buffer(self, name: str) -> Optional[ThreadSafeStateBuffer]:
        """The buffer named ``name``, or None."""
    def get_latest_state(self, name: str) -> Optional[StateSnapshot[Any]]:
        """The latest snapshot of the named buffer, or None (also for an unknown name)."""
    def update_state(self, name: str, state: Any, source: Optional[str] = None, metadata: Optional[dict[str, Any]] = None) -> int:
        """Publishes into the named buffer (KeyError if none)."""
    def get_all_statistics(self) -> dict[str, dict[str, Any]]:
        """Statistics of every buffer, by name."""
    def reset_all(self) -> None:
        """Resets every buffer."""
    def names(self) -> list[str]:
        """The registered names, sorted."""
    def table(self) -> str:
        """A table of every buffer, like PX4's ``uorb top``."""
    def __len__(self) -> int: ...
    def __contains__(self, name: str, /) -> bool: ...

def create_drone_state_buffer(buffer_size: int = 10) -> DroneStateBuffer:
    """A :class:`DroneStateBuffer`."""

def create_fast_state_buffer(buffer_size: int = 5) -> FastDroneStateBuffer:
    """A :class:`FastDroneStateBuffer`."""

def create_state_manager() -> StateManager:
    """A :class:`StateManager`."""

def _raise_error(variant: str) -> None:
    """Raises the Python exception of one Rust ``Error`` variant (for tests)."""
