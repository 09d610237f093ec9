"""Checks for what the control API is given, and the errors it raises.

Every control method (Python or admin API) checks its input here before touching any state, so
a bad value (NaN, infinity, a negative delay, a status that is not an error, a misspelt route)
is refused with a :class:`ControlInputError` naming the parameter, and never poisons the
emulator. The admin API answers these errors with 400.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable
from typing import Final

__all__ = [
    "SENDABLE_CLOSE_CODES",
    "ControlInputError",
    "UnknownNameError",
    "UnknownRouteError",
    "check_close_code",
    "check_count",
    "check_optional_count",
    "check_optional_seconds",
    "check_probability",
    "check_seconds",
    "check_status",
]


class ControlInputError(ValueError):
    """A control call got a value it cannot use; nothing was changed."""


class UnknownNameError(ControlInputError):
    """A name (route, variant, field, ...) that the emulator does not know.

    ``name`` is what was given, ``valid`` every accepted name.
    """

    def __init__(self, what: str, name: str, valid: Iterable[str]) -> None:
        self.name = name
        self.valid = tuple(sorted(valid))
        close = difflib.get_close_matches(name, self.valid, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        super().__init__(f"unknown {what} {name!r}{hint}; valid: {', '.join(self.valid)}")


class UnknownRouteError(UnknownNameError):
    """A fault or latency route pattern that matches no route of the emulator."""

    def __init__(self, route: str, valid: Iterable[str]) -> None:
        super().__init__("route", route, valid)
        self.route = route


SENDABLE_CLOSE_CODES: Final = "1000-1003, 1007-1014, 3000-4999"
_RESERVED_CLOSE_CODES: Final = frozenset({1004, 1005, 1006, 1015})


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_optional_seconds(name: str, value: object) -> float | None:
    """:func:`check_seconds`, or ``None``."""
    return None if value is None else check_seconds(name, value)


def check_seconds(name: str, value: object) -> float:
    """``value`` as a finite, non-negative number of seconds.

    :raises ControlInputError: not a number, NaN, infinite or negative.
    """
    if not _is_number(value):
        raise ControlInputError(f"{name} must be a number of seconds, not {value!r}")
    seconds = float(value)  # type: ignore[arg-type]
    if not math.isfinite(seconds) or seconds < 0:
        raise ControlInputError(f"{name} must be finite and >= 0, not {value!r}")
    return seconds


def check_optional_count(name: str, value: object) -> int | None:
    """:func:`check_count`, or ``None`` (meaning "every")."""
    return None if value is None else check_count(name, value)


def check_count(name: str, value: object) -> int:
    """``value`` as an integer >= 1.

    :raises ControlInputError: not an integer, or below 1.
    """
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ControlInputError(f"{name} must be an integer >= 1, not {value!r}")
    return value


def check_status(value: object) -> int:
    """``value`` as an HTTP error status (400-599).

    :raises ControlInputError: anything else.
    """
    if not isinstance(value, int) or isinstance(value, bool) or not 400 <= value <= 599:
        raise ControlInputError(f"status must be a 4xx/5xx HTTP status, not {value!r}")
    return value


def check_probability(name: str, value: object) -> float:
    """``value`` as a probability in [0, 1].

    :raises ControlInputError: anything else.
    """
    if not _is_number(value) or not 0.0 <= float(value) <= 1.0:  # type: ignore[arg-type]
        raise ControlInputError(f"{name} must be within [0, 1], not {value!r}")
    return float(value)  # type: ignore[arg-type]


def check_close_code(value: object) -> int:
    """``value`` as a websocket close code a server may send.

    1006 (no close frame) is :meth:`~webex_meetings.emulator.Control.drop_connections`.

    :raises ControlInputError: not sendable on the wire.
    """
    valid = (
        isinstance(value, int)
        and not isinstance(value, bool)
        and (1000 <= value <= 1014 or 3000 <= value <= 4999)
        and value not in _RESERVED_CLOSE_CODES
    )
    if not valid:
        hint = "; 1006 means no close frame: drop the connection instead" if value == 1006 else ""
        raise ControlInputError(
            f"close code must be one of {SENDABLE_CLOSE_CODES}, not {value!r}{hint}"
        )
    return value  # type: ignore[return-value]
