"""The control loop and the wrapper under concurrency and hostile input:
no mutex is held across a wait for a thread that needs the interpreter,
statistics and is_running are readable from anywhere (a tick included),
exactly one of concurrent starts succeeds, durations too large to represent
mean "no limit", and every bad argument is refused, naming it, before
anything is published.

Every wait has a timeout; no maximum duration is asserted except the
promptness of Ctrl-C, which is the behaviour under test (with a generous
bound)."""

from __future__ import annotations

import math
import os
import signal
import threading
import time

import numpy as np
import pytest

import rtstate
from rtstate import (
    AlreadyRunningError,
    ControlLoop,
    DroneState,
    FastDroneState,
    FastDroneStateBuffer,
    RealTimeControlWrapper,
    StateEstimatorController,
    create_estimator_controller,
    create_rt_control_wrapper,
)
from rtstate._rtstate import _publish_from_rust_thread


def wait_until(pred, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.005)
    return pred()


def run_in_thread(fn, timeout=20.0):
    """Runs ``fn`` on a thread; its result, or fails the test if it hangs."""
    out: dict = {}

    def body():
        try:
            out["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed back to the test
            out["error"] = e

    t = threading.Thread(target=body, daemon=True)
    t.start()
    t.join(timeout)
    assert not t.is_alive(), f"{fn} did not return within {timeout} s (deadlock?)"
    if "error" in out:
        raise out["error"]
    return out.get("value")


# -------------------------------------------------- locks and the interpreter --


@pytest.mark.parametrize("trial", range(3))
def test_stop_while_threads_poll_is_running_and_get_stats(trial):
    ticks = []
    loop = ControlLoop(lambda: ticks.append(1), 500.0)
    loop.start()
    assert wait_until(lambda: len(ticks) > 5)
    quit_ = threading.Event()
    polls = [0, 0, 0]

    def poll(i):
        while not quit_.is_set():
            loop.is_running()
            loop.get_stats()
            polls[i] += 1

    pollers = [threading.Thread(target=poll, args=(i,), daemon=True) for i in range(3)]
    for p in pollers:
        p.start()
    try:
        time.sleep(0.05)
        stats = run_in_thread(lambda: loop.stop(timeout=10.0))
    finally:
        quit_.set()
        for p in pollers:
            p.join(10.0)
    assert stats is not None and stats["stop_reason"] == "requested"
    assert not loop.is_running()
    assert all(n > 0 for n in polls)


def test_a_tick_reads_its_own_loops_statistics_and_running_flag():
    seen = []
    holder: dict = {}

    def tick():
        lp = holder.get("loop")
        if lp is not None and len(seen) < 20:
            seen.append((lp.is_running(), lp.get_stats()["iteration_count"]))

    loop = ControlLoop(tick, 500.0)
    holder["loop"] = loop
    loop.start()
    try:
        assert wait_until(lambda: len(seen) >= 20, timeout=10.0)
    finally:
        stats = run_in_thread(lambda: loop.stop(timeout=10.0))
    assert stats["errors"] == 0, stats["last_error"]
    assert all(running for running, _ in seen)
    counts = [n for _, n in seen]
    assert counts == sorted(counts)


def test_a_tick_can_stop_its_own_loop_without_waiting_for_itself():
    holder: dict = {}
    outcome = []

    def tick():
        try:
            # From inside a tick, a stop cannot complete (the tick is still
            # running): it times out rather than deadlocking.
            holder["loop"].stop(timeout=0.05)
        except TimeoutError:
            outcome.append("timeout")
        return False

    loop = ControlLoop(tick, 200.0)
    holder["loop"] = loop
    loop.start()
    assert wait_until(lambda: not loop.is_running(), timeout=10.0)
    assert outcome == ["timeout"]
    assert run_in_thread(lambda: loop.stop(timeout=10.0))["stop_reason"] in ("callback", "requested")


def test_start_from_four_threads_starts_exactly_one_loop():
    for _ in range(5):
        loop = ControlLoop(lambda: None, 200.0)
        barrier = threading.Barrier(4)
        results = []
        lock = threading.Lock()

        def start():
            barrier.wait(10.0)
            try:
                loop.start()
                r = "ok"
            except AlreadyRunningError:
                r = "already"
            with lock:
                results.append(r)

        threads = [threading.Thread(target=start, daemon=True) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20.0)
        try:
            assert sorted(results) == ["already", "already", "already", "ok"]
            assert loop.is_running()
        finally:
            run_in_thread(lambda: loop.stop(timeout=10.0))
        assert not loop.is_running()
        # Stopped, it can start again.
        loop.start()
        run_in_thread(lambda: loop.stop(timeout=10.0))


def test_wrapper_start_from_four_threads_runs_one_loop():
    w = RealTimeControlWrapper(200.0)
    barrier = threading.Barrier(4)
    errors = []

    def start():
        barrier.wait(10.0)
        try:
            w.start()
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=start, daemon=True) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20.0)
    try:
        assert errors == []
        assert w.is_running()
    finally:
        run_in_thread(lambda: w.stop(timeout=10.0))
    assert not w.is_running()


