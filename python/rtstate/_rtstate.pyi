"""Type stubs for the rtstate extension module (hand-written, checked by
``python -m mypy.stubtest rtstate._rtstate``)."""

from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping, Sequence
from typing import Any, Generic, Literal, Optional, TypedDict, TypeVar, final

import numpy as np
import numpy.typing as npt
from typing_extensions import disjoint_base

__all__ = [
    "MAX_BUFFER_SIZE",
    "MAX_QUEUE_SIZE",
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
    "Subscription",
    "UpdateEvent",
    "CallbackError",
    "ControlLoop",
    "RealTimeControlWrapper",
    "SimVehicle",
    "SharedBuffer",
    "SharedReader",
    "SharedSubscription",
    "WriterBusyError",
    "open_shared",
]

_T = TypeVar("_T")
_Array = npt.NDArray[np.float64]
_Clock = Callable[[], float]

MAX_BUFFER_SIZE: int
"""The largest ``buffer_size`` a buffer accepts (1 048 575 snapshots); more
raises ``ValueError`` before anything is allocated."""
MAX_QUEUE_SIZE: int
"""The largest ``queue_size`` a subscription accepts."""

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
    Vectors hold real numbers only: strings, bools, complex numbers, dates
    and ``None`` are refused (``TypeError``), as is a lone number where a
    vector is expected. ``timestamp`` defaults to the current time
    (wall clock). Fields read back as read-only pint quantities where pint
    is installed (else float64 arrays that cannot be made writeable), built
    once per object. Pickles and copies.
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

    Fields read back as read-only float64 arrays (they cannot be made
    writeable), created once per object. ``timestamp`` defaults to the
    current time. Inputs are checked as :class:`DroneState`'s. Pickles and
    copies.
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
    def from_drone_state(cls, state: Any) -> FastDroneState:
        """The unit-stripped state of a :class:`DroneState` (or of another
        library's DroneState-like object)."""
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
        source: Optional[str] = None,
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
        source: Optional[str] = None,
        metadata: Optional[Mapping[str, Any]] = None,
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
    def metadata(self) -> Mapping[str, Any]:
        """What the publisher attached: a read-only mapping over a copy."""
    @property
    def published_at(self) -> float:
        """Wall-clock seconds when it was published."""
    @property
    def age(self) -> float:
        """Seconds since ``timestamp`` on the buffer's clock (the wall clock
        unless the buffer was given ``clock=``). Only meaningful when the
        state's timestamps come from that clock."""

@disjoint_base
class ThreadSafeStateBuffer:
    """A versioned, thread-safe state buffer (DART-Planner's API).

    States of ``state_type`` only (``TypeError`` otherwise, naming both
    classes in full), held as they are; a buffer of :class:`DroneState` (the
    default) also converts another library's DroneState-like objects. With
    ``state_type=FastDroneState`` it runs on the lock-free Rust slot ring.
    ``buffer_size`` is 1 to :data:`MAX_BUFFER_SIZE`. ``clock``, a callable
    returning seconds, is the time base of staleness (``age``,
    ``latest_age``, ``get_state_at_time()`` without a time); None is the
    wall clock. Python subclasses may define their own ``__init__``.
    """

    def __new__(
        cls, buffer_size: int = 10, state_type: Optional[type] = None, clock: Optional[_Clock] = None
    ) -> ThreadSafeStateBuffer: ...
    def __init__(
        self, buffer_size: int = 10, state_type: Optional[type] = None, clock: Optional[_Clock] = None
    ) -> None: ...
    @property
    def clock(self) -> Optional[_Clock]:
        """The staleness clock given (None: the wall clock)."""
    @property
    def buffer_size(self) -> int:
        """The most snapshots the history holds."""
    @property
    def state_type(self) -> type:
        """The type of state accepted."""
    @property
    def version(self) -> int:
        """The latest version (0 before the first update)."""
    def update_state(self, state: Any, source: Optional[str] = None, metadata: Optional[Mapping[str, Any]] = None) -> int:
        """Publishes ``state`` (source defaults to "unknown"); returns its version."""
    def get_latest_state(self) -> Optional[StateSnapshot[Any]]:
        """The latest snapshot, or None before the first update."""
    def get_state_at_time(self, target_time: Optional[float] = None, max_age: float = 0.1) -> Optional[StateSnapshot[Any]]:
        """The held snapshot nearest ``target_time`` if within ``max_age``; else
        None (a stale read). ``target_time`` is in the time base of the
        states' timestamps; None is now on the buffer's clock."""
    def get_history(self) -> list[StateSnapshot[Any]]:
        """The snapshots held, oldest first."""
    def wait_for_update(self, timeout: Optional[float] = 1.0) -> Optional[StateSnapshot[Any]]:
        """Blocks, interpreter released, until a newer version; None on
        timeout (None or inf: no limit). Ctrl-C interrupts it promptly."""
    def get_statistics(self) -> dict[str, Any]:
        """Counters and rates: DART-Planner's keys plus rtstate's.
        ``latest_age`` is measured on the buffer's clock (see ``clock``)."""
    def reset(self) -> None:
        """Forgets every state, the version and the statistics."""
    def reader(self) -> Reader:
        """A new per-consumer reader."""
    def subscribe(
        self, queue_size: int = 10, policy: Literal["drop_oldest", "drop_newest", "keep_latest"] = "drop_oldest"
    ) -> Subscription:
        """A subscription to every publish from now on, used like an
        ``asyncio.Queue`` of :class:`UpdateEvent` (``await get()``,
        ``get_nowait()``, ``async for``) or as a blocking iterator.

        It works whether or not an event loop runs when it is made. A full
        queue drops per ``policy`` and counts the drop: ``"drop_oldest"``
        (default) keeps the newest ``queue_size`` events, ``"drop_newest"``
        keeps the oldest, ``"keep_latest"`` keeps only the newest one.
        ``queue_size`` outside 1 to :data:`MAX_QUEUE_SIZE` raises ``ValueError``.
        """
    def unsubscribe(self, queue: Subscription) -> None:
        """Ends ``queue`` (a subscription of this buffer; ``ValueError`` for
        another buffer's): events it holds can still be taken, then
        ``async for`` stops and ``get()`` raises :class:`ClosedError`."""
    def wait_for_update_async(self, timeout: float = 1.0) -> Coroutine[Any, Any, Optional[StateSnapshot[Any]]]:
        """Awaitable: the latest snapshot once a publish happens after this
        call, or None after ``timeout`` seconds (a negative timeout raises
        ``ValueError``). Waits without polling and without a thread."""

