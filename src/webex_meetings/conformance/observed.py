"""What the emulator recorded about one run, read defensively into small typed views.

The judge reads the emulator's records as JSON-shaped data (``GET /_emulator/records``, or the
same built in process), never the client's own account. Records may come from a file, another
emulator version or a broken run, so nothing here trusts them: an entry missing a field the
judge needs, or carrying a value of the wrong type (a string time, NaN, a boolean where a
number goes), is skipped and counted in :attr:`Observed.malformed`; a top level that is not an
object gives an empty view with ``unreadable`` set. Reading never raises.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = ["Connection", "Device", "Observed", "Request", "Violation", "observe"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Request:
    """An HTTP request or websocket upgrade the emulator answered."""

    at: float
    method: str
    route: str
    status: int
    authorized: bool
    token_required: bool
    retry_after: float | None
    connection_id: int | None


@dataclass(frozen=True, slots=True)
class Device:
    """A device registration of the run's user."""

    id: str
    ttl: float | None
    created: float
    ended_at: float | None
    ended_by: str | None


@dataclass(frozen=True, slots=True)
class Connection:
    """A Mercury websocket of one of the run's devices."""

    id: int | None
    device_id: str
    opened_at: float
    ready_at: float | None
    closed_at: float | None
    close_code: int | None
    closed_by: str | None


@dataclass(frozen=True, slots=True)
class Violation:
    """A protocol violation the emulator recorded."""

    kind: str
    detail: str
    severity: str
    rule: str


@dataclass(frozen=True, slots=True)
class Observed:
    """One run's records, filtered to the run's user (requests are all the run's: the
    emulator is reset before each run)."""

    requests: tuple[Request, ...]
    devices: tuple[Device, ...]
    connections: tuple[Connection, ...]
    violations: tuple[Violation, ...]
    malformed: int = 0
    """Entries skipped because a field the judge needs was missing or of the wrong type."""
    unreadable: bool = False
    """The records were not a JSON object at all."""

    @property
    def ready_connections(self) -> tuple[Connection, ...]:
        """Sessions that reached ready (buffer_state or registration_status sent), in order."""
        ready = [c for c in self.connections if c.ready_at is not None]
        return tuple(sorted(ready, key=lambda c: c.ready_at or 0.0))

    @property
    def registered(self) -> bool:
        """A device was created and a Mercury session of it reached ready."""
        return bool(self.devices) and bool(self.ready_connections)

    @property
    def live_devices(self) -> tuple[Device, ...]:
        return tuple(d for d in self.devices if d.ended_at is None)


# -- field readers: each returns None for a missing or ill-typed value ------------------------


def _number(item: dict[str, Any], key: str) -> float | None:
    value = item.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _integer(item: dict[str, Any], key: str) -> int | None:
    value = item.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(item: dict[str, Any], key: str) -> str | None:
    value = item.get(key)
    return value if isinstance(value, str) else None


def _flag(item: dict[str, Any], key: str) -> bool:
    return item.get(key) is True


class _Missing(Exception):
    """A required field is missing or ill-typed."""


def _required(value: T | None) -> T:
    if value is None:
        raise _Missing
    return value


def _request(item: dict[str, Any]) -> Request:
    return Request(
        at=_required(_number(item, "at")),
        method=_text(item, "method") or "",
        route=_text(item, "route") or "",
        status=_required(_integer(item, "status")),
        authorized=_flag(item, "authorized"),
        token_required=_flag(item, "token_required"),
        retry_after=_number(item, "retry_after"),
        connection_id=_integer(item, "connection_id"),
    )


def _device(item: dict[str, Any]) -> Device:
    return Device(
        id=_required(_text(item, "id")),
        ttl=_number(item, "ttl"),
        created=_required(_number(item, "created")),
        ended_at=_number(item, "ended_at"),
        ended_by=_text(item, "ended_by"),
    )


def _connection(item: dict[str, Any]) -> Connection:
    return Connection(
        id=_integer(item, "id"),
        device_id=_required(_text(item, "device_id")),
        opened_at=_required(_number(item, "opened_at")),
        ready_at=_number(item, "ready_at"),
        closed_at=_number(item, "closed_at"),
        close_code=_integer(item, "close_code"),
        closed_by=_text(item, "closed_by"),
    )


def _one_line(text: str | None, limit: int) -> str:
    """``text`` on one line (runs of whitespace, newlines included, made one space), cut."""
    return " ".join((text or "").split())[:limit]


def _violation(item: dict[str, Any]) -> Violation:
    kind = _one_line(_required(_text(item, "kind")), 60) or "unnamed"
    return Violation(
        kind=kind,
        detail=_one_line(_text(item, "detail"), 200) or kind,
        severity="warning" if item.get("severity") == "warning" else "error",
        rule=_one_line(_text(item, "rule"), 100),
    )


def _entries(
    records: dict[str, Any], key: str, parse: Callable[[dict[str, Any]], T]
) -> list[tuple[dict[str, Any], T]]:
    """Each well-formed entry under ``key`` with its parsed view; ill-formed ones are left
    out (and counted by :func:`observe`)."""
    raw = records.get(key)
    if not isinstance(raw, list):
        return []
    pairs = []
    for item in raw:
        if isinstance(item, dict):
            try:
                pairs.append((item, parse(item)))
            except _Missing:
                continue
    return pairs


def _length(records: dict[str, Any], key: str) -> int:
    raw = records.get(key)
    return len(raw) if isinstance(raw, list) else 0


_KEYS = ("requests", "devices", "connections", "violations")


def observe(records: object, user_id: str) -> Observed:
    """The run's view of ``records`` (the emulator's, JSON-shaped): every request, the
    devices of ``user_id`` and their Mercury connections, every violation. Never raises."""
    if not isinstance(records, dict):
        return Observed((), (), (), (), unreadable=True)
    requests = _entries(records, "requests", _request)
    devices = _entries(records, "devices", _device)
    connections = _entries(records, "connections", _connection)
    violations = _entries(records, "violations", _violation)
    parsed = len(requests) + len(devices) + len(connections) + len(violations)
    own = [device for item, device in devices if item.get("user_id") == user_id]
    ids = {d.id for d in own}
    return Observed(
        tuple(sorted((r for _, r in requests), key=lambda r: r.at)),
        tuple(sorted(own, key=lambda d: d.created)),
        tuple(c for _, c in connections if c.device_id in ids),
        tuple(v for _, v in violations),
        malformed=sum(_length(records, key) for key in _KEYS) - parsed,
    )
