"""Both HTTP transports (httpx's pool, and h11 on asyncio's transports, on asyncio) against
servers on 127.0.0.1: the exact request on the wire, the response as received, keep-alive,
timeouts, failures, TLS, the size caps, and no secret in errors. The proxy and environment
cases are the httpx transport's alone (the asyncio one is never used with a proxy)."""

from __future__ import annotations

import gzip
import sys
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.abc
import pytest
from http_servers import Reply, Seen, http_server, raw_server, refused_port

from webex_meetings.core.errors import (
    CertificateError,
    ResponseTooLargeError,
    TimeoutError,
    TransportError,
)
from webex_meetings.core.http import HttpRequest, HttpResponse
from webex_meetings.transports import HttpTransport, HttpxTransport
from webex_meetings.transports.http_asyncio import AsyncioHttpTransport

pytestmark = pytest.mark.anyio

SECRET = "SECRETTOKEN0123456789"

TRANSPORTS: dict[str, Callable[..., Any]] = {
    "httpx": HttpxTransport,
    "asyncio": AsyncioHttpTransport,
}


@pytest.fixture(params=sorted(TRANSPORTS))
def new_transport(request: pytest.FixtureRequest, anyio_backend: str) -> Callable[..., Any]:
    """Each HTTP transport class (the asyncio one on asyncio only); called with the
    options both take (``timeout``, ``verify``, ``max_response_size``)."""
    if request.param == "asyncio" and anyio_backend != "asyncio":
        pytest.skip("the asyncio HTTP transport runs on asyncio only")
    return TRANSPORTS[request.param]


async def test_is_an_http_transport(new_transport: Callable[..., Any]) -> None:
    async with new_transport() as transport:
        assert isinstance(transport, HttpTransport)


async def test_sends_exactly_the_request_and_nothing_more(
    new_transport: Callable[..., Any],
) -> None:
    headers = (
        ("authorization", f"Bearer {SECRET}"),
        ("content-type", "application/json"),
        ("trackingid", "webex-py_1"),
    )
    async with http_server() as (server, port), new_transport() as transport:
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


async def test_user_agent_only_when_the_request_has_one(new_transport: Callable[..., Any]) -> None:
    async with http_server() as (server, port), new_transport() as transport:
        url = f"http://127.0.0.1:{port}/a"
        await transport.send(HttpRequest("GET", url))
        await transport.send(HttpRequest("GET", url, headers=(("User-Agent", "webex-py/1"),)))
    without, with_agent = ([name.lower() for name, _ in s.headers] for s in server.seen)
    assert without == ["host"]
    assert with_agent == ["host", "user-agent"]
    assert server.seen[1].headers[1] == ("User-Agent", "webex-py/1")


