"""rtstate: real-time state middleware for robots and drones.

Versioned snapshots of vehicle state in lock-free Rust buffers, with the
Python API of DART-Planner's ``state_buffer`` module: only the import changes.

>>> from rtstate import create_fast_state_buffer, FastDroneState
>>> buffer = create_fast_state_buffer()
>>> buffer.update_state(FastDroneState(timestamp=1.0, position=[1, 2, 3]), "estimator")
1
>>> buffer.get_latest_state().state.position[0]
np.float64(1.0)
"""

from __future__ import annotations

from collections.abc import Mapping as _Mapping

from ._control import (
    StateEstimatorController,
    create_estimator_controller,
    create_rt_control_wrapper,
)
from ._rtstate import (
    MAX_BUFFER_SIZE,
    MAX_QUEUE_SIZE,
    Accel,
    AlreadyRunningError,
    CallbackError,
    ClosedError,
    ControlLoop,
    DroneState,
    DroneStateBuffer,
    EmptyError,
    EstimatedState,
    FastDroneState,
    FastDroneStateBuffer,
    PanickedError,
    Pose,
    Reader,
    RealTimeControlWrapper,
    RealTimeError,
    RtStateError,
    SharedBuffer,
    SharedReader,
    SharedSubscription,
    SimVehicle,
    StateManager,
    StateSnapshot,
    Subscription,
    ThreadSafeStateBuffer,
    Twist,
    UpdateEvent,
    create_drone_state_buffer,
    create_fast_state_buffer,
    create_state_manager,
    open_shared,
    WriterBusyError,
)
from ._record import Recorder, replay
from ._serve import Server, serve
from ._units import HAVE_PINT, DimensionalityError, Q_

# An event reads like a read-only dict (`event["state"]`).
_Mapping.register(UpdateEvent)

__all__ = [
    "HAVE_PINT",
    "MAX_BUFFER_SIZE",
    "MAX_QUEUE_SIZE",
    "Accel",
    "AlreadyRunningError",
    "CallbackError",
    "ClosedError",
    "ControlLoop",
    "DimensionalityError",
    "DroneState",
    "DroneStateBuffer",
    "EmptyError",
    "EstimatedState",
    "FastDroneState",
    "FastDroneStateBuffer",
    "PanickedError",
    "Pose",
    "Q_",
    "Reader",
    "RealTimeControlWrapper",
    "Recorder",
    "RealTimeError",
    "RtStateError",
    "Server",
    "SharedBuffer",
    "SharedReader",
    "SharedSubscription",
    "SimVehicle",
    "StateEstimatorController",
    "StateManager",
    "StateSnapshot",
    "Subscription",
    "ThreadSafeStateBuffer",
    "Twist",
    "UpdateEvent",
    "WriterBusyError",
    "create_drone_state_buffer",
    "create_estimator_controller",
    "create_fast_state_buffer",
    "create_rt_control_wrapper",
    "create_state_manager",
    "open_shared",
    "replay",
    "serve",
]

__version__ = "0.1.0"
