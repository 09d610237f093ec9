"""In-memory transports for tests (ours and our users'): no socket, asyncio or trio.

:class:`MemoryHttpTransport` hands each request to an async handler and returns its answer.

:class:`MemoryWebSocketConnector` runs a server handler for every ``connect()``, in a task
group owned by the connector (so it is used as ``async with``). The two ends are
:class:`MemoryWebSocketConnection` (the client) and :class:`MemoryServerSocket` (handed to the
handler); both are one :class:`MemoryWebSocket`, so the close semantics are those of a real
websocket on both sides, as the wsproto connectors implement them:

* ``close(code, reason)`` sends a close frame; afterwards ``send_text`` raises.
* A side that receives a close frame it did not start answers it with the same code and
  reason, and reports :class:`~.base.WebSocketClosedMessage` ``(code, reason)``; the side
  that started it reports the answer's code and reason when it arrives.
* ``aclose()`` drops the connection: the peer's ``receive()`` reports 1006.
* A received message over ``max_message_size`` bytes closes with 1009; the receiving side
  reports 1006 "closed by us with 1009: message too big" (:func:`~.base.failed_by_us`).

The handshake is decided by the handler: it is accepted as soon as the handler uses its
socket or returns ``None``; returning a status (or a :class:`MemoryRejection`) first refuses
it, and ``connect()`` raises :class:`~webex_meetings.core.errors.HandshakeRejectedError`.
When the handler returns, its socket is dropped (the client sees 1006 unless it was closed
properly first). An exception in a handler propagates out of the connector's ``async with``.
"""

from __future__ import annotations

import builtins
import contextlib
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType

import anyio
import anyio.abc
import anyio.lowlevel
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ..core.errors import (
    HandshakeRejectedError,
    LocalProtocolError,
    TimeoutError,
    TransportError,
)
from ..core.http import HttpRequest, HttpResponse
from ._closing import AsyncClosing
from ._wsproto_client import ABNORMAL_CLOSURE, DEFAULT_MAX_MESSAGE_SIZE, MESSAGE_TOO_BIG
from .base import WebSocketClosedMessage, WebSocketMessage, WebSocketTextMessage, failed_by_us

__all__ = [
    "HttpHandler",
    "MemoryHttpTransport",
    "MemoryRejection",
    "MemoryServerSocket",
    "MemoryWebSocket",
    "MemoryWebSocketConnection",
    "MemoryWebSocketConnector",
    "WebSocketHandler",
]

HttpHandler = Callable[[HttpRequest], Awaitable[HttpResponse]]


class MemoryHttpTransport(AsyncClosing):
    """:class:`~.base.HttpTransport` answering every request with ``await handler(request)``.

    Every request sent is appended to :attr:`requests`. The handler's own exceptions
    propagate unchanged, so a handler raising ``TransportError`` simulates a network failure.

    :param timeout: seconds for a request that names none; a handler that takes longer makes
        :meth:`send` raise :class:`~webex_meetings.core.errors.TimeoutError`.
    """

    def __init__(self, handler: HttpHandler, *, timeout: float = 30.0) -> None:
        self._handler = handler
        self._timeout = timeout
        self._closed = False
        self.requests: list[HttpRequest] = []

    async def send(self, request: HttpRequest) -> HttpResponse:
        """The handler's response to ``request``.

        :raises TimeoutError: the handler took longer than the timeout.
        :raises TransportError: the transport was closed.
        """
        if self._closed:
            raise TransportError(f"{request.method} {request.host}: the transport is closed")
        self.requests.append(request)
        timeout = self._timeout if request.timeout is None else request.timeout
        try:
            with anyio.fail_after(timeout):
                return await self._handler(request)
        except TimeoutError:
            raise  # the handler's own (ours is also a builtin TimeoutError)
        except builtins.TimeoutError:
            raise TimeoutError(f"{request.method} {request.host}: timed out") from None

    async def aclose(self) -> None:
        """Refuse further requests. Idempotent."""
        self._closed = True


@dataclass(frozen=True, slots=True)
class _CloseFrame:
    code: int
    reason: str


_Frame = str | _CloseFrame
_GONE = (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError)


class MemoryWebSocket:
    """One end of an in-memory websocket; see the module docstring for its semantics."""

    def __init__(
        self,
        outgoing: MemoryObjectSendStream[_Frame],
        incoming: MemoryObjectReceiveStream[_Frame],
        *,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    ) -> None:
        self._outgoing = outgoing
        self._incoming = incoming
        self._max_message_size = max_message_size
        self._sent_close = False
        self._closed: WebSocketClosedMessage | None = None

    async def send_text(self, text: str) -> None:
        """Send one text message.

        :raises TransportError: this side sent a close frame, or the connection is closed.
        """
        await anyio.lowlevel.checkpoint()
        if self._sent_close or self._closed is not None:
            raise TransportError("the websocket is closed")
        try:
            self._outgoing.send_nowait(text)
        except _GONE:
            raise TransportError("the websocket connection broke") from None

    async def receive(self) -> WebSocketMessage:
        """The next text message, or how the connection closed. Never raises."""
        if self._closed is not None:
            await anyio.lowlevel.checkpoint()
            return self._closed
        try:
            frame = await self._incoming.receive()
        except _GONE:
            return self._finish(ABNORMAL_CLOSURE, "")
        if isinstance(frame, _CloseFrame):
            self._send_close(frame.code, frame.reason)
            return self._finish(frame.code, frame.reason)
        if len(frame.encode("utf-8")) > self._max_message_size:
            self._send_close(MESSAGE_TOO_BIG, "message too big")
            failed = failed_by_us(MESSAGE_TOO_BIG, "message too big")
            return self._finish(failed.code, failed.reason)
        return WebSocketTextMessage(frame)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Send a close frame unless one was sent; the answer arrives through
        :meth:`receive`. Idempotent; never raises."""
        await anyio.lowlevel.checkpoint()
        if self._closed is None:
            self._send_close(code, reason)

    async def aclose(self) -> None:
        """Drop the connection: the peer sees 1006. Idempotent; never raises."""
        self.abort()
        await anyio.lowlevel.checkpoint()

    def abort(self) -> None:
        """:meth:`aclose` without waiting: usable where awaiting is not possible."""
        self._finish(ABNORMAL_CLOSURE, "")

    def _send_close(self, code: int, reason: str) -> None:
        if self._sent_close:
            return
        self._sent_close = True
        with contextlib.suppress(*_GONE):
            self._outgoing.send_nowait(_CloseFrame(code, reason))

    def _finish(self, code: int, reason: str) -> WebSocketClosedMessage:
        if self._closed is None:
            self._closed = WebSocketClosedMessage(code, reason)
        self._outgoing.close()
        self._incoming.close()
        return self._closed


MemoryWebSocketConnection = MemoryWebSocket
"""The client end returned by :meth:`MemoryWebSocketConnector.connect`."""


@dataclass(frozen=True, slots=True)
class MemoryRejection:
    """A handler's refusal of the upgrade: the HTTP status and an optional Retry-After."""

    status: int
    retry_after: float | None = None


