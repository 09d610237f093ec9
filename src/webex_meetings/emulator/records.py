"""What the emulator observed, as immutable records: requests, violations, acks, connections.

A *violation* is a real protocol error a client committed (a missing Authorization header on
an authorized route, an invalid device body, a late or malformed Mercury authorization frame,
an unacked event, ...). Conditions a correct client meets in normal life (an expired token, a
lapsed device, a rate limit the emulator was told to inject) are not violations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = [
    "AckRecord",
    "ConnectionInfo",
    "RequestRecord",
    "Violation",
    "ViolationKind",
]


class ViolationKind:
    """The names of the violations the emulator records (plain strings, for JSON)."""

    MISSING_AUTHORIZATION: Final = "missing_authorization"
    MALFORMED_AUTHORIZATION: Final = "malformed_authorization"
    INVALID_QUERY: Final = "invalid_query"
    INVALID_BODY: Final = "invalid_body"
    UNKNOWN_DEVICE: Final = "unknown_device"
    FOREIGN_DEVICE: Final = "foreign_device"
    BAD_UPGRADE: Final = "bad_websocket_upgrade"
    FRAME_BEFORE_AUTH: Final = "frame_before_auth"
    AUTH_FRAME_MALFORMED: Final = "auth_frame_malformed"
    AUTH_DEADLINE: Final = "auth_deadline_missed"
    MALFORMED_FRAME: Final = "malformed_frame"
    BINARY_FRAME: Final = "binary_frame"
    DUPLICATE_AUTH: Final = "duplicate_authorization"
    UNACKED_EVENT: Final = "unacked_event"
    OVERSIZED: Final = "oversized_message"
    MALFORMED_HTTP: Final = "malformed_http"


@dataclass(frozen=True, slots=True)
class Violation:
    """One protocol error: ``kind`` (a :class:`ViolationKind` value) and what happened.

    ``route`` is the route name (``wdm.register``, ``mercury`` ...), ``client`` the request's
    trackingid or ``ws#<n>`` for a websocket, ``device_id`` the device when known, ``at`` the
    emulator clock.
    """

    kind: str
    detail: str
    route: str | None = None
    client: str = ""
    device_id: str | None = None
    at: float = 0.0


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One HTTP request as the emulator answered it (Authorization values are not kept)."""

    at: float
    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    route: str | None
    status: int
    tracking_id: str
    user_agent: str
    authorized: bool
    """Whether an Authorization header was present."""
    connection_id: int
    fault: str | None = None
    """The injected fault that produced the answer (``fail``, ``drop``, ``random``), if any."""


@dataclass(frozen=True, slots=True)
class AckRecord:
    """A Mercury ack: which connection acked which message id, and whether it was ours."""

    at: float
    connection_id: int
    device_id: str
    message_id: str
    known: bool
    """The id is an event (or buffer_state) the emulator sent; pong acks are not."""


@dataclass(frozen=True, slots=True)
class ConnectionInfo:
    """A snapshot of one Mercury websocket connection."""

    id: int
    device_id: str
    query: tuple[tuple[str, str], ...]
    opened_at: float
    authorized: bool
    open: bool
    close_code: int | None
    close_reason: str
    closed_by: str | None
    """``client``, ``server`` or ``transport`` (dropped without a close frame)."""
    frames_in: int
    frames_out: int
    pings: int
