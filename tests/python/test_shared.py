"""Shared-memory buffers from Python, across spawned processes, and the
``rtstate`` command. Every test uses its own buffer directory (tmp_path),
passed to child processes through ``RTSTATE_SHM_DIR``."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import rtstate
from rtstate import _cli

POSE = np.dtype([("timestamp", "<f8"), ("xyz", "<f8", (3,)), ("mode", "u1"), ("ok", "?")])
FAST = np.dtype(
    [
        ("timestamp", "<f8"),
        ("position", "<f8", (3,)),
        ("velocity", "<f8", (3,)),
        ("attitude", "<f8", (3,)),
        ("angular_velocity", "<f8", (3,)),
    ]
)


def child(script: str, directory, *args: str) -> subprocess.Popen:
    env = dict(os.environ, RTSTATE_SHM_DIR=str(directory))
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition never met"
        time.sleep(0.005)


def test_a_numpy_layout_round_trips_dicts_tuples_and_records(tmp_path):
    b = rtstate.SharedBuffer("robot/pose", POSE, buffer_size=3, directory=tmp_path)
    assert (tmp_path / "rtstate.robot~pose").exists()
    assert oct((tmp_path / "rtstate.robot~pose").stat().st_mode & 0o777) == "0o600"
    assert b.is_writer and b.version == 0 and b.buffer_size == 3
    assert b.dtype == POSE
    assert b.update_state({"timestamp": 1.0, "xyz": [1, 2, 3], "mode": 7, "ok": True}) == 1
    assert b.update_state((2.0, [4, 5, 6], 8, False), source="est") == 2
    record = np.zeros((), POSE)
    record["timestamp"] = 3.0
    record["xyz"] = [7, 8, 9]
    assert b.update_state(record[()]) == 3
    snap = b.get_latest_state()
    assert isinstance(snap.state, np.void)
    assert snap.version == 3 and snap.timestamp == 3.0
    assert snap.state["xyz"].tolist() == [7.0, 8.0, 9.0]
    history = b.get_history()
    assert [s.version for s in history] == [1, 2, 3]
    assert history[1].source == "est" and history[1].state["mode"] == 8
    assert b.get_state_at_time(2.1, max_age=0.5).version == 2
    assert b.get_state_at_time(50.0, max_age=0.5) is None
    stats = b.get_statistics()
    assert stats["updates"] == 3 and stats["writer_pid"] == os.getpid() and stats["writer_alive"]
    assert stats["stale_reads"] == 1
    with pytest.raises(KeyError, match="nope"):
        b.update_state({"nope": 1.0})
    with pytest.raises(KeyError, match="missing"):
        b.update_state({"timestamp": 1.0})
    with pytest.raises(ValueError):
        b.update_state((1.0,))
    with pytest.raises(TypeError, match="dict, a tuple or a numpy record"):
        b.update_state(3.0)
    with pytest.raises(ValueError, match="timestamp"):
        b.update_state((float("nan"), [0, 0, 0], 0, False))
    assert b.version == 3


def test_bad_dtypes_are_refused_naming_the_argument():
    with pytest.raises(TypeError, match="dtype"):
        rtstate.SharedBuffer("x", np.float64)
    with pytest.raises(ValueError, match="dtype: field `c`"):
        rtstate.SharedBuffer("x", [("c", "c16")])
    with pytest.raises(ValueError, match="big-endian"):
        rtstate.SharedBuffer("x", [("a", ">f8")])
    with pytest.raises(ValueError, match="buffer_size"):
        rtstate.SharedBuffer("x", POSE, buffer_size=0)


@pytest.mark.parametrize(
    "name", ["../escape", "/etc/passwd", "a\0b", "a/../b", "", "x" * 300]
)
def test_hostile_names_are_value_errors(tmp_path, name):
    with pytest.raises(ValueError, match="invalid buffer name"):
        rtstate.SharedBuffer(name, POSE, directory=tmp_path)
    with pytest.raises(ValueError, match="invalid buffer name"):
        rtstate.open_shared(name, directory=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_missing_and_corrupted_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        rtstate.open_shared("nobody", directory=tmp_path)
    (tmp_path / "rtstate.junk").write_bytes(b"\x00" * 4096)
    with pytest.raises(ValueError, match="not a valid rtstate buffer"):
        rtstate.open_shared("junk", directory=tmp_path)
    rtstate.SharedBuffer("good", POSE, directory=tmp_path)
    data = (tmp_path / "rtstate.good").read_bytes()
    (tmp_path / "rtstate.cut").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated"):
        rtstate.open_shared("cut", directory=tmp_path)
    (tmp_path / "rtstate.magic").write_bytes(b"XXXXXXXX" + data[8:])
    with pytest.raises(ValueError, match="magic"):
        rtstate.open_shared("magic", directory=tmp_path)


def test_another_layout_is_a_type_error_showing_both(tmp_path):
    rtstate.SharedBuffer("p", POSE, directory=tmp_path)
    with pytest.raises(TypeError) as e:
        rtstate.SharedBuffer("p", FAST, directory=tmp_path)
    assert "xyz: [f64; 3] @8" in str(e.value)
    assert "angular_velocity: [f64; 3] @80" in str(e.value)


def test_the_fast_layout_reads_as_fast_drone_states(tmp_path):
    b = rtstate.SharedBuffer("drone1/fast_state", FAST, buffer_size=5, directory=tmp_path)
    b.update_state(rtstate.FastDroneState(1.5, [1.0, 2.0, 3.0]))
    r = rtstate.open_shared("drone1/fast_state", directory=tmp_path)
    snap = r.get_latest_state()
    assert isinstance(snap.state, rtstate.FastDroneState)
    assert snap.timestamp == 1.5
    raw = rtstate.open_shared("drone1/fast_state", raw=True, directory=tmp_path)
    assert raw.get_latest_state().state["position"].tolist() == [1.0, 2.0, 3.0]


WRITER = """
import os, sys, time, numpy as np, rtstate
dt = np.dtype([("timestamp", "<f8"), ("xyz", "<f8", (3,)), ("mode", "u1"), ("ok", "?")])
b = rtstate.SharedBuffer(sys.argv[1], dt, buffer_size=4)
n = int(sys.argv[2])
print(b.version, flush=True)
start = b.version
for i in range(n):
    v = start + i + 1
    b.update_state((float(v), [v, v, v], v % 256, True), source="child")
