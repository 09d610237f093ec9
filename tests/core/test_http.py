"""HTTP values: no credential in a repr, JSON errors are ours, statuses map to typed errors."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webex_meetings.core.errors import (
    AuthorizationError,
    DeviceLimitError,
    HttpStatusError,
    RateLimitedError,
    RemoteProtocolError,
)
from webex_meetings.core.http import (
    HttpRequest,
    HttpResponse,
    error_for_status,
    header_value,
    parse_retry_after,
)
from webex_meetings.core.redaction import REDACTED

TOKEN = "T1BBUVVFLUFDQ0VTUy1UT0tFTi1FWEFNUExF_PF84_1eb65fdf-9643-417f-9974-ad72cae0e10f"
TRACKING = "webex-meetings-py_2e200ff0-5907-4ec7-8c97-8283a730190c_6"
DEVICE_POST = HttpRequest(
    "POST",
    "https://wdm-a.wbx2.com/wdm/api/v1/devices?includeUpstreamServices=all",
    headers=(("Authorization", f"Bearer {TOKEN}"), ("trackingid", TRACKING)),
    body=b'{"name":"python","deviceType":"WEB"}',
    step="device.register",
)


def _response(
    status: int, body: object = None, headers: tuple[tuple[str, str], ...] = ()
) -> HttpResponse:
    raw = (
        body if isinstance(body, bytes) else json.dumps(body).encode() if body is not None else b""
    )
    return HttpResponse(status, headers=headers, body=raw)


# -- headers and reprs ---------------------------------------------------------------------


def test_header_lookup_is_case_insensitive_and_first_wins() -> None:
    headers = (("Retry-After", "5"), ("retry-after", "9"))
    assert header_value(headers, "RETRY-AFTER") == "5"
    assert header_value(headers, "missing") is None
    assert DEVICE_POST.header("TrackingID") == TRACKING


def test_request_repr_hides_authorization() -> None:
    request = HttpRequest(
        "POST",
        f"https://idbroker.webex.com/idb/oauth2/v1/access_token?access_token={TOKEN}",
        headers=(
            ("authorization", f"Bearer {TOKEN}"),
            ("Proxy-Authorization", "Basic Y2xpZW50OnNlY3JldA=="),
            ("Cookie", "session=abc"),
            ("x-custom", f"Bearer {TOKEN}"),
            ("trackingid", TRACKING),
        ),
        body=f"grant_type=refresh_token&refresh_token={TOKEN}".encode(),
    )
    text = repr(request)
    assert TOKEN not in text
    assert "Y2xpZW50OnNlY3JldA==" not in text
    assert "session=abc" not in text
    assert f"('authorization', '{REDACTED}')" in text
    assert TRACKING in text  # not a secret: kept for debugging


def test_response_repr_hides_tokens_in_headers_and_body() -> None:
    response = _response(
        200,
        {"access_token": TOKEN, "expires_in": 1209599},
        headers=(("Set-Cookie", "sid=abcdef"), ("content-type", "application/json")),
    )
    text = repr(response)
    assert TOKEN not in text
    assert "sid=abcdef" not in text
    assert "expires_in" in text


@pytest.mark.parametrize("cut", range(150, 260, 7))
def test_response_repr_never_shows_part_of_a_token_cut_at_the_limit(cut: int) -> None:
    body = json.dumps({"padding": "p" * cut, "access_token": TOKEN}).encode()
    text = repr(HttpResponse(200, body=body))
    assert TOKEN[:12] not in text


def test_response_extensions_are_not_compared_or_shown() -> None:
    a = HttpResponse(200, body=b"{}", extensions={"http_version": "HTTP/1.1"})
    assert a == HttpResponse(200, body=b"{}")
    assert "HTTP/1.1" not in repr(a)


def test_request_helpers() -> None:
    assert DEVICE_POST.host == "wdm-a.wbx2.com"
    assert DEVICE_POST.json() == {"name": "python", "deviceType": "WEB"}
    assert HttpRequest("DELETE", "http://127.0.0.1:8080/x").json() is None
    assert HttpRequest("GET", "http://127.0.0.1:8080/x").host == "127.0.0.1:8080"


# -- JSON bodies ---------------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 204, 299])
def test_ok(status: int) -> None:
    assert HttpResponse(status).ok


@pytest.mark.parametrize("status", [199, 300, 401, 500])
def test_not_ok(status: int) -> None:
    assert not HttpResponse(status).ok


def test_json_object() -> None:
    assert _response(200, {"url": "u"}).json_object() == {"url": "u"}
    assert _response(200, [1]).json() == [1]


BAD_JSON = {
    "empty": b"",
    "not json": b"<html>502 Bad Gateway</html>",
    "truncated": b'{"url": "https://wdm',
    "not utf-8": b'{"a": "\xff\xfe"}',
    "deeply nested": b"[" * 100_000,
}


@pytest.mark.parametrize("body", BAD_JSON.values(), ids=BAD_JSON.keys())
def test_json_errors_are_remote_protocol_errors(body: bytes) -> None:
    response = HttpResponse(200, body=body)
    with pytest.raises(RemoteProtocolError) as caught:
        response.json(step="catalog")
    assert caught.value.step == "catalog"
    assert caught.value.__cause__ is None
    with pytest.raises(RemoteProtocolError):
        response.json_object()


@pytest.mark.parametrize("body", [[], "s", 1, None, True], ids=repr)
def test_json_object_refuses_other_values(body: object) -> None:
    with pytest.raises(RemoteProtocolError, match="expected a JSON object") as caught:
        HttpResponse(200, body=json.dumps(body).encode()).json_object(step="device.register")
    assert caught.value.step == "device.register"


def test_json_error_never_echoes_the_body() -> None:
    with pytest.raises(RemoteProtocolError) as caught:
        HttpResponse(200, body=f'{{"access_token": "{TOKEN}"'.encode()).json()
    assert TOKEN not in str(caught.value)


@given(st.binary(max_size=200))
def test_json_raises_only_remote_protocol_error(body: bytes) -> None:
    try:
        value = HttpResponse(200, body=body).json_object()
    except RemoteProtocolError:
        return
    assert isinstance(value, dict)


# -- Retry-After ---------------------------------------------------------------------------

RETRY_AFTER = {
    "absent": (None, None),
    "seconds": ("120", 120.0),
    "zero": ("0", 0.0),
    "fraction": ("1.5", 1.5),
    "padded": ("  7 \t", 7.0),
    "empty": ("", None),
    "negative": ("-1", None),
    "nan": ("nan", None),
    "infinity": ("inf", None),
    "overflow": ("1e400", None),
    "http date": ("Wed, 21 Oct 2015 07:28:00 GMT", None),
    "garbage": ("soon", None),
}


@pytest.mark.parametrize(("value", "expected"), RETRY_AFTER.values(), ids=RETRY_AFTER.keys())
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value) == expected


@given(st.text())
def test_parse_retry_after_never_raises(value: str) -> None:
    seconds = parse_retry_after(value)
    assert seconds is None or (math.isfinite(seconds) and seconds >= 0)


# -- error_for_status ----------------------------------------------------------------------

STATUS_CLASSES = {
    400: HttpStatusError,
    401: AuthorizationError,
    403: AuthorizationError,
    404: HttpStatusError,
    429: RateLimitedError,
    500: HttpStatusError,
    503: HttpStatusError,
}


@pytest.mark.parametrize(("status", "cls"), STATUS_CLASSES.items())
def test_status_maps_to_class(status: int, cls: type[HttpStatusError]) -> None:
    error = error_for_status(DEVICE_POST, _response(status, {"message": "nope"}))
    assert type(error) is cls
    assert error.status == status
    assert (error.method, error.step) == ("POST", "device.register")
    assert error.tracking_id == TRACKING
    assert error.server_message == "nope"
    assert str(error) == f"POST {DEVICE_POST.url} answered {status}: nope (step: device.register)"


def test_rate_limited_carries_retry_after() -> None:
    error = error_for_status(DEVICE_POST, _response(429, headers=(("Retry-After", "30"),)))
    assert isinstance(error, RateLimitedError)
    assert error.retry_after == 30.0
    assert error.server_message is None
    assert str(error).endswith("answered 429 (step: device.register)")


EXCESSIVE = "User has excessive device registrations"


@pytest.mark.parametrize("status", [400, 403, 409])
def test_excessive_device_registrations_is_a_device_limit_error(status: int) -> None:
    error = error_for_status(DEVICE_POST, _response(status, {"message": EXCESSIVE}))
    assert isinstance(error, DeviceLimitError)
    assert error.server_message == EXCESSIVE


def test_device_limit_wins_over_authorization_and_ignores_case() -> None:
    error = error_for_status(DEVICE_POST, _response(403, {"error": {"message": EXCESSIVE.upper()}}))
    assert isinstance(error, DeviceLimitError)
    assert not isinstance(error, AuthorizationError)


def test_rate_limit_wins_over_device_limit() -> None:
    error = error_for_status(DEVICE_POST, _response(429, {"message": EXCESSIVE}))
    assert isinstance(error, RateLimitedError)


MESSAGES = {
    "message first": ({"error": "e", "message": "m", "errorString": "s"}, "m"),
    "error next": ({"errorString": "s", "error": "e"}, "e"),
    "errorString": ({"msg": "x", "errorString": "s"}, "s"),
    "response": ({"msg": "x", "response": "r"}, "r"),
    "errorResponse": ({"msg": "x", "errorResponse": "er"}, "er"),
    "msg": ({"msg": "x"}, "x"),
    "nested": ({"error": {"message": "inner"}}, "inner"),
    "empty message skipped": ({"message": "", "error": "e"}, "e"),
    "non-string skipped": ({"message": 5, "error": "e"}, "e"),
    "inside a list": ({"errors": [{"description": "d"}, {"message": "m"}]}, "m"),
    "other nested object": ({"details": {"msg": "deep"}}, "deep"),
    "plain string body": ("just text", "just text"),
    "no message": ({"code": 1}, None),
    "null": (None, None),
}


@pytest.mark.parametrize(("body", "message"), MESSAGES.values(), ids=MESSAGES.keys())
def test_message_extraction(body: object, message: str | None) -> None:
    raw = json.dumps(body).encode()
    assert error_for_status(DEVICE_POST, HttpResponse(500, body=raw)).server_message == message


def test_non_json_body_is_the_message() -> None:
    error = error_for_status(DEVICE_POST, HttpResponse(502, body=b"<html>bad gateway</html>"))
    assert error.server_message == "<html>bad gateway</html>"
    assert error_for_status(DEVICE_POST, HttpResponse(502)).server_message is None
    nested = error_for_status(DEVICE_POST, HttpResponse(500, body=b"[" * 100_000))
    assert type(nested) is HttpStatusError


def test_long_messages_are_cut_after_redaction() -> None:
    body = {"message": "x" * 280 + f' {{"token": "{TOKEN}"}}'}
    error = error_for_status(DEVICE_POST, _response(400, body))
    assert error.server_message is not None
    assert len(error.server_message) <= 300
    assert TOKEN[:8] not in str(error)


def test_secrets_in_url_and_message_are_redacted() -> None:
    request = HttpRequest("GET", f"https://x.webex.com/cb?access_token={TOKEN}", step="oauth")
    error = error_for_status(request, _response(401, {"message": f"bad token Bearer {TOKEN}"}))
    assert TOKEN not in str(error)
    assert TOKEN not in repr(error)
    assert TOKEN not in error.url
    assert error.tracking_id is None
    assert error.step == "oauth"


def test_request_without_step_gives_no_step() -> None:
    error = error_for_status(HttpRequest("GET", "https://a.wbx2.com/"), HttpResponse(500))
    assert error.step is None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
message_keys = st.sampled_from(["message", "error", "errorString", "response", "msg", "x"])
bodies = (
    st.binary(max_size=300)
    | json_values.map(lambda v: json.dumps(v).encode())
    | st.dictionaries(message_keys, json_values, max_size=4).map(lambda v: json.dumps(v).encode())
)
headers = st.lists(
    st.tuples(
        st.sampled_from(["retry-after", "Retry-After", "trackingid", "x"]), st.text(max_size=30)
    ),
    max_size=3,
).map(tuple)


@given(status=st.integers(min_value=-1000, max_value=1000), body=bodies, response_headers=headers)
def test_error_for_status_always_returns_an_error(
    status: int, body: bytes, response_headers: tuple[tuple[str, str], ...]
) -> None:
    error = error_for_status(DEVICE_POST, HttpResponse(status, headers=response_headers, body=body))
    assert isinstance(error, HttpStatusError)
    assert error.status == status
    assert error.tracking_id == TRACKING
    assert error.retry_after is None or error.retry_after >= 0
    if status in (401, 403):
        assert isinstance(error, (AuthorizationError, DeviceLimitError))
    if status == 429:
        assert isinstance(error, RateLimitedError)
    assert f"answered {status}" in str(error)
    assert type(error).__name__ in repr(error)
