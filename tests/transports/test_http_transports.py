"""HttpxTransport against an h11 server on 127.0.0.1: the exact request on the wire, the
response as received, keep-alive, timeouts, failures, TLS, proxy, and no secret in errors."""

from __future__ import annotations

import contextlib
import gzip
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.abc
import h11
import pytest
from anyio.abc import SocketAttribute
from anyio.streams.tls import TLSStream

from webex_meetings.core.errors import (
    CertificateError,
    ResponseTooLargeError,
    TimeoutError,
    TransportError,
)
from webex_meetings.core.http import HttpRequest, HttpResponse
from webex_meetings.transports import HttpTransport, HttpxTransport

pytestmark = pytest.mark.anyio

SECRET = "SECRETTOKEN0123456789"
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
                break
            else:
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


async def test_is_an_http_transport() -> None:
    async with HttpxTransport() as transport:
        assert isinstance(transport, HttpTransport)


async def test_sends_exactly_the_request_and_nothing_more() -> None:
    headers = (
        ("authorization", f"Bearer {SECRET}"),
        ("content-type", "application/json"),
        ("trackingid", "webex-py_1"),
    )
    async with http_server() as (server, port), HttpxTransport() as transport:
        url = f"http://127.0.0.1:{port}/wdm/api/v1/devices?includeUpstreamServices=all&x=%20"
        await transport.send(HttpRequest("POST", url, headers=headers, body=b'{"a": 1}'))
    (seen,) = server.seen
    assert seen.method == "POST"
    assert seen.target == "/wdm/api/v1/devices?includeUpstreamServices=all&x=%20"
    assert seen.body == b'{"a": 1}'
    assert seen.headers == [
        ("Host", f"127.0.0.1:{port}"),
        *headers,
        ("Content-Length", "8"),
    ]


