"""The session's Mercury connection, across reconnects.

Theory of operation
-------------------
:class:`MercuryLink` keeps at most one Mercury websocket open for the session's device. One
:class:`~.mercury.MercuryProtocol` per socket does the frame-level work (authorization frame,
acks, ``buffer_state``, pings); the link maps its actions onto effects (socket and timer ids),
delivers each event once (Mercury redelivers what it thinks unacked), and decides what follows
a close. It never touches the lifecycle: every method returns the effects to run and, among
them, :class:`LinkNotice` values telling the session what happened, in order:

* the connection came online (``buffer_state``): :class:`Connected`;
* a connection that was online closed: ``network:disconnected``, then :class:`Lost` (with
  ``will_reconnect``) and, for a transient close, :class:`ReconnectDue` at once;
* an attempt failed (upgrade refused, closed before ``buffer_state``, URL refused by the token
  rule): ``mercury:connection_failed``, then one of :class:`ReconnectDue` (after the backoff
  delay), :class:`RefreshTokenFirst` (401, 4401), :class:`RefreshDeviceFirst` (404, 1005) or
  :class:`GaveUp` (403, 4400, 4403, replaced, attempts exhausted);
* the close asked for by :meth:`MercuryLink.stop` finished: :class:`Stopped`.

Backoff follows the *initial* schedule (bounded, so ``register()`` settles) until the link has
been online once since :meth:`MercuryLink.connect`, the *reconnect* schedule (unlimited by
default) after. The session opens every attempt itself (:meth:`MercuryLink.open`, on
:class:`ReconnectDue`), so each one uses the device URL and the token current at that time.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from .config import BackoffConfig, SessionConfig
from .credentials import Credentials
from .effects import (
    AbortWebSocket,
    CloseWebSocket,
    Effect,
    EmitEvent,
    OpenWebSocket,
    SendWebSocketText,
)
from .errors import HandshakeRejectedError, MercuryClosedError, TokenWithheldError, WebexError
from .events import ConnectionFailed, NetworkDisconnected
from .fast_init import fast_init
from .http_client import MAX_RETRY_AFTER
from .mercury import (
    AbortSocket,
    ArmTimer,
    CloseAction,
    Closed,
    CloseSocket,
    Deliver,
    DisarmTimer,
    MercuryAction,
    MercuryProtocol,
    MercuryTimer,
    Online,
    SendText,
    attempts_exhausted,
    backoff_delay,
    mercury_url,
)
from .timers import TimerSet
from .token_rule import check_token_destination

__all__ = [
    "Connected",
    "GaveUp",
    "LinkNotice",
    "LinkOutput",
    "Lost",
    "MercuryLink",
    "ReconnectDue",
    "RefreshDeviceFirst",
    "RefreshTokenFirst",
    "Stopped",
]

log = logging.getLogger("webex_meetings.core.mercury")

RECENT_EVENT_IDS: Final = 1024
"""How many delivered event ids are remembered, at least, to drop redeliveries: the ids come
in generations of this many, and the newest two are kept (a set forgets nothing one by one
for free; a dict emptied from the front gets slower with every removal)."""

_GIVE_UP_ACTIONS: Final = frozenset(
    {CloseAction.ABORT, CloseAction.REPLACED, CloseAction.PERMANENT}
)

_REJECTIONS: Final[dict[int, CloseAction]] = {
    404: CloseAction.REFRESH_DEVICE_THEN_RECONNECT,  # the device is gone: PUT finds out
    401: CloseAction.REFRESH_TOKEN_THEN_RECONNECT,
    403: CloseAction.ABORT,
}
"""What a refused websocket upgrade means, by status; any other status: reconnect."""

_SOCKET_TIMERS: Final = tuple(MercuryTimer)
"""A connection's timers (iterating the enum itself is slow Python)."""

_RECONNECT: Final = "reconnect"
"""The timer key of the next connection attempt."""


