"""Websockets on asyncio's own transports: no task per connection, sends that never wait.

Theory of operation
-------------------
asyncio hands received bytes to a protocol object by callback (here a buffered protocol
reading into the thread's shared buffer, :mod:`._read_buffer`, then ``data_received``) and
buffers what is written (``transport.write`` never blocks), so a websocket needs no task of its own:
:class:`AsyncioWebSocketConnection` *is* that protocol. Connecting runs up to three stages on
one TCP connection, under one deadline (``connect_timeout``): the proxy's ``CONNECT``
exchange, the TLS handshake (:class:`~._tls.TlsClient`: TLS over memory buffers, see there why
not asyncio's ``start_tls``), and the upgrade exchange. The connecting task awaits one future
per stage, resolved from ``data_received`` once the stage has its answer.

After the upgrade every chunk goes through TLS (when there is TLS) to the sans-IO
:class:`~._wsproto_client.WebSocketClientProtocol`, and each complete message is either

* handed to a receiver callback (:meth:`~AsyncioWebSocketConnection.deliver_to`, push mode: what
  the driver uses; it runs the session right there, inside the callback), or
* queued for :meth:`~AsyncioWebSocketConnection.receive` (the common
  :class:`~.base.WebSocketConnection` interface, for everyone else).

Pongs and close replies are written as soon as the chunk that asked for them is handled. A
connection ends with exactly one :class:`~.base.WebSocketClosedMessage`: the peer's close
(after which the TCP connection is closed), or 1006 when the TCP connection ended, was
dropped (:meth:`~AsyncioWebSocketConnection.abort`) or failed.

Bounds: a received message holds at most ``max_message_size`` bytes (the sans-IO client fails
the connection with 1009); in pull mode at most :data:`MAX_QUEUED` messages wait before
reading pauses; at most ``max_write_buffer`` bytes wait to be written: a peer that stops
reading fails the connection as lost ("the server stopped reading").

Callbacks run in the context of the connecting task, where sniffio is told that the code runs
under asyncio: a loop callback has no current task, and code reached from a message (the
driver, the user's event callbacks) may use anyio as it would inside a task.
"""

from __future__ import annotations

import asyncio
import builtins
import ssl
from collections import deque
from collections.abc import Callable

import anyio
import sniffio
from wsproto.utilities import LocalProtocolError as WsprotoLocalError

from ..core.errors import (
    ConfigurationError,
    LocalProtocolError,
    TimeoutError,
    TransportError,
)
from ._exceptions import ExceptionMap, map_exceptions
from ._read_buffer import received_bytes, shared_read_buffer
from ._tls import TlsClient, encrypted
from ._websocket_stream import COMMON_ERRORS
from ._wsproto_client import (
    ABNORMAL_CLOSURE,
    DEFAULT_MAX_MESSAGE_SIZE,
    Exchange,
    HttpProxy,
    ProxyTunnel,
    WebSocketClientProtocol,
    WebSocketTarget,
)
from .base import WebSocketClosedMessage, WebSocketMessage

__all__ = [
    "DEFAULT_MAX_WRITE_BUFFER",
    "MAX_QUEUED",
    "AsyncioWebSocketConnection",
    "AsyncioWebSocketConnector",
]

DEFAULT_MAX_WRITE_BUFFER = 1024 * 1024
"""Bytes that may wait to be written before a peer that does not read fails the connection."""

MAX_QUEUED = 64
"""Received messages waiting for ``receive()`` (pull mode) before reading pauses."""

_ERRORS: ExceptionMap = ((builtins.TimeoutError, TimeoutError, "timed out"), *COMMON_ERRORS)

_STOPPED_READING = WebSocketClosedMessage(
    ABNORMAL_CLOSURE, "closed by us: the server stopped reading"
)

Receiver = Callable[[WebSocketMessage], None]


def _ignore(message: WebSocketMessage) -> None:
    """The receiver after the closing message: nothing more is delivered."""