class DroneStateBuffer(ThreadSafeStateBuffer):
    """A buffer of :class:`DroneState` (another library's DroneState-like
    objects are converted)."""

    def __new__(cls, buffer_size: int = 10, clock: Optional[_Clock] = None) -> DroneStateBuffer: ...
    def update_from_estimator(self, estimated_state: Any, source: Optional[str] = None) -> int:
        """Publishes an estimate (anything with ``.pose`` and ``.twist``) converted
        to a DroneState, or a DroneState as is; source defaults to "estimator"."""

class FastDroneStateBuffer(ThreadSafeStateBuffer):
    """A buffer of :class:`FastDroneState` on the lock-free slot ring (a
    :class:`DroneState` or a DroneState-like object is converted).

    ``shared="drone1/fast_state"`` creates the ring in shared memory (a file
    in ``/dev/shm``, or ``$RTSTATE_SHM_DIR``) and makes this process its
    writer: any process reads it with :func:`open_shared` (Python) or
    ``SlotRing::<FastDroneState>::open_shared`` (Rust), with the same API. An
    existing buffer of that name and size is taken over and its versions
    continue (:class:`WriterBusyError` while another live process writes it;
    ``TypeError`` if it holds another layout, ``ValueError`` for another size
    or a bad name).
    A shared buffer cannot be the state buffer of a
    :class:`RealTimeControlWrapper` (``TypeError``)."""

    def __new__(
        cls, buffer_size: int = 5, clock: Optional[_Clock] = None, shared: Optional[str] = None
    ) -> FastDroneStateBuffer: ...
    def update_from_drone_state(self, drone_state: Any, source: Optional[str] = None) -> int:
        """Publishes a DroneState (or another library's DroneState-like object)
        converted; source defaults to "converter"."""

@final
class Reader:
    """One consumer's cursor on a buffer."""

    def updated(self) -> bool:
        """Whether a version other than the last one read exists."""
    def read_if_updated(self) -> Optional[StateSnapshot[Any]]:
        """The latest snapshot if newer than the last one read, else None."""
    def read(self) -> Optional[StateSnapshot[Any]]:
        """The latest snapshot, even if already read."""
    def wait(self, timeout: Optional[float] = 1.0) -> Optional[StateSnapshot[Any]]:
        """Blocks, interpreter released, for a version newer than the last
        read; None on timeout (None or inf: no limit). Ctrl-C interrupts it."""
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
    """A named registry of buffers. ``clock``, a callable returning seconds,
    is the time base of the table's AGE for buffers without a clock of
    their own (None: the wall clock)."""

    def __new__(cls, clock: Optional[_Clock] = None) -> StateManager: ...
    @property
    def clock(self) -> Optional[_Clock]:
        """The staleness clock given (None: the wall clock)."""
    def register_buffer(self, name: str, buffer: ThreadSafeStateBuffer, replace: bool = True) -> None:
        """Registers ``buffer`` under ``name``. A taken name is replaced with a
        ``UserWarning``; ``replace=False`` raises ``ValueError`` instead."""
    def unregister_buffer(self, name: str) -> None:
        """Removes the buffer named ``name`` (KeyError if none)."""
    def get_buffer(self, name: str) -> Optional[ThreadSafeStateBuffer]:
        """The buffer named ``name``, or None."""
    def get_latest_state(self, name: str) -> Optional[StateSnapshot[Any]]:
        """The latest snapshot of the named buffer, or None (also for an unknown name)."""
    def update_state(self, name: str, state: Any, source: Optional[str] = None, metadata: Optional[Mapping[str, Any]] = None) -> int:
        """Publishes into the named buffer (KeyError if none: a write must not vanish)."""
    def get_all_statistics(self) -> dict[str, dict[str, Any]]:
        """Statistics of every buffer, by name."""
    def reset_all(self) -> None:
        """Resets every buffer."""
    def names(self) -> list[str]:
        """The registered names, sorted."""
    def table(self) -> str:
        """A table of every buffer, like PX4's ``uorb top``; AGE is measured on
        the buffer's clock, else the manager's, else the wall clock."""
    def __len__(self) -> int: ...
    def __contains__(self, name: str, /) -> bool: ...

def create_drone_state_buffer(buffer_size: int = 10, clock: Optional[_Clock] = None) -> DroneStateBuffer:
    """A :class:`DroneStateBuffer`."""

def create_fast_state_buffer(
    buffer_size: int = 5, clock: Optional[_Clock] = None, shared: Optional[str] = None
) -> FastDroneStateBuffer:
    """A :class:`FastDroneStateBuffer` (``shared``: a shared-memory buffer of
    that name, created and written by this process)."""