# ------------------------------------------------------------- durations --


@pytest.mark.parametrize("huge", [1e19, 1e300, math.inf])
def test_a_timeout_too_large_to_represent_means_no_limit(huge):
    loop = ControlLoop(lambda: None, 200.0)
    loop.start()
    stats = run_in_thread(lambda: loop.stop(timeout=huge))
    assert stats is not None and not stats["running"]
    w = RealTimeControlWrapper(200.0)
    w.start()
    run_in_thread(lambda: w.stop(timeout=huge))
    assert not w.is_running()


@pytest.mark.parametrize("huge", [1e19, 1e300, math.inf])
def test_a_duration_too_large_to_represent_runs_until_the_loop_stops(huge):
    n = []

    def tick():
        n.append(1)
        return len(n) < 5

    stats = run_in_thread(lambda: ControlLoop(tick, 500.0).run(duration=huge))
    assert stats["iteration_count"] == 5
    assert stats["stop_reason"] == "callback"


@pytest.mark.parametrize("bad", [-1.0, math.nan, -math.inf])
def test_negative_or_nan_durations_are_value_errors_naming_the_argument(bad):
    loop = ControlLoop(lambda: None, 200.0)
    with pytest.raises(ValueError, match="duration"):
        loop.run(duration=bad)
    assert not loop.is_running()
    loop.start()
    try:
        with pytest.raises(ValueError, match="timeout"):
            loop.stop(timeout=bad)
    finally:
        loop.stop(timeout=10.0)
    w = RealTimeControlWrapper(200.0)
    with pytest.raises(ValueError, match="timeout"):
        w.stop(timeout=bad)
    with pytest.raises(ValueError, match="timeout"):
        w.wait_for_state_update(timeout=bad)


def test_rust_publisher_join_and_is_finished_do_not_deadlock():
    buf = FastDroneStateBuffer(8)
    states = [FastDroneState(timestamp=float(i)) for i in range(20)]
    pub = _publish_from_rust_thread(buf, states, 0.002)
    joined = []
    # One thread joins while others ask is_finished().
    joiner = threading.Thread(target=lambda: joined.append(pub.join(20.0)), daemon=True)
    joiner.start()
    finished_seen = []
    for _ in range(50):
        finished_seen.append(run_in_thread(pub.is_finished, timeout=10.0))
        time.sleep(0.001)
    joiner.join(20.0)
    assert not joiner.is_alive()
    assert joined == [20]
    assert pub.is_finished()
    # A second join returns the same count.
    assert pub.join(1.0) == 20
    assert pub.join(math.inf) == 20
    with pytest.raises(ValueError, match="timeout"):
        pub.join(-1.0)


# ------------------------------------------------------- wrapper bad input --


def _wrapper_state(w):
    latest = w.get_latest_state()
    buf = w.state_buffer
    return (
        buf.version,
        None if latest is None else latest.version,
        [s.version for s in buf.get_history()],
    )


