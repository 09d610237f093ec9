"""A websocket over any byte stream: the I/O half shared by the anyio and trio connectors.

Theory of operation. :class:`StreamWebSocketConnector` opens a TCP stream (to the proxy when
there is one), runs the proxy's ``CONNECT`` exchange, starts TLS for ``wss://`` (over the
tunnel when there is one) and runs the upgrade exchange, all under one deadline. What an async
library provides is gathered in one :class:`StreamLibrary` value (open a TCP stream, start
TLS, a deadline, a lock, its exception table); :mod:`.websocket_anyio` and
:mod:`.websocket_trio` each declare one and differ in nothing else.

:class:`StreamWebSocketConnection` does no protocol work: ``receive()`` feeds what it reads to
the sans-IO :class:`~._wsproto_client.WebSocketClientProtocol` until that has a message, and
every write (messages, pongs, close frames) drains the protocol's outbox under one lock, so a
``send_text()`` in one task and a ``receive()`` in another never interleave frames. A read
that fails (reset, end of stream, stream dropped by :meth:`~StreamWebSocketConnection.aclose`)
ends the connection as 1006, as a browser reports it.
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from dataclasses import dataclass
from typing import Any

from h11 import ProtocolError as H11ProtocolError
from wsproto.utilities import LocalProtocolError as WsprotoLocalError
from wsproto.utilities import RemoteProtocolError as WsprotoRemoteError

from ..core.errors import LocalProtocolError, TransportError
from ._exceptions import ExceptionMap, map_exceptions
from ._wsproto_client import (
    DEFAULT_MAX_MESSAGE_SIZE,
    MAX_HANDSHAKE_SIZE,
    Exchange,
    HttpProxy,
    ProxyTunnel,
    WebSocketClientProtocol,
    WebSocketTarget,
)
from .base import WebSocketClosedMessage, WebSocketMessage

__all__ = [
    "COMMON_ERRORS",
    "LibraryStream",
    "StreamLibrary",
    "StreamWebSocketConnection",
    "StreamWebSocketConnector",
]

COMMON_ERRORS: ExceptionMap = (
    (ssl.SSLError, TransportError, "TLS failed"),
    (OSError, TransportError, "network error"),
    (OverflowError, TransportError, "the port is out of range"),
    (WsprotoLocalError, TransportError, "websocket protocol error"),
    (WsprotoRemoteError, TransportError, "the server broke the websocket protocol"),
    (H11ProtocolError, TransportError, "the server broke the HTTP protocol"),
)
"""Rows every library's table ends with."""


def _sending() -> str:
    return "websocket send"


@dataclass(frozen=True, slots=True)
class LibraryStream:
    """A library's own stream (:attr:`raw`) behind the three operations a websocket needs."""

    raw: Any
    send_all: Callable[[bytes], Awaitable[None]]
    """Write all of the bytes."""
    receive_some: Callable[[], Awaitable[bytes]]
    """Some received bytes; ``b""`` at end of stream."""
    aclose: Callable[[], Awaitable[None]]
    """Drop the stream now (no TLS goodbye, no waiting)."""


@dataclass(frozen=True, slots=True)
class StreamLibrary:
    """What one async library provides to a websocket."""

    open_tcp: Callable[[str, int], Awaitable[LibraryStream]]
    """Connect to ``host, port``."""
    start_tls: Callable[[LibraryStream, str, ssl.SSLContext], Awaitable[LibraryStream]]
    """Wrap a connected stream in TLS for ``hostname`` and run the TLS handshake."""
    fail_after: Callable[[float], AbstractContextManager[object]]
    """A deadline ``seconds`` from now; its expiry raises an exception in :attr:`errors`."""
    new_lock: Callable[[], AbstractAsyncContextManager[object]]
    errors: ExceptionMap
    """Foreign exception -> our error, for connecting and writing; ends with COMMON_ERRORS."""

    @property
    def read_failures(self) -> tuple[type[BaseException], ...]:
        """Exceptions that end a read as 1006."""
        return tuple(foreign for foreign, _, _ in self.errors)


async def _run_exchange(stream: LibraryStream, exchange: Exchange) -> None:
    """Send the exchange's request and feed it what arrives until it has its answer.

    :raises TransportError: the answer grew past :data:`MAX_HANDSHAKE_SIZE` bytes.
    """
    await stream.send_all(exchange.data_to_send())
    received = 0
    while True:
        data = await stream.receive_some()
        received += len(data)
        if received > MAX_HANDSHAKE_SIZE:
            raise TransportError(f"the answer is larger than {MAX_HANDSHAKE_SIZE} bytes")
        if exchange.receive(data):
            return


