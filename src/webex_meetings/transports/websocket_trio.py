"""Websockets over native trio streams, for the native trio adapter: wsproto on
``trio.open_tcp_stream`` and ``trio.SSLStream``, with trio's own lock and deadline.

Only the trio calls are here; the protocol and the stream logic live in
:mod:`._websocket_stream` and :mod:`._wsproto_client`, shared with :mod:`.websocket_anyio`.
"""

from __future__ import annotations

import ssl
from functools import partial

import trio

from ..core.errors import TimeoutError, TransportError
from ._websocket_stream import COMMON_ERRORS, LibraryStream, StreamLibrary, StreamWebSocketConnector
from ._websocket_stream import StreamWebSocketConnection as TrioWebSocketConnection

__all__ = ["TrioWebSocketConnection", "TrioWebSocketConnector"]


def _as_library_stream(stream: trio.abc.Stream) -> LibraryStream:
    async def receive_some() -> bytes:
        return bytes(await stream.receive_some())

    closer = partial(trio.aclose_forcefully, stream)
    return LibraryStream(
        raw=stream, send_all=stream.send_all, receive_some=receive_some, aclose=closer
    )


async def _open_tcp_stream(host: str, port: int) -> LibraryStream:
    return _as_library_stream(await trio.open_tcp_stream(host, port))


async def _ssl_stream(
    stream: LibraryStream, hostname: str, context: ssl.SSLContext
) -> LibraryStream:
    wrapped = trio.SSLStream(stream.raw, context, server_hostname=hostname, https_compatible=True)
    await wrapped.do_handshake()
    return _as_library_stream(wrapped)


class TrioWebSocketConnector(StreamWebSocketConnector):
    """:class:`~webex_meetings.transports.base.WebSocketConnector`: wsproto over trio streams;
    trio only. Keyword arguments: see :class:`~._websocket_stream.StreamWebSocketConnector`.
    """

    _library = StreamLibrary(
        errors=(
            (trio.TooSlowError, TimeoutError, "timed out"),
            (trio.BrokenResourceError, TransportError, "the connection broke"),
            (trio.ClosedResourceError, TransportError, "the connection is closed"),
            *COMMON_ERRORS,
        ),
        open_tcp=_open_tcp_stream,
        start_tls=_ssl_stream,
        new_lock=trio.Lock,
        fail_after=trio.fail_after,
    )