class AsyncioWebSocketConnection(asyncio.BufferedProtocol):
    """One websocket as an asyncio protocol; see the module docstring.

    Implements :class:`~.base.PushWebSocketConnection` (and so
    :class:`~.base.WebSocketConnection`). Made by :class:`AsyncioWebSocketConnector`.
    """

    __slots__ = (
        "_closed",
        "_drained",
        "_exchange",
        "_inbox",
        "_loop",
        "_max_write_buffer",
        "_open",
        "_readable",
        "_reading_paused",
        "_receiver",
        "_receiving",
        "_tls",
        "_transport",
        "_waiter",
        "_write_paused",
        "_ws",
    )

    def __init__(
        self, loop: asyncio.AbstractEventLoop, ws: WebSocketClientProtocol, max_write_buffer: int
    ) -> None:
        self._loop = loop
        self._ws = ws
        self._max_write_buffer = max_write_buffer
        self._transport: asyncio.Transport | None = None
        self._tls: TlsClient | None = None
        self._exchange: Exchange | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._open = False
        self._closed: WebSocketClosedMessage | None = None
        self._receiver: Receiver | None = None
        self._inbox: deque[WebSocketMessage] = deque()
        self._receiving = False
        self._readable: asyncio.Future[None] | None = None
        self._reading_paused = False
        self._write_paused = False
        self._drained: asyncio.Future[None] | None = None

    # -- connecting (the connector's side) ----------------------------------------------------

    async def open(
        self, peer: tuple[str, int], tunnel: ProxyTunnel | None, tls: TlsClient | None
    ) -> None:
        """Connect to ``peer``, run the tunnel, TLS and the upgrade. On failure the
        connection is dropped and the stage's error raised."""
        sniffio.current_async_library_cvar.set("asyncio")  # copied into every callback
        try:
            await self._loop.create_connection(lambda: self, *peer)
            if tunnel is not None:
                await self._run_stage(tunnel)
            if tls is not None:
                self._tls = tls
                tls.start()
                await self._run_stage(None)
            await self._run_stage(self._ws)  # opens the websocket (see _answer)
        except BaseException:
            self._drop()
            raise

    async def _run_stage(self, exchange: Exchange | None) -> None:
        """Send the stage's request and wait for its answer (``None``: the TLS handshake)."""
        self._exchange = exchange
        self._waiter = self._loop.create_future()
        try:
            if exchange is None:
                assert self._tls is not None
                self._write_raw(self._tls.data_to_send())
            else:
                self._write(exchange.data_to_send())
            await self._waiter
        finally:
            self._exchange = None
            self._waiter = None

    def _stage_done(self, error: BaseException | None = None) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if error is None:
            waiter.set_result(None)
        else:
            waiter.set_exception(error)

    def _stage_lost(self) -> None:
        """The connection ended during a stage: its own error says where."""
        try:
            if self._exchange is not None:
                self._exchange.receive(b"")
            raise TransportError("the server closed the connection during the TLS handshake")
        except TransportError as exc:
            self._stage_done(exc)

    # -- asyncio's callbacks ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def get_buffer(self, sizehint: int) -> bytearray:
        return shared_read_buffer()  # see _read_buffer: no 256 KiB object per read

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(received_bytes(nbytes))

    def data_received(self, data: bytes) -> None:
        if self._tls is not None:
            try:
                data = self._tls.receive(data)
            except ssl.SSLError as exc:
                self._failed(exc)
                return
            self._write_raw(self._tls.data_to_send())
            if self._waiter is not None and self._exchange is None and self._tls.handshake_done:
                self._stage_done()
            if not data:
                return
        if self._open:
            self._ws.receive_data(data)
            self._take_messages()
        elif self._exchange is not None:
            self._answer(self._exchange, data)

    def _answer(self, exchange: Exchange, data: bytes) -> None:
        """Feed a stage's answer. The upgrade's may come with the first frames: from the
        moment it is complete, every byte is the websocket's."""
        try:
            done = exchange.receive(data)
        except TransportError as exc:
            self._stage_done(exc)
            return
        if not done:
            return
        self._exchange = None
        self._open = exchange is self._ws
        self._stage_done()
        if self._open:
            self._take_messages()

    def eof_received(self) -> bool | None:
        return None  # close the transport: connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        if self._waiter is not None:
            self._stage_lost()
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)
        if self._open and self._closed is None:
            self._ws.receive_data(b"")
            self._take_messages()
            self._end(self._ws.abort())

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    # -- messages in ----------------------------------------------------------------------------

    def _take_messages(self) -> None:
        ws = self._ws
        while self._closed is None:
            message = ws.next_message()
            self._flush()  # pongs and close replies, in order
            if message is None:
                return
            if isinstance(message, WebSocketClosedMessage):
                self._end(message)
                return
            self._hand_over(message)

    def _end(self, closed: WebSocketClosedMessage) -> None:
        """The websocket is over: free the socket (after what is buffered) and report it."""
        if self._closed is not None:
            return
        self._closed = closed
        if self._transport is not None:
            self._transport.close()
        self._hand_over(closed)

    def _hand_over(self, message: WebSocketMessage) -> None:
        receiver = self._receiver
        if receiver is not None:
            if isinstance(message, WebSocketClosedMessage):
                self._receiver = _ignore
            receiver(message)
            return
        self._inbox.append(message)
        if self._readable is not None and not self._readable.done():
            self._readable.set_result(None)
        if len(self._inbox) >= MAX_QUEUED and self._closed is None and not self._reading_paused:
            self._reading_paused = True
            if self._transport is not None:
                self._transport.pause_reading()

    def deliver_to(self, receiver: Receiver) -> None:
        """Push mode: ``receiver(message)`` for every message from now on (those already
        received at once, here), ending with one :class:`~.base.WebSocketClosedMessage`."""
        self._receiver = receiver
        inbox, self._inbox = self._inbox, deque()
        self._resume_reading()
        while inbox and self._receiver is receiver:
            self._hand_over(inbox.popleft())

    async def receive(self) -> WebSocketMessage:
        """The next message; once closed, how it closed, again and again.

        :raises LocalProtocolError: another task is already receiving, or messages are
            pushed to a receiver (:meth:`deliver_to`).
        """
        if self._receiving or self._receiver is not None:
            raise LocalProtocolError("another task is already receiving on this websocket")
        self._receiving = True
        try:
            while not self._inbox:
                if self._closed is not None:
                    return self._closed
                self._readable = self._loop.create_future()
                await self._readable
            message = self._inbox.popleft()
            if len(self._inbox) <= MAX_QUEUED // 2:
                self._resume_reading()
            return message
        finally:
            self._receiving = False
            self._readable = None

    def _resume_reading(self) -> None:
        if self._reading_paused:
            self._reading_paused = False
            if self._transport is not None and self._closed is None:
                self._transport.resume_reading()

    # -- messages out ---------------------------------------------------------------------------

    def send_text_nowait(self, text: str) -> None:
        """Send one text message without waiting (see the module docstring for the bound).

        :raises TransportError: the connection is closing or closed.
        """
        if self._closed is not None:
            raise TransportError("the websocket is closed")
        self._ws.send_text(text)
        self._flush()

    async def send_text(self, text: str) -> None:
        """Send one text message; waits while asyncio's write buffer is over its high mark.

        :raises TransportError: the connection is closing, closed or broken.
        """
        self.send_text_nowait(text)
        if self._write_paused and self._closed is None:
            self._drained = self._loop.create_future()
            try:
                await self._drained
            finally:
                self._drained = None

    def close_nowait(self, code: int = 1000, reason: str = "") -> None:
        """Send a close frame; the peer's answer arrives as the last message. Never raises."""
        try:
            self._ws.close(code, reason)
        except (WsprotoLocalError, ValueError, TypeError):
            return
        self._flush()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """As :meth:`close_nowait`. Idempotent; never raises."""
        self.close_nowait(code, reason)

    def abort(self) -> None:
        """Drop the connection now (reported as 1006 unless already closed). Never raises."""
        self._drop()
        self._end(self._ws.abort())

    async def aclose(self) -> None:
        """As :meth:`abort`. Idempotent; never raises."""
        self.abort()

    def _flush(self) -> None:
        if self._ws.has_data_to_send:
            self._write(self._ws.data_to_send())

    def _write(self, plaintext: bytes) -> None:
        """Write ``plaintext``, encrypted under TLS; a TLS failure fails the connection."""
        self._write_raw(encrypted(self._tls, plaintext, self._failed))

    def _write_raw(self, data: bytes) -> None:
        transport = self._transport
        if not data or transport is None or transport.is_closing():
            return
        transport.write(data)
        if transport.get_write_buffer_size() > self._max_write_buffer:
            self._drop()
            self._end(_STOPPED_READING)

    # -- failing ----------------------------------------------------------------------------------

    def _failed(self, exc: ssl.SSLError) -> None:
        """TLS broke: fail the stage being connected, or end the open websocket as lost."""
        self._drop()
        if self._waiter is not None:
            self._stage_done(exc)
        elif self._open:
            self._end(self._ws.abort())

    def _drop(self) -> None:
        if self._transport is not None:
            self._transport.abort()


