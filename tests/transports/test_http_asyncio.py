"""The asyncio HTTP transport's own behaviour (asyncio only): keep-alive and the pool's cap,
queue and expiry, a server closing idle connections, the one retry of an idempotent request
on a reused connection (never of a POST), cancellation, the connect timeout, and h11's parsing
of answers split anywhere. What it shares with the httpx transport is tested against both in
``test_http_transports.py``."""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.abc
import h11
import pytest
from anyio.abc import SocketAttribute
from anyio.streams.tls import TLSStream
from http_servers import read_request
from hypothesis import given, settings
from hypothesis import strategies as st

from webex_meetings.core.errors import ConfigurationError, TimeoutError, TransportError
from webex_meetings.core.http import HttpRequest, HttpResponse
from webex_meetings.transports import http_asyncio
from webex_meetings.transports._http_connection import HttpConnection, Origin
from webex_meetings.transports.http_asyncio import AsyncioHttpTransport

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    """Every test here runs on asyncio (but the one that checks trio is refused)."""
    return "asyncio"


Plan = Callable[[int, int], str]
"""(connection number, request number on it) -> what the server does with that request:

* ``answer``: answer it (keep-alive);
* ``answer_then_close`` / ``answer_then_reset``: answer, then close (or reset) the connection
  while the client has it parked;
* ``answer_then_408``: answer, then send an unsolicited 408 and close;
* ``close`` / ``reset``: read it and close (or reset) without answering;
* ``hold``: answer once :attr:`Server.release` is set."""


def always(action: str) -> Plan:
    return lambda connection, request: action


def planned(actions: dict[tuple[int, int | None], str], otherwise: str = "answer") -> Plan:
    """``actions[(connection, request)]``, else ``actions[(connection, None)]``, else
    ``otherwise``."""

    def decide(connection: int, request: int) -> str:
        return actions.get((connection, request), actions.get((connection, None), otherwise))

    return decide


def reset(stream: anyio.abc.ByteStream) -> None:
    """Make closing ``stream`` send a TCP reset instead of a FIN."""
    sock = stream.extra(SocketAttribute.raw_socket)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


