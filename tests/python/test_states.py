import math
import time

import numpy as np
import pytest

import rtstate
from rtstate import Accel, DroneState, EstimatedState, FastDroneState, Pose, Q_, Twist


def test_drone_state_defaults_and_timestamp_now():
    before = time.time()
    s = DroneState()
    assert before <= s.timestamp <= time.time()
    assert np.allclose(np.asarray(s.position.to("m").magnitude), 0)
    assert list(s.motor_rpms) == [0, 0, 0, 0]


def test_quantities_from_any_registry_are_converted(pint):
    other = pint.UnitRegistry()
    s = DroneState(
        timestamp=1.0,
        position=other.Quantity([100, 200, 300], "cm"),
        velocity=Q_([36, 0, 0], "km/h"),
        attitude=Q_([180, 0, 90], "deg"),
        angular_velocity=Q_([180, 0, 0], "deg/s"),
    )
    f = s.to_fast_state()
    assert np.allclose(f.position, [1, 2, 3])
    assert np.allclose(f.velocity, [10, 0, 0])
    assert np.allclose(f.attitude, [math.pi, 0, math.pi / 2])
    assert np.allclose(f.angular_velocity, [math.pi, 0, 0])
    assert str(s.velocity.units) == "meter / second"


def test_wrong_dimension_names_field(pint):
    with pytest.raises(rtstate.DimensionalityError, match="velocity") as e:
        DroneState(velocity=Q_([1, 2, 3], "m"))
    assert isinstance(e.value, ValueError)
    assert isinstance(e.value, pint.DimensionalityError)


@pytest.mark.parametrize("field", ["position", "velocity", "attitude", "angular_velocity"])
def test_nan_names_field(field):
    with pytest.raises(ValueError, match=field):
        DroneState(**{field: [0.0, float("nan"), 0.0]})
    with pytest.raises(ValueError, match=field):
        FastDroneState(**{field: [float("inf"), 0.0, 0.0]})


def test_wrong_shape_and_type():
    with pytest.raises(ValueError, match="position"):
        DroneState(position=[1, 2])
    with pytest.raises(ValueError, match="position"):
        FastDroneState(position=np.zeros((3, 1)))
    with pytest.raises(TypeError, match="position"):
        DroneState(position="abc")
    with pytest.raises(TypeError, match="velocity"):
        FastDroneState(velocity={"x": 1})


def test_plain_sequences_are_si_and_fast_fields_readonly_cached():
    f = FastDroneState(1.0, (1, 2, 3), np.array([4.0, 5, 6]), [0, 0, 0], [0, 0, 0])
    assert f.position is f.position
    assert f.position.dtype == np.float64
    with pytest.raises(ValueError):
        f.position[0] = 9.0
    assert list(f.velocity) == [4, 5, 6]


def test_equality_and_conversions():
    a = FastDroneState(2.0, [1, 2, 3])
    assert a == FastDroneState(2.0, [1, 2, 3])
    assert a != FastDroneState(2.0, [1, 2, 4])
    d = a.to_drone_state()
    assert FastDroneState.from_drone_state(d) == a
    assert d.to_fast_state() == a
    assert d == DroneState(2.0, [1, 2, 3])


def test_quaternions():
    h = math.sqrt(0.5)
    f = FastDroneState.from_quaternion([2 * h, 0, 0, 2 * h], timestamp=0.0)
    assert np.allclose(f.attitude, [0, 0, math.pi / 2])
    assert np.allclose(f.attitude_quaternion(), [h, 0, 0, h])
    d = DroneState.from_quaternion([h, 0, 0, h], timestamp=0.0)
    assert np.allclose(d.attitude_quaternion(), [h, 0, 0, h])
    with pytest.raises(ValueError, match="attitude"):
        FastDroneState.from_quaternion([0, 0, 0, 0])


def test_estimated_state_converts():
    h = math.sqrt(0.5)
    e = EstimatedState(
        timestamp=5.0,
        pose=Pose([1, 2, 3], [h, 0, 0, h]),
        twist=Twist([0.5, 0, 0], [0, 0, 0.1]),
        accel=Accel([0, 0, 9.81]),
        covariance=np.eye(6),
        source="ekf",
    )
    assert e.covariance.shape == (6, 6)
    assert e.source == "ekf"
    f = e.to_drone_state().to_fast_state()
    assert np.allclose(f.position, [1, 2, 3])
    assert np.allclose(f.attitude, [0, 0, math.pi / 2])
    with pytest.raises(ValueError, match="covariance"):
        EstimatedState(covariance=np.eye(3))
    with pytest.raises(TypeError, match="pose"):
        EstimatedState(pose="nope")
    # roll/pitch/yaw orientation, as DART-Planner's Pose
    assert np.allclose(Pose(orientation=[0, 0, math.pi / 2]).orientation, [h, 0, 0, h])
