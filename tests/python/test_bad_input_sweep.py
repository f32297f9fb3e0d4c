"""A systematic bad-input sweep over the public Python API.

Every public constructor, factory and method that takes an argument is
called with each value of a catalogue (NaN, infinities, None, bools, wrong
types, strings with surrogates, wrong shapes, wrong units, huge and
negative sizes, ...) in the place of one argument, the other arguments
being valid. Each outcome is classified:

- ``rejected``: a ``ValueError``, ``TypeError`` or ``KeyError`` (pint's and
  rtstate's ``DimensionalityError`` is a ``ValueError``) whose message names
  the argument as the caller wrote it (or, for a field of a state, the
  field);
- ``accepted``: the value is a valid one for that argument, and the call
  returned (and, for a publish, published exactly one version);
- anything else is a failure: a valid value refused, an invalid value
  accepted, another exception type (``PanicException``, ``SystemError``,
  ``OverflowError``, ...), or an error that does not name the argument.

After every rejected call on a buffer or a manager, the buffer's version,
latest snapshot and history are checked to be unchanged.

``python tests/python/test_bad_input_sweep.py`` prints the counts by outcome.
"""

from __future__ import annotations

import asyncio
import inspect
import math
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np
import pytest

import rtstate
from rtstate import (
    Accel,
    DroneState,
    DroneStateBuffer,
    EstimatedState,
    FastDroneState,
    FastDroneStateBuffer,
    Pose,
    Q_,
    StateManager,
    StateSnapshot,
    ThreadSafeStateBuffer,
    Twist,
)

nan, inf = math.nan, math.inf


class QuantityLike:
    """Has `magnitude` and `units` but is not a pint quantity."""

    magnitude = [1.0, 2.0, 3.0]
    units = "m"


class Unrelated:
    pass


# label -> value. Values valid for a kind of argument are listed in GOOD.
CATALOGUE: dict[str, Any] = {
    "nan": nan,
    "inf": inf,
    "-inf": -inf,
    "None": None,
    "True": True,
    "False": False,
    "numpy bool": np.bool_(True),
    "zero": 0,
    "int 5": 5,
    "negative int": -1,
    "negative float": -0.5,
    "float": 1.5,
    "numpy int": np.int64(3),
    "10**12": 10**12,
    "2**62": 2**62,
    "2**200": 2**200,
    "complex": 1 + 1j,
    "str": "abc",
    "numeric str": "1.5",
    "empty str": "",
    "surrogate str": "\ud800",
    "bytes": b"abc",
    "empty list": [],
    "list of 1": [1.0],
    "list of 2": [1.0, 2.0],
    "list of 3": [1.0, 2.0, 3.0],
    "list of 4": [0.5, 0.5, 0.5, 0.5],
    "nested list": [[1.0, 2.0, 3.0]],
    "str list": ["1", "2", "3"],
    "None list": [None, 1.0, 2.0],
    "bool list": [True, False, True],
    "complex list": [1j, 0.0, 0.0],
    "nan list": [nan, 0.0, 0.0],
    "inf list": [inf, 0.0, 0.0],
    "zero quaternion": [0.0, 0.0, 0.0, 0.0],
    "2d array": np.zeros((3, 3)),
    "int array": np.array([1, 2, 3]),
    "object array": np.array([1.0, None, 2.0], dtype=object),
    "complex array": np.array([1j, 0, 0]),
    "datetime64 array": np.array(["2020-01-01"] * 3, dtype="datetime64[D]"),
    "quantity m": Q_(np.array([1.0, 2.0, 3.0]), "m"),
    "quantity m/s": Q_(np.array([1.0, 2.0, 3.0]), "m/s"),
    "quantity kg": Q_(np.array([1.0, 2.0, 3.0]), "kg"),
    "quantity s": Q_(1.0, "s"),
    "scalar quantity m": Q_(1.0, "m"),
    "scalar quantity rpm": Q_(5.0, "rpm"),
    "quantity-like": QuantityLike(),
    "dict": {"a": 1},
    "dict int keys": {1: 2},
    "set": {1.0, 2.0, 3.0},
    "object": Unrelated(),
    "a class": Unrelated,
    "lambda": lambda: 1.0,
    "eye 6": np.eye(6),
    "eye 5": np.eye(5),
}

