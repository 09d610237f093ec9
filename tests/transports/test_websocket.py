"""The websocket connectors against a wsproto server on 127.0.0.1 (and the memory one against
the same conformance scenarios): wire bytes, framing, close semantics, TLS, proxy, failures."""

from __future__ import annotations

import base64
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.abc
import pytest
from anyio.abc import SocketAttribute
from anyio.streams.tls import TLSStream
from http_servers import serving
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    Pong,
    RejectConnection,
    Request,
    TextMessage,
)

from webex_meetings.core.errors import (
    CertificateError,
    ConfigurationError,
    HandshakeRejectedError,
    LocalProtocolError,
    TimeoutError,
    TransportError,
)
from webex_meetings.transports import (
    AnyioWebSocketConnector,
    MemoryRejection,
    MemoryWebSocketConnector,
    TrioWebSocketConnector,
    WebSocketClosedMessage,
    WebSocketConnection,
    WebSocketTextMessage,
)
from webex_meetings.transports._read_buffer import (
    READ_BUFFER_SIZE,
    received_bytes,
    shared_read_buffer,
)
from webex_meetings.transports.conformance import ServerHandler, check_websocket_connector
from webex_meetings.transports.websocket_asyncio import AsyncioWebSocketConnector

pytestmark = pytest.mark.anyio

MAX_SIZE = 1000
_GONE = (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError)


# -- a wsproto test server, keeping the conformance contract ------------------------------


class ServerSocket:
    """The server end of one test connection; using it accepts the upgrade."""

    def __init__(self, stream: anyio.abc.ByteStream, ws: WSConnection) -> None:
        self.stream = stream
        self.ws = ws
        self.accepted = False
        self.pongs: list[bytes] = []
        self.closed: WebSocketClosedMessage | None = None

    async def accept(self) -> None:
        if not self.accepted:
            self.accepted = True
            await self.stream.send(self.ws.send(AcceptConnection()))

    async def send_event(self, event: Event) -> None:
        await self.accept()
        await self.stream.send(self.ws.send(event))

    async def send_text(self, text: str) -> None:
        await self.send_event(TextMessage(data=text))

    async def send_raw(self, data: bytes) -> None:
        await self.accept()
        await self.stream.send(data)

    async def receive(self) -> Any:
        await self.accept()
        parts: list[str] = []
        while self.closed is None:
            for event in self.ws.events():
                if isinstance(event, Pong):
                    self.pongs.append(bytes(event.payload))
                elif isinstance(event, TextMessage):
                    parts.append(event.data)
                    if event.message_finished:
                        return WebSocketTextMessage("".join(parts))
                elif isinstance(event, CloseConnection):
                    if self.ws.state is ConnectionState.REMOTE_CLOSING:
                        await self.stream.send(self.ws.send(event.response()))
                    self.closed = WebSocketClosedMessage(event.code, event.reason or "")
                    return self.closed
            try:
                data: bytes | None = await self.stream.receive()
            except _GONE:
                data = None
            self.ws.receive_data(data)
        return self.closed

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self.accept()
        if self.ws.state is ConnectionState.OPEN:
            await self.stream.send(self.ws.send(CloseConnection(code=code, reason=reason)))

    async def aclose(self) -> None:
        await anyio.aclose_forcefully(self.stream)


@dataclass
class WsServer:
    handler: ServerHandler | Callable[[str, ServerSocket], Any]
    ssl_context: ssl.SSLContext | None = None
    port: int = 0
    requests: list[bytes] = field(default_factory=list)

    async def handle(self, stream: anyio.abc.ByteStream) -> None:
        try:
            await self.serve_one(stream)
        finally:
            await anyio.aclose_forcefully(stream)

    async def serve_one(self, stream: anyio.abc.ByteStream) -> None:
        try:
            if self.ssl_context is not None:
                stream = await TLSStream.wrap(
                    stream,
                    server_side=True,
                    ssl_context=self.ssl_context,
                    standard_compatible=False,
                )
            ws, raw, request = await self.read_upgrade(stream)
        except (*_GONE, ssl.SSLError):
            return
        self.requests.append(raw)
        socket = ServerSocket(stream, ws)
        try:
            outcome = await self.handler(request.target, socket)  # type: ignore[arg-type]
            if outcome is not None and not socket.accepted:
                await self.reject(socket, outcome)
            await socket.accept()
        finally:
            await socket.aclose()

    async def read_upgrade(self, stream: anyio.abc.ByteStream) -> tuple[WSConnection, bytes, Any]:
        ws = WSConnection(ConnectionType.SERVER)
        raw = b""
        while True:
            data = await stream.receive()
            raw += data
            ws.receive_data(data)
            for event in ws.events():
                if isinstance(event, Request):
                    return ws, raw, event

    async def reject(self, socket: ServerSocket, outcome: MemoryRejection | int) -> None:
        rejection = MemoryRejection(outcome) if isinstance(outcome, int) else outcome
        headers = [(b"content-length", b"0")]
        if rejection.retry_after is not None:
            headers.append((b"retry-after", str(int(rejection.retry_after)).encode()))
        socket.accepted = True
        await socket.stream.send(
            socket.ws.send(RejectConnection(status_code=rejection.status, headers=headers))
        )