# -- what the link tells the session ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LinkNotice:
    """Base class of what :class:`MercuryLink` tells its session."""


@dataclass(frozen=True, slots=True)
class Connected(LinkNotice):
    """Mercury is online: the server sent ``buffer_state``."""


@fast_init
@dataclass(frozen=True, slots=True)
class Lost(LinkNotice):
    """A connection that was online closed (``network:disconnected`` is already emitted)."""

    will_reconnect: bool


@fast_init
@dataclass(frozen=True, slots=True)
class GaveUp(LinkNotice):
    """No further attempt will be made: ``error`` says why."""

    error: WebexError


@dataclass(frozen=True, slots=True)
class ReconnectDue(LinkNotice):
    """Time for the next attempt: the session calls :meth:`MercuryLink.open`."""


@fast_init
@dataclass(frozen=True, slots=True)
class RefreshTokenFirst(LinkNotice):
    """Refresh the token, then call :meth:`MercuryLink.reconnect_in` with ``delay``."""

    delay: float


@fast_init
@dataclass(frozen=True, slots=True)
class RefreshDeviceFirst(LinkNotice):
    """Refresh (or re-create) the device, then call :meth:`MercuryLink.reconnect_in`."""

    delay: float


@dataclass(frozen=True, slots=True)
class Stopped(LinkNotice):
    """The connection asked to stop is closed (or there was none)."""


_NO_IDS: Final[frozenset[str]] = frozenset()

_CONNECTED: Final = Connected()
_RECONNECT_DUE: Final = ReconnectDue()
_STOPPED: Final = Stopped()

LinkOutput = Effect | LinkNotice
"""What the link's methods return, in order."""


@dataclass(slots=True, eq=False)
class _Socket:
    """The websocket open or opening now."""

    socket_id: int
    protocol: MercuryProtocol
    opened: bool = False


