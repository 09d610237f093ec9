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

A websocket's task connects it. A connection that can push
(:class:`~webex_meetings.transports.base.PushWebSocketConnection`, the asyncio connector's)
then needs no task at all: its messages arrive by callback and are fed at once, and texts and
the close are sent without waiting, in the order the core asked. Any other connection keeps
its task as the reader, beside one writer task draining the socket's own queue, so the driver
never waits for a slow peer either way. An aborted socket is dropped; it feeds nothing more.
"""

from __future__ import annotations

import builtins
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import cast

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
    PushWebSocketConnection,
    WebSocketClosedMessage,
    WebSocketConnection,
    WebSocketConnector,
    WebSocketMessage,
)
from .runtime import CancelScope, Flag, Runtime

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


_Outgoing = str | _CloseRequest


class _Socket:
    """One websocket of the core: its task's scope, its connection once open, what waits to
    be sent (before it opened, or for the writer task of a connection that cannot push)."""

    __slots__ = ("connection", "outbox", "push", "scope", "socket_id", "wake")

    def __init__(self, socket_id: int, scope: CancelScope) -> None:
        self.socket_id = socket_id
        self.scope = scope
        self.connection: WebSocketConnection | None = None
        self.push = False
        self.outbox: deque[_Outgoing] = deque()
        self.wake: Flag | None = None

    def queue(self, item: _Outgoing) -> None:
        self.outbox.append(item)
        if self.wake is not None:
            self.wake.set()


class SocketRunner:
    """Every websocket of one driver, by the core's socket id.

    ``settled()`` is called whenever a pushing connection ends: with no task of its own, it is
    counted in :attr:`pushing` while open, so that shutdown can wait for its close handshake.
    """

    __slots__ = ("_connector", "_feed", "_runtime", "_settled", "_sockets", "pushing")

    def __init__(
        self,
        connector: WebSocketConnector,
        runtime: Runtime,
        feed: Feed,
        settled: Callable[[], None],
    ) -> None:
        self._connector = connector
        self._runtime = runtime
        self._feed = feed
        self._settled = settled
        self._sockets: dict[int, _Socket] = {}
        self.pushing = 0
        """Pushing connections open (they have no task)."""

    def open(self, socket_id: int, url: str) -> Callable[[], Awaitable[None]]:
        """Register the socket now (so sends may queue at once); return the task to run."""
        sock = _Socket(socket_id, self._runtime.cancel_scope())
        self._sockets[socket_id] = sock
        return lambda: self._run(sock, url)

    def send(self, socket_id: int, text: str) -> None:
        """Send a text after everything already sent or queued for this socket."""
        self._send(socket_id, text)

    def close(self, socket_id: int, code: int, reason: str) -> None:
        """Start the close handshake after the texts sent before."""
        self._send(socket_id, _CloseRequest(code, reason))

    def abort(self, socket_id: int) -> None:
        """Drop the socket now; nothing more is fed for it."""
        sock = self._sockets.get(socket_id)
        if sock is not None:
            self._drop(sock)

    def abort_all(self) -> None:
        """Drop every socket (the driver is stopping)."""
        for sock in list(self._sockets.values()):
            self._drop(sock)

    def _drop(self, sock: _Socket) -> None:
        self._forget(sock)
        sock.scope.cancel()
        if sock.push:
            cast(PushWebSocketConnection, sock.connection).abort()

    def _forget(self, sock: _Socket) -> None:
        """Take ``sock`` out of the table (once); a pushing one is settled."""
        if self._sockets.get(sock.socket_id) is not sock:
            return
        del self._sockets[sock.socket_id]
        if sock.push:
            self.pushing -= 1
            self._settled()

    def _current(self, sock: _Socket) -> bool:
        return self._sockets.get(sock.socket_id) is sock

    def _send(self, socket_id: int, item: _Outgoing) -> None:
        sock = self._sockets.get(socket_id)
        if sock is None:
            logger.debug("socket %d is gone; %s dropped", socket_id, type(item).__name__)
        elif sock.push:
            self._push(sock, item)
        else:
            sock.queue(item)

    # -- the socket's task --------------------------------------------------------------------

    async def _run(self, sock: _Socket, url: str) -> None:
        try:
            with sock.scope:
                connection = await self._connect(sock, url)
                if connection is None:
                    return
                if not self._current(sock):  # aborted as it connected
                    await connection.aclose()
                    return
                sock.connection = connection
                if isinstance(connection, PushWebSocketConnection):
                    self._attach(sock, connection)
                    return
                await self._serve(sock, connection)
        finally:
            if not sock.push:
                self._forget(sock)

    async def _connect(self, sock: _Socket, url: str) -> WebSocketConnection | None:
        try:
            return await self._connector.connect(url)
        except Exception as exc:
            if self._current(sock):
                self._feed(_connect_failure(sock.socket_id, exc))
            return None

    # -- a connection that pushes: no task while it is open -------------------------------

    def _attach(self, sock: _Socket, connection: PushWebSocketConnection) -> None:
        sock.push = True
        self.pushing += 1
        while sock.outbox and self._current(sock):
            self._push(sock, sock.outbox.popleft())
        self._feed(WebSocketOpened(sock.socket_id))
        if self._current(sock):
            connection.deliver_to(self._receiver(sock))

    def _receiver(self, sock: _Socket) -> Callable[[WebSocketMessage], None]:
        def receive(message: WebSocketMessage) -> None:
            if not self._current(sock):
                return
            if isinstance(message, WebSocketClosedMessage):
                self._forget(sock)
                self._feed(WebSocketClosed(sock.socket_id, message.code, message.reason))
            else:
                self._feed(WebSocketTextReceived(sock.socket_id, message.text))

        return receive

    def _push(self, sock: _Socket, item: _Outgoing) -> None:
        connection = cast(PushWebSocketConnection, sock.connection)
        try:
            if isinstance(item, _CloseRequest):
                connection.close_nowait(item.code, item.reason)
            else:
                connection.send_text_nowait(item)
        except Exception as exc:
            logger.debug("send failed (%s); dropping the connection", failure_text(exc))
            connection.abort()  # its receiver feeds the 1006

    # -- any other connection: this task reads, a writer task sends ----------------------------

    async def _serve(self, sock: _Socket, connection: WebSocketConnection) -> None:
        try:
            self._feed(WebSocketOpened(sock.socket_id))
            async with self._runtime.open_task_group() as group:
                group.start_soon(self._write, sock, connection)
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

    async def _write(self, sock: _Socket, connection: WebSocketConnection) -> None:
        while True:
            while sock.outbox:
                item = sock.outbox.popleft()
                try:
                    if isinstance(item, _CloseRequest):
                        await connection.close(item.code, item.reason)
                        return
                    await connection.send_text(item)
                except Exception as exc:
                    logger.debug("send failed (%s); dropping the connection", failure_text(exc))
                    await connection.aclose()
                    return
            sock.wake = self._runtime.event()
            await sock.wake.wait()
            sock.wake = None
