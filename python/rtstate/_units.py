"""pint glue: unit conversion to SI and quantities for read-back.

pint is optional (``pip install rtstate[units]``). Without it, plain
sequences and ndarrays (taken as SI) work, fields read back as float64
arrays, and a quantity-like object is refused with a clear error.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_pint: Any
try:  # pragma: no cover - exercised by both test environments
    import pint as _pint
except ImportError:  # pragma: no cover
    _pint = None

__all__ = ["DimensionalityError", "HAVE_PINT", "Q_", "quantity", "to_si"]

HAVE_PINT = _pint is not None

if _pint is not None:
    _Bases: tuple[type, ...] = (ValueError, _pint.DimensionalityError)
else:
    _Bases = (ValueError,)


class DimensionalityError(*_Bases):  # type: ignore[misc]
    """A quantity with the wrong physical dimension for a field (a velocity
    given as a position).

    A :class:`ValueError` and, where pint is installed, also a
    :class:`pint.DimensionalityError`.
    """

    def __init__(self, field: str, expected: str, got: str, message: str | None = None) -> None:
        ValueError.__init__(self, message or f"field `{field}` expects units of {expected}, got {got}")
        self.field = field
        self.expected = expected
        self.got = got
        # pint's attributes, so that code catching pint's error can read them.
        self.units1 = got
        self.units2 = expected
        self.dim1 = ""
        self.dim2 = ""
        self.extra_msg = f" (field `{field}`)"

    def __str__(self) -> str:
        return str(self.args[0])

    def __reduce__(self) -> Any:
        return self.__class__, (self.field, self.expected, self.got, self.args[0])


def Q_(value: Any, units: str | None = None) -> Any:
    """A pint quantity on pint's application registry
    (``pint.get_application_registry()``)."""
    if _pint is None:
        raise ImportError("rtstate.Q_ needs pint: pip install 'rtstate[units]'")
    return _pint.get_application_registry().Quantity(value, units)


def to_si(value: Any, unit: str) -> tuple[Any, str | None]:
    """``(magnitude in unit, None)``, or ``(None, units given)`` when the
    dimension is wrong. ``value`` is a quantity of any pint registry."""
    if _pint is None:
        raise TypeError(
            f"got a quantity-like {type(value).__name__} but pint is not installed: "
            "pip install 'rtstate[units]', or pass plain SI numbers"
        )
    try:
        converted = value.to(unit)
    except _pint.DimensionalityError:
        return None, f"{value.units:~}" if hasattr(value, "units") else type(value).__name__
    except AttributeError:
        raise TypeError(f"{type(value).__name__} has `units` but is not a pint quantity") from None
    # The magnitude as given (its dtype is checked by the caller: no complex,
    # bool or string values slip through a cast).
    return np.asarray(converted.magnitude), None


def quantity(array: Any, unit: str) -> Any:
    """``array`` as a quantity in ``unit`` on the application registry, or
    the array itself without pint."""
    if _pint is None:
        return array
    return _pint.get_application_registry().Quantity(array, unit)
