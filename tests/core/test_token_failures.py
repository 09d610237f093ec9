"""What follows when a token cannot be had: no empty or expired bearer on the wire, a renewal
failure typed as ``TokenRefreshError`` (``permanent`` when asking again cannot help), and a
dead token ending the reconnect loop, driven against the sans-IO fake cloud in simulated
time."""

from __future__ import annotations

import random
from typing import Any

import pytest
from session_harness import BASE, ORG, START, FakeCloud, Pump, _json, make_session
from token_harness import (
    LIFETIME,
    GuestCloud,
    ProviderPump,
    guest_session,
    logins,
    provider_session,
    token,
)

from webex_meetings.core.config import SessionConfig
from webex_meetings.core.credentials import Credentials
from webex_meetings.core.effects import RequestToken, SendHttpRequest
from webex_meetings.core.errors import (
    HttpStatusError,
    NotAuthorizedError,
    TokenProviderError,
    TokenRefreshError,
    TransportError,
    WebexError,
)
from webex_meetings.core.events import ConnectionFailed
from webex_meetings.core.http import HttpRequest
from webex_meetings.core.http_client import MAX_PROVIDER_FAILURES, HttpClient, Reply
from webex_meetings.core.inputs import FailureKind
from webex_meetings.core.lifecycle import State
from webex_meetings.core.redaction import Secret

REFRESHABLE: dict[str, Any] = {
    "refresh_token": "refresh-secret-1",
    "client_id": "client-1",
    "client_secret": "client-secret-1",
    "expires_at": START + 1000,
}


def client(credentials: Credentials) -> HttpClient:
    ids = iter(range(1, 10_000))
    return HttpClient(
        SessionConfig.for_cloud(BASE),
        credentials,
        session_id="s",
        new_id=lambda: next(ids),
        rng=random.Random(1),
    )


def delete(url: str = f"{BASE}/wdm/api/v1/devices/dev1") -> HttpRequest:
    return HttpRequest("DELETE", url, step="device.unregister")


def bearers(cloud: FakeCloud) -> list[str | None]:
    return [r.header("authorization") for r in cloud.requests if r.step != "credentials.jwt_login"]


# -- 1. no empty or expired bearer ------------------------------------------------------------


def test_a_request_without_a_token_waits_for_the_renewal_instead_of_an_empty_bearer() -> None:
    http = client(Credentials.from_provider())
    output = http.send(delete(), "purpose", now=START)
    assert not any(isinstance(o, SendHttpRequest) for o in output)  # no "Bearer " sent
    [ask] = [o for o in output if isinstance(o, RequestToken)]
    output = http.token_provided(ask.request_id, Secret(token(1)), None, now=START)
    [sent] = [o for o in output if isinstance(o, SendHttpRequest)]
    assert sent.request.header("authorization") == f"Bearer {token(1)}"


def test_a_request_after_a_failed_startup_fails_typed_and_names_its_step() -> None:
    http = client(Credentials.from_provider())
    for _ in range(MAX_PROVIDER_FAILURES):  # the provider failed for good at startup
        [ask] = [
            o for o in http.refresh_token("register", now=START) if isinstance(o, RequestToken)
        ]
        http.token_provider_failed(ask.request_id, "the token provider raised OSError")
    assert http.renewal_refused is not None
    output = http.send(delete(), "cleanup", now=START)
    assert output == []  # nothing sent, the failure comes on the deferred path
    [reply] = http.take_deferred()
    assert isinstance(reply, Reply)
    assert isinstance(reply.error, NotAuthorizedError)
    assert reply.error.step == "device.unregister"
    assert isinstance(reply.error.__cause__, TokenProviderError)


def test_an_expired_token_is_renewed_before_a_request_not_sent() -> None:
    cloud = FakeCloud()
    pump = ProviderPump(provider_session(), cloud, (token(1), 100.0), (token(2), 100.0))
    pump.init()
    pump.register()
    cloud.requests.clear()
    pump.now = START + 150  # past the expiry, before any timer could renew
    pump.unregister()
    assert pump.asked == 2
    assert bearers(cloud) == [f"Bearer {token(2)}"]
    assert pump.session.state is State.UNREGISTERED


