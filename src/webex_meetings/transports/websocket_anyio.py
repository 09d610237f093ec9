"""Websockets over anyio streams (wsproto on ``anyio.connect_tcp``): asyncio and trio.

The logic is shared (:mod:`._websocket_stream`); here is only how anyio connects, starts TLS,
keeps a deadline, locks, and fails.
"""

from __future__ import annotations

import builtins
import ssl
from functools import partial

import anyio
import anyio.abc
from anyio.streams.tls import TLSStream

from ..core.errors import TimeoutError, TransportError
from ._websocket_stream import COMMON_ERRORS, LibraryStream, StreamLibrary, StreamWebSocketConnector
from ._websocket_stream import StreamWebSocketConnection as AnyioWebSocketConnection

__all__ = ["AnyioWebSocketConnection", "AnyioWebSocketConnector"]


def _library_stream(stream: anyio.abc.ByteStream) -> LibraryStream:
    async def receive_some() -> bytes:
        try:
            return await stream.receive()
        except anyio.EndOfStream:
            return b""

    return LibraryStream(
        stream, stream.send, receive_some, partial(anyio.aclose_forcefully, stream)
    )


async def _connect_tcp(host: str, port: int) -> LibraryStream:
    return _library_stream(await anyio.connect_tcp(host, port))


async def _wrap_in_tls(
    stream: LibraryStream, hostname: str, context: ssl.SSLContext
) -> LibraryStream:
    tls = await TLSStream.wrap(
        stream.raw, hostname=hostname, ssl_context=context, standard_compatible=False
    )
    return _library_stream(tls)


class AnyioWebSocketConnector(StreamWebSocketConnector):
    """:class:`~webex_meetings.transports.base.WebSocketConnector`: wsproto over anyio, so
    on asyncio and on trio. Keyword arguments: see
    :class:`~._websocket_stream.StreamWebSocketConnector`.
    """

    _library = StreamLibrary(
        open_tcp=_connect_tcp,
        start_tls=_wrap_in_tls,
        fail_after=anyio.fail_after,
        new_lock=anyio.Lock,
        errors=(
            (builtins.TimeoutError, TimeoutError, "timed out"),
            (anyio.BrokenResourceError, TransportError, "the connection broke"),
            (anyio.ClosedResourceError, TransportError, "the connection is closed"),
            (anyio.EndOfStream, TransportError, "the server closed the connection"),
            *COMMON_ERRORS,
        ),
    )