@pytest.mark.parametrize("fast", [True, False])
def test_a_rejected_state_is_not_published(fast):
    w = RealTimeControlWrapper(use_fast_state=fast)
    w.update_state(FastDroneState(timestamp=1.0, position=[0, 0, 1]), "ok")
    before = _wrapper_state(w)
    for bad in (
        "not a state",
        5,
        None,
        FastDroneState,  # the class, not an instance
    ):
        with pytest.raises((TypeError, ValueError)):
            w.update_state(bad, "bad")
        assert _wrapper_state(w) == before, bad


def test_reset_of_a_drone_state_buffer_reaches_the_autopilot():
    w = RealTimeControlWrapper(200.0, use_fast_state=False)
    w.update_state(FastDroneState(timestamp=1.0, position=[0, 0, 1]), "x")
    w.start()
    try:
        assert wait_until(lambda: w.get_latest_command() is not None)
        w.state_buffer.reset()
        assert w.get_latest_state() is None
        # Give the loop a few ticks to see the reset, then it must command
        # nothing more: the state it knew is forgotten.
        assert wait_until(
            lambda: (
                lambda a: (time.sleep(0.05), w.get_wrapper_stats()["commands_published"] == a)[1]
            )(w.get_wrapper_stats()["commands_published"]),
            timeout=10.0,
        )
        a = w.get_wrapper_stats()["commands_published"]
        time.sleep(0.1)
        assert w.get_wrapper_stats()["commands_published"] == a
        # A new state brings it back.
        w.update_state(FastDroneState(timestamp=2.0, position=[0, 0, 1]), "x")
        assert wait_until(lambda: w.get_wrapper_stats()["commands_published"] > a)
    finally:
        w.stop(timeout=10.0)


@pytest.mark.parametrize(
    "setter", ["set_state_update_callback", "set_command_update_callback", "set_error_callback"]
)
@pytest.mark.parametrize("bad", [5, "print", [print]])
def test_non_callable_callbacks_are_type_errors_when_set(setter, bad):
    w = RealTimeControlWrapper()
    with pytest.raises(TypeError, match="callback"):
        getattr(w, setter)(bad)
    getattr(w, setter)(print)
    getattr(w, setter)(None)


class _Estimator:
    def update(self):
        pass

    def get_latest(self):
        return None


def test_estimator_controller_checks_its_arguments_at_construction():
    w = RealTimeControlWrapper()
    with pytest.raises(TypeError, match="controller"):
        StateEstimatorController(_Estimator(), None)  # type: ignore[arg-type]

    class NoUpdate:
        def get_latest(self):
            return None

    class NoLatest:
        def update(self):
            pass

    with pytest.raises(TypeError, match=r"update\(\)"):
        StateEstimatorController(NoUpdate(), w)
    with pytest.raises(TypeError, match=r"get_latest\(\)"):
        StateEstimatorController(NoLatest(), w)
    with pytest.raises(TypeError, match=r"get_latest\(\)"):
        create_estimator_controller(NoLatest())


@pytest.mark.parametrize("bad", [0, 0.0, -5.0, math.nan, math.inf, -math.inf])
def test_frequencies_are_named_as_the_caller_wrote_them(bad):
    w = RealTimeControlWrapper()
    with pytest.raises(ValueError, match="update_frequency_hz"):
        StateEstimatorController(_Estimator(), w, update_frequency_hz=bad)
    with pytest.raises(ValueError, match="update_frequency_hz"):
        StateEstimatorController(_Estimator(), w, bad)
    with pytest.raises(ValueError, match="estimator_frequency_hz"):
        create_estimator_controller(_Estimator(), estimator_frequency_hz=bad)
    with pytest.raises(ValueError, match="frequency_hz"):
        create_estimator_controller(_Estimator(), frequency_hz=bad)
    with pytest.raises(ValueError, match="frequency_hz"):
        create_rt_control_wrapper(bad)
    with pytest.raises(ValueError, match="frequency_hz"):
        RealTimeControlWrapper(bad)
    with pytest.raises(ValueError, match="frequency_hz"):
        ControlLoop(lambda: None, bad)
    with pytest.raises(ValueError, match="rate_hz"):
        rtstate.SimVehicle().start(rate_hz=bad)