def create_state_manager(clock: Optional[_Clock] = None) -> StateManager:
    """A :class:`StateManager`."""

def _raise_error(variant: str) -> None:
    """Raises the Python exception of one Rust ``Error`` variant (for tests)."""

# ------------------------------------------------- statistics dictionaries --
# Stub-only types, for type checkers (not importable at run time: name them
# under ``typing.TYPE_CHECKING``, e.g. ``from rtstate._rtstate import
# _LoopStatsDict``): the shapes of the dictionaries the control loops and
# subscriptions return, every key documented.

class _PercentilesDict(TypedDict):
    """A distribution of durations, in milliseconds (log-linear histogram:
    each percentile within 0.8 % of a recorded value, ``max`` exact)."""

    p50: float
    """Median, ms."""
    p90: float
    """90th percentile, ms."""
    p99: float
    """99th percentile, ms."""
    max: float
    """Largest sample, ms."""
    count: int
    """Number of samples."""

class _RealTimeSettingDict(TypedDict):
    """One requested real-time setting and what became of it."""

    setting: str
    """``"sched_fifo"``, ``"cpu_affinity"``, ``"mlockall"`` or ``"timer_slack"``."""
    requested: str
    """What was asked for, e.g. ``"priority 80"``."""
    applied: bool
    """Whether the operating system applied it."""
    reason: Optional[str]
    """The operating system's reason when it did not, else None."""

class _LoopStatsDict(TypedDict):
    """A control loop's statistics (:meth:`ControlLoop.get_stats`,
    :meth:`RealTimeControlWrapper.get_control_stats`): DART-Planner's keys,
    then rtstate's. Read while the loop runs, two figures may be a tick
    apart."""

    iteration_count: int
    """Ticks run."""
    missed_deadlines: int
    """DART-Planner's name for ``overruns``."""
    frequency_target_hz: float
    """The configured rate, Hz."""
    frequency_actual_hz: float
    """Ticks per second between the first and the last tick (0 before two)."""
    mean_execution_time_ms: float
    """Mean time inside the tick (callback or autopilot), ms."""
    max_execution_time_ms: float
    """Longest time inside the tick, ms."""
    min_execution_time_ms: float
    """Shortest time inside the tick, ms (0 before the first)."""
    jitter_rms_ms: float
    """Root mean square of ``period_error_ms``, ms."""
    success_rate: float
    """Fraction of ticks that did not raise (1.0 with no ticks)."""
    overruns: int
    """Ticks whose work ended after the next deadline."""
    missed_ticks: int
    """Deadlines skipped because a tick overran by ``catch_up`` periods or more."""
    errors: int
    """Ticks whose callback raised."""
    last_error: Optional[str]
    """The last callback exception as ``"Type: message"``, or None."""
    last_panic: Optional[str]
    """The message of a Rust panic that stopped the loop, or None."""
    period_ms: _PercentilesDict
    """Time between the starts of consecutive ticks."""
    period_error_ms: _PercentilesDict
    """|actual − expected| time between consecutive ticks."""
    lateness_ms: _PercentilesDict
    """How late each tick started after its deadline."""
    cpu_time_s: float
    """CPU time of the loop thread during the run (updated every 64 ticks), s."""
    elapsed_s: float
    """From the first tick's deadline to the last tick's start, s."""
    running: bool
    """Whether the loop thread is ticking."""
    stop_reason: Optional[Literal["requested", "callback", "completed", "error", "panicked", "real_time"]]
    """Why it stopped (None while running or before a run): ``stop()``, the
    callback returned False, a fixed run ended, ``stop_on_error``, a panic,
    a refused real-time setting."""
    real_time: list[_RealTimeSettingDict]
    """The real-time settings requested, in the order applied."""

class _WrapperStatsDict(TypedDict):
    """:meth:`RealTimeControlWrapper.get_wrapper_stats`."""

    control_iterations: int
    """Ticks the autopilot loop ran (its ``iteration_count``)."""
    state_updates: int
    """States published through :meth:`RealTimeControlWrapper.update_state`."""
    command_updates: int
    """Setpoints published through :meth:`RealTimeControlWrapper.update_command`."""
    errors: int
    """State/command callback calls that raised."""
    callback_calls: int
    """State and command callback calls."""
    last_state_time: float
    """Wall-clock time of the last ``update_state``, s (0 before)."""
    last_command_time: float
    """Wall-clock time of the last ``update_command``, s (0 before)."""
    commands_published: int
    """Commands the autopilot published (the command buffer's version)."""

class _CombinedStatsDict(TypedDict):
    """:meth:`RealTimeControlWrapper.get_combined_stats`."""

    control_loop: _LoopStatsDict
    """The autopilot loop's statistics."""
    state_buffer: dict[str, Any]
    """The state buffer's ``get_statistics()``."""
    wrapper: _WrapperStatsDict
    """The wrapper's own counters."""
    running: bool
    """Whether the autopilot loop is ticking."""
    frequency_hz: float
    """The autopilot loop's target rate, Hz."""

class _SubscriptionCountersDict(TypedDict):
    """:attr:`Subscription.counters`."""

    delivered: int
    """Events taken by the consumer."""
    dropped: int
    """Events discarded by the queue's policy (a full queue), including
    those overwritten but not yet noticed."""
    gaps: int
    """Versions the consumer never saw between two it took (drops and
    publishes before a reset)."""
    duplicates: int
    """Events taken whose version was not newer than the previous one's
    (after a reset)."""