@asynccontextmanager
async def ws_server(
    handler: Any, ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[WsServer]:
    server = WsServer(handler, ssl_context)
    async with serving(server.handle) as port:
        server.port = port
        yield server


async def refused_port() -> int:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port: int = listener.extra(SocketAttribute.local_port)
    await listener.aclose()
    return port


# -- which connectors run where -----------------------------------------------------------

CONNECTORS: dict[str, Any] = {
    "anyio": AnyioWebSocketConnector,
    "asyncio": AsyncioWebSocketConnector,
    "trio": TrioWebSocketConnector,
}
ONLY_ON = {"asyncio": "asyncio", "trio": "trio"}


@pytest.fixture(params=sorted(CONNECTORS))
def make_connector(request: pytest.FixtureRequest, anyio_backend: str) -> Any:
    library = ONLY_ON.get(request.param)
    if library is not None and anyio_backend != library:
        pytest.skip(f"the {request.param} connector runs on {library} only")
    return CONNECTORS[request.param]


# -- conformance: the same scenarios on every implementation ------------------------------


async def test_wsproto_connectors_conform(make_connector: Any) -> None:
    @asynccontextmanager
    async def serve(handler: ServerHandler) -> AsyncIterator[tuple[Any, str]]:
        async with ws_server(handler) as server:
            connector = make_connector(max_message_size=MAX_SIZE)
            yield connector, f"ws://127.0.0.1:{server.port}/conformance"

    await check_websocket_connector(serve, max_message_size=MAX_SIZE)


async def test_memory_connector_conforms() -> None:
    @asynccontextmanager
    async def serve(handler: ServerHandler) -> AsyncIterator[tuple[Any, str]]:
        async with MemoryWebSocketConnector(handler, max_message_size=MAX_SIZE) as connector:
            yield connector, "ws://memory.test/conformance"

    await check_websocket_connector(serve, max_message_size=MAX_SIZE)


# -- the wire -----------------------------------------------------------------------------


def _head(raw: bytes) -> tuple[str, list[tuple[str, str]]]:
    lines = raw.decode("latin-1").split("\r\n\r\n")[0].split("\r\n")
    headers = [tuple(part.strip() for part in line.split(":", 1)) for line in lines[1:]]
    return lines[0], [(k.lower(), v) for k, v in headers]  # type: ignore[misc]


async def test_upgrade_request_is_exactly_what_mercury_needs(make_connector: Any) -> None:
    async def handler(target: str, socket: ServerSocket) -> None:
        await socket.close(1000, "done")
        await socket.receive()

    async with ws_server(handler) as server:
        url = f"ws://127.0.0.1:{server.port}/mercury/path?outboundWireFormat=text&x=%20y"
        connection = await make_connector().connect(url)
        assert await connection.receive() == WebSocketClosedMessage(1000, "done")
        await connection.aclose()
    request_line, headers = _head(server.requests[0])
    assert request_line == "GET /mercury/path?outboundWireFormat=text&x=%20y HTTP/1.1"
    names = sorted(name for name, _ in headers)
    assert names == ["connection", "host", "sec-websocket-key", "sec-websocket-version", "upgrade"]
    assert dict(headers)["host"] == f"127.0.0.1:{server.port}"
    assert dict(headers)["sec-websocket-version"] == "13"


async def test_fragments_are_joined_and_binary_is_utf8(make_connector: Any) -> None:
    utf8 = "gr\u00fc\u00dfe".encode()

    async def handler(target: str, socket: ServerSocket) -> None:
        await socket.send_event(TextMessage(data="hel", message_finished=False))
        await socket.send_event(TextMessage(data="lo", message_finished=True))
        await socket.send_event(BytesMessage(data=utf8[:3], message_finished=False))
        await socket.send_event(BytesMessage(data=utf8[3:], message_finished=True))
        await socket.close(1000)
        await socket.receive()

    async with ws_server(handler) as server:
        connection = await make_connector().connect(f"ws://127.0.0.1:{server.port}/")
        assert await connection.receive() == WebSocketTextMessage("hello")
        assert await connection.receive() == WebSocketTextMessage("gr\u00fc\u00dfe")
        assert await connection.receive() == WebSocketClosedMessage(1000, "")
        await connection.aclose()


async def test_fragments_count_towards_the_size_limit(make_connector: Any) -> None:
    seen: list[Any] = []
    done = anyio.Event()

    async def handler(target: str, socket: ServerSocket) -> None:
        for _ in range(3):
            await socket.send_event(TextMessage(data="x" * 400, message_finished=False))
        seen.append(await socket.receive())
        done.set()

    async with ws_server(handler) as server:
        connector = make_connector(max_message_size=MAX_SIZE)
        connection = await connector.connect(f"ws://127.0.0.1:{server.port}/")
        closed = await connection.receive()
        await done.wait()
        await connection.aclose()
    assert closed == WebSocketClosedMessage(1006, "closed by us with 1009: message too big")
    assert seen == [WebSocketClosedMessage(1009, "message too big")]


async def test_server_ping_is_answered(make_connector: Any) -> None:
    pongs: list[bytes] = []

    async def handler(target: str, socket: ServerSocket) -> None:
        await socket.send_event(Ping(payload=b"are you there"))
        await socket.send_text("after the ping")
        await socket.receive()  # the client's close, after its pong
        pongs.extend(socket.pongs)

    async with ws_server(handler) as server:
        connection = await make_connector().connect(f"ws://127.0.0.1:{server.port}/")
        assert await connection.receive() == WebSocketTextMessage("after the ping")
        await connection.close(1000, "Done")
        assert await connection.receive() == WebSocketClosedMessage(1000, "Done")
        await connection.aclose()
    assert pongs == [b"are you there"]


REFUSED_FRAMES = [
    pytest.param(b"\x83\x00", 1002, id="reserved-opcode"),
    pytest.param(b"\x81\x02\xc3\x28", 1007, id="text-not-utf8"),
    pytest.param(b"\x82\x02\xc3\x28", 1007, id="binary-not-utf8"),
    pytest.param(b"\x81\x7f\x80" + bytes(7), 1002, id="length-2**63"),
]


@pytest.mark.parametrize(("frame", "code"), REFUSED_FRAMES)
async def test_a_refused_frame_fails_the_connection_as_lost(
    make_connector: Any, frame: bytes, code: int
) -> None:
    """The server sees our close code; we report 1006 (a lost connection: the session
    reconnects) with a reason naming the code we sent."""
    seen: list[Any] = []
    done = anyio.Event()

    async def handler(target: str, socket: ServerSocket) -> None:
        await socket.send_raw(frame)
        seen.append(await socket.receive())
        done.set()

    async with ws_server(handler) as server:
        connection = await make_connector().connect(f"ws://127.0.0.1:{server.port}/")
        closed = await connection.receive()
        await done.wait()
        await connection.aclose()
    assert isinstance(closed, WebSocketClosedMessage)
    assert closed.code == 1006
    assert closed.reason.startswith(f"closed by us with {code}: ")
    assert seen[0].code == code


# -- failures -----------------------------------------------------------------------------


async def test_connection_refused_is_a_transport_error(make_connector: Any) -> None:
    port = await refused_port()
    with pytest.raises(TransportError) as caught:
        await make_connector().connect(f"ws://127.0.0.1:{port}/")
    assert type(caught.value) is TransportError
    assert f"ws://127.0.0.1:{port}" in str(caught.value)


async def test_silent_server_times_out(make_connector: Any) -> None:
    async def never_answer(stream: anyio.abc.ByteStream) -> None:
        async with stream:
            await anyio.sleep_forever()

    async with serving(never_answer) as port:
        with pytest.raises(TimeoutError):
            await make_connector(connect_timeout=0.2).connect(f"ws://127.0.0.1:{port}/")


async def test_server_closing_during_upgrade_is_a_transport_error(make_connector: Any) -> None:
    async def hang_up(stream: anyio.abc.ByteStream) -> None:
        await stream.receive()
        await stream.aclose()

    async with serving(hang_up) as port:
        with pytest.raises(TransportError, match="during the websocket upgrade"):
            await make_connector().connect(f"ws://127.0.0.1:{port}/")


async def test_not_an_upgrade_answer_is_a_transport_error(make_connector: Any) -> None:
    async def answer_garbage(stream: anyio.abc.ByteStream) -> None:
        await stream.receive()
        await stream.send(b"SSH-2.0-OpenSSH\r\n\r\n")
        await stream.aclose()

    async with serving(answer_garbage) as port:
        with pytest.raises(TransportError):
            await make_connector().connect(f"ws://127.0.0.1:{port}/")


@pytest.mark.parametrize("url", ["http://example.com/", "ws:///no-host", "mercury"])
async def test_bad_url_is_a_transport_error(make_connector: Any, url: str) -> None:
    with pytest.raises(TransportError, match="not a ws"):
        await make_connector().connect(url)


async def test_handshake_rejection_carries_status_and_retry_after(make_connector: Any) -> None:
    async def handler(target: str, socket: ServerSocket) -> MemoryRejection:
        return MemoryRejection(429, retry_after=30)

    async with ws_server(handler) as server:
        with pytest.raises(HandshakeRejectedError) as caught:
            await make_connector().connect(f"ws://127.0.0.1:{server.port}/")
    assert (caught.value.status, caught.value.retry_after) == (429, 30.0)


# -- TLS ----------------------------------------------------------------------------------


async def echo_once(target: str, socket: ServerSocket) -> None:
    message = await socket.receive()
    await socket.send_text(f"{target} {message.text}")
    await socket.close(1000, "bye")
    await socket.receive()


async def test_wss_with_a_custom_ssl_context(make_connector: Any, tls: Any) -> None:
    async with ws_server(echo_once, ssl_context=tls.server) as server:
        connector = make_connector(ssl_context=tls.client)
        connection = await connector.connect(f"wss://127.0.0.1:{server.port}/secure")
        await connection.send_text("hi")
        assert await connection.receive() == WebSocketTextMessage("/secure hi")
        assert await connection.receive() == WebSocketClosedMessage(1000, "bye")
        await connection.aclose()
    assert _head(server.requests[0])[0] == "GET /secure HTTP/1.1"


async def test_wss_with_an_untrusted_certificate_fails(make_connector: Any, tls: Any) -> None:
    async with ws_server(echo_once, ssl_context=tls.server) as server:
        with pytest.raises(CertificateError) as caught:
            await make_connector().connect(f"wss://127.0.0.1:{server.port}/")
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value)


