"""Mercury, the per-device event websocket: the server side of one connection, without I/O.

Theory of operation: a :class:`MercuryConnection` is fed what the client did
(:meth:`~MercuryConnection.receive_text`, ``receive_binary``, ``auth_deadline_passed``,
``closed``) and what the control API asked (:meth:`~MercuryConnection.on_command`), and answers
with a list of actions for the I/O layer (:mod:`webex_meetings.emulator.websocket`):
:class:`Send` a JSON frame, :class:`Close` with a code, or :class:`Authorized` (replace the
device's older sockets, see :func:`replacement_closes`). Every action carries the delay the
fault book asks for its route, so latency applies to every frame the emulator sends. The I/O
layer owns the socket, wsproto, the timers and the command queue; this module owns none.

The protocol, as the official JS SDK speaks it:

1. The upgrade carries no credentials. The first client frame must be
   ``{"id", "type": "authorization", "data": {"token": "Bearer <token>"}, "trackingId"}``
   within the authorization deadline (30 s by default).
2. The server answers with the ``mercury.buffer_state`` envelope: an ``id``, **no top-level
   ``type``**, ``data.eventType``, a ``sequenceNumber``. Queued and unacked events follow.
3. The client acks every frame with an ``id`` (``{"type": "ack", "messageId"}``) and pings
   (``{"type": "ping", "id"}``); the server answers ``{"type": "pong", "id"}`` at once.
4. Either side closes with a close frame; the server answers a client's close at once.

The query parameters of the upgrade, honoured as far as recorded behaviour shows (where the
real service's behaviour is unknown, the emulator's choice is marked *unknown*):

* ``outboundWireFormat=text``: the only format recorded; the emulator always speaks text
  (other values: *unknown*, answered in text).
* ``bufferStates=true``: the unlocking frame is ``mercury.buffer_state``. ``false``: no
  unlocking frame at all (inferred from the name); absent: ``mercury.buffer_state``
  (*unknown*).
* ``mercuryRegistrationStatus=true`` (sent by the JS SDK with ``web-shared-mercury`` on):
  ``mercury.registration_status`` instead, carrying ``localClusterServiceUrls`` (the SDK reads
  that field; the rest of the real payload was never captured).
* ``aliasHttpStatus=true``: the emulator always closes with the HTTP-aliased codes (4400,
  4401, 4403); what the real service uses without it is *unknown*.
* ``multipleConnections=true``: older sockets of the device are not replaced (see
  :func:`replacement_close`).

Close codes used: 4400 malformed authorization or a frame before it, 4401 a token that is not
(or no longer) valid, 4403 a device of another user, 1008 the authorization deadline (with the
real server's reason text), 4000 ``replaced`` by a newer connection of a device that did not
ask for ``multipleConnections``, 4001 ``replaced`` after a server ``shutdown`` notice, 1007 a
frame nested too deeply to parse, 1009 a message over the size limit.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from .behaviour import Behaviour
from .faults import FaultBook
from .layout import Urls
from .recorder import Recorder
from .records import AckRecord, ConnectionInfo, Violation, ViolationKind
from .state import CloudState, PushedEvent

__all__ = [
    "Action",
    "Authorized",
    "Close",
    "CloseCommand",
    "Command",
    "DeliverCommand",
    "Drop",
    "DropCommand",
    "MercuryConnection",
    "Schedule",
    "Send",
    "ShutdownCommand",
    "replacement_close",
]

ROUTE: Final = "mercury"
UPGRADE_ROUTE: Final = "mercury.connect"
"""The websocket upgrade's route name (faults refuse it with their status)."""
BUFFER_STATE: Final = "mercury.buffer_state"
REGISTRATION_STATUS: Final = "mercury.registration_status"
FRAME_ROUTES: Final = {
    "mercury.buffer_state": (
        "the frame that unlocks a session after authorization, buffer_state or "
        "registration_status (a fault withholds it)"
    ),
    "mercury.event": "each pushed event",
    "mercury.pong": "each pong (a fault withholds it)",
    "mercury.shutdown": "the shutdown notice",
    "mercury.close": "each close frame the emulator sends",
}
"""Route names of the frames the emulator sends (for latency, and faults where noted)."""
WITHHOLDABLE_FRAMES: Final = ("mercury.buffer_state", "mercury.pong")


@dataclass(frozen=True, slots=True)
class Send:
    """Send this JSON frame after ``delay`` seconds. ``sequenced`` frames get the next
    ``sequenceNumber`` when sent."""

    payload: dict[str, Any]
    sequenced: bool = True
    delay: float = 0.0


@dataclass(frozen=True, slots=True)
class Close:
    """Send a close frame with this code and reason after ``delay`` seconds."""

    code: int
    reason: str
    delay: float = 0.0