@pytest.mark.parametrize("bad", ["100", None, True, 1j])
def test_frequency_of_the_wrong_type_is_a_type_error_naming_it(bad):
    w = RealTimeControlWrapper()
    with pytest.raises(TypeError, match="update_frequency_hz"):
        StateEstimatorController(_Estimator(), w, update_frequency_hz=bad)
    with pytest.raises(TypeError, match="estimator_frequency_hz"):
        create_estimator_controller(_Estimator(), estimator_frequency_hz=bad)


@pytest.mark.parametrize("keyword", ["kp_pos", "ki_att", "kd_vel", "kp_rate"])
@pytest.mark.parametrize("bad", [math.nan, math.inf, -1.0, [1.0, math.nan, 1.0]])
def test_set_gains_names_the_keyword(keyword, bad):
    w = RealTimeControlWrapper()
    before = w.get_gains()
    with pytest.raises(ValueError, match=keyword):
        w.set_gains(**{keyword: bad})
    assert w.get_gains() == before


@pytest.mark.parametrize("keyword", ["kp_pos", "kd_att"])
@pytest.mark.parametrize("bad", ["1", True, 1j, [1, "2", 3]])
def test_set_gains_wrong_types_name_the_keyword(keyword, bad):
    w = RealTimeControlWrapper()
    before = w.get_gains()
    with pytest.raises(TypeError, match=keyword):
        w.set_gains(**{keyword: bad})
    assert w.get_gains() == before


SETPOINTS = ["position_setpoint", "velocity_setpoint", "attitude_setpoint", "angular_velocity_setpoint"]


@pytest.mark.parametrize("field", SETPOINTS)
@pytest.mark.parametrize(
    "bad",
    [
        ["1", "2", "3"],
        [1j, 0, 0],
        [True, False, True],
        [None, 0, 0],
        "123",
        np.array([1 + 1j, 0, 0]),
        np.array(["1", "2", "3"]),
        np.array([True, False, True]),
        np.array(["2020-01-01"] * 3, dtype="datetime64[D]"),
    ],
    ids=repr,
)
def test_update_command_setpoints_accept_only_real_numbers(field, bad):
    w = RealTimeControlWrapper()
    before = w.get_setpoint()
    with pytest.raises(TypeError, match=field):
        w.update_command(**{field: bad})
    assert w.get_setpoint() == before


@pytest.mark.parametrize("bad", ["9.81", 1j, True])
def test_update_command_thrust_accepts_only_a_real_number(bad):
    w = RealTimeControlWrapper()
    before = w.get_setpoint()
    with pytest.raises(TypeError, match="thrust"):
        w.update_command(thrust=bad)
    assert w.get_setpoint() == before


def test_update_command_still_takes_real_numbers_of_every_kind():
    w = RealTimeControlWrapper()
    w.update_command(
        position_setpoint=np.array([1, 2, 3], dtype=np.int32),
        velocity_setpoint=(np.float32(0.5), 0, 0),
        attitude_setpoint=[0, 0, np.float64(0.1)],
        thrust=np.float64(9.0),
    )
    sp = w.get_setpoint()
    assert sp["position_setpoint"] == [1.0, 2.0, 3.0]
    assert sp["velocity_setpoint"] == [0.5, 0.0, 0.0]
    assert sp["thrust"] == 9.0


# --------------------------------------------------------------- signals --


def test_ctrl_c_during_wrapper_wait_arrives_promptly():
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals go to the main thread")
    w = RealTimeControlWrapper()
    timer = threading.Timer(0.2, lambda: os.kill(os.getpid(), signal.SIGINT))
    start = time.monotonic()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            w.wait_for_state_update(30.0)
    finally:
        timer.cancel()
    # The behaviour under test is that the wait does not run to its 30 s
    # end: generous bound for a loaded machine.
    assert time.monotonic() - start < 10.0