async def test_response_is_returned_as_received_whatever_the_status(
    new_transport: Callable[..., Any],
) -> None:
    def reply(seen: Seen) -> Reply:
        headers = [("Retry-After", "7"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")]
        return 503, headers, b"\x00busy"

    async with http_server(reply=reply) as (_, port), new_transport() as transport:
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


async def test_redirects_are_not_followed_and_cookies_not_sent(
    new_transport: Callable[..., Any],
) -> None:
    def reply(seen: Seen) -> Reply:
        return 302, [("Location", "/elsewhere"), ("Set-Cookie", "session=1; Path=/")], b""

    async with http_server(reply=reply) as (server, port), new_transport() as transport:
        first = await transport.send(HttpRequest("GET", f"http://127.0.0.1:{port}/a"))
        await transport.send(HttpRequest("GET", f"http://127.0.0.1:{port}/b"))
    assert first.status == 302
    assert [s.target for s in server.seen] == ["/a", "/b"]
    assert all(name.lower() != "cookie" for name, _ in server.seen[1].headers)


async def test_connections_are_kept_alive(new_transport: Callable[..., Any]) -> None:
    async with http_server() as (server, port), new_transport() as transport:
        for path in ("/one", "/two", "/three"):
            await transport.send(HttpRequest("GET", f"http://127.0.0.1:{port}{path}"))
    assert server.connections == 1
    assert len(server.seen) == 3


async def test_silent_server_times_out_without_leaking_the_token(
    new_transport: Callable[..., Any],
) -> None:
    request_headers = (("authorization", f"Bearer {SECRET}"),)
    async with http_server(silent=True) as (_, port), new_transport() as transport:
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


async def test_default_timeout_applies(new_transport: Callable[..., Any]) -> None:
    async with http_server(silent=True) as (_, port), new_transport(timeout=0.2) as transport:
        with pytest.raises(TimeoutError):
            await transport.send(HttpRequest("GET", f"http://127.0.0.1:{port}/"))


async def test_refused_is_a_transport_error_without_the_token(
    new_transport: Callable[..., Any],
) -> None:
    port = await refused_port()
    request = HttpRequest(
        "POST",
        f"http://127.0.0.1:{port}/x",
        headers=(("authorization", f"Bearer {SECRET}"),),
        body=SECRET.encode(),
    )
    async with new_transport() as transport:
        with pytest.raises(TransportError) as caught:
            await transport.send(request)
    assert type(caught.value) is TransportError
    assert "could not connect" in str(caught.value)
    assert SECRET not in str(caught.value) + repr(caught.value)


async def test_invalid_header_value_is_reported_without_quoting_it(
    new_transport: Callable[..., Any],
) -> None:
    async with http_server() as (_, port), new_transport() as transport:
        bad = HttpRequest(
            "GET", f"http://127.0.0.1:{port}/", headers=(("authorization", f"{SECRET}\r\nx: y"),)
        )
        with pytest.raises(TransportError) as caught:
            await transport.send(bad)
    assert SECRET not in str(caught.value) + repr(caught.value)


async def test_closed_transport_refuses(new_transport: Callable[..., Any]) -> None:
    transport = new_transport()
    await transport.aclose()
    await transport.aclose()
    with pytest.raises(TransportError, match="closed"):
        await transport.send(HttpRequest("GET", "http://127.0.0.1:9/"))


async def test_https_with_a_custom_ssl_context(new_transport: Callable[..., Any], tls: Any) -> None:
    async with (
        http_server(ssl_context=tls.server) as (server, port),
        new_transport(verify=tls.client) as transport,
    ):
        response = await transport.send(HttpRequest("GET", f"https://127.0.0.1:{port}/tls"))
    assert response.status == 201
    assert server.seen[0].target == "/tls"


async def test_https_with_an_untrusted_certificate_fails(
    new_transport: Callable[..., Any], tls: Any
) -> None:
    async with http_server(ssl_context=tls.server) as (_, port), new_transport() as transport:
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
    new_transport: Callable[..., Any], answer: Callable[[anyio.abc.ByteStream], Awaitable[None]]
) -> None:
    async with raw_server(answer) as port, new_transport(max_response_size=CAP) as transport:
        with pytest.raises(ResponseTooLargeError) as caught:
            await transport.send(HttpRequest("GET", f"http://127.0.0.1:{port}/big", timeout=10))
    assert f"GET http://127.0.0.1:{port}/big" in str(caught.value)
    assert str(CAP) in str(caught.value)


async def test_an_answer_at_the_cap_passes_and_gzip_is_inflated(
    new_transport: Callable[..., Any],
) -> None:
    async with raw_server(gzip_answer(CAP)) as port, new_transport(max_response_size=CAP) as t:
        response = await t.send(HttpRequest("GET", f"http://127.0.0.1:{port}/", timeout=10))
    assert len(response.body) == CAP
    assert response.json() == {}


async def test_a_trickled_answer_ends_at_the_request_deadline(
    new_transport: Callable[..., Any],
) -> None:
    async def trickle(stream: anyio.abc.ByteStream) -> None:
        await stream.send(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
        for _ in range(1000):
            await stream.send(b"x")
            await anyio.sleep(0.05)

    async with raw_server(trickle) as port, new_transport() as transport:
        with pytest.raises(TimeoutError):
            await transport.send(HttpRequest("GET", f"http://127.0.0.1:{port}/", timeout=0.3))


async def test_corrupt_gzip_is_a_transport_error(new_transport: Callable[..., Any]) -> None:
    async def corrupt(stream: anyio.abc.ByteStream) -> None:
        await stream.send(
            b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 4\r\n\r\nnope"
        )

    async with raw_server(corrupt) as port, new_transport() as transport:
        with pytest.raises(TransportError, match="corrupt"):
            await transport.send(HttpRequest("GET", f"http://127.0.0.1:{port}/", timeout=10))


async def test_the_error_message_is_built_only_on_failure(
    new_transport: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    module = sys.modules[new_transport.__module__]
    built: list[str] = []
    original = module.where
    monkeypatch.setattr(module, "where", lambda request: built.append("x") or original(request))
    async with http_server() as (_, port), new_transport() as transport:
        await transport.send(HttpRequest("GET", f"http://127.0.0.1:{port}/fine"))
        assert built == []
        port_gone = await refused_port()
        with pytest.raises(TransportError):
            await transport.send(HttpRequest("GET", f"http://127.0.0.1:{port_gone}/"))
    assert built == ["x"]


async def test_a_port_out_of_range_is_a_transport_error_not_an_exception_group(
    new_transport: Callable[..., Any],
) -> None:
    # httpcore connects inside an anyio task group, which wraps the OverflowError.
    async with new_transport() as transport:
        with pytest.raises(TransportError) as caught:
            await transport.send(HttpRequest("GET", "http://127.0.0.1:99999/x", timeout=2.0))
    assert type(caught.value) is TransportError
    assert str(caught.value).startswith("GET http://127.0.0.1:99999/x: ")


async def test_a_declared_length_over_the_cap_is_refused_before_the_body(
    new_transport: Callable[..., Any],
) -> None:
    async def head_only(stream: anyio.abc.ByteStream) -> None:
        await stream.send(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (CAP + 1))
        await anyio.sleep_forever()

    async with raw_server(head_only) as port, new_transport(max_response_size=CAP) as transport:
        with anyio.fail_after(5), pytest.raises(ResponseTooLargeError):
            await transport.send(HttpRequest("GET", f"http://127.0.0.1:{port}/", timeout=30))


def wire_answer(data: bytes) -> Callable[[anyio.abc.ByteStream], Awaitable[None]]:
    """Send ``data`` as it is, then close the connection."""

    async def answer(stream: anyio.abc.ByteStream) -> None:
        await stream.send(data)

    return answer


@pytest.mark.parametrize(
    "wire",
    [
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhello",
        b"HTTP/1.0 200 OK\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\nContent-Length: 13\r\n\r\n"
        + zlib.compress(b"hello"),
        b"HTTP/1.1 200 OK\r\nContent-Encoding: x-gzip\r\nContent-Length: 25\r\n\r\n"
        + gzip.compress(b"hello", mtime=0),
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
    ],
    ids=["chunked", "close-delimited", "connection-close", "http-1.0", "deflate", "x-gzip", "1xx"],
)
async def test_every_framing_and_encoding_gives_the_body(
    new_transport: Callable[..., Any], wire: bytes
) -> None:
    async with raw_server(wire_answer(wire)) as port, new_transport() as transport:
        response = await transport.send(HttpRequest("GET", f"http://127.0.0.1:{port}/", timeout=10))
    assert (response.status, response.body) == (200, b"hello")


@pytest.mark.parametrize(
    "wire",
    [
        b"HTTP/1.1 abc OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 12x\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"SSH-2.0-OpenSSH\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: " + b"a" * 200_000,
    ],
    ids=["status", "header", "length", "cut-short", "chunk-size", "not-http", "endless-head"],
)
async def test_a_malformed_answer_is_a_typed_error(
    new_transport: Callable[..., Any], wire: bytes
) -> None:
    async with raw_server(wire_answer(wire)) as port, new_transport() as transport:
        with pytest.raises(TransportError) as caught:
            await transport.send(HttpRequest("GET", f"http://127.0.0.1:{port}/x", timeout=10))
    assert type(caught.value) is TransportError
    assert str(caught.value).startswith(f"GET http://127.0.0.1:{port}/x: the server broke")


async def test_a_bodyless_post_says_its_length_is_zero_right_after_host(
    new_transport: Callable[..., Any],
) -> None:
    async with http_server() as (server, port), new_transport() as transport:
        url = f"http://127.0.0.1:{port}/p"
        await transport.send(HttpRequest("POST", url, headers=(("Trackingid", "t"),)))
        await transport.send(HttpRequest("DELETE", url, headers=(("Trackingid", "t"),)))
    post, delete = (seen.headers for seen in server.seen)
    assert post == [("Host", f"127.0.0.1:{port}"), ("Content-Length", "0"), ("Trackingid", "t")]
    assert delete == [("Host", f"127.0.0.1:{port}"), ("Trackingid", "t")]
