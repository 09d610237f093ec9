"""Bytes in, bytes out: the accept loop, HTTP/1.1 with h11, and the websocket upgrade.

Theory of operation: :meth:`Server.serve` accepts connections and runs one task per
connection; it never ends on an accept error: when the process is out of descriptors
(``EMFILE``/``ENFILE``) it logs, backs off briefly and accepts again. Connections beyond
``Limits.max_connections`` are answered ``503`` (a few at a time, the rest closed at once) and
the first refusal of an episode is logged (an episode ends once a tenth of the connections
are free again), so a full emulator says so, once, instead of failing silently.

:class:`HttpConnection` runs h11's server state machine with keep-alive: it reads one request
(head bounded by ``max_header_bytes`` and ``header_timeout``, body by ``max_body_bytes`` and
``body_timeout``), asks the :class:`~webex_meetings.emulator.cloud.Cloud` for the answer and
sends it, then waits ``keep_alive_timeout`` for the next. A silent idle connection is closed
quietly; one that stalls mid-request gets ``408``. Anything h11 rejects (garbage, oversized
heads) gets a JSON error with h11's suggested status and the connection is closed.

A request carrying ``Upgrade: websocket`` is offered to the cloud; when it accepts (and the
websocket limit allows), the 101 answer is sent through h11, h11's trailing bytes are handed
to a wsproto ``Connection`` and a :class:`~webex_meetings.emulator.websocket.WebSocketSession`
runs it. Nothing a client sends can end the server: each connection's task catches its own
failures.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import itertools
import logging
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Final

import anyio
import anyio.abc
import h11
from anyio.streams.tls import TLSStream
from wsproto.connection import Connection as WsConnection
from wsproto.connection import ConnectionType

from .cloud import Cloud
from .limits import TRANSPORT_ERRORS, Limits
from .mercury import MercuryConnection
from .messages import Request, Response, error_response
from .recorder import Recorder
from .records import ViolationKind
from .registry import Registry
from .websocket import WebSocketSession

__all__ = ["HttpConnection", "Server", "ServerStats"]

log = logging.getLogger(__name__)

WS_GUID: Final = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_NO_BODY_STATUSES: Final = frozenset({204, 304})
_OUT_OF_RESOURCES: Final = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
_ACCEPT_BACKOFF: Final = (0.01, 0.5)
"""First and longest pause after an accept failed for lack of resources (seconds)."""
BUSY_RETRY_AFTER: Final = 1


@dataclass(slots=True)
class ServerStats:
    """What the limits refused so far (reported by the admin API's ``state``)."""

    refused_connections: int = 0
    refused_websockets: int = 0
    accept_errors: int = 0
    timed_out: int = 0


class _Timeout(Exception):
    """A connection's read deadline passed."""


class Server:
    """Accepts connections and runs one handler per connection (see the module docstring)."""

    def __init__(
        self,
        *,
        cloud: Cloud,
        registry: Registry,
        recorder: Recorder,
        limits: Limits,
        close_timeout: float,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.cloud = cloud
        self.registry = registry
        self.recorder = recorder
        self.limits = limits
        self.close_timeout = close_timeout
        self.connection_cap = limits.connection_cap()
        self.websocket_cap = limits.websocket_cap()
        self.stats = ServerStats()
        self._tls = tls
        self._ids = itertools.count(1)
        self._overflow = 0
        self._full = False

    # -- accepting ---------------------------------------------------------------------------

    async def serve(self, listeners: Sequence[anyio.abc.SocketListener]) -> None:
        """Accept connections on every listener until cancelled or they close; never raises
        on an accept error."""
        async with anyio.create_task_group() as tg:
            for listener in listeners:
                tg.start_soon(self._accept_loop, listener, tg)

    async def _accept_loop(
        self, listener: anyio.abc.SocketListener, tg: anyio.abc.TaskGroup
    ) -> None:
        backoff = _ACCEPT_BACKOFF[0]
        while True:
            try:
                stream = await listener.accept()
            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                return
            except OSError as exc:
                await self._accept_failed(exc, backoff)
                backoff = min(backoff * 2, _ACCEPT_BACKOFF[1])
                continue
            backoff = _ACCEPT_BACKOFF[0]
            tg.start_soon(self.handle, stream)

    async def _accept_failed(self, exc: OSError, pause: float) -> None:
        self.stats.accept_errors += 1
        if exc.errno in _OUT_OF_RESOURCES:
            log.warning(
                "emulator: cannot accept a connection (%s, %d open); "
                "retrying in %.2f s. Raise the limit (ulimit -n) or lower max_connections.",
                errno.errorcode.get(exc.errno or 0, exc), self.registry.connection_count, pause,
            )  # fmt: skip
            await anyio.sleep(pause)
        else:
            log.info("emulator: accept failed (%s); continuing", exc)
            await anyio.sleep(_ACCEPT_BACKOFF[0])

    # -- one connection ----------------------------------------------------------------------

    async def handle(self, stream: anyio.abc.ByteStream) -> None:
        """Serve one TCP connection until it ends; never raises."""
        conn_id = next(self._ids)
        try:
            if self.registry.connection_count >= self.connection_cap:
                await self._refuse(stream, conn_id)
            else:
                await self._serve(stream, conn_id)
        except TRANSPORT_ERRORS:
            pass
        except Exception:
            log.exception("emulator connection %d failed", conn_id)
        finally:
            await anyio.aclose_forcefully(stream)

    async def _serve(self, stream: anyio.abc.ByteStream, conn_id: int) -> None:
        self._note_capacity()
        with anyio.CancelScope() as scope:
            self.registry.connection_opened(conn_id, scope.cancel)
            try:
                stream = await self._secure(stream)
                await HttpConnection(self, stream, conn_id).run()
            finally:
                self.registry.connection_closed(conn_id)

    async def _secure(self, stream: anyio.abc.ByteStream) -> anyio.abc.ByteStream:
        """The stream after the TLS handshake (if serving TLS), bounded by header_timeout."""
        if self._tls is None:
            return stream
        with anyio.fail_after(self.limits.header_timeout):
            return await TLSStream.wrap(
                stream, server_side=True, ssl_context=self._tls, standard_compatible=False
            )

    async def _refuse(self, stream: anyio.abc.ByteStream, conn_id: int) -> None:
        """A connection over the limit: a 503 for its first request, or closed at once."""
        self.stats.refused_connections += 1
        if not self._full:
            self._full = True
            log.warning(
                "emulator: connection limit reached (%d open, max_connections=%d); "
                "answering 503 until connections close",
                self.registry.connection_count, self.connection_cap,
            )  # fmt: skip
        if self._overflow >= self.limits.overflow_answers:
            return
        self._overflow += 1
        try:
            with anyio.move_on_after(self.limits.header_timeout):
                stream = await self._secure(stream)
                await HttpConnection(self, stream, conn_id).refuse_busy()
        finally:
            self._overflow -= 1

    def _note_capacity(self) -> None:
        """End a full episode once a tenth of the connections are free again: a server at
        its limit, with one connection closing and the next one taking its place, logs one
        episode, not one per connection."""
        cap = self.connection_cap
        if self._full and self.registry.connection_count < cap - max(1, cap // 10):
            self._full = False
            log.warning(
                "emulator: below the connection limit again (%d refused so far)",
                self.stats.refused_connections,
            )

    def websocket_refused(self) -> None:
        """An upgrade was refused because the websocket limit is reached."""
        self.stats.refused_websockets += 1
        if self.stats.refused_websockets == 1 or self.stats.refused_websockets % 1000 == 0:
            log.warning(
                "emulator: websocket limit reached (%d open, max_websockets=%d); "
                "upgrades answered 503 (%d so far)",
                self.registry.socket_count, self.websocket_cap, self.stats.refused_websockets,
            )  # fmt: skip


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
        self._deadline = anyio.current_time() + self._limits.header_timeout
        self._idle = True  # no byte of the next request yet: a timeout closes quietly

    async def run(self) -> None:
        """Serve requests until the connection closes, times out or upgrades."""
        try:
            await self._serve_requests()
        except _Timeout:
            self._server.stats.timed_out += 1
            if not self._idle:
                await self._reject(408, "request timed out", record=False)

    async def refuse_busy(self) -> None:
        """Answer the first request with 503 (the emulator is full) and close."""
        try:
            event = await self._next_event()
        except _Timeout:
            return
        if isinstance(event, h11.Request):
            message = "The emulator is at its connection limit; retry later"
            busy = error_response(503, message, headers=(("retry-after", str(BUSY_RETRY_AFTER)),))
            await self._send_response(busy, close=True)

    async def _serve_requests(self) -> None:
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
        self._deadline = anyio.current_time() + self._limits.keep_alive_timeout
        self._idle = True
        return True

    async def _receive(self) -> bytes:
        """The next bytes (``b""`` at EOF) before the current deadline.

        :raises _Timeout: the deadline passed.
        """
        with anyio.CancelScope(deadline=self._deadline) as scope:
            try:
                data = await self._stream.receive(self._limits.read_chunk)
            except anyio.EndOfStream:
                data = b""
        if scope.cancelled_caught:
            raise _Timeout
        if self._idle and data:
            self._idle = False
            self._deadline = anyio.current_time() + self._limits.header_timeout
        return data

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
        self._deadline = anyio.current_time() + self._limits.body_timeout
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

    async def _reject(self, status: int, detail: str, *, record: bool = True) -> None:
        """Answer a framing error (when still possible) and give up the connection."""
        if record:
            oversized = status in (413, 431)
            kind = ViolationKind.OVERSIZED if oversized else ViolationKind.MALFORMED_HTTP
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
        await self._send(out)

    async def _send(self, data: bytes) -> None:
        with anyio.move_on_after(self._limits.send_timeout) as scope:
            await self._stream.send(data)
        if scope.cancelled_caught:
            raise anyio.BrokenResourceError("the client stopped reading")

    async def _upgrade(self, request: Request) -> None:
        if self._server.registry.socket_count >= self._server.websocket_cap:
            self._server.websocket_refused()
            await self._send_response(_websocket_busy(request), close=True)
            return
        outcome = await self._cloud.open_websocket(request)
        if isinstance(outcome, Response):
            await self._send_response(outcome, close=True)
            return
        try:
            out = self._h11.send(_accept(request))
        except h11.LocalProtocolError:
            return
        await self._send(out)
        await self._run_websocket(outcome)

    async def _run_websocket(self, mercury: MercuryConnection) -> None:
        trailing, _closed = self._h11.trailing_data
        session = WebSocketSession(
            stream=self._stream,
            ws=WsConnection(ConnectionType.SERVER, trailing_data=bytes(trailing)),
            mercury=mercury,
            registry=self._server.registry,
            recorder=self._server.recorder,
            limits=self._limits,
            close_timeout=self._server.close_timeout,
        )
        await session.run()


def _accept(request: Request) -> h11.InformationalResponse:
    key = (request.header("sec-websocket-key") or "").encode()
    accept = base64.b64encode(hashlib.sha1(key + WS_GUID, usedforsecurity=False).digest())
    headers = [
        (b"upgrade", b"websocket"),
        (b"connection", b"Upgrade"),
        (b"sec-websocket-accept", accept),
    ]
    return h11.InformationalResponse(status_code=101, headers=headers)


def _websocket_busy(request: Request) -> Response:
    message = "The emulator is at its websocket limit; retry later"
    headers = (("retry-after", str(BUSY_RETRY_AFTER)),)
    return error_response(503, message, tracking_id=request.tracking_id, headers=headers)


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