class _SubscriptionStatisticsDict(_SubscriptionCountersDict):
    """:meth:`Subscription.get_statistics`: the counters, plus:"""

    qsize: int
    """Events queued now."""
    maxsize: int
    """The queue's capacity (1 for ``"keep_latest"``)."""
    policy: Literal["drop_oldest", "drop_newest", "keep_latest"]
    """What a full queue drops."""
    closed: bool
    """Whether the subscription has ended (it may still hold events)."""

class _CommandDict(TypedDict):
    """One autopilot command."""

    thrust: float
    """Collective thrust along body +z, N."""
    roll_rate: float
    """Body roll rate, rad/s."""
    pitch_rate: float
    """Body pitch rate, rad/s."""
    yaw_rate: float
    """Body yaw rate, rad/s."""
    timestamp: float
    """The state's timestamp the command was computed from, s."""

@final
class UpdateEvent:
    """One publish as a subscriber receives it: read as a dict
    (``event["version"]``, keys ``state version timestamp source``;
    ``dict(event)`` works and it is a registered ``Mapping``) or as
    attributes (``event.version``). Built on the consumer's side; ``state``
    is built on first access, then the same object."""

    @property
    def state(self) -> Any:
        """The state published."""
    @property
    def version(self) -> int:
        """The buffer's version of this publish."""
    @property
    def timestamp(self) -> float:
        """The state's own time, else the publish time (wall-clock seconds)."""
    @property
    def source(self) -> str:
        """Who published it."""
    @property
    def published_at(self) -> float:
        """Wall-clock seconds when it was published."""
    def __getitem__(self, key: str, /) -> Any: ...
    def get(self, key: str, default: Any = None) -> Any:
        """The value of ``key``, or ``default``."""
    def __contains__(self, key: object, /) -> bool: ...
    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[str]: ...
    def keys(self) -> list[str]:
        """``["state", "version", "timestamp", "source"]``."""
    def values(self) -> list[Any]:
        """The values, in the order of ``keys()``."""
    def items(self) -> list[tuple[str, Any]]:
        """``(key, value)`` pairs, in the order of ``keys()``."""
    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        """Pickles as its values (the state pickled as itself)."""
    def __copy__(self) -> UpdateEvent:
        """Events are immutable: a copy is the event itself."""
    def __deepcopy__(self, memo: Any, /) -> UpdateEvent:
        """A new event whose state is a deep copy."""

def _update_event(state: Any, version: int, timestamp: float, source: str, published_at: float) -> UpdateEvent:
    """Rebuilds an :class:`UpdateEvent` from its values (its pickle)."""

@final
class Subscription:
    """A buffer's events for one consumer, used exactly like an
    ``asyncio.Queue``, plus blocking iteration from threads.

    The writer never waits for it and never takes the interpreter for it:
    a publish from any thread wakes an awaiting ``get()`` through an
    ``eventfd`` (Linux; a socket pair elsewhere) registered with the running
    loop at the first ``get()`` that waits and kept there while the
    subscription is used (no polling, no per-``get()`` registration). It is
    removed when the subscription ends or is garbage collected. After :meth:`close`, ``buffer.unsubscribe(queue)`` or
    ``buffer.reset()``, queued events can still be taken; then ``get()`` and
    ``get_nowait()`` raise :class:`ClosedError` and iteration stops.
    """

    def get(self) -> Coroutine[Any, Any, UpdateEvent]:
        """Awaitable: the next event; :class:`ClosedError` once ended and
        drained. Cancelling it (e.g. ``asyncio.wait_for``) loses no event."""
    def get_nowait(self) -> UpdateEvent:
        """The next event without waiting: ``asyncio.QueueEmpty`` if none,
        :class:`ClosedError` once ended and drained."""
    def iter(self, timeout: Optional[float] = None) -> Iterator[UpdateEvent]:
        """A blocking iterator (the interpreter released while it waits); it
        ends when the subscription ends and is drained, or when no event
        arrives within ``timeout`` seconds (None: no limit)."""
    def __iter__(self) -> Iterator[UpdateEvent]:
        """``iter(timeout=None)``."""
    def __aiter__(self) -> Subscription: ...
    def __anext__(self) -> Coroutine[Any, Any, UpdateEvent]:
        """``async for``: stops once the subscription ended and is drained."""
    def qsize(self) -> int:
        """Events queued now."""
    def empty(self) -> bool:
        """Whether no event is queued now."""
    def full(self) -> bool:
        """Whether the queue is full now (the next publish drops an event)."""
    @property
    def maxsize(self) -> int:
        """The queue's capacity (1 for ``"keep_latest"``)."""
    @property
    def policy(self) -> str:
        """``"drop_oldest"``, ``"drop_newest"`` or ``"keep_latest"``."""
    @property
    def closed(self) -> bool:
        """Whether the subscription has ended (it may still hold events)."""
    def close(self) -> None:
        """Ends the subscription; pending ``get()`` calls wake (and raise
        :class:`ClosedError` once it is drained); the wake-up descriptor
        leaves the event loop."""
    def task_done(self) -> None:
        """For ``asyncio.Queue`` compatibility; does nothing."""
    @property
    def counters(self) -> _SubscriptionCountersDict:
        """``delivered dropped gaps duplicates`` of this subscription
        (``dropped`` includes events overwritten but not yet noticed)."""
    def get_statistics(self) -> _SubscriptionStatisticsDict:
        """The counters plus ``qsize maxsize policy closed``."""
    def _poll(self) -> Optional[UpdateEvent]:
        """Internal (asyncio glue): the next event, or None with the waker registered."""
    def _recv(self, timeout: Optional[float] = None) -> Optional[UpdateEvent]:
        """Internal: blocking receive; None on timeout or once ended and drained."""
    @property
    def _waiters(self) -> Any:
        """Internal: the asyncio glue's state for this subscription."""

