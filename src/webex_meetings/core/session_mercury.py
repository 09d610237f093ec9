"""The Mercury steps of a meetings session: connect, run the protocol, reconnect.

One :class:`~.mercury.MercuryProtocol` object per websocket does the frame-level work (the
authorization frame, acks, ``buffer_state``, pings); this part maps its actions onto effects
(socket ids, timer ids), and decides what follows a close: ``meetings:registered`` when a
registration's socket comes online, a reconnect with backoff after a transient close
(``network:disconnected`` / ``network:connected``), or the end of the connection
(``disconnected``) after a permanent one. A websocket upgrade refused with 404 means the device
is gone (refresh, re-create, reconnect), 401 a token refresh, 429 waits ``Retry-After``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ._session_base import SessionBase, Socket
from .config import BackoffConfig
from .credentials import check_token_destination
from .effects import AbortWebSocket, CloseWebSocket, OpenWebSocket, SendWebSocketText
from .errors import HandshakeRejectedError, MercuryClosedError, TokenWithheldError, WebexError
from .events import ConnectionFailed, MeetingsRegistered, NetworkConnected, NetworkDisconnected
from .http_client import MAX_RETRY_AFTER
from .inputs import WebSocketClosed, WebSocketOpened, WebSocketRejected, WebSocketTextReceived
from .lifecycle import State, Trigger
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
    Online,
    SendText,
    attempts_exhausted,
    backoff_delay,
    mercury_url,
)

__all__ = ["MercurySteps"]

log = logging.getLogger("webex_meetings.core.session")

RECENT_EVENT_IDS = 1024
"""How many delivered event ids are remembered to drop redeliveries."""

_GIVE_UP_ACTIONS = frozenset({CloseAction.ABORT, CloseAction.REPLACED, CloseAction.PERMANENT})


class MercurySteps(SessionBase):
    """The Mercury half of :class:`~.session.MeetingsSession`."""

    def _connect_first(self) -> None:
        self._connect_failures = 0
        self._open_socket()

    def _open_socket(self) -> None:
        """Step 3: open the Mercury websocket for the held device.

        Its first frame carries the token, so the device's ``webSocketUrl`` must pass the
        token rule first; a refused URL is never opened and ends the attempts for good.
        """
        self._reconnect_timer = None
        device = self._device
        assert device is not None
        try:
            check_token_destination(
                device.web_socket_url,
                allowed_domains=self._config.allowed_domains,
                extra_hosts=self._config.extra_authorized_hosts,
                step="mercury.connect",
            )
        except TokenWithheldError as error:
            log.warning("%s", error)
            self._connection_attempt_failed(CloseAction.ABORT, error)
            return
        now_ms = int(self._now * 1000)
        protocol = MercuryProtocol(
            self._config.mercury,
            authorization=self.credentials.authorization,
            tracking_id=f"{self.session_id}_{now_ms}",
            new_id=self._new_uuid,
        )
        socket = Socket(next(self._ids), protocol)
        self._socket = socket
        url = mercury_url(
            device.web_socket_url, now_ms=now_ms, ephemeral=self._config.device.ephemeral
        )
        self._out.append(OpenWebSocket(socket.socket_id, url))

    def _current(self, socket_id: int) -> Socket | None:
        socket = self._socket
        return socket if socket is not None and socket.socket_id == socket_id else None

    def _on_socket_opened(self, event: WebSocketOpened) -> None:
        socket = self._current(event.socket_id)
        if socket is not None and not socket.opened:
            socket.opened = True
            self._run_mercury(socket, socket.protocol.opened())

    def _on_socket_text(self, event: WebSocketTextReceived) -> None:
        socket = self._current(event.socket_id)
        if socket is not None and socket.opened:
            self._run_mercury(socket, socket.protocol.received(event.text, now=self._now))

    def _on_socket_closed(self, event: WebSocketClosed) -> None:
        socket = self._current(event.socket_id)
        if socket is not None:
            self._run_mercury(socket, socket.protocol.closed(event.code, event.reason))

    def _on_socket_rejected(self, event: WebSocketRejected) -> None:
        socket = self._current(event.socket_id)
        if socket is None:
            return
        self._release_socket(socket)
        error = HandshakeRejectedError(event.status, retry_after=event.retry_after)
        if event.status == 404:  # the device is gone: PUT finds out, re-POSTs, reconnect
            action = CloseAction.REFRESH_DEVICE_THEN_RECONNECT
        elif event.status == 401:
            action = CloseAction.REFRESH_TOKEN_THEN_RECONNECT
        elif event.status == 403:
            action = CloseAction.ABORT
        else:
            action = CloseAction.RECONNECT
        self._connection_attempt_failed(action, error, retry_after=event.retry_after)

    def _run_mercury(self, socket: Socket, actions: list[MercuryAction]) -> None:
        for action in actions:
            handler = _MERCURY_ACTIONS.get(type(action))
            if handler is not None:
                handler(self, socket, action)
            else:
                log.debug("mercury: %r", action)

    def _mercury_send(self, socket: Socket, action: SendText) -> None:
        self._out.append(SendWebSocketText(socket.socket_id, action.text))

    def _mercury_arm(self, socket: Socket, action: ArmTimer) -> None:
        self._timers.cancel(socket.timers.pop(action.timer, None))
        timer = action.timer

        def fire() -> None:
            socket.timers.pop(timer, None)
            if self._socket is socket:
                self._run_mercury(socket, socket.protocol.timer_fired(timer, now=self._now))

        socket.timers[timer] = self._timers.start(action.delay, fire)

    def _mercury_disarm(self, socket: Socket, action: DisarmTimer) -> None:
        self._timers.cancel(socket.timers.pop(action.timer, None))

    def _mercury_close(self, socket: Socket, action: CloseSocket) -> None:
        self._out.append(CloseWebSocket(socket.socket_id, action.code, action.reason))

    def _mercury_abort(self, socket: Socket, _: AbortSocket) -> None:
        self._out.append(AbortWebSocket(socket.socket_id))

    def _mercury_online(self, socket: Socket, _: Online) -> None:
        self._connect_failures = 0
        if self.state is State.REGISTERING:
            self._registration = None
            self._fire(Trigger.REGISTRATION_SUCCEEDED)
            assert self._device is not None
            self._emit(MeetingsRegistered(self._device.info()))
            self._finish_command(None)
        elif self.state is State.RECONNECTING:
            self._fire(Trigger.RECONNECTED)
            self._emit(NetworkConnected())

    def _mercury_deliver(self, socket: Socket, action: Deliver) -> None:
        if self.state not in (State.REGISTERED, State.REGISTERING, State.RECONNECTING):
            return
        event_id = action.event.id
        if event_id is not None:
            # Mercury redelivers what it thinks unacked (an ack lost with a dropped socket):
            # the frame is acked again, but the application sees each event once.
            if event_id in self._recent_event_ids:
                log.debug("dropping a redelivered event %s", event_id)
                return
            self._recent_event_ids[event_id] = None
            if len(self._recent_event_ids) > RECENT_EVENT_IDS:
                self._recent_event_ids.popitem(last=False)
        self._emit(action.event)

    def _mercury_closed(self, socket: Socket, closed: Closed) -> None:
        self._release_socket(socket)
        state = self.state
        log.debug("mercury closed: %d %r -> %s", closed.code, closed.reason, closed.action.name)
        action = closed.action
        if self._reconnect_after_close:
            self._reconnect_after_close = False
            action = CloseAction.RECONNECT
        if state is State.UNREGISTERING:
            self._delete_device()
            return
        error = MercuryClosedError(closed.code, closed.reason)
        if state is State.REGISTERED:
            will_reconnect = action not in _GIVE_UP_ACTIONS
            self._emit(NetworkDisconnected(closed.code, closed.reason, will_reconnect))
            if not will_reconnect:
                self._fire(Trigger.CONNECTION_ENDED)
                return
            self._fire(Trigger.CONNECTION_LOST)
            self._connect_failures = 0
            self._reconnect_later(backoff_delay(self._backoff(), 1, self._rng))  # immediate
            return
        self._connection_attempt_failed(action, error)

    def _release_socket(self, socket: Socket) -> None:
        for timer_id in socket.timers.values():
            self._timers.cancel(timer_id)
        socket.timers.clear()
        if self._socket is socket:
            self._socket = None

    def _drop_socket(self) -> None:
        socket = self._socket
        if socket is not None:
            self._release_socket(socket)
            self._out.append(AbortWebSocket(socket.socket_id))

    def _backoff(self) -> BackoffConfig:
        mercury = self._config.mercury
        return (
            mercury.initial_backoff
            if self.state is State.REGISTERING
            else mercury.reconnect_backoff
        )

    def _connection_attempt_failed(
        self, action: CloseAction, error: WebexError, *, retry_after: float | None = None
    ) -> None:
        """Decide what follows a failed or lost connection: retry after a delay, or stop."""
        if self.state not in (State.REGISTERING, State.REGISTERED, State.RECONNECTING):
            return
        backoff = self._backoff()
        self._connect_failures += 1
        next_attempt = self._connect_failures + 1
        cannot_refresh = (
            action is CloseAction.REFRESH_TOKEN_THEN_RECONNECT and not self.credentials.can_refresh
        )
        exhausted = attempts_exhausted(backoff, self._connect_failures)
        if action in _GIVE_UP_ACTIONS or cannot_refresh or exhausted:
            self._emit(ConnectionFailed(self._connect_failures, str(error), None))
            self._connection_given_up(error)
            return
        waited = min(retry_after or 0.0, MAX_RETRY_AFTER)  # a server cannot park us for a day
        delay = max(backoff_delay(backoff, next_attempt, self._rng), waited)
        self._emit(ConnectionFailed(self._connect_failures, str(error), delay))
        if action is CloseAction.REFRESH_TOKEN_THEN_RECONNECT:
            self._http.refresh_token(lambda refresh_error: self._reconnect_later(delay))
        elif action is CloseAction.REFRESH_DEVICE_THEN_RECONNECT and self._device is not None:
            self._refresh_device(
                then=lambda: self._reconnect_later(delay),
                on_error=lambda refresh_error: self._reconnect_later(delay),
            )
        else:
            self._reconnect_later(delay)

    def _reconnect_later(self, delay: float) -> None:
        if self.state not in (State.REGISTERING, State.RECONNECTING) or self._device is None:
            return
        if self._registration is not None and self._registration.failed:
            return
        self._timers.cancel(self._reconnect_timer)
        if delay <= 0:
            self._open_socket()
        else:
            self._reconnect_timer = self._timers.start(delay, self._open_socket)

    def _connection_given_up(self, error: WebexError) -> None:
        if self.state is State.REGISTERING:
            self._fail_registration(error)
        elif self.state is State.RECONNECTING:
            self._fire(Trigger.CONNECTION_ENDED)


_MERCURY_ACTIONS: dict[type[MercuryAction], Callable[[MercurySteps, Socket, Any], None]] = {
    SendText: MercurySteps._mercury_send,
    ArmTimer: MercurySteps._mercury_arm,
    DisarmTimer: MercurySteps._mercury_disarm,
    CloseSocket: MercurySteps._mercury_close,
    AbortSocket: MercurySteps._mercury_abort,
    Online: MercurySteps._mercury_online,
    Deliver: MercurySteps._mercury_deliver,
    Closed: MercurySteps._mercury_closed,
}
"""What each Mercury action turns into; the rest (pongs, violations) is only logged."""