def test_wrapper_wait_returns_the_next_state_and_times_out():
    w = RealTimeControlWrapper()
    assert w.wait_for_state_update(0.05) is None
    threading.Timer(0.05, lambda: w.update_state(DroneState(timestamp=3.0))).start()
    snap = w.wait_for_state_update(10.0)
    assert snap is not None and snap.version == 1


# ------------------------------------------- every argument named in str(e) --

_BAD = {
    "rate": ["abc", None, True, np.bool_(True), 1j, [1.0], 0, -1.0, math.nan, math.inf, 10**12],
    "priority": ["1", None, True, 1.5, -1, 100, 2**70, [1]],
    "flag": ["yes", None, 1, 0, 1.0, [True]],
    "spin_us": ["1", True, -1.0, math.nan, math.inf, [1.0]],
    "cpu_affinity": ["0", 1, [], [-1], [1.5], [True], ["0"]],
    "timer_slack_ns": ["1", True, -1, 1.5],
    "realtime_policy": [None, 1, b"warn", "maybe", ""],
    "timeout": ["1", True, 1j, -1.0, math.nan, [1.0]],
    "positive": ["1", None, True, 0.0, -1.0, math.nan, math.inf],
    "non_negative": ["1", None, True, -1.0, math.nan, math.inf],
    "finite": ["1", None, True, math.nan, math.inf],
}

_CASES = [
    ("ControlLoop", "frequency_hz", "rate", lambda v: ControlLoop(lambda: None, v)),
    ("ControlLoop", "priority", "priority", lambda v: ControlLoop(lambda: None, priority=v)),
    ("ControlLoop", "lock_memory", "flag", lambda v: ControlLoop(lambda: None, lock_memory=v)),
    ("ControlLoop", "stop_on_error", "flag", lambda v: ControlLoop(lambda: None, stop_on_error=v)),
    ("ControlLoop", "spin_us", "spin_us", lambda v: ControlLoop(lambda: None, spin_us=v)),
    ("ControlLoop", "cpu_affinity", "cpu_affinity", lambda v: ControlLoop(lambda: None, cpu_affinity=v)),
    ("ControlLoop", "timer_slack_ns", "timer_slack_ns", lambda v: ControlLoop(lambda: None, timer_slack_ns=v)),
    ("ControlLoop", "realtime_policy", "realtime_policy", lambda v: ControlLoop(lambda: None, realtime_policy=v)),
    ("ControlLoop.stop", "timeout", "timeout", lambda v: ControlLoop(lambda: None).stop(v)),
    ("ControlLoop.run", "duration", "timeout", lambda v: ControlLoop(lambda: None).run(v)),
    ("RealTimeControlWrapper", "frequency_hz", "rate", lambda v: RealTimeControlWrapper(v)),
    ("RealTimeControlWrapper", "priority", "priority", lambda v: RealTimeControlWrapper(priority=v)),
    ("RealTimeControlWrapper", "use_fast_state", "flag", lambda v: RealTimeControlWrapper(use_fast_state=v)),
    ("RealTimeControlWrapper", "realtime_policy", "realtime_policy", lambda v: RealTimeControlWrapper(realtime_policy=v)),
    ("RealTimeControlWrapper.stop", "timeout", "timeout", lambda v: RealTimeControlWrapper().stop(v)),
    ("RealTimeControlWrapper.wait_for_state_update", "timeout", "timeout", lambda v: RealTimeControlWrapper().wait_for_state_update(v)),
    ("RealTimeControlWrapper.wait_for_state_update_async", "timeout", "timeout", lambda v: RealTimeControlWrapper().wait_for_state_update_async(v)),
    ("SimVehicle", "mass", "positive", lambda v: rtstate.SimVehicle(v)),
    ("SimVehicle", "gravity", "positive", lambda v: rtstate.SimVehicle(gravity=v)),
    ("SimVehicle", "drag", "non_negative", lambda v: rtstate.SimVehicle(drag=v)),
    ("SimVehicle", "rate_time_constant", "positive", lambda v: rtstate.SimVehicle(rate_time_constant=v)),
    ("SimVehicle.step", "thrust", "non_negative", lambda v: rtstate.SimVehicle().step(v)),
    ("SimVehicle.step", "yaw_rate", "finite", lambda v: rtstate.SimVehicle().step(1.0, yaw_rate=v)),
    ("SimVehicle.step", "dt", "positive", lambda v: rtstate.SimVehicle().step(1.0, dt=v)),
    ("SimVehicle.set_command", "roll_rate", "finite", lambda v: rtstate.SimVehicle().set_command(1.0, v)),
    ("SimVehicle.start", "rate_hz", "rate", lambda v: rtstate.SimVehicle().start(v)),
    ("SimVehicle.stop", "timeout", "timeout", lambda v: rtstate.SimVehicle().stop(v)),
]