@final
class _RustPublisher:
    """Testing aid: the handle of a ``_publish_from_rust_thread`` thread."""

    def join(self, timeout: Optional[float] = None) -> Optional[int]:
        """Waits (interpreter released, signals checked) for the thread; how
        many states it published, or None if ``timeout`` seconds passed
        (None, +inf or too large: no limit). Any thread may call it, any
        number of times; :class:`PanickedError` if the thread panicked."""
    def is_finished(self) -> bool:
        """Whether the thread has finished (never waits)."""

def _publish_from_rust_thread(
    buffer: FastDroneStateBuffer, states: Any, interval_s: float = 0.0
) -> _RustPublisher:
    """Testing aid: starts a Rust thread that publishes ``states``
    (FastDroneStates) into ``buffer`` every ``interval_s`` seconds (source
    ``"rust-thread"``) without ever taking the interpreter."""

# ---------------------------------------------------------- control loop --

class CallbackError(RtStateError):
    """A Python callback run by a control loop raised; the original exception is ``__cause__``."""

@final
class ControlLoop:
    """A Python callable run at a fixed rate on a Rust thread.

    Deadlines are absolute (``start + k/frequency_hz``: no drift); each tick
    sleeps with ``clock_nanosleep`` until ``spin_us`` before its deadline,
    then spins. The loop thread attaches to the interpreter only to call
    ``callback()`` (no arguments); returning ``False`` stops the loop.

    An exception from the callback is counted (``errors``), kept
    (``last_error`` as ``"Type: message"``, the object through
    :meth:`last_exception`), and the loop goes on; with
    ``stop_on_error=True`` it stops, and :meth:`stop`/:meth:`run` raise
    :class:`CallbackError` with the original as ``__cause__``.

    Real-time settings (``priority`` > 0: SCHED_FIFO at that priority,
    ``cpu_affinity``, ``lock_memory`` (mlockall), ``timer_slack_ns``:
    ``None`` asks for the loop's default of 1 ns, ``0`` leaves the kernel's)
    are applied to the loop thread; one that is refused raises
    :class:`RealTimeError` under ``realtime_policy="strict"`` and is
    reported in ``get_stats()["real_time"]`` under ``"warn"``.
    """

    def __new__(
        cls,
        callback: Callable[[], Any],
        frequency_hz: float = 1000.0,
        *,
        spin_us: Optional[float] = None,
        priority: int = 0,
        cpu_affinity: Optional[Sequence[int]] = None,
        lock_memory: bool = False,
        timer_slack_ns: Optional[int] = None,
        realtime_policy: str = "warn",
        stop_on_error: bool = False,
    ) -> ControlLoop: ...
    @property
    def frequency_hz(self) -> float:
        """The target rate, Hz."""
    @property
    def callback(self) -> Callable[[], Any]:
        """The callable."""
    def start(self) -> None:
        """Starts the loop on its own thread (:class:`AlreadyRunningError` if
        it runs; of concurrent calls exactly one starts it)."""
    def stop(self, timeout: float = 1.0) -> Optional[_LoopStatsDict]:
        """Asks the loop to stop and waits up to ``timeout`` s (interpreter
        released, signals checked every 50 ms; +inf or a value too large to
        represent: no limit; negative or NaN: ``ValueError``); returns the
        final statistics, None if never started. ``TimeoutError`` if a
        callback still runs then (the loop stops once it returns; from
        inside the loop's own callback it always does);
        :class:`CallbackError` if it stopped on a callback error."""
    def is_running(self) -> bool:
        """Whether the loop thread is ticking. Never waits: callable from any
        thread, the loop's own callback included."""
    def run(self, duration: Optional[float] = None) -> _LoopStatsDict:
        """Starts the loop if needed and blocks (interpreter released, signals
        checked every 50 ms) until it stops by itself or ``duration`` s pass
        (None, +inf or too large to represent: no limit; negative or NaN:
        ``ValueError``); then stops it and returns its statistics. Ctrl-C
        stops the loop and raises ``KeyboardInterrupt``."""
    def get_stats(self) -> _LoopStatsDict:
        """The statistics now. Never waits: callable from any thread, the
        loop's own callback included."""
    def last_exception(self) -> Optional[BaseException]:
        """The callback's last exception, or None."""
    def raise_last_error(self) -> None:
        """Raises :class:`CallbackError` from the callback's last exception
        (as ``__cause__``); does nothing if it never raised."""

