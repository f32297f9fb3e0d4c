"""DART-Planner's own state objects (DART-Planner-shaped dataclasses with
pint quantities of their own registry, see ``dart_types.py``) passed to every
buffer, factory, manager and update method, with only the import changed."""

import time

import numpy as np
import pytest

import rtstate
from rtstate import (
    DroneStateBuffer,
    FastDroneStateBuffer,
    ThreadSafeStateBuffer,
    create_drone_state_buffer,
    create_fast_state_buffer,
    create_state_manager,
)

import dart_types as dart
from dart_types import Q_

DRONE_BUFFERS = {
    "ThreadSafeStateBuffer()": lambda: ThreadSafeStateBuffer(),
    "DroneStateBuffer()": lambda: DroneStateBuffer(),
    "create_drone_state_buffer()": lambda: create_drone_state_buffer(buffer_size=10),
}
FAST_BUFFERS = {
    "ThreadSafeStateBuffer(state_type=FastDroneState)": lambda: ThreadSafeStateBuffer(
        state_type=rtstate.FastDroneState
    ),
    "FastDroneStateBuffer()": lambda: FastDroneStateBuffer(),
    "create_fast_state_buffer()": lambda: create_fast_state_buffer(buffer_size=5),
}
ALL_BUFFERS = {**DRONE_BUFFERS, **FAST_BUFFERS}


def their_state(t=None):
    return dart.DroneState(
        timestamp=time.time() if t is None else t,
        position=Q_(np.array([100.0, 200.0, 300.0]), "cm"),
        velocity=Q_(np.array([36.0, 0.0, 0.0]), "km/h"),
        attitude=Q_(np.array([0.0, 0.0, 90.0]), "degree"),
        angular_velocity=Q_(np.array([0.1, 0.2, 0.3]), "rad/s"),
        motor_rpms=np.array([1000.0, 1001.0, 1002.0, 1003.0]),
    )


def their_fast_state(t=None):
    return dart.FastDroneState(
        timestamp=time.time() if t is None else t,
        position=np.array([1.0, 2.0, 3.0]),
        velocity=np.array([10.0, 0.0, 0.0]),
        attitude=np.array([0.0, 0.0, np.pi / 2]),
        angular_velocity=np.array([0.1, 0.2, 0.3]),
    )


def si(value):
    return np.asarray(getattr(value, "magnitude", value), dtype=float)


def assert_converted(state, t):
    assert state.timestamp == t
    assert np.allclose(si(state.position), [1, 2, 3])
    assert np.allclose(si(state.velocity), [10, 0, 0])
    assert np.allclose(si(state.attitude), [0, 0, np.pi / 2])
    assert np.allclose(si(state.angular_velocity), [0.1, 0.2, 0.3])


@pytest.mark.parametrize("make", list(ALL_BUFFERS.values()), ids=list(ALL_BUFFERS))
@pytest.mark.parametrize("shape", ["DroneState", "FastDroneState"])
def test_update_state_takes_their_objects(make, shape):
    buffer = make()
    theirs = their_state(5.0) if shape == "DroneState" else their_fast_state(5.0)
    assert buffer.update_state(theirs, "estimator") == 1
    snap = buffer.get_latest_state()
    assert isinstance(snap.state, buffer.state_type)
    assert_converted(snap.state, 5.0)
    assert snap.timestamp == 5.0


@pytest.mark.parametrize("make", list(DRONE_BUFFERS.values()), ids=list(DRONE_BUFFERS))
def test_motor_rpms_come_across_and_none_is_zero(make):
    buffer = make()
    buffer.update_state(their_state(1.0))
    assert list(buffer.get_latest_state().state.motor_rpms) == [1000, 1001, 1002, 1003]
    buffer.update_state(dart.DroneState(timestamp=2.0))
    assert list(buffer.get_latest_state().state.motor_rpms) == [0, 0, 0, 0]


@pytest.mark.parametrize("make", [FastDroneStateBuffer, create_fast_state_buffer])
def test_update_from_drone_state_takes_theirs(make):
    buffer = make()
    buffer.update_from_drone_state(their_state(3.0))
    assert_converted(buffer.get_latest_state().state, 3.0)
    assert buffer.get_latest_state().source == "converter"


def test_from_drone_state_takes_theirs():
    assert_converted(rtstate.FastDroneState.from_drone_state(their_state(4.0)), 4.0)


@pytest.mark.parametrize("make", [DroneStateBuffer, create_drone_state_buffer])
def test_update_from_estimator_takes_their_estimate(make):
    buffer = make()
    estimate = dart.EstimatedState(
        timestamp=6.0,
        pose=dart.Pose(position=Q_([1.0, 2.0, 3.0], "m"), orientation=Q_([0.0, 0.0, 90.0], "degree")),
        twist=dart.Twist(linear=Q_([36.0, 0.0, 0.0], "km/h"), angular=Q_([0.1, 0.2, 0.3], "rad/s")),
    )
    buffer.update_from_estimator(estimate)
    state = buffer.get_latest_state().state
    assert_converted(state, 6.0)


