"""Where tokens come from besides the refresh grant: the guest JWT login
(``POST {hydra}/jwt/login``, the JS SDK's ``requestAccessTokenFromJwt``) and the app's token
provider (``RequestToken`` answered by ``TokenProvided`` / ``TokenProviderFailed``), driven
against the sans-IO fake cloud in simulated time."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from session_harness import BASE, ORG, START, FakeCloud, Pump
from token_harness import (
    JWT,
    LIFETIME,
    GuestCloud,
    ProviderPump,
    guest_session,
    logins,
    provider_session,
    token,
)

from webex_meetings.core.config import DiscoveryConfig, SessionConfig
from webex_meetings.core.credentials import Credentials, TokenSource
from webex_meetings.core.effects import RequestToken
from webex_meetings.core.errors import (
    ConfigurationError,
    RemoteProtocolError,
    TokenProviderError,
    TokenRefreshError,
    TokenWithheldError,
)
from webex_meetings.core.http import HttpResponse
from webex_meetings.core.inputs import TokenProvided, TokenProviderFailed
from webex_meetings.core.lifecycle import State
from webex_meetings.core.redaction import Secret, redact
from webex_meetings.core.session import MeetingsSession

# -- the guest JWT login ------------------------------------------------------------------------


def test_a_guest_logs_in_with_the_raw_jwt_before_anything_else() -> None:
    cloud = GuestCloud()
    pump = Pump(guest_session(), cloud)
    pump.init()
    assert pump.result(pump.register()) is None
    login = cloud.requests[0]
    assert (login.method, login.url) == ("POST", f"{BASE}/hydra/v1/jwt/login")
    assert login.header("authorization") == JWT  # raw: no "Bearer"
    assert login.header("trackingid") is not None  # an ordinary Webex request otherwise
    assert pump.requests_by_step()[1:] == ["catalog", "people/me", "device.register"]
    for request in cloud.requests[1:]:
        assert request.header("authorization") == f"Bearer guest1token_PF84_{ORG}"
    assert pump.session.state is State.REGISTERED
    assert "credentials:refreshed" in pump.names()


def test_a_guest_logs_in_again_before_the_token_expires_at_the_catalog_hydra() -> None:
    cloud = GuestCloud(links={"hydra": f"{BASE}/hydra-from-catalog/v1"})
    pump = Pump(guest_session(), cloud)
    pump.init()
    pump.register()
    pump.advance(LIFETIME * 0.9 + 1)  # the proactive renewal runs at 60-90 % of the life
    again = logins(cloud)
    assert len(again) == 2
    assert again[1].url == f"{BASE}/hydra-from-catalog/v1/jwt/login"  # services.get('hydra')
    assert again[1].header("authorization") == JWT
    assert pump.session.credentials.access_token == f"guest2token_PF84_{ORG}"


def test_a_401_makes_the_guest_log_in_again_and_replays_once() -> None:
    cloud = GuestCloud()
    pump = Pump(guest_session(), cloud)
    pump.init()
    cloud.fail("device.register", 401)
    assert pump.result(pump.register()) is None
    assert pump.requests_by_step() == [
        "credentials.jwt_login",
        "catalog",
        "people/me",
        "device.register",
        "credentials.jwt_login",
        "device.register",
    ]
    assert cloud.requests[-1].header("authorization") == f"Bearer guest2token_PF84_{ORG}"


def test_a_refused_jwt_fails_register_with_a_typed_error_naming_no_secret() -> None:
    cloud = GuestCloud()
    session = MeetingsSession(
        SessionConfig.for_cloud(BASE), Credentials.from_jwt(JWT[::-1]), rng=random.Random(7)
    )
    pump = Pump(session, cloud)
    pump.init()
    error = pump.result(pump.register())
    assert isinstance(error, TokenRefreshError)
    assert error.step == "credentials.jwt_login"
    assert "HTTP 401" in str(error)
    assert JWT[::-1] not in str(error)
    assert JWT[::-1] not in repr(pump.session.credentials)
    assert len(logins(cloud)) == 1  # asked once, not in a loop
    assert pump.session.state is State.READY


def test_a_busy_or_unreachable_hydra_is_tried_again_for_the_login() -> None:
    cloud = GuestCloud()
    cloud.fail("credentials.jwt_login", 503, "fail")
    pump = Pump(guest_session(), cloud)
    pump.init()
    command = pump.register()
    pump.advance(10)
    assert pump.result(command) is None
    assert len(logins(cloud)) == 3


@pytest.mark.parametrize(
    "body",
    [
        {"expiresIn": 10},
        {"token": "", "expiresIn": 10},
        {"token": "t" * 20, "expiresIn": "x"},
        {"token": "t" * 20, "expiresIn": 0},
    ],
)
def test_an_unusable_login_answer_is_a_protocol_error(body: dict[str, Any]) -> None:
    credentials = Credentials.from_jwt(JWT)
    with pytest.raises(RemoteProtocolError):
        credentials.logged_in(HttpResponse(200, (), json.dumps(body).encode()), now=START)


def test_the_jwt_goes_only_where_the_token_rule_allows() -> None:
    foreign = "http://127.0.0.2:9999/hydra/v1"  # not an authorized host
    config = SessionConfig.for_cloud(BASE)
    config = SessionConfig(
        discovery=DiscoveryConfig(u2c=config.discovery.u2c, hydra=foreign),
        extra_authorized_hosts=config.extra_authorized_hosts,
    )
    cloud = GuestCloud()
    pump = Pump(guest_session(config), cloud)
    pump.init()
    error = pump.result(pump.register())
    assert isinstance(error, TokenWithheldError)
    assert error.host == "127.0.0.2:9999" or "127.0.0.2" in str(error)
    assert cloud.requests == []  # nothing was sent anywhere


def test_a_catalog_hydra_on_a_foreign_host_gets_no_jwt_at_the_next_login() -> None:
    cloud = GuestCloud(links={"hydra": "http://127.0.0.2:9999/hydra/v1"})
    pump = Pump(guest_session(), cloud)
    pump.init()
    pump.register()
    pump.advance(LIFETIME * 0.9 + 1)
    assert [r.url for r in logins(cloud)] == [f"{BASE}/hydra/v1/jwt/login"]
    assert not any("127.0.0.2" in r.url for r in cloud.requests)


def test_the_jwt_is_redacted_and_validated() -> None:
    credentials = Credentials.from_jwt(JWT)
    assert credentials.source is TokenSource.JWT_LOGIN
    assert credentials.can_refresh
    assert not credentials.can_authorize(START)
    assert JWT not in repr(credentials)
    assert JWT not in repr(credentials.jwt_login_request(BASE))
    assert redact(f"echoed {JWT} back") == "echoed <redacted> back"
    for bad in ("", "a.b", "a..c", "a.b.c d"):
        with pytest.raises(ConfigurationError) as caught:
            Credentials.from_jwt(bad)
        assert bad not in str(caught.value) or not bad


# -- the token provider -----------------------------------------------------------------------


def test_the_provider_gives_the_first_token() -> None:
    cloud = FakeCloud()
    pump = ProviderPump(provider_session(), cloud, token(1))
    pump.init()
    assert pump.asked == 0  # nothing asked before register()
    assert pump.result(pump.register()) is None
    assert pump.asked == 1
    assert cloud.requests[0].header("authorization") == f"Bearer {token(1)}"
    assert pump.session.credentials.expires_at is None  # no lifetime given: kept until a 401


def test_the_provider_is_asked_again_before_its_token_expires() -> None:
    pump = ProviderPump(provider_session(), FakeCloud(), (token(1), 100.0), (token(2), 100.0))
    pump.init()
    pump.register()
    assert pump.session.credentials.expires_at == START + 100
    pump.advance(91)
    assert pump.asked == 2
    assert pump.session.credentials.access_token == token(2)


def test_the_provider_is_asked_on_a_401_and_the_request_replayed_once() -> None:
    cloud = FakeCloud()
    pump = ProviderPump(provider_session(), cloud, token(1), token(2))
    pump.init()
    cloud.fail("device.register", 401)
    assert pump.result(pump.register()) is None
    assert pump.asked == 2
    assert cloud.requests[-1].header("authorization") == f"Bearer {token(2)}"


def test_a_second_401_after_the_provider_answered_is_final() -> None:
    cloud = FakeCloud()
    pump = ProviderPump(provider_session(), cloud, token(1), token(1))
    pump.init()
    cloud.fail("device.register", 401, 401)
    error = pump.result(pump.register())
    assert error is not None
    assert getattr(error, "status", None) == 401
    assert pump.asked == 2  # one replay, no loop


@pytest.mark.parametrize(
    "answer",
    [
        RuntimeError("the token provider raised RuntimeError"),
        ("", None),
        (token(1), True),
        (token(1), 0.0),  # expired at once: renewing would ask again and again
        (token(1), -5.0),
    ],
)
def test_a_provider_failure_is_typed_and_asked_once(answer: Any) -> None:
    pump = ProviderPump(provider_session(), FakeCloud(), answer)
    pump.init()
    error = pump.result(pump.register())
    assert isinstance(error, TokenProviderError)
    assert isinstance(error, TokenRefreshError)
    assert error.step == "credentials.provider"
    assert pump.asked == 1
    assert pump.session.state is State.READY
    pump.advance(3600)
    assert pump.asked == 1  # not retried on its own


def test_a_provider_that_never_answers_is_bounded_by_the_register_deadline() -> None:
    config = SessionConfig.for_cloud(BASE, register_timeout=5.0)
    pump = ProviderPump(provider_session(config), FakeCloud(), "hang")
    pump.init()
    command = pump.register()
    pump.advance(6)
    assert pump.result(command) is not None
    assert pump.session.state is State.READY


def test_a_late_or_unknown_provider_answer_is_ignored() -> None:
    pump = ProviderPump(provider_session(), FakeCloud(), "hang")
    pump.init()
    command = pump.register()
    [request] = [e for e in pump.effects if isinstance(e, RequestToken)]
    pump.feed(TokenProvided(request.request_id + 1000, Secret(token(9))))
    assert command not in pump.completed
    pump.feed(TokenProvided(request.request_id, Secret(token(1))))
    assert pump.result(command) is None
    pump.feed(TokenProviderFailed(request.request_id, "late"))  # stale now: ignored
    assert pump.session.state is State.REGISTERED


def test_provider_tokens_are_redacted_everywhere() -> None:
    cloud = FakeCloud()
    pump = ProviderPump(provider_session(), cloud, token(1))
    pump.init()
    pump.register()
    assert token(1) not in repr(pump.session.credentials)
    assert token(1) not in "".join(repr(e) for e in pump.effects)
    assert token(1) not in repr(TokenProvided(1, Secret(token(1))))
    assert redact(f"server says {token(1)}") == "server says <redacted>"


def test_request_token_carries_the_http_timeout() -> None:
    config = SessionConfig.for_cloud(BASE, http_timeout=7.0)
    pump = ProviderPump(provider_session(config), FakeCloud(), "hang")
    pump.init()
    pump.register()
    [request] = [e for e in pump.effects if isinstance(e, RequestToken)]
    assert request.timeout == 7.0


# -- properties ---------------------------------------------------------------------------------

_JSON = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=True) | st.integers() | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, min_size=1, max_size=3)
        | st.dictionaries(st.text(max_size=10), inner, min_size=1)
    ),
    max_leaves=10,
)
_LOGIN_BODIES = st.fixed_dictionaries({}, optional={"token": _JSON, "expiresIn": _JSON}) | _JSON


@given(status=st.sampled_from([200, 201, 400, 401, 403]), body=_LOGIN_BODIES)
def test_any_login_answer_gives_credentials_or_a_typed_error(status: int, body: Any) -> None:
    credentials = Credentials.from_jwt(JWT)
    response = HttpResponse(status, (), json.dumps(body).encode())
    try:
        fresh = credentials.logged_in(response, now=START)
    except (TokenRefreshError, RemoteProtocolError) as error:
        refused: Exception | None = error
    else:
        refused = None
        assert status < 300
        assert fresh.source is TokenSource.JWT_LOGIN  # the JWT is kept for the next login
        assert fresh.access_token in body["token"]
    assert JWT not in str(refused)


@given(token=st.text(max_size=40), lifetime=st.none() | st.floats(allow_nan=True))
def test_any_provided_value_gives_credentials_or_a_configuration_error(
    token: str, lifetime: float | None
) -> None:
    credentials = Credentials.from_provider()
    try:
        fresh = credentials.provided(token, expires_in=lifetime, now=START)
    except ConfigurationError:
        return
    assert fresh.source is TokenSource.PROVIDER
    assert fresh.access_token


def test_the_provider_flag_is_a_flag_not_the_function() -> None:
    with pytest.raises(ConfigurationError, match="True or False"):
        Credentials("", provider_supplied=lambda: "t")  # type: ignore[arg-type]
    assert Credentials.from_provider().provider_supplied
