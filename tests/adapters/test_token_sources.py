"""The guest JWT login and the token provider end to end: ``Webex(jwt=...)`` and
``Webex(token_provider=...)`` against the emulator, on every runtime combination.

A recording HTTP transport sees every request as it leaves the client, so the tests check
where the JWT went (only ``POST {hydra}/jwt/login`` on the allowed host, raw, no ``Bearer``)
and that neither the JWT nor a provided token shows in logs, reprs or errors.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import anyio
import pytest

from webex_meetings import Webex, blocking
from webex_meetings.adapters.runtime import Runtime, TransportOptions
from webex_meetings.adapters.token_provider import STILL_RUNNING, ProviderCalls, TokenProvider
from webex_meetings.core.config import SessionConfig
from webex_meetings.core.credentials import Credentials
from webex_meetings.core.effects import RequestToken
from webex_meetings.core.errors import (
    ConfigurationError,
    HttpStatusError,
    TokenProviderError,
    TokenWithheldError,
)
from webex_meetings.core.http import HttpRequest, HttpResponse
from webex_meetings.core.inputs import Input, TokenProvided, TokenProviderFailed
from webex_meetings.core.session import MeetingsSession
from webex_meetings.emulator import Emulator
from webex_meetings.transports.base import HttpTransport

pytestmark = pytest.mark.anyio


class Recording:
    """An HTTP transport that keeps every request it sends."""

    def __init__(self, inner: HttpTransport) -> None:
        self.inner = inner
        self.sent: list[HttpRequest] = []

    async def send(self, request: HttpRequest) -> HttpResponse:
        self.sent.append(request)
        return await self.inner.send(request)

    async def aclose(self) -> None:
        await self.inner.aclose()

    def carrying(self, secret: str) -> list[HttpRequest]:
        return [r for r in self.sent if any(secret in value for _, value in r.headers)]


def config_for(emulator: Emulator, **changes: Any) -> SessionConfig:
    return SessionConfig.for_cloud(emulator.base_url, http_timeout=5.0, **changes)


@asynccontextmanager
async def webex_for(
    runtime: Runtime, runtime_name: str, config: SessionConfig, **credentials: Any
) -> AsyncIterator[tuple[Webex, Recording]]:
    http, websockets = runtime.default_transports(TransportOptions(http_timeout=5.0))
    recording = Recording(http)
    try:
        webex = Webex(
            config=config,
            http=recording,
            websockets=websockets,
            runtime=runtime_name,  # type: ignore[typeddict-item]
            unregister_timeout=5.0,
            **credentials,
        )
        async with webex:
            yield webex, recording
    finally:
        await recording.aclose()


def routes(emulator: Emulator, name: str) -> list[int]:
    return [r.status for r in emulator.control.requests if r.route == name]


def assert_nowhere(secret: str, caplog: pytest.LogCaptureFixture, *texts: str) -> None:
    assert secret not in caplog.text
    for text in texts:
        assert secret not in text


# -- the guest JWT login ----------------------------------------------------------------------


async def test_a_guest_registers_with_the_jwt_sent_raw_to_hydra_only(
    emulator: Emulator, runtime: Runtime, runtime_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="webex_meetings")
    jwt = emulator.make_guest_jwt("guest-7", name="Visitor", expires_in=600)
    async with webex_for(runtime, runtime_name, config_for(emulator), jwt=jwt) as (webex, rec):
        await webex.meetings.register()
        assert webex.meetings.registered
        [login] = rec.carrying(jwt)  # the JWT went out once, and nowhere else
        assert (login.method, login.url) == ("POST", f"{emulator.base_url}/hydra/v1/jwt/login")
        assert login.header("authorization") == jwt  # raw, no "Bearer"
        token = rec.sent[-1].header("authorization")
        assert token is not None
        assert token.startswith("Bearer ")
        assert_nowhere(jwt, caplog, repr(webex), repr(webex.meetings.device))
        assert_nowhere(token.split()[1], caplog)
    assert routes(emulator, "hydra.jwt_login") == [200]
    assert emulator.violations == []
    assert emulator.devices == []


async def test_a_guest_logs_in_again_when_its_token_is_refused(
    emulator: Emulator, runtime: Runtime, runtime_name: str
) -> None:
    jwt = emulator.make_guest_jwt("guest-8", expires_in=600)
    async with webex_for(runtime, runtime_name, config_for(emulator), jwt=jwt) as (webex, rec):
        await webex.meetings.register()
        first = rec.sent[-1].header("authorization")
        assert first is not None
        emulator.control.expire_token(first.split()[1])
        await webex.meetings.unregister()  # DELETE: 401, log in again, replay
        assert rec.sent[-1].header("authorization") not in (None, first)
    assert routes(emulator, "hydra.jwt_login") == [200, 200]
    assert emulator.devices == []


async def test_a_hydra_on_a_foreign_host_gets_no_jwt(
    emulator: Emulator, runtime: Runtime, runtime_name: str
) -> None:
    config = config_for(emulator)
    foreign = emulator.base_url.replace("127.0.0.1", "127.0.0.2") + "/hydra/v1"
    config = replace(config, discovery=replace(config.discovery, hydra=foreign))
    jwt = emulator.make_guest_jwt("guest-9", expires_in=600)
    async with webex_for(runtime, runtime_name, config, jwt=jwt) as (webex, rec):
        with pytest.raises(TokenWithheldError) as caught:
            await webex.meetings.register()
        assert "127.0.0.2" in str(caught.value)
        assert jwt not in str(caught.value)
        assert rec.sent == []  # withheld before a byte went out
    assert emulator.control.requests == []


# -- the token provider ------------------------------------------------------------------------


def sync_provider(answers: list[Any], calls: list[int]) -> TokenProvider:
    def provide() -> Any:
        calls.append(1)
        return answers.pop(0)

    return provide


def async_provider(answers: list[Any], calls: list[int]) -> TokenProvider:
    async def provide() -> Any:
        calls.append(1)
        await anyio.sleep(0)
        return answers.pop(0)

    return provide


PROVIDERS = {"sync": sync_provider, "async": async_provider}


def provider_of(kind: str, call: Callable[[], str]) -> TokenProvider:
    """``call`` as a provider of ``kind``: itself (``"sync"``), or an async function calling
    it (``"async"``)."""
    if kind == "sync":
        return call

    async def provide() -> str:
        return call()

    return provide


@pytest.mark.parametrize("kind", list(PROVIDERS))
async def test_the_provider_gives_the_first_token(
    emulator: Emulator,
    runtime: Runtime,
    runtime_name: str,
    kind: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="webex_meetings")
    token = emulator.issue_token()
    calls: list[int] = []
    provider = PROVIDERS[kind]([(token, 600.0)], calls)
    config = config_for(emulator)
    async with webex_for(runtime, runtime_name, config, token_provider=provider) as (webex, rec):
        await webex.meetings.register()
        assert calls == [1]
        assert all(r.header("authorization") == f"Bearer {token}" for r in rec.sent)
        assert_nowhere(token, caplog, repr(webex))
    assert emulator.devices == []


@pytest.mark.parametrize("kind", list(PROVIDERS))
async def test_the_provider_is_called_again_on_a_401(
    emulator: Emulator, runtime: Runtime, runtime_name: str, kind: str
) -> None:
    revoked, good = emulator.issue_token(), emulator.issue_token()
    emulator.control.revoke_token(revoked)
    calls: list[int] = []
    provider = PROVIDERS[kind]([revoked, good], calls)
    config = config_for(emulator, fetch_people_me=False)  # one request at a time
    async with webex_for(runtime, runtime_name, config, token_provider=provider) as (webex, _):
        await webex.meetings.register()
        assert len(calls) == 2
    assert routes(emulator, "u2c.catalog") == [401, 200]


async def test_a_second_refusal_is_final_not_a_loop(
    emulator: Emulator, runtime: Runtime, runtime_name: str
) -> None:
    revoked = emulator.issue_token()
    emulator.control.revoke_token(revoked)
    calls: list[int] = []
    provider = sync_provider([revoked, revoked], calls)
    config = config_for(emulator, fetch_people_me=False)
    async with webex_for(runtime, runtime_name, config, token_provider=provider) as (webex, _):
        with pytest.raises(HttpStatusError):
            await webex.meetings.register()
        assert len(calls) == 2


@pytest.mark.parametrize("kind", list(PROVIDERS))
async def test_a_raising_provider_fails_register_once_typed_and_redacted(
    emulator: Emulator,
    runtime: Runtime,
    runtime_name: str,
    kind: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="webex_meetings")
    secret = emulator.issue_token()  # held (and so masked) by a live credential below
    calls: list[int] = []

    def fail() -> str:
        calls.append(1)
        raise RuntimeError(f"idp down; last token was access_token={secret}")

    provider = provider_of(kind, fail)
    config = config_for(emulator)
    async with webex_for(runtime, runtime_name, config, token_provider=provider) as (webex, rec):
        with pytest.raises(TokenProviderError) as caught:
            await webex.meetings.register()
        assert "RuntimeError" in str(caught.value)
        assert_nowhere(secret, caplog, str(caught.value))
        assert calls == [1]
        assert rec.sent == []
        assert webex.meetings.state.value == "ready"


async def test_a_provider_that_does_not_answer_is_cut_at_the_http_timeout(
    emulator: Emulator, runtime: Runtime, runtime_name: str
) -> None:
    async def never() -> str:
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    config = replace(config_for(emulator), http_timeout=0.2)
    async with webex_for(runtime, runtime_name, config, token_provider=never) as (webex, _):
        with anyio.fail_after(10):
            with pytest.raises(TokenProviderError, match=r"within 0\.2 s"):
                await webex.meetings.register()


async def test_a_provider_answer_of_the_wrong_type_is_typed(
    emulator: Emulator, runtime: Runtime, runtime_name: str
) -> None:
    config = config_for(emulator)
    async with webex_for(runtime, runtime_name, config, token_provider=lambda: 42) as (webex, _):
        with pytest.raises(TokenProviderError, match="returned int"):
            await webex.meetings.register()


async def test_an_embedder_hands_its_session_and_provider_to_from_session(
    emulator: Emulator, runtime: Runtime, runtime_name: str
) -> None:
    token = emulator.issue_token()
    session = MeetingsSession(config_for(emulator), Credentials.from_provider())
    http, websockets = runtime.default_transports(TransportOptions(http_timeout=5.0))
    webex = Webex.from_session(
        session,
        http=http,
        websockets=websockets,
        runtime=runtime_name,  # type: ignore[arg-type]
        token_provider=lambda: token,
    )
    try:
        async with webex:
            await webex.meetings.register()
            assert webex.meetings.registered
    finally:
        await http.aclose()
    assert emulator.devices == []


def test_the_credential_keywords_exclude_each_other() -> None:
    with pytest.raises(ConfigurationError, match="jwt or token_provider, not both"):
        Webex(jwt="a.b.c", token_provider=lambda: "t")
    with pytest.raises(ConfigurationError, match="access_token or jwt"):
        blocking.Webex(access_token="t", jwt="a.b.c")
    with pytest.raises(ConfigurationError, match="function"):
        Webex(token_provider="not callable")  # type: ignore[typeddict-item]
    with pytest.raises(ConfigurationError, match="JWT"):
        Webex(jwt="not-a-jwt")


# -- the blocking face -------------------------------------------------------------------------


def test_the_blocking_face_logs_in_with_a_jwt_and_a_provider(
    running_emulator: Emulator,
) -> None:
    emulator = running_emulator
    jwt = emulator.make_guest_jwt("guest-blocking", expires_in=600)
    with blocking.Webex(jwt=jwt, cloud=emulator.base_url) as webex:
        webex.meetings.register(timeout=20)
        assert webex.meetings.registered
    token = emulator.issue_token()
    with blocking.Webex(token_provider=lambda: token, cloud=emulator.base_url) as webex:
        webex.meetings.register(timeout=20)
        assert webex.meetings.registered
    assert routes(emulator, "hydra.jwt_login") == [200]
    assert emulator.devices == []


# -- one worker thread per Webex; an exception's text stays out of messages --------------------


class HungProvider:
    """A plain provider whose first call blocks its thread until released."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.calls = 0
        self.release = threading.Event()
        self.returned = threading.Event()

    def __call__(self) -> str:
        self.calls += 1
        try:
            if self.calls == 1:
                self.release.wait(30)  # bounded: the test releases it long before
            return self.token
        finally:
            self.returned.set()