class MemoryServerSocket(MemoryWebSocket):
    """The server end handed to a handler; ``url`` is what the client connected to."""

    def __init__(
        self,
        url: str,
        outgoing: MemoryObjectSendStream[_Frame],
        incoming: MemoryObjectReceiveStream[_Frame],
        *,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    ) -> None:
        super().__init__(outgoing, incoming, max_message_size=max_message_size)
        self.url = url
        self.decided = anyio.Event()
        self.rejection: MemoryRejection | None = None

    def accept(self) -> None:
        """Accept the upgrade now (any use of the socket does it too)."""
        self.decided.set()

    def reject(self, rejection: MemoryRejection) -> None:
        """Refuse the upgrade.

        :raises LocalProtocolError: the upgrade was already accepted.
        """
        if self.decided.is_set():
            raise LocalProtocolError("the handler refused an upgrade it had already accepted")
        self.rejection = rejection
        self.decided.set()

    async def send_text(self, text: str) -> None:
        self.accept()
        await super().send_text(text)

    async def receive(self) -> WebSocketMessage:
        self.accept()
        return await super().receive()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.accept()
        await super().close(code, reason)


WebSocketHandler = Callable[[str, MemoryServerSocket], Awaitable[MemoryRejection | int | None]]
"""``await handler(url, socket)``: serve one connection; return a status to refuse it."""


def _socket_pair(
    url: str, max_message_size: int
) -> tuple[MemoryWebSocketConnection, MemoryServerSocket]:
    to_server_send, to_server_receive = anyio.create_memory_object_stream[_Frame](math.inf)
    to_client_send, to_client_receive = anyio.create_memory_object_stream[_Frame](math.inf)
    client = MemoryWebSocketConnection(
        to_server_send, to_client_receive, max_message_size=max_message_size
    )
    server = MemoryServerSocket(
        url, to_client_send, to_server_receive, max_message_size=max_message_size
    )
    return client, server


class MemoryWebSocketConnector:
    """:class:`~.base.WebSocketConnector` whose server is ``handler``, in memory.

    Use as ``async with MemoryWebSocketConnector(handler) as connector:``; leaving the block
    cancels the handlers still running. Every URL connected to is appended to :attr:`urls`,
    every server end to :attr:`server_sockets`.

    :param max_message_size: bytes a received message may hold, on both ends.
    """

    def __init__(
        self, handler: WebSocketHandler, *, max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    ) -> None:
        self._handler = handler
        self._max_message_size = max_message_size
        self._task_group: anyio.abc.TaskGroup | None = None
        self.urls: list[str] = []
        self.server_sockets: list[MemoryServerSocket] = []

    async def __aenter__(self) -> MemoryWebSocketConnector:
        task_group = anyio.create_task_group()
        await task_group.__aenter__()
        self._task_group = task_group
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        task_group, self._task_group = self._task_group, None
        assert task_group is not None
        task_group.cancel_scope.cancel()
        return await task_group.__aexit__(exc_type, exc, traceback)

    async def connect(self, url: str) -> MemoryWebSocketConnection:
        """Run the handler for ``url`` and return the client end once it accepts.

        :raises HandshakeRejectedError: the handler returned a status first, or (500) it
            raised before accepting.
        :raises LocalProtocolError: used outside ``async with``.
        """
        if self._task_group is None:
            raise LocalProtocolError("use the memory connector as `async with ...`")
        self.urls.append(url)
        client, server = _socket_pair(url, self._max_message_size)
        self.server_sockets.append(server)
        self._task_group.start_soon(self._serve, server)
        await server.decided.wait()
        if server.rejection is not None:
            await client.aclose()
            raise HandshakeRejectedError(
                server.rejection.status, retry_after=server.rejection.retry_after
            )
        return client

    async def _serve(self, server: MemoryServerSocket) -> None:
        try:
            outcome = await self._handler(server.url, server)
        except BaseException:
            if not server.decided.is_set():
                server.reject(MemoryRejection(500))
            server.abort()
            raise
        if isinstance(outcome, int):
            outcome = MemoryRejection(outcome)
        if outcome is not None:
            server.reject(outcome)
        server.accept()
        await server.aclose()