# -- HTTP CONNECT proxy -------------------------------------------------------------------


@dataclass
class ConnectProxy:
    """A tiny CONNECT proxy; ``refuse`` answers 407 instead of tunnelling."""

    refuse: bool = False
    heads: list[bytes] = field(default_factory=list)

    async def handle(self, client: anyio.abc.ByteStream) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            head += await client.receive()
        self.heads.append(head)
        if self.refuse:
            await client.send(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n")
            await client.aclose()
            return
        host, port = head.split(b" ")[1].decode().rsplit(":", 1)
        async with await anyio.connect_tcp(host, int(port)) as upstream, client:
            await client.send(b"HTTP/1.1 200 Connection established\r\n\r\n")
            async with anyio.create_task_group() as task_group:
                task_group.start_soon(self.pipe, client, upstream, task_group.cancel_scope)
                await self.pipe(upstream, client, task_group.cancel_scope)

    @staticmethod
    async def pipe(
        source: anyio.abc.ByteStream, sink: anyio.abc.ByteStream, scope: anyio.CancelScope
    ) -> None:
        try:
            async for chunk in source:
                await sink.send(chunk)
        except _GONE:
            pass
        scope.cancel()


@pytest.mark.parametrize("secure", [False, True])
async def test_proxy_tunnel(make_connector: Any, tls: Any, secure: bool) -> None:
    proxy = ConnectProxy()
    context = tls.server if secure else None
    async with ws_server(echo_once, ssl_context=context) as server, serving(proxy.handle) as port:
        connector = make_connector(
            proxy=f"http://user:p%40ss@127.0.0.1:{port}", ssl_context=tls.client
        )
        scheme = "wss" if secure else "ws"
        connection = await connector.connect(f"{scheme}://127.0.0.1:{server.port}/via?proxy=1")
        await connection.send_text("tunnelled")
        assert await connection.receive() == WebSocketTextMessage("/via?proxy=1 tunnelled")
        assert await connection.receive() == WebSocketClosedMessage(1000, "bye")
        await connection.aclose()
    request_line, headers = _head(proxy.heads[0])
    assert request_line == f"CONNECT 127.0.0.1:{server.port} HTTP/1.1"
    credentials = base64.b64encode(b"user:p@ss").decode()
    assert dict(headers)["proxy-authorization"] == f"Basic {credentials}"
    assert dict(headers)["host"] == f"127.0.0.1:{server.port}"


async def test_proxy_refusal_is_a_transport_error_without_credentials(
    make_connector: Any,
) -> None:
    proxy = ConnectProxy(refuse=True)
    async with serving(proxy.handle) as port:
        connector = make_connector(proxy=f"http://user:SECRETPASSWORD@127.0.0.1:{port}")
        with pytest.raises(TransportError, match="407") as caught:
            await connector.connect("ws://127.0.0.1:9/")
    assert "SECRET" not in str(caught.value) + repr(caught.value)
    assert "SECRET" not in repr(connector._proxy)


def test_proxy_must_be_an_http_url() -> None:
    with pytest.raises(ConfigurationError):
        AnyioWebSocketConnector(proxy="socks5://127.0.0.1:1080")


# -- the memory connector's own rules ----------------------------------------------------


async def test_memory_connector_needs_async_with() -> None:
    connector = MemoryWebSocketConnector(echo_once)  # type: ignore[arg-type]
    with pytest.raises(Exception, match="async with"):
        await connector.connect("ws://memory.test/")


async def test_memory_connector_records_urls_and_server_sockets() -> None:
    async def handler(url: str, socket: WebSocketConnection) -> None:
        await socket.send_text(url)
        await socket.close(4001, "enough")
        await socket.receive()

    async with MemoryWebSocketConnector(handler) as connector:
        connection = await connector.connect("ws://memory.test/a?b=c")
        assert await connection.receive() == WebSocketTextMessage("ws://memory.test/a?b=c")
        assert await connection.receive() == WebSocketClosedMessage(4001, "enough")
    assert connector.urls == ["ws://memory.test/a?b=c"]
    assert [s.url for s in connector.server_sockets] == connector.urls


async def test_memory_handler_failure_refuses_with_500_and_propagates() -> None:
    async def broken(url: str, socket: WebSocketConnection) -> None:
        raise RuntimeError("handler bug")

    statuses: list[int] = []
    with pytest.raises(Exception) as caught:  # noqa: PT011, PT012
        async with MemoryWebSocketConnector(broken) as connector:
            try:
                await connector.connect("ws://memory.test/")
            except HandshakeRejectedError as exc:
                statuses.append(exc.status)
            await anyio.sleep_forever()
    assert caught.group_contains(RuntimeError, match="handler bug")
    assert statuses in ([500], [])


async def test_two_receivers_at_once_is_a_local_error(make_connector: Any) -> None:
    async with ws_server(echo_once) as server:
        connection = await make_connector().connect(f"ws://127.0.0.1:{server.port}/")
        async with anyio.create_task_group() as task_group:
            task_group.start_soon(connection.receive)
            await anyio.wait_all_tasks_blocked()
            with pytest.raises(LocalProtocolError, match="already receiving"):
                await connection.receive()
            await connection.aclose()


# -- push mode (the asyncio connector): what the driver uses ---------------------------------


class Collected:
    """A push receiver: keeps every message, ``closed`` is set on the closing one."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.closed = anyio.Event()

    def __call__(self, message: Any) -> None:
        assert not self.closed.is_set(), "a message after the closing one"
        self.messages.append(message)
        if isinstance(message, WebSocketClosedMessage):
            self.closed.set()


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.parametrize("secure", [False, True])
async def test_push_mode_delivers_in_order_and_ends_with_one_close(tls: Any, secure: bool) -> None:
    got: list[Any] = []

    async def handler(target: str, socket: ServerSocket) -> None:
        for i in range(5):
            await socket.send_text(f"s{i}")
        got.extend([await socket.receive() for _ in range(3)])
        await socket.close(1000, "bye")
        await socket.receive()

    context = tls.server if secure else None
    async with ws_server(handler, ssl_context=context) as server:
        connector = AsyncioWebSocketConnector(ssl_context=tls.client if secure else None)
        scheme = "wss" if secure else "ws"
        connection = await connector.connect(f"{scheme}://localhost:{server.port}/")
        assert await connection.receive() == WebSocketTextMessage("s0")  # pull, then push
        receiver = Collected()
        connection.deliver_to(receiver)
        for i in range(3):
            connection.send_text_nowait(f"c{i}")
        with anyio.fail_after(5):
            await receiver.closed.wait()
        texts = [WebSocketTextMessage(f"s{i}") for i in range(1, 5)]
        assert receiver.messages == [*texts, WebSocketClosedMessage(1000, "bye")]
        assert got == [WebSocketTextMessage(f"c{i}") for i in range(3)]
        with pytest.raises(TransportError):
            connection.send_text_nowait("late")
        connection.abort()  # nothing more is delivered
        assert len(receiver.messages) == 5
        with pytest.raises(LocalProtocolError):
            await connection.receive()


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_push_mode_abort_and_lost_connections_end_with_1006() -> None:
    async def handler(target: str, socket: ServerSocket) -> None:
        await socket.accept()
        if target == "/drop":
            return  # the server drops the connection
        await socket.receive()

    async with ws_server(handler) as server:
        connector = AsyncioWebSocketConnector()
        for path in ("/abort", "/drop"):
            connection = await connector.connect(f"ws://127.0.0.1:{server.port}{path}")
            receiver = Collected()
            connection.deliver_to(receiver)
            if path == "/abort":
                connection.abort()
            with anyio.fail_after(5):
                await receiver.closed.wait()
            [closed] = receiver.messages
            assert closed.code == 1006
            connection.close_nowait(1000)  # never raises, delivers nothing
            assert len(receiver.messages) == 1


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.parametrize("secure", [False, True])
async def test_two_connections_share_the_read_buffer_and_lose_nothing(
    tls: Any, secure: bool
) -> None:
    """Messages several times the shared 64 KiB read buffer, sent to two connections at once,
    arrive whole and each at its own connection (the buffer is copied out before the next
    read overwrites it)."""
    size = 3 * READ_BUFFER_SIZE + 123

    async def handler(target: str, socket: ServerSocket) -> None:
        letter = target.strip("/")
        await socket.send_text(letter * size)
        await socket.receive()

    context = tls.server if secure else None
    async with ws_server(handler, ssl_context=context) as server:
        connector = AsyncioWebSocketConnector(
            ssl_context=tls.client if secure else None, max_message_size=4 * size
        )
        scheme = "wss" if secure else "ws"
        got: dict[str, list[Any]] = {"a": [], "b": []}
        both = anyio.Event()

        def receiver_for(letter: str) -> Callable[[Any], None]:
            def receive(message: Any) -> None:
                got[letter].append(message)
                if all(got.values()):
                    both.set()

            return receive

        for letter in got:
            connection = await connector.connect(f"{scheme}://localhost:{server.port}/{letter}")
            connection.deliver_to(receiver_for(letter))
        with anyio.fail_after(5):
            await both.wait()
        for letter, messages in got.items():
            assert messages[0] == WebSocketTextMessage(letter * size)


def test_each_thread_reads_into_its_own_buffer() -> None:
    import threading

    buffers: list[bytearray] = []
    thread = threading.Thread(target=lambda: buffers.append(shared_read_buffer()))
    thread.start()
    thread.join()
    assert buffers[0] is not shared_read_buffer()
    shared_read_buffer()[:3] = b"abc"
    copied = received_bytes(3)
    shared_read_buffer()[:3] = b"xyz"
    assert copied == b"abc"