print("done", flush=True)
if len(sys.argv) > 3:
    time.sleep(float(sys.argv[3]))
"""


def test_versions_and_lost_across_processes(tmp_path):
    p = child(WRITER, tmp_path, "s", "10")
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    b = rtstate.open_shared("s", directory=tmp_path)
    reader = b.reader()
    assert b.version == 10
    assert [s.version for s in b.get_history()] == [7, 8, 9, 10]
    assert b.get_latest_state().source == "child"
    # A second run continues the sequence; this process's reader counts
    # the versions it missed.
    p = child(WRITER, tmp_path, "s", "5")
    p.communicate(timeout=60)
    snap = reader.read_if_updated()
    assert snap.version == 15 and snap.state["xyz"].tolist() == [15.0] * 3
    assert reader.lost == 4
    assert b.get_statistics()["lost"] == 4


def test_a_second_writer_is_refused_with_the_holders_pid(tmp_path):
    p = child(WRITER, tmp_path, "held", "1", "60")
    try:
        assert p.stdout.readline().strip() == "0"
        assert p.stdout.readline().strip() == "done"
        with pytest.raises(rtstate.WriterBusyError, match=f"process {p.pid}"):
            rtstate.SharedBuffer("held", POSE, buffer_size=4, directory=tmp_path)
        b = rtstate.open_shared("held", directory=tmp_path)
        with pytest.raises(rtstate.WriterBusyError):
            b.update_state((1.0, [0, 0, 0], 0, True))
        entry = rtstate._rtstate._shared_list(str(tmp_path))[0]
        assert entry["writer_pid"] == p.pid and entry["writer_alive"]
    finally:
        p.kill()
        p.wait()
    # The holder is gone: this process takes over and continues.
    b = rtstate.SharedBuffer("held", POSE, buffer_size=4, directory=tmp_path)
    assert b.update_state((2.0, [0, 0, 0], 0, True)) == 2


def test_a_writer_killed_mid_stream_leaves_the_last_complete_state(tmp_path):
    p = child(WRITER, tmp_path, "k", "100000000")
    try:
        assert p.stdout.readline().strip() == "0"
        b = rtstate.open_shared("k", directory=tmp_path)
        wait_until(lambda: b.version > 1000)
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    last = b.get_latest_state()
    v = last.version
    assert last.state["xyz"].tolist() == [float(v)] * 3, "whole state"
    stats = b.get_statistics()
    assert not stats["writer_alive"] and stats["writer_pid"] == p.pid
    p = child(WRITER, tmp_path, "k", "3")
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    assert out.splitlines()[0] == str(v)
    assert b.version == v + 3


def test_blocking_wait_is_woken_by_another_process(tmp_path):
    b = rtstate.SharedBuffer("w", POSE, directory=tmp_path)
    script = """
