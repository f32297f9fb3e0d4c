"""Staleness on a clock the user chooses: the wall clock by default, or a
callable returning seconds (a simulation clock) given to a buffer or a
manager."""

import math
import time

import pytest

import rtstate
from rtstate import (
    DroneState,
    DroneStateBuffer,
    FastDroneState,
    FastDroneStateBuffer,
    ThreadSafeStateBuffer,
    create_drone_state_buffer,
    create_fast_state_buffer,
    create_state_manager,
)


class SimClock:
    def __init__(self, t=100.0):
        self.t = t

    def __call__(self):
        return self.t


MAKERS = {
    "ThreadSafeStateBuffer": lambda c: ThreadSafeStateBuffer(clock=c),
    "ThreadSafeStateBuffer(FastDroneState)": lambda c: ThreadSafeStateBuffer(5, FastDroneState, c),
    "DroneStateBuffer": lambda c: DroneStateBuffer(clock=c),
    "FastDroneStateBuffer": lambda c: FastDroneStateBuffer(3, c),
    "create_drone_state_buffer": lambda c: create_drone_state_buffer(clock=c),
    "create_fast_state_buffer": lambda c: create_fast_state_buffer(5, clock=c),
}


def state_for(buffer, t):
    s = FastDroneState(timestamp=t)
    return s if buffer.state_type is FastDroneState else s.to_drone_state()


@pytest.mark.parametrize("make", list(MAKERS.values()), ids=list(MAKERS))
def test_a_simulation_clock_drives_staleness(make):
    clock = SimClock(100.0)
    buffer = make(clock)
    assert buffer.clock is clock
    buffer.update_state(state_for(buffer, 99.5))
    snap = buffer.get_latest_state()
    assert snap.age == pytest.approx(0.5)
    assert buffer.get_statistics()["latest_age"] == pytest.approx(0.5)
    assert buffer.get_state_at_time(max_age=0.6) is snap  # now = 100.0 on the clock
    stale = buffer.get_statistics()["stale_reads"]
    assert buffer.get_state_at_time(max_age=0.4) is None
    assert buffer.get_statistics()["stale_reads"] == stale + 1
    clock.t = 101.0
    assert snap.age == pytest.approx(1.5)
    assert buffer.get_state_at_time(99.5, max_age=0.0) is snap  # an explicit time ignores the clock


def test_the_default_is_the_wall_clock():
    buffer = FastDroneStateBuffer()
    assert buffer.clock is None
    buffer.update_state(FastDroneState(timestamp=time.time() - 2.0))
    assert 1.5 < buffer.get_latest_state().age < 60
    assert buffer.get_state_at_time(max_age=60) is not None
    assert buffer.get_state_at_time(max_age=0.5) is None


def test_the_table_shows_ages_on_the_clocks():
    own, shared = SimClock(10.0), SimClock(50.0)
    manager = create_state_manager(clock=shared)
    assert manager.clock is shared
    a = create_fast_state_buffer(clock=own)
    b = create_drone_state_buffer()  # no clock of its own: the manager's
    manager.register_buffer("a", a)
    manager.register_buffer("b", b)
    a.update_state(FastDroneState(timestamp=9.996))
    b.update_state(DroneState(timestamp=48.0))
    rows = {line.split()[0]: line for line in manager.table().splitlines()[1:]}
    assert rows["a"].endswith("4.0 ms")
    assert rows["b"].endswith("2.00 s")


def test_a_bad_clock_is_refused_when_given_or_read():
    with pytest.raises(TypeError, match="clock"):
        FastDroneStateBuffer(clock=1.0)
    with pytest.raises(TypeError, match="clock"):
        create_state_manager(clock="wall")
    for bad, error in [(lambda: "soon", TypeError), (lambda: math.nan, ValueError), (lambda: True, TypeError)]:
        buffer = FastDroneStateBuffer(clock=bad)
        buffer.update_state(FastDroneState(timestamp=1.0))
        with pytest.raises(error, match="clock"):
            buffer.get_latest_state().age
        with pytest.raises(error, match="clock"):
            buffer.get_state_at_time()


def test_a_clock_that_raises_propagates_and_publishing_still_works():
    def broken():
        raise RuntimeError("sim stopped")

    buffer = FastDroneStateBuffer(clock=broken)
    assert buffer.update_state(FastDroneState(timestamp=1.0)) == 1  # publishing never reads it
    with pytest.raises(RuntimeError, match="sim stopped"):
        buffer.get_latest_state().age


def test_readme_python_example_prints_sensible_ages(capsys):
    from test_examples import readme_python_blocks

    exec(compile(readme_python_blocks()[0], "README.md", "exec"), {"__name__": "__main__"})
    out = capsys.readouterr().out
    assert "age 0.004 s" in out
    row = [line for line in out.splitlines() if line.startswith("fast_state")][0]
    assert row.endswith("4.0 ms")
