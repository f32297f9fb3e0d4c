import threading
import time

import numpy as np
import pytest

import rtstate
from rtstate import (
    DroneState,
    DroneStateBuffer,
    EstimatedState,
    FastDroneState,
    FastDroneStateBuffer,
    Pose,
    ThreadSafeStateBuffer,
    Twist,
    create_drone_state_buffer,
    create_fast_state_buffer,
)


def test_attributes_and_subclassing():
    b = ThreadSafeStateBuffer()
    assert b.buffer_size == 10 and b.state_type is DroneState
    d = create_drone_state_buffer()
    f = create_fast_state_buffer()
    assert isinstance(d, DroneStateBuffer) and isinstance(d, ThreadSafeStateBuffer)
    assert isinstance(f, FastDroneStateBuffer) and f.buffer_size == 5
    assert f.state_type is FastDroneState


def test_type_checked():
    with pytest.raises(TypeError):
        create_drone_state_buffer().update_state(FastDroneState())
    with pytest.raises(TypeError):
        create_fast_state_buffer().update_state("state")
    generic = ThreadSafeStateBuffer(3, dict)
    assert generic.update_state({"x": 1}) == 1
    with pytest.raises(TypeError):
        generic.update_state([1])


@pytest.mark.parametrize("factory", [create_drone_state_buffer, create_fast_state_buffer])
def test_versions_history_snapshot_identity(factory):
    b = factory(3)
    assert b.get_latest_state() is None
    for i in range(5):
        assert b.update_state(FastDroneState(float(i), [i, i, i]).to_drone_state()
                              if factory is create_drone_state_buffer else FastDroneState(float(i), [i, i, i]),
                              "est", {"i": i}) == i + 1
    snap = b.get_latest_state()
    assert snap is b.get_latest_state()
    assert (snap.version, snap.source, snap.metadata, snap.timestamp) == (5, "est", {"i": 4}, 4.0)
    assert snap.published_at > 1e9
    history = b.get_history()
    assert [s.version for s in history] == [3, 4, 5]
    assert history[-1] is snap
    with pytest.raises(AttributeError):
        snap.version = 7
    stats = b.get_statistics()
    for key in ("updates reads stale_reads current_version last_update_time last_read_time "
                "subscriber_count buffer_size lost readers updates_per_sec reads_per_sec latest_age dropped").split():
        assert key in stats
    assert stats["updates"] == 5 and stats["current_version"] == 5 and stats["buffer_size"] == 3
    b.reset()
    assert b.get_latest_state() is None and b.get_statistics()["updates"] == 0
    assert b.update_state(FastDroneState(9.0) if factory is create_fast_state_buffer else DroneState(9.0)) == 1
    assert b.get_latest_state().timestamp == 9.0


def test_state_at_time_counts_stale():
    b = create_fast_state_buffer()
    b.update_state(FastDroneState(100.0))
    b.update_state(FastDroneState(100.5))
    assert b.get_state_at_time(100.45).timestamp == 100.5
    assert b.get_state_at_time(200.0) is None
    assert b.get_statistics()["stale_reads"] == 1
    with pytest.raises(ValueError):
        b.get_state_at_time(100.0, max_age=-1)


def test_fast_buffer_converts_drone_state():
    f = create_fast_state_buffer()
    d = DroneState(1.0, [1, 2, 3])
    f.update_state(d)
    assert f.get_latest_state().state == d.to_fast_state()
    f.update_from_drone_state(d)
    assert f.get_latest_state().source == "converter"


def test_update_from_estimator():
    b = create_drone_state_buffer()
    e = EstimatedState(timestamp=2.0, pose=Pose([1, 2, 3]), twist=Twist([1, 0, 0]))
    b.update_from_estimator(e)
    snap = b.get_latest_state()
    assert snap.source == "estimator"
    assert np.allclose(snap.state.to_fast_state().position, [1, 2, 3])

    class Duck:
        timestamp = 3.0
        pose = type("P", (), {"position": [4, 5, 6], "orientation": [0, 0, 0]})()
        twist = type("T", (), {"linear": [1, 1, 1], "angular": [0, 0, 0]})()

    b.update_from_estimator(Duck())
    assert np.allclose(b.get_latest_state().state.to_fast_state().position, [4, 5, 6])
    d = DroneState(4.0)
    b.update_from_estimator(d)
    assert b.get_latest_state().state is d


def test_wait_for_update_releases_interpreter():
    b = create_fast_state_buffer()
    ticks = []
    stop = threading.Event()

    def spinner():
        while not stop.is_set():
            ticks.append(1)
            time.sleep(0.001)

    t = threading.Thread(target=spinner)
    t.start()
    try:
        before = len(ticks)
        assert b.wait_for_update(timeout=0.2) is None
        assert len(ticks) - before >= 5  # the other thread ran while we waited
        threading.Timer(0.05, lambda: b.update_state(FastDroneState(1.0))).start()
        snap = b.wait_for_update(timeout=5.0)
        assert snap is not None and snap.version == 1
    finally:
        stop.set()
        t.join(timeout=5)


def test_reader_handles():
    b = create_fast_state_buffer()
    r = b.reader()
    assert not r.updated() and r.read_if_updated() is None
    b.update_state(FastDroneState(1.0))
    b.update_state(FastDroneState(2.0))
    assert r.updated()
    snap = r.read_if_updated()
    assert snap.version == 2 and r.lost == 1
    assert r.read_if_updated() is None
    assert b.get_statistics()["readers"] == 1
    threading.Timer(0.05, lambda: b.update_state(FastDroneState(3.0))).start()
    assert r.wait(timeout=5.0).version == 3


@pytest.mark.parametrize("factory", [create_drone_state_buffer, create_fast_state_buffer])
def test_concurrent_publish_and_read(factory):
    b = factory(8)
    n = 3000
    errors = []
    done = threading.Event()
    make = (lambda t: DroneState(t, [t, t, t])) if factory is create_drone_state_buffer else (
        lambda t: FastDroneState(t, [t, t, t]))
    to_fast = (lambda s: s.to_fast_state()) if factory is create_drone_state_buffer else (lambda s: s)

    def writer():
        for i in range(1, n + 1):
            b.update_state(make(float(i)), "estimator")
        done.set()

    def reader():
        last = 0
        while not done.is_set() or last < n:
            snap = b.get_latest_state()
            if snap is None:
                continue
            f = to_fast(snap.state)
            if not (f.position[0] == f.position[1] == f.position[2] == f.timestamp == snap.timestamp):
                errors.append(("torn", snap.version))
            if snap.version < last:
                errors.append(("backwards", last, snap.version))
            last = snap.version

    threads = [threading.Thread(target=writer)] + [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert b.get_statistics()["current_version"] == n
