"""One HTTP transport per event loop and options, shared by every Webex instance there,
reference-counted and closed with its last user."""

from __future__ import annotations

import anyio
import pytest

from webex_meetings.adapters import runtime
from webex_meetings.adapters.runtime import TransportOptions
from webex_meetings.core.errors import TransportError
from webex_meetings.core.http import HttpRequest, HttpResponse
from webex_meetings.emulator import Emulator
from webex_meetings.transports.http_asyncio import AsyncioHttpTransport
from webex_meetings.transports.httpx_transport import HttpxTransport
from webex_meetings.transports.shared import SharedHttpTransports
from webex_meetings.webex import Webex


class CountingTransport:
    def __init__(self) -> None:
        self.sent = 0
        self.closed = 0

    async def send(self, request: HttpRequest) -> HttpResponse:
        self.sent += 1
        return HttpResponse(204)

    async def aclose(self) -> None:
        self.closed += 1


@pytest.mark.anyio
async def test_leases_share_one_transport_until_the_last_is_closed() -> None:
    shared = SharedHttpTransports()
    built: list[CountingTransport] = []

    def build() -> CountingTransport:
        built.append(CountingTransport())
        return built[-1]

    first, second = shared.lease("k", build), shared.lease("k", build)
    other = shared.lease("other", build)
    assert len(built) == 2
    assert shared.users("k") == 2
    await first.send(HttpRequest("GET", "http://127.0.0.1:1/"))
    await second.send(HttpRequest("GET", "http://127.0.0.1:1/"))
    assert built[0].sent == 2
    await first.aclose()
    await first.aclose()  # idempotent: released once
    assert built[0].closed == 0
    assert shared.users("k") == 1
    with pytest.raises(TransportError, match="closed"):
        await first.send(HttpRequest("GET", "http://127.0.0.1:1/"))
    await second.aclose()
    assert built[0].closed == 1
    assert shared.users("k") == 0
    third = shared.lease("k", build)  # a fresh transport after the last one closed
    assert len(built) == 3
    await third.aclose()
    await other.aclose()
    assert len(shared) == 0


def test_each_event_loop_gets_its_own_transport() -> None:
    shared = SharedHttpTransports()
    built: list[CountingTransport] = []

    def build() -> CountingTransport:
        built.append(CountingTransport())
        return built[-1]

    async def use_once() -> None:
        lease = shared.lease("k", build)
        await lease.aclose()

    anyio.run(use_once, backend="asyncio")
    anyio.run(use_once, backend="trio")
    assert len(built) == 2
    assert all(t.closed == 1 for t in built)


def test_a_lease_needs_an_event_loop() -> None:
    with pytest.raises(TransportError, match="event loop"):
        SharedHttpTransports().lease("k", CountingTransport)


@pytest.mark.anyio
async def test_webex_instances_of_one_loop_share_the_http_pool(emulator: Emulator) -> None:
    options = TransportOptions()
    key = (
        None,
        options.ssl_context(),
        options.http_timeout,
        options.connect_timeout,
        options.max_response_size,
    )
    token = emulator.default_token
    async with Webex(access_token=token, cloud=emulator.base_url) as first:
        async with Webex(access_token=token, cloud=emulator.base_url) as second:
            assert runtime._SHARED_HTTP.users(key) == 2
            await first.meetings.register()
            await second.meetings.register()
        assert runtime._SHARED_HTTP.users(key) == 1
    assert runtime._SHARED_HTTP.users(key) == 0
    assert emulator.devices == []


@pytest.mark.anyio
@pytest.mark.parametrize("proxy", [None, "http://127.0.0.1:9"])
async def test_the_default_http_transport_is_h11_on_asyncio_without_a_proxy(
    anyio_backend: str, proxy: str | None
) -> None:
    """asyncio without a proxy: h11 on asyncio's transports; trio or a proxy: httpx."""
    options = TransportOptions(proxy=proxy)
    async with options.new_http(options.ssl_context()) as transport:
        expected = (
            AsyncioHttpTransport if anyio_backend == "asyncio" and proxy is None else HttpxTransport
        )
        assert type(transport) is expected