@dataclass
class Server:
    """An h11 server on 127.0.0.1 following a :data:`Plan`."""

    plan: Plan
    ssl_context: ssl.SSLContext | None = None
    connections: int = 0
    requests: list[tuple[int, str, str]] = field(default_factory=list)
    """(connection number, method, target) of every request read."""
    release: anyio.Event = field(default_factory=anyio.Event)

    async def handle(self, stream: anyio.abc.ByteStream) -> None:
        number, self.connections = self.connections, self.connections + 1
        connection = h11.Connection(h11.SERVER)
        try:
            if self.ssl_context is not None:
                stream = await TLSStream.wrap(
                    stream, server_side=True, ssl_context=self.ssl_context
                )
            for index in range(100):
                if not await self.exchange(stream, connection, number, index):
                    return
                connection.start_next_cycle()
        except (anyio.EndOfStream, anyio.BrokenResourceError, h11.ProtocolError, ssl.SSLError):
            pass
        finally:
            await anyio.aclose_forcefully(stream)

    async def exchange(
        self, stream: anyio.abc.ByteStream, connection: h11.Connection, number: int, index: int
    ) -> bool:
        """One request: read, act per the plan; whether the connection stays open."""
        request, _ = await read_request(stream, connection)
        self.requests.append((number, request.method.decode(), request.target.decode()))
        action = self.plan(number, index)
        if action in ("close", "reset"):
            if action == "reset":
                reset(stream)
            return False
        if action == "hold":
            await self.release.wait()
        body = b"%d" % number
        response = h11.Response(status_code=200, headers=[("Content-Length", str(len(body)))])
        for event in (response, h11.Data(data=body), h11.EndOfMessage()):
            await stream.send(connection.send(event) or b"")
        if action == "answer_then_reset":
            reset(stream)
        elif action == "answer_then_408":
            await stream.send(b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n")
        return action in ("answer", "hold")


@asynccontextmanager
async def serve(
    plan: Plan, ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[tuple[Server, str]]:
    """A :class:`Server` and its URL (``https://`` with ``ssl_context``)."""
    server = Server(plan, ssl_context)
    async with (
        await anyio.create_tcp_listener(local_host="127.0.0.1") as listener,
        anyio.create_task_group() as group,
    ):
        group.start_soon(listener.serve, server.handle)
        scheme = "http" if ssl_context is None else "https"
        yield server, f"{scheme}://127.0.0.1:{listener.extra(SocketAttribute.local_port)}"
        group.cancel_scope.cancel()


async def until(condition: Callable[[], bool]) -> None:
    """Let the loop run until ``condition()`` holds (bounded)."""
    with anyio.fail_after(5):
        while not condition():
            await anyio.sleep(0.001)


def pool_of(transport: AsyncioHttpTransport) -> Any:
    assert transport.pool is not None
    return transport.pool


def assert_settled(transport: AsyncioHttpTransport) -> None:
    """The pool's books balance once no request is in flight: a slot per open connection,
    the idle count is what is parked, nobody waits."""
    pool = pool_of(transport)
    parked = [connection for stack in pool._idle.values() for connection in stack]
    assert all(pool._idle.values())
    assert pool.idle == len(parked) <= len(pool)
    assert pool._slots == len(pool)
    assert not pool._waiters


# -- keep-alive ----------------------------------------------------------------------------


@pytest.mark.parametrize("secure", [False, True])
async def test_sequential_requests_share_one_connection(tls: Any, secure: bool) -> None:
    server_context, client_context = (tls.server, tls.client) if secure else (None, True)
    async with (
        serve(always("answer"), server_context) as (server, url),
        AsyncioHttpTransport(verify=client_context) as transport,
    ):
        for path in ("/a", "/b", "/c"):
            response = await transport.send(HttpRequest("GET", url + path))
            assert response.body == b"0"
        assert (len(pool_of(transport)), pool_of(transport).idle) == (1, 1)
        assert_settled(transport)
    assert server.connections == 1
    assert [target for _, _, target in server.requests] == ["/a", "/b", "/c"]


@pytest.mark.parametrize("secure", [False, True])
@pytest.mark.parametrize("action", ["answer_then_close", "answer_then_reset", "answer_then_408"])
async def test_an_idle_connection_the_server_ends_leaves_the_pool_at_once(
    tls: Any, action: str, secure: bool
) -> None:
    plan = planned({(0, None): action})
    server_context, client_context = (tls.server, tls.client) if secure else (None, True)
    async with (
        serve(plan, server_context) as (server, url),
        AsyncioHttpTransport(verify=client_context) as transport,
    ):
        await transport.send(HttpRequest("GET", url + "/first"))
        await until(lambda: len(pool_of(transport)) == 0)
        assert pool_of(transport).idle == 0
        response = await transport.send(HttpRequest("POST", url + "/second", body=b"{}"))
        assert_settled(transport)
    assert response.status == 200
    assert server.connections == 2


async def test_an_expired_idle_connection_is_closed_by_the_timer_or_never_handed_out() -> None:
    async with serve(always("answer")) as (server, url), AsyncioHttpTransport() as transport:
        await transport.send(HttpRequest("GET", url + "/a"))
        pool = pool_of(transport)
        (stack,) = pool._idle.values()
        stack[0].idle_since -= 60  # as if parked a minute ago: skipped at checkout
        await transport.send(HttpRequest("GET", url + "/b"))
        assert server.connections == 2
        (stack,) = pool._idle.values()
        stack[0].idle_since -= 60
        pool._close_expired()  # what the pool's timer runs
        assert (len(pool), pool.idle) == (0, 0)
        assert_settled(transport)


async def test_an_expired_connection_is_closed_by_the_pools_timer() -> None:
    transport = AsyncioHttpTransport(keepalive_expiry=0.05)
    async with serve(always("answer")) as (_, url), transport:
        await transport.send(HttpRequest("GET", url + "/a"))
        await until(lambda: len(pool_of(transport)) == 0)
        assert pool_of(transport)._sweep is None  # nothing idle: the timer is not re-armed


async def test_idle_connections_beyond_the_idle_cap_are_closed() -> None:
    transport = AsyncioHttpTransport(max_idle_connections=1)
    async with serve(always("answer")) as (server, url), transport:
        async with anyio.create_task_group() as group:
            for path in ("/a", "/b", "/c"):
                group.start_soon(transport.send, HttpRequest("GET", url + path))
        assert server.connections == 3
        assert (len(pool_of(transport)), pool_of(transport).idle) == (1, 1)
        assert_settled(transport)


# -- the one retry -------------------------------------------------------------------------


@pytest.mark.parametrize("secure", [False, True])
@pytest.mark.parametrize("how", ["close", "reset"])
@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT", "DELETE", "OPTIONS"])
async def test_an_idempotent_request_is_retried_once_when_a_reused_connection_ends(
    tls: Any, how: str, method: str, secure: bool
) -> None:
    plan = planned({(0, 1): how})
    server_context, client_context = (tls.server, tls.client) if secure else (None, True)
    async with (
        serve(plan, server_context) as (server, url),
        AsyncioHttpTransport(verify=client_context) as transport,
    ):
        await transport.send(HttpRequest("GET", url + "/first"))
        response = await transport.send(HttpRequest(method, url + "/again"))
        assert_settled(transport)
    assert response.status == 200
    assert server.requests == [(0, "GET", "/first"), (0, method, "/again"), (1, method, "/again")]


@pytest.mark.parametrize("how", ["close", "reset"])
@pytest.mark.parametrize("method", ["POST", "PATCH"])
async def test_a_post_is_never_retried(how: str, method: str) -> None:
    plan = planned({(0, 1): how})
    async with serve(plan) as (server, url), AsyncioHttpTransport() as transport:
        await transport.send(HttpRequest("GET", url + "/first"))
        with pytest.raises(TransportError) as caught:
            await transport.send(HttpRequest(method, url + "/devices", body=b'{"a": 1}'))
        assert_settled(transport)
    assert type(caught.value) is TransportError
    assert f"{method} {url}/devices: the server closed the connection without answering" in str(
        caught.value
    )
    assert server.requests == [(0, "GET", "/first"), (0, method, "/devices")]
    assert server.connections == 1


async def test_a_new_connection_that_ends_unanswered_is_not_retried() -> None:
    async with serve(always("close")) as (server, url), AsyncioHttpTransport() as transport:
        with pytest.raises(TransportError, match="without answering"):
            await transport.send(HttpRequest("GET", url + "/x"))
    assert server.connections == 1


async def test_the_retry_happens_once() -> None:
    plan = planned({(0, 0): "answer"}, otherwise="close")
    async with serve(plan) as (server, url), AsyncioHttpTransport() as transport:
        await transport.send(HttpRequest("GET", url + "/first"))
        with pytest.raises(TransportError, match="without answering"):
            await transport.send(HttpRequest("GET", url + "/again"))
        assert_settled(transport)
    assert server.connections == 2


# -- the cap, the queue, cancellation -----------------------------------------------------


async def test_a_request_beyond_the_cap_waits_for_a_connection_given_back() -> None:
    transport = AsyncioHttpTransport(max_connections=2)
    plan = planned({(0, 0): "hold", (1, 0): "hold"})
    responses: list[HttpResponse] = []

    async def send(path: str) -> None:
        responses.append(await transport.send(HttpRequest("GET", url + path, timeout=10)))

    async with serve(plan) as (server, url), transport:
        async with anyio.create_task_group() as group:
            for path in ("/a", "/b", "/c"):
                group.start_soon(send, path)
            await until(lambda: len(server.requests) == 2)
            assert server.connections == 2
            assert len(pool_of(transport)._waiters) == 1
            server.release.set()
        assert_settled(transport)
    assert len(responses) == 3
    assert server.connections == 2
    assert sorted(target for _, _, target in server.requests) == ["/a", "/b", "/c"]


async def test_a_request_waiting_for_a_connection_times_out() -> None:
    transport = AsyncioHttpTransport(max_connections=1)
    async with serve(always("hold")) as (server, url), transport:
        async with anyio.create_task_group() as group:
            group.start_soon(transport.send, HttpRequest("GET", url + "/held", timeout=10))
            await until(lambda: len(server.requests) == 1)
            with pytest.raises(TimeoutError, match="waiting for a free connection"):
                await transport.send(HttpRequest("GET", url + "/late", timeout=0.1))
            assert not pool_of(transport)._waiters
            server.release.set()
        assert_settled(transport)
    assert server.connections == 1


async def test_a_cancelled_request_drops_its_connection() -> None:
    plan = planned({(0, None): "hold"})
    async with serve(plan) as (server, url), AsyncioHttpTransport() as transport:
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as group:
                group.start_soon(transport.send, HttpRequest("GET", url + "/held"))
                await until(lambda: len(server.requests) == 1)
                scope.cancel()
        assert (len(pool_of(transport)), pool_of(transport).idle) == (0, 0)
        response = await transport.send(HttpRequest("GET", url + "/next"))
        assert_settled(transport)
    assert response.body == b"1"
    assert server.connections == 2


async def test_a_cancelled_waiter_gives_its_turn_to_the_next() -> None:
    transport = AsyncioHttpTransport(max_connections=1)
    async with serve(always("hold")) as (server, url), transport:
        async with anyio.create_task_group() as group:
            group.start_soon(transport.send, HttpRequest("GET", url + "/held"))
            await until(lambda: len(server.requests) == 1)
            async with anyio.create_task_group() as doomed:
                doomed.start_soon(transport.send, HttpRequest("GET", url + "/cancelled"))
                await until(lambda: len(pool_of(transport)._waiters) == 1)
                doomed.cancel_scope.cancel()
            assert not pool_of(transport)._waiters
            group.start_soon(transport.send, HttpRequest("GET", url + "/next"))
            await until(lambda: len(pool_of(transport)._waiters) == 1)
            server.release.set()
        assert_settled(transport)
    assert [target for _, _, target in server.requests] == ["/held", "/next"]
    assert server.connections == 1


async def test_aclose_closes_every_connection_and_fails_what_is_in_flight() -> None:
    transport = AsyncioHttpTransport()
    async with serve(always("hold")) as (server, url):
        async with anyio.create_task_group() as group:

            async def held() -> None:
                with pytest.raises(TransportError):
                    await transport.send(HttpRequest("GET", url + "/held"))

            group.start_soon(held)
            await until(lambda: len(server.requests) == 1)
            await transport.aclose()
            await transport.aclose()
        assert len(pool_of(transport)) == 0
        with pytest.raises(TransportError, match="closed"):
            await transport.send(HttpRequest("GET", url + "/after"))


# -- connecting ---------------------------------------------------------------------------


async def test_the_connect_timeout_bounds_the_tls_handshake() -> None:
    async def mute(stream: anyio.abc.ByteStream) -> None:
        async with stream:
            await anyio.sleep_forever()

    async with (
        await anyio.create_tcp_listener(local_host="127.0.0.1") as listener,
        anyio.create_task_group() as group,
    ):
        group.start_soon(listener.serve, mute)
        port = listener.extra(SocketAttribute.local_port)
        async with AsyncioHttpTransport(connect_timeout=0.1) as transport:
            with pytest.raises(TimeoutError, match="timed out connecting"):
                await transport.send(HttpRequest("GET", f"https://127.0.0.1:{port}/", timeout=10))
            assert len(pool_of(transport)) == 0
        group.cancel_scope.cancel()


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("ftp://127.0.0.1/x", "unsupported URL scheme"),
        ("http:///x", "invalid URL"),
        ("http://127.0.0.1:99999/x", "invalid URL"),
    ],
)
async def test_a_bad_url_is_a_transport_error(url: str, words: str) -> None:
    async with AsyncioHttpTransport() as transport:
        with pytest.raises(TransportError, match=words):
            await transport.send(HttpRequest("GET", url))


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_it_refuses_to_run_under_trio() -> None:
    async with AsyncioHttpTransport() as transport:
        with pytest.raises(ConfigurationError, match="asyncio"):
            await transport.send(HttpRequest("GET", "http://127.0.0.1:9/"))


