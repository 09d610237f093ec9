"""The Mercury websocket protocol, for one connection, without I/O.

Theory of operation
-------------------
:class:`MercuryProtocol` is told what happened to one websocket (``opened``, ``received``,
``timer_fired``, ``closed``) or what its owner wants (``close``) and answers each call with a
list of :class:`MercuryAction` values to carry out in order: frames to send, timers to arm or
disarm, the socket to close or drop, and what to tell the session (``Online``, ``Deliver``,
``Closed`` ...). It never reads a clock, never sleeps and never draws random numbers: time is
an argument, uuids come from ``new_id``.

The connection moves through four states (plus ``CONNECTING`` before ``opened``)::

    CONNECTING --opened--> AUTHORIZING --buffer_state--> ONLINE
         |                     |                           |
         |                     +----- close() / timeout / pong trouble / shutdown
         |                     |                           |
         |                     v                           v
         +----- closed() ---> CLOSED <--closed()/FORCE_CLOSE-- CLOSING

* ``opened`` sends the authorization frame (the ``Bearer`` header value inside ``data.token``,
  never in the URL) and arms ``AUTHORIZATION``.
* Every incoming frame that is a JSON object with a top-level ``id`` is acknowledged first
  (``{"messageId": id, "type": "ack"}``), pongs included, in every state but ``CLOSED``.
* The first frame with no top-level ``type`` whose ``data.eventType`` is
  ``mercury.buffer_state`` or ``mercury.registration_status`` unlocks the connection: the
  first ping goes out at once with a ``PONG`` timer; after each matching pong the next ping is
  due ``ping_interval`` later. Unlike the JS SDK, another first frame does not hang the
  connection: it is reported and the ``AUTHORIZATION`` timer bounds the wait. An *event*
  arriving before ``buffer_state`` is acked and kept, and delivered right after ``Online``, in
  order (the JS SDK acks and drops it, so the server never redelivers it); past
  :data:`MAX_EARLY_EVENTS` frames are left unacknowledged, for the server to redeliver.
* ``close`` starts the close handshake and arms ``FORCE_CLOSE``; if the server does not finish
  it in time the socket is dropped and the connection reported closed anyway.
* ``Closed`` is emitted exactly once and carries what the session should do next
  (:class:`CloseAction`): from :func:`classify_close` when the server or the network ended the
  connection, from our own reason when we did.

Not implemented: the JS SDK applies ``data.headers`` to ``data`` as keypath overrides before
dispatching (``Mercury._applyOverrides``); events are delivered as received.
"""

from __future__ import annotations

import enum
import functools
import json
import json.encoder
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, Protocol
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from .config import BackoffConfig, MercuryConfig, per_config
from .errors import LocalProtocolError
from .events import MercuryEvent
from .fast_init import fast_init
from .redaction import Secret, redact

__all__ = [
    "MAX_EARLY_EVENTS",
    "AbortSocket",
    "ArmTimer",
    "AuthorizationSource",
    "CloseAction",
    "CloseSocket",
    "Closed",
    "Deliver",
    "DisarmTimer",
    "MercuryAction",
    "MercuryProtocol",
    "MercuryState",
    "MercuryTimer",
    "Online",
    "PongReceived",
    "ProtocolViolation",
    "SendText",
    "SequenceMismatch",
    "attempts_exhausted",
    "backoff_delay",
    "classify_close",
    "fix_close_code",
    "mercury_url",
]


class MercuryTimer(enum.Enum):
    """The timers one connection uses; each is armed at most once at a time."""

    __hash__ = object.__hash__  # members are singletons; Enum's own hash is slow Python

    AUTHORIZATION = "authorization"
    PING = "ping"
    PONG = "pong"
    FORCE_CLOSE = "force_close"


_TIMERS: Final = tuple(MercuryTimer)
"""Every timer, in order (iterating the enum itself is slow Python)."""


class MercuryState(enum.Enum):
    """Where one connection stands."""

    CONNECTING = "connecting"
    AUTHORIZING = "authorizing"
    ONLINE = "online"
    CLOSING = "closing"
    CLOSED = "closed"


