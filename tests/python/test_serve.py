"""The live Foxglove WebSocket server (``rtstate.Server`` and ``rtstate
serve``) seen by a ``websockets`` client speaking ``foxglove.sdk.v1``: the
server info, one channel per buffer with the recorder's JSON schemas (a
drone state's tf/pose channels too), the latest state at once on
subscribe, then streamed publishes; shared buffers by name through the
command; a port in use and an unknown buffer. Servers bind 127.0.0.1 on a
free port (port 0)."""

from __future__ import annotations

import asyncio
import json
import signal
import struct
import subprocess
import sys
from typing import Any

import numpy as np
import pytest

import rtstate

ws_client = pytest.importorskip("websockets.asyncio.client")

# Generous: the machine is shared and noisy.
TIMEOUT = 30.0
POSE = np.dtype([("timestamp", "<f8"), ("xyz", "<f8", (3,)), ("n", "<i8")])
FAST = np.dtype(
    [
        ("timestamp", "<f8"),
        ("position", "<f8", (3,)),
        ("velocity", "<f8", (3,)),
        ("attitude", "<f8", (3,)),
        ("angular_velocity", "<f8", (3,)),
    ]
)


class Client:
    """A Foxglove WebSocket client: server info, channels by topic, message data."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.info: dict[str, Any] | None = None
        self.channels: dict[str, dict[str, Any]] = {}

    async def _frame(self) -> tuple[int, int, Any] | None:
        """Reads one frame: message data as ``(subscription, log_time, payload)``, else None."""
        frame = await asyncio.wait_for(self.ws.recv(), TIMEOUT)
        if isinstance(frame, str):
            msg = json.loads(frame)
            if msg["op"] == "serverInfo":
                self.info = msg
            elif msg["op"] == "advertise":
                for c in msg["channels"]:
                    self.channels[c["topic"]] = c
            return None
        assert frame[0] == 0x01, "only message data is expected"
        subscription, log_time = struct.unpack_from("<IQ", frame, 1)
        return subscription, log_time, json.loads(frame[13:])

    async def until_channels(self, n: int) -> None:
        while self.info is None or len(self.channels) < n:
            await self._frame()

    async def subscribe(self, subs: dict[int, str]) -> None:
        msg = {"op": "subscribe", "subscriptions": [{"id": i, "channelId": self.channels[t]["id"]} for i, t in subs.items()]}
        await self.ws.send(json.dumps(msg))

    async def next_of(self, subscription: int) -> tuple[int, Any]:
        while True:
            got = await self._frame()
            if got is not None and got[0] == subscription:
                return got[1], got[2]


class Note:
    """A state that is not drone-shaped: a server leaves its buffer out."""


def connect(port: int) -> Any:
    return ws_client.connect(f"ws://127.0.0.1:{port}", subprotocols=["foxglove.sdk.v1"], open_timeout=TIMEOUT)


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 4 * TIMEOUT))


def test_a_manager_is_advertised_and_a_subscriber_gets_the_latest_then_every_publish():
    manager = rtstate.StateManager()
    fast = rtstate.FastDroneStateBuffer(buffer_size=16)
    manager.register_buffer("drone/fast", fast)
    manager.register_buffer("drone/notes", rtstate.ThreadSafeStateBuffer(buffer_size=4, state_type=Note))
    fast.update_state(rtstate.FastDroneState(1.0e9, [1.0, 2.0, 3.0], attitude=[0.0, 0.0, 0.5]), source="est")

    async def client(server: rtstate.Server) -> None:
        async with connect(server.port) as ws:
            assert ws.subprotocol == "foxglove.sdk.v1"
            c = Client(ws)
            await c.until_channels(3)
            assert c.info is not None and c.info["name"] == "rtstate"
            assert c.info["capabilities"] == []  # view only: no client publish, parameters, services
            assert set(c.channels) == {"drone/fast", "drone/fast/tf", "drone/fast/pose"}
            state = c.channels["drone/fast"]
            assert state["encoding"] == "json"
            assert state["schemaName"] == "rtstate/drone/fast"
            assert state["schemaEncoding"] == "jsonschema"
            schema = json.loads(state["schema"])
            assert set(schema["properties"]["state"]["properties"]) == set(FAST.names)
            assert c.channels["drone/fast/tf"]["schemaName"] == "foxglove.FrameTransform"
            assert c.channels["drone/fast/pose"]["schemaName"] == "foxglove.PoseInFrame"

            # The latest state at once (published before the server started).
            await c.subscribe({1: "drone/fast", 2: "drone/fast/tf", 3: "drone/fast/pose"})
            log_time, m = await c.next_of(1)
            assert m["version"] == 1 and m["source"] == "est"
            assert m["state"]["position"] == [1.0, 2.0, 3.0]
            assert abs(log_time / 1e9 - m["publish_time"]) < 1e-3
            _, tf = await c.next_of(2)
            assert (tf["parent_frame_id"], tf["child_frame_id"]) == ("world", "base_link")
            assert tf["translation"] == {"x": 1.0, "y": 2.0, "z": 3.0}
            assert abs(tf["rotation"]["z"] - np.sin(0.25)) < 1e-12
            _, pose = await c.next_of(3)
            assert pose["frame_id"] == "world" and pose["pose"]["position"]["z"] == 3.0

            # Then every publish, in order.
            for i in range(2, 7):
                fast.update_state(rtstate.FastDroneState(1.0e9 + i, [float(i), 0.0, 0.0]), source="est")
            for i in range(2, 7):
                _, m = await c.next_of(1)
                assert m["version"] == i and m["state"]["position"][0] == float(i)

    with rtstate.serve(manager, port=0) as server:
        assert server.skipped == ["drone/notes"]
        assert server.names == ["drone/fast"]
        assert server.port != 0 and server.url == f"ws://127.0.0.1:{server.port}"
        assert server.running
        run(client(server))
        stats = server.statistics()
    assert not server.running
    assert stats["streamed"] == 5 and stats["dropped"] == 0
    assert stats["buffers"]["drone/fast"] == {"streamed": 5, "dropped": 0}
    assert server.stop() == stats


def test_the_serve_command_serves_shared_buffers_by_name_until_sigterm(tmp_path):
    d = str(tmp_path)
    pose = rtstate.SharedBuffer("robot/pose", POSE, buffer_size=64, directory=d)
    fast = rtstate.SharedBuffer("drone1/fast", FAST, buffer_size=64, directory=d)
    pose.update_state((5.0, [1.0, 2.0, 3.0], 7), source="odo")
    p = subprocess.Popen(
        [sys.executable, "-m", "rtstate", "serve", "--port", "0", "--dir", d, "robot/pose", "drone1/fast"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = p.stdout.readline()
        assert line.startswith("serving 2 buffer(s) on ws://127.0.0.1:"), line + p.stderr.read()
        port = int(line.split("ws://127.0.0.1:")[1].split(":")[0])

        async def client() -> None:
            async with connect(port) as ws:
                c = Client(ws)
                await c.until_channels(4)
                assert set(c.channels) == {"robot/pose", "drone1/fast", "drone1/fast/tf", "drone1/fast/pose"}
                schema = json.loads(c.channels["robot/pose"]["schema"])
                assert set(schema["properties"]["state"]["properties"]) == {"timestamp", "xyz", "n"}
                await c.subscribe({1: "robot/pose", 2: "drone1/fast/pose"})
                _, m = await c.next_of(1)
                assert m["version"] == 1 and m["source"] == "odo"
                assert m["state"] == {"timestamp": 5.0, "xyz": [1.0, 2.0, 3.0], "n": 7}
                row = {"timestamp": 6.0, "position": [4.0, 5.0, 6.0], "velocity": [0, 0, 0], "attitude": [0, 0, 0], "angular_velocity": [0, 0, 0]}
                fast.update_state(row, source="sim")
                _, posed = await c.next_of(2)
                assert posed["pose"]["position"] == {"x": 4.0, "y": 5.0, "z": 6.0}
                pose.update_state((6.0, [0.0, 0.0, 0.0], 8), source="odo")
                _, m = await c.next_of(1)
                assert m["version"] == 2 and m["state"]["n"] == 8

        run(client())
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, err
    assert "stopped: 2 states streamed, 0 dropped" in out


def test_bad_input_is_a_clear_error(tmp_path):
    d = str(tmp_path)
    rtstate.SharedBuffer("robot/pose", POSE, buffer_size=4, directory=d)
    with rtstate.Server(["robot/pose"], directory=d, port=0) as server:
        # A port in use: OSError naming the address, from the API and the command.
        with pytest.raises(OSError, match=f"127.0.0.1:{server.port}"):
            rtstate.Server(["robot/pose"], directory=d, port=server.port)
        r = subprocess.run(
            [sys.executable, "-m", "rtstate", "serve", "--port", str(server.port), "--dir", d, "robot/pose"],
            capture_output=True, text=True, timeout=120,
        )
        assert r.returncode == 1 and f"127.0.0.1:{server.port}" in r.stderr, r.stderr
    # An unknown buffer.
    with pytest.raises(FileNotFoundError, match="absent"):
        rtstate.Server(["absent"], directory=d, port=0)
    r = subprocess.run(
        [sys.executable, "-m", "rtstate", "serve", "--port", "0", "--dir", d, "absent"],
        capture_output=True, text=True, timeout=120,
    )
    assert r.returncode == 1 and "absent" in r.stderr, r.stderr
    # Other bad arguments.
    with pytest.raises(TypeError, match="holds .*Note objects"):
        rtstate.Server({"d": rtstate.ThreadSafeStateBuffer(state_type=Note)}, port=0)
    with pytest.raises(ValueError):
        rtstate.Server(["robot/pose"], directory=d, port=70000)
    with pytest.raises(ValueError):
        rtstate.Server([], port=0)


def test_a_drone_state_buffer_is_served_as_its_fast_twin():
    slow = rtstate.DroneStateBuffer(buffer_size=4)
    slow.update_state(
        rtstate.DroneState(timestamp=3.0e9, position=[4.0, 5.0, 6.0], velocity=[0.0] * 3, attitude=[0.0] * 3, angular_velocity=[0.0] * 3),
        source="est",
    )

    async def client(server: rtstate.Server) -> None:
        async with connect(server.port) as ws:
            c = Client(ws)
            await c.until_channels(3)
            assert set(c.channels) == {"drone/slow", "drone/slow/tf", "drone/slow/pose"}
            await c.subscribe({1: "drone/slow", 2: "drone/slow/tf"})
            _, m = await c.next_of(1)
            assert m["version"] == 1 and m["state"]["position"] == [4.0, 5.0, 6.0]
            _, tf = await c.next_of(2)
            assert tf["translation"] == {"x": 4.0, "y": 5.0, "z": 6.0}
            slow.update_state(
                rtstate.DroneState(timestamp=3.0e9 + 1, position=[7.0, 5.0, 6.0], velocity=[0.0] * 3, attitude=[0.0] * 3, angular_velocity=[0.0] * 3),
                source="est",
            )
            _, m = await c.next_of(1)
            assert m["version"] == 2 and m["state"]["position"][0] == 7.0

    with rtstate.serve({"drone/slow": slow}, port=0) as server:
        run(client(server))
    with pytest.raises(TypeError, match="notes.*Note"):
        rtstate.serve({"notes": rtstate.ThreadSafeStateBuffer(state_type=Note)}, port=0)
