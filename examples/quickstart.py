"""rtstate quickstart: publish from an estimator thread, read from a controller."""

import threading

from rtstate import DroneState, FastDroneState, Q_, create_fast_state_buffer, create_state_manager

# A unit-checked state (pint quantities from any registry, converted to SI) ...
state = DroneState(timestamp=0.0, position=Q_([100, 0, 250], "cm"), velocity=Q_([36, 0, 0], "km/h"))
fast = state.to_fast_state()  # ... and its plain-float twin for high-rate loops.
print("position (m):", fast.position, "velocity (m/s):", fast.velocity)

buffer = create_fast_state_buffer(buffer_size=5)  # a lock-free Rust slot ring
manager = create_state_manager()
manager.register_buffer("fast_state", buffer)


def estimator():
    for i in range(1, 101):
        buffer.update_state(FastDroneState(timestamp=i * 0.01, position=[i, i, i]), "estimator")


reader = buffer.reader()  # a per-consumer cursor: updated(), read_if_updated(), lost
thread = threading.Thread(target=estimator)
thread.start()
snapshot = buffer.wait_for_update(timeout=1.0)  # blocks with the interpreter released
thread.join()

snapshot = buffer.get_latest_state()
assert snapshot is buffer.get_latest_state()  # one object per version
print(f"latest version {snapshot.version} from {snapshot.source}: x = {snapshot.state.position[0]}")
latest = reader.read_if_updated()
print(f"reader saw version {latest.version}, lost {reader.lost}")
print(manager.table())