import sys, rtstate
r = rtstate.open_shared("w")
s = r.wait_for_update(timeout=60)
print(s.version if s else "timeout", flush=True)
"""
    p = child(script, tmp_path)
    wait_until(lambda: b.get_statistics()["waiting"] == 1 or p.poll() is not None)
    b.update_state((1.0, [0, 0, 0], 0, True))
    out, err = p.communicate(timeout=60)
    assert out.strip() == "1", err
    assert b.wait_for_update(timeout=0.01) is None


@pytest.mark.asyncio
async def test_asyncio_is_woken_across_processes_and_counts_drops(tmp_path):
    b = rtstate.SharedBuffer("a", POSE, buffer_size=8, directory=tmp_path)
    reader = rtstate.open_shared("a", directory=tmp_path)
    sub = reader.subscribe(queue_size=2)
    waiter = asyncio.ensure_future(reader.wait_for_update_async(timeout=60))
    await asyncio.sleep(0.05)
    p = child(
        """
import sys, rtstate
b = rtstate.open_shared("a")
for i in range(5):
    b.update_state({"timestamp": float(i), "xyz": [i, i, i], "mode": i, "ok": True})
""",
        tmp_path,
    )
    del b  # the child becomes the writer
    snap = await asyncio.wait_for(waiter, 60)
    assert snap.version >= 1
    got = [await asyncio.wait_for(sub.get(), 60)]
    await asyncio.wait_for(asyncio.to_thread(p.wait), 60)
    assert p.returncode == 0, p.stderr.read()
    deadline = time.monotonic() + 30
    while sub.delivered + sub.dropped - 0 < 5 and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    while sub.qsize():
        got.append(sub.get_nowait())
    versions = [s.version for s in got]
    assert versions == sorted(versions) and versions[-1] == 5
    assert sub.dropped == 5 - len(versions)
    sub.close()
    assert await reader.wait_for_update_async(timeout=0.01) is None


def run_cli(*argv: str) -> str:
    out = io.StringIO()
    assert _cli.main(list(argv), out) == 0
    return out.getvalue()


def test_the_cli_on_a_known_buffer(tmp_path):
    d = str(tmp_path)
    assert "no shared buffers" in run_cli("list", "--dir", d)
    b = rtstate.SharedBuffer("drone1/pose", POSE, buffer_size=4, directory=tmp_path)
    for i in range(1, 4):
        b.update_state({"timestamp": float(i), "xyz": [i, 0, -i], "mode": i, "ok": True}, source="est")
    listing = run_cli("list", "--dir", d)
    lines = listing.splitlines()
    assert lines[0].split() == ["NAME", "VERSION", "WRITER", "ALIVE", "AGE", "LAYOUT"]
    assert lines[1].split()[:4] == ["drone1/pose", "3", str(os.getpid()), "yes"]
    assert "{timestamp: f64 @0, xyz: [f64; 3] @8, mode: u8 @32, ok: bool @33} (34 bytes)" in lines[1]
    echo = run_cli("echo", "drone1/pose", "--once", "--dir", d)
    assert echo.splitlines() == [
        "--- 3  timestamp=3.0  source=est",
        "timestamp: 3.0",
        "xyz: [3.0, 0.0, -3.0]",
        "mode: 3",
        "ok: True",
    ]
    top = run_cli("top", "--iterations", "1", "--interval", "0.05", "--dir", d)
    assert "UPDATES/S" in top and "drone1/pose" in top
    # hz and echo --count follow a publisher in another process.
    p = child(
        """