async def test_a_hung_sync_provider_holds_one_thread_and_is_not_called_again(
    runtime: Runtime,
) -> None:
    provider = HungProvider("tok_PF84_org")
    calls = ProviderCalls(provider)
    fed: list[Input] = []
    default_limiter = anyio.to_thread.current_default_thread_limiter()
    await calls.provide(RequestToken(1, 0.05), fed.append, runtime)  # times out
    assert calls.thread_running
    assert default_limiter.borrowed_tokens == 0  # its own limiter, not the shared one
    await calls.provide(RequestToken(2, 5.0), fed.append, runtime)  # fails at once
    assert provider.calls == 1  # no second thread was started
    assert [type(i) for i in fed] == [TokenProviderFailed, TokenProviderFailed]
    first, second = fed
    assert isinstance(first, TokenProviderFailed)
    assert isinstance(second, TokenProviderFailed)
    assert "within 0.05 s" in first.error
    assert second.error == STILL_RUNNING
    provider.release.set()
    await anyio.to_thread.run_sync(provider.returned.wait, 30)
    with anyio.fail_after(10):
        while calls.thread_running:  # the abandoned thread's last step, just after `returned`
            await anyio.sleep(0)
    await calls.provide(RequestToken(3, 5.0), fed.append, runtime)
    assert isinstance(fed[-1], TokenProvided)
    assert provider.calls == 2