class StreamWebSocketConnection:
    """One open websocket over a :class:`LibraryStream`; see the module docstring.

    Implements :class:`~webex_meetings.transports.base.WebSocketConnection`.
    """

    def __init__(
        self, stream: LibraryStream, protocol: WebSocketClientProtocol, library: StreamLibrary
    ) -> None:
        self._stream = stream
        self._protocol = protocol
        self._library = library
        self._write_lock = library.new_lock()
        self._dropped = False
        self._receiving = False

    async def send_text(self, text: str) -> None:
        """Send one text message.

        :raises TransportError: the connection is closing, closed or broken.
        """
        self._protocol.send_text(text)
        with map_exceptions(self._library.errors, _sending):
            await self._flush()

    async def receive(self) -> WebSocketMessage:
        """The next text message, or how the connection closed (1006 without a close frame).

        Answers pings and the peer's close frame on the way.

        :raises LocalProtocolError: another task is already receiving.
        """
        if self._receiving:
            raise LocalProtocolError("another task is already receiving on this websocket")
        self._receiving = True
        try:
            while True:
                message = self._protocol.next_message()
                await self._flush_quietly()
                if isinstance(message, WebSocketClosedMessage):
                    await self.aclose()  # the close handshake is over: free the socket
                if message is not None:
                    return message
                self._protocol.receive_data(await self._read())
        finally:
            self._receiving = False

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Send a close frame; the peer's answer arrives through :meth:`receive`.

        Idempotent; never raises.
        """
        try:
            self._protocol.close(code, reason)
        except (WsprotoLocalError, ValueError, TypeError):
            return
        await self._flush_quietly()

    async def aclose(self) -> None:
        """Drop the connection without a close handshake. Idempotent; never raises."""
        self._protocol.abort()
        if not self._dropped:
            self._dropped = True
            await self._stream.aclose()

    async def _read(self) -> bytes:
        if self._dropped:
            return b""
        try:
            return await self._stream.receive_some()
        except self._library.read_failures:
            return b""

    async def _flush(self) -> None:
        if not self._protocol.has_data_to_send:
            return
        async with self._write_lock:
            data = self._protocol.data_to_send()
            if data and not self._dropped:
                await self._stream.send_all(data)

    async def _flush_quietly(self) -> None:
        """Write what is owed to the peer; a broken stream shows up on the next read."""
        try:
            await self._flush()
        except self._library.read_failures:
            self._protocol.abort()


class StreamWebSocketConnector:
    """Opens websockets with the primitives of one :class:`StreamLibrary`.

    :param connect_timeout: seconds for TCP, proxy tunnel, TLS and upgrade together.
    :param ssl_context: for ``wss://``; the system's default context when ``None``.
    :param proxy: ``http://[user:password@]host:port`` to tunnel through with ``CONNECT``.
    :param max_message_size: bytes a received message may hold; more closes with 1009.
    :raises ConfigurationError: ``proxy`` is not an ``http://`` URL.
    """

    _library: StreamLibrary

    def __init__(
        self,
        *,
        connect_timeout: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
        proxy: str | None = None,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    ) -> None:
        self._connect_timeout = connect_timeout
        self._ssl_context = ssl_context
        self._proxy = HttpProxy.from_url(proxy) if proxy is not None else None
        self._max_message_size = max_message_size

    async def connect(self, url: str) -> StreamWebSocketConnection:
        """Open a websocket to ``url`` (``ws://`` or ``wss://``), no subprotocol.

        :raises HandshakeRejectedError: the server answered the upgrade with another status.
        :raises TimeoutError: it all took longer than ``connect_timeout``.
        :raises TransportError: the connection, the tunnel, TLS or the upgrade failed.
        """
        target = WebSocketTarget.from_url(url)
        with (
            map_exceptions(self._library.errors, lambda: f"websocket connect to {target.origin}"),
            self._library.fail_after(self._connect_timeout),
        ):
            stream = await self._open_stream(target)
            try:
                protocol = WebSocketClientProtocol(target, max_message_size=self._max_message_size)
                await _run_exchange(stream, protocol)
            except BaseException:
                await stream.aclose()
                raise
        return StreamWebSocketConnection(stream, protocol, self._library)

    async def _open_stream(self, target: WebSocketTarget) -> LibraryStream:
        """TCP to the target or the proxy, the tunnel, then TLS for ``wss://``."""
        peer = (self._proxy.host, self._proxy.port) if self._proxy else (target.host, target.port)
        stream = await self._library.open_tcp(*peer)
        try:
            if self._proxy is not None:
                await _run_exchange(stream, ProxyTunnel(self._proxy, target))
            if target.secure:
                context = self._ssl_context or ssl.create_default_context()
                stream = await self._library.start_tls(stream, target.host, context)
        except BaseException:
            await stream.aclose()
            raise
        return stream
