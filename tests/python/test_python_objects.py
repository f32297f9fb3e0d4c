"""States, snapshots and events behave like Python objects: they pickle,
copy and deep-copy; reprs name the right class; the package exports one
explicit ``__all__`` of public names."""

import ast
import copy
import pickle
from pathlib import Path

import numpy as np
import pytest

import rtstate
from rtstate import (
    Accel,
    DroneState,
    DroneStateBuffer,
    EstimatedState,
    FastDroneState,
    FastDroneStateBuffer,
    Pose,
    Q_,
    StateSnapshot,
    ThreadSafeStateBuffer,
    Twist,
)

OBJECTS = {
    "DroneState": lambda: DroneState(
        timestamp=1.5,
        position=Q_([1, 2, 3], "m"),
        velocity=[0.1, 0.2, 0.3],
        attitude=[0.1, -0.2, 3.0],
        angular_velocity=[1, 2, 3],
        motor_rpms=[1, 2, 3, 4, 5, 6],
    ),
    "FastDroneState": lambda: FastDroneState(
        timestamp=2.5, position=[1, 2, 3], velocity=[4, 5, 6], attitude=[0.1, 0.2, 0.3], angular_velocity=[7, 8, 9]
    ),
    "Pose(rpy)": lambda: Pose(position=[1, 2, 3], orientation=[0.1, 0.2, 0.3]),
    "Pose(quaternion)": lambda: Pose(position=[1, 2, 3], orientation=[0.5, 0.5, 0.5, 0.5]),
    "Twist": lambda: Twist(linear=[1, 2, 3], angular=[4, 5, 6]),
    "Accel": lambda: Accel(linear=[1, 2, 3], angular=[4, 5, 6]),
    "EstimatedState": lambda: EstimatedState(
        timestamp=3.0,
        pose=Pose([1, 2, 3], [0.1, 0.2, 0.3]),
        twist=Twist([1, 0, 0]),
        accel=Accel([0, 0, 9.81]),
        covariance=np.arange(36.0).reshape(6, 6),
        source="ekf",
    ),
    "EstimatedState(no covariance)": lambda: EstimatedState(timestamp=3.0),
    "StateSnapshot": lambda: StateSnapshot(
        FastDroneState(timestamp=1.0), 1.0, 7, "est", {"frame": "map"}, published_at=1.25
    ),
}


@pytest.mark.parametrize("make", list(OBJECTS.values()), ids=list(OBJECTS))
@pytest.mark.parametrize("how", ["pickle", "copy", "deepcopy"])
def test_round_trips(make, how):
    original = make()
    if how == "pickle":
        again = pickle.loads(pickle.dumps(original, protocol=pickle.HIGHEST_PROTOCOL))
    else:
        again = getattr(copy, how)(original)
    assert type(again) is type(original)
    assert again == original
    assert repr(again) == repr(original)


@pytest.mark.parametrize("make", [DroneStateBuffer, FastDroneStateBuffer, ThreadSafeStateBuffer])
def test_published_snapshots_pickle(make):
    buffer = make()
    state = FastDroneState(timestamp=1.0, position=[1, 2, 3])
    buffer.update_state(state if make is FastDroneStateBuffer else state.to_drone_state(), "est", {"k": [1, 2]})
    snap = buffer.get_latest_state()
    again = pickle.loads(pickle.dumps(snap))
    assert again == snap
    assert dict(again.metadata) == {"k": [1, 2]}
    assert again.version == snap.version and again.source == "est"


def test_reprs_name_the_class():
    assert repr(FastDroneStateBuffer()).startswith("<FastDroneStateBuffer ")
    assert repr(DroneStateBuffer()).startswith("<DroneStateBuffer ")
    assert repr(ThreadSafeStateBuffer()).startswith("<ThreadSafeStateBuffer ")
    assert repr(EstimatedState(timestamp=1.0)).startswith("EstimatedState(timestamp=1")
    assert "Pose(position=" in repr(EstimatedState(timestamp=1.0))


def test_the_package_exports_one_explicit_all():
    assert all(not name.startswith("_") for name in rtstate.__all__)
    assert len(set(rtstate.__all__)) == len(rtstate.__all__)
    for name in rtstate.__all__:
        assert hasattr(rtstate, name), name
    assert "SimVehicle" in rtstate.__all__
    source = Path(rtstate.__file__).read_text()
    assert "__all__ +=" not in source and "__all__.append" not in source


def test_the_stub_all_lists_no_private_names():
    stub = Path(rtstate.__file__).with_name("_rtstate.pyi")
    tree = ast.parse(stub.read_text())
    names = [
        node.value
        for stmt in tree.body
        if isinstance(stmt, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in stmt.targets)
        for node in stmt.value.elts
    ]
    assert names and not [n for n in names if n.startswith("_")]