@final
class RealTimeControlWrapper:
    """DART-Planner's ``RealTimeControlWrapper`` on the Rust autopilot.

    A cascaded PID (position → velocity → attitude → body rates; output
    thrust in N and body rates in rad/s) runs at ``frequency_hz`` on a Rust
    thread, reading the vehicle state straight from the lock-free ring of
    ``state_buffer`` (a ``FastDroneStateBuffer``, created if None). With a
    ``DroneStateBuffer`` (``use_fast_state=False`` or given), states passed
    to :meth:`update_state` are also mirrored into an internal ring for the
    autopilot. No Python runs in the loop unless a state or command callback
    is set. Until :meth:`update_command` is called the setpoint is the
    origin (hover thrust m·g). ``priority`` > 0 requests SCHED_FIFO; the
    keyword-only settings are those of :class:`ControlLoop`.
    """

    def __new__(
        cls,
        frequency_hz: float = 1000.0,
        priority: int = 0,
        state_buffer: Optional[ThreadSafeStateBuffer] = None,
        use_fast_state: bool = True,
        *,
        spin_us: Optional[float] = None,
        cpu_affinity: Optional[Sequence[int]] = None,
        lock_memory: bool = False,
        timer_slack_ns: Optional[int] = None,
        realtime_policy: str = "warn",
    ) -> RealTimeControlWrapper: ...
    @property
    def frequency_hz(self) -> float:
        """The loop's target rate, Hz."""
    @property
    def priority(self) -> int:
        """The SCHED_FIFO priority requested (0: normal scheduling)."""
    @property
    def use_fast_state(self) -> bool:
        """Whether the default state buffer is a ``FastDroneStateBuffer``."""
    @property
    def state_buffer(self) -> ThreadSafeStateBuffer:
        """The buffer the controller's state is published to."""
    def start(self) -> None:
        """Starts the autopilot loop (does nothing if it runs; of concurrent
        calls one starts it)."""
    def stop(self, timeout: float = 1.0) -> None:
        """Stops the loop (``TimeoutError`` if a callback still runs after
        ``timeout`` s; +inf or too large: no limit; negative or NaN:
        ``ValueError``)."""
    def is_running(self) -> bool:
        """Whether the loop thread is ticking (never waits)."""
    def update_state(self, state: Any, source: Optional[str] = None) -> int:
        """Publishes a ``DroneState``, a ``FastDroneState`` or an estimate
        with ``.pose``/``.twist`` (converted) for the controller (source
        ``"external"`` by default); returns the buffer's version. The state
        is converted and checked first: a refused one publishes nothing.
        With a ``DroneStateBuffer``, ``state_buffer.reset()`` also empties
        the autopilot's mirror (it commands nothing until the next state)."""
    def update_command(
        self,
        position_setpoint: Any = None,
        velocity_setpoint: Any = None,
        attitude_setpoint: Any = None,
        angular_velocity_setpoint: Any = None,
        thrust: Any = None,
    ) -> int:
        """Sets the setpoint (None keeps a field's current value): m, m/s,
        rad (yaw tracked; roll/pitch feed-forward), rad/s, N (hover thrust;
        0 means m·g). Only real numbers (and pint quantities, converted) are
        accepted: ``str``, ``bool``, complex, ``None`` inside a vector or
        arrays of such dtypes raise ``TypeError``, NaN/inf ``ValueError``,
        each naming the field. Returns the setpoint's version."""
    def get_setpoint(self) -> dict[str, Any]:
        """The setpoint tracked now (the ``update_command`` fields)."""
    def set_gains(
        self,
        kp_pos: Any = None,
        ki_pos: Any = None,
        kd_pos: Any = None,
        kp_att: Any = None,
        ki_att: Any = None,
        kd_att: Any = None,
        *,
        kp_vel: Any = None,
        ki_vel: Any = None,
        kd_vel: Any = None,
        kp_rate: Any = None,
        ki_rate: Any = None,
        kd_rate: Any = None,
    ) -> int:
        """Sets gains (a number for all axes or three; None keeps the
        current). DART-Planner's ``*_pos`` map to the position stage
        (position error → velocity setpoint), ``*_att`` to the attitude stage
        (attitude error → rates); ``*_vel`` and ``*_rate`` are the velocity
        and body-rate stages. Negative or non-finite gains raise
        ``ValueError``, non-numbers ``TypeError``, each naming the keyword."""
    def get_gains(self) -> dict[str, dict[str, Any]]:
        """The gains of the ``position velocity attitude rate`` stages."""
    def get_latest_state(self) -> Optional[StateSnapshot[Any]]:
        """The state buffer's latest snapshot."""
    def get_state_at_time(self, target_time: float, max_age: float = 0.1) -> Optional[StateSnapshot[Any]]:
        """The state buffer's snapshot nearest ``target_time`` within ``max_age``."""
    def wait_for_state_update(self, timeout: float = 1.0) -> Optional[StateSnapshot[Any]]:
        """Blocks (interpreter released, signals checked every 50 ms, so
        Ctrl-C arrives promptly) for the next state; None on timeout."""
    def wait_for_state_update_async(self, timeout: float = 1.0) -> Awaitable[Optional[StateSnapshot[Any]]]:
        """Awaits the next state; None on timeout."""
    def set_state_update_callback(self, callback: Optional[Callable[[DroneState], Any]]) -> None:
        """Calls ``callback(DroneState)`` on the loop thread for each new state
        version the controller reads (None removes it; anything else not
        callable: ``TypeError``)."""
    def set_command_update_callback(self, callback: Optional[Callable[[dict[str, float]], Any]]) -> None:
        """Calls ``callback({"thrust", "roll_rate", "pitch_rate", "yaw_rate",
        "timestamp"})`` on the loop thread after each command (None removes
        it; anything else not callable: ``TypeError``)."""
    def set_error_callback(self, callback: Optional[Callable[[str], Any]]) -> None:
        """Calls ``callback("Type: message")`` when a state or command
        callback raises (counted and kept; the loop goes on). Not callable
        and not None: ``TypeError``."""
    def last_exception(self) -> Optional[BaseException]:
        """The last exception a callback raised, or None."""
    def raise_last_error(self) -> None:
        """Raises :class:`CallbackError` from the last callback exception, if any."""
    def get_latest_command(self) -> Optional[_CommandDict]:
        """The latest command (``thrust roll_rate pitch_rate yaw_rate timestamp``)."""
    def get_control_stats(self) -> _LoopStatsDict:
        """The autopilot loop's statistics (every key documented on
        :class:`_LoopStatsDict`)."""
    def get_state_buffer_stats(self) -> dict[str, Any]:
        """The state buffer's statistics."""
    def get_wrapper_stats(self) -> _WrapperStatsDict:
        """The wrapper's counters (``control_iterations state_updates
        command_updates errors callback_calls last_state_time
        last_command_time commands_published``)."""
    def get_combined_stats(self) -> _CombinedStatsDict:
        """``{"control_loop", "state_buffer", "wrapper", "running", "frequency_hz"}``."""