def test_it_refuses_another_event_loop() -> None:
    transport = AsyncioHttpTransport()

    async def refused() -> None:
        with pytest.raises(ConfigurationError, match="another event loop"):
            await transport.send(HttpRequest("GET", "http://127.0.0.1:9/"))

    async def first() -> None:
        with pytest.raises(TransportError):
            await transport.send(HttpRequest("GET", "http://127.0.0.1:9/", timeout=2))

    asyncio.run(first())
    asyncio.run(refused())
    asyncio.run(transport.aclose())


# -- h11 parsing, split anywhere ------------------------------------------------------------


class RecordingTransport(asyncio.Transport):
    """Just enough of an asyncio transport to drive an :class:`HttpConnection` by hand."""

    def __init__(self) -> None:
        super().__init__()
        self.written = b""
        self.closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += bytes(data)

    def is_closing(self) -> bool:
        return self.closing

    def abort(self) -> None:
        self.closing = True

    close = abort


def _token(draw: st.DrawFn) -> str:
    return draw(st.text("abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=12)).strip("-") or "x"


@st.composite
def answers(draw: st.DrawFn) -> tuple[bytes, HttpResponse, bool]:
    """A response on the wire, what it must parse to, and whether it ends with the
    connection (close-delimited)."""
    status = draw(st.integers(200, 599))
    headers = [
        (f"X-{_token(draw)}", draw(st.text("abc XYZ0123=;,", max_size=20)).strip())
        for _ in range(draw(st.integers(0, 4)))
    ]
    body = draw(st.binary(max_size=300))
    framing = draw(st.sampled_from(["length", "chunked", "close"]))
    if framing == "length":
        headers.append(("Content-Length", str(len(body))))
        payload = body
    elif framing == "chunked":
        headers.append(("Transfer-Encoding", "chunked"))
        cuts = sorted(draw(st.lists(st.integers(0, len(body)), max_size=4)))
        pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True) if b > a]
        payload = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
    else:
        payload = body
    head = f"HTTP/1.1 {status} Whatever\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
    expected = HttpResponse(status, tuple(headers), body if status not in (204, 304) else b"")
    return head.encode() + b"\r\n" + payload, expected, framing == "close"


