"""`FastDroneStateBuffer(shared=...)` and `create_fast_state_buffer(shared=...)`:
the DART-Planner-style buffer created in shared memory, written here, read by
another process through `open_shared`. Every test uses its own buffer
directory (`RTSTATE_SHM_DIR`, also passed to child processes)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

import rtstate
from rtstate import FastDroneState, FastDroneStateBuffer, create_fast_state_buffer


@pytest.fixture(autouse=True)
def shm_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("RTSTATE_SHM_DIR", str(tmp_path))
    return tmp_path


def state(i: int) -> FastDroneState:
    return FastDroneState(timestamp=float(i), position=[i, 2.0 * i, 3.0], velocity=[0.5, 0, 0])


def test_a_shared_fast_buffer_publishes_reads_and_keeps_history(shm_dir):
    b = FastDroneStateBuffer(buffer_size=4, shared="drone1/fast_state")
    assert isinstance(b, FastDroneStateBuffer) and b.buffer_size == 4
    assert b.get_latest_state() is None
    versions = [b.update_state(state(i), source="estimator") for i in range(1, 7)]
    assert versions == [1, 2, 3, 4, 5, 6]
    snap = b.get_latest_state()
    assert snap.version == 6 and snap.source == "estimator"
    assert list(snap.state.position) == [6.0, 12.0, 3.0]
    assert [s.version for s in b.get_history()] == [3, 4, 5, 6]
    assert b.get_statistics()["updates"] == 6
    assert any(p.name.startswith("rtstate.drone1") for p in shm_dir.iterdir())


def test_the_factory_takes_shared_and_another_process_reads_the_same_states(shm_dir):
    b = create_fast_state_buffer(buffer_size=5, shared="factory/state")
    for i in range(1, 4):
        b.update_state(state(i), source="py-writer")
    script = textwrap.dedent(
        """
        import rtstate
        b = rtstate.open_shared("factory/state")
        s = b.get_latest_state()
        print(type(s.state).__name__, s.version, s.source, s.state.position.tolist())
        """
    )
    env = dict(os.environ, RTSTATE_SHM_DIR=str(shm_dir))
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split(None, 3) == ["FastDroneState", "3", "py-writer", "[3.0, 6.0, 3.0]\n"]


def test_a_reader_in_this_process_sees_every_version_and_counts_lost(shm_dir):
    b = FastDroneStateBuffer(shared="cursor/state")
    r = rtstate.open_shared("cursor/state").reader()
    b.update_state(state(1))
    assert r.read_if_updated().version == 1
    assert r.read_if_updated() is None
    for i in range(2, 5):
        b.update_state(state(i))
    assert r.read_if_updated().version == 4
    assert r.lost == 2


def test_a_second_live_writer_is_refused_naming_the_holder(shm_dir):
    writer = FastDroneStateBuffer(shared="busy/state")
    writer.update_state(state(1))
    script = textwrap.dedent(
        """
        import rtstate
        try:
            rtstate.FastDroneStateBuffer(shared="busy/state")
        except rtstate.WriterBusyError as e:
            print("busy", e)
        """
    )
    env = dict(os.environ, RTSTATE_SHM_DIR=str(shm_dir))
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("busy") and str(os.getpid()) in out.stdout


@pytest.mark.parametrize(
    "shared, error, words",
    [
        (5, TypeError, "`shared` expects a str"),
        (b"x", TypeError, "`shared` expects a str"),
        ("../escape", ValueError, "name"),
        ("/abs", ValueError, "name"),
        ("a\0b", ValueError, "name"),
        ("\ud800", ValueError, "`shared`"),
        ("x" * 5000, ValueError, "name"),
    ],
)
def test_bad_shared_names_are_refused_and_create_nothing(shm_dir, shared, error, words):
    for make in (
        lambda: FastDroneStateBuffer(shared=shared),
        lambda: create_fast_state_buffer(shared=shared),
    ):
        with pytest.raises(error, match=None) as e:
            make()
        assert words in str(e.value)
    assert [p for p in shm_dir.iterdir() if not p.name.startswith(".")] == []


def test_shared_is_only_for_the_fast_buffer(shm_dir):
    with pytest.raises(TypeError, match="unexpected keyword argument `shared`"):
        rtstate.ThreadSafeStateBuffer(shared="x")
    with pytest.raises(TypeError, match="unexpected keyword argument `shared`"):
        rtstate.DroneStateBuffer(shared="x")


def test_the_wrapper_refuses_a_shared_state_buffer(shm_dir):
    b = FastDroneStateBuffer(shared="wrapped/state")
    with pytest.raises(TypeError, match="shared-memory"):
        rtstate.RealTimeControlWrapper(state_buffer=b)