async def test_register_fails_at_once_while_a_hung_provider_has_not_returned(
    emulator: Emulator, runtime: Runtime, runtime_name: str
) -> None:
    provider = HungProvider(emulator.issue_token())
    config = replace(config_for(emulator), http_timeout=0.2)
    try:
        async with webex_for(runtime, runtime_name, config, token_provider=provider) as (webex, _):
            with anyio.fail_after(10):
                with pytest.raises(TokenProviderError, match=r"within 0\.2 s"):
                    await webex.meetings.register()
                with pytest.raises(TokenProviderError, match="has not returned"):
                    await webex.meetings.register()
            assert provider.calls == 1
    finally:
        provider.release.set()


@pytest.mark.parametrize("kind", list(PROVIDERS))
async def test_a_raising_provider_s_text_stays_out_but_is_the_cause(
    emulator: Emulator,
    runtime: Runtime,
    runtime_name: str,
    kind: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="webex_meetings")
    app_secret = "the-apps-own-client-secret"  # nothing in the library knows to mask it
    raised = PermissionError(f"idp refused client_secret={app_secret}")

    def fail() -> str:
        raise raised

    provider = provider_of(kind, fail)
    config = config_for(emulator)
    async with webex_for(runtime, runtime_name, config, token_provider=provider) as (webex, _):
        with pytest.raises(TokenProviderError) as caught:
            await webex.meetings.register()
    assert "PermissionError" in str(caught.value)
    assert app_secret not in str(caught.value)
    assert app_secret not in repr(caught.value)
    assert app_secret not in caplog.text
    assert caught.value.__cause__ is raised