class MercuryLink:
    """One session's Mercury connection; see the module docstring. Not thread-safe.

    ``new_id`` allocates socket and timer ids (the session's one allocator), ``new_uuid``
    frame ids; ``rng`` jitters the backoff.
    """

    __slots__ = (
        "_can_refresh_token",
        "_config",
        "_failures",
        "_move_after_close",
        "_new_id",
        "_new_uuid",
        "_older_ids",
        "_online_since_connect",
        "_recent_ids",
        "_rng",
        "_session_id",
        "_socket",
        "_stopping",
        "_timers",
    )

    def __init__(
        self,
        config: SessionConfig,
        *,
        session_id: str,
        new_id: Callable[[], int],
        new_uuid: Callable[[], str],
        rng: random.Random,
    ) -> None:
        self._config = config
        self._session_id = session_id
        self._new_id = new_id
        self._new_uuid = new_uuid
        self._rng = rng
        self._socket: _Socket | None = None
        self._timers: TimerSet[MercuryTimer | str] = TimerSet(new_id)
        self._failures = 0
        self._online_since_connect = False
        self._can_refresh_token = False
        self._stopping = False
        self._move_after_close = False
        self._recent_ids: set[str] = set()
        """Delivered event ids, the current generation (see :data:`RECENT_EVENT_IDS`)."""
        self._older_ids: set[str] | frozenset[str] = _NO_IDS
        """The generation before."""

    def __repr__(self) -> str:
        socket = self._socket
        state = "none" if socket is None else socket.protocol.state.value
        return f"<MercuryLink socket={state} failures={self._failures}>"

    @property
    def socket_id(self) -> int | None:
        """The id of the websocket open or opening now, if any."""
        socket = self._socket
        return None if socket is None else socket.socket_id

    @property
    def waiting_for(self) -> str:
        """The step an attempt is at: ``mercury.connect`` (opening, or backing off) or
        ``mercury.buffer_state`` (authorization frame sent, waiting to be let in)."""
        socket = self._socket
        opened = socket is not None and socket.opened
        return "mercury.buffer_state" if opened else "mercury.connect"

    # -- what the session asks ----------------------------------------------------------

    def connect(
        self, web_socket_url: str, credentials: Credentials, *, now: float
    ) -> list[LinkOutput]:
        """Start connecting for a newly held device: the first attempt, on the initial
        backoff schedule."""
        self._failures = 0
        self._online_since_connect = False
        self._stopping = False
        return self.open(web_socket_url, credentials, now=now)

    def open(
        self, web_socket_url: str, credentials: Credentials, *, now: float
    ) -> list[LinkOutput]:
        """Open one connection attempt. Its first frame carries the token, so the URL must
        pass the token rule first; a refused URL is never opened and ends the attempts."""
        output: list[LinkOutput] = list(self._timers.cancel(_RECONNECT))
        try:
            check_token_destination(
                web_socket_url,
                allowed_domains=self._config.allowed_domains,
                extra_hosts=self._config.extra_authorized_hosts,
                step="mercury.connect",
            )
        except TokenWithheldError as error:
            log.warning("%s", error)
            return output + self._attempt_failed(CloseAction.ABORT, error)
        now_ms = int(now * 1000)
        protocol = MercuryProtocol(
            self._config.mercury,
            authorization=credentials,
            tracking_id=f"{self._session_id}_{now_ms}",
            new_id=self._new_uuid,
        )
        self._can_refresh_token = credentials.can_refresh
        socket = self._socket = _Socket(self._new_id(), protocol)
        url = mercury_url(web_socket_url, now_ms=now_ms, ephemeral=self._config.device.ephemeral)
        output.append(OpenWebSocket(socket.socket_id, url))
        return output

    def reconnect_in(self, delay: float) -> list[LinkOutput]:
        """Attempt again after ``delay`` seconds (:class:`ReconnectDue` then)."""
        if delay <= 0:
            return [*self._timers.cancel(_RECONNECT), _RECONNECT_DUE]
        return list(self._timers.start(_RECONNECT, delay))

    def move(self) -> list[LinkOutput]:
        """The device's websocket URL changed: close an open connection and reconnect (to
        the new URL the session hands to :meth:`open`)."""
        socket = self._socket
        if socket is None or not socket.opened:
            return []
        self._move_after_close = True
        return self._run(socket, socket.protocol.close(1000, "Done"))

    def stop(self, code: int, reason: str) -> list[LinkOutput]:
        """Close for good (``unregister()``): no reconnect; :class:`Stopped` once closed."""
        self._stopping = True
        output: list[LinkOutput] = list(self._timers.cancel(_RECONNECT))
        socket = self._socket
        if socket is not None and socket.opened:
            return output + self._run(socket, socket.protocol.close(code, reason))
        return [*output, *self.drop(), _STOPPED]

    def drop(self) -> list[LinkOutput]:
        """Abandon everything now: no close handshake, no notice, no reconnect."""
        output: list[LinkOutput] = list(self._timers.cancel(_RECONNECT))
        socket = self._socket
        if socket is not None:
            output += self._release(socket)
            output.append(AbortWebSocket(socket.socket_id))
        return output

    def give_up(self, error: WebexError) -> list[LinkOutput]:
        """Stop trying for a reason found outside the link (the session's token can no
        longer be renewed): abandon any attempt, then ``mercury:connection_failed`` with no
        retry and :class:`GaveUp` (``error``), as after a permanent close."""
        output: list[LinkOutput] = self.drop()
        failure = f"{type(error).__name__}: {error}"
        output += [EmitEvent(ConnectionFailed(self._failures, failure, None)), GaveUp(error)]
        return output

    # -- what the socket did ------------------------------------------------------------

    def _current(self, socket_id: int) -> _Socket | None:
        socket = self._socket
        return socket if socket is not None and socket.socket_id == socket_id else None

    def opened(self, socket_id: int) -> list[LinkOutput]:
        """``WebSocketOpened``: send the authorization frame."""
        socket = self._socket  # _current, inlined here and below: once per frame
        if socket is None or socket.socket_id != socket_id or socket.opened:
            return []
        socket.opened = True
        return self._run(socket, socket.protocol.opened())

    def received(self, socket_id: int, text: str, *, now: float) -> list[LinkOutput]:
        """``WebSocketTextReceived``."""
        socket = self._socket
        if socket is None or socket.socket_id != socket_id or not socket.opened:
            return []
        return self._run(socket, socket.protocol.received(text, now=now))

    def closed(self, socket_id: int, code: int, reason: str) -> list[LinkOutput]:
        """``WebSocketClosed``."""
        socket = self._current(socket_id)
        if socket is None:
            return []
        return self._run(socket, socket.protocol.closed(code, reason))

    def rejected(self, socket_id: int, status: int, retry_after: float | None) -> list[LinkOutput]:
        """``WebSocketRejected``: the upgrade was answered with a plain HTTP status."""
        socket = self._current(socket_id)
        if socket is None:
            return []
        output = self._release(socket)
        action = _REJECTIONS.get(status, CloseAction.RECONNECT)
        error = HandshakeRejectedError(status, retry_after=retry_after)
        return output + self._attempt_failed(action, error, retry_after=retry_after)

    def timer_fired(self, timer_id: int, *, now: float) -> list[LinkOutput] | None:
        """A timer of ours ran out; ``None`` when ``timer_id`` is not ours."""
        key = self._timers.fired(timer_id)
        if key is None:
            return None
        if key == _RECONNECT:
            return [_RECONNECT_DUE]
        socket = self._socket
        assert socket is not None  # releasing a socket disarms its timers
        assert isinstance(key, MercuryTimer)
        return self._run(socket, socket.protocol.timer_fired(key, now=now))

    # -- running the protocol's actions -------------------------------------------------

    def _run(self, socket: _Socket, actions: list[MercuryAction]) -> list[LinkOutput]:
        output: list[LinkOutput] = []
        timers = self._timers
        for action in actions:
            # The three usual actions (an ack, a ping, their timers) are turned into effects
            # here; the rest go through the table.
            if type(action) is SendText:
                output.append(SendWebSocketText(socket.socket_id, action.text))
                continue
            if type(action) is ArmTimer:
                output += timers.start(action.timer, action.delay)
                continue
            if type(action) is DisarmTimer:
                output += timers.cancel(action.timer)
                continue
            handler = _ACTIONS.get(type(action))
            if handler is not None:
                handler(self, socket, action, output)
            else:
                log.debug("mercury: %r", action)
        return output

    # Each handler adds what its action turns into to ``output``.

    def _send(self, socket: _Socket, action: SendText, output: list[LinkOutput]) -> None:
        output.append(SendWebSocketText(socket.socket_id, action.text))

    def _arm(self, socket: _Socket, action: ArmTimer, output: list[LinkOutput]) -> None:
        output += self._timers.start(action.timer, action.delay)

    def _disarm(self, socket: _Socket, action: DisarmTimer, output: list[LinkOutput]) -> None:
        output += self._timers.cancel(action.timer)

    def _close(self, socket: _Socket, action: CloseSocket, output: list[LinkOutput]) -> None:
        output.append(CloseWebSocket(socket.socket_id, action.code, action.reason))

    def _abort(self, socket: _Socket, _: AbortSocket, output: list[LinkOutput]) -> None:
        output.append(AbortWebSocket(socket.socket_id))

    def _online(self, socket: _Socket, _: Online, output: list[LinkOutput]) -> None:
        self._failures = 0
        self._online_since_connect = True
        output.append(_CONNECTED)

    def _deliver(self, socket: _Socket, action: Deliver, output: list[LinkOutput]) -> None:
        event_id = action.event.id
        if event_id is not None:
            # Mercury redelivers what it thinks unacked (an ack lost with a dropped socket):
            # the frame is acked again, but the application sees each event once.
            recent = self._recent_ids
            if event_id in recent or event_id in self._older_ids:
                log.debug("dropping a redelivered event %s", event_id)
                return
            if len(recent) == RECENT_EVENT_IDS:
                self._older_ids, recent = recent, set()
                self._recent_ids = recent
            recent.add(event_id)
        output.append(EmitEvent(action.event))

    def _closed(self, socket: _Socket, closed: Closed, output: list[LinkOutput]) -> None:
        output += self._release(socket)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("mercury closed: %d %r -> %s", closed.code, closed.reason, closed.action.name)
        action = closed.action
        if self._move_after_close:
            self._move_after_close = False
            action = CloseAction.RECONNECT
        if self._stopping:
            output.append(_STOPPED)
        elif closed.authorized:
            output += self._lost(closed, action)
        else:
            step = "mercury.buffer_state" if socket.opened else "mercury.connect"
            error = MercuryClosedError(closed.code, closed.reason, by_us=closed.by_us, step=step)
            output += self._attempt_failed(action, error)

    def _release(self, socket: _Socket) -> list[LinkOutput]:
        output: list[LinkOutput] = list(self._timers.cancel_each(_SOCKET_TIMERS))
        if self._socket is socket:
            self._socket = None
        return output

    # -- what follows a close -----------------------------------------------------------

    def _lost(self, closed: Closed, action: CloseAction) -> list[LinkOutput]:
        will_reconnect = action not in _GIVE_UP_ACTIONS
        output: list[LinkOutput] = [
            EmitEvent(NetworkDisconnected(closed.code, closed.reason, will_reconnect)),
            Lost(will_reconnect),
        ]
        if will_reconnect:
            self._failures = 0
            output += self.reconnect_in(backoff_delay(self._backoff(), 1, self._rng))
        return output

    def _backoff(self) -> BackoffConfig:
        mercury = self._config.mercury
        return mercury.reconnect_backoff if self._online_since_connect else mercury.initial_backoff

    def _attempt_failed(
        self, action: CloseAction, error: WebexError, *, retry_after: float | None = None
    ) -> list[LinkOutput]:
        """Decide what follows a failed attempt: another one after a delay, or none."""
        backoff = self._backoff()
        self._failures += 1
        cannot_refresh = (
            action is CloseAction.REFRESH_TOKEN_THEN_RECONNECT and not self._can_refresh_token
        )
        if (
            action in _GIVE_UP_ACTIONS
            or cannot_refresh
            or attempts_exhausted(backoff, self._failures)
        ):
            return [
                EmitEvent(ConnectionFailed(self._failures, str(error), None)),
                GaveUp(error),
            ]
        waited = min(retry_after or 0.0, MAX_RETRY_AFTER)  # a server cannot park us for a day
        delay = max(backoff_delay(backoff, self._failures + 1, self._rng), waited)
        output: list[LinkOutput] = [EmitEvent(ConnectionFailed(self._failures, str(error), delay))]
        if action is CloseAction.REFRESH_TOKEN_THEN_RECONNECT:
            output.append(RefreshTokenFirst(delay))
        elif action is CloseAction.REFRESH_DEVICE_THEN_RECONNECT:
            output.append(RefreshDeviceFirst(delay))
        else:
            output += self.reconnect_in(delay)
        return output


_ActionHandler = Callable[[MercuryLink, _Socket, Any, list[LinkOutput]], None]
_ACTIONS: Final[dict[type[MercuryAction], _ActionHandler]] = {
    SendText: MercuryLink._send,
    ArmTimer: MercuryLink._arm,
    DisarmTimer: MercuryLink._disarm,
    CloseSocket: MercuryLink._close,
    AbortSocket: MercuryLink._abort,
    Online: MercuryLink._online,
    Deliver: MercuryLink._deliver,
    Closed: MercuryLink._closed,
}
"""What each Mercury action turns into; the rest (pongs, violations) is only logged."""