class AsyncioWebSocketConnector:
    """:class:`~.base.WebSocketConnector` on asyncio's transports (asyncio only); its
    connections are :class:`~.base.PushWebSocketConnection`\\ s.

    :param connect_timeout: seconds for TCP, proxy tunnel, TLS and upgrade together.
    :param ssl_context: for ``wss://``; the system's default context when ``None``.
    :param proxy: ``http://[user:password@]host:port`` to tunnel through with ``CONNECT``.
    :param max_message_size: bytes a received message may hold; more closes with 1009.
    :param max_write_buffer: bytes that may wait to be written; more fails the connection.
    :raises ConfigurationError: ``proxy`` is not an ``http://`` URL.
    """

    def __init__(
        self,
        *,
        connect_timeout: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
        proxy: str | None = None,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        max_write_buffer: int = DEFAULT_MAX_WRITE_BUFFER,
    ) -> None:
        self._connect_timeout = connect_timeout
        self._ssl_context = ssl_context
        self._proxy = HttpProxy.from_url(proxy) if proxy is not None else None
        self._max_message_size = max_message_size
        self._max_write_buffer = max_write_buffer

    async def connect(self, url: str) -> AsyncioWebSocketConnection:
        """Open a websocket to ``url`` (``ws://`` or ``wss://``), no subprotocol.

        :raises ConfigurationError: not running under asyncio.
        :raises HandshakeRejectedError: the server answered the upgrade with another status.
        :raises TimeoutError: it all took longer than ``connect_timeout``.
        :raises TransportError: the connection, the tunnel, TLS or the upgrade failed.
        """
        target = WebSocketTarget.from_url(url)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise ConfigurationError("the asyncio websocket connector runs under asyncio") from None
        protocol = WebSocketClientProtocol(target, max_message_size=self._max_message_size)
        connection = AsyncioWebSocketConnection(loop, protocol, self._max_write_buffer)
        proxy = self._proxy
        peer = (proxy.host, proxy.port) if proxy is not None else (target.host, target.port)
        tunnel = ProxyTunnel(proxy, target) if proxy is not None else None
        with (
            map_exceptions(_ERRORS, lambda: f"websocket connect to {target.origin}"),
            anyio.fail_after(self._connect_timeout),
        ):
            await connection.open(peer, tunnel, self._tls_for(target))
        return connection

    def _tls_for(self, target: WebSocketTarget) -> TlsClient | None:
        if not target.secure:
            return None
        return TlsClient(self._ssl_context or ssl.create_default_context(), target.host)