@dataclass(frozen=True, slots=True)
class Authorized:
    """The socket just authorized: close the device's sockets it replaces."""


@dataclass(frozen=True, slots=True)
class Drop:
    """Cut the connection without a close frame (the client sees 1006)."""


@dataclass(frozen=True, slots=True)
class Schedule:
    """Run ``command`` (through :meth:`MercuryConnection.on_command`) ``delay`` seconds from
    now."""

    command: Command
    delay: float


Action = Send | Close | Authorized | Drop | Schedule


@dataclass(frozen=True, slots=True)
class DeliverCommand:
    event: PushedEvent


@dataclass(frozen=True, slots=True)
class CloseCommand:
    code: int
    reason: str


@dataclass(frozen=True, slots=True)
class ShutdownCommand:
    pass


@dataclass(frozen=True, slots=True)
class DropCommand:
    pass


Command = DeliverCommand | CloseCommand | ShutdownCommand | DropCommand


class MercuryConnection:
    """The server side of one Mercury websocket (see the module docstring)."""

    def __init__(
        self,
        *,
        connection_id: int,
        device_id: str,
        user_id: str,
        query: dict[str, str],
        state: CloudState,
        recorder: Recorder,
        faults: FaultBook,
        behaviour: Behaviour,
        urls: Urls,
        auth_deadline: float,
    ) -> None:
        self.id = connection_id
        self.device_id = device_id
        self.user_id = user_id
        self.query = query
        self._state = state
        self._recorder = recorder
        self._faults = faults
        self._behaviour = behaviour
        self._urls = urls
        self.auth_deadline = auth_deadline
        self.authorized = False
        self.shutdown_notified = False
        self.opened_at = state.clock()
        self.authorized_at: float | None = None
        self.ready_at: float | None = None
        self.first_frame: str | None = None
        self.closed_at: float | None = None
        self.delivered: list[str] = []
        self._delivered_ids: set[str] = set()  # the same, for constant-time membership
        self.known_ids: set[str] = set()
        self._unacked_frames: dict[str, str] = {}  # unlocking frames sent: id -> event type
        self.tracking_id = ""
        self.frames_in = 0
        self.frames_out = 0
        self.pings = 0
        self.close_code: int | None = None
        self.close_reason = ""
        self.closed_by: str | None = None
        self._sequence = 0

    @property
    def multiple_connections(self) -> bool:
        return self.query.get("multipleConnections", "").lower() == "true"

    # -- control-side commands ---------------------------------------------------------------

    def on_command(self, command: Command) -> list[Action]:
        """Turn a queued control command into actions."""
        if isinstance(command, DeliverCommand):
            return self._deliver(command.event) if self.authorized else []
        if isinstance(command, CloseCommand):
            return [self._close(command.code, command.reason)]
        if isinstance(command, DropCommand):
            return [Drop()]
        self.shutdown_notified = True
        notice = {"id": self._state.new_uuid(), "type": "shutdown"}
        return [self._send(notice, "mercury.shutdown", sequenced=False)]

    # -- what the client did -----------------------------------------------------------------

    def receive_text(self, text: str) -> list[Action]:
        """One complete text message from the client."""
        self.frames_in += 1
        try:
            frame = json.loads(text)
        except RecursionError:
            self._violate(ViolationKind.MALFORMED_FRAME, "frame nested too deeply to parse")
            return [self._close(1007, "Frame nested too deeply")]
        except ValueError:
            frame = None
        if not isinstance(frame, dict):
            return self._not_an_object()
        if not self.authorized:
            return self._authorize(frame)
        handler = _FRAME_HANDLERS.get(str(frame.get("type")))
        return handler(self, frame) if handler else []

    def receive_binary(self) -> list[Action]:
        """A binary message: Mercury speaks text (``outboundWireFormat=text``)."""
        self.frames_in += 1
        self._violate(ViolationKind.BINARY_FRAME, "binary frame on a text websocket")
        if not self.authorized:
            return [self._close(4400, "Bad authorization frame")]
        return []

    def auth_deadline_passed(self) -> list[Action]:
        """The authorization deadline passed (the I/O layer's timer)."""
        if self.authorized:
            return []
        ms = round(self.auth_deadline * 1000)
        self._violate(ViolationKind.AUTH_DEADLINE, f"no authorization frame within {ms} ms")
        reason = f"authentication did not happen within the timeout window of {ms} seconds."
        return [self._close(1008, reason)]

    def closed(self, code: int | None, reason: str, by: str) -> None:
        """The connection ended; frames sent on it and never acked (events, buffer_state)
        become violations (warnings: the real service redelivers events instead)."""
        self.close_code, self.close_reason, self.closed_by = code, reason, by
        self.closed_at = self._state.clock()
        for frame_id, event_type in self._unacked_frames.items():
            self._violate(ViolationKind.UNACKED_EVENT, f"{event_type} {frame_id} was never acked")
        for event_id in self.delivered:
            event = self._state.find_event(event_id)
            if event is not None and not event.acked:
                self._violate(ViolationKind.UNACKED_EVENT, f"event {event_id} was never acked")

    def oversized(self, limit: int) -> list[Action]:
        """A message (or a frame's announced length) over ``limit`` bytes."""
        self._violate(ViolationKind.OVERSIZED, f"message larger than {limit} bytes")
        return [self._close(1009, "Message too big")]

    def malformed(self, detail: str, code: int) -> list[Action]:
        """A frame the websocket layer could not parse."""
        self._violate(ViolationKind.MALFORMED_FRAME, detail)
        return [self._close(code, "Malformed frame")]

    def now(self) -> float:
        """The emulator clock, in seconds."""
        return self._state.clock()

    def next_sequence(self) -> int:
        """The ``sequenceNumber`` of the next sequenced frame sent."""
        self._sequence += 1
        return self._sequence

    def info(self) -> ConnectionInfo:
        """A snapshot for observers."""
        return ConnectionInfo(
            id=self.id,
            device_id=self.device_id,
            query=tuple(sorted(self.query.items())),
            opened_at=self.opened_at,
            authorized=self.authorized,
            open=self.closed_by is None,
            close_code=self.close_code,
            close_reason=self.close_reason,
            closed_by=self.closed_by,
            frames_in=self.frames_in,
            frames_out=self.frames_out,
            pings=self.pings,
            authorized_at=self.authorized_at,
            ready_at=self.ready_at,
            first_frame=self.first_frame,
            closed_at=self.closed_at,
        )

    # -- internals ---------------------------------------------------------------------------

    def _violate(self, kind: str, detail: str) -> None:
        violation = Violation.of(
            kind,
            detail,
            at=self._state.clock(),
            route=ROUTE,
            client=f"ws#{self.id}",
            device_id=self.device_id,
        )
        self._recorder.violations.append(violation)

    def _send(self, payload: dict[str, Any], route: str, *, sequenced: bool = True) -> Send:
        return Send(payload, sequenced, self._faults.latency_for(route))

    def _close(self, code: int, reason: str) -> Close:
        return Close(code, reason, self._faults.latency_for("mercury.close"))

    def _not_an_object(self) -> list[Action]:
        if not self.authorized:
            self._violate(ViolationKind.AUTH_FRAME_MALFORMED, "first frame is not a JSON object")
            return [self._close(4400, "Bad authorization frame")]
        self._violate(ViolationKind.MALFORMED_FRAME, "frame is not a JSON object")
        return []

    def _authorize(self, frame: dict[str, Any]) -> list[Action]:
        if frame.get("type") != "authorization":
            self._violate(ViolationKind.FRAME_BEFORE_AUTH, f"{frame.get('type')!r} frame first")
            return [self._close(4400, "First frame must be authorization")]
        token = _bearer_of(frame)
        if token is None or not isinstance(frame.get("id"), str):
            detail = "authorization frame needs id and data.token 'Bearer <token>'"
            self._violate(ViolationKind.AUTH_FRAME_MALFORMED, detail)
            return [self._close(4400, "Bad authorization frame")]
        check = self._state.check_token(token)
        if check.user is None:
            return [self._close(4401, "Unauthorized")]
        if check.user.id != self.user_id:
            self._violate(ViolationKind.FOREIGN_DEVICE, "token of another user than the device's")
            return [self._close(4403, "Forbidden")]
        self.authorized = True
        self.authorized_at = self._state.clock()
        self.tracking_id = str(frame.get("trackingId", ""))
        return [Authorized(), *self._first_frame(), *self._redeliver()]

    def _first_frame(self) -> list[Action]:
        """What follows authorization: the unlocking frame (buffer_state or
        registration_status, see :meth:`_unlocking_event`), events first if the variant says
        so, and the scheduled close of this session if a rule asks for one."""
        early = self._early_events() if self._variant("mercury.event_before_buffer_state") else []
        event_type = self._unlocking_event()
        if event_type is None or self._faults.take(BUFFER_STATE) is not None:
            return early  # withheld: the client waits
        self.ready_at = self._state.clock()
        self.first_frame = self.first_frame or event_type
        return [*early, self._send(self._envelope(event_type), BUFFER_STATE), *self._rule()]

    def _unlocking_event(self) -> str | None:
        """``mercury.registration_status`` when asked for (``mercuryRegistrationStatus=true``
        or the variant), no frame for ``bufferStates=false``, else ``mercury.buffer_state``."""
        wants_status = self.query.get("mercuryRegistrationStatus", "").lower() == "true"
        if wants_status or self._variant("mercury.registration_status"):
            return REGISTRATION_STATUS
        if self.query.get("bufferStates", "").lower() == "false":
            return None
        return BUFFER_STATE

    def _early_events(self) -> list[Action]:
        if not self._state.pending_events(self.device_id):
            self._state.enqueue_event(self.device_id, {"eventType": "conversation.activity"})
        actions = self._redeliver()
        pending = self._state.pending_events(self.device_id)
        if pending and self.first_frame is None:
            self.first_frame = str(pending[0].envelope.get("data", {}).get("eventType"))
        return actions

    def _rule(self) -> list[Action]:
        rule = self._behaviour.take_session_rule()
        if rule is None:
            return []
        command: Command = ShutdownCommand()
        if rule.action == "close":
            command = DropCommand() if rule.code == 1006 else CloseCommand(rule.code, rule.reason)
        return [Schedule(command, rule.after)]

    def _variant(self, name: str) -> bool:
        return name in self._behaviour.variants

    def _envelope(self, event_type: str) -> dict[str, Any]:
        message_id = self._state.new_uuid()
        self.known_ids.add(message_id)
        self._unacked_frames[message_id] = event_type
        data: dict[str, Any] = {"eventType": event_type}
        if event_type == BUFFER_STATE:
            data["buffer_state"] = {"conversation": "UNKNOWN", "locus": "UNKNOWN"}
        else:
            data["localClusterServiceUrls"] = {
                "mercuryApiServiceClusterUrl": self._urls.service("mercuryApi"),
                "mercuryConnectionServiceClusterUrl": self._urls.service("mercuryConnection"),
            }
        return {
            "id": message_id,
            "data": data,
            "timestamp": int(self._state.clock() * 1000),
            "trackingId": self.tracking_id,
            "alertType": "none",
            "headers": {},
            "filterMessage": False,
        }

    def _redeliver(self) -> list[Action]:
        actions: list[Action] = []
        for event in self._state.pending_events(self.device_id):
            actions.extend(self._deliver(event))
        return actions

    def _deliver(self, event: PushedEvent) -> list[Action]:
        if event.acked or event.id in self._delivered_ids:
            return []
        event.deliveries += 1
        self.delivered.append(event.id)
        self._delivered_ids.add(event.id)
        self.known_ids.add(event.id)
        return [self._send(dict(event.envelope), "mercury.event")]

    def _on_ping(self, frame: dict[str, Any]) -> list[Action]:
        self.pings += 1
        ping_id = frame.get("id")
        if not isinstance(ping_id, str):
            self._violate(ViolationKind.MALFORMED_FRAME, "ping without an id")
            return []
        if self._faults.take("mercury.pong") is not None:
            return []
        return [self._send({"id": ping_id, "type": "pong"}, "mercury.pong")]

    def _on_ack(self, frame: dict[str, Any]) -> list[Action]:
        message_id = frame.get("messageId")
        if not isinstance(message_id, str):
            self._violate(ViolationKind.MALFORMED_FRAME, "ack without a messageId")
            return []
        known = message_id in self.known_ids
        if known:
            self._state.ack_event(message_id)
            self._unacked_frames.pop(message_id, None)
        record = AckRecord(self._state.clock(), self.id, self.device_id, message_id, known)
        self._recorder.acks.append(record)
        return []

    def _on_authorization(self, frame: dict[str, Any]) -> list[Action]:
        self._violate(ViolationKind.DUPLICATE_AUTH, "authorization frame on an authorized socket")
        return []


def replacement_close(new: MercuryConnection, other: MercuryConnection) -> CloseCommand | None:
    """How a newly authorized socket replaces another of its device, if it does.

    A socket told about a shutdown is closed with 4001; without ``multipleConnections`` on
    the new socket, the others are closed with 4000 (both with reason ``replaced``).
    """
    if other is new or not other.authorized:
        return None
    if other.shutdown_notified:
        return CloseCommand(4001, "replaced")
    if not new.multiple_connections:
        return CloseCommand(4000, "replaced")
    return None


def _bearer_of(frame: dict[str, Any]) -> str | None:
    data = frame.get("data")
    token = data.get("token") if isinstance(data, dict) else None
    if not isinstance(token, str) or not token.startswith("Bearer "):
        return None
    return token[len("Bearer ") :].strip() or None


_FRAME_HANDLERS: dict[str, Callable[[MercuryConnection, dict[str, Any]], list[Action]]] = {
    "ping": MercuryConnection._on_ping,
    "ack": MercuryConnection._on_ack,
    "authorization": MercuryConnection._on_authorization,
}
