"""No secret reaches a host outside the allow-list, by any channel (issue 8 §1's proof).

A hostile cloud on 127.0.0.1 (the host the client was told to trust) fronts the emulator and
poisons its answers; a foreign host on 127.0.0.2 (never named to the client) records every byte
it receives, websocket frames unmasked. Each test asserts the client's token never arrives
there. The client's token is its own (issued by the emulator for this test); the hostile hosts
use the emulator's default token upstream, so they can answer requests that reach them without
one. The core's rule (a token goes only to https/wss URLs of allowed domains or explicitly named
hosts, checked before any byte is sent) means a poisoned link is not merely sent no token: it
is never contacted, and register() fails with ``TokenWithheldError`` naming it.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import replace

import anyio
import pytest
from hostile_cloud import HostileCloud, hostile_cloud

from webex_meetings.core.config import BackoffConfig, DiscoveryConfig, MercuryConfig, SessionConfig
from webex_meetings.core.errors import TokenWithheldError, WebexError
from webex_meetings.emulator import Emulator
from webex_meetings.transports.websocket_anyio import AnyioWebSocketConnector
from webex_meetings.webex import Webex

pytestmark = pytest.mark.anyio

FOREIGN = "127.0.0.2"
DEADLINE = 15.0


@pytest.fixture
async def foreign(emulator: Emulator) -> AsyncIterator[HostileCloud]:
    async with hostile_cloud(
        FOREIGN, emulator.base_url, upstream_token=emulator.default_token
    ) as cloud:
        yield cloud


@pytest.fixture
async def trusted(emulator: Emulator) -> AsyncIterator[HostileCloud]:
    async with hostile_cloud("127.0.0.1", emulator.base_url) as cloud:
        yield cloud


def client_token(emulator: Emulator) -> str:
    return emulator.issue_token(emulator.default_user.id)


def short(config: SessionConfig) -> SessionConfig:
    backoff = BackoffConfig(initial=0.05, maximum=0.1, max_attempts=2)
    mercury = MercuryConfig(authorization_timeout=0.5, initial_backoff=backoff)
    return replace(config, mercury=mercury, http_timeout=2.0)


async def run(config: SessionConfig, token: str) -> WebexError | None:
    """Register and leave; the error register() failed with, if any."""
    webex = Webex(
        access_token=token,
        config=short(config),
        websockets=AnyioWebSocketConnector(connect_timeout=1.0),
        unregister_timeout=2.0,
    )
    with anyio.fail_after(DEADLINE):
        async with webex:
            try:
                await webex.meetings.register()
            except WebexError as error:
                return error
    return None


def assert_withheld_from(error: WebexError | None, cloud: HostileCloud) -> None:
    assert isinstance(error, TokenWithheldError), error
    assert error.host == cloud.host


def to_host(text: str, emulator: Emulator, cloud: HostileCloud, *, scheme: str = "") -> str:
    """Every emulator URL in ``text`` pointed at ``cloud`` (optionally only one scheme)."""
    pattern = rf"({scheme or 'https?|wss?'})://127\.0\.0\.1:{emulator.port}"
    return re.sub(pattern, lambda m: f"{m.group(1)}://{cloud.host}:{cloud.port}", text)


def assert_never_received(cloud: HostileCloud, token: str) -> None:
    assert token not in cloud.received_text, "the token reached the foreign host"


async def test_a_poisoned_websocket_url_gets_no_token(
    emulator: Emulator, trusted: HostileCloud, foreign: HostileCloud
) -> None:
    def poison(path: str, body: str) -> str:
        body = to_host(body, emulator, trusted, scheme="https?")
        return to_host(body, emulator, foreign, scheme="wss?")

    trusted.rewrite = poison
    token = client_token(emulator)
    error = await run(SessionConfig.for_cloud(trusted.base), token)
    assert_withheld_from(error, foreign)
    assert foreign.frames == foreign.requests == [], "the poisoned link was contacted"
    assert_never_received(foreign, token)


async def test_a_poisoned_catalog_link_is_never_called(
    emulator: Emulator, trusted: HostileCloud, foreign: HostileCloud
) -> None:
    def poison_catalog(path: str, body: str) -> str:
        body = to_host(body, emulator, trusted)
        if "/catalog" in path:
            body = re.sub(rf"http://{trusted.host}:{trusted.port}/wdm", f"{foreign.base}/wdm", body)
        return body

    trusted.rewrite = poison_catalog
    foreign.rewrite = lambda path, body: to_host(body, emulator, foreign)
    token = client_token(emulator)
    error = await run(SessionConfig.for_cloud(trusted.base), token)
    assert_withheld_from(error, foreign)
    assert_never_received(foreign, token)
    assert foreign.requests == [], "a service link outside the allow-list was called"


async def test_an_unnamed_plain_http_cloud_gets_no_token_by_any_channel(
    emulator: Emulator, foreign: HostileCloud
) -> None:
    foreign.rewrite = lambda path, body: to_host(body, emulator, foreign)
    discovery = DiscoveryConfig(
        u2c=f"{foreign.base}/u2c/api/v1",
        hydra=f"{foreign.base}/hydra/v1",
        token_url=f"{foreign.base}/idbroker/idb/oauth2/v1/access_token",
    )
    token = client_token(emulator)
    error = await run(SessionConfig(discovery=discovery), token)
    assert_withheld_from(error, foreign)
    assert foreign.requests == [], "nothing carrying the token may be sent there at all"
    assert_never_received(foreign, token)


async def test_a_redirect_to_a_foreign_host_is_not_followed(
    emulator: Emulator, trusted: HostileCloud, foreign: HostileCloud
) -> None:
    trusted.rewrite = lambda path, body: to_host(body, emulator, trusted, scheme="https?")
    trusted.redirect = lambda path: f"{foreign.base}{path}" if "/people/me" in path else None
    token = client_token(emulator)
    await run(SessionConfig.for_cloud(trusted.base), token)
    assert any("/people/me" in line for line in trusted.requests)
    assert foreign.requests == []
    assert_never_received(foreign, token)
    assert token in trusted.received_text  # the named host did get it: the probe works


async def test_a_downgraded_service_link_to_an_unnamed_host_gets_no_token_header(
    emulator: Emulator, trusted: HostileCloud, foreign: HostileCloud
) -> None:
    """The catalog moves hydra to the foreign host over plain http: nothing goes there."""

    def poison(path: str, body: str) -> str:
        body = to_host(body, emulator, trusted, scheme="https?")
        return body.replace(f"{trusted.base}/hydra", f"{foreign.base}/hydra")

    trusted.rewrite = poison
    foreign.rewrite = lambda path, body: to_host(body, emulator, trusted)
    token = client_token(emulator)
    await run(SessionConfig.for_cloud(trusted.base), token)
    assert foreign.requests == []
    assert_never_received(foreign, token)