T = {"zero", "int 5", "negative int", "negative float", "float", "numpy int", "10**12", "2**62", "2**200"}
GOOD: dict[str, set[str]] = {
    "vector m": {"None", "list of 3", "int array", "quantity m"},
    "vector m/s": {"None", "list of 3", "int array", "quantity m/s"},
    "vector unitless": {"None", "list of 3", "int array"},  # rad, rad/s: no quantity in the catalogue fits
    "rpms": {"None", "empty list", "list of 1", "list of 2", "list of 3", "list of 4", "zero quaternion", "int array"},
    "orientation": {"None", "list of 3", "list of 4", "int array"},
    "quaternion": {"list of 4"},
    "timestamp": {"None", "quantity s"} | T,
    "finite time": T,
    "optional time": {"None"} | T,
    "timeout": {"None", "inf"} | (T - {"negative int", "negative float"}),
    "max_age": T - {"negative int", "negative float"},
    "size": {"int 5", "numpy int"},
    "version": {"zero", "int 5", "numpy int", "10**12", "2**62"},
    "source": {"None", "str", "numeric str", "empty str"},
    "metadata": {"None", "dict"},
    "name": {"str", "numeric str", "empty str"},
    "state_type": {"None", "a class"},
    "clock": {"None", "a class", "lambda"},
    "bool": {"True", "False", "numpy bool"},
    "covariance": {"None", "eye 6"},
    "pose": {"None"},
    "state": set(),
    "callable": {"a class", "lambda"},
    "policy": set(),
    "subscription": set(),
    "buffer": set(),
}


@dataclass
class Target:
    """One argument of one callable."""

    name: str  # what the report shows
    argument: str  # the argument, as the caller writes it
    kind: str  # a key of GOOD
    call: Callable[[Any], Any]
    # the buffers whose history must not change on a rejection
    watch: Callable[[], list[Any]] = field(default=lambda: [])
    # publishes one version when it accepts
    publishes: bool = False
    # may block on a valid value (only invalid values are tried)
    blocks: bool = False
    # also accepted in messages for this argument (a state's field)
    also: tuple[str, ...] = ()
    # what an accepted value must produce: check(result, label) -> bool
    check: Optional[Callable[[Any, str], bool]] = None


def si(value):
    return np.asarray(getattr(value, "magnitude", value), dtype=float)


def field_is_123(field_name):
    """The field reads back as [1, 2, 3] (SI) for the catalogue's 3-vectors."""

    def check(result, label):
        if label not in {"list of 3", "int array", "quantity m", "quantity m/s"}:
            return True
        return bool(np.allclose(si(getattr(result, field_name)), [1.0, 2.0, 3.0]))

    return check


def timestamp_is(result, label):
    value = CATALOGUE[label]
    if label == "None":
        return math.isfinite(result.timestamp)
    expected = 1.0 if label == "quantity s" else float(value)
    return result.timestamp == expected


def size_is(result, label):
    return result.buffer_size == int(CATALOGUE[label])


def clock_is(result, label):
    return result.clock is CATALOGUE[label]


def fingerprint(buffer):
    latest = buffer.get_latest_state()
    return (
        buffer.version,
        None if latest is None else (latest.version, latest.timestamp, latest.source),
        tuple((s.version, s.timestamp) for s in buffer.get_history()),
    )


def primed(make, state):
    buffer = make()
    buffer.update_state(state, "setup", {"k": 1})
    return buffer


def drone(t=1.0):
    return DroneState(timestamp=t, position=[1.0, 2.0, 3.0])


def fast(t=1.0):
    return FastDroneState(timestamp=t, position=[1.0, 2.0, 3.0])


