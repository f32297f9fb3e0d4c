"""MCAP recording and replay from Python and the ``rtstate record`` /
``rtstate replay`` commands, read back with the ``mcap`` package. Every test
uses its own directory (tmp_path) for buffers and files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import rtstate

mcap_reader = pytest.importorskip("mcap.reader")

POSE = np.dtype([("timestamp", "<f8"), ("xyz", "<f8", (3,)), ("n", "<i8"), ("mode", "u1"), ("ok", "?")])
FAST = np.dtype(
    [
        ("timestamp", "<f8"),
        ("position", "<f8", (3,)),
        ("velocity", "<f8", (3,)),
        ("attitude", "<f8", (3,)),
        ("angular_velocity", "<f8", (3,)),
    ]
)
N = 150


def read(path):
    """(schema, channel, message, decoded JSON) for every message, in log-time order."""
    with open(path, "rb") as f:
        reader = mcap_reader.make_reader(f)
        out = [(s, c, m, json.loads(m.data)) for s, c, m in reader.iter_messages(log_time_order=True)]
        summary = reader.get_summary()
    return out, summary


def metadata(path):
    with open(path, "rb") as f:
        return {m.name: dict(m.metadata) for m in mcap_reader.make_reader(f).iter_metadata()}


class Note:
    """A state that is not drone-shaped: a recorder leaves its buffer out."""


def wait_until(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition never met"
        time.sleep(0.005)


def test_a_manager_and_shared_buffers_are_recorded_and_read_back_with_mcap(tmp_path):
    path = tmp_path / "run.mcap"
    manager = rtstate.StateManager()
    fast = rtstate.FastDroneStateBuffer(buffer_size=8)
    manager.register_buffer("drone/fast", fast)
    manager.register_buffer("drone/notes", rtstate.ThreadSafeStateBuffer(buffer_size=4, state_type=Note))
    rec = rtstate.Recorder(path, manager)
    assert rec.skipped == ["drone/notes"]
    with rec:
        for i in range(N):
            fast.update_state(rtstate.FastDroneState(1.0e9 + i, [i, 2.0 * i, 1.0], attitude=[0.0, 0.0, 0.01 * i]), source="est")
    stats = rec.statistics()
    assert stats["recorded"] == N and stats["dropped"] == 0
    assert not rec.running
    assert not (tmp_path / "run.mcap.partial").exists()

    messages, summary = read(path)
    topics = {}
    for schema, channel, message, data in messages:
        topics.setdefault(channel.topic, []).append((schema, channel, message, data))
    assert sorted(topics) == ["drone/fast", "drone/fast/pose", "drone/fast/tf"]
    states = topics["drone/fast"]
    assert [d["version"] for *_, d in states] == list(range(1, N + 1))
    assert all(d["source"] == "est" for *_, d in states)
    for i, (schema, channel, message, d) in enumerate(states):
        assert schema.encoding == "jsonschema" and channel.message_encoding == "json"
        assert d["state"]["position"] == [float(i), 2.0 * i, 1.0]
        assert d["state"]["timestamp"] == 1.0e9 + i == d["timestamp"]
        assert message.log_time == round(d["publish_time"] * 1e9)
    schema = json.loads(states[0][0].data)
    assert set(schema["properties"]["state"]["properties"]) == set(FAST.names)
    # The Foxglove channels decode with their well-known schema names.
    tf_schema, _, _, tf = topics["drone/fast/tf"][-1]
    assert tf_schema.name == "foxglove.FrameTransform"
    assert tf["parent_frame_id"] == "world" and tf["child_frame_id"] == "base_link"
    assert tf["translation"] == {"x": N - 1.0, "y": 2.0 * (N - 1), "z": 1.0}
    assert tf["timestamp"] == {"sec": int(1.0e9) + N - 1, "nsec": 0}
    q = tf["rotation"]
    assert abs(q["x"] ** 2 + q["y"] ** 2 + q["z"] ** 2 + q["w"] ** 2 - 1.0) < 1e-12
    assert q["z"] == pytest.approx(np.sin(0.01 * (N - 1) / 2))
    pose_schema, _, _, pose = topics["drone/fast/pose"][0]
    assert pose_schema.name == "foxglove.PoseInFrame" and pose["frame_id"] == "world"
    assert set(json.loads(pose_schema.data)["properties"]) == {"timestamp", "frame_id", "pose"}
    assert summary.statistics.message_count == 3 * N
    meta = metadata(path)["rtstate.recording"]
    assert meta["dropped"] == "0" and meta["drone/fast.recorded"] == str(N)


def test_shared_buffers_by_name_record_and_replay_bit_for_bit(tmp_path):
    d = str(tmp_path)
    path = tmp_path / "run.mcap"
    a = rtstate.SharedBuffer("robot/pose", POSE, buffer_size=64, directory=d)
    b = rtstate.SharedBuffer("drone1/fast", FAST, buffer_size=64, directory=d)
    rec = rtstate.Recorder(path, ["robot/pose", b], directory=d)
    rec.start()
    sent = []
    for i in range(N):
        row = (1.0e9 + i / 7.0, [i / 3.0, -0.0, 1e-300], -(2**62) + i, i % 256, bool(i % 2))
        a.update_state(row, source="pose-est")
        b.update_state({"timestamp": 5.0 + i, "position": [i, 0, 0], "velocity": [0, 0, 0], "attitude": [0, 0, 0], "angular_velocity": [0, 0, 0]}, source="fast-est")
        sent.append(np.array(row, POSE).tobytes())
        if i % 20 == 0:
            time.sleep(0.005)
    stats = rec.stop()
    assert stats["dropped"] == 0 and stats["buffers"]["robot/pose"]["recorded"] == N
    messages, _ = read(path)
    poses = [d for _, c, _, d in messages if c.topic == "robot/pose"]
    assert [p["version"] for p in poses] == list(range(1, N + 1))
    assert poses[5]["state"]["n"] == -(2**62) + 5 and poses[5]["state"]["ok"] is True
    # Replay as fast as possible into another directory: the same bytes.
    out = tmp_path / "replayed"
    out.mkdir()
    r = rtstate.replay(path, rate=None, directory=str(out))
    assert r["published"] == 2 * N
    replayed = rtstate.open_shared("robot/pose", raw=True, directory=str(out))
    assert replayed.version == N
    history = replayed.get_history()
    for snap in history:
        assert snap.state.tobytes() == sent[snap.version - 1]
        assert snap.source == "pose-est"
    assert [s.version for s in history] == list(range(N - len(history) + 1, N + 1))


def run_cli(*args: str, env=None, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rtstate", *args], capture_output=True, text=True, timeout=timeout, env=env
    )


def test_the_record_command_stopped_by_sigterm_leaves_a_complete_file(tmp_path):
    d = str(tmp_path)
    path = tmp_path / "cli.mcap"
    b = rtstate.SharedBuffer("robot/pose", POSE, buffer_size=64, directory=d)
    p = subprocess.Popen(
        [sys.executable, "-m", "rtstate", "record", "-o", str(path), "--dir", d],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert "recording 1 buffer(s)" in p.stdout.readline()
        for i in range(50):
            b.update_state((float(i), [i, i, i], i, 1, True), source="est")
            time.sleep(0.002)
        wait_until(lambda: (tmp_path / "cli.mcap.partial").exists())
        time.sleep(0.1)
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, err
    assert f"wrote {path}: 50 states, 0 dropped" in out
    messages, summary = read(path)
    assert [d["version"] for _, _, _, d in messages] == list(range(1, 51))
    assert summary.statistics.message_count == 50


def test_the_replay_command_keeps_the_timing_at_rate_one(tmp_path):
    d = str(tmp_path)
    path = tmp_path / "run.mcap"
    b = rtstate.SharedBuffer("robot/pose", POSE, buffer_size=16, directory=d)
    with rtstate.Recorder(path, ["robot/pose"], directory=d):
        for i in range(10):
            b.update_state((float(i), [i, i, i], i, 1, True))
            time.sleep(0.03)
    messages, _ = read(path)
    span = messages[-1][3]["publish_time"] - messages[0][3]["publish_time"]
    assert span > 0.2
    out = tmp_path / "out"
    out.mkdir()
    t0 = time.monotonic()
    r = run_cli("replay", str(path), "--rate", "1", "--dir", str(out))
    assert r.returncode == 0, r.stderr
    # A floor only: the replay waited out the recorded gaps.
    assert time.monotonic() - t0 >= span * 0.95
    assert "replayed 10 states" in r.stdout
    assert rtstate.open_shared("robot/pose", directory=str(out)).version == 10
    r = run_cli("replay", str(path), "--max", "--dir", str(out))
    assert r.returncode == 0 and rtstate.open_shared("robot/pose", directory=str(out)).version == 20


def test_bad_input_is_a_clear_error(tmp_path):
    d = str(tmp_path)
    path = tmp_path / "run.mcap"
    b = rtstate.SharedBuffer("robot/pose", POSE, buffer_size=16, directory=d)
    with rtstate.Recorder(path, ["robot/pose"], directory=d):
        for i in range(5):
            b.update_state((float(i), [i, i, i], i, 1, True))
    data = path.read_bytes()
    cut = tmp_path / "cut.mcap"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a valid MCAP file"):
        rtstate.replay(cut, rate=None, directory=d)
    with pytest.raises(FileNotFoundError, match="absent.mcap"):
        rtstate.replay(tmp_path / "absent.mcap", directory=d)
    with pytest.raises(ValueError, match="no channel \"nope\""):
        rtstate.replay(path, rate=None, directory=d, names=["nope"])
    with pytest.raises(ValueError, match="rate"):
        rtstate.replay(path, rate=0.0, directory=d)
    # A target of another layout: the error shows both.
    other = tmp_path / "other"
    other.mkdir()
    rtstate.SharedBuffer("robot/pose", FAST, buffer_size=4, directory=str(other))
    with pytest.raises(TypeError, match="layout"):
        rtstate.replay(path, rate=None, directory=str(other))
    r = run_cli("replay", str(cut), "--dir", d)
    assert r.returncode == 1 and "not a valid MCAP file" in r.stderr
    # Recorder arguments.
    with pytest.raises(FileNotFoundError):
        rtstate.Recorder(tmp_path / "x.mcap", ["absent"], directory=d)
    with pytest.raises(TypeError, match=r"buffers\[0\]"):
        rtstate.Recorder(tmp_path / "x.mcap", [3])
    with pytest.raises(TypeError, match="holds .*Note objects"):
        rtstate.Recorder(tmp_path / "x.mcap", {"d": rtstate.ThreadSafeStateBuffer(state_type=Note)})
    with pytest.raises(ValueError, match="poll_interval"):
        rtstate.Recorder(tmp_path / "x.mcap", ["robot/pose"], directory=d, poll_interval=-1.0)
    rec = rtstate.Recorder(tmp_path / "no" / "dir" / "x.mcap", ["robot/pose"], directory=d)
    with pytest.raises(FileNotFoundError, match="x.mcap.partial"):
        rec.start()


def test_a_starved_recorder_counts_drops_and_warns(tmp_path):
    path = tmp_path / "run.mcap"
    fast = rtstate.FastDroneStateBuffer(buffer_size=8)
    rec = rtstate.Recorder(path, {"d": fast}, queue=2, poll_interval=0.3).start()
    time.sleep(0.05)
    for i in range(100):
        fast.update_state(rtstate.FastDroneState(float(i + 1), [i, 0, 0]))
    with pytest.warns(RuntimeWarning, match="DROPPED"):
        stats = rec.stop()
    assert stats["dropped"] > 0 and stats["recorded"] + stats["dropped"] == 100
    assert metadata(path)["rtstate.recording"]["dropped"] == str(stats["dropped"])
    messages, _ = read(path)
    assert len([m for _, c, _, m in messages if c.topic == "d"]) == stats["recorded"]


@pytest.mark.parametrize("png", [False, True])
def test_the_demo_records_its_flight(tmp_path, png):
    if png:
        pytest.importorskip("matplotlib")
    path = tmp_path / "demo.mcap"
    args = [sys.executable, "-m", "rtstate", "demo", "--duration", "1", "--mcap", str(path)]
    if png:
        args += ["--png", str(tmp_path / "demo.png")]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    assert f"wrote {path}" in proc.stdout
    messages, _ = read(path)
    states = [d for _, c, _, d in messages if c.topic == "controller_state"]
    assert len(states) > 10 and [s["version"] for s in states] == list(range(1, len(states) + 1))
    assert {c.topic for _, c, _, _ in messages} == {"controller_state", "controller_state/tf", "controller_state/pose"}
    if png:
        assert (tmp_path / "demo.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"wrote {tmp_path / 'demo.png'}" in proc.stdout


def test_replay_into_a_manager_in_process_bit_for_bit(tmp_path):
    path = tmp_path / "run.mcap"
    src = rtstate.FastDroneStateBuffer(buffer_size=8)
    with rtstate.Recorder(path, {"drone/fast": src}):
        for i in range(40):
            src.update_state(rtstate.FastDroneState(1.0e9 + i / 3.0, [i / 7.0, -0.0, 1e-300]), source="est")
    manager = rtstate.StateManager()
    target = rtstate.FastDroneStateBuffer(buffer_size=64)
    manager.register_buffer("drone/fast", target)
    manager.register_buffer("other", rtstate.FastDroneStateBuffer())
    r = rtstate.replay(path, rate=None, into=manager)
    assert r["published"] == 40
    history = target.get_history()
    assert [s.version for s in history] == list(range(1, 41))
    for i, s in enumerate(history):
        assert s.state.timestamp == 1.0e9 + i / 3.0
        assert list(s.state.position) == [i / 7.0, -0.0, 1e-300]
        assert s.source == "est"
    assert manager.get_buffer("other").version == 0
    with pytest.raises(ValueError, match="no buffer of the manager"):
        rtstate.replay(path, rate=None, into=rtstate.StateManager())
    with pytest.raises(TypeError, match="into"):
        rtstate.replay(path, rate=None, into={"drone/fast": rtstate.DroneStateBuffer()})
    with pytest.raises(ValueError, match="no channel"):
        rtstate.replay(path, rate=None, into={"nope": rtstate.FastDroneStateBuffer()})


def test_drone_state_buffers_are_recorded_as_their_fast_twins(tmp_path):
    """A DroneState buffer (of rtstate's states, or of another library's
    DroneState-like objects converted at publish) is recorded like a
    FastDroneStateBuffer: its states' unit-stripped twins, with the Foxglove
    channels; a buffer of other objects is refused by name."""
    path = tmp_path / "run.mcap"
    slow = rtstate.DroneStateBuffer(buffer_size=4)
    manager = rtstate.StateManager()
    manager.register_buffer("drone/slow", slow)
    published = []
    with rtstate.Recorder(path, manager) as rec:
        assert rec.skipped == []
        for i in range(20):
            d = rtstate.DroneState(
                timestamp=2.0e9 + i,
                position=[0.5 * i, -1.0, 2.5],
                velocity=[1.0, 0.0, 0.0],
                attitude=[0.0, 0.1, 0.02 * i],
                angular_velocity=[0.0, 0.0, 0.3],
            )
            slow.update_state(d, source="estimator")
            published.append(rtstate.FastDroneState.from_drone_state(d))
    stats = rec.statistics()
    assert stats["buffers"]["drone/slow"] == {"recorded": 20, "dropped": 0}
    messages, _ = read(path)
    topics = {}
    for schema, channel, message, data in messages:
        topics.setdefault(channel.topic, []).append((schema, data))
    assert sorted(topics) == ["drone/slow", "drone/slow/pose", "drone/slow/tf"]
    states = [d for _, d in topics["drone/slow"]]
    assert [d["version"] for d in states] == list(range(1, 21))
    assert all(d["source"] == "estimator" for d in states)
    for d, want in zip(states, published):
        assert d["state"]["position"] == list(want.position)
        assert d["state"]["attitude"] == list(want.attitude)
        assert d["state"]["angular_velocity"] == list(want.angular_velocity)
        assert d["state"]["timestamp"] == want.timestamp == d["timestamp"]
    assert set(json.loads(topics["drone/slow"][0][0].data)["properties"]["state"]["properties"]) == set(FAST.names)
    assert topics["drone/slow/tf"][-1][1]["translation"] == {"x": 9.5, "y": -1.0, "z": 2.5}

    # Another library's state type is not recorded: named, not guessed.
    with pytest.raises(TypeError, match="notes.*Note"):
        rtstate.Recorder(tmp_path / "x.mcap", {"notes": rtstate.ThreadSafeStateBuffer(state_type=Note)})
    assert not (tmp_path / "x.mcap").exists() and not (tmp_path / "x.mcap.partial").exists()
