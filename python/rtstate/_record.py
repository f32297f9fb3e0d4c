"""Recording buffers to MCAP and replaying them: ``rtstate.Recorder`` and the
``rtstate record`` / ``rtstate replay`` commands.

A recording has one channel per buffer (topic = the buffer's name), JSON
messages ``{"version", "seq", "source", "timestamp", "publish_time",
"state": {field: value}}`` with a JSON schema made from the buffer's layout;
a ``FastDroneState`` buffer also gets ``<name>/tf`` (``foxglove.FrameTransform``,
``world`` -> ``base_link``) and ``<name>/pose`` (``foxglove.PoseInFrame``), so
Foxglove's 3D panel shows the vehicle. Open the file in Foxglove (File ->
Open local file) or read it with the ``mcap`` package.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Optional, TextIO, Union

from . import _rtstate

__all__ = ["Recorder", "replay"]


def _pairs(buffers: Any) -> tuple[list[tuple[str, Any]], list[str]]:
    """``(name, buffer or shared name)`` pairs, and the manager's buffers left out."""
    pairs: list[tuple[str, Any]] = []
    skipped: list[str] = []
    if isinstance(buffers, _rtstate.StateManager):
        for name in buffers.names():
            b = buffers.get_buffer(name)
            if isinstance(b, _rtstate.FastDroneStateBuffer) or (
                b is not None and issubclass(b.state_type, _rtstate.DroneState)
            ):
                pairs.append((name, b))
            else:
                skipped.append(name)
        return pairs, skipped
    if isinstance(buffers, (str, bytes)):
        raise TypeError("`buffers` expects a StateManager, a mapping or a list, got a single str")
    if isinstance(buffers, Mapping):
        return [(str(k), v) for k, v in buffers.items()], []
    if isinstance(buffers, Sequence):
        for i, b in enumerate(buffers):
            if isinstance(b, str):
                pairs.append((b, b))
            elif isinstance(b, _rtstate.SharedBuffer):
                pairs.append((b.name, b.name))
            else:
                raise TypeError(
                    f"`buffers[{i}]` is a {type(b).__name__}: a list holds shared buffers "
                    "(names or SharedBuffer); name in-process buffers with a dict"
                )
        return pairs, []
    raise TypeError(f"`buffers` expects a StateManager, a mapping or a list, got {type(buffers).__name__}")


def _directory_of(buffers: Any) -> Optional[str]:
    """The directory of the first ``SharedBuffer`` object of a list (it tells
    where its file is), else ``None``."""
    for b in buffers if isinstance(buffers, Sequence) and not isinstance(buffers, str) else ():
        if isinstance(b, _rtstate.SharedBuffer):
            return os.path.dirname(b.path)
    return None


class Recorder:
    """Records buffers into the MCAP file ``path`` on a thread of its own.

    ``buffers``: a ``StateManager`` (its ``FastDroneStateBuffer``s and
    ``DroneState`` buffers; the others are listed in ``skipped``), a dict
    ``{name: FastDroneStateBuffer, DroneState buffer or shared buffer
    name}`` (a ``DroneState`` is written as its ``FastDroneState`` twin,
    taken when it is published: the thread never needs the GIL), or a list
    of shared buffers (names or
    ``SharedBuffer`` objects, opened in ``directory`` or ``$RTSTATE_SHM_DIR``).
    In-process buffers are drained through one subscription each (queue
    ``queue``); shared ones are polled every ``poll_interval`` seconds from
    the recorder's thread. Writers never wait; publishes the recorder missed
    are counted as dropped, written into the file and warned about by
    ``stop()``. Publishes are recorded from ``start()`` on (buffers are
    attached at construction). The file is complete once ``stop()`` returns
    (it is written as ``path + ".partial"`` until then).

    >>> with Recorder("run.mcap", manager) as rec:  # doctest: +SKIP
    ...     run()
    >>> rec.statistics()["dropped"]  # doctest: +SKIP
    0
    """

    def __init__(
        self,
        path: Union[str, "os.PathLike[str]"],
        buffers: Any,
        *,
        directory: Optional[str] = None,
        poll_interval: float = 0.001,
        queue: int = 1024,
        foxglove: bool = True,
    ) -> None:
        pairs, skipped = _pairs(buffers)
        if directory is None:
            directory = _directory_of(buffers)
        if not pairs:
            raise ValueError("`buffers`: nothing to record")
        self._inner = _rtstate._Recorder(
            str(path), pairs, directory, float(poll_interval), int(queue), bool(foxglove)
        )
        self.path = str(path)
        self.skipped = skipped

    def start(self) -> "Recorder":
        """Creates the file and starts recording."""
        self._inner.start()
        return self

    def stop(self) -> dict[str, Any]:
        """Stops, finishes the file (summary and counts) and returns
        ``statistics()``; warns (``RuntimeWarning``) if publishes were dropped."""
        stats: dict[str, Any] = self._inner.stop()
        if stats["dropped"]:
            per = ", ".join(f"{n}: {b['dropped']}" for n, b in stats["buffers"].items() if b["dropped"])
            warnings.warn(
                f"rtstate recorder: {stats['dropped']} publishes DROPPED ({per}); recorded {stats['recorded']}",
                RuntimeWarning,
                stacklevel=2,
            )
        return stats

    def statistics(self) -> dict[str, Any]:
        """``{"path", "recorded", "dropped", "buffers": {name: {"recorded", "dropped"}}}``."""
        stats: dict[str, Any] = self._inner.statistics()
        return stats

    @property
    def running(self) -> bool:
        """Whether it records."""
        return bool(self._inner.running)

    def __enter__(self) -> "Recorder":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def replay(
    path: Union[str, "os.PathLike[str]"],
    *,
    rate: Optional[float] = 1.0,
    directory: Optional[str] = None,
    names: Optional[Sequence[str]] = None,
    into: Any = None,
) -> dict[str, Any]:
    """Publishes a recording into buffers: the recorded timing scaled by
    ``rate``, or as fast as possible with ``rate=None``; the states bit for
    bit, with their sources (the target buffers number the versions).

    Without ``into``: shared buffers of the recorded names (in ``directory``
    or ``$RTSTATE_SHM_DIR``; created with the recorded layout where
    missing), ``names`` picking some. With ``into``: in-process
    ``FastDroneStateBuffer``s, a ``StateManager`` (its buffers named like a
    recorded channel) or a dict ``{channel name: buffer}``.
    Returns ``{"published", "elapsed"}``. A truncated or foreign file, an
    unknown name or a buffer of another layout is an error (``ValueError``,
    ``TypeError``)."""
    if rate is not None and not (rate > 0 and rate != float("inf")):
        raise ValueError(f"`rate` must be a positive number, got {rate!r}")
    if into is not None:
        if isinstance(into, _rtstate.StateManager):
            recorded = set(_rtstate._recorded_channels(str(path)))
            pairs = [(n, into.get_buffer(n)) for n in into.names() if n in recorded]
            if not pairs:
                raise ValueError(f"`into`: no buffer of the manager is a channel of {path}")
        elif isinstance(into, Mapping):
            pairs = [(str(k), v) for k, v in into.items()]
        else:
            raise TypeError(f"`into` expects a StateManager or a dict, got {type(into).__name__}")
        done: dict[str, Any] = _rtstate._replay_into(str(path), pairs, rate)
        return done
    result: dict[str, Any] = _rtstate._replay(str(path), directory, list(names) if names else None, rate)
    return result