def state_targets() -> list[Target]:
    out = []
    vector_units = {
        "position": "vector m",
        "velocity": "vector m/s",
        "attitude": "vector unitless",
        "angular_velocity": "vector unitless",
    }
    for cls in (DroneState, FastDroneState):
        out.append(
            Target(f"{cls.__name__}(timestamp=)", "timestamp", "timestamp", lambda v, c=cls: c(timestamp=v), check=timestamp_is)
        )
        for f, kind in vector_units.items():
            out.append(
                Target(f"{cls.__name__}({f}=)", f, kind, lambda v, c=cls, f=f: c(timestamp=1.0, **{f: v}), check=field_is_123(f))
            )
        out.append(
            Target(f"{cls.__name__}.from_quaternion(quaternion=)", "quaternion", "quaternion", lambda v, c=cls: c.from_quaternion(v, timestamp=1.0))
        )
    out.append(Target("DroneState(motor_rpms=)", "motor_rpms", "rpms", lambda v: DroneState(timestamp=1.0, motor_rpms=v)))
    out.append(Target("FastDroneState.from_drone_state(state=)", "state", "state", lambda v: FastDroneState.from_drone_state(v)))
    out.append(Target("Pose(position=)", "position", "vector m", lambda v: Pose(position=v), check=field_is_123("position")))
    out.append(Target("Pose(orientation=)", "orientation", "orientation", lambda v: Pose(orientation=v)))
    for cls, units in ((Twist, "vector m/s"), (Accel, "vector unitless")):
        out.append(Target(f"{cls.__name__}(linear=)", "linear", units, lambda v, c=cls: c(linear=v), check=field_is_123("linear")))
        out.append(
            Target(f"{cls.__name__}(angular=)", "angular", "vector unitless", lambda v, c=cls: c(angular=v), check=field_is_123("angular"))
        )
    out.append(Target("EstimatedState(timestamp=)", "timestamp", "timestamp", lambda v: EstimatedState(timestamp=v)))
    for f in ("pose", "twist", "accel"):
        out.append(Target(f"EstimatedState({f}=)", f, "pose", lambda v, f=f: EstimatedState(timestamp=1.0, **{f: v})))
    out.append(Target("EstimatedState(covariance=)", "covariance", "covariance", lambda v: EstimatedState(timestamp=1.0, covariance=v)))
    out.append(Target("EstimatedState(source=)", "source", "source", lambda v: EstimatedState(timestamp=1.0, source=v)))
    out.append(Target("StateSnapshot(timestamp=)", "timestamp", "finite time", lambda v: StateSnapshot(None, v, 1)))
    out.append(Target("StateSnapshot(version=)", "version", "version", lambda v: StateSnapshot(None, 1.0, v)))
    out.append(Target("StateSnapshot(source=)", "source", "source", lambda v: StateSnapshot(None, 1.0, 1, source=v)))
    out.append(Target("StateSnapshot(metadata=)", "metadata", "metadata", lambda v: StateSnapshot(None, 1.0, 1, metadata=v)))
    out.append(Target("StateSnapshot(published_at=)", "published_at", "optional time", lambda v: StateSnapshot(None, 1.0, 1, published_at=v)))
    return out


def construction_targets() -> list[Target]:
    out = []
    for cls in (ThreadSafeStateBuffer, DroneStateBuffer, FastDroneStateBuffer):
        out.append(Target(f"{cls.__name__}(buffer_size=)", "buffer_size", "size", lambda v, c=cls: c(buffer_size=v), check=size_is))
        out.append(Target(f"{cls.__name__}(<positional buffer_size>)", "buffer_size", "size", lambda v, c=cls: c(v), check=size_is))
        out.append(Target(f"{cls.__name__}(clock=)", "clock", "clock", lambda v, c=cls: c(clock=v), check=clock_is))
    out.append(Target("ThreadSafeStateBuffer(state_type=)", "state_type", "state_type", lambda v: ThreadSafeStateBuffer(state_type=v)))
    for f in (rtstate.create_drone_state_buffer, rtstate.create_fast_state_buffer):
        out.append(Target(f"{f.__name__}(buffer_size=)", "buffer_size", "size", lambda v, f=f: f(buffer_size=v), check=size_is))
        out.append(Target(f"{f.__name__}(clock=)", "clock", "clock", lambda v, f=f: f(clock=v), check=clock_is))
    out.append(Target("StateManager(clock=)", "clock", "clock", lambda v: StateManager(clock=v)))
    out.append(Target("create_state_manager(clock=)", "clock", "clock", lambda v: rtstate.create_state_manager(clock=v)))
    return out


BUFFER_KINDS = {
    "ThreadSafeStateBuffer": (lambda: ThreadSafeStateBuffer(), drone),
    "DroneStateBuffer": (lambda: DroneStateBuffer(), drone),
    "FastDroneStateBuffer": (lambda: FastDroneStateBuffer(), fast),
}


