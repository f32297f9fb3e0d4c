"""``python -m rtstate demo``: a simulated quadrotor flown at 1 kHz.

- The vehicle is the Rust simulation (:class:`rtstate.SimVehicle`), stepped
  by a Rust loop at 1 kHz with the controller's latest command. World frame
  z up (the README's conventions): the setpoints are metres above ground.
- A noisy Python estimator at 100 Hz (a native :class:`ControlLoop` running
  a Python callable, through :class:`StateEstimatorController`) reads the
  true state, adds Gaussian noise, publishes a ``DroneState`` into a
  ``DroneStateBuffer`` and (converted) into the controller.
- The controller is the built-in Rust autopilot of
  :class:`RealTimeControlWrapper` at ``--rate`` Hz (no Python in its loop),
  or with ``--python-controller`` a simple Python PID in a native
  ``ControlLoop``, to show the difference.
- An asyncio telemetry task subscribes to the estimate buffer and prints a
  live status line at about 5 Hz; a summary follows, with the ``uorb top``
  table of every buffer.

It runs without root: SCHED_FIFO and a 1 µs timer slack are requested under
the ``warn`` policy, and the summary says which were applied.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
import threading
import time
from typing import Any, Dict, List, Optional, Sequence, TextIO

import numpy as np

from ._control import StateEstimatorController
from ._record import Recorder
from . import (
    ControlLoop,
    DroneState,
    DroneStateBuffer,
    FastDroneStateBuffer,
    RealTimeControlWrapper,
    SimVehicle,
    StateManager,
)

SETPOINTS = ((2.0, -1.0, 3.0), (0.0, 1.0, 2.0))
MASS, GRAVITY = 1.0, 9.81


class NoisyEstimator:
    """Reads the simulator's true state and adds Gaussian noise (σ: 2 cm,
    5 cm/s, 0.3°, 0.6°/s); publishes each estimate into ``buffer``."""

    def __init__(self, sim: SimVehicle, buffer: DroneStateBuffer, seed: int = 1) -> None:
        self.sim = sim
        self.buffer = buffer
        self.rng = np.random.default_rng(seed)
        self.latest: Optional[DroneState] = None

    def update(self) -> None:
        truth = self.sim.measurement()
        n = self.rng.normal
        state = DroneState(
            timestamp=time.time(),
            position=truth.position + n(0.0, 0.02, 3),
            velocity=truth.velocity + n(0.0, 0.05, 3),
            attitude=truth.attitude + n(0.0, 0.005, 3),
            angular_velocity=truth.angular_velocity + n(0.0, 0.01, 3),
        )
        self.buffer.update_state(state, "estimator")
        self.latest = state

    def get_latest(self) -> Optional[DroneState]:
        return self.latest


def _clamp(x: float, lim: float) -> float:
    return max(-lim, min(lim, x))


class PythonPID:
    """A simple cascaded PID in Python (position P → velocity PI → tilt and
    thrust → attitude P → body rates), run by a native ``ControlLoop``. It
    has the parts of the wrapper's interface that the demo and
    :class:`StateEstimatorController` use."""

    def __init__(self, sim: SimVehicle, frequency_hz: float) -> None:
        self.sim = sim
        self.frequency_hz = frequency_hz
        self.dt = 1.0 / frequency_hz
        self.state_buffer = FastDroneStateBuffer()
        self.setpoint = np.zeros(3)
        self.integral = np.zeros(3)
        self.commands = 0
        self.loop = ControlLoop(
            self._tick, frequency_hz, priority=80, timer_slack_ns=1000, realtime_policy="warn"
        )

    def update_state(self, state: Any, source: str = "external") -> int:
        return int(self.state_buffer.update_state(state, source))

    def update_command(self, position_setpoint: Sequence[float]) -> None:
        self.setpoint = np.asarray(position_setpoint, dtype=float)

    def _tick(self) -> None:
        snap = self.state_buffer.get_latest_state()
        if snap is None:
            return
        s = snap.state
        p, v, att = s.position, s.velocity, s.attitude
        v_sp = np.clip(1.2 * (self.setpoint - p), [-3, -3, -2], [3, 3, 2])
        e_v = v_sp - v
        self.integral = np.clip(self.integral + e_v * self.dt * [1.0, 1.0, 2.0], -3.0, 3.0)
        a = np.clip(np.array([2.5, 2.5, 4.0]) * e_v + self.integral, -6.0, 6.0)
        roll, pitch, yaw = float(att[0]), float(att[1]), float(att[2])
        cy, sy = math.cos(yaw), math.sin(yaw)
        ax, ay = cy * a[0] + sy * a[1], -sy * a[0] + cy * a[1]
        up = GRAVITY + a[2]
        lim = math.radians(35.0)
        pitch_sp = _clamp(math.atan2(ax, up), lim)
        roll_sp = _clamp(math.atan2(-ay, up), lim)
        thrust = MASS * up / max(0.2, math.cos(roll) * math.cos(pitch))
        yaw_err = math.atan2(math.sin(-yaw), math.cos(-yaw))
        self.sim.set_command(
            min(max(thrust, 0.0), 2.5 * MASS * GRAVITY),
            _clamp(7.0 * (roll_sp - roll), 4.0),
            _clamp(7.0 * (pitch_sp - pitch), 4.0),
            _clamp(3.0 * yaw_err, 2.0),
        )
        self.commands += 1

    def start(self) -> None:
        if not self.loop.is_running():
            self.loop.start()

    def stop(self, timeout: float = 1.0) -> None:
        self.loop.stop(timeout)

    def is_running(self) -> bool:
        return bool(self.loop.is_running())

    def get_control_stats(self) -> Dict[str, Any]:
        return dict(self.loop.get_stats())

    def get_combined_stats(self) -> Dict[str, Any]:
        return {
            "control_loop": self.get_control_stats(),
            "state_buffer": self.state_buffer.get_statistics(),
            "wrapper": {"commands_published": self.commands},
            "running": self.is_running(),
            "frequency_hz": self.frequency_hz,
        }


def _fmt_vec(v: Any) -> str:
    return "(" + ", ".join(f"{x:+6.2f}" for x in v) + ")"


def _rt_summary(settings: List[Dict[str, Any]]) -> str:
    if not settings:
        return "none requested"
    parts = []
    for s in settings:
        if s["applied"]:
            parts.append(f"{s['setting']} ({s['requested']}): applied")
        else:
            parts.append(f"{s['setting']} ({s['requested']}): NOT applied ({s['reason']})")
    return "; ".join(parts)


async def _telemetry(
    buffer: DroneStateBuffer,
    sim: SimVehicle,
    controller: Any,
    setpoint: List[np.ndarray],
    t0: float,
    duration: float,
    out: TextIO,
    counts: Dict[str, Any],
) -> None:
    """Prints a status line at ~5 Hz from the estimate buffer's updates."""
    tty = out.isatty()
    subscribe = getattr(buffer, "subscribe", None)
    queue: Any
    waiter: Optional[threading.Thread] = None
    stop = threading.Event()
    if subscribe is not None:
        queue = subscribe(64)
        counts["telemetry"] = "asyncio subscription (buffer.subscribe)"
    else:
        # No subscriptions in this build: wait_for_update in a thread,
        # handed to asyncio with call_soon_threadsafe.
        loop = asyncio.get_running_loop()
        queue = asyncio.Queue(maxsize=64)
        counts["telemetry"] = "wait_for_update in a thread (no buffer.subscribe)"

        def pump() -> None:
            while not stop.is_set():
                snap = buffer.wait_for_update(0.1)
                if snap is not None:
                    loop.call_soon_threadsafe(_put_drop_oldest, queue, snap)

        waiter = threading.Thread(target=pump, name="telemetry-pump", daemon=True)
        waiter.start()
    last_print = 0.0
    try:
        while time.monotonic() - t0 < duration:
            try:
                await asyncio.wait_for(queue.get(), timeout=0.2)
                counts["received"] += 1
            except asyncio.TimeoutError:
                pass
            now = time.monotonic()
            if now - last_print < 0.2:
                continue
            last_print = now
            buffer.get_state_at_time(time.time(), max_age=0.015)
            pos = sim.measurement().position
            err = float(np.linalg.norm(pos - setpoint[0]))
            st = controller.get_control_stats()
            line = (
                f"t={now - t0:5.2f}s pos={_fmt_vec(pos)} m err={err:5.2f} m "
                f"loop={st['frequency_actual_hz']:7.1f} Hz "
                f"late_p99={st['lateness_ms']['p99']:.3f} ms"
            )
            out.write(("\r" + line) if tty else (line + "\n"))
            out.flush()
    finally:
        stop.set()
        if subscribe is not None:
            unsubscribe = getattr(buffer, "unsubscribe", None)
            if unsubscribe is not None:
                unsubscribe(queue)
        if waiter is not None:
            waiter.join(timeout=1.0)
        if tty:
            out.write("\n")