class _Stop(Exception):
    pass


def _on_term(signum: int, frame: Any) -> None:
    raise _Stop()


def cmd_record(args: argparse.Namespace, out: TextIO) -> int:
    names = list(args.names) or [e["name"] for e in _rtstate._shared_list(args.dir)]
    if not names:
        sys.stderr.write("rtstate record: no shared buffers to record\n")
        return 1
    rec = Recorder(args.output, names, directory=args.dir, poll_interval=args.poll)
    previous = signal.signal(signal.SIGTERM, _on_term)
    try:
        rec.start()
        out.write(f"recording {len(names)} buffer(s) to {args.output}: {', '.join(names)} (Ctrl-C to stop)\n")
        out.flush()
        deadline = None if args.duration is None else time.monotonic() + args.duration
        try:
            while deadline is None or time.monotonic() < deadline:
                time.sleep(0.05 if deadline is None else max(0.0, min(0.05, deadline - time.monotonic())))
        except (KeyboardInterrupt, _Stop):
            pass
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            stats = rec.stop()
    finally:
        signal.signal(signal.SIGTERM, previous)
    out.write(f"wrote {stats['path']}: {stats['recorded']} states, {stats['dropped']} dropped\n")
    for name, b in stats["buffers"].items():
        out.write(f"  {name}: {b['recorded']} recorded, {b['dropped']} dropped\n")
    if stats["dropped"]:
        sys.stderr.write(f"rtstate record: WARNING: {stats['dropped']} publishes DROPPED (recorder too slow)\n")
    out.flush()
    return 0


def cmd_replay(args: argparse.Namespace, out: TextIO) -> int:
    rate = None if args.max else args.rate
    r = replay(args.path, rate=rate, directory=args.dir, names=args.buffer or None)
    out.write(f"replayed {r['published']} states from {args.path} in {r['elapsed']:.3f}s\n")
    return 0


def add_parsers(add: Any) -> None:
    """Adds ``record`` and ``replay`` to the ``rtstate`` command's parser."""
    s = add("record", "record shared buffers to an MCAP file")
    s.add_argument("names", nargs="*", help="buffers to record (default: every shared buffer)")
    s.add_argument("-o", "--output", required=True, help="the MCAP file to write")
    s.add_argument("--duration", type=float, default=None, help="stop after S seconds (default: Ctrl-C/SIGTERM)")
    s.add_argument("--poll", type=float, default=0.001, help="seconds between polls when idle")
    s = add("replay", "publish a recording into shared buffers")
    s.add_argument("path", help="the MCAP file")
    g = s.add_mutually_exclusive_group()
    g.add_argument("--rate", type=float, default=1.0, help="speed factor of the recorded timing (default 1)")
    g.add_argument("--max", action="store_true", help="as fast as possible")
    s.add_argument("--buffer", action="append", help="replay only this buffer (repeatable)")
