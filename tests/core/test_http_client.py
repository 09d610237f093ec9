"""Request decoration: a pure function the session and the device tools share."""

from __future__ import annotations

import pytest

from webex_meetings.core.config import SessionConfig
from webex_meetings.core.errors import TokenWithheldError
from webex_meetings.core.http import HttpRequest
from webex_meetings.core.http_client import decorate_request

CONFIG = SessionConfig.for_cloud("http://127.0.0.1:9999", http_timeout=7.0)
REQUEST = HttpRequest(
    "POST", "http://127.0.0.1:9999/wdm/api/v1/devices", (("content-type", "x"),), b"{}"
)


def test_an_authorized_request_gets_every_webex_header_then_its_own() -> None:
    decorated = decorate_request(
        REQUEST,
        CONFIG,
        tracking_id="t_1",
        authorization="Bearer abc",
        device_url="http://127.0.0.1:9999/wdm/api/v1/devices/1",
    )
    names = [name for name, _ in decorated.headers]
    assert names == [
        "trackingid",
        "spark-user-agent",
        "user-agent",
        "cisco-no-http-redirect",
        "accept",
        "authorization",
        "cisco-device-url",
        "content-type",
    ]
    assert decorated.header("trackingid") == "t_1"
    assert decorated.header("authorization") == "Bearer abc"
    assert (decorated.method, decorated.url, decorated.body) == (
        REQUEST.method,
        REQUEST.url,
        REQUEST.body,
    )
    assert decorated.timeout == 7.0
    assert REQUEST.headers == (("content-type", "x"),)  # the input is not changed


def test_without_authorization_no_token_and_no_device_url() -> None:
    decorated = decorate_request(
        REQUEST, CONFIG, tracking_id="t", authorization=None, device_url="http://x/d"
    )
    assert decorated.header("authorization") is None
    assert decorated.header("cisco-device-url") is None


def test_client_headers_can_be_left_out_and_a_request_timeout_wins() -> None:
    request = HttpRequest("POST", "http://127.0.0.1:9999/token", timeout=3.0)
    decorated = decorate_request(
        request, CONFIG, tracking_id="t", authorization=None, client_headers=False
    )
    assert [name for name, _ in decorated.headers] == ["trackingid"]
    assert decorated.timeout == 3.0


def test_the_token_rule_is_checked_before_anything_is_built() -> None:
    foreign = HttpRequest("GET", "https://evil.example/x", step="catalog")
    with pytest.raises(TokenWithheldError) as caught:
        decorate_request(foreign, CONFIG, tracking_id="t", authorization="Bearer abc")
    assert caught.value.host == "evil.example"
    assert caught.value.step == "catalog"
    decorate_request(foreign, CONFIG, tracking_id="t", authorization=None)  # no token: fine