def parse_in_pieces(wire: bytes, cuts: list[int], ends_with_eof: bool) -> HttpResponse:
    loop = asyncio.new_event_loop()
    try:
        connection = HttpConnection(loop, Origin("http", "127.0.0.1", 80))
        connection.connection_made(RecordingTransport())
        origin_and_head = http_asyncio._prepare(HttpRequest("GET", "http://127.0.0.1/"))
        future = connection.start(origin_and_head[1], None, 10_000)
        for start, end in zip([0, *cuts], [*cuts, len(wire)], strict=True):
            connection.data_received(wire[start:end])
        if ends_with_eof:
            connection.connection_lost(None)
        answer = future.result()
        assert connection.reusable is not ends_with_eof
        return http_asyncio._response(answer, HttpRequest("GET", "http://127.0.0.1/"), 10_000)
    finally:
        loop.close()


@settings(deadline=None)
@given(answers(), st.data())
def test_an_answer_split_anywhere_parses_the_same(
    answer: tuple[bytes, HttpResponse, bool], data: st.DataObject
) -> None:
    wire, expected, ends_with_eof = answer
    cuts = sorted(set(data.draw(st.lists(st.integers(1, max(1, len(wire) - 1)), max_size=8))))
    whole = parse_in_pieces(wire, [], ends_with_eof)
    assert whole == expected
    assert parse_in_pieces(wire, [c for c in cuts if c < len(wire)], ends_with_eof) == whole


async def test_a_request_h11_refuses_on_a_reused_connection_does_not_spoil_it_for_the_next() -> (
    None
):
    async with serve(always("answer")) as (server, url), AsyncioHttpTransport() as transport:
        await transport.send(HttpRequest("GET", url + "/first"))
        wrong_length = HttpRequest(
            "POST", url + "/p", headers=(("Content-Length", "99"),), body=b"{}"
        )
        with pytest.raises(TransportError, match="could not be encoded"):
            await transport.send(wrong_length)
        response = await transport.send(HttpRequest("GET", url + "/next"))
    assert response.status == 200
    assert [target for _, _, target in server.requests] == ["/first", "/next"]
