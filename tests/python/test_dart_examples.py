"""DART-Planner's "Usage Examples" and "Migration Guide", with only the
import changed. The async-subscription and control-wrapper examples
are covered by their own work."""

import threading
import time

import numpy as np

from rtstate import DroneState, Q_, create_drone_state_buffer, create_fast_state_buffer, create_state_manager


def test_basic_usage(capsys):
    buffer = create_drone_state_buffer(buffer_size=10)
    state = DroneState(timestamp=time.time(), position=Q_([1, 2, 3], "m"))
    version = buffer.update_state(state, "estimator")
    snapshot = buffer.get_latest_state()
    if snapshot:
        current_state = snapshot.state
        print(f"Using state version {snapshot.version}")
    assert version == 1 and current_state is state
    assert "version 1" in capsys.readouterr().out


def test_high_frequency_control_integration():
    drone_state = DroneState(timestamp=time.time(), position=Q_([1, 2, 3], "m"))
    fast_buffer = create_fast_state_buffer(buffer_size=5)
    fast_state = drone_state.to_fast_state()
    fast_buffer.update_state(fast_state, "converter")
    seen = []

    def compute_control(state):
        seen.append(state.position[0])

    running = True
    def control_loop():
        while running:
            snapshot = fast_buffer.get_latest_state()
            if snapshot:
                compute_control(snapshot.state)
            time.sleep(0.001)

    t = threading.Thread(target=control_loop)
    t.start()
    time.sleep(0.02)
    running = False
    t.join(timeout=5)
    assert seen and seen[0] == 1.0


def test_state_manager_usage():
    drone_state = DroneState(timestamp=time.time())
    fast_state = drone_state.to_fast_state()
    manager = create_state_manager()
    drone_buffer = create_drone_state_buffer()
    fast_buffer = create_fast_state_buffer()
    manager.register_buffer("drone_state", drone_buffer)
    manager.register_buffer("fast_state", fast_buffer)
    manager.update_state("drone_state", drone_state, "estimator")
    manager.update_state("fast_state", fast_state, "converter")
    stats = manager.get_all_statistics()
    assert stats["drone_state"]["updates"] == 1 and stats["fast_state"]["updates"] == 1


def test_statistics_and_stale_detection(capsys):
    buffer = create_drone_state_buffer()
    buffer.update_state(DroneState(), "estimator")
    stats = buffer.get_statistics()
    print(f"Updates: {stats['updates']}")
    print(f"Reads: {stats['reads']}")
    print(f"Stale reads: {stats['stale_reads']}")
    print(f"Current version: {stats['current_version']}")
    last_used_version = 1
    stale_reads = 0
    snapshot = buffer.get_latest_state()
    if snapshot.version <= last_used_version:
        print(f"Warning: Using stale state v{snapshot.version}")
        stale_reads += 1
    assert stale_reads == 1
    assert "Current version: 1" in capsys.readouterr().out


def test_migration_guide_after():
    buffer = create_drone_state_buffer()
    new_position = Q_(np.array([1.0, 2.0, 3.0]), "m")
    new_velocity = Q_(np.array([0.5, 0.0, 0.0]), "m/s")
    got = {}

    def estimator_loop():
        state = DroneState(position=new_position, velocity=new_velocity)
        buffer.update_state(state, "estimator")

    def controller_loop():
        snapshot = buffer.get_latest_state()
        if snapshot:
            got["pos"] = snapshot.state.position
            got["vel"] = snapshot.state.velocity

    estimator_loop()
    controller_loop()
    assert np.allclose(got["pos"].to("m").magnitude, [1, 2, 3])
    assert np.allclose(got["vel"].to("m/s").magnitude, [0.5, 0, 0])


def test_migration_guide_before_default_state():
    current_state = DroneState()
    assert np.allclose(current_state.position.magnitude, 0)


def test_error_handling_best_practice():
    buffer = create_drone_state_buffer()
    snapshot = buffer.get_latest_state()
    assert snapshot is None