def buffer_targets() -> list[Target]:
    out = []
    for label, (make, good_state) in BUFFER_KINDS.items():
        b = primed(make, good_state())
        w = lambda b=b: [b]  # noqa: E731
        out += [
            Target(f"{label}.update_state(state=)", "state", "state", lambda v, b=b: b.update_state(v), w, True),
            Target(f"{label}.update_state(source=)", "source", "source", lambda v, b=b, s=good_state: b.update_state(s(2.0), v), w, True),
            Target(
                f"{label}.update_state(metadata=)", "metadata", "metadata", lambda v, b=b, s=good_state: b.update_state(s(2.0), "x", v), w, True
            ),
            Target(f"{label}.get_state_at_time(target_time=)", "target_time", "optional time", lambda v, b=b: b.get_state_at_time(v), w),
            Target(f"{label}.get_state_at_time(max_age=)", "max_age", "max_age", lambda v, b=b: b.get_state_at_time(1.0, max_age=v), w),
            Target(f"{label}.wait_for_update(timeout=)", "timeout", "timeout", lambda v, b=b: b.wait_for_update(timeout=v), w, blocks=True),
            Target(f"{label}.reader().wait(timeout=)", "timeout", "timeout", lambda v, b=b: b.reader().wait(timeout=v), w),
            Target(f"{label}.subscribe(queue_size=)", "queue_size", "size", lambda v, b=b: b.subscribe(queue_size=v), w),
            Target(f"{label}.subscribe(policy=)", "policy", "policy", lambda v, b=b: b.subscribe(policy=v), w),
            Target(f"{label}.unsubscribe(queue=)", "queue", "subscription", lambda v, b=b: b.unsubscribe(v), w),
        ]
    d = primed(DroneStateBuffer, drone())
    out += [
        Target("DroneStateBuffer.update_from_estimator(estimated_state=)", "estimated_state", "state", lambda v: d.update_from_estimator(v), lambda: [d], True),
        Target(
            "DroneStateBuffer.update_from_estimator(source=)",
            "source",
            "source",
            lambda v: d.update_from_estimator(EstimatedState(timestamp=2.0), v),
            lambda: [d],
            True,
        ),
    ]
    f = primed(FastDroneStateBuffer, fast())
    out += [
        Target("FastDroneStateBuffer.update_from_drone_state(drone_state=)", "drone_state", "state", lambda v: f.update_from_drone_state(v), lambda: [f], True),
        Target(
            "FastDroneStateBuffer.update_from_drone_state(source=)",
            "source",
            "source",
            lambda v: f.update_from_drone_state(drone(2.0), v),
            lambda: [f],
            True,
        ),
    ]
    return out


def manager_targets() -> list[Target]:
    m = StateManager()
    d = primed(DroneStateBuffer, drone())
    fb = primed(FastDroneStateBuffer, fast())
    m.register_buffer("drone", d)
    m.register_buffer("fast", fb)
    w = lambda: [d, fb]  # noqa: E731

    def register_name(v):
        spare = StateManager()
        return spare.register_buffer(v, FastDroneStateBuffer())

    return [
        Target("StateManager.register_buffer(name=)", "name", "name", register_name),
        Target("StateManager.register_buffer(buffer=)", "buffer", "buffer", lambda v: StateManager().register_buffer("x", v)),
        Target(
            "StateManager.register_buffer(replace=)",
            "replace",
            "bool",
            lambda v: StateManager().register_buffer("x", FastDroneStateBuffer(), replace=v),
        ),
        Target("StateManager.unregister_buffer(name=)", "name", "name", lambda v: StateManager().unregister_buffer(v), w),
        Target("StateManager.get_buffer(name=)", "name", "name", lambda v: m.get_buffer(v), w),
        Target("StateManager.get_latest_state(name=)", "name", "name", lambda v: m.get_latest_state(v), w),
        Target("StateManager.update_state(name=)", "name", "name", lambda v: m.update_state(v, drone(2.0)), w),
        Target("StateManager.update_state(state=) [drone]", "state", "state", lambda v: m.update_state("drone", v), w, True),
        Target("StateManager.update_state(state=) [fast]", "state", "state", lambda v: m.update_state("fast", v), w, True),
        Target("StateManager.update_state(source=)", "source", "source", lambda v: m.update_state("fast", fast(2.0), v), w, True),
        Target("StateManager.update_state(metadata=)", "metadata", "metadata", lambda v: m.update_state("fast", fast(2.0), "x", v), w, True),
    ]


def control_targets() -> list[Target]:
    """Constructors and simple setters of the control classes."""
    W = rtstate.RealTimeControlWrapper
    return [
        Target("RealTimeControlWrapper(frequency_hz=)", "frequency_hz", "positive", lambda v: W(frequency_hz=v)),
        Target("RealTimeControlWrapper(priority=)", "priority", "priority", lambda v: W(priority=v)),
        Target("RealTimeControlWrapper(state_buffer=)", "state_buffer", "optional buffer", lambda v: W(state_buffer=v)),
        Target("RealTimeControlWrapper(use_fast_state=)", "use_fast_state", "bool", lambda v: W(use_fast_state=v)),
        Target("ControlLoop(callback=)", "callback", "callable", lambda v: rtstate.ControlLoop(v)),
        Target("ControlLoop(frequency_hz=)", "frequency_hz", "positive", lambda v: rtstate.ControlLoop(lambda: None, v)),
        Target(
            "StateEstimatorController(update_frequency_hz=)",
            "update_frequency_hz",
            "positive",
            lambda v: rtstate.StateEstimatorController(_Estimator(), W(), v),
        ),
        Target("RealTimeControlWrapper.update_command(position_setpoint=)", "position_setpoint", "vector m", lambda v: W().update_command(position_setpoint=v)),
        Target("RealTimeControlWrapper.set_state_update_callback(callback=)", "callback", "optional callable", lambda v: W().set_state_update_callback(v)),
    ]


