"""A hostile cloud for the security tests: a recording, rewriting front of the emulator.

:class:`HostileCloud` listens on a loopback address, records every byte it receives and
answers each HTTP request by forwarding it to the emulator and rewriting the answer's body
(``rewrite``), so it can poison catalog links, WDM's ``webSocketUrl`` or answer with a
redirect. With ``upstream_token`` it forwards with a token of its own, so it answers even the
requests that reach it without one. A websocket upgrade is accepted (101) and every frame the
client sends is unmasked and recorded, so a token inside a frame is visible in
:attr:`HostileCloud.received_text`. Bounded: 1 MiB recorded per connection, every connection
closed when the block is left.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import anyio
import anyio.abc
import h11
import httpx
from anyio.abc import SocketAttribute
from websocket_upgrade import switching_protocols
from wsproto.frame_protocol import FrameProtocol

__all__ = ["HostileCloud", "hostile_cloud"]

_LIMIT = 1024 * 1024


@dataclass
class HostileCloud:
    host: str
    port: int
    upstream: str
    rewrite: Callable[[str, str], str]
    """``(path, body) -> body``: how each answer is poisoned."""
    upstream_token: str | None = None
    redirect: Callable[[str], str | None] = lambda path: None
    """``path -> Location`` to answer 302 instead of forwarding."""
    client: httpx.AsyncClient | None = None
    raw: bytearray = field(default_factory=bytearray)
    frames: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def received_text(self) -> str:
        """Everything received: raw bytes (latin-1) and the unmasked websocket frames."""
        return self.raw.decode("latin-1") + "\n".join(self.frames)

    async def _receive(self, stream: anyio.abc.ByteStream) -> bytes:
        data = await stream.receive()
        if len(self.raw) < _LIMIT:
            self.raw += data
        return data

    async def handle(self, stream: anyio.abc.ByteStream) -> None:
        connection = h11.Connection(h11.SERVER)
        assert self.client is not None
        upstream = self.client
        async with stream:
            while True:
                request, body = await self._read_request(stream, connection)
                if request is None:
                    return
                if connection.their_state is h11.MIGHT_SWITCH_PROTOCOL:
                    await self._websocket(stream, request, connection.trailing_data[0])
                    return
                await self._answer(stream, connection, upstream, request, body)
                if connection.our_state is not h11.DONE:
                    return
                connection.start_next_cycle()

    async def _read_request(
        self, stream: anyio.abc.ByteStream, connection: h11.Connection
    ) -> tuple[h11.Request | None, bytes]:
        request, body = None, b""
        while True:
            event = connection.next_event()
            if event is h11.NEED_DATA:
                try:
                    connection.receive_data(await self._receive(stream))
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    return None, b""
            elif isinstance(event, h11.Request):
                request = event
                self.requests.append(f"{event.method.decode()} {event.target.decode()}")
            elif isinstance(event, h11.Data):
                body += event.data
            elif event is h11.PAUSED or isinstance(event, h11.EndOfMessage):
                return request, body
            else:
                return None, b""

    async def _answer(
        self,
        stream: anyio.abc.ByteStream,
        connection: h11.Connection,
        upstream: httpx.AsyncClient,
        request: h11.Request,
        body: bytes,
    ) -> None:
        path = request.target.decode()
        location = self.redirect(path)
        if location is not None:
            status, headers, answer = 302, [("Location", location)], b""
        else:
            headers_in = {k.decode().lower(): v.decode() for k, v in request.headers}
            forwarded = {"content-type": headers_in.get("content-type", "application/json")}
            token = self.upstream_token
            if token is not None:
                forwarded["authorization"] = f"Bearer {token}"
            elif "authorization" in headers_in:
                forwarded["authorization"] = headers_in["authorization"]
            response = await upstream.request(
                request.method.decode(), path, content=body, headers=forwarded
            )
            status, headers = response.status_code, [("Content-Type", "application/json")]
            answer = self.rewrite(path, response.text).encode()
        headers.append(("Content-Length", str(len(answer))))
        for event in (h11.Response(status_code=status, headers=headers), h11.Data(data=answer)):
            await stream.send(connection.send(event) or b"")
        await stream.send(connection.send(h11.EndOfMessage()) or b"")

    async def _websocket(
        self, stream: anyio.abc.ByteStream, request: h11.Request, rest: bytes
    ) -> None:
        key = dict((k.lower(), v) for k, v in request.headers)[b"sec-websocket-key"]
        await stream.send(switching_protocols(key))
        frames = FrameProtocol(client=False, extensions=[])
        data = rest
        while len(self.raw) < _LIMIT:
            frames.receive_bytes(data)
            for frame in frames.received_frames():
                if isinstance(frame.payload, str):
                    self.frames.append(frame.payload)
            try:
                data = await self._receive(stream)
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                return


@asynccontextmanager
async def hostile_cloud(
    host: str,
    upstream: str,
    rewrite: Callable[[str, str], str] = lambda path, body: body,
    **options: object,
) -> AsyncIterator[HostileCloud]:
    async with (
        httpx.AsyncClient(base_url=upstream, timeout=5.0) as client,
        await anyio.create_tcp_listener(local_host=host) as listener,
        anyio.create_task_group() as group,
    ):
        port = listener.extra(SocketAttribute.local_port)
        cloud = HostileCloud(host, port, upstream, rewrite, client=client, **options)  # type: ignore[arg-type]
        group.start_soon(listener.serve, cloud.handle)
        try:
            yield cloud
        finally:
            group.cancel_scope.cancel()