class CloseAction(enum.Enum):
    """What the session should do once a connection is over."""

    RECONNECT = "reconnect"
    """Transient: back off and connect again."""
    REFRESH_TOKEN_THEN_RECONNECT = "refresh_token_then_reconnect"
    """4401 before authorization: force a token refresh, then reconnect."""
    REFRESH_DEVICE_THEN_RECONNECT = "refresh_device_then_reconnect"
    """1005 before authorization (the JS SDK's ``UnknownResponse``): refresh the device."""
    REPLACED = "replaced"
    """4000 after authorization: another connection replaced this one; stop."""
    ABORT = "abort"
    """4400 or 4403 before authorization: credentials unusable for Mercury; stop, no retry."""
    PERMANENT = "permanent"
    """Closed for good after authorization (or by our own unregister): do not reconnect."""


# -- actions --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MercuryAction:
    """Base class of everything :class:`MercuryProtocol` asks its owner to do or know."""


@fast_init
@dataclass(frozen=True, slots=True)
class SendText(MercuryAction):
    """Send ``text`` as one text frame. Its ``repr`` is redacted (the auth frame has a token)."""

    text: str

    def __repr__(self) -> str:
        return f"SendText(text={redact(self.text)!r})"


@fast_init
@dataclass(frozen=True, slots=True)
class ArmTimer(MercuryAction):
    """Call ``timer_fired(timer)`` after ``delay`` seconds (it was not armed before this)."""

    timer: MercuryTimer
    delay: float


@fast_init
@dataclass(frozen=True, slots=True)
class DisarmTimer(MercuryAction):
    """Cancel ``timer`` (it is armed now); a late ``timer_fired`` for it is ignored anyway."""

    timer: MercuryTimer


@fast_init
@dataclass(frozen=True, slots=True)
class CloseSocket(MercuryAction):
    """Start the websocket close handshake with ``code`` and ``reason``."""

    code: int
    reason: str


@dataclass(frozen=True, slots=True)
class AbortSocket(MercuryAction):
    """Drop the socket now, without waiting for the close handshake."""


_ABORT: Final = AbortSocket()


@fast_init
@dataclass(frozen=True, slots=True)
class Online(MercuryAction):
    """The server accepted the authorization: ``event_type`` is ``mercury.buffer_state`` or
    ``mercury.registration_status``; ``envelope`` is the whole frame."""

    event_type: str
    envelope: dict[str, Any] = field(repr=False)


@fast_init
@dataclass(frozen=True, slots=True)
class Deliver(MercuryAction):
    """An event for the session's listeners (already acknowledged)."""

    event: MercuryEvent


@fast_init
@dataclass(frozen=True, slots=True)
class PongReceived(MercuryAction):
    """The server answered ping ``ping_id``, ``latency`` seconds after it was sent."""

    ping_id: str
    latency: float | None = None


@fast_init
@dataclass(frozen=True, slots=True)
class Closed(MercuryAction):
    """The connection is over (emitted once). ``authorized``: it had reached ``ONLINE``;
    ``by_us``: we closed it (``close()``, a timeout, a pong problem), not the server or the
    network."""

    code: int
    reason: str
    action: CloseAction
    authorized: bool
    by_us: bool = False

    def __repr__(self) -> str:
        return (
            f"Closed(code={self.code}, reason={redact(self.reason)!r}, "
            f"action={self.action}, authorized={self.authorized}, by_us={self.by_us})"
        )


@fast_init
@dataclass(frozen=True, slots=True)
class ProtocolViolation(MercuryAction):
    """The server sent something the protocol does not allow; informational only."""

    description: str


@fast_init
@dataclass(frozen=True, slots=True)
class SequenceMismatch(MercuryAction):
    """A frame's ``sequenceNumber`` was not the one expected: a message may have been lost."""

    expected: int
    got: int


# -- the URL --------------------------------------------------------------------------------