def test_no_request_ever_carries_a_dead_token_after_the_provider_gave_up() -> None:
    failures = [RuntimeError("down")] * (MAX_PROVIDER_FAILURES + 2)
    cloud = FakeCloud()
    pump = ProviderPump(provider_session(), cloud, (token(1), 100.0), *failures)
    pump.init()
    pump.register()
    pump.advance(100)  # the proactive renewals fail; the token expires
    sent_before = len(cloud.requests)
    command = pump.unregister()
    error = pump.result(command)
    assert isinstance(error, WebexError)
    assert not isinstance(error, HttpStatusError)  # decided here, never put on the wire
    assert error.step in ("device.unregister", "credentials.provider")
    assert len(cloud.requests) == sent_before


def test_a_refused_renewal_still_lets_the_clean_up_delete_try_the_token_it_has() -> None:
    cloud = FakeCloud()
    session = make_session(**REFRESHABLE)
    held = session.credentials.access_token
    pump = Pump(session, cloud)
    pump.init()
    pump.register()
    cloud.fail("credentials.refresh", *[400] * 50)  # the refresh token was revoked
    pump.advance(1100)  # the proactive renewal is refused for good; the token's expiry passes
    sent_before = len(cloud.requests)
    pump.unregister()
    [sent] = cloud.requests[sent_before:]
    assert (sent.method, sent.step) == ("DELETE", "device.unregister")
    assert sent.header("authorization") == f"Bearer {held}"  # our expiry is an estimate
    assert pump.session.state is State.UNREGISTERED


def test_a_device_refresh_is_not_worth_a_token_whose_renewal_was_refused() -> None:
    http = client(Credentials("held-token-1", **{**REFRESHABLE, "expires_at": START + 10}))
    [grant] = [
        o for o in http.refresh_token("proactive", now=START) if isinstance(o, SendHttpRequest)
    ]
    http.received(grant.request_id, _json(400, {"error": "invalid_grant"}), now=START)
    assert http.renewal_refused is not None
    put = HttpRequest("PUT", f"{BASE}/wdm/api/v1/devices/dev1", step="device.refresh")
    assert http.send(put, "refresh", now=START + 20) == []  # decided here
    [reply] = http.take_deferred()
    assert isinstance(reply, Reply)
    assert isinstance(reply.error, NotAuthorizedError)
    clean_up = http.send(delete(), "clean-up", now=START + 20, worth_a_dead_token=True)
    [sent] = [o for o in clean_up if isinstance(o, SendHttpRequest)]
    assert sent.request.header("authorization") == "Bearer held-token-1"


def test_only_a_request_sent_as_a_clean_up_gets_a_dead_token_a_delete_included() -> None:
    """The dead token is the session's word on a request (its device clean-ups), not
    something a method earns: any other DELETE fails at once, as a refresh does."""
    http = client(Credentials("held-token-1", **{**REFRESHABLE, "expires_at": START + 10}))
    [grant] = [
        o for o in http.refresh_token("proactive", now=START) if isinstance(o, SendHttpRequest)
    ]
    http.received(grant.request_id, _json(400, {"error": "invalid_grant"}), now=START)
    other = HttpRequest("DELETE", f"{BASE}/wdm/api/v1/devices/dev1/things/1", step="other")
    assert http.send(other, "not a clean-up", now=START + 20) == []  # decided here
    [reply] = http.take_deferred()
    assert isinstance(reply, Reply)
    assert reply.purpose == "not a clean-up"
    assert isinstance(reply.error, NotAuthorizedError)
    assert reply.error.__cause__ is http.renewal_refused


# -- 2. a dead token ends reconnecting; a transient failure keeps the backoff -----------------


