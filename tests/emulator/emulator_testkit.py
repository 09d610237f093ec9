"""Helpers for the emulator tests: a tiny wsproto websocket client and HTTP shortcuts.

Imported by the tests as ``emulator_testkit`` (``conftest.py`` puts this folder on
``sys.path``; pytest runs with ``--import-mode=importlib``).
"""

from __future__ import annotations

import json
import queue
import threading
import time
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import urlsplit

import anyio
import anyio.abc
import httpx
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)

from webex_meetings.emulator import DEFAULT_TOKEN, Emulator

TIMEOUT = 5.0
DEVICE_BODY = {
    "name": "webex-meetings-python",
    "deviceType": "WEB",
    "model": "webex-meetings-python",
    "localizedModel": "webex-meetings",
    "systemName": "WEBEX_MEETINGS_PY",
    "systemVersion": "0.1.0",
    "ttl": 1800,
}


def bearer(token: str = DEFAULT_TOKEN) -> dict[str, str]:
    return {"authorization": f"Bearer {token}", "trackingid": "webex-meetings-py_test_1"}


async def register_device(
    http: httpx.AsyncClient, token: str = DEFAULT_TOKEN, **changes: Any
) -> dict[str, Any]:
    body = {**DEVICE_BODY, **changes}
    response = await http.post(
        "/wdm/api/v1/devices", params={"includeUpstreamServices": "all"}, json=body,
        headers=bearer(token),
    )  # fmt: skip
    assert response.status_code == 200, response.text
    return dict(response.json())


@dataclass
class Closed:
    code: int
    reason: str


OPEN_STREAMS: list[anyio.abc.ByteStream] = []
"""Streams the tests opened; the ``http`` fixture closes them at teardown."""


class WsClient:
    """A minimal websocket client over anyio (asyncio or trio)."""

    def __init__(self, stream: anyio.abc.ByteStream, ws: WSConnection) -> None:
        OPEN_STREAMS.append(stream)
        self.stream = stream
        self.ws = ws
        self._text: list[str] = []
        self._pending: list[Any] = []

    @classmethod
    async def connect(cls, url: str, *, query: str = "outboundWireFormat=text") -> WsClient:
        client, response = await cls.open(url, query=query)
        assert client is not None, response
        return client

    @classmethod
    async def open(
        cls, url: str, *, query: str = "outboundWireFormat=text", version: bool = True
    ) -> tuple[WsClient | None, tuple[int, bytes]]:
        """Connect; ``(client, (101, b""))`` or ``(None, (status, body))`` when refused."""
        parts = urlsplit(url)
        assert parts.hostname is not None
        assert parts.port is not None
        stream = await anyio.connect_tcp(parts.hostname, parts.port)
        ws = WSConnection(ConnectionType.CLIENT)
        target = f"{parts.path}?{query}" if query else parts.path
        await stream.send(ws.send(Request(host=parts.netloc, target=target)))
        client = cls(stream, ws)
        status, body = await client._handshake()
        if status == 101:
            return client, (status, b"")
        await stream.aclose()
        return None, (status, body)

    async def _handshake(self) -> tuple[int, bytes]:
        status, body = 0, b""
        with anyio.fail_after(TIMEOUT):
            while True:
                self.ws.receive_data(await self.stream.receive())
                for event in self.ws.events():
                    if isinstance(event, AcceptConnection):
                        return 101, b""
                    if isinstance(event, RejectConnection):
                        status = event.status_code
                        if not event.has_body:
                            return status, body
                    elif isinstance(event, RejectData):
                        body += event.data
                        if event.body_finished:
                            return status, body

    async def send_json(self, payload: Any) -> None:
        await self.send_text(json.dumps(payload))

    async def send_text(self, text: str) -> None:
        await self.stream.send(self.ws.send(TextMessage(data=text)))

    async def send_bytes(self, data: bytes) -> None:
        await self.stream.send(self.ws.send(BytesMessage(data=data)))

    async def authorize(self, token: str = DEFAULT_TOKEN) -> dict[str, Any]:
        """Send the authorization frame; returns the first server frame (buffer_state)."""
        frame = {
            "id": "auth-1",
            "type": "authorization",
            "data": {"token": f"Bearer {token}"},
            "trackingId": "webex-meetings-py_test_auth",
        }
        await self.send_json(frame)
        first = await self.receive()
        assert isinstance(first, dict), first
        return first

    async def ack(self, frame: dict[str, Any]) -> None:
        """Ack a frame the server sent (as every Mercury client must)."""
        await self.send_json({"messageId": frame["id"], "type": "ack"})

    async def receive(self) -> dict[str, Any] | Closed | None:
        """The next JSON frame, a :class:`Closed` (answered), or ``None`` at EOF."""
        with anyio.fail_after(TIMEOUT):
            while not self._pending:
                try:
                    data: bytes | None = await self.stream.receive()
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    data = None
                if data is None:
                    return None
                self.ws.receive_data(data)
                await self._collect()
        return self._pending.pop(0)

    async def _collect(self) -> None:
        for event in self.ws.events():
            if isinstance(event, TextMessage):
                self._text.append(event.data)
                if event.message_finished:
                    self._pending.append(json.loads("".join(self._text)))
                    self._text = []
            elif isinstance(event, CloseConnection):
                if self.ws.state.name == "REMOTE_CLOSING":
                    await self.stream.send(self.ws.send(event.response()))
                self._pending.append(Closed(event.code, event.reason or ""))

    async def close(self, code: int = 1000, reason: str = "bye") -> Closed | None:
        """Close; returns the server's close answer."""
        await self.stream.send(self.ws.send(CloseConnection(code=code, reason=reason)))
        while True:
            frame = await self.receive()
            if frame is None or isinstance(frame, Closed):
                await self.stream.aclose()
                return frame

    async def aclose(self) -> None:
        await self.stream.aclose()


async def connect_device(
    emulator: Emulator, http: httpx.AsyncClient, **device: Any
) -> tuple[dict[str, Any], WsClient, dict[str, Any]]:
    """Register a device, open its websocket and authorize; returns the device, the client and
    the first frame."""
    query = device.pop("query", "outboundWireFormat=text")
    dto = await register_device(http, **device)
    client = await WsClient.connect(dto["webSocketUrl"], query=query)
    first = await client.authorize()
    return dto, client, first


async def raw_exchange(emulator: Emulator, payload: bytes) -> bytes:
    """Send raw bytes and EOF on a fresh TCP connection; all the server answers before closing."""
    received = b""
    async with await anyio.connect_tcp("127.0.0.1", emulator.port) as stream:
        await stream.send(payload)
        await stream.send_eof()
        with anyio.fail_after(TIMEOUT):
            while True:
                try:
                    received += await stream.receive()
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    return received


def lines_until(stream: IO[str], needle: str, timeout: float = TIMEOUT) -> list[str]:
    """Lines of a subprocess's output up to the first holding ``needle``; fails (queue.Empty)
    after ``timeout`` seconds instead of blocking forever."""
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in stream:  # ends at EOF, when the process is gone
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + timeout
    seen = []
    while True:
        line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        seen.append(line)
        if needle in line:
            return seen
