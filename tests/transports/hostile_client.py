"""One client against one hostile server, in its own process:
``python hostile_client.py CASE [httpx|asyncio]`` (the HTTP transport for HTTP cases; httpx
when not said).

Prints one JSON line: ``{"outcome": ..., "maxrss_kib": ...}``, the typed outcome the client saw
and the process's peak resident memory (``VmHWM``). Run by ``test_hostile_servers.py``. Every
server here is bounded (it stops after 512 MiB or when the client leaves), on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import json
import resource
import sys
from collections.abc import Awaitable, Callable

import anyio
import anyio.abc
from anyio.abc import SocketAttribute

from webex_meetings.core.errors import WebexError
from webex_meetings.core.http import HttpRequest
from webex_meetings.transports import (
    AnyioWebSocketConnector,
    AsyncioHttpTransport,
    HttpxTransport,
    WebSocketClosedMessage,
)

Answer = Callable[[anyio.abc.ByteStream], Awaitable[None]]
_MIB = 1024 * 1024
_UPGRADE = (
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: %s\r\n\r\n"
)


async def _flood(stream: anyio.abc.ByteStream, head: bytes, piece: bytes, total: int) -> None:
    await stream.send(head)
    for _ in range(total // len(piece)):
        await stream.send(piece)


async def endless_chunks(stream: anyio.abc.ByteStream) -> None:
    chunk = b"%x\r\n%s\r\n" % (_MIB, b"x" * _MIB)
    await _flood(
        stream, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", chunk, 512 * _MIB
    )


async def huge_length(stream: anyio.abc.ByteStream) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 1099511627776\r\n\r\n"
    await _flood(stream, head, b"x" * _MIB, 512 * _MIB)


async def nested_json(stream: anyio.abc.ByteStream) -> None:
    body = b"[" * 200_000 + b"]" * 200_000
    await stream.send(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))


async def slowloris(stream: anyio.abc.ByteStream) -> None:
    await stream.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
    for _ in range(100_000):
        await stream.send(b"x")
        await anyio.sleep(0.01)


def _accept(request: bytes) -> bytes:
    import base64
    import hashlib

    key = next(
        line.split(b":", 1)[1].strip()
        for line in request.split(b"\r\n")
        if line.lower().startswith(b"sec-websocket-key")
    )
    digest = hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest()
    return _UPGRADE % base64.b64encode(digest)


def websocket(first: bytes, then: bytes = b"", repeat: int = 0) -> Answer:
    """Accept the upgrade, send ``first``, then ``then`` ``repeat`` times, then stay idle."""

    async def answer(stream: anyio.abc.ByteStream) -> None:
        await stream.send(_accept(stream_request[id(stream)]) + first)
        for _ in range(repeat):
            await stream.send(then)
        await anyio.sleep_forever()

    return answer


stream_request: dict[int, bytes] = {}

CASES: dict[str, Answer] = {
    "endless_chunks": endless_chunks,
    "huge_length": huge_length,
    "nested_json": nested_json,
    "slowloris": slowloris,
    "frame_2_63": websocket(b"\x81\x7f\x80" + bytes(7)),
    "frame_2_63_minus_1": websocket(b"\x81\x7f\x7f" + b"\xff" * 7, b"x" * _MIB, 512),
    "invalid_utf8": websocket(b"\x81\x02\xc3\x28"),
    "endless_fragments": websocket(
        b"\x01\x7f" + _MIB.to_bytes(8, "big") + b"x" * _MIB,
        b"\x00\x7f" + _MIB.to_bytes(8, "big") + b"x" * _MIB,
        511,
    ),
}


WEBSOCKET_CASES = {"frame_2_63", "frame_2_63_minus_1", "invalid_utf8", "endless_fragments"}


HTTP_TRANSPORTS = {"httpx": HttpxTransport, "asyncio": AsyncioHttpTransport}


async def client(case: str, port: int, transport: str) -> str:
    if case in WEBSOCKET_CASES:
        connector = AnyioWebSocketConnector(connect_timeout=5)
        connection = await connector.connect(f"ws://127.0.0.1:{port}/")
        message = await connection.receive()
        await connection.aclose()
        assert isinstance(message, WebSocketClosedMessage), message
        return f"closed {message.code}: {message.reason}"
    async with HTTP_TRANSPORTS[transport](max_response_size=16 * _MIB) as http:
        try:
            response = await http.send(HttpRequest("GET", f"http://127.0.0.1:{port}/", timeout=2))
            response.json()
        except WebexError as exc:
            return type(exc).__name__
    return "no error"


async def main(case: str, transport: str) -> str:
    answer = CASES[case]

    async def handle(stream: anyio.abc.ByteStream) -> None:
        async with stream:
            received = b""
            while b"\r\n\r\n" not in received:
                received += await stream.receive()
            stream_request[id(stream)] = received
            with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                await answer(stream)

    async with (
        await anyio.create_tcp_listener(local_host="127.0.0.1") as listener,
        anyio.create_task_group() as group,
    ):
        group.start_soon(listener.serve, handle)
        outcome = await client(case, listener.extra(SocketAttribute.local_port), transport)
        group.cancel_scope.cancel()
    return outcome


def peak_rss_kib() -> int:
    """This process's peak RSS: ``VmHWM`` (reset by exec, unlike ``ru_maxrss``, which Linux
    carries over from the parent that forked us), else ``ru_maxrss``."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


if __name__ == "__main__":
    outcome = anyio.run(main, sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "httpx")
    print(json.dumps({"outcome": outcome, "maxrss_kib": peak_rss_kib()}))
