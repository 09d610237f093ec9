"""Credentials: the JS SDK's token shapes, org ids, expiry, the refresh grant, secrecy, and
which URLs may carry the token."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import parse_qsl

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webex_meetings.core.config import DEFAULT_ALLOWED_DOMAINS
from webex_meetings.core.credentials import Credentials
from webex_meetings.core.errors import (
    ConfigurationError,
    NotAuthorizedError,
    RemoteProtocolError,
    TokenRefreshError,
    TokenWithheldError,
)
from webex_meetings.core.http import HttpResponse
from webex_meetings.core.redaction import Secret
from webex_meetings.core.token_rule import TOKEN_RULE, check_token_destination, token_refusal

ORG = "1eb65fdf-9643-417f-9974-ad72cae0e10f"
TOKEN = f"FAKEACCESSTOKENZmFrZS1hY2Nlc3MtdG9rZW4_PF84_{ORG}"
NEW_TOKEN = f"FRESHACCESSTOKENbmV3LXRva2VuLXZhbHVl_PF84_{ORG}"
REFRESH = "REFRESHTOKENcmVmcmVzaC10b2tlbi12YWx1ZQ"
NEW_REFRESH = "NEWREFRESHTOKENbmV3LXJlZnJlc2gtdG9rZW4"
SECRET = "CLIENTSECRETc2VjcmV0LXZhbHVlLWhlcmU"
CLIENT = "C0123456789abcdef"
SECRETS = (TOKEN, NEW_TOKEN, REFRESH, NEW_REFRESH, SECRET)
NOW = 1_700_000_000.0
TOKEN_URL = "https://idbroker.webex.com/idb/oauth2/v1/access_token"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(claims: dict[str, Any]) -> str:
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    return f"{header}.{b64url(json.dumps(claims).encode())}.c2lnbmF0dXJl"


def refreshable(**changes: Any) -> Credentials:
    fields: dict[str, Any] = {
        "refresh_token": REFRESH,
        "client_id": CLIENT,
        "client_secret": SECRET,
        "redirect_uri": "https://app.example/callback",
        "expires_at": NOW + 3600,
    }
    fields.update(changes)
    return Credentials(TOKEN, **fields)


def token_response(status: int = 200, **body: Any) -> HttpResponse:
    return HttpResponse(
        status=status,
        headers=(("content-type", "application/json"),),
        body=json.dumps(body).encode(),
    )


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


# -- construction ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given_token", "token_type", "token"),
    [
        (TOKEN, "Bearer", TOKEN),
        (f"Bearer {TOKEN}", "Bearer", TOKEN),
        (f"bearer   {TOKEN}", "Bearer", TOKEN),
        (f"  Bearer\t{TOKEN}\n", "Bearer", TOKEN),
        (f"Bearer{TOKEN}", "Bearer", TOKEN),
        (f"MAC {TOKEN}", "MAC", TOKEN),
        (Secret(f"Bearer {TOKEN}"), "Bearer", TOKEN),
    ],
)
def test_access_token_is_cleaned_like_bearer_validator(given_token, token_type, token):
    credentials = Credentials(given_token)
    assert credentials.token_type == token_type
    assert credentials.access_token == token
    assert credentials.authorization == f"{token_type} {token}"


@pytest.mark.parametrize(
    "bad", ["", "   ", "Bearer", "Bearer   ", "a b c", "tok\x00en", "tok\x7fen", Secret("")]
)
def test_unusable_access_token_is_a_configuration_error(bad):
    with pytest.raises(ConfigurationError):
        Credentials(bad)


def test_wrong_field_types_are_configuration_errors():
    with pytest.raises(ConfigurationError):
        Credentials(TOKEN, client_id=5)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        Credentials(TOKEN, refresh_token=5)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        Credentials(TOKEN, expires_at="soon")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        Credentials(TOKEN, token_type="two words")


def test_credentials_are_immutable_values():
    credentials = refreshable()
    with pytest.raises(AttributeError):
        credentials.token_type = "MAC"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        credentials._access_token = Secret("x")  # type: ignore[misc]
    assert credentials == refreshable()
    assert hash(credentials) == hash(refreshable())
    assert credentials != refreshable(expires_at=NOW)
    assert isinstance(credentials.refresh_token, Secret)
    assert credentials.refresh_token.reveal() == REFRESH
    assert isinstance(credentials.client_secret, Secret)


# -- the JS SDK's init shapes ---------------------------------------------------------------------

TOKEN_OBJECT = {
    "access_token": TOKEN,
    "token_type": "Bearer",
    "expires_in": 3600,
    "refresh_token": REFRESH,
    "refresh_token_expires_in": 86400,
    "client_id": CLIENT,
    "client_secret": SECRET,
    "redirect_uri": "https://app.example/callback",
    "scope": "spark:all spark:kms",
}


@pytest.mark.parametrize(
    "shape",
    [
        pytest.param(TOKEN_OBJECT, id="token-object"),
        pytest.param({"authorization": TOKEN_OBJECT}, id="authorization"),
        pytest.param({"supertoken": TOKEN_OBJECT}, id="supertoken"),
        pytest.param({"supertoken": {"supertoken": TOKEN_OBJECT}}, id="supertoken.supertoken"),
        pytest.param({"authorization": {"supertoken": TOKEN_OBJECT}}, id="authorization.super"),
    ],
)
def test_from_init_accepts_every_js_shape_of_a_token_object(shape):
    credentials = Credentials.from_init(shape, now=NOW)
    assert credentials.access_token == TOKEN
    assert credentials.expires_at == NOW + 3600
    assert credentials.refresh_token_expires_at == NOW + 86400
    assert credentials.refresh_token == Secret(REFRESH)
    assert credentials.client_secret == Secret(SECRET)
    assert credentials.client_id == CLIENT
    assert credentials.redirect_uri == "https://app.example/callback"
    assert credentials.scope == "spark:all spark:kms"
    assert credentials.can_refresh


@pytest.mark.parametrize(
    "shape",
    [
        TOKEN,
        f"Bearer {TOKEN}",
        {"access_token": f"bearer  {TOKEN}"},
        {"authorization": TOKEN},
        {"supertoken": f"Bearer {TOKEN}"},
        {"authorization": {"supertoken": {"access_token": TOKEN}}},
    ],
)
def test_from_init_accepts_bare_strings_anywhere_the_js_sdk_does(shape):
    credentials = Credentials.from_init(shape, now=NOW)
    assert credentials.authorization == f"Bearer {TOKEN}"
    assert credentials.expires_at is None
    assert not credentials.can_refresh


@pytest.mark.parametrize(
    ("fields", "expires_at"),
    [
        ({"expires": 1_700_003_600_000}, 1_700_003_600.0),  # JS milliseconds
        ({"expires": 1_700_003_600}, 1_700_003_600.0),  # unix seconds
        ({"expires": 1_700_003_600_000, "expires_in": 5}, 1_700_003_600.0),  # expires wins
        ({"expires_in": "120"}, NOW + 120),
        ({"expires_in": 0}, NOW),
        ({}, None),
        ({"expires_in": None}, None),
    ],
)
def test_from_init_expiry(fields, expires_at):
    credentials = Credentials.from_init({"access_token": TOKEN, **fields}, now=NOW)
    assert credentials.expires_at == expires_at


@pytest.mark.parametrize(
    "shape",
    [
        {},
        {"token": TOKEN},
        {"access_token": 5},
        {"access_token": ""},
        {"access_token": TOKEN, "expires_in": "soon"},
        {"access_token": TOKEN, "expires_in": float("nan")},
        {"access_token": TOKEN, "expires_in": True},
        {"access_token": TOKEN, "client_secret": 7},
        {"access_token": TOKEN, "token_type": 3},
        {"authorization": None},
        {"supertoken": {"supertoken": {"supertoken": {"supertoken": {"access_token": TOKEN}}}}},
        5,
        None,
        [TOKEN],
    ],
)
def test_from_init_refuses_unknown_shapes_without_leaking_the_token(shape):
    with pytest.raises(ConfigurationError) as caught:
        Credentials.from_init(shape, now=NOW)
    assert_no_secret(str(caught.value))
    assert_no_secret(repr(caught.value))


# -- org id ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "org_id"),
    [
        (TOKEN, ORG),
        ("abc_PF84_org-1", "org-1"),
        (jwt({"realm": ORG, "sub": "guest"}), ORG),
        (jwt({"realm": "with_under_scores"}), "with_under_scores"),
        (jwt({"sub": "x"}), None),  # a JWT without realm, and not three '_' parts
        (jwt({"realm": 42}), None),
        ("a.!!!notbase64.c", None),
        ("abc_def", None),
        ("a_b_c_d", None),
        ("abc_PF84_", None),
        ("plain", None),
    ],
)
def test_org_id_from_jwt_realm_or_three_part_token(token, org_id):
    assert Credentials(token).org_id == org_id


# -- expiry and refresh timing ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expires_at", "now", "expired"),
    [(None, NOW, False), (NOW + 1, NOW, False), (NOW, NOW, True), (NOW - 1, NOW, True)],
)
def test_expiry(expires_at, now, expired):
    credentials = Credentials(TOKEN, expires_at=expires_at)
    assert credentials.is_expired(now) is expired
    assert credentials.can_authorize(now) is not expired


@pytest.mark.parametrize(
    ("credentials", "fraction", "delay"),
    [
        (refreshable(expires_at=NOW + 1000), 0.6, 600.0),
        (refreshable(expires_at=NOW + 1000), 0.9, 900.0),
        (refreshable(expires_at=NOW - 5), 0.75, 0.0),
        (refreshable(expires_at=None), 0.75, None),
        (Credentials(TOKEN, expires_at=NOW + 1000), 0.75, None),  # cannot refresh
        (refreshable(client_secret=None), 0.75, None),
        (refreshable(client_id=None), 0.75, None),
    ],
)
def test_refresh_delay(credentials, fraction, delay):
    assert credentials.refresh_delay(NOW, fraction) == pytest.approx(delay)


def test_refresh_delay_refuses_a_fraction_outside_zero_to_one():
    with pytest.raises(ConfigurationError):
        refreshable().refresh_delay(NOW, 1.5)


# -- the refresh grant ----------------------------------------------------------------------------


def test_refresh_request_wire_form():
    request = refreshable().refresh_request(TOKEN_URL)
    assert request.method == "POST"
    assert request.url == TOKEN_URL
    assert request.step == "credentials.refresh"
    assert request.timeout is None
    assert request.body is not None
    assert parse_qsl(request.body.decode("ascii")) == [
        ("grant_type", "refresh_token"),
        ("redirect_uri", "https://app.example/callback"),
        ("refresh_token", REFRESH),
    ]
    basic = base64.b64encode(f"{CLIENT}:{SECRET}".encode()).decode()
    assert request.headers == (
        ("content-type", "application/x-www-form-urlencoded"),
        ("authorization", f"Basic {basic}"),
    )


def test_refresh_request_without_redirect_uri():
    request = refreshable(redirect_uri=None).refresh_request(TOKEN_URL)
    assert request.body == f"grant_type=refresh_token&refresh_token={REFRESH}".encode()


def test_refresh_request_needs_refresh_token_and_client():
    for credentials in (Credentials(TOKEN), refreshable(client_secret=None)):
        with pytest.raises(NotAuthorizedError):
            credentials.refresh_request(TOKEN_URL)


def test_refreshed_takes_the_new_token_and_keeps_the_old_refresh_token():
    old = refreshable(refresh_token_expires_at=NOW + 86400)
    fresh = old.refreshed(token_response(access_token=NEW_TOKEN, expires_in=7200), now=NOW + 10)
    assert fresh.access_token == NEW_TOKEN
    assert fresh.expires_at == NOW + 10 + 7200
    assert fresh.refresh_token == Secret(REFRESH)
    assert fresh.refresh_token_expires_at == NOW + 86400
    assert (fresh.client_id, fresh.client_secret) == (CLIENT, Secret(SECRET))
    assert fresh.redirect_uri == old.redirect_uri
    assert fresh.token_type == "Bearer"


def test_refreshed_takes_a_new_refresh_token_and_its_expiry():
    old = refreshable(refresh_token_expires_at=NOW + 86400)
    answer = token_response(
        access_token=NEW_TOKEN,
        expires_in=3600,
        refresh_token=NEW_REFRESH,
        refresh_token_expires_in=1000,
        token_type="Bearer",
        scope="spark:all",
    )
    fresh = old.refreshed(answer, now=NOW)
    assert fresh.refresh_token == Secret(NEW_REFRESH)
    assert fresh.refresh_token_expires_at == NOW + 1000
    assert fresh.scope == "spark:all"


@pytest.mark.parametrize(
    ("status", "body", "words"),
    [
        (400, {"error": "invalid_grant", "error_description": "expired"}, "invalid_grant"),
        (401, {"error": "invalid_client"}, "invalid_client"),
        (500, {"message": "boom"}, "boom"),
        (400, {"error": "invalid_grant", "error_description": f"bad {REFRESH}"}, "invalid_grant"),
    ],
)
def test_refreshed_error_status_is_a_token_refresh_error(status, body, words):
    response = HttpResponse(status=status, body=json.dumps(body).encode())
    with pytest.raises(TokenRefreshError) as caught:
        refreshable().refreshed(response, now=NOW)
    assert words in str(caught.value)
    assert str(status) in str(caught.value)
    assert caught.value.step == "credentials.refresh"
    assert_no_secret(str(caught.value))
    assert_no_secret(repr(caught.value))


def test_refreshed_error_with_a_non_json_body():
    with pytest.raises(TokenRefreshError, match="HTTP 503"):
        refreshable().refreshed(HttpResponse(status=503, body=b"<html>"), now=NOW)


def test_refreshed_same_token_is_refused():
    with pytest.raises(TokenRefreshError, match="new token matches current token"):
        refreshable().refreshed(token_response(access_token=TOKEN, expires_in=60), now=NOW)


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        json.dumps({"expires_in": 60}).encode(),
        json.dumps({"access_token": ""}).encode(),
        json.dumps({"access_token": 5}).encode(),
        json.dumps({"access_token": NEW_TOKEN, "expires_in": "soon"}).encode(),
        json.dumps({"access_token": "a b c"}).encode(),
        json.dumps({"access_token": NEW_TOKEN, "refresh_token": 5}).encode(),
    ],
)
def test_refreshed_malformed_body_is_a_remote_protocol_error(body):
    with pytest.raises(RemoteProtocolError) as caught:
        refreshable().refreshed(HttpResponse(status=200, body=body), now=NOW)
    assert_no_secret(str(caught.value))


# -- secrecy ------------------------------------------------------------------------------------


def test_repr_and_str_never_show_a_secret():
    credentials = refreshable()
    for text in (repr(credentials), str(credentials), f"{credentials}"):
        assert_no_secret(text)
        assert "can_refresh=True" in text
        assert ORG in text  # the org id is not a secret
    request = credentials.refresh_request(TOKEN_URL)
    assert_no_secret(repr(request))
    assert_no_secret(str(request))


def test_credentials_are_not_picklable():
    import pickle

    with pytest.raises(TypeError):
        pickle.dumps(refreshable())


# -- who may see the token ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://webex.com/x", True),
        ("https://wdm-a.wbx2.com/wdm/api/v1/devices", True),
        ("https://WEBEXAPIS.COM/v1/people/me", True),
        ("https://u2c.wbx2.com:443/u2c/api/v1", True),
        ("https://a.b.ciscospark.com./x", True),
        ("http://webex.com/x", False),  # real hosts only over https
        ("ws://mercury.wbx2.com/x", False),  # the Mercury frame obeys the same rule
        ("wss://mercury.wbx2.com/x", True),
        ("https://evilwebex.com/x", False),
        ("https://webex.com.evil.com/x", False),
        ("https://webex.com@evil.com/x", False),
        ("https://evil.com@webex.com/x", False),  # userinfo is never trusted
        ("https://user:pw@webex.com/x", False),
        ("https://evil.com\\@webex.com/x", False),
        ("https://evil.com\\.webex.com/x", False),
        ("https://evil.com/?u=https://webex.com", False),
        ("https://evil.com/webex.com", False),
        ("https://evil.com#.webex.com", False),
        ("https://%77ebex.com/x", False),
        ("https://webex.com:99999/x", False),
        ("https://[::1/x", False),
        ("https://web ex.com/x", False),
        ("https://webex.com\x00.evil.com/x", False),
        ("ftp://webex.com/x", False),
        ("//webex.com/x", False),
        ("webex.com", False),
        ("", False),
        ("https://127.0.0.1:8080/x", False),
    ],
)
def test_allowed_domains_use_a_dot_boundary(url, allowed):
    refusal = token_refusal(url, allowed_domains=DEFAULT_ALLOWED_DOMAINS, extra_hosts=())
    assert (refusal is None) is allowed


@pytest.mark.parametrize(
    ("url", "extra_hosts", "allowed"),
    [
        ("http://127.0.0.1:8080/wdm", ("127.0.0.1:8080",), True),
        ("ws://127.0.0.1:8080/mercury", ("127.0.0.1:8080",), True),
        ("wss://127.0.0.1:8080/mercury", ("127.0.0.1:8080",), True),
        ("http://127.0.0.1:8081/wdm", ("127.0.0.1:8080",), False),
        ("http://127.0.0.1:9/wdm", ("127.0.0.1",), True),
        ("http://LOCALHOST:8080/x", ("localhost:8080",), True),
        ("http://localhost/x", ("localhost:80",), True),
        ("http://[::1]:8080/x", ("[::1]:8080",), True),
        ("http://127.0.0.1.evil.com:8080/x", ("127.0.0.1:8080",), False),
        ("http://evil.com:8080/x", ("127.0.0.1:8080",), False),
        ("http://127.0.0.1:8080@evil.com/x", ("127.0.0.1:8080",), False),
        ("ftp://127.0.0.1:8080/x", ("127.0.0.1:8080",), False),
    ],
)
def test_extra_hosts_match_host_or_host_and_port(url, extra_hosts, allowed):
    assert (token_refusal(url, allowed_domains=(), extra_hosts=extra_hosts) is None) is allowed


def test_empty_allowed_domain_matches_nothing():
    assert token_refusal("https://evil.com/", allowed_domains=("", "."), extra_hosts=())


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://u2c.wbx2.com/x", "http:// is not encrypted"),
        ("ws://mercury.wbx2.com/x", "ws:// is not encrypted"),
        ("wss://evil.example/x", "evil.example is neither under an allowed domain"),
        ("https://user@webex.com/x", "the URL carries user information"),
        ("ftp://webex.com/x", "ftp cannot carry a secret"),
        ("https://webex.com:99999/x", "the URL cannot be parsed"),
        ("https://web ex.com/", "whitespace"),
    ],
)
def test_a_refusal_says_why(url, reason):
    refusal = token_refusal(url, allowed_domains=DEFAULT_ALLOWED_DOMAINS, extra_hosts=())
    assert refusal is not None
    assert reason in refusal


def test_a_refused_destination_is_a_typed_error_naming_the_host_and_the_rule():
    with pytest.raises(TokenWithheldError) as caught:
        check_token_destination(
            "ws://evil.example:8080/mercury?token=abc",
            allowed_domains=DEFAULT_ALLOWED_DOMAINS,
            extra_hosts=(),
            step="mercury.connect",
        )
    error = caught.value
    assert error.host == "evil.example"
    assert error.url == "ws://evil.example:8080"  # no path or query
    assert error.rule == TOKEN_RULE
    assert error.step == "mercury.connect"
    assert "evil.example" in str(error)
    assert TOKEN_RULE in str(error)
    assert "abc" not in str(error)


@given(st.text(max_size=60))
def test_token_refusal_never_raises_and_never_allows_unknown_hosts(url):
    if token_refusal(url, allowed_domains=("webex.com",), extra_hosts=("127.0.0.1:1",)) is None:
        assert url.lower().startswith(("https://", "http://", "ws://", "wss://"))


# -- fuzz: only our documented errors escape -------------------------------------------------

JSON_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True)
    | st.text(max_size=20)
    | st.sampled_from([TOKEN, f"Bearer {TOKEN}", REFRESH, "access_token", "supertoken"])
)
JSON_KEYS = st.sampled_from(
    [*TOKEN_OBJECT, "authorization", "supertoken", "expires", "other"]
) | st.text(max_size=8)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(JSON_KEYS, inner, max_size=6),
    max_leaves=20,
)


@given(JSON_VALUES)
def test_fuzz_from_init(value):
    try:
        credentials = Credentials.from_init(value, now=NOW)
    except ConfigurationError as exc:
        assert_no_secret(str(exc))
        return
    assert credentials.access_token
    assert_no_secret(repr(credentials))


@given(
    st.sampled_from([200, 201, 204, 400, 401, 403, 429, 500]),
    JSON_VALUES.map(lambda v: json.dumps(v).encode()) | st.binary(max_size=40),
)
def test_fuzz_refreshed(status, body):
    try:
        refreshable().refreshed(HttpResponse(status=status, body=body), now=NOW)
    except (RemoteProtocolError, TokenRefreshError) as exc:
        assert_no_secret(str(exc))
        assert_no_secret(repr(exc))