_QUERY_SAFE: Final = "!~*'()"  # what Node's querystring leaves unescaped besides A-Za-z0-9-_.


def mercury_url(web_socket_url: str, *, now_ms: int, ephemeral: bool) -> str:
    """The URL to open for the device's ``webSocketUrl`` (``Mercury._prepareUrl``).

    Query parameters already present are kept in place (ours win on a clash); ours follow in
    the JS SDK's order. The token is never part of the URL.
    """
    head, tail = _mercury_url_around_stamp(web_socket_url, ephemeral)
    return f"{head}{now_ms}{tail}"


@functools.lru_cache(maxsize=1024)
def _mercury_url_around_stamp(web_socket_url: str, ephemeral: bool) -> tuple[str, str]:
    """The URL :func:`mercury_url` builds, as the text before and after the value of
    ``clientTimestamp`` (the only part that changes from one attempt to the next)."""
    parts = urlsplit(web_socket_url)
    query = _parse_query(parts.query)
    ours = [("outboundWireFormat", "text"), ("bufferStates", "true"), ("aliasHttpStatus", "true")]
    if ephemeral:
        ours.append(("multipleConnections", "true"))
    ours.append((_STAMP, ""))
    for key, value in ours:
        query = _assign(query, key, value)
    encoded = [f"{quote(k, safe=_QUERY_SAFE)}={quote(v, safe=_QUERY_SAFE)}" for k, v in query]
    stamp = next(index for index, (key, _) in enumerate(query) if key == _STAMP)
    before, after = "&".join(encoded[: stamp + 1]), "&".join(encoded[stamp + 1 :])
    head = urlunsplit(parts._replace(query="", fragment="")) + "?" + before
    tail = ("&" + after if after else "") + ("#" + parts.fragment if parts.fragment else "")
    return head, tail


_STAMP: Final = "clientTimestamp"


def _parse_query(query: str) -> list[tuple[str, str]]:
    pairs = []
    for item in query.split("&"):
        if item:
            key, _, value = item.partition("=")
            pairs.append((unquote(key.replace("+", " ")), unquote(value.replace("+", " "))))
    return pairs


def _assign(query: list[tuple[str, str]], key: str, value: str) -> list[tuple[str, str]]:
    """Set ``key`` like ``Object.assign``: in place when present (duplicates dropped)."""
    if all(existing != key for existing, _ in query):
        return [*query, (key, value)]
    result: list[tuple[str, str]] = []
    for existing, old in query:
        if existing != key:
            result.append((existing, old))
        elif all(k != key for k, _ in result):
            result.append((key, value))
    return result


# -- close codes ----------------------------------------------------------------------------

_RECONNECT_REASONS: Final = frozenset(
    {"idle", "done (forced)", "pong not received", "pong mismatch"}
)
"""Reasons that make a 1000/1050 close after authorization transient (``mercury.js``)."""

_REASON_DEPENDENT_CODES: Final = frozenset({1000, 1050})

_FIXED_1005_CODES: Final[dict[str, int]] = {
    "replaced": 4000,
    "authentication failed": 1008,
    "authentication did not happen within the timeout window of 30000 seconds.": 1008,
}
"""``Socket._fixCloseCode``: browsers may drop the code but keep the reason."""

_BEFORE_AUTHORIZATION: Final[dict[int, CloseAction]] = {
    1005: CloseAction.REFRESH_DEVICE_THEN_RECONNECT,
    3050: CloseAction.PERMANENT,
    4400: CloseAction.ABORT,
    4401: CloseAction.REFRESH_TOKEN_THEN_RECONNECT,
    4403: CloseAction.ABORT,
    1015: CloseAction.ABORT,
}
"""``Socket.open``'s close handler; any other code is a ``ConnectionError``: reconnect.
1015 (never on the wire) is how a transport reports a certificate it could not verify: retrying
cannot help, so it stops like a refused credential."""