@pytest.mark.parametrize("kind", ["drone", "fast"])
def test_the_manager_takes_their_objects(kind):
    manager = create_state_manager()
    manager.register_buffer("drone", create_drone_state_buffer())
    manager.register_buffer("fast", create_fast_state_buffer())
    manager.update_state(kind, their_state(7.0), "estimator")
    manager.update_state(kind, their_fast_state(8.0), "estimator")
    assert_converted(manager.get_latest_state(kind).state, 8.0)
    assert manager.get_buffer(kind).version == 2


@pytest.mark.parametrize("make", list(ALL_BUFFERS.values()), ids=list(ALL_BUFFERS))
def test_their_objects_get_the_same_unit_checks(make):
    buffer = make()
    buffer.update_state(their_state(1.0))
    before = (buffer.version, [s.version for s in buffer.get_history()])
    bad_units = their_state(2.0)
    bad_units.velocity = Q_(np.array([1.0, 0.0, 0.0]), "m")  # a length, not a velocity
    with pytest.raises(rtstate.DimensionalityError, match="velocity"):
        buffer.update_state(bad_units)
    bad_value = their_state(2.0)
    bad_value.position = Q_(np.array([np.nan, 0.0, 0.0]), "m")
    with pytest.raises(ValueError, match="position"):
        buffer.update_state(bad_value)
    bad_type = their_state(2.0)
    bad_type.attitude = ["a", "b", "c"]
    with pytest.raises(TypeError, match="attitude"):
        buffer.update_state(bad_type)
    missing = their_state(2.0)
    missing.angular_velocity = None
    with pytest.raises(TypeError, match="angular_velocity"):
        buffer.update_state(missing)
    assert (buffer.version, [s.version for s in buffer.get_history()]) == before


def test_a_buffer_of_their_class_holds_their_objects_as_they_are():
    buffer = ThreadSafeStateBuffer(buffer_size=3, state_type=dart.DroneState)
    theirs = their_state(9.0)
    buffer.update_state(theirs, "estimator")
    snap = buffer.get_latest_state()
    assert snap.state is theirs
    assert snap.timestamp == 9.0  # their timestamp
    assert buffer.state_type is dart.DroneState


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_buffer_of_their_class_refuses_a_non_finite_timestamp(bad):
    buffer = ThreadSafeStateBuffer(state_type=dart.DroneState)
    buffer.update_state(their_state(1.0))
    with pytest.raises(ValueError, match="timestamp"):
        buffer.update_state(their_state(bad))
    assert buffer.version == 1 and len(buffer.get_history()) == 1


def test_their_objects_in_a_buffer_of_their_class_without_a_timestamp():
    class Plain:
        pass

    buffer = ThreadSafeStateBuffer(state_type=Plain)
    buffer.update_state(Plain())
    snap = buffer.get_latest_state()
    assert snap.timestamp == snap.published_at  # the publish time stands in


def test_a_buffer_of_their_class_checks_isinstance_against_it_with_full_names():
    buffer = ThreadSafeStateBuffer(state_type=dart.DroneState)
    with pytest.raises(TypeError) as e:
        buffer.update_state(rtstate.DroneState(timestamp=1.0))
    message = str(e.value)
    assert "dart_types.DroneState" in message and "rtstate.DroneState" in message
    with pytest.raises(TypeError, match="dart_types.FastDroneState"):
        buffer.update_state(their_fast_state(1.0))
    assert buffer.version == 0


def test_refusals_name_their_class_in_full():
    with pytest.raises(TypeError, match=r"dart_types\.Pose"):
        DroneStateBuffer().update_state(dart.Pose(position=[0, 0, 0], orientation=[0, 0, 0]))
    with pytest.raises(TypeError, match=r"dart_types\.Twist"):
        FastDroneStateBuffer().update_from_drone_state(dart.Twist(linear=[0, 0, 0], angular=[0, 0, 0]))


def test_the_table_names_the_state_types():
    manager = create_state_manager()
    manager.register_buffer("drone", create_drone_state_buffer())
    manager.register_buffer("fast", create_fast_state_buffer())
    manager.register_buffer("theirs", ThreadSafeStateBuffer(state_type=dart.DroneState))
    table = manager.table()
    assert "PyObject" not in table
    rows = {line.split()[0]: line.split()[1] for line in table.splitlines()[1:]}
    assert rows == {"drone": "DroneState", "fast": "FastDroneState", "theirs": "dart_types.DroneState"}


@pytest.mark.parametrize("use_fast_state", [True, False])
def test_the_control_wrapper_takes_their_objects(use_fast_state):
    wrapper = rtstate.RealTimeControlWrapper(use_fast_state=use_fast_state)
    assert wrapper.update_state(their_state(1.0)) == 1
    assert wrapper.update_state(their_fast_state(2.0)) == 2
    assert_converted(wrapper.get_latest_state().state, 2.0)
    estimate = dart.EstimatedState(
        timestamp=3.0,
        pose=dart.Pose(position=Q_([1.0, 2.0, 3.0], "m"), orientation=Q_([0.0, 0.0, 90.0], "degree")),
        twist=dart.Twist(linear=Q_([10.0, 0.0, 0.0], "m/s"), angular=Q_([0.1, 0.2, 0.3], "rad/s")),
    )
    assert wrapper.update_state(estimate) == 3
    assert_converted(wrapper.get_latest_state().state, 3.0)