class _Estimator:
    def update(self):
        pass

    def get_latest(self):
        return None


GOOD.update(
    {
        "positive": {"int 5", "float", "numpy int"},
        "priority": {"zero", "int 5", "numpy int"},
        "optional buffer": {"None"},
        "optional callable": {"None", "a class", "lambda"},
    }
)

# Values that may be either accepted or refused (with the argument named).
EITHER: dict[str, set[str]] = {"positive": {"10**12", "2**62", "2**200"}}

OUR_TARGETS = state_targets() + construction_targets() + buffer_targets() + manager_targets()


@dataclass
class Outcome:
    target: str
    value: str
    verdict: str  # "rejected", "accepted", "skipped" or "FAIL: ..."


def names_argument(message: str, target: Target) -> bool:
    return any(n in message for n in (target.argument,) + target.also)


def run_case(target: Target, label: str) -> Outcome:
    value = CATALOGUE[label]
    good = label in GOOD[target.kind]
    either = label in EITHER.get(target.kind, ())
    if good and target.blocks:
        return Outcome(target.name, label, "skipped")
    watched = target.watch()
    before = [fingerprint(b) for b in watched]
    try:
        result = target.call(value)
        if inspect.isawaitable(result):
            if hasattr(result, "close"):
                result.close()
            raise AssertionError("returned an awaitable instead of checking its argument")
    except (ValueError, TypeError, KeyError) as e:
        after = [fingerprint(b) for b in watched]
        if after != before:
            return Outcome(target.name, label, f"FAIL: {type(e).__name__} but the buffer changed")
        if isinstance(e, KeyError) and target.kind == "name":
            return Outcome(target.name, label, "rejected")  # an unknown name: KeyError(name)
        if good and not either:
            return Outcome(target.name, label, f"FAIL: a valid value refused: {type(e).__name__}: {e}")
        if not names_argument(str(e), target):
            return Outcome(target.name, label, f"FAIL: {type(e).__name__} without the argument's name: {e}")
        return Outcome(target.name, label, "rejected")
    except BaseException as e:  # PanicException derives from BaseException
        if isinstance(e, (KeyboardInterrupt, SystemExit)):
            raise
        return Outcome(target.name, label, f"FAIL: {type(e).__name__}: {e}")
    if not good and not either:
        return Outcome(target.name, label, f"FAIL: accepted an invalid value ({result!r:.80})")
    if target.publishes:
        after = [fingerprint(b)[0] for b in watched]
        if sum(after) != sum(f[0] for f in before) + 1:
            return Outcome(target.name, label, "FAIL: accepted but did not publish exactly once")
    if target.check is not None and not target.check(result, label):
        return Outcome(target.name, label, f"FAIL: accepted but produced the wrong value ({result!r:.80})")
    return Outcome(target.name, label, "accepted")


def sweep(targets: list[Target]) -> list[Outcome]:
    return [run_case(t, label) for t in targets for label in CATALOGUE]


@pytest.mark.parametrize("target", OUR_TARGETS, ids=lambda t: t.name)
def test_sweep(target):
    failures = [o for o in sweep([target]) if o.verdict.startswith("FAIL")]
    assert not failures, "\n".join(f"{o.value}: {o.verdict}" for o in failures)


def test_sweep_is_large_and_finds_nothing():
    outcomes = sweep(OUR_TARGETS)
    counts = Counter(o.verdict.split(":")[0] for o in outcomes)
    assert len(outcomes) >= 1500
    assert counts["rejected"] > 1000 and counts["accepted"] > 100
    assert counts["FAIL"] == 0


if __name__ == "__main__":
    groups = {"rtstate (states, buffers, manager)": OUR_TARGETS, "control classes": control_targets()}
    for title, targets in groups.items():
        outcomes = sweep(targets)
        counts = Counter(o.verdict.split(":")[0] for o in outcomes)
        print(f"{title}: {len(targets)} arguments x {len(CATALOGUE)} values = {len(outcomes)} cases: {dict(counts)}")
        for o in outcomes:
            if o.verdict.startswith("FAIL"):
                print(f"  {o.target} <- {o.value}: {o.verdict}"[:300])
    sys.exit(0)