_AFTER_AUTHORIZATION: Final[dict[int, CloseAction]] = {
    1001: CloseAction.RECONNECT,
    1003: CloseAction.PERMANENT,
    1005: CloseAction.RECONNECT,
    1006: CloseAction.RECONNECT,
    1007: CloseAction.RECONNECT,  # one invalid frame: like a dropped connection (not the JS SDK)
    1009: CloseAction.RECONNECT,  # one oversized frame: likewise
    1011: CloseAction.RECONNECT,
    3050: CloseAction.PERMANENT,
    4000: CloseAction.REPLACED,
}
"""``Mercury._onclose``, plus 1007 and 1009 (a frame the transport refused: invalid UTF-8, too
large) treated as a dropped connection; 1000/1050 depend on the reason, any other code is
permanent."""


def fix_close_code(code: int, reason: str) -> int:
    """The close code the JS SDK acts on: a 1005 whose reason names the real cause is rewritten."""
    if code == 1005 and reason:
        return _FIXED_1005_CODES.get(reason.lower(), code)
    return code


def classify_close(code: int, reason: str, *, authorized: bool) -> CloseAction:
    """What to do after the server or the network closed the socket with ``code``/``reason``.

    ``authorized`` says whether the connection had reached ``ONLINE``. Never raises.
    """
    code = fix_close_code(code, reason)
    if not authorized:
        return _BEFORE_AUTHORIZATION.get(code, CloseAction.RECONNECT)
    if code in _REASON_DEPENDENT_CODES:
        if reason.lower() in _RECONNECT_REASONS:
            return CloseAction.RECONNECT
        return CloseAction.PERMANENT
    return _AFTER_AUTHORIZATION.get(code, CloseAction.PERMANENT)


# -- backoff --------------------------------------------------------------------------------


def backoff_delay(config: BackoffConfig, attempt: int, rng: random.Random) -> float:
    """Seconds to wait before attempt number ``attempt`` (1-based).

    Attempt 1 is immediate; then ``initial * factor ** (attempt - 2)`` capped at ``maximum``,
    scaled by a uniform factor in ``[1 - jitter, 1 + jitter]`` when ``jitter > 0`` (``rng`` is
    only consulted then).
    """
    delay = config.delay(attempt)
    if delay == 0.0 or config.jitter <= 0:
        return delay
    return delay * (1.0 + config.jitter * (2.0 * rng.random() - 1.0))


def attempts_exhausted(config: BackoffConfig, attempt: int) -> bool:
    """Whether no attempt may follow once attempt number ``attempt`` (1-based) has failed."""
    return config.max_attempts is not None and attempt >= config.max_attempts


# -- frames ---------------------------------------------------------------------------------

_UNLOCKING_EVENT_TYPES: Final = frozenset({"mercury.buffer_state", "mercury.registration_status"})

_SENDABLE_CODES: Final = range(3000, 5000)


_ENCODER: Final = json.JSONEncoder(separators=(",", ":"), allow_nan=False)
"""Built once: ``json.dumps`` with options builds a new encoder on every call."""


def _encode(value: object) -> str:
    """Compact JSON, as ``JSON.stringify`` writes it (ASCII-escaped, so always valid UTF-8)."""
    return _ENCODER.encode(value)


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError("number out of range")
    return number


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


_DECODER: Final = json.JSONDecoder(parse_float=_finite_float, parse_constant=_reject_constant)
"""Built once: ``json.loads`` with hooks builds a new decoder on every call."""


_SCAN: Final = _DECODER.scan_once  # type: ignore[attr-defined]


def _parse(text: str) -> dict[str, Any] | None:
    """The frame as a JSON object, or ``None`` when it is anything else."""
    try:
        # The decoder's own scanner first (frames are compact: no surrounding whitespace);
        # anything else goes through the full decode, which also strips whitespace.
        value, end = _SCAN(text, 0)
        if end != len(text):
            value = _DECODER.decode(text)
    except StopIteration:
        try:
            value = _DECODER.decode(text)
        except (ValueError, RecursionError):
            return None
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