import time, rtstate
b = rtstate.open_shared("drone1/pose")
for i in range(4000):
    b.update_state({"timestamp": float(i), "xyz": [i, 0, 0], "mode": 1, "ok": True})
    time.sleep(0.005)
""",
        tmp_path,
    )
    del b
    try:
        wait_until(lambda: rtstate.open_shared("drone1/pose", directory=tmp_path).version > 3)
        hz = run_cli("hz", "drone1/pose", "--count", "1", "--interval", "0.5", "--dir", d)
        assert hz.startswith("average rate: ")
        rate = float(hz.split()[2])
        assert 0 < rate < 1000
        assert "min:" in hz and "std dev:" in hz
        echo = run_cli("echo", "drone1/pose", "--count", "2", "--timeout", "30", "--dir", d)
        assert echo.count("--- ") == 2
    finally:
        p.kill()
        p.wait()
    # python -m rtstate and the console script's entry point.
    out = subprocess.run(
        [sys.executable, "-m", "rtstate", "list", "--dir", d],
        capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0 and "drone1/pose" in out.stdout
    assert run_cli("clean", "--dir", d) == "removed drone1/pose\n"
    assert run_cli("clean", "--dir", d) == "nothing to remove\n"


ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
CONTROLLER = os.path.join(ROOT, "target", "debug", "examples", "shared_controller")


@pytest.fixture(scope="module")
def controller():
    """The Rust controller example, built (or found up to date) by cargo."""
    try:
        built = subprocess.run(
            ["cargo", "build", "--example", "shared_controller"],
            cwd=ROOT, capture_output=True, text=True, timeout=900,
        )
    except FileNotFoundError:
        pytest.skip("cargo is not installed")
    assert built.returncode == 0, built.stderr
    return CONTROLLER


def test_the_two_process_demo_flies(tmp_path, controller):
    env = dict(os.environ, RTSTATE_SHM_DIR=str(tmp_path))
    p = subprocess.Popen(
        [sys.executable, "-m", "rtstate", "demo", "--processes", "--duration", "3",
         "--rate", "100", "--controller", controller],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        wait_until(lambda: (tmp_path / "rtstate.demo~command").exists() or p.poll() is not None)
        top = subprocess.run(
            [sys.executable, "-m", "rtstate", "top", "--iterations", "1", "--interval", "0.5"],
            env=env, capture_output=True, text=True, timeout=60,
        ).stdout
        assert "demo/fast_state" in top and "demo/command" in top
        echo = subprocess.run(
            [sys.executable, "-m", "rtstate", "echo", "demo/command", "--count", "1", "--timeout", "30"],
            env=env, capture_output=True, text=True, timeout=60,
        ).stdout
        assert "source=rust-controller" in echo and "thrust: " in echo
        out, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, err
    assert "shared_controller: 300 ticks" in out
    altitude = float(out.split("altitude ")[1].split(" m")[0])
    assert 0.5 < altitude < 3.5, out
    assert list(tmp_path.iterdir()) == [], "the demo removes its buffers"
