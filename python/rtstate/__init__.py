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

from ._rtstate import (
    Accel,
    AlreadyRunningError,
    ClosedError,
    DroneState,
    DroneStateBuffer,
    EmptyError,
    EstimatedState,
    FastDroneState,
    FastDroneStateBuffer,
    PanickedError,
    Pose,
    Reader,
    RealTimeError,
    RtStateError,
    StateManager,
    StateSnapshot,
    ThreadSafeStateBuffer,
    Twist,
    create_drone_state_buffer,
    create_fast_state_buffer,
    create_state_manager,
)
from ._units import HAVE_PINT, DimensionalityError, Q_

from ._rtstate import CallbackError, ControlLoop, RealTimeControlWrapper
from ._control import (
    StateEstimatorController,
    create_estimator_controller,
    create_rt_control_wrapper,
)

__all__ = [
    "Accel",
    "AlreadyRunningError",
    "ClosedError",
    "DimensionalityError",
    "DroneState",
    "DroneStateBuffer",
    "EmptyError",
    "EstimatedState",
    "FastDroneState",
    "FastDroneStateBuffer",
    "HAVE_PINT",
    "PanickedError",
    "Pose",
    "Q_",
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
]

# The control loop (issue 6).
__all__ += [
    "CallbackError",
    "ControlLoop",
    "RealTimeControlWrapper",
    "StateEstimatorController",
    "create_estimator_controller",
    "create_rt_control_wrapper",
]

# Subscriptions (issue 5): asyncio-queue-like handles and their events.
from collections.abc import Mapping as _Mapping

from ._rtstate import Subscription, UpdateEvent

_Mapping.register(UpdateEvent)
__all__ += ["Subscription", "UpdateEvent"]

# Shared-memory buffers: any process, any language, the same protocol.
from ._rtstate import SharedBuffer, SharedReader, SharedSubscription, WriterBusyError, open_shared

__all__ += ["SharedBuffer", "SharedReader", "SharedSubscription", "WriterBusyError", "open_shared"]

__version__ = "0.1.0"