def _put_drop_oldest(queue: "asyncio.Queue[Any]", item: Any) -> None:
    if queue.full():
        queue.get_nowait()
    queue.put_nowait(item)


def run(
    duration: float = 10.0,
    rate: float = 1000.0,
    python_controller: bool = False,
    out: TextIO = sys.stdout,
    mcap_path: Optional[str] = None,
    png_path: Optional[str] = None,
) -> Dict[str, Any]:
    """Runs the demo; prints the live status and the summary to ``out``;
    returns the summary figures. ``mcap_path``: record the controller's
    state buffer there (``rtstate.Recorder``); ``png_path`` (with
    ``mcap_path``): then draw the recorded trajectory against its setpoints
    and the control loop's period histogram beside a ``time.sleep`` loop's."""
    sim = SimVehicle(MASS, GRAVITY, drag=0.1)
    estimate = DroneStateBuffer(buffer_size=32)
    controller: Any
    if python_controller:
        controller = PythonPID(sim, rate)
        mode = "Python PID in a native ControlLoop"
    else:
        controller = RealTimeControlWrapper(
            frequency_hz=rate, priority=80, timer_slack_ns=1000, realtime_policy="warn"
        )
        mode = "Rust autopilot (RealTimeControlWrapper)"
    manager = StateManager()
    manager.register_buffer("estimate", estimate)
    manager.register_buffer("controller_state", controller.state_buffer)
    estimator = NoisyEstimator(sim, estimate)
    integration = StateEstimatorController(estimator, controller, update_frequency_hz=100.0)
    setpoint = [np.array(SETPOINTS[0])]
    controller.update_command(position_setpoint=SETPOINTS[0])

    out.write(
        f"rtstate demo: {mode} at {rate:g} Hz, noisy estimator at 100 Hz, "
        f"sim at 1 kHz, {duration:g} s; setpoint {SETPOINTS[0]} m, "
        f"then {SETPOINTS[1]} m at {duration / 2:g} s\n"
    )
    out.flush()
    counts: Dict[str, Any] = {"received": 0}

    async def main() -> None:
        t0 = time.monotonic()

        async def switch() -> None:
            await asyncio.sleep(duration / 2)
            setpoint[0] = np.array(SETPOINTS[1])
            controller.update_command(position_setpoint=SETPOINTS[1])

        task = asyncio.create_task(switch())
        await _telemetry(estimate, sim, controller, setpoint, t0, duration, out, counts)
        task.cancel()

    recorder = None
    if mcap_path is not None:
        recorder = Recorder(mcap_path, {"controller_state": controller.state_buffer}).start()
    switch_wall = time.time() + duration / 2
    if python_controller:
        sim.start(1000.0)
    else:
        sim.start(1000.0, controller=controller)
    integration.start()
    try:
        asyncio.run(main())
    finally:
        integration.stop()
        sim.stop()
        record_stats = recorder.stop() if recorder is not None else None

    st = controller.get_control_stats()
    est_stats = integration.get_statistics()["estimator_loop"]
    bufs = manager.get_all_statistics()
    truth = sim.measurement().position
    final_error = float(np.linalg.norm(truth - setpoint[0]))
    if python_controller:
        commands = controller.commands
    else:
        commands = controller.get_combined_stats()["wrapper"]["commands_published"]
    late = st["lateness_ms"]
    stale = sum(int(b["stale_reads"]) for b in bufs.values())
    dropped = sum(int(b.get("dropped", 0)) for b in bufs.values())
    versions = ", ".join(f"{n} {int(b['current_version'])}" for n, b in bufs.items())
    lines = [
        f"=== summary: {mode} ===",
        f"control loop: {st['frequency_target_hz']:g} Hz target, "
        f"{st['frequency_actual_hz']:.1f} Hz achieved, {st['iteration_count']} ticks, "
        f"errors {st['errors']}",
        f"lateness: p50 {late['p50']:.3f} ms, p99 {late['p99']:.3f} ms, max {late['max']:.3f} ms",
        f"overruns: {st['overruns']}, missed ticks: {st['missed_ticks']}",
        f"estimator loop: {est_stats['frequency_actual_hz']:.1f} Hz, "
        f"{est_stats['iteration_count']} ticks, errors {est_stats['errors']}",
        f"versions published: {versions}, commands {commands}",
        f"stale reads: {stale}, dropped events: {dropped}, telemetry events received: "
        f"{counts['received']} via {counts.get('telemetry')}",
        f"real-time settings: {_rt_summary(st['real_time'])}",
        f"final position: {_fmt_vec(truth)} m, setpoint {_fmt_vec(setpoint[0])} m, "
        f"error {final_error:.3f} m",
        "uorb top:",
        manager.table().rstrip("\n"),
    ]
    picture = None
    if record_stats is not None:
        lines.append(
            f"recorded {record_stats['recorded']} states ({record_stats['dropped']} dropped) "
            f"to {os.path.abspath(record_stats['path'])}"
        )
        if png_path is not None:
            from ._demo_plot import make_png

            picture = make_png(str(mcap_path), png_path, "controller_state", SETPOINTS, switch_wall, rate)
            lines.append(
                f"ControlLoop (Python callback): {picture['loop_hz']:.0f} Hz achieved, period p50 "
                f"{picture['loop_p50_ms']:.3f} ms, p99 {picture['loop_p99_ms']:.3f} ms; time.sleep loop: "
                f"{picture['sleep_hz']:.0f} Hz, p50 {picture['sleep_p50_ms']:.3f} ms, p99 {picture['sleep_p99_ms']:.3f} ms"
            )
            lines.append(f"wrote {os.path.abspath(png_path)}")
        lines.append(f"wrote {os.path.abspath(str(mcap_path))} (open it in Foxglove: File > Open local file)")
    out.write("\n".join(lines) + "\n")
    out.flush()
    return {
        "recording": record_stats,
        "picture": picture,
        "control_stats": st,
        "estimator_stats": est_stats,
        "buffers": bufs,
        "final_error_m": final_error,
        "commands": commands,
    }


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rtstate demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds to fly (default 10)")
    parser.add_argument("--rate", type=float, default=1000.0, help="controller rate, Hz (default 1000)")
    parser.add_argument(
        "--python-controller",
        action="store_true",
        help="run a Python PID in a native ControlLoop instead of the Rust autopilot",
    )
    parser.add_argument("--mcap", default=None, help="record the flight to this MCAP file")
    parser.add_argument("--png", default=None, help="with --mcap: draw the flight and loop periods to this PNG")
    args = parser.parse_args(argv)
    if args.png is not None and args.mcap is None:
        parser.error("--png needs --mcap")
    try:
        run(args.duration, args.rate, args.python_controller, mcap_path=args.mcap, png_path=args.png)
    except KeyboardInterrupt:
        sys.stdout.write("\ninterrupted\n")
        return 130
    return 0
