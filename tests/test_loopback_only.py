"""The guard that keeps tests on loopback does refuse everything else."""

from __future__ import annotations

import socket

import httpx
import pytest
from loopback_only import NotLoopbackError, is_loopback

from webex_meetings.core.errors import TransportError
from webex_meetings.core.http import HttpRequest
from webex_meetings.transports.http_asyncio import AsyncioHttpTransport
from webex_meetings.transports.httpx_transport import HttpxTransport


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", True),
        ("127.5.6.7", True),
        ("::1", True),
        ("localhost", True),
        (b"127.0.0.1", True),
        (None, True),
        ("u2c.wbx2.com", False),
        ("webexapis.com", False),
        ("10.0.0.1", False),
        ("192.168.1.1", False),
        ("8.8.8.8", False),
        ("::ffff:8.8.8.8", False),
    ],
)
def test_what_counts_as_loopback(host: object, expected: bool) -> None:
    assert is_loopback(host) is expected


def test_resolving_a_webex_host_is_refused() -> None:
    with pytest.raises(NotLoopbackError, match=r"u2c\.wbx2\.com"):
        socket.getaddrinfo("u2c.wbx2.com", 443)


def test_a_client_with_the_real_defaults_cannot_leave_the_machine() -> None:
    with pytest.raises(httpx.ConnectError):
        httpx.get("https://u2c.wbx2.com/u2c/api/v1/catalog", timeout=1)


@pytest.mark.anyio
async def test_our_transport_maps_the_refusal_to_a_transport_error() -> None:
    async with HttpxTransport(timeout=1) as http:
        with pytest.raises(TransportError):
            await http.send(HttpRequest("GET", "https://webexapis.com/v1/people/me"))


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_the_asyncio_transport_cannot_leave_the_machine_either() -> None:
    async with AsyncioHttpTransport(timeout=1) as http:
        with pytest.raises(TransportError):
            await http.send(HttpRequest("GET", "https://webexapis.com/v1/people/me"))
