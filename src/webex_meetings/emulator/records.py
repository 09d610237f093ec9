"""What the emulator observed, as immutable records: requests, violations, acks, connections,
devices.

A *violation* is a protocol error a client committed (a missing Authorization header on an
authorized route, an invalid device body, a late or malformed Mercury authorization frame, an
unacked event, ...). Each carries a severity and the rule it checks (:data:`RULES`): an
``error`` breaks the protocol, a ``warning`` is something the real service tolerates (a missing
ack). Conditions a correct client meets in normal life (an expired token, a lapsed device, a
rate limit the emulator was told to inject) are not violations.

Every record carries ``at``, the emulator clock (seconds since the epoch, moved by
``advance``), so a judge can order and time what happened.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

__all__ = [
    "RULES",
    "AckRecord",
    "ConnectionInfo",
    "DeviceRecord",
    "RequestRecord",
    "Rule",
    "Severity",
    "Violation",
    "ViolationKind",
]


class Severity:
    """How bad a violation is (plain strings, for JSON)."""

    ERROR: Final = "error"
    """The client broke the protocol: the real service refuses or misbehaves."""
    WARNING: Final = "warning"
    """The real service tolerates it, but a faithful client does not do it."""


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
class Rule:
    """The rule a violation checks: its severity and where the rule is written down."""

    severity: str
    reference: str
    """A section of ``protocol-notes.md`` (the wire protocol as the JS SDK speaks it) or the
    RFC the rule comes from."""
    text: str


_NOTES = "protocol-notes.md"
RULES: Final[dict[str, Rule]] = {
    ViolationKind.MISSING_AUTHORIZATION: Rule(
        Severity.ERROR, f"{_NOTES} §5.5", "authorized routes need 'Authorization: Bearer <token>'"
    ),
    ViolationKind.MALFORMED_AUTHORIZATION: Rule(
        Severity.ERROR, f"{_NOTES} §5.5", "the Authorization header is 'Bearer <token>'"
    ),
    ViolationKind.INVALID_QUERY: Rule(
        Severity.ERROR, f"{_NOTES} §4.1", "the request carries the query parameters it needs"
    ),
    ViolationKind.INVALID_BODY: Rule(
        Severity.ERROR, f"{_NOTES} §2.2", "the request body has the documented shape"
    ),
    ViolationKind.UNKNOWN_DEVICE: Rule(
        Severity.ERROR, f"{_NOTES} §2.3", "PUT/DELETE only devices this client registered"
    ),
    ViolationKind.FOREIGN_DEVICE: Rule(
        Severity.ERROR, f"{_NOTES} §2.3", "a device is used only with its owner's token"
    ),
    ViolationKind.BAD_UPGRADE: Rule(
        Severity.ERROR, "RFC 6455 §4.1", "a websocket handshake with version 13 and a key"
    ),
    ViolationKind.FRAME_BEFORE_AUTH: Rule(
        Severity.ERROR, f"{_NOTES} §3.3", "the first Mercury frame is the authorization frame"
    ),
    ViolationKind.AUTH_FRAME_MALFORMED: Rule(
        Severity.ERROR,
        f"{_NOTES} §3.3",
        "authorization is {id, type: authorization, data: {token: 'Bearer <token>'}}",
    ),
    ViolationKind.AUTH_DEADLINE: Rule(
        Severity.ERROR, f"{_NOTES} §3.3", "authorize within the server's window (30 s)"
    ),
    ViolationKind.MALFORMED_FRAME: Rule(
        Severity.ERROR, f"{_NOTES} §3.4", "Mercury frames are JSON objects of a known shape"
    ),
    ViolationKind.BINARY_FRAME: Rule(
        Severity.ERROR, f"{_NOTES} §3.2", "Mercury speaks text frames (outboundWireFormat=text)"
    ),
    ViolationKind.DUPLICATE_AUTH: Rule(
        Severity.ERROR, f"{_NOTES} §3.3", "authorize once per socket"
    ),
    ViolationKind.UNACKED_EVENT: Rule(
        Severity.WARNING,
        f"{_NOTES} §3.4",
        "ack every frame that has an id (the real service redelivers instead of refusing)",
    ),
    ViolationKind.OVERSIZED: Rule(
        Severity.ERROR, "RFC 9110 §15.5.14 / RFC 6455 §7.4.1", "messages stay within limits"
    ),
    ViolationKind.MALFORMED_HTTP: Rule(
        Severity.ERROR, "RFC 9112", "requests are well-formed HTTP/1.1"
    ),
}
"""The rule behind each violation kind."""


@dataclass(frozen=True, slots=True)
class Violation:
    """One protocol error: ``kind`` (a :class:`ViolationKind` value) and what happened.

    ``route`` is the route name (``wdm.register``, ``mercury`` ...), ``client`` the request's
    trackingid or ``ws#<n>`` for a websocket, ``device_id`` the device when known, ``at`` the
    emulator clock; ``severity`` and ``rule`` come from :data:`RULES`.
    """

    kind: str
    detail: str
    route: str | None = None
    client: str = ""
    device_id: str | None = None
    at: float = 0.0
    severity: str = Severity.ERROR
    rule: str = ""

    @classmethod
    def of(
        cls,
        kind: str,
        detail: str,
        *,
        at: float,
        route: str | None = None,
        client: str = "",
        device_id: str | None = None,
    ) -> Violation:
        """A violation of ``kind``, with the severity and rule reference :data:`RULES` give."""
        rule = RULES[kind]
        return cls(kind, detail, route, client, device_id, at, rule.severity, rule.reference)


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One HTTP request (or websocket upgrade) as the emulator answered it.

    Authorization values are never kept: ``authorized`` says a header was present,
    ``token_valid`` whether its bearer token was accepted (``None``: not judged, because the
    route takes no token, the request carried none, or a fault answered first).
    """

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
    token_required: bool = False
    """Whether the route takes a bearer token (the real service refuses it without one)."""
    token_valid: bool | None = None
    retry_after: float | None = None
    """The ``Retry-After`` the answer carried, in seconds."""
    latency: float = 0.0
    """Injected delay before the answer, in seconds."""
    host: str = ""
    """The ``Host`` header the client sent."""


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
    authorized_at: float | None = None
    ready_at: float | None = None
    """When the unlocking frame (buffer_state or registration_status) was sent."""
    first_frame: str | None = None
    """The ``eventType`` of the first frame sent after authorization."""
    closed_at: float | None = None


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    """One device registration: live (``ended_at`` is ``None``) or ended.

    ``ended_by`` says how it ended: ``deleted`` (a client's DELETE), ``lapsed`` (its ttl ran
    out or the control API expired it) or ``restart`` (the emulator forgot it).
    """

    id: str
    user_id: str
    url: str
    """The URL the device was created under (as the registering client saw it)."""
    web_socket_url: str
    ttl: int | None
    created: float
    modified: float
    expires_at: float | None
    dto: dict[str, Any] = field(compare=False)
    """The device's WDM JSON, with the URLs it was created under (answers show each client
    its own host, and the feature overrides and omissions in force)."""
    ended_at: float | None = None
    ended_by: str | None = None
