"""The I/O tasks the driver starts: one HTTP exchange, one websocket's reader and writer.

Each task turns what a transport did into exactly the inputs the core expects, and every
exception a transport raises into one of those inputs (the transports already speak our
:class:`~webex_meetings.core.errors.TransportError`; anything foreign is treated the same way
and logged, so a buggy transport cannot wedge the session):

=============================  ==========================================================
transport outcome              input fed to the core
=============================  ==========================================================
response (any status)          ``HttpResponseReceived``
``TimeoutError``               ``HttpRequestFailed(kind=TIMEOUT)``
``CertificateError``           ``HttpRequestFailed(kind=CERTIFICATE)`` (never retried)
``ResponseTooLargeError``      ``HttpRequestFailed(kind=TOO_LARGE)`` (never retried)
other failure                  ``HttpRequestFailed(kind=CONNECTION)``
upgrade refused                ``WebSocketRejected(status, retry_after)``
certificate not trusted        ``WebSocketClosed(1015, "connect failed: ...")`` (never retried)
connect failed                 ``WebSocketClosed(1006, "connect failed: ...")``
connected                      ``WebSocketOpened``, then each ``WebSocketTextReceived``
peer's close / lost            ``WebSocketClosed(code, reason)`` / ``WebSocketClosed(1006)``
=============================  ==========================================================

A websocket has one reader (the socket's task itself) and one writer task draining the socket's
own queue, so texts and the close go out in the order the core asked, and the pump never waits
for a slow peer. An aborted socket is cancelled and dropped; it feeds nothing more.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from ..core.effects import SendHttpRequest
from ..core.errors import (
    CertificateError,
    HandshakeRejectedError,
    ResponseTooLargeError,
    TimeoutError,
    WebexError,
)
from ..core.inputs import (
    FailureKind,
    HttpRequestFailed,
    HttpResponseReceived,
    Input,
    WebSocketClosed,
    WebSocketOpened,
    WebSocketRejected,
    WebSocketTextReceived,
)
from ..transports.base import (
    HttpTransport,
    WebSocketClosedMessage,
    WebSocketConnection,
    WebSocketConnector,
)
from .runtime import CancelScope, ReceiveChannel, Runtime, SendChannel

__all__ = ["SocketRunner", "exchange_http", "failure_kind", "failure_text"]

logger = logging.getLogger("webex_meetings.adapters.io_tasks")

Feed = Callable[[Input], None]
ABNORMAL_CLOSURE = 1006
TLS_HANDSHAKE_FAILURE = 1015
"""RFC 6455's code for a TLS failure, never sent on the wire; Mercury's table ends on it."""


def failure_text(exc: Exception) -> str:
    """A short description of a transport failure, in our words."""
    if isinstance(exc, WebexError):
        return exc.message
    logger.warning("a transport raised %s; treated as a transport failure", type(exc).__name__)
    if isinstance(exc, builtins.TimeoutError):
        return "timed out"
    return f"transport failure ({type(exc).__name__})"


def failure_kind(exc: Exception) -> FailureKind:
    """What kind of failure a transport's exception is (decides retries in the core)."""
    if isinstance(exc, (TimeoutError, builtins.TimeoutError)):
        return FailureKind.TIMEOUT
    if isinstance(exc, CertificateError):
        return FailureKind.CERTIFICATE
    if isinstance(exc, ResponseTooLargeError):
        return FailureKind.TOO_LARGE
    return FailureKind.CONNECTION


async def exchange_http(http: HttpTransport, effect: SendHttpRequest, feed: Feed) -> None:
    """Send one request and feed its outcome."""
    try:
        response = await http.send(effect.request)
    except Exception as exc:
        feed(HttpRequestFailed(effect.request_id, failure_text(exc), failure_kind(exc)))
    else:
        feed(HttpResponseReceived(effect.request_id, response))


def _connect_failure(socket_id: int, exc: Exception) -> Input:
    if isinstance(exc, HandshakeRejectedError):
        return WebSocketRejected(socket_id, exc.status, exc.retry_after)
    code = TLS_HANDSHAKE_FAILURE if isinstance(exc, CertificateError) else ABNORMAL_CLOSURE
    return WebSocketClosed(socket_id, code, f"connect failed: {failure_text(exc)}")