def drop_and_refuse_mercury(pump: Pump, cloud: FakeCloud) -> None:
    cloud.ws_faults.extend([401] * 50)  # Mercury refuses the (dead) token at every try
    pump.server_close(1006)


def registered_guest_refused_from_now() -> tuple[Pump, GuestCloud]:
    """A registered guest session whose every later JWT login is refused."""
    cloud = GuestCloud()
    pump = Pump(guest_session(), cloud)
    pump.init()
    pump.register()
    cloud.fail("credentials.jwt_login", *[401] * 50)
    return pump, cloud


def test_a_refused_jwt_ends_the_connection_instead_of_looping() -> None:
    pump, cloud = registered_guest_refused_from_now()
    drop_and_refuse_mercury(pump, cloud)
    pump.advance(3600)
    assert pump.session.state is State.DISCONNECTED
    assert len(logins(cloud)) <= 3  # the first login, then one refusal: no loop
    failed = [e for e in pump.events if isinstance(e, ConnectionFailed)]
    assert failed[-1].retry_in is None
    assert "TokenRefreshError" in failed[-1].error
    attempts = len(cloud.requests), len(failed)
    pump.advance(3600)  # it ended: nothing more is tried
    failed = [e for e in pump.events if isinstance(e, ConnectionFailed)]
    assert (len(cloud.requests), len(failed)) == attempts


def test_a_busy_hydra_keeps_the_bounded_backoff_and_reconnects() -> None:
    cloud = GuestCloud()
    pump = Pump(guest_session(), cloud)
    pump.init()
    pump.register()
    cloud.fail("credentials.jwt_login", 503, 503, 503)  # one renewal's tries, then fine
    cloud.ws_faults.append(401)
    pump.server_close(1006)
    pump.advance(600)
    assert pump.session.state is State.REGISTERED


def test_a_refused_refresh_grant_ends_the_connection() -> None:
    cloud = FakeCloud()
    pump = Pump(make_session(**REFRESHABLE), cloud)
    pump.init()
    pump.register()
    cloud.fail("credentials.refresh", *[400] * 50)
    drop_and_refuse_mercury(pump, cloud)
    pump.advance(3600)
    assert pump.session.state is State.DISCONNECTED
    refreshes = [r for r in cloud.requests if r.step == "credentials.refresh"]
    assert 1 <= len(refreshes) <= 3


def test_a_failing_provider_ends_the_connection_after_its_bound() -> None:
    failures = [RuntimeError("down")] * 50
    cloud = FakeCloud()
    pump = ProviderPump(provider_session(), cloud, token(1), *failures)
    pump.init()
    pump.register()
    drop_and_refuse_mercury(pump, cloud)
    pump.advance(3600)
    assert pump.session.state is State.DISCONNECTED
    assert pump.asked == 1 + MAX_PROVIDER_FAILURES


def test_a_dead_token_also_ends_the_reconnect_through_a_device_refresh() -> None:
    pump, cloud = registered_guest_refused_from_now()
    pump.advance(LIFETIME)  # the proactive login is refused; the token expires
    cloud.ws_faults.extend([404] * 50)  # Mercury does not know the device: refresh it first
    cloud.requests.clear()
    pump.server_close(1006)
    pump.advance(3600)
    assert pump.session.state is State.DISCONNECTED
    assert not any(r.step == "device.refresh" for r in cloud.requests)  # never with a dead token


# -- 5. every renewal failure is a TokenRefreshError ------------------------------------------


@pytest.mark.parametrize(
    ("faults", "cause", "permanent"),
    [
        ((404,), HttpStatusError, True),
        ((503, 503, 503), HttpStatusError, False),
        (("fail", "fail", "fail"), TransportError, False),
    ],
)
def test_every_failed_jwt_login_is_a_token_refresh_error(
    faults: tuple[Any, ...], cause: type[Exception], permanent: bool
) -> None:
    cloud = GuestCloud()
    cloud.fail("credentials.jwt_login", *faults)
    pump = Pump(guest_session(), cloud)
    pump.init()
    command = pump.register()
    pump.advance(30)
    error = pump.result(command)
    assert isinstance(error, TokenRefreshError)
    assert isinstance(error.__cause__, cause)
    assert error.permanent is permanent
    assert error.step == "credentials.jwt_login"


