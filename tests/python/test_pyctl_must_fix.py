"""Defects found by the input sweep and the pickling checks in classes whose
code lives with the control loop and the subscriptions (RealTimeControlWrapper,
ControlLoop, StateEstimatorController, UpdateEvent). These tests state the
required behaviour; they fail until that code is fixed. Nothing here is
marked xfail: a failure is a defect."""

import copy
import pickle

import pytest

from rtstate import FastDroneState, FastDroneStateBuffer

from test_bad_input_sweep import control_targets, sweep


@pytest.mark.parametrize("target", control_targets(), ids=lambda t: t.name)
def test_pyctl_must_fix_control_inputs(target):
    """Constructors and simple setters: a bad value is a ValueError or
    TypeError naming the argument (`update_frequency_hz`, `priority`, ...),
    `True` is not a frequency, 0 is not a ZeroDivisionError, a callback
    that is not callable is refused when set."""
    failures = [o for o in sweep([target]) if o.verdict.startswith("FAIL")]
    assert not failures, "\n".join(f"{o.value}: {o.verdict}" for o in failures)


def test_pyctl_must_fix_events_pickle_and_copy():
    buffer = FastDroneStateBuffer()
    queue = buffer.subscribe()
    buffer.update_state(FastDroneState(timestamp=1.0), "est")
    event = queue.get_nowait()
    for again in (pickle.loads(pickle.dumps(event)), copy.copy(event), copy.deepcopy(event)):
        assert again["version"] == event["version"]
        assert again["state"] == event["state"]
        assert again["source"] == event["source"]