_quoted: Final = json.encoder.encode_basestring_ascii
"""A JSON string literal, ASCII-escaped (the C function behind :data:`_ENCODER`)."""


def _ack(message_id: object) -> str:
    """``{"messageId": <id>, "type": "ack"}``, compact.

    :raises ValueError: the id cannot be written as JSON (NaN, infinity).
    :raises RecursionError: it is nested too deeply.
    """
    text = _quoted(message_id) if type(message_id) is str else _encode(message_id)
    return f'{{"messageId":{text},"type":"ack"}}'


def _sequence_number(frame: dict[str, Any]) -> int | None:
    """``sequenceNumber`` as an int (``parseInt`` style for digit strings), else ``None``."""
    value = frame.get("sequenceNumber")
    if value is None or type(value) is int:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        try:
            return int(value)
        except ValueError:  # more digits than int() accepts
            return None
    return None


def _event_type(frame: dict[str, Any]) -> str | None:
    data = frame.get("data")
    if isinstance(data, dict):
        event_type = data.get("eventType")
        if isinstance(event_type, str):
            return event_type
    return None


def _event(frame: dict[str, Any], event_type: str, sequence: int | None) -> MercuryEvent:
    frame_id = frame.get("id")
    return MercuryEvent(
        id=frame_id if isinstance(frame_id, str) else None,
        event_type=event_type,
        data=frame["data"],
        envelope=frame,
        sequence_number=sequence,
    )


_NO_EVENT_TYPE: Final = "frame has no data.eventType"


def _deliver_or_violation(frame: dict[str, Any], sequence: int | None) -> MercuryAction:
    """What an online frame that is neither a pong nor a shutdown turns into (``_event``
    written out: this runs for every event)."""
    data = frame.get("data")
    if not isinstance(data, dict):
        return ProtocolViolation(_NO_EVENT_TYPE)
    event_type = data.get("eventType")
    if not isinstance(event_type, str):
        return ProtocolViolation(_NO_EVENT_TYPE)
    frame_id = frame.get("id")
    return Deliver(
        MercuryEvent(
            id=frame_id if isinstance(frame_id, str) else None,
            event_type=event_type,
            data=data,
            envelope=frame,
            sequence_number=sequence,
        )
    )


MAX_EARLY_EVENTS: Final = 256
"""Events kept while waiting for ``buffer_state``; more are left unacknowledged."""

_TimerHandler = Callable[["MercuryProtocol", float], "list[MercuryAction]"]


class AuthorizationSource(Protocol):
    """What holds the ``Authorization`` value for the authorization frame: the session's
    :class:`~.credentials.Credentials` (whose token is a registered secret already)."""

    @property
    def authorization(self) -> str: ...


class _Authorization:
    """An ``Authorization`` value given as text, kept as a :class:`~.redaction.Secret`."""

    __slots__ = ("_secret",)

    def __init__(self, value: str) -> None:
        self._secret = Secret(value)

    @property
    def authorization(self) -> str:
        return self._secret.reveal()


# -- the protocol object --------------------------------------------------------------------


