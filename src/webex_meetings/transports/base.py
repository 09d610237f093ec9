"""The two small interfaces every transport implements.

A transport only moves bytes. It never decides anything about the protocol; it maps every
exception of the library underneath (httpx, wsproto, anyio, trio, ssl, OSError) into
:class:`~webex_meetings.core.errors.TransportError` (or its subclasses) at this boundary.

* :class:`HttpTransport`: send one :class:`~webex_meetings.core.http.HttpRequest`, get one
  :class:`~webex_meetings.core.http.HttpResponse` (any status; statuses are the core's business).
* :class:`WebSocketConnector` opens a :class:`WebSocketConnection`: text messages in and out,
  a close handshake, an abort.
* :class:`PushWebSocketConnection` is a connection that can also hand each message to a
  callback as it arrives and send without waiting; a driver then runs it without a task
  (:mod:`.websocket_asyncio` is one).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ..core.http import HttpRequest, HttpResponse

__all__ = [
    "HttpTransport",
    "PushWebSocketConnection",
    "WebSocketClosedMessage",
    "WebSocketConnection",
    "WebSocketConnector",
    "WebSocketMessage",
    "WebSocketTextMessage",
    "failed_by_us",
]


@dataclass(frozen=True, slots=True)
class WebSocketTextMessage:
    """One complete text message from the peer."""

    text: str


@dataclass(frozen=True, slots=True)
class WebSocketClosedMessage:
    """The connection is closed: the peer's close code and reason, or 1006 when the
    connection ended without a close frame. After this, ``receive`` keeps returning it."""

    code: int
    reason: str = ""


WebSocketMessage = WebSocketTextMessage | WebSocketClosedMessage

ABNORMAL_CLOSURE = 1006


def failed_by_us(code: int, reason: str) -> WebSocketClosedMessage:
    """How a side that failed the connection itself (a message too big, invalid UTF-8, a
    broken frame) reports it: it sent close ``code``, the peer sent none, so 1006 with a
    reason saying who closed and why, as a browser reports it. To a session this is a lost
    connection (reconnect), not the server's verdict."""
    return WebSocketClosedMessage(ABNORMAL_CLOSURE, f"closed by us with {code}: {reason}")


@runtime_checkable
class HttpTransport(Protocol):
    """Sends HTTP requests. One instance per Webex instance; keeps connections alive."""

    async def send(self, request: HttpRequest) -> HttpResponse:
        """Send ``request`` and return the response, whatever its status.

        :raises TimeoutError: ``request.timeout`` (or the transport default) ran out.
        :raises TransportError: no response (refused, reset, TLS failure, proxy failure).
        """
        ...

    async def aclose(self) -> None:
        """Close every pooled connection. Idempotent."""
        ...


@runtime_checkable
class WebSocketConnection(Protocol):
    """One open websocket (text messages only, as Mercury uses it)."""

    async def send_text(self, text: str) -> None:
        """Send one text message.

        :raises TransportError: the connection is closed or broken.
        """
        ...

    async def receive(self) -> WebSocketMessage:
        """The next message; a :class:`WebSocketClosedMessage` once the connection is closed
        (answering the peer's close frame is the transport's job). Binary messages are
        decoded as UTF-8 text; pings are answered by the transport."""
        ...

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Send a close frame; the peer's answer arrives through :meth:`receive`.
        Idempotent; never raises."""
        ...

    async def aclose(self) -> None:
        """Drop the connection now, without waiting for anything. Idempotent; never raises."""
        ...


@runtime_checkable
class PushWebSocketConnection(WebSocketConnection, Protocol):
    """A :class:`WebSocketConnection` that can also push: messages go to a callback as they
    arrive and sends never wait, so whoever drives it needs no task while it is open. Every
    method here is synchronous and runs on the event loop."""

    def deliver_to(self, receiver: Callable[[WebSocketMessage], None]) -> None:
        """From now on call ``receiver(message)`` for every message, in order, ending with
        exactly one :class:`WebSocketClosedMessage`; messages that arrived before are handed
        over at once, here. ``receive()`` must not be used after this."""
        ...

    def send_text_nowait(self, text: str) -> None:
        """Send one text message without waiting (it is buffered). A peer that stops
        reading fails the connection (1006) once a bounded amount is buffered.

        :raises TransportError: the connection is closing or closed.
        """
        ...

    def close_nowait(self, code: int = 1000, reason: str = "") -> None:
        """Send a close frame; the answer arrives as the last message. Never raises."""
        ...

    def abort(self) -> None:
        """Drop the connection now; the receiver gets a 1006 if it had no close yet. Never
        raises."""
        ...


@runtime_checkable
class WebSocketConnector(Protocol):
    """Opens websockets."""

    async def connect(self, url: str) -> WebSocketConnection:
        """Open a websocket to ``url`` (``ws://`` or ``wss://``), no subprotocol.

        :raises HandshakeRejectedError: the server answered the upgrade with another status.
        :raises TimeoutError: connecting took longer than the connector's timeout.
        :raises TransportError: the connection could not be made.
        """
        ...