@pytest.mark.parametrize("trust_env", [False, True])
async def test_sends_the_same_with_or_without_a_client_in_front(
    trust_env: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``trust_env=True`` puts an ``httpx.AsyncClient`` in front of the pool: still no header
    of its own, no redirect followed, no cookie kept."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)

    def reply(seen: Seen) -> Reply:
        return 302, [("Location", "/b"), ("Set-Cookie", "c=1")], b""

    async with (
        http_server(reply=reply) as (server, port),
        HttpxTransport(trust_env=trust_env) as transport,
    ):
        url = f"http://127.0.0.1:{port}/a"
        first = await transport.send(HttpRequest("GET", url))
        await transport.send(HttpRequest("GET", url))
    assert first.status == 302
    assert [(seen.target, seen.headers) for seen in server.seen] == [
        ("/a", [("Host", f"127.0.0.1:{port}")])
    ] * 2


async def test_user_agent_only_when_the_request_has_one() -> None:
    async with http_server() as (server, port), HttpxTransport() as transport:
        url = f"http://127.0.0.1:{port}/a"
        await transport.send(HttpRequest("GET", url))
        await transport.send(HttpRequest("GET", url, headers=(("User-Agent", "webex-py/1"),)))
    without, with_agent = ([name.lower() for name, _ in s.headers] for s in server.seen)
    assert without == ["host"]
    assert with_agent == ["host", "user-agent"]
    assert server.seen[1].headers[1] == ("User-Agent", "webex-py/1")


async def test_response_is_returned_as_received_whatever_the_status() -> None:
    def reply(seen: Seen) -> Reply:
        headers = [("Retry-After", "7"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")]
        return 503, headers, b"\x00busy"

    async with http_server(reply=reply) as (_, port), HttpxTransport() as transport:
        response = await transport.send(HttpRequest("DELETE", f"http://127.0.0.1:{port}/d"))
    assert response == HttpResponse(
        503,
        (
            ("Retry-After", "7"),
            ("Set-Cookie", "a=1"),
            ("Set-Cookie", "b=2"),
            ("Content-Length", "5"),
        ),
        b"\x00busy",
    )


async def test_redirects_are_not_followed_and_cookies_not_sent() -> None:
    def reply(seen: Seen) -> Reply:
        return 302, [("Location", "/elsewhere"), ("Set-Cookie", "session=1; Path=/")], b""

    async with http_server(reply=reply) as (server, port), HttpxTransport() as transport:
        first = await transport.send(HttpRequest("GET", f"http://127.0.0.1:{port}/a"))
        await transport.send(HttpRequest("GET", f"http://127.0.0.1:{port}/b"))
    assert first.status == 302
    assert [s.target for s in server.seen] == ["/a", "/b"]
    assert all(name.lower() != "cookie" for name, _ in server.seen[1].headers)


async def test_connections_are_kept_alive() -> None:
    async with http_server() as (server, port), HttpxTransport() as transport:
        for path in ("/one", "/two", "/three"):
            await transport.send(HttpRequest("GET", f"http://127.0.0.1:{port}{path}"))
    assert server.connections == 1
    assert len(server.seen) == 3


async def test_silent_server_times_out_without_leaking_the_token() -> None:
    request_headers = (("authorization", f"Bearer {SECRET}"),)
    async with http_server(silent=True) as (_, port), HttpxTransport() as transport:
        request = HttpRequest(
            "GET",
            f"http://127.0.0.1:{port}/slow?access_token={SECRET}",
            headers=request_headers,
            timeout=0.2,
        )
        with pytest.raises(TimeoutError) as caught:
            await transport.send(request)
    assert SECRET not in str(caught.value) + repr(caught.value)
    assert f"GET http://127.0.0.1:{port}/slow" in str(caught.value)
    assert caught.value.__cause__ is None


async def test_default_timeout_applies() -> None:
    async with http_server(silent=True) as (_, port), HttpxTransport(timeout=0.2) as transport:
        with pytest.raises(TimeoutError):
            await transport.send(HttpRequest("GET", f"http://127.0.0.1:{port}/"))


async def refused_port() -> int:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port: int = listener.extra(SocketAttribute.local_port)
    await listener.aclose()
    return port


async def test_refused_is_a_transport_error_without_the_token() -> None:
    port = await refused_port()
    request = HttpRequest(
        "POST",
        f"http://127.0.0.1:{port}/x",
        headers=(("authorization", f"Bearer {SECRET}"),),
        body=SECRET.encode(),
    )
    async with HttpxTransport() as transport:
        with pytest.raises(TransportError) as caught:
            await transport.send(request)
    assert type(caught.value) is TransportError
    assert "could not connect" in str(caught.value)
    assert SECRET not in str(caught.value) + repr(caught.value)


async def test_invalid_header_value_is_reported_without_quoting_it() -> None:
    async with http_server() as (_, port), HttpxTransport() as transport:
        bad = HttpRequest(
            "GET", f"http://127.0.0.1:{port}/", headers=(("authorization", f"{SECRET}\r\nx: y"),)
        )
        with pytest.raises(TransportError) as caught:
            await transport.send(bad)
    assert SECRET not in str(caught.value) + repr(caught.value)


async def test_closed_transport_refuses() -> None:
    transport = HttpxTransport()
    await transport.aclose()
    await transport.aclose()
    with pytest.raises(TransportError, match="closed"):
        await transport.send(HttpRequest("GET", "http://127.0.0.1:9/"))


async def test_https_with_a_custom_ssl_context(tls: Any) -> None:
    async with (
        http_server(ssl_context=tls.server) as (server, port),
        HttpxTransport(verify=tls.client) as transport,
    ):
        response = await transport.send(HttpRequest("GET", f"https://127.0.0.1:{port}/tls"))
    assert response.status == 201
    assert server.seen[0].target == "/tls"


async def test_https_with_an_untrusted_certificate_fails(tls: Any) -> None:
    async with http_server(ssl_context=tls.server) as (_, port), HttpxTransport() as transport:
        with pytest.raises(CertificateError) as caught:
            await transport.send(HttpRequest("GET", f"https://127.0.0.1:{port}/"))
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value)


async def test_proxy_receives_the_request_in_absolute_form() -> None:
    async with (
        http_server() as (proxy, port),
        HttpxTransport(proxy=f"http://127.0.0.1:{port}") as transport,
    ):
        response = await transport.send(HttpRequest("GET", "http://webex.invalid/catalog?a=1"))
    assert response.status == 201
    assert proxy.seen[0].target == "http://webex.invalid/catalog?a=1"


async def test_proxy_environment_is_ignored_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    port = await refused_port()
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("ALL_PROXY", f"http://127.0.0.1:{port}")
    async with http_server() as (server, server_port), HttpxTransport() as transport:
        await transport.send(HttpRequest("GET", f"http://127.0.0.1:{server_port}/direct"))
    assert server.seen[0].target == "/direct"


# -- bounded answers ----------------------------------------------------------------------

CAP = 64 * 1024


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

    async with (
        await anyio.create_tcp_listener(local_host="127.0.0.1") as listener,
        anyio.create_task_group() as task_group,
    ):
        task_group.start_soon(listener.serve, handle)
        yield listener.extra(SocketAttribute.local_port)
        task_group.cancel_scope.cancel()


async def endless_chunks(stream: anyio.abc.ByteStream) -> None:
    """A chunked answer that would never end; bounded here at 64 MiB, far past the cap."""
    await stream.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"%x\r\n%s\r\n" % (CAP, b"x" * CAP)
    for _ in range(1024):
        await stream.send(chunk)


async def huge_length(stream: anyio.abc.ByteStream) -> None:
    await stream.send(b"HTTP/1.1 200 OK\r\nContent-Length: 9223372036854775807\r\n\r\nxx")


def gzip_answer(size: int) -> Callable[[anyio.abc.ByteStream], Awaitable[None]]:
    body = gzip.compress(b"{" + b" " * (size - 2) + b"}")

    async def answer(stream: anyio.abc.ByteStream) -> None:
        head = f"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {len(body)}\r\n\r\n"
        await stream.send(head.encode() + body)

    return answer


@pytest.mark.parametrize("answer", [endless_chunks, huge_length, gzip_answer(CAP * 64)])
async def test_an_answer_over_the_cap_is_cut_with_a_typed_error(
    answer: Callable[[anyio.abc.ByteStream], Awaitable[None]],
) -> None:
    async with raw_server(answer) as port, HttpxTransport(max_response_size=CAP) as transport:
        with pytest.raises(ResponseTooLargeError) as caught:
            await transport.send(HttpRequest("GET", f"http://127.0.0.1:{port}/big", timeout=10))
    assert f"GET http://127.0.0.1:{port}/big" in str(caught.value)
    assert str(CAP) in str(caught.value)


async def test_an_answer_at_the_cap_passes_and_gzip_is_inflated() -> None:
    async with raw_server(gzip_answer(CAP)) as port, HttpxTransport(max_response_size=CAP) as t:
        response = await t.send(HttpRequest("GET", f"http://127.0.0.1:{port}/", timeout=10))
    assert len(response.body) == CAP
    assert response.json() == {}


async def test_a_trickled_answer_ends_at_the_request_deadline() -> None:
    async def trickle(stream: anyio.abc.ByteStream) -> None:
        await stream.send(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
        for _ in range(1000):
            await stream.send(b"x")
            await anyio.sleep(0.05)

    async with raw_server(trickle) as port, HttpxTransport() as transport:
        with pytest.raises(TimeoutError):
            await transport.send(HttpRequest("GET", f"http://127.0.0.1:{port}/", timeout=0.3))


async def test_corrupt_gzip_is_a_transport_error() -> None:
    async def corrupt(stream: anyio.abc.ByteStream) -> None:
        await stream.send(
            b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 4\r\n\r\nnope"
        )

    async with raw_server(corrupt) as port, HttpxTransport() as transport:
        with pytest.raises(TransportError, match="corrupt"):
            await transport.send(HttpRequest("GET", f"http://127.0.0.1:{port}/", timeout=10))


async def test_the_error_message_is_built_only_on_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import webex_meetings.transports.httpx_transport as module

    built: list[str] = []
    original = module._where
    monkeypatch.setattr(module, "_where", lambda request: built.append("x") or original(request))
    async with http_server() as (_, port), HttpxTransport() as transport:
        await transport.send(HttpRequest("GET", f"http://127.0.0.1:{port}/fine"))
        assert built == []
        port_gone = await refused_port()
        with pytest.raises(TransportError):
            await transport.send(HttpRequest("GET", f"http://127.0.0.1:{port_gone}/"))
    assert built == ["x"]


async def test_a_port_out_of_range_is_a_transport_error_not_an_exception_group() -> None:
    # httpcore connects inside an anyio task group, which wraps the OverflowError.
    async with HttpxTransport() as transport:
        with pytest.raises(TransportError) as caught:
            await transport.send(HttpRequest("GET", "http://127.0.0.1:99999/x", timeout=2.0))
    assert type(caught.value) is TransportError
    assert str(caught.value).startswith("GET http://127.0.0.1:99999/x: ")