class MercuryProtocol:
    """One Mercury websocket connection, sans-IO. See the module docstring.

    ``authorization`` is the ``Authorization`` header value (``"Bearer <token>"``), or what
    holds it (the session's credentials); it goes only into the authorization frame and never
    into a ``repr``. ``tracking_id`` is
    ``"<sessionId>_<epoch ms>"``; ``new_id`` returns a fresh uuid4 string for each frame id.
    """

    __slots__ = (
        "_armed",
        "_arms",
        "_authorization",
        "_config",
        "_early",
        "_expected_sequence",
        "_new_id",
        "_our_close",
        "_outstanding_ping",
        "_ping_sent_at",
        "_tracking_id",
        "authorized",
        "state",
    )

    def __init__(
        self,
        config: MercuryConfig,
        *,
        authorization: str | AuthorizationSource,
        tracking_id: str,
        new_id: Callable[[], str],
    ) -> None:
        self._config = config
        self._authorization: AuthorizationSource = (
            _Authorization(authorization) if isinstance(authorization, str) else authorization
        )
        self._tracking_id = tracking_id
        self._new_id = new_id
        self.state = MercuryState.CONNECTING
        self.authorized = False
        self._armed = 0
        """The armed timers, one bit each (:data:`_BIT`): an int, where a set is 216 bytes."""
        self._arms = _arm_actions(config)
        self._outstanding_ping: str | None = None
        self._ping_sent_at: float | None = None
        self._expected_sequence: int | None = None
        self._our_close: CloseAction | None = None
        self._early: tuple[MercuryEvent, ...] = ()  # rare: no list held for them

    def __repr__(self) -> str:
        return f"<MercuryProtocol state={self.state.name} authorized={self.authorized}>"

    @property
    def armed_timers(self) -> frozenset[MercuryTimer]:
        """The timers armed now (as told by the actions returned so far)."""
        return frozenset(timer for timer in _TIMERS if self._armed & _BIT[timer])

    @property
    def outstanding_ping(self) -> str | None:
        """The id of the ping awaiting its pong, if any."""
        return self._outstanding_ping

    # -- inputs -----------------------------------------------------------------------------

    def opened(self) -> list[MercuryAction]:
        """The websocket is open: send the authorization frame and arm ``AUTHORIZATION``.

        Returns ``[]`` when the connection is already closed (``close`` won the race).
        Raises :class:`LocalProtocolError` when called twice.
        """
        if self.state is MercuryState.CLOSED:
            return []
        if self.state is not MercuryState.CONNECTING:
            raise LocalProtocolError("opened() called twice on one Mercury connection")
        self.state = MercuryState.AUTHORIZING
        frame = (
            f'{{"id":{_quoted(self._new_id())},"type":"authorization",'
            f'"data":{{"token":{_quoted(self._authorization.authorization)}}},'
            f'"trackingId":{_quoted(self._tracking_id)}}}'
        )
        return [SendText(frame), self._arm(MercuryTimer.AUTHORIZATION)]

    def received(self, text: str, *, now: float) -> list[MercuryAction]:
        """One text frame arrived. Never raises on what the server sent.

        A frame with a top-level ``id`` gets its ack first, while authorizing or online; once
        our close frame is out (``CLOSING``) nothing more is sent, acks included.

        Raises :class:`LocalProtocolError` if called before :meth:`opened`.
        """
        state = self.state
        if state is not MercuryState.ONLINE and state is not MercuryState.AUTHORIZING:
            if state is MercuryState.CONNECTING:
                raise LocalProtocolError("received() called before opened()")
            # CLOSED, or CLOSING: our close frame is out, and RFC 6455 5.5.1 allows no data
            # frame after it.
            return []
        frame = _parse(text)
        if frame is None:
            return [ProtocolViolation("frame is not a JSON object")]
        if state is MercuryState.AUTHORIZING and self._no_room_for(frame):
            # Never ack what cannot be kept: the server redelivers what is unacknowledged.
            return [ProtocolViolation("too many events before buffer_state: not acknowledged")]
        actions = self._acknowledge(frame)
        sequence = _sequence_number(frame)
        if sequence is not None or self._expected_sequence is not None:
            self._check_sequence(sequence, actions)
        kind = frame.get("type")
        if kind == "shutdown":
            actions += self._close(1000, "Shutdown", CloseAction.RECONNECT)
        elif state is MercuryState.AUTHORIZING:
            actions += self._received_authorizing(frame, sequence, now)
        elif kind == "pong":
            actions += self._received_pong(frame.get("id"), now)
        else:
            actions.append(_deliver_or_violation(frame, sequence))
        return actions

    def timer_fired(self, timer: MercuryTimer, *, now: float) -> list[MercuryAction]:
        """``timer`` ran out. A timer that is not armed (a late or stale one) is ignored."""
        if not self._armed & _BIT[timer]:
            return []
        self._armed &= ~_BIT[timer]
        return self._TIMER_HANDLERS[timer](self, now)

    def close(self, code: int = 1000, reason: str = "Done") -> list[MercuryAction]:
        """Close the connection: ``CloseSocket`` and a ``FORCE_CLOSE`` deadline. Idempotent.

        ``Closed`` follows from :meth:`closed` or the ``FORCE_CLOSE`` timer, with the action
        ``classify_close(code, reason, authorized=True)`` (``1000 'Done'`` and ``3050`` are
        permanent). Raises :class:`LocalProtocolError` for a code a client may not send
        (only 1000 and 3000-4999 are allowed).
        """
        if code != 1000 and code not in _SENDABLE_CODES:
            raise LocalProtocolError(f"close code {code} is not 1000 or 3000-4999")
        return self._close(code, reason, classify_close(code, reason, authorized=True))

    def closed(self, code: int, reason: str) -> list[MercuryAction]:
        """The socket reported itself closed (or the connection failed before opening)."""
        if self.state is MercuryState.CLOSED:
            return []
        if self._our_close is not None:
            action = self._our_close
        else:
            action = classify_close(code, reason, authorized=self.authorized)
        return self._finish(code, reason, action)

    # -- helpers ----------------------------------------------------------------------------

    def _arm(self, timer: MercuryTimer) -> ArmTimer:
        self._armed |= _BIT[timer]
        return self._arms[timer]

    def _disarm(self, timer: MercuryTimer) -> DisarmTimer:
        self._armed &= ~_BIT[timer]
        return _DISARM[timer]

    def _disarm_all(self) -> list[MercuryAction]:
        actions: list[MercuryAction] = [*_DISARM_ALL[self._armed]]
        self._armed = 0
        return actions

    def _acknowledge(self, frame: dict[str, Any]) -> list[MercuryAction]:
        frame_id = frame.get("id")
        if type(frame_id) is str:  # the usual id, straight into the ack's text
            return [SendText(f'{{"messageId":{_quoted(frame_id)},"type":"ack"}}')]
        if "id" not in frame:
            return [ProtocolViolation("frame has no id (not acknowledged)")]
        try:
            return [SendText(_ack(frame["id"]))]
        except (ValueError, RecursionError):
            return [ProtocolViolation("frame id cannot be echoed (not acknowledged)")]

    def _check_sequence(self, got: int | None, actions: list[MercuryAction]) -> None:
        """Like ``Socket.onmessage``: a frame without a number disables the next check."""
        expected = self._expected_sequence
        self._expected_sequence = None if got is None else got + 1
        if got is not None and expected is not None and got != expected:
            actions.append(SequenceMismatch(expected, got))

    def _no_room_for(self, frame: dict[str, Any]) -> bool:
        """True for an event ahead of ``buffer_state`` when :data:`MAX_EARLY_EVENTS` are
        kept already."""
        if len(self._early) < MAX_EARLY_EVENTS:  # the usual case: room for any frame
            return False
        event_type = _event_type(frame)
        return "type" not in frame and event_type not in (None, *_UNLOCKING_EVENT_TYPES)

    def _received_authorizing(
        self, frame: dict[str, Any], sequence: int | None, now: float
    ) -> list[MercuryAction]:
        event_type = _event_type(frame)
        if "type" in frame or event_type is None:
            return [ProtocolViolation("first frame after authorization is not buffer_state")]
        if event_type not in _UNLOCKING_EVENT_TYPES:
            # An event ahead of buffer_state (acked already): delivered once online, in order.
            self._early += (_event(frame, event_type, sequence),)
            return []
        self.state = MercuryState.ONLINE
        self.authorized = True
        actions: list[MercuryAction] = [
            self._disarm(MercuryTimer.AUTHORIZATION),
            Online(event_type, frame),
        ]
        if self._early:
            actions += [Deliver(event) for event in self._early]
            self._early = ()
        actions += self._ping(now)
        return actions

    def _received_pong(self, pong_id: object, now: float) -> list[MercuryAction]:
        ping_id = self._outstanding_ping
        if ping_id is None:
            return [ProtocolViolation("pong without an outstanding ping")]
        if pong_id != ping_id:
            return self._close(1000, "Pong mismatch", CloseAction.RECONNECT)
        latency = None if self._ping_sent_at is None else now - self._ping_sent_at
        self._outstanding_ping = self._ping_sent_at = None
        return [
            self._disarm(MercuryTimer.PONG),
            PongReceived(ping_id, latency),
            self._arm(MercuryTimer.PING),
        ]

    def _ping(self, now: float) -> list[MercuryAction]:
        self._outstanding_ping = self._new_id()
        self._ping_sent_at = now
        ping = SendText(f'{{"id":{_quoted(self._outstanding_ping)},"type":"ping"}}')
        return [ping, self._arm(MercuryTimer.PONG)]

    def _close(self, code: int, reason: str, action: CloseAction) -> list[MercuryAction]:
        if self.state in (MercuryState.CLOSING, MercuryState.CLOSED):
            return []
        self._our_close = action
        if self.state is MercuryState.CONNECTING:
            return [_ABORT, *self._finish(code, reason, action)]
        self.state = MercuryState.CLOSING
        self._outstanding_ping = self._ping_sent_at = None
        actions = self._disarm_all()
        return [*actions, CloseSocket(code, reason), self._arm(MercuryTimer.FORCE_CLOSE)]

    def _finish(self, code: int, reason: str, action: CloseAction) -> list[MercuryAction]:
        actions = self._disarm_all()
        self.state = MercuryState.CLOSED
        self._outstanding_ping = self._ping_sent_at = None
        by_us = self._our_close is not None
        return [*actions, Closed(code, reason, action, self.authorized, by_us)]

    # -- timers -----------------------------------------------------------------------------

    def _authorization_timed_out(self, now: float) -> list[MercuryAction]:
        return self._close(1000, "Authorization timed out", CloseAction.RECONNECT)

    def _ping_due(self, now: float) -> list[MercuryAction]:
        return self._ping(now)

    def _pong_missed(self, now: float) -> list[MercuryAction]:
        return self._close(1000, "Pong not received", CloseAction.RECONNECT)

    def _force_close(self, now: float) -> list[MercuryAction]:
        assert self._our_close is not None
        return [_ABORT, *self._finish(1000, "Done (forced)", self._our_close)]

    _TIMER_HANDLERS: Final[dict[MercuryTimer, _TimerHandler]] = {
        MercuryTimer.AUTHORIZATION: _authorization_timed_out,
        MercuryTimer.PING: _ping_due,
        MercuryTimer.PONG: _pong_missed,
        MercuryTimer.FORCE_CLOSE: _force_close,
    }