@pytest.mark.parametrize("what,argument,kind,call", _CASES, ids=[f"{c[0]}({c[1]}=)" for c in _CASES])
def test_every_bad_control_argument_is_refused_naming_it(what, argument, kind, call):
    for value in _BAD[kind]:
        with pytest.raises((TypeError, ValueError)) as info:
            result = call(value)
            if hasattr(result, "close"):  # a coroutine that did not check
                result.close()
        assert argument in str(info.value), (value, str(info.value))


def test_good_control_arguments_of_every_numeric_kind_are_accepted():
    loop = ControlLoop(lambda: None, np.int64(200), priority=np.int32(0), lock_memory=np.bool_(False),
                       spin_us=np.float32(10.0), cpu_affinity=(0,), timer_slack_ns=np.uint16(1000),
                       realtime_policy="strict", stop_on_error=True)
    assert loop.frequency_hz == 200.0
    w = RealTimeControlWrapper(np.float64(250.0), np.int64(0), None, np.bool_(False))
    assert w.frequency_hz == 250.0 and not w.use_fast_state
    sim = rtstate.SimVehicle(np.float32(1.5), 9.81, drag=0, disturbance=[0, 0, 0])
    sim.step(np.float64(14.7), dt=np.float64(0.001))
    assert sim.time == pytest.approx(0.001)


def test_wrapper_callbacks_read_their_own_wrapper_and_stop_is_not_blocked():
    w = RealTimeControlWrapper(500.0)
    seen = []

    def on_command(command):
        if len(seen) < 50:
            seen.append((w.is_running(), w.get_control_stats()["iteration_count"], w.get_combined_stats()["running"]))

    w.set_command_update_callback(on_command)
    w.update_state(FastDroneState(timestamp=1.0, position=[0, 0, 1]), "x")
    w.start()
    try:
        assert wait_until(lambda: len(seen) >= 50, timeout=10.0)
        quit_ = threading.Event()

        def poll():
            while not quit_.is_set():
                w.is_running()
                w.get_combined_stats()

        pollers = [threading.Thread(target=poll, daemon=True) for _ in range(2)]
        for p in pollers:
            p.start()
        try:
            run_in_thread(lambda: w.stop(timeout=10.0))
        finally:
            quit_.set()
            for p in pollers:
                p.join(10.0)
    finally:
        run_in_thread(lambda: w.stop(timeout=10.0))
    assert not w.is_running()
    assert all(running and combined for running, _, combined in seen)
    assert w.get_wrapper_stats()["errors"] == 0


def test_stop_racing_start_never_hangs_and_leaves_nothing_running():
    for _ in range(10):
        loop = ControlLoop(lambda: None, 500.0)
        barrier = threading.Barrier(2)

        def start():
            barrier.wait(10.0)
            loop.start()

        def stop():
            barrier.wait(10.0)
            loop.stop(timeout=10.0)

        threads = [threading.Thread(target=f, daemon=True) for f in (start, stop)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20.0)
            assert not t.is_alive()
        # Whichever won, one more stop leaves nothing running.
        run_in_thread(lambda: loop.stop(timeout=10.0))
        assert not loop.is_running()
