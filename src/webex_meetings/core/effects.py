"""What the core asks for: the side effects a driver must carry out, in order.

Every id (request, socket, timer, command) is allocated by the core and unique for the life
of a session. A driver runs the effects returned by one ``handle`` call in list order before
feeding the next input, and reports the outcome of each started operation as an input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import WebexError
from .events import Event
from .fast_init import fast_init
from .http import HttpRequest
from .redaction import redact

if TYPE_CHECKING:
    from .device_store import DeviceRecord

__all__ = [
    "AbortWebSocket",
    "CancelTimer",
    "CloseWebSocket",
    "CompleteCommand",
    "Effect",
    "EmitEvent",
    "OpenWebSocket",
    "RequestToken",
    "SendHttpRequest",
    "SendWebSocketText",
    "StartTimer",
    "UpdateDeviceStore",
]


@dataclass(frozen=True, slots=True)
class Effect:
    """Base class of every effect."""


@fast_init
@dataclass(frozen=True, slots=True)
class SendHttpRequest(Effect):
    """Send ``request``; answer with ``HttpResponseReceived`` or ``HttpRequestFailed``."""

    request_id: int
    request: HttpRequest


@fast_init
@dataclass(frozen=True, slots=True)
class OpenWebSocket(Effect):
    """Open a websocket to ``url`` (ws:// or wss://, no subprotocol, no auth header); answer
    with ``WebSocketOpened``, ``WebSocketRejected`` or ``WebSocketClosed(code=1006)``."""

    socket_id: int
    url: str

    def __repr__(self) -> str:
        return f"OpenWebSocket(socket_id={self.socket_id}, url={redact(self.url)!r})"


@fast_init
@dataclass(frozen=True, slots=True)
class SendWebSocketText(Effect):
    """Send one text message on an open websocket."""

    socket_id: int
    text: str

    def __repr__(self) -> str:
        return f"SendWebSocketText(socket_id={self.socket_id}, text={redact(self.text)!r})"


@fast_init
@dataclass(frozen=True, slots=True)
class CloseWebSocket(Effect):
    """Start the close handshake; answer with ``WebSocketClosed`` once it completes."""

    socket_id: int
    code: int = 1000
    reason: str = ""


@fast_init
@dataclass(frozen=True, slots=True)
class AbortWebSocket(Effect):
    """Drop the connection now, without a close handshake; no further input is expected."""

    socket_id: int


@fast_init
@dataclass(frozen=True, slots=True)
class StartTimer(Effect):
    """Feed ``TimerFired(timer_id)`` after ``delay`` seconds, unless cancelled first."""

    timer_id: int
    delay: float


@fast_init
@dataclass(frozen=True, slots=True)
class CancelTimer(Effect):
    """Forget a timer; a ``TimerFired`` that races with this is ignored by the core."""

    timer_id: int


@fast_init
@dataclass(frozen=True, slots=True)
class EmitEvent(Effect):
    """Deliver ``event`` to the user's listeners."""

    event: Event


@fast_init
@dataclass(frozen=True, slots=True)
class RequestToken(Effect):
    """Ask the app's token provider for a new access token, giving up after ``timeout``
    seconds; answer with ``TokenProvided`` or ``TokenProviderFailed`` (same ``request_id``)."""

    request_id: int
    timeout: float


@fast_init
@dataclass(frozen=True, slots=True)
class CompleteCommand(Effect):
    """The user command ``command_id`` finished: successfully when ``error`` is ``None``."""

    command_id: int
    error: WebexError | None = None


@fast_init
@dataclass(frozen=True, slots=True)
class UpdateDeviceStore(Effect):
    """Save ``record`` in the device store under this session's key, replacing what was
    there; ``None`` forgets it. Nothing is fed back; a driver without a store ignores it."""

    record: DeviceRecord | None