_TIMER_DELAYS: Final[dict[MercuryTimer, Callable[[MercuryConfig], float]]] = {
    MercuryTimer.AUTHORIZATION: lambda config: config.authorization_timeout,
    MercuryTimer.PING: lambda config: config.ping_interval,
    MercuryTimer.PONG: lambda config: config.pong_timeout,
    MercuryTimer.FORCE_CLOSE: lambda config: config.force_close_delay,
}


@per_config
def _arm_actions(config: MercuryConfig) -> dict[MercuryTimer, ArmTimer]:
    """The :class:`ArmTimer` of each timer under ``config``: immutable, so built once."""
    return {timer: ArmTimer(timer, delay(config)) for timer, delay in _TIMER_DELAYS.items()}


_DISARM: Final = {timer: DisarmTimer(timer) for timer in MercuryTimer}
"""The :class:`DisarmTimer` of each timer, built once."""

_BIT: Final = {timer: 1 << index for index, timer in enumerate(_TIMERS)}
"""Each timer's bit in :attr:`MercuryProtocol._armed`."""

_DISARM_ALL: Final = tuple(
    tuple(_DISARM[timer] for timer in _TIMERS if armed & _BIT[timer])
    for armed in range(1 << len(_TIMERS))
)
"""The :class:`DisarmTimer` actions for every set of armed timers (by its bits), in order."""
