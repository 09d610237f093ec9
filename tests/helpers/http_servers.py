"""Small HTTP servers on 127.0.0.1 for the HTTP transport tests: an h11 server that records
what it parsed and answers per a function, a raw server that writes whatever a test likes
after reading the request head, and a port where nothing listens."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.abc
import h11
from anyio.abc import SocketAttribute
from anyio.streams.tls import TLSStream

__all__ = [
    "HttpServer",
    "Reply",
    "Seen",
    "default_reply",
    "http_server",
    "raw_server",
    "refused_port",
]

Reply = tuple[int, list[tuple[str, str]], bytes]


@dataclass(frozen=True)
class Seen:
    """One request as the server parsed it; headers with their wire casing, in order."""

    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes


def default_reply(seen: Seen) -> Reply:
    body = b'{"ok": true}'
    return 201, [("Content-Type", "application/json"), ("X-Multi", "a"), ("X-Multi", "b")], body


@dataclass
class HttpServer:
    reply: Callable[[Seen], Reply] = default_reply
    ssl_context: ssl.SSLContext | None = None
    silent: bool = False
    seen: list[Seen] = field(default_factory=list)
    connections: int = 0

    async def handle(self, stream: anyio.abc.ByteStream) -> None:
        self.connections += 1
        try:
            if self.ssl_context is not None:
                context = self.ssl_context
                stream = await TLSStream.wrap(stream, server_side=True, ssl_context=context)
            connection = h11.Connection(h11.SERVER)
            while await self.exchange(stream, connection):
                connection.start_next_cycle()
        except (anyio.EndOfStream, anyio.BrokenResourceError, ssl.SSLError, h11.ProtocolError):
            pass
        finally:
            await anyio.aclose_forcefully(stream)

    async def exchange(self, stream: anyio.abc.ByteStream, connection: h11.Connection) -> bool:
        try:
            request, body = await read_request(stream, connection)
        except anyio.EndOfStream:
            return False
        seen = Seen(
            request.method.decode(),
            request.target.decode(),
            [(k.decode(), v.decode()) for k, v in request.headers.raw_items()],
            body,
        )
        self.seen.append(seen)
        if self.silent:
            await anyio.sleep_forever()
        status, headers, reply_body = self.reply(seen)
        headers = [*headers, ("Content-Length", str(len(reply_body)))]
        response = h11.Response(status_code=status, headers=headers)
        for message in (response, h11.Data(data=reply_body), h11.EndOfMessage()):
            await stream.send(connection.send(message) or b"")
        return connection.our_state is h11.DONE and connection.their_state is h11.DONE


@asynccontextmanager
async def http_server(**kwargs: Any) -> AsyncIterator[tuple[HttpServer, int]]:
    server = HttpServer(**kwargs)
    async with (
        await anyio.create_tcp_listener(local_host="127.0.0.1") as listener,
        anyio.create_task_group() as task_group,
    ):
        task_group.start_soon(listener.serve, server.handle)
        yield server, listener.extra(SocketAttribute.local_port)
        task_group.cancel_scope.cancel()


async def refused_port() -> int:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port: int = listener.extra(SocketAttribute.local_port)
    await listener.aclose()
    return port


@asynccontextmanager
async def raw_server(
    answer: Callable[[anyio.abc.ByteStream], Awaitable[None]],
) -> AsyncIterator[int]:
    """A server that reads the request head, then lets ``answer`` write what it likes."""

    async def handle(stream: anyio.abc.ByteStream) -> None:
        async with stream:
            received = b""
            while b"\r\n\r\n" not in received:
                received += await stream.receive()
            with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
                await answer(stream)

    async with serving(handle) as port:
        yield port


async def read_request(
    stream: anyio.abc.ByteStream, connection: h11.Connection
) -> tuple[h11.Request, bytes]:
    """The next request on ``connection`` and its body; ``anyio.EndOfStream`` when the
    client closed instead (or h11 saw the connection end)."""
    request, body = None, b""
    while True:
        event = connection.next_event()
        if event is h11.NEED_DATA:
            connection.receive_data(await stream.receive())
        elif isinstance(event, h11.Request):
            request = event
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage) and request is not None:
            return request, body
        else:
            raise anyio.EndOfStream


@asynccontextmanager
async def serving(handle: Callable[[anyio.abc.ByteStream], Awaitable[Any]]) -> AsyncIterator[int]:
    """Run ``handle`` for each connection to a listener on 127.0.0.1; yield its port."""
    async with (
        await anyio.create_tcp_listener(local_host="127.0.0.1") as listener,
        anyio.create_task_group() as task_group,
    ):
        task_group.start_soon(listener.serve, handle)
        yield listener.extra(SocketAttribute.local_port)
        task_group.cancel_scope.cancel()