@dataclass(frozen=True, slots=True)
class _CloseRequest:
    code: int
    reason: str


@dataclass(slots=True)
class _Socket:
    socket_id: int
    scope: CancelScope
    outbox: SendChannel[str | _CloseRequest]
    pending: ReceiveChannel[str | _CloseRequest]
    connection: WebSocketConnection | None = field(default=None)


class SocketRunner:
    """Every websocket of one driver, by the core's socket id."""

    def __init__(self, connector: WebSocketConnector, runtime: Runtime, feed: Feed) -> None:
        self._connector = connector
        self._runtime = runtime
        self._feed = feed
        self._sockets: dict[int, _Socket] = {}

    def open(self, socket_id: int, url: str) -> Callable[[], Awaitable[None]]:
        """Register the socket now (so sends may queue at once); return the task to run."""
        outbox, pending = self._runtime.open_channel()
        sock = _Socket(socket_id, self._runtime.cancel_scope(), outbox, pending)
        self._sockets[socket_id] = sock
        return lambda: self._run(sock, url)

    def send(self, socket_id: int, text: str) -> None:
        """Queue a text behind everything already queued for this socket."""
        self._enqueue(socket_id, text)

    def close(self, socket_id: int, code: int, reason: str) -> None:
        """Queue the close handshake behind the queued texts."""
        self._enqueue(socket_id, _CloseRequest(code, reason))

    def abort(self, socket_id: int) -> None:
        """Drop the socket now; nothing more is fed for it."""
        sock = self._sockets.pop(socket_id, None)
        if sock is not None:
            sock.scope.cancel()

    def _enqueue(self, socket_id: int, item: str | _CloseRequest) -> None:
        sock = self._sockets.get(socket_id)
        if sock is None:
            logger.debug("socket %d is gone; %s dropped", socket_id, type(item).__name__)
            return
        sock.outbox.send_nowait(item)

    async def _run(self, sock: _Socket, url: str) -> None:
        try:
            with sock.scope:
                connection = await self._connect(sock.socket_id, url)
                if connection is not None:
                    sock.connection = connection
                    await self._serve(sock, connection)
        finally:
            if self._sockets.get(sock.socket_id) is sock:
                del self._sockets[sock.socket_id]
            sock.outbox.close()
            sock.pending.close()

    async def _connect(self, socket_id: int, url: str) -> WebSocketConnection | None:
        try:
            return await self._connector.connect(url)
        except Exception as exc:
            self._feed(_connect_failure(socket_id, exc))
            return None

    async def _serve(self, sock: _Socket, connection: WebSocketConnection) -> None:
        try:
            self._feed(WebSocketOpened(sock.socket_id))
            async with self._runtime.open_task_group() as group:
                group.start_soon(self._write, sock.pending, connection)
                await self._read(sock.socket_id, connection)
                group.cancel_scope.cancel()
        finally:
            with self._runtime.cancel_scope(shield=True):
                await connection.aclose()

    async def _read(self, socket_id: int, connection: WebSocketConnection) -> None:
        while True:
            try:
                message = await connection.receive()
            except Exception as exc:
                lost = f"connection lost: {failure_text(exc)}"
                self._feed(WebSocketClosed(socket_id, ABNORMAL_CLOSURE, lost))
                return
            if isinstance(message, WebSocketClosedMessage):
                self._feed(WebSocketClosed(socket_id, message.code, message.reason))
                return
            self._feed(WebSocketTextReceived(socket_id, message.text))

    async def _write(
        self, pending: ReceiveChannel[str | _CloseRequest], connection: WebSocketConnection
    ) -> None:
        async for item in pending:
            try:
                if isinstance(item, _CloseRequest):
                    await connection.close(item.code, item.reason)
                    return
                await connection.send_text(item)
            except Exception as exc:
                logger.debug("send failed (%s); dropping the connection", failure_text(exc))
                await connection.aclose()
                return