@final
class SimVehicle:
    """The Rust multirotor simulation (world frame ENU, z up; thrust along
    body +z; body rates following the command through a first-order lag).
    Public so that examples and tests can fly the autopilot without
    hardware."""

    def __new__(
        cls,
        mass: float = 1.0,
        gravity: float = 9.81,
        *,
        drag: float = 0.0,
        disturbance: Optional[Sequence[float]] = None,
        rate_time_constant: float = 0.03,
    ) -> SimVehicle: ...
    def measurement(self) -> FastDroneState:
        """The true state now."""
    @property
    def time(self) -> float:
        """Simulated time, s."""
    def set_command(self, thrust: float, roll_rate: float = 0.0, pitch_rate: float = 0.0, yaw_rate: float = 0.0) -> None:
        """The command a running sim applies when it follows no controller."""
    def step(
        self, thrust: float, roll_rate: float = 0.0, pitch_rate: float = 0.0, yaw_rate: float = 0.0, dt: float = 0.001
    ) -> None:
        """Advances by ``dt`` s under a command."""
    def start(
        self,
        rate_hz: float = 1000.0,
        controller: Optional[RealTimeControlWrapper] = None,
        state_buffer: Optional[ThreadSafeStateBuffer] = None,
    ) -> None:
        """Runs the simulation on a Rust loop: each tick applies the latest
        command of ``controller`` (or of :meth:`set_command`), advances by
        the measured interval, and publishes the true state into
        ``state_buffer`` (a ``FastDroneStateBuffer``) if given. Held still
        before the first command."""
    def stop(self, timeout: float = 1.0) -> None:
        """Stops the sim loop (``timeout`` as for :meth:`ControlLoop.stop`)."""
    def is_running(self) -> bool:
        """Whether the sim loop runs."""

def _stop_all_loops(timeout: float = 1.0) -> int:
    """Stops every running loop (called at interpreter exit); how many ran."""

def _bench_rust_loop(hz: float, secs: float, spin_us: Optional[float] = None) -> list[int]:
    """Benchmark aid: ``ControlLoop`` with a no-op Rust tick at ``hz`` for
    ``secs`` (interpreter released); each tick's start in ns since the first."""

def _bare_loop(hz: float, secs: float) -> list[int]:
    """Benchmark aid: the bare Rust ``clock_nanosleep`` absolute-deadline
    loop; each wake-up in ns since the first deadline."""

# Shared-memory buffers.
from os import PathLike
from typing import TypedDict

class WriterBusyError(RtStateError):
    """Another running process is the shared buffer's writer (its pid is in the message)."""

class _SharedStatistics(TypedDict):
    """``SharedBuffer.get_statistics()``: counters summed over every process."""

    updates: int
    """Publishes since creation or the last reset: the latest version, less
    the versions a writer skipped by publishing at a chosen version (a Zenoh
    mirror carrying a remote buffer's versions across a gap)."""
    current_version: int
    """The latest version."""
    reads: int
    """Reads, every process."""
    stale_reads: int
    """Reads that found only a state older than asked for, every process."""
    lost: int
    """Versions readers never saw, every process."""
    readers: int
    """Live reader handles, every process."""
    processes: int
    """Live processes with the buffer open."""
    waiting: int
    """Threads blocked waiting for a publish, every process."""
    buffer_size: int
    """The most states the history holds."""
    writer_pid: int
    """The writer's pid (the current one, else the last; 0 if none ever)."""
    writer_alive: bool
    """Whether a writer holds the buffer and is running."""
    latest_age: Optional[float]
    """Seconds since the latest state's timestamp (None when empty)."""
    last_update_time: float
    """Wall-clock time of the latest publish (0.0 when empty)."""
    closed: bool
    """Whether the buffer was closed."""

