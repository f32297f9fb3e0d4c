"""The binding over the core: sources refused by the core's table, a
reader's wait across a reset, metadata that belongs to its snapshot across
a reset, and a pose built from roll, pitch, yaw."""

import logging
import math
import sys
import threading
import time

import numpy as np
import pytest

from rtstate import (
    DroneState,
    FastDroneState,
    FastDroneStateBuffer,
    Pose,
    ThreadSafeStateBuffer,
)


@pytest.mark.parametrize("make", [ThreadSafeStateBuffer, FastDroneStateBuffer])
def test_a_source_the_core_refuses_is_a_value_error_and_publishes_nothing(make):
    buffer = make()
    state = DroneState() if make is ThreadSafeStateBuffer else FastDroneState()
    buffer.update_state(state, "imu")
    with pytest.raises(ValueError, match="source"):
        buffer.update_state(state, "x" * 10_000)
    assert buffer.version == 1
    assert buffer.get_latest_state().source == "imu"
    assert len(buffer.get_history()) == 1


@pytest.mark.parametrize("make", [ThreadSafeStateBuffer, FastDroneStateBuffer])
def test_a_reader_waiting_across_a_reset_gets_the_first_publish_after_it(make):
    buffer = make()
    state = DroneState() if make is ThreadSafeStateBuffer else FastDroneState()
    for _ in range(3):
        buffer.update_state(state, "before")
    reader = buffer.reader()
    assert reader.read().version == 3
    got = []
    waiting = threading.Thread(target=lambda: got.append(reader.wait(timeout=10.0)))
    waiting.start()
    buffer.reset()
    buffer.update_state(state, "after")
    waiting.join(timeout=20.0)
    assert not waiting.is_alive()
    assert got[0] is not None
    assert (got[0].version, got[0].source) == (1, "after")
    assert reader.wait(timeout=0.0) is None


@pytest.mark.parametrize("make", [ThreadSafeStateBuffer, FastDroneStateBuffer])
def test_metadata_belongs_to_its_snapshot_across_a_reset(make):
    buffer = make()
    state = DroneState() if make is ThreadSafeStateBuffer else FastDroneState()
    buffer.update_state(state, "a", {"epoch": 0})
    old = buffer.get_latest_state()
    buffer.reset()
    buffer.update_state(state, "b", {"epoch": 1})
    new = buffer.get_latest_state()
    assert old.version == new.version == 1
    assert dict(old.metadata) == {"epoch": 0}
    assert dict(new.metadata) == {"epoch": 1}
    buffer.update_state(state, "c")
    assert dict(buffer.get_latest_state().metadata) == {}
    assert [dict(s.metadata) for s in buffer.get_history()] == [{"epoch": 1}, {}]


def test_a_pose_from_roll_pitch_yaw_is_its_quaternion():
    pose = Pose(position=[1.0, 2.0, 3.0], orientation=[0.0, 0.0, math.pi / 2])
    half = math.sqrt(0.5)
    np.testing.assert_allclose(pose.orientation, [half, 0.0, 0.0, half], atol=1e-12)
    position = getattr(pose.position, "magnitude", pose.position)
    np.testing.assert_allclose(np.asarray(position), [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="pose.orientation"):
        Pose(orientation=[math.nan, 0.0, 0.0])
    with pytest.raises(ValueError, match="pose.orientation"):
        Pose(orientation=[0.0, math.inf, 0.0])


class Sleepy:
    """A finalizer that gives up the interpreter (as I/O or logging do)."""

    def __del__(self):
        time.sleep(0.0002)


class Logging:
    """A finalizer that logs (handlers take locks and may do I/O)."""

    def __del__(self):
        logging.getLogger("rtstate.test.finalizer").info("dropped %s", id(self))


class Switching:
    """A finalizer that lets the interpreter switch threads by itself."""

    def __del__(self):
        sum(range(200))


@pytest.mark.parametrize(
    "kind, finalizer",
    [
        ("objects", Sleepy),
        ("fast", Sleepy),
        ("objects", Logging),
        ("fast", Logging),
        ("objects", Switching),
    ],
)
def test_finalizers_of_states_and_metadata_do_not_deadlock_publishers(kind, finalizer, caplog):
    caplog.set_level(logging.INFO, logger="rtstate.test.finalizer")
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    if kind == "objects":
        buffer = ThreadSafeStateBuffer(buffer_size=2, state_type=object)
        make_state = finalizer
    else:
        buffer = FastDroneStateBuffer(buffer_size=2)
        make_state = FastDroneState
    errors = []

    def publish():
        try:
            for i in range(300):
                buffer.update_state(make_state(), "t", {"finalizer": finalizer()})
                if i % 50 == 0:
                    buffer.reset()
                buffer.get_latest_state()
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=publish, daemon=True) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        for t in threads:
            t.join(timeout=60.0)
    finally:
        sys.setswitchinterval(interval)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert buffer.version >= 1
