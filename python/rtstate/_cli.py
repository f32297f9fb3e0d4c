"""The ``rtstate`` command: introspection of shared-memory buffers.

``rtstate list``  every shared buffer: name, layout, version, writer pid and
                  whether it runs, age of the latest state.
``rtstate top``   a table refreshed every second: updates/s, readers, reads/s,
                  lost, stale reads, age (PX4's ``uorb top``).
``rtstate echo NAME [--once | --count N]``
                  prints each new state field by field, decoded from the
                  layout recorded in the buffer.
``rtstate hz NAME [--window N] [--count N]``
                  publish rate with min/max/std of the period, from the
                  publisher's own publish times (not this tool's polling).
``rtstate clean [--invalid]``
                  removes the buffers no running process has open.
``rtstate bridge export NAME... --namespace NS`` / ``rtstate bridge mirror KEYEXPR``
                  runs the Zenoh bridge, the ``rtstate-bridge`` binary
                  (``$RTSTATE_BRIDGE``, else on ``PATH``, else in this
                  interpreter's scripts directory), with the rest of the
                  command line.
``rtstate record -o run.mcap [NAMES...]``
                  records shared buffers to MCAP until Ctrl-C or SIGTERM.
``rtstate replay run.mcap [--rate X | --max]``
                  publishes a recording into shared buffers.
``rtstate serve [--port 8765] [--host 127.0.0.1] [NAMES...]``
                  a live Foxglove WebSocket view of shared buffers until
                  Ctrl-C or SIGTERM (open ws://127.0.0.1:8765 in Foxglove).

Buffers live in ``$RTSTATE_SHM_DIR`` (default ``/dev/shm``); every command
takes ``--dir`` to look elsewhere. Also ``python -m rtstate <command>``.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import time
from typing import Any, Iterable, Optional, Sequence, TextIO

from . import _record, _rtstate, _serve

COMMANDS = ("list", "top", "echo", "hz", "clean", "record", "replay", "serve", "bridge")
"""Every subcommand :func:`main` runs (``python -m rtstate`` hands these to it,
so that it and the ``rtstate`` console script are one command)."""


def _age(seconds: Optional[float]) -> str:
    if seconds is None:
        return "-"
    if seconds < 1.0:
        return f"{seconds * 1e3:.1f}ms"
    if seconds < 120.0:
        return f"{seconds:.1f}s"
    if seconds < 7200.0:
        return f"{seconds / 60.0:.0f}min"
    if seconds < 172800.0:
        return f"{seconds / 3600.0:.0f}h"
    return f"{seconds / 86400.0:.0f}d"


def _open(name: str, directory: Optional[str]) -> Any:
    return _rtstate.open_shared(name, raw=True, directory=directory)


def _table(rows: Sequence[Sequence[str]], out: TextIO) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        out.write("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() + "\n")


def _latest_age(entry: dict[str, Any], directory: Optional[str]) -> Optional[float]:
    try:
        stats = _open(entry["name"], directory).get_statistics()
    except Exception:  # vanished or corrupted since the listing
        return None
    age = stats["latest_age"]
    return None if age is None else float(age)


def cmd_list(args: argparse.Namespace, out: TextIO) -> int:
    entries = _rtstate._shared_list(args.dir)
    if not entries:
        out.write(f"no shared buffers in {args.dir or _rtstate._shared_dir()}\n")
        return 0
    rows = [["NAME", "VERSION", "WRITER", "ALIVE", "AGE", "LAYOUT"]]
    for e in entries:
        if not e["valid"]:
            rows.append([e["name"], "-", "-", "-", "-", f"invalid: {e['error']}"])
            continue
        pid = str(e["writer_pid"]) if e["writer_pid"] else "-"
        rows.append(
            [
                e["name"],
                str(e["version"]),
                pid,
                "yes" if e["writer_alive"] else "no",
                _age(_latest_age(e, args.dir)),
                e["layout"],
            ]
        )
    _table(rows, out)
    return 0


def _format_value(value: Any) -> str:
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_format_value(v) for v in value) + "]"
    return str(value)


def _print_snapshot(snapshot: Any, out: TextIO) -> None:
    record = snapshot.state
    out.write(
        f"--- {snapshot.version}  timestamp={snapshot.timestamp!r}  "
        f"source={snapshot.source}\n"
    )
    for name in record.dtype.names:
        out.write(f"{name}: {_format_value(record[name])}\n")
    out.flush()


def cmd_echo(args: argparse.Namespace, out: TextIO) -> int:
    buffer = _open(args.name, args.dir)
    reader = buffer.reader()
    count = 1 if args.once else args.count
    printed = 0
    if args.once and buffer.version > 0:
        _print_snapshot(reader.read(), out)
        return 0
    deadline = None if args.timeout is None else time.monotonic() + args.timeout
    while count is None or printed < count:
        snapshot = reader.wait(timeout=0.5)
        if snapshot is not None:
            _print_snapshot(snapshot, out)
            printed += 1
        elif deadline is not None and time.monotonic() >= deadline:
            sys.stderr.write(f"rtstate echo: nothing published within {args.timeout}s\n")
            return 1
    return 0


def _period_stats(times: Sequence[float]) -> Optional[tuple[float, float, float, float]]:
    periods = [b - a for a, b in zip(times, times[1:])]
    if not periods:
        return None
    mean = statistics.fmean(periods)
    std = statistics.pstdev(periods) if len(periods) > 1 else 0.0
    return (1.0 / mean if mean > 0 else math.inf, min(periods), max(periods), std)


def cmd_hz(args: argparse.Namespace, out: TextIO) -> int:
    buffer = _open(args.name, args.dir)
    times: list[float] = []
    last = buffer.version
    reports = 0
    next_report = time.monotonic() + args.interval
    while args.count is None or reports < args.count:
        buffer.wait_for_update(timeout=0.2)
        for snapshot in buffer.get_history():
            if snapshot.version > last:
                times.append(snapshot.published_at)
                last = snapshot.version
        del times[: max(0, len(times) - args.window)]
        if time.monotonic() >= next_report:
            next_report += args.interval
            reports += 1
            s = _period_stats(times)
            if s is None:
                out.write("no new messages\n")
            else:
                rate, lo, hi, std = s
                out.write(
                    f"average rate: {rate:.3f}\n"
                    f"\tmin: {lo:.6f}s max: {hi:.6f}s std dev: {std:.6f}s "
                    f"window: {len(times)}\n"
                )
            out.flush()
    return 0


def _top_rows(
    before: dict[str, dict[str, Any]],
    after: Iterable[dict[str, Any]],
    dt: float,
    directory: Optional[str],
) -> list[list[str]]:
    rows = [["NAME", "UPDATES/S", "READS/S", "READERS", "PROCS", "LOST", "STALE", "AGE", "WRITER"]]
    for e in after:
        if not e["valid"]:
            continue
        b = before.get(e["name"], e)
        upd = max(0, e["version"] - b.get("version", 0)) / dt
        reads = max(0, e["reads"] - b.get("reads", 0)) / dt
        writer = f"{e['writer_pid']}" + ("" if e["writer_alive"] else " (dead)")
        rows.append(
            [
                e["name"],
                f"{upd:.1f}",
                f"{reads:.1f}",
                str(e["readers"]),
                str(e["processes"]),
                str(e["lost"]),
                str(e["stale_reads"]),
                _age(_latest_age(e, directory)),
                writer if e["writer_pid"] else "-",
            ]
        )
    return rows


def cmd_top(args: argparse.Namespace, out: TextIO) -> int:
    before = {e["name"]: e for e in _rtstate._shared_list(args.dir)}
    t0 = time.monotonic()
    iterations = 0
    while args.iterations is None or iterations < args.iterations:
        time.sleep(args.interval)
        after = _rtstate._shared_list(args.dir)
        t1 = time.monotonic()
        rows = _top_rows(before, after, t1 - t0, args.dir)
        if out.isatty():
            out.write("\x1b[H\x1b[2J")
        out.write(f"rtstate top  ({args.dir or _rtstate._shared_dir()})\n")
        _table(rows, out)
        out.flush()
        before = {e["name"]: e for e in after}
        t0 = t1
        iterations += 1
    return 0


def cmd_clean(args: argparse.Namespace, out: TextIO) -> int:
    removed = _rtstate._shared_clean(args.dir, args.invalid)
    for name in removed:
        out.write(f"removed {name}\n")
    if not removed:
        out.write("nothing to remove\n")
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rtstate", description="Inspect rtstate shared-memory buffers.")
    sub = p.add_subparsers(dest="command", required=True)

    def add(name: str, help: str) -> argparse.ArgumentParser:
        s = sub.add_parser(name, help=help)
        s.add_argument("--dir", help="buffer directory (default $RTSTATE_SHM_DIR or /dev/shm)")
        return s

    add("list", "list every shared buffer")
    s = add("top", "live table of every shared buffer")
    s.add_argument("--interval", type=float, default=1.0, help="seconds between refreshes")
    s.add_argument("--iterations", type=int, default=None, help="stop after N refreshes")
    s = add("echo", "print each new state of a buffer")
    s.add_argument("name")
    g = s.add_mutually_exclusive_group()
    g.add_argument("--once", action="store_true", help="print the latest state and exit")
    g.add_argument("--count", type=int, default=None, help="print N new states and exit")
    s.add_argument("--timeout", type=float, default=None, help="give up after S seconds with nothing new")
    s = add("hz", "publish rate of a buffer")
    s.add_argument("name")
    s.add_argument("--window", type=int, default=1000, help="periods kept for the statistics")
    s.add_argument("--interval", type=float, default=1.0, help="seconds between reports")
    s.add_argument("--count", type=int, default=None, help="stop after N reports")
    s = add("clean", "remove buffers no running process has open")
    s.add_argument("--invalid", action="store_true", help="also remove files that are not valid buffers")
    _record.add_parsers(add)
    _serve.add_parser(add)
    return p


def cmd_bridge(argv: Sequence[str]) -> int:
    """``rtstate bridge ...``: runs ``rtstate-bridge`` with ``argv``; its exit status."""
    exe = os.environ.get("RTSTATE_BRIDGE") or shutil.which("rtstate-bridge")
    if not exe:
        # Installed by `pip install ./crates/rtstate-zenoh` into this
        # interpreter's scripts directory (a virtualenv not activated).
        beside = os.path.join(sysconfig.get_path("scripts"), "rtstate-bridge")
        exe = beside if os.access(beside, os.X_OK) else None
    if not exe:
        sys.stderr.write(
            "rtstate bridge: the rtstate-bridge binary was not found; install it with "
            "`pip install ./crates/rtstate-zenoh` or `cargo install --path crates/rtstate-zenoh`, "
            "or set RTSTATE_BRIDGE\n"
        )
        return 127
    try:
        return subprocess.call([exe, *argv])
    except KeyboardInterrupt:
        return 130
    except OSError as e:
        sys.stderr.write(f"rtstate bridge: cannot run {exe}: {e}\n")
        return 127


def main(argv: Optional[Sequence[str]] = None, out: Optional[TextIO] = None) -> int:
    """Runs the ``rtstate`` command with ``argv`` (default ``sys.argv[1:]``)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] == "bridge":
        return cmd_bridge(argv[1:])
    args = _parser().parse_args(argv)
    out = sys.stdout if out is None else out
    command = {
        "list": cmd_list,
        "top": cmd_top,
        "echo": cmd_echo,
        "hz": cmd_hz,
        "clean": cmd_clean,
        "record": _record.cmd_record,
        "replay": _record.cmd_replay,
        "serve": _serve.cmd_serve,
    }[args.command]
    try:
        return command(args, out)
    except KeyboardInterrupt:
        return 130
    except (FileNotFoundError, ValueError, TypeError) as e:
        sys.stderr.write(f"rtstate {args.command}: {e}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())


def demo_processes(argv: Sequence[str], out: Optional[TextIO] = None) -> int:
    """``python -m rtstate demo --processes``: the estimator (a simulated
    vehicle, Python) in this process publishes ``demo/fast_state`` into
    shared memory; the controller, a Rust program
    (``examples/shared_controller.rs``, built by ``make demo``), runs in
    another process, reads it and publishes ``demo/command``, which this
    process applies to the vehicle. ``rtstate top`` in a third terminal
    shows both buffers while it runs."""
    import subprocess

    out = sys.stdout if out is None else out
    p = argparse.ArgumentParser(prog="python -m rtstate demo --processes")
    p.add_argument("--processes", action="store_true")
    p.add_argument("--duration", type=float, default=5.0, help="seconds")
    p.add_argument("--rate", type=float, default=200.0, help="estimator and controller rate, Hz")
    p.add_argument("--altitude", type=float, default=2.0, help="hover target, m (z up)")
    p.add_argument(
        "--controller",
        default=os.environ.get(
            "RTSTATE_CONTROLLER", os.path.join("target", "release", "examples", "shared_controller")
        ),
        help="the Rust controller binary (make demo builds it)",
    )
    args = p.parse_args(list(argv))
    if not os.path.exists(args.controller):
        sys.stderr.write(
            f"no controller binary at {args.controller}: run `make demo` (or "
            "`cargo build --release --example shared_controller`), or pass --controller\n"
        )
        return 2
    state_name, command_name = "demo/fast_state", "demo/command"
    for name in (state_name, command_name):  # leftovers of an earlier run
        try:
            _rtstate._shared_remove(name)
        except FileNotFoundError:
            pass
    fast = _rtstate.SharedBuffer(state_name, _FAST_DTYPE, buffer_size=8)
    sim = _rtstate.SimVehicle()

    def estimate() -> Any:
        # The simulated vehicle's true state, stamped with the wall clock
        # (so that every process judges its age).
        m = sim.measurement()
        return _rtstate.FastDroneState(
            time.time(), m.position, m.velocity, m.attitude, m.angular_velocity
        )

    fast.update_state(estimate(), source="estimator")
    controller = subprocess.Popen(
        [
            args.controller,
            "--state", state_name,
            "--command", command_name,
            "--rate", str(args.rate),
            "--duration", str(args.duration),
            "--target", f"0,0,{args.altitude}",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    dt = 1.0 / args.rate
    commands = None
    applied = 0
    try:
        next_tick = time.monotonic()
        while controller.poll() is None:
            if commands is None:
                try:
                    commands = _rtstate.open_shared(command_name)
                except (FileNotFoundError, ValueError):
                    pass
            snap = commands.get_latest_state() if commands is not None else None
            if snap is not None:
                c = snap.state
                sim.step(float(c["thrust"]), float(c["roll_rate"]), float(c["pitch_rate"]),
                         float(c["yaw_rate"]), dt=dt)
                applied += 1
            else:
                sim.step(0.0, dt=dt)
            fast.update_state(estimate(), source="estimator")
            next_tick += dt
            time.sleep(max(0.0, next_tick - time.monotonic()))
        report = controller.stdout.read() if controller.stdout else ""
    finally:
        if controller.poll() is None:
            controller.kill()
            controller.wait()
    latest = fast.get_latest_state()
    altitude = float(latest.state.position[2]) if latest is not None else math.nan
    out.write(report)
    out.write(
        f"estimator (Python, pid {os.getpid()}): {fast.version} states published, "
        f"{applied} commands applied; altitude {altitude:.2f} m "
        f"(target {args.altitude} m)\n"
    )
    stats = fast.get_statistics()
    out.write(f"demo/fast_state: reads {stats['reads']}, lost {stats['lost']}\n")
    del commands
    fast.close()
    del fast
    for name in (state_name, command_name):
        try:
            _rtstate._shared_remove(name)
        except FileNotFoundError:
            pass
    return 0 if controller.returncode == 0 else 1


_FAST_DTYPE = [
    ("timestamp", "<f8"),
    ("position", "<f8", (3,)),
    ("velocity", "<f8", (3,)),
    ("attitude", "<f8", (3,)),
    ("angular_velocity", "<f8", (3,)),
]