@final
class SharedBuffer:
    """A buffer in shared memory, readable and writable from any process.

    ``SharedBuffer(name, dtype)`` creates it with the layout of the numpy
    structured ``dtype`` (fields of f64, f32, i64, u64, i32, u32, u8, bool
    or arrays of them) and makes this process its writer; an existing
    buffer whose writer has exited is taken over (versions continue). A
    running writer elsewhere raises :class:`WriterBusyError`, another
    layout ``TypeError``, a bad name ``ValueError``. States come back as
    numpy records (``numpy.void``), or as :class:`FastDroneState` for that
    layout; an ``f64`` field named ``timestamp`` is the state's own time.
    """

    def __new__(
        cls,
        name: str,
        dtype: npt.DTypeLike,
        buffer_size: int = 8,
        mode: int = 0o600,
        directory: Optional[str | PathLike[str]] = None,
    ) -> SharedBuffer: ...
    @property
    def name(self) -> str:
        """The buffer's name."""
    @property
    def dtype(self) -> np.dtype[Any]:
        """The layout as a numpy structured dtype."""
    @property
    def layout(self) -> str:
        """The layout as the header records it."""
    @property
    def layout_hash(self) -> int:
        """FNV-1a 64 of the encoded layout."""
    @property
    def buffer_size(self) -> int:
        """The most states the history holds."""
    @property
    def version(self) -> int:
        """The latest version (0 before the first update)."""
    @property
    def is_writer(self) -> bool:
        """Whether this handle is the buffer's writer."""
    @property
    def path(self) -> str:
        """The file backing the buffer."""
    def update_state(self, state: Any, source: Optional[str] = None) -> int:
        """Publishes a dict, a tuple or a numpy record of the layout (a
        FastDroneState for that layout); returns its version."""
    def get_latest_state(self) -> Optional[StateSnapshot[Any]]:
        """The latest snapshot, or None before the first update."""
    def get_state_at_time(self, target_time: float, max_age: float = 0.1) -> Optional[StateSnapshot[Any]]:
        """The held snapshot nearest ``target_time`` if within ``max_age``."""
    def get_history(self) -> list[StateSnapshot[Any]]:
        """The snapshots held, oldest first."""
    def wait_for_update(self, timeout: float = 1.0) -> Optional[StateSnapshot[Any]]:
        """Blocks, interpreter released, for a publish from any process."""
    def wait_for_update_async(self, timeout: float = 1.0) -> Awaitable[Optional[StateSnapshot[Any]]]:
        """Awaitable: the next publish from any process, or None after ``timeout``."""
    def reader(self) -> SharedReader:
        """A new per-consumer reader."""
    def subscribe(self, queue_size: int = 10) -> SharedSubscription:
        """An asyncio queue of every publish from now on (a running loop is needed)."""
    def get_statistics(self) -> _SharedStatistics:
        """Counters summed over every process."""
    def reset(self) -> None:
        """Forgets every state (versions restart at 1)."""
    def close(self) -> None:
        """Closes the buffer for every process."""

@final
class SharedReader:
    """One consumer's cursor on a shared buffer."""

    def updated(self) -> bool:
        """Whether a version newer than the last one read exists."""
    def read(self) -> Optional[StateSnapshot[Any]]:
        """The latest snapshot, even if already read."""
    def read_if_updated(self) -> Optional[StateSnapshot[Any]]:
        """The latest snapshot if newer than the last one read, else None."""
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
class SharedSubscription:
    """An asyncio queue fed across processes by a thread asleep on the
    buffer's futex; the oldest snapshots are dropped (and counted) when the
    consumer falls behind."""

    def get(self) -> Awaitable[StateSnapshot[Any]]:
        """Awaitable: the next snapshot."""
    def get_nowait(self) -> StateSnapshot[Any]:
        """The next queued snapshot, else ``asyncio.QueueEmpty``."""
    def qsize(self) -> int:
        """Snapshots queued."""
    @property
    def delivered(self) -> int:
        """Snapshots put into the queue."""
    @property
    def dropped(self) -> int:
        """Snapshots dropped because the consumer fell behind."""
    def close(self) -> None:
        """Stops the feeding thread."""
    def __aiter__(self) -> SharedSubscription: ...
    def __anext__(self) -> Awaitable[StateSnapshot[Any]]: ...

def open_shared(
    name: str, raw: bool = False, directory: Optional[str | PathLike[str]] = None
) -> SharedBuffer:
    """Opens an existing shared buffer from any process (records for any
    layout with ``raw=True``)."""

def _shared_list(directory: Optional[str | PathLike[str]] = None) -> list[dict[str, Any]]:
    """Every shared buffer in ``directory`` as dicts (``rtstate list``)."""

def _shared_clean(directory: Optional[str | PathLike[str]] = None, invalid: bool = False) -> list[str]:
    """Removes buffers no running process has open; returns their names."""

def _shared_remove(name: str, directory: Optional[str | PathLike[str]] = None) -> None:
    """Removes shared buffer ``name``'s file."""

def _shared_dir() -> str:
    """The directory holding shared buffers."""

@final
class _Recorder:
    """A recording of buffers into an MCAP file (see ``rtstate.Recorder``)."""
    def __new__(
        cls,
        path: str,
        buffers: list[tuple[str, Any]],
        directory: Optional[str] = None,
        poll_interval: float = 0.001,
        queue: int = 1024,
        foxglove: bool = True,
    ) -> _Recorder: ...
    def start(self) -> None: ...
    def stop(self) -> dict[str, Any]: ...
    def statistics(self) -> dict[str, Any]: ...
    @property
    def running(self) -> bool: ...

@final
class _Server:
    """A live Foxglove WebSocket server of buffers (see ``rtstate.Server``)."""
    def __new__(
        cls,
        buffers: list[tuple[str, Any]],
        directory: Optional[str] = None,
        host: str = "127.0.0.1",
        port: int = 8765,
        poll_interval: float = 0.001,
        queue: int = 1024,
        foxglove: bool = True,
    ) -> _Server: ...
    @property
    def port(self) -> int: ...
    @property
    def host(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def names(self) -> list[str]: ...
    @property
    def running(self) -> bool: ...
    @property
    def client_count(self) -> int: ...
    def statistics(self) -> dict[str, Any]: ...
    def stop(self) -> dict[str, Any]: ...

def _replay(
    path: str,
    directory: Optional[str] = None,
    names: Optional[list[str]] = None,
    rate: Optional[float] = None,
) -> dict[str, Any]:
    """Replays a recording into shared buffers; ``{"published", "elapsed"}``."""

def _replay_into(
    path: str,
    buffers: list[tuple[str, Any]],
    rate: Optional[float] = None,
) -> dict[str, Any]:
    """Replays a recording into in-process ``FastDroneStateBuffer``s."""

def _recorded_channels(path: str) -> list[str]:
    """The names of a recording's buffer channels."""
