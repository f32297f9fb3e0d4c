"""A live Foxglove view of buffers: ``rtstate.Server`` / ``rtstate.serve`` and
the ``rtstate serve`` command.

The server speaks the Foxglove WebSocket protocol (subprotocol
``foxglove.sdk.v1``): open Foxglove, *Open connection*, *Foxglove WebSocket*,
``ws://127.0.0.1:8765``. Every buffer is a channel with the same topic,
JSON schema and JSON messages as in an MCAP recording (``rtstate.Recorder``);
a ``FastDroneState`` buffer also gets ``<name>/tf``
(``foxglove.FrameTransform``) and ``<name>/pose`` (``foxglove.PoseInFrame``).
A client that subscribes gets the buffer's latest state at once, then every
publish.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from types import TracebackType
from typing import Any, Optional, TextIO

from . import _rtstate
from ._record import _Stop, _directory_of, _on_term, _pairs

__all__ = ["Server", "serve"]


class Server:
    """A Foxglove WebSocket server of buffers, running from construction
    until ``stop()`` (or the end of a ``with`` block).

    ``buffers``: a ``StateManager`` (its ``FastDroneStateBuffer``s and
    ``DroneState`` buffers; the others are listed in ``skipped``), a dict
    ``{name: FastDroneStateBuffer, DroneState buffer or shared buffer
    name}`` (a ``DroneState`` is written as its ``FastDroneState`` twin,
    taken when it is published: the thread never needs the GIL), or a list
    of shared buffers (names or
    ``SharedBuffer`` objects, opened in ``directory`` or
    ``$RTSTATE_SHM_DIR``); ``None``: every shared buffer. It binds ``host``
    (default ``127.0.0.1``, this machine only: another address exposes the
    buffers to the network) on ``port`` (0: a free one, see ``port``).
    In-process buffers are drained through one subscription each (queue
    ``queue``), shared ones polled every ``poll_interval`` seconds, from the
    server's own thread; writers never wait and publishes it missed are
    counted as dropped (``statistics()``). The server's threads never take
    the GIL.

    A port in use raises ``OSError`` naming ``host:port``; an unknown shared
    buffer ``FileNotFoundError``.

    >>> with Server(manager, port=0) as server:  # doctest: +SKIP
    ...     print(server.url)
    ws://127.0.0.1:41235
    """

    def __init__(
        self,
        buffers: Any = None,
        *,
        host: str = "127.0.0.1",
        port: int = 8765,
        directory: Optional[str] = None,
        poll_interval: float = 0.001,
        queue: int = 1024,
        foxglove: bool = True,
    ) -> None:
        if buffers is None:
            buffers = [e["name"] for e in _rtstate._shared_list(directory)]
        pairs, skipped = _pairs(buffers)
        if directory is None:
            directory = _directory_of(buffers)
        if not pairs:
            raise ValueError("`buffers`: nothing to serve")
        if not 0 <= int(port) <= 65535:
            raise ValueError(f"`port` must be 0 to 65535, got {port}")
        self._inner = _rtstate._Server(
            pairs, directory, str(host), int(port), float(poll_interval), int(queue), bool(foxglove)
        )
        self.skipped = skipped

    @property
    def port(self) -> int:
        """The bound port (the free one taken for ``port=0``)."""
        return int(self._inner.port)

    @property
    def host(self) -> str:
        """The bound host."""
        return str(self._inner.host)

    @property
    def url(self) -> str:
        """``ws://host:port``: what to open in Foxglove."""
        return str(self._inner.url)

    @property
    def names(self) -> list[str]:
        """The buffers served (the channels' topics; a drone state's
        ``/tf`` and ``/pose`` channels are not listed)."""
        return list(self._inner.names)

    @property
    def running(self) -> bool:
        """Whether it serves."""
        return bool(self._inner.running)

    @property
    def client_count(self) -> int:
        """The clients connected now."""
        return int(self._inner.client_count)

    def statistics(self) -> dict[str, Any]:
        """``{"streamed", "dropped", "buffers": {name: {"streamed", "dropped"}}}``:
        publishes drained and logged to the channels, and publishes missed."""
        stats: dict[str, Any] = self._inner.statistics()
        return stats

    def stop(self) -> dict[str, Any]:
        """Stops streaming (the thread is joined), closes the connections and
        the socket, and returns ``statistics()``. Calling it again returns
        the counts."""
        stats: dict[str, Any] = self._inner.stop()
        return stats

    def __enter__(self) -> "Server":
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"Server({self.url!r}, buffers={self.names!r}, running={self.running})"


def serve(
    buffers: Any = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    directory: Optional[str] = None,
    poll_interval: float = 0.001,
    queue: int = 1024,
    foxglove: bool = True,
) -> Server:
    """Starts a ``Server`` (see there) and returns it; ``stop()`` it, or use
    it in a ``with`` block."""
    return Server(
        buffers,
        host=host,
        port=port,
        directory=directory,
        poll_interval=poll_interval,
        queue=queue,
        foxglove=foxglove,
    )


def cmd_serve(args: argparse.Namespace, out: TextIO) -> int:
    names = list(args.names) or [e["name"] for e in _rtstate._shared_list(args.dir)]
    if not names:
        sys.stderr.write("rtstate serve: no shared buffers to serve\n")
        return 1
    try:
        server = Server(names, host=args.host, port=args.port, directory=args.dir, poll_interval=args.poll)
    except FileNotFoundError:
        raise
    except OSError as e:
        sys.stderr.write(f"rtstate serve: {e.strerror or e}\n")
        return 1
    previous = signal.signal(signal.SIGTERM, _on_term)
    try:
        out.write(f"serving {len(names)} buffer(s) on {server.url}: {', '.join(names)}\n")
        out.write(f"open Foxglove -> Open connection -> Foxglove WebSocket -> {server.url} (Ctrl-C to stop)\n")
        out.flush()
        deadline = None if args.duration is None else time.monotonic() + args.duration
        try:
            while deadline is None or time.monotonic() < deadline:
                time.sleep(0.05 if deadline is None else max(0.0, min(0.05, deadline - time.monotonic())))
        except (KeyboardInterrupt, _Stop):
            pass
        stats = server.stop()
    finally:
        signal.signal(signal.SIGTERM, previous)
    out.write(f"stopped: {stats['streamed']} states streamed, {stats['dropped']} dropped\n")
    out.flush()
    return 0


def add_parser(add: Any) -> None:
    """Adds ``serve`` to the ``rtstate`` command's parser."""
    s = add("serve", "a live Foxglove WebSocket view of shared buffers")
    s.add_argument("names", nargs="*", help="buffers to serve (default: every shared buffer)")
    s.add_argument("--port", type=int, default=8765, help="port (default 8765; 0: a free one)")
    s.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1, this machine only; 0.0.0.0 exposes the buffers)",
    )
    s.add_argument("--duration", type=float, default=None, help="stop after S seconds (default: Ctrl-C/SIGTERM)")
    s.add_argument("--poll", type=float, default=0.001, help="seconds between polls when idle")
