"""One test per Rust error variant: the Python exception it maps to."""

import pytest

import rtstate
from rtstate import _rtstate

CASES = {
    "non_finite": ValueError,
    "shape": ValueError,
    "units": rtstate.DimensionalityError,
    "non_unit_quaternion": ValueError,
    "invalid_argument": ValueError,
    "unknown_name": KeyError,
    "already_registered": ValueError,
    "type_mismatch": TypeError,
    "closed": rtstate.ClosedError,
    "timeout": TimeoutError,
    "empty": rtstate.EmptyError,
    "real_time": rtstate.RealTimeError,
    "already_running": rtstate.AlreadyRunningError,
    "panicked": rtstate.PanickedError,
}


@pytest.mark.parametrize("variant", sorted(CASES))
def test_variant_maps(variant):
    with pytest.raises(CASES[variant]) as e:
        _rtstate._raise_error(variant)
    if not issubclass(CASES[variant], (ValueError, TypeError, KeyError, TimeoutError)):
        assert isinstance(e.value, rtstate.RtStateError)


def test_units_error_is_value_error():
    with pytest.raises(ValueError, match="velocity"):
        _rtstate._raise_error("units")


def test_public_paths_raise_mapped_errors():
    b = rtstate.create_fast_state_buffer()
    with pytest.raises(ValueError, match="timeout"):
        b.wait_for_update(timeout=-1.0)
    with pytest.raises(ValueError, match="capacity"):
        rtstate.create_fast_state_buffer(0)
    m = rtstate.create_state_manager()
    with pytest.raises(KeyError):
        m.update_state("nope", rtstate.FastDroneState())
    m.register_buffer("a", b)
    # A taken name is replaced with a warning, as DART-Planner does; asked
    # to refuse, it raises.
    with pytest.raises(ValueError, match="already"):
        m.register_buffer("a", b, replace=False)
    with pytest.warns(UserWarning, match="already registered"):
        m.register_buffer("a", b)
