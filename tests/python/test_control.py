"""The control loop from Python: the native ControlLoop, DART-Planner's
RealTimeControlWrapper and StateEstimatorController (DART-Planner's usage
verbatim), callbacks and their errors, the simulator and the demo.

No maximum durations are asserted: only floors, and every wait has a
timeout."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import rtstate
from rtstate import (
    CallbackError,
    ControlLoop,
    DroneState,
    EstimatedState,
    FastDroneStateBuffer,
    Pose,
    RealTimeControlWrapper,
    StateEstimatorController,
    Twist,
    create_estimator_controller,
    create_rt_control_wrapper,
)
from rtstate._rtstate import SimVehicle

DART_LOOP_KEYS = {
    "iteration_count",
    "missed_deadlines",
    "frequency_target_hz",
    "frequency_actual_hz",
    "mean_execution_time_ms",
    "max_execution_time_ms",
    "min_execution_time_ms",
    "jitter_rms_ms",
    "success_rate",
}


def wait_until(pred, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.01)
    return pred()


# ------------------------------------------------------------ ControlLoop --


def test_native_loop_one_second_at_1khz_reaches_the_floor():
    calls = []
    loop = ControlLoop(lambda: calls.append(1), 1000.0)
    stats = loop.run(1.0)
    # Every period is either run or counted as missed (a shared machine's
    # load may skip some; none may vanish), and most of them run.
    assert stats["iteration_count"] + stats["missed_ticks"] >= 900
    assert stats["iteration_count"] >= 500
    assert len(calls) == stats["iteration_count"]
    assert stats["errors"] == 0
    assert not loop.is_running()
    assert DART_LOOP_KEYS <= stats.keys()


def test_start_stop_and_already_running():
    loop = ControlLoop(lambda: None, 500.0)
    assert loop.stop() is None  # never started
    loop.start()
    try:
        assert loop.is_running()
        with pytest.raises(rtstate.AlreadyRunningError):
            loop.start()
    finally:
        stats = loop.stop(timeout=2.0)
    assert stats["stop_reason"] == "requested"
    assert not loop.is_running()


def test_callback_returning_false_stops_the_loop():
    n = [0]

    def cb():
        n[0] += 1
        return n[0] < 5

    stats = ControlLoop(cb, 1000.0).run(5.0)
    assert stats["iteration_count"] == 5
    assert stats["stop_reason"] == "callback"


def test_raising_callback_is_counted_and_the_loop_goes_on():
    n = [0]

    def cb():
        n[0] += 1
        if n[0] % 2 == 0:
            raise ZeroDivisionError(f"tick {n[0]}")

    loop = ControlLoop(cb, 1000.0)
    stats = loop.run(0.3)
    assert stats["iteration_count"] >= 20
    assert stats["errors"] == stats["iteration_count"] // 2
    assert stats["last_error"].startswith("ZeroDivisionError: tick ")
    assert stats["success_rate"] < 1.0
    assert isinstance(loop.last_exception(), ZeroDivisionError)
    with pytest.raises(CallbackError) as info:
        loop.raise_last_error()
    assert isinstance(info.value.__cause__, ZeroDivisionError)
    assert isinstance(info.value, rtstate.RtStateError)


def test_stop_on_error_stops_and_reraises_with_cause():
    def cb():
        raise KeyError("boom")

    loop = ControlLoop(cb, 1000.0, stop_on_error=True)
    loop.start()
    assert wait_until(lambda: not loop.is_running())
    with pytest.raises(CallbackError) as info:
        loop.stop()
    assert isinstance(info.value.__cause__, KeyError)
    assert loop.get_stats()["iteration_count"] == 1
    assert loop.get_stats()["stop_reason"] == "error"
    with pytest.raises(CallbackError):
        ControlLoop(cb, 1000.0, stop_on_error=True).run(1.0)


def test_stop_while_a_callback_blocks_returns():
    entered = threading.Event()

    def cb():
        entered.set()
        time.sleep(0.5)

    loop = ControlLoop(cb, 1000.0)
    loop.start()
    assert entered.wait(5.0)
    with pytest.raises(TimeoutError):
        loop.stop(timeout=0.05)
    # Asked to stop: it does once the callback returns.
    stats = loop.stop(timeout=5.0)
    assert stats["stop_reason"] == "requested"
    assert not loop.is_running()


def test_ctrl_c_during_run_stops_the_loop_and_raises():
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals go to the main thread")
    loop = ControlLoop(lambda: None, 1000.0)
    timer = threading.Timer(0.2, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            loop.run(30.0)
    finally:
        timer.cancel()
    assert not loop.is_running()


def test_bad_arguments():
    with pytest.raises(TypeError):
        ControlLoop(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="frequency_hz"):
        ControlLoop(lambda: None, 0.0)
    with pytest.raises(ValueError, match="realtime_policy"):
        ControlLoop(lambda: None, realtime_policy="maybe")
    with pytest.raises(ValueError):
        ControlLoop(lambda: None, priority=120)


def test_real_time_settings_are_reported():
    loop = ControlLoop(lambda: None, 200.0, priority=10, timer_slack_ns=1000)
    try:
        loop.start()
    except rtstate.RealTimeError:  # pragma: no cover - warn never raises
        raise
    stats = loop.stop()
    settings = {s["setting"]: s for s in stats["real_time"]}
    assert set(settings) == {"sched_fifo", "timer_slack"}
    for s in settings.values():
        assert s["applied"] == (s["reason"] is None)


# ------------------------------------------------ RealTimeControlWrapper --


def test_dart_planner_real_time_control_extension_usage():
    drone_state = DroneState()
    # -- DART-Planner's example, verbatim from here --
    wrapper = RealTimeControlWrapper(
        frequency_hz=1000.0,
        use_fast_state=True
    )

    # Update state
    wrapper.update_state(drone_state, "estimator")

    # Get latest state
    snapshot = wrapper.get_latest_state()
    # -- to here --
    assert snapshot.version == 1 and snapshot.source == "estimator"
    # Performance monitoring (DART-Planner's, verbatim)
    stats = wrapper.get_combined_stats()
    print(f"Control loop: {stats['control_loop']}")
    print(f"State buffer: {stats['state_buffer']}")
    print(f"Wrapper: {stats['wrapper']}")
    assert set(stats) == {"control_loop", "state_buffer", "wrapper", "running", "frequency_hz"}
    assert stats["wrapper"]["state_updates"] == 1


class MyEstimator:
    def __init__(self):
        self.n = 0

    def update(self):
        self.n += 1

    def get_latest(self):
        return EstimatedState(
            timestamp=time.time(),
            pose=Pose(position=[0.0, 0.0, 1.0]),
            twist=Twist(),
        )


def test_dart_planner_estimator_controller_integration_usage():
    my_estimator = MyEstimator()
    my_controller = create_rt_control_wrapper()
    # -- DART-Planner's example, verbatim from here --
    # Create integration
    integration = StateEstimatorController(
        estimator=my_estimator,
        controller=my_controller,
        update_frequency_hz=100.0
    )

    # Start integration
    integration.start()
    # -- to here --
    try:
        assert integration.is_running()
        assert wait_until(lambda: my_controller.get_state_buffer_stats()["updates"] >= 5)
    finally:
        integration.stop()
    assert not integration.is_running()
    stats = integration.get_statistics()
    assert stats["estimator_controller"]["controller_updates"] >= 5
    assert stats["estimator_loop"]["errors"] == 0
    assert stats["controller"]["control_loop"]["iteration_count"] > 0
    assert my_controller.get_latest_state().state.position[2] == 1.0


def test_estimator_exceptions_are_counted_not_fatal():
    class Flaky(MyEstimator):
        def update(self):
            self.n += 1
            if self.n % 3 == 0:
                raise RuntimeError("sensor glitch")

    integration = create_estimator_controller(Flaky(), estimator_frequency_hz=200.0)
    integration.start()
    try:
        assert wait_until(lambda: integration.get_statistics()["estimator_loop"]["errors"] >= 2)
        assert integration.is_running()
    finally:
        integration.stop()
    s = integration.get_statistics()
    assert "RuntimeError: sensor glitch" == s["estimator_loop"]["last_error"]
    assert s["estimator_controller"]["controller_updates"] >= 2
    with pytest.raises(CallbackError):
        integration.raise_last_error()


def test_control_stats_keys_and_real_time_report():
    w = RealTimeControlWrapper(frequency_hz=500.0, priority=5)
    w.start()
    try:
        assert w.is_running()
        assert wait_until(lambda: w.get_control_stats()["iteration_count"] >= 10)
    finally:
        w.stop()
    s = w.get_control_stats()
    assert DART_LOOP_KEYS <= s.keys()
    for key in ("overruns", "errors", "last_error", "cpu_time_s", "missed_ticks"):
        assert key in s
    for key in ("period_ms", "lateness_ms"):
        assert {"p50", "p90", "p99", "max"} <= s[key].keys()
    assert s["frequency_target_hz"] == 500.0
    # The loop's default 1 ns timer slack is always requested; priority > 0
    # adds SCHED_FIFO. Each is reported, applied or not, with its reason.
    assert [r["setting"] for r in s["real_time"]] == ["timer_slack", "sched_fifo"]
    slack = s["real_time"][0]
    assert slack["applied"] is True, slack


def test_wrapper_flies_the_sim_to_the_setpoint():
    wrapper = create_rt_control_wrapper()
    sim = SimVehicle(1.0, 9.81)
    wrapper.update_command(
        position_setpoint=[1.0, -0.5, 1.5],
        velocity_setpoint=None,
        attitude_setpoint=[0.0, 0.0, 0.0],
        angular_velocity_setpoint=[0.0, 0.0, 0.0],
        thrust=0.0,
    )
    # The sim publishes its true state into the wrapper's own buffer each tick.
    wrapper.update_state(sim.measurement(), "sim")
    wrapper.start()
    sim.start(1000.0, controller=wrapper, state_buffer=wrapper.state_buffer)
    try:
        time.sleep(3.0)
    finally:
        sim.stop()
        wrapper.stop()
    pos = sim.measurement().position
    err = float(np.linalg.norm(pos - np.array([1.0, -0.5, 1.5])))
    assert err < 0.25, f"position {pos} is {err:.3f} m from the setpoint"
    assert wrapper.get_latest_state().source == "sim"
    assert wrapper.get_latest_command()["thrust"] > 0.0
    assert wrapper.get_control_stats()["errors"] == 0


def test_update_command_checks_fields_and_accepts_quantities():
    w = RealTimeControlWrapper()
    with pytest.raises(ValueError, match="velocity_setpoint"):
        w.update_command(velocity_setpoint=[0.0, float("nan"), 0.0])
    with pytest.raises(ValueError, match="thrust"):
        w.update_command(thrust=float("inf"))
    w.update_command(position_setpoint=rtstate.Q_(np.array([100.0, 0.0, 250.0]), "cm"))
    assert w.get_setpoint()["position_setpoint"] == pytest.approx([1.0, 0.0, 2.5])
    if rtstate.HAVE_PINT:
        with pytest.raises(ValueError, match="position_setpoint"):
            w.update_command(position_setpoint=rtstate.Q_(np.zeros(3), "m/s"))


def test_set_gains_maps_dart_names():
    w = RealTimeControlWrapper()
    w.set_gains(kp_pos=[2.0, 2.0, 3.0], ki_pos=0.1, kd_pos=0.0, kp_att=8.0, ki_att=0.0, kd_att=0.1)
    g = w.get_gains()
    assert g["position"]["kp"] == [2.0, 2.0, 3.0]
    assert g["position"]["ki"] == [0.1] * 3
    assert g["attitude"]["kp"] == [8.0] * 3
    assert g["attitude"]["kd"] == [0.1] * 3
    w.set_gains(kp_vel=3.0)
    assert w.get_gains()["velocity"]["kp"] == [3.0] * 3
    assert w.get_gains()["position"]["kp"] == [2.0, 2.0, 3.0]
    with pytest.raises(ValueError):
        w.set_gains(kp_pos=-1.0)
    with pytest.raises(ValueError, match="kp_att"):
        w.set_gains(kp_att=[1.0, 2.0])


def test_callbacks_errors_and_error_callback():
    w = RealTimeControlWrapper(frequency_hz=500.0)
    states, commands, errors = [], [], []

    def on_command(cmd):
        commands.append(cmd)
        if len(commands) == 3:
            raise ValueError("bad command handler")

    w.set_state_update_callback(states.append)
    w.set_command_update_callback(on_command)
    w.set_error_callback(errors.append)
    w.update_state(DroneState(position=[0.0, 0.0, 1.0]), "test")
    w.start()
    try:
        assert wait_until(lambda: len(commands) >= 10)
        assert w.is_running()  # the loop goes on
    finally:
        w.stop()
    assert set(commands[0]) >= {"thrust", "roll_rate", "pitch_rate", "yaw_rate", "timestamp"}
    assert len(states) == 1 and isinstance(states[0], DroneState)
    assert errors == ["ValueError: bad command handler"]
    s = w.get_combined_stats()
    assert s["wrapper"]["errors"] == 1
    assert s["control_loop"]["errors"] == 1
    with pytest.raises(CallbackError) as info:
        w.raise_last_error()
    assert isinstance(info.value.__cause__, ValueError)


def test_wrapper_waits_and_reads_through_its_buffer():
    buf = FastDroneStateBuffer()
    w = RealTimeControlWrapper(state_buffer=buf)
    assert w.state_buffer is buf
    threading.Timer(0.05, lambda: buf.update_state(DroneState(timestamp=5.0), "late")).start()
    snap = w.wait_for_state_update(timeout=5.0)
    assert snap is not None and snap.version == 1
    assert w.get_state_at_time(5.0, max_age=0.1).version == 1
    assert w.get_state_at_time(50.0) is None

    async def later():
        threading.Timer(0.05, lambda: buf.update_state(DroneState(timestamp=6.0))).start()
        return await w.wait_for_state_update_async(timeout=5.0)

    snap = asyncio.run(later())
    assert snap is not None and snap.version == 2


def test_wrapper_on_a_drone_state_buffer_mirrors_for_the_autopilot():
    w = RealTimeControlWrapper(use_fast_state=False)
    assert type(w.state_buffer).__name__ == "DroneStateBuffer"
    v = w.update_state(rtstate.FastDroneState(timestamp=1.0, position=[0, 0, 1]), "x")
    assert v == 1
    assert isinstance(w.get_latest_state().state, DroneState)
    w.start()
    try:
        assert wait_until(lambda: w.get_latest_command() is not None)
    finally:
        w.stop()
    with pytest.raises(TypeError):
        RealTimeControlWrapper(state_buffer=object())


# ------------------------------------------------------------------ demo --


@pytest.mark.parametrize("extra", [[], ["--python-controller"]])
def test_demo_runs_non_interactively(extra):
    proc = subprocess.run(
        [sys.executable, "-m", "rtstate", "demo", "--duration", "2", *extra],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for line in (
        "=== summary:",
        "control loop:",
        "lateness: p50",
        "overruns:",
        "versions published:",
        "stale reads:",
        "real-time settings:",
        "final position:",
        "uorb top:",
        "estimate",
    ):
        assert line in out, out
