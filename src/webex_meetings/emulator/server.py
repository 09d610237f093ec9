"""Bytes in, bytes out: HTTP/1.1 with h11, the websocket upgrade, and Mercury frames with wsproto.

Theory of operation: one task per TCP connection. :class:`HttpConnection` runs h11's server
state machine with keep-alive: it reads one request (headers bounded by ``max_header_bytes``,
body by ``max_body_bytes``), asks the :class:`~webex_meetings.emulator.cloud.Cloud` for the
answer and sends it, then starts the next cycle. Anything h11 rejects (garbage, oversized
headers) gets a JSON error with h11's suggested status and the connection is closed.

A request carrying ``Upgrade: websocket`` is offered to the cloud; when it accepts, the 101
answer is sent through h11, h11's trailing bytes are handed to a wsproto ``Connection`` and
:class:`WebSocketSession` runs the Mercury connection: a reader task feeding wsproto, a command
task running what the control API queued, and the authorization-deadline timer. Every action
the Mercury logic returns is performed under one send lock. Messages above
``max_ws_message_bytes`` and frames wsproto cannot parse close the socket with 1009 / 1002.

Nothing a client sends can end the server: each connection's task catches its own failures.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import logging
import math
import ssl
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Final

import anyio
import anyio.abc
import h11
from anyio.streams.memory import MemoryObjectReceiveStream
from wsproto.connection import Connection as WsConnection
from wsproto.connection import ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Message, Ping, TextMessage
from wsproto.events import Event as WsEvent

from .cloud import Cloud
from .mercury import Action, Close, Command, MercuryConnection, Send
from .messages import Request, Response, error_response
from .records import ViolationKind

__all__ = ["HttpConnection", "Limits", "Server", "WebSocketSession"]

log = logging.getLogger(__name__)

WS_GUID: Final = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_NO_BODY_STATUSES: Final = frozenset({204, 304})
_TRANSPORT_ERRORS: Final = (
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    anyio.EndOfStream,
    OSError,
    ssl.SSLError,
)


@dataclass(frozen=True, slots=True)
class Limits:
    """Size limits, in bytes."""

    max_header_bytes: int = 16 * 1024
    max_body_bytes: int = 1024 * 1024
    max_ws_message_bytes: int = 1024 * 1024
    read_chunk: int = 64 * 1024


class Server:
    """Runs one connection handler per accepted stream."""

    def __init__(self, cloud: Cloud, limits: Limits) -> None:
        self.cloud = cloud
        self.limits = limits
        self._ids = itertools.count(1)

    async def handle(self, stream: anyio.abc.ByteStream) -> None:
        """Serve one TCP (or TLS) connection until it ends; never raises."""
        conn_id = next(self._ids)
        cancellers = self.cloud.control.http_cancellers
        try:
            with anyio.CancelScope() as scope:
                cancellers[conn_id] = scope.cancel
                await HttpConnection(self, stream, conn_id).run()
        except _TRANSPORT_ERRORS:
            pass
        except Exception:
            log.exception("emulator connection %d failed", conn_id)
        finally:
            cancellers.pop(conn_id, None)
            await anyio.aclose_forcefully(stream)


class HttpConnection:
    """h11 keep-alive loop for one connection (see the module docstring)."""

    def __init__(self, server: Server, stream: anyio.abc.ByteStream, conn_id: int) -> None:
        self._server = server
        self._cloud = server.cloud
        self._limits = server.limits
        self._stream = stream
        self._id = conn_id
        self._h11 = h11.Connection(
            h11.SERVER, max_incomplete_event_size=self._limits.max_header_bytes
        )

    async def run(self) -> None:
        while True:
            event = await self._next_event()
            if not isinstance(event, h11.Request):
                return
            if _header_bytes(event) > self._limits.max_header_bytes:
                await self._reject(431, "request headers too large")
                return
            request = await self._read_request(event)
            if request is None:
                return
            if _wants_websocket(event):
                await self._upgrade(request)
                return
            response = await self._cloud.handle_http(request)
            if response.drop:
                return
            await self._send_response(response)
            if not self._next_cycle():
                return

    def _next_cycle(self) -> bool:
        if self._h11.our_state is not h11.DONE or self._h11.their_state is not h11.DONE:
            return False
        self._h11.start_next_cycle()
        return True

    async def _receive(self) -> bytes:
        try:
            return await self._stream.receive(self._limits.read_chunk)
        except anyio.EndOfStream:
            return b""

    async def _next_event(self) -> h11.Event | None:
        """The next h11 event, reading as needed; ``None`` once the connection is unusable."""
        while True:
            try:
                event = self._h11.next_event()
            except h11.RemoteProtocolError as exc:
                await self._reject(exc.error_status_hint, str(exc))
                return None
            if event is h11.NEED_DATA:
                self._h11.receive_data(await self._receive())
                continue
            if isinstance(event, h11.ConnectionClosed) or not isinstance(event, h11.Event):
                return None
            return event

    async def _read_request(self, head: h11.Request) -> Request | None:
        declared = _content_length(head)
        if declared is not None and declared > self._limits.max_body_bytes:
            await self._reject(413, "request body too large")
            return None
        chunks: list[bytes] = []
        size = 0
        while True:
            event = await self._next_event()
            if isinstance(event, h11.Data):
                size += len(event.data)
                if size > self._limits.max_body_bytes:
                    await self._reject(413, "request body too large")
                    return None
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                return _request_of(head, b"".join(chunks), self._id)
            else:
                return None

    async def _reject(self, status: int, detail: str) -> None:
        """Answer a framing error (when still possible) and give up the connection."""
        kind = ViolationKind.OVERSIZED if status in (413, 431) else ViolationKind.MALFORMED_HTTP
        self._cloud.violate(kind, detail, None, f"conn#{self._id}")
        if self._h11.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return
        response = error_response(status, HTTPStatus(status).phrase)
        await self._send_response(response, close=True)

    async def _send_response(self, response: Response, *, close: bool = False) -> None:
        headers = [(b"server", b"webex-cloud-emulator")]
        if response.status not in _NO_BODY_STATUSES:
            headers.append((b"content-length", str(len(response.body)).encode()))
        if close:
            headers.append((b"connection", b"close"))
        headers.extend((k.encode(), v.encode()) for k, v in response.headers)
        out = self._h11.send(
            h11.Response(
                status_code=response.status, headers=headers, reason=_reason(response.status)
            )
        )
        if response.body and response.status not in _NO_BODY_STATUSES:
            out += self._h11.send(h11.Data(data=response.body))
        out += self._h11.send(h11.EndOfMessage())
        await self._stream.send(out)

    async def _upgrade(self, request: Request) -> None:
        outcome = await self._cloud.open_websocket(request)
        if isinstance(outcome, Response):
            await self._send_response(outcome, close=True)
            return
        key = (request.header("sec-websocket-key") or "").encode()
        accept = base64.b64encode(hashlib.sha1(key + WS_GUID, usedforsecurity=False).digest())
        headers = [
            (b"upgrade", b"websocket"),
            (b"connection", b"Upgrade"),
            (b"sec-websocket-accept", accept),
        ]
        try:
            out = self._h11.send(h11.InformationalResponse(status_code=101, headers=headers))
        except h11.LocalProtocolError:
            self._cloud.control.connection_finished(outcome)
            return
        await self._stream.send(out)
        trailing, _closed = self._h11.trailing_data
        ws = WsConnection(ConnectionType.SERVER, trailing_data=bytes(trailing))
        await WebSocketSession(self._server, self._stream, ws, outcome).run()


class WebSocketSession:
    """Runs one accepted Mercury websocket (see the module docstring)."""

    def __init__(
        self,
        server: Server,
        stream: anyio.abc.ByteStream,
        ws: WsConnection,
        conn: MercuryConnection,
    ) -> None:
        self._cloud = server.cloud
        self._limits = server.limits
        self._stream = stream
        self._ws = ws
        self._conn = conn
        self._lock = anyio.Lock()
        self._parts: list[str | bytes] = []
        self._size = 0
        self._close: tuple[int | None, str, str] = (None, "", "transport")
        self._tg: anyio.abc.TaskGroup | None = None
        self._finished_recorded = False

    async def run(self) -> None:
        send, receive = anyio.create_memory_object_stream[Command](math.inf)
        self._conn.outbox = send
        try:
            with anyio.CancelScope() as scope:
                self._conn.cancel_scope = scope
                async with anyio.create_task_group() as tg:
                    self._tg = tg
                    tg.start_soon(self._run_commands, receive)
                    tg.start_soon(self._auth_timer)
                    await self._read_loop()
                    tg.cancel_scope.cancel()
        finally:
            send.close()
            receive.close()
            self._finish()

    def _finish(self) -> None:
        """Record the end of the connection (once), before the client can observe it."""
        if self._finished_recorded:
            return
        self._finished_recorded = True
        code, reason, by = self._close
        self._conn.closed(code, reason, by)
        self._cloud.control.connection_finished(self._conn)

    async def _read_loop(self) -> None:
        while self._ws.state is not ConnectionState.CLOSED:
            try:
                data: bytes | None = await self._stream.receive(self._limits.read_chunk)
            except (anyio.EndOfStream, *_TRANSPORT_ERRORS):
                data = None
            self._ws.receive_data(data)
            for event in self._ws.events():
                await self._on_event(event)
                if self._finished():
                    return

    def _finished(self) -> bool:
        return self._ws.state is ConnectionState.CLOSED

    async def _on_event(self, event: WsEvent) -> None:
        if isinstance(event, Message):
            await self._on_message(event)
        elif isinstance(event, Ping):
            await self._send_raw(self._ws.send(event.response()))
        elif isinstance(event, CloseConnection):
            await self._on_close(event)

    async def _on_message(self, event: Message[Any]) -> None:
        data = event.data
        self._size += len(data)
        if self._size > self._limits.max_ws_message_bytes:
            await self._perform(self._conn.oversized(self._limits.max_ws_message_bytes))
            return
        self._parts.append(data)
        if not event.message_finished:
            return
        parts, self._parts, self._size = self._parts, [], 0
        if isinstance(event, TextMessage):
            actions = self._conn.receive_text("".join(p for p in parts if isinstance(p, str)))
        else:
            assert isinstance(event, BytesMessage)
            actions = self._conn.receive_binary()
        await self._perform(actions)

    async def _on_close(self, event: CloseConnection) -> None:
        state = self._ws.state
        if state is ConnectionState.OPEN:
            # wsproto reports an unparsable frame as a CloseConnection while still OPEN.
            await self._perform(self._conn.malformed(event.reason or "bad frame", event.code))
            return
        if self._close[2] != "server":
            by = "transport" if event.code == 1006 and state is ConnectionState.CLOSED else "client"
            self._close = (event.code, event.reason or "", by)
        if state is ConnectionState.REMOTE_CLOSING:
            self._finish()
            await self._send_raw(self._ws.send(event.response()))

    async def _run_commands(self, commands: MemoryObjectReceiveStream[Command]) -> None:
        async for command in commands:
            await self._perform(self._conn.on_command(command))

    async def _auth_timer(self) -> None:
        await anyio.sleep(self._conn.auth_deadline)
        await self._perform(self._conn.auth_deadline_passed())

    async def _perform(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Close):
                await self._server_close(action)
            elif action.delay > 0 and self._tg is not None:
                self._tg.start_soon(self._send_later, action)
            else:
                await self._send_json(action)

    async def _send_later(self, action: Send) -> None:
        await anyio.sleep(action.delay)
        await self._send_json(action)

    async def _send_json(self, action: Send) -> None:
        async with self._lock:
            if self._ws.state is not ConnectionState.OPEN:
                return
            payload = dict(action.payload)
            if action.sequenced:
                payload["sequenceNumber"] = self._conn.next_sequence()
                payload["wsWriteTimestamp"] = int(self._cloud.state.clock() * 1000)
            text = json.dumps(payload, separators=(",", ":"))
            self._conn.frames_out += 1
            await self._stream.send(self._ws.send(TextMessage(data=text)))

    async def _server_close(self, action: Close) -> None:
        async with self._lock:
            if self._ws.state is not ConnectionState.OPEN:
                return
            self._close = (action.code, action.reason, "server")
            await self._stream.send(self._ws.send(CloseConnection(action.code, action.reason)))
        if self._tg is not None:
            self._tg.start_soon(self._close_timer)

    async def _close_timer(self) -> None:
        await anyio.sleep(self._cloud.config.mercury_close_timeout)
        if self._conn.cancel_scope is not None:
            self._conn.cancel_scope.cancel()

    async def _send_raw(self, data: bytes) -> None:
        async with self._lock:
            await self._stream.send(data)


def _wants_websocket(event: h11.Request) -> bool:
    for name, value in event.headers:
        if name.lower() == b"upgrade" and b"websocket" in value.lower():
            return True
    return False


def _header_bytes(event: h11.Request) -> int:
    return len(event.target) + sum(len(k) + len(v) + 4 for k, v in event.headers)


def _content_length(event: h11.Request) -> int | None:
    for name, value in event.headers:
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _request_of(head: h11.Request, body: bytes, conn_id: int) -> Request:
    headers = tuple(
        (name.decode("latin-1").lower(), value.decode("latin-1")) for name, value in head.headers
    )
    return Request(
        method=head.method.decode("ascii", "replace"),
        target=head.target.decode("latin-1"),
        headers=headers,
        body=body,
        connection_id=conn_id,
    )


def _reason(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode()
    except ValueError:
        return b""