@pytest.mark.parametrize("status", [400, 401])
def test_a_refused_refresh_grant_is_a_permanent_token_refresh_error(status: int) -> None:
    cloud = FakeCloud()
    cloud.fail("credentials.refresh", status)
    session = make_session(**dict(REFRESHABLE, expires_at=START - 1))
    pump = Pump(session, cloud)
    pump.init()
    error = pump.result(pump.register())
    assert isinstance(error, TokenRefreshError)
    assert not isinstance(error, HttpStatusError)
    assert error.permanent
    assert error.step == "credentials.refresh"
    assert "client-secret-1" not in str(error)
    assert "refresh-secret-1" not in str(error)


def test_a_provider_failure_keeps_the_exception_as_cause_and_out_of_the_message() -> None:
    http = client(Credentials.from_provider())
    [ask] = [o for o in http.refresh_token("w", now=START) if isinstance(o, RequestToken)]
    raised = RuntimeError("client_secret=app-own-secret")
    [reply] = http.token_provider_failed(
        ask.request_id, "the token provider raised RuntimeError", exception=raised
    )
    assert isinstance(reply, Reply)
    assert isinstance(reply.error, TokenProviderError)
    assert reply.error.__cause__ is raised
    assert "app-own-secret" not in str(reply.error)
    assert not reply.error.permanent  # one failure: the next need asks again


# -- 6. the client owns its state; a failure names its request once ---------------------------


def test_the_session_tells_the_client_its_urls_through_methods() -> None:
    http = client(Credentials("t" * 20))
    http.use_catalog(token_url=f"{BASE}/idb/token", hydra_url=f"{BASE}/hydra2")
    http.use_device(f"{BASE}/dev/1")
    assert (http.token_url, http.hydra_url, http.device_url) == (
        f"{BASE}/idb/token",
        f"{BASE}/hydra2",
        f"{BASE}/dev/1",
    )
    http.use_catalog(token_url=None, hydra_url=f"{BASE}/hydra3")
    assert http.token_url == f"{BASE}/idb/token"
    with pytest.raises(AttributeError):
        http.device_url = None  # type: ignore[misc]


def test_a_transport_failure_names_the_request_once() -> None:
    http = client(Credentials(f"tok_PF84_{ORG}"))
    url = f"{BASE}/wdm/api/v1/devices/dev1"
    [sent] = http.send(delete(url), "p", now=START)
    assert isinstance(sent, SendHttpRequest)
    [reply] = http.failed(
        sent.request_id, f"DELETE {url}: connection refused", kind=FailureKind.CONNECTION
    )
    assert isinstance(reply, Reply)
    assert reply.error is not None
    assert str(reply.error).count(url) == 1
    [again] = http.send(delete(url), "p", now=START)
    assert isinstance(again, SendHttpRequest)
    [reply] = http.failed(again.request_id, "connection refused", kind=FailureKind.CONNECTION)
    assert isinstance(reply, Reply)
    assert reply.error is not None
    assert str(reply.error).count(url) == 1
    assert "connection refused" in str(reply.error)


def test_a_renewed_token_that_is_expired_already_fails_the_request_not_a_loop() -> None:
    cloud = FakeCloud()
    answers = iter(range(10))

    def expired(_: HttpRequest) -> Any:
        return _json(200, {"access_token": f"new-token-{next(answers)}", "expires_in": 0})

    cloud.fail("credentials.refresh", *[expired] * 10)
    session = make_session(**dict(REFRESHABLE, expires_at=START - 1))
    pump = Pump(session, cloud)
    pump.init()
    error = pump.result(pump.register())
    assert isinstance(error, NotAuthorizedError)
    assert "already expired" in str(error)
    assert [r.step for r in cloud.requests] == ["credentials.refresh"] * 2  # bounded
