"""The WDM device: request wire forms, reading registrations, etags, feature toggles, the
device limit and pruning our own old devices."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webex_meetings.core.config import DeviceConfig
from webex_meetings.core.device import (
    DeviceRegistration,
    delete_request,
    devices_to_prune,
    is_device_limit,
    list_request,
    parse_features,
    parse_registration,
    refresh_request,
    register_request,
    registration_body,
)
from webex_meetings.core.errors import ConfigurationError, RemoteProtocolError
from webex_meetings.core.events import DeviceInfo
from webex_meetings.core.http import HttpResponse

WDM = "https://wdm-a.wbx2.com/wdm/api/v1"
DEVICE_URL = f"{WDM}/devices/2fc36726-992f-421f-9325-d352399d1d4a"
WS_URL = "wss://mercury-connection-a.wbx2.com/v1/apps/wx2/registrations/2fc36726/messages"
CONFIG = DeviceConfig()
PERMANENT = DeviceConfig(ephemeral=False)

REGISTRATION: dict[str, Any] = {
    "url": DEVICE_URL,
    "webSocketUrl": WS_URL,
    "userId": "88888888-4444-4444-4444-aaaaaaaaaaaa",
    "deviceType": "WEB",
    "name": "webex-meetings-python",
    "model": "webex-meetings-python",
    "modificationTime": "2026-11-25T23:10:09.791Z",
    "services": {"wdmServiceUrl": WDM},
    "serviceHostMap": {"serviceLinks": {"wdm": WDM}, "hostCatalog": {}},
    "mediaCluster": {"id": "x"},
    "customerCompanyName": "Example",
    "ipNetworkDetector": {"firstIpV4": -1},
    "features": {
        "developer": [
            {"key": "web-high-availability", "val": "true", "mutable": True},
            {"key": "web-shared-mercury", "val": "false"},
            {"key": "max-things", "val": "12"},
            {"key": "ratio", "val": "0.25"},
            {"key": "label", "val": "blue"},
        ],
        "entitlement": [{"key": "squared-call-initiation", "val": "true"}],
        "user": [{"key": "user-pref", "value": "7"}],
    },
}


def answer(body: Any, status: int = 200, etag: str | None = None) -> HttpResponse:
    headers = (("content-type", "application/json"),)
    if etag is not None:
        headers += (("etag", etag),)
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return HttpResponse(status=status, headers=headers, body=raw)


# -- request wire forms ---------------------------------------------------------------------------


def test_registration_body_ephemeral_and_permanent():
    base = {
        "name": "webex-meetings-python",
        "deviceType": "WEB",
        "model": "webex-meetings-python",
        "localizedModel": "webex-meetings",
        "systemName": "WEBEX_MEETINGS_PY",
        "systemVersion": CONFIG.system_version,
    }
    assert registration_body(CONFIG) == {**base, "ttl": 1800}
    assert registration_body(PERMANENT) == base
    extra = replace(CONFIG, extra_body=(("name", "node"), ("clientTag", 1)))
    assert registration_body(extra) == {**base, "ttl": 1800, "name": "node", "clientTag": 1}


def test_register_request_wire_form():
    request = register_request(WDM + "/", CONFIG)
    assert request.method == "POST"
    assert request.url == f"{WDM}/devices?includeUpstreamServices=all"
    assert request.headers == (("content-type", "application/json"),)
    assert request.step == "device.register"
    assert request.timeout is None
    assert request.body is not None
    assert request.body.decode() == (
        '{"name":"webex-meetings-python","deviceType":"WEB","model":"webex-meetings-python",'
        '"localizedModel":"webex-meetings","systemName":"WEBEX_MEETINGS_PY",'
        f'"systemVersion":"{CONFIG.system_version}","ttl":1800}}'
    )


def test_register_request_upstream_services_value():
    config = replace(PERMANENT, include_upstream_services="features,energyforecast")
    request = register_request(WDM, config)
    assert request.url == f"{WDM}/devices?includeUpstreamServices=features,energyforecast"
    assert "ttl" not in request.json()


def test_register_request_refuses_a_body_json_cannot_encode():
    with pytest.raises(ConfigurationError):
        register_request(WDM, replace(CONFIG, extra_body=(("x", object()),)))
    with pytest.raises(ConfigurationError):
        register_request(WDM, replace(CONFIG, extra_body=(("x", float("nan")),)))


def test_refresh_request_wire_form():
    device = parse_registration(answer(REGISTRATION, etag='W/"abc"'))
    request = refresh_request(device, replace(CONFIG, extra_body=(("clientTag", "t"),)))
    assert request.method == "PUT"
    assert request.url == f"{DEVICE_URL}?includeUpstreamServices=all"
    assert request.headers == (
        ("content-type", "application/json"),
        ("If-None-Match", 'W/"abc"'),
    )
    assert request.step == "device.refresh"
    body = request.json()
    expected = {
        key: value
        for key, value in REGISTRATION.items()
        if key not in ("services", "serviceHostMap", "features", "mediaCluster")
    }
    assert body == {**expected, "ttl": 1800, "clientTag": "t"}


def test_refresh_request_without_etag_and_permanent():
    device = parse_registration(answer({"url": f"{DEVICE_URL}?a=1", "webSocketUrl": WS_URL}))
    request = refresh_request(device, PERMANENT)
    assert request.url == f"{DEVICE_URL}?a=1&includeUpstreamServices=all"
    assert request.headers == (("content-type", "application/json"),)
    assert request.json() == {"url": f"{DEVICE_URL}?a=1", "webSocketUrl": WS_URL}


def test_delete_and_list_requests():
    delete = delete_request(DEVICE_URL)
    assert (delete.method, delete.url, delete.body, delete.headers) == (
        "DELETE",
        DEVICE_URL,
        None,
        (),
    )
    assert delete.step == "device.unregister"
    listing = list_request(WDM + "/")
    assert (listing.method, listing.url, listing.body, listing.headers) == (
        "GET",
        f"{WDM}/devices",
        None,
        (),
    )
    assert listing.step == "device.list"


# -- reading registrations -------------------------------------------------------------------------


def test_parse_registration():
    device = parse_registration(answer(REGISTRATION, etag="e1"))
    assert device.url == DEVICE_URL
    assert device.web_socket_url == WS_URL
    assert device.etag == "e1"
    assert device.info.features == {
        "developer": {
            "web-high-availability": True,
            "web-shared-mercury": False,
            "max-things": 12,
            "ratio": 0.25,
            "label": "blue",
        },
        "entitlement": {"squared-call-initiation": True},
        "user": {"user-pref": 7},
    }
    assert "services" not in device.raw
    assert "serviceHostMap" not in device.raw
    assert device.raw["customerCompanyName"] == "Example"
    assert "raw" not in repr(device)
    assert device.info == DeviceInfo(
        url=DEVICE_URL,
        web_socket_url=WS_URL,
        user_id="88888888-4444-4444-4444-aaaaaaaaaaaa",
        device_type="WEB",
        name="webex-meetings-python",
        modification_time="2026-11-25T23:10:09.791Z",
        features=device.info.features,
    )


def test_parse_registration_minimal_and_http_web_socket_url():
    device = parse_registration(
        answer({"url": "http://127.0.0.1:1/wdm/d/1", "webSocketUrl": "ws://127.0.0.1:1/m"})
    )
    assert device == DeviceRegistration(
        DeviceInfo(url="http://127.0.0.1:1/wdm/d/1", web_socket_url="ws://127.0.0.1:1/m")
    )


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("true", True),
        ("false", False),
        ("True", "True"),
        ("12", 12),
        ("-3", -3),
        ("1.5", 1.5),
        ("1e3", 1000.0),
        (" 7 ", 7),
        ("", ""),
        ("1" * 5000, "1" * 5000),  # more digits than int() takes: stays text
        ("1e999", "1e999"),  # not finite: stays text
        ("NaN", "NaN"),
        ("0x10", "0x10"),
        ("abc", "abc"),
        (5, 5),
        (True, True),
        (None, None),
    ],
)
def test_feature_values_parse_like_the_js_feature_model(value, parsed):
    assert parse_features({"developer": [{"key": "k", "val": value}]}) == {
        "developer": {"k": parsed}
    }


def test_malformed_features_are_skipped():
    features = {"developer": [5, {"val": "1"}, {"key": 3}, {"key": "ok"}], "user": {}, 4: []}
    assert parse_features(features) == {"developer": {"ok": None}}
    assert parse_features([1]) == {}


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"not json", "not valid JSON"),
        ([], "JSON object"),
        ({"webSocketUrl": WS_URL}, "no url"),
        ({"url": DEVICE_URL}, "no webSocketUrl"),
        ({"url": 5, "webSocketUrl": WS_URL}, "no url"),
        ({"url": "/relative", "webSocketUrl": WS_URL}, "url is not an absolute URL"),
        ({"url": "ws://a/b", "webSocketUrl": WS_URL}, "url is not an absolute URL"),
        ({"url": DEVICE_URL, "webSocketUrl": "ftp://a/b"}, "webSocketUrl is not an absolute"),
        ({"url": "http://[::1/x", "webSocketUrl": WS_URL}, "url is not an absolute URL"),
    ],
)
def test_parse_registration_errors_name_the_field(body, words):
    with pytest.raises(RemoteProtocolError) as caught:
        parse_registration(answer(body), step="device.refresh")
    assert words in caught.value.message
    assert caught.value.step == "device.refresh"


def test_same_etag_without_features_keeps_previous_features():
    first = parse_registration(answer(REGISTRATION, etag="e1"))
    body = {k: v for k, v in REGISTRATION.items() if k != "features"}
    second = parse_registration(answer(body, etag="e1"), previous=first)
    assert second.info.features == first.info.features
    assert second.etag == "e1"


def test_same_etag_with_features_keeps_developer_toggles_only():
    first = parse_registration(answer(REGISTRATION, etag="e1"))
    body = {**REGISTRATION, "features": {"developer": [], "user": [{"key": "u", "val": "1"}]}}
    second = parse_registration(answer(body, etag="e1"), previous=first)
    assert second.info.features["developer"] == first.info.features["developer"]
    assert second.info.features["user"] == {"u": 1}


def test_new_etag_takes_the_new_features():
    first = parse_registration(answer(REGISTRATION, etag="e1"))
    body = {k: v for k, v in REGISTRATION.items() if k != "features"}
    assert parse_registration(answer(body, etag="e2"), previous=first).info.features == {}
    assert parse_registration(answer(body), previous=first).info.features == {}


def test_not_modified_keeps_the_previous_device():
    first = parse_registration(answer(REGISTRATION, etag="e1"))
    assert parse_registration(HttpResponse(status=304), previous=first) is first


# -- device limit ---------------------------------------------------------------------------------

LIMIT = "User has excessive device registrations"


@pytest.mark.parametrize(
    ("status", "body", "limited"),
    [
        (403, {"message": LIMIT}, True),
        (400, {"message": LIMIT.upper()}, True),
        (403, {"errorCode": 1, "message": f"{LIMIT} (750)"}, True),
        (403, {"error": {"message": [LIMIT]}}, True),
        (429, {"errorString": LIMIT}, True),
        (403, LIMIT.encode(), True),
        (403, {"message": "Forbidden"}, False),
        (403, {"other": LIMIT}, False),
        (500, {"message": LIMIT}, False),
        (200, {"message": LIMIT}, False),
        (403, b"", False),
        (403, b"\xff\xfe", False),
    ],
)
def test_is_device_limit(status, body, limited):
    assert is_device_limit(answer(body, status=status)) is limited


# -- pruning ------------------------------------------------------------------------------------


def device(n: int, when: str | None, *, name: str = CONFIG.name, kind: str = "WEB") -> dict:
    record: dict[str, Any] = {"url": f"{WDM}/devices/{n}", "name": name, "deviceType": kind}
    if when is not None:
        record["modificationTime"] = when
    return record


def listing(*devices: Any) -> HttpResponse:
    return answer({"devices": list(devices)})


def test_prune_picks_the_oldest_third_of_our_devices():
    response = listing(
        device(1, "2026-01-05T00:00:00.000Z"),
        device(2, "2026-01-01T00:00:00.000Z"),
        device(3, "2025-12-31T23:59:59Z"),
        device(4, "2026-01-03T00:00:00+00:00"),
        device(5, "2026-01-02T00:00:00.000Z"),
        device(6, "2026-01-04T00:00:00"),
        device(7, "2020-01-01T00:00:00Z", name="someone-else"),
        device(8, "2020-01-01T00:00:00Z", kind="DESKTOP"),
        device(9, "2020-01-01T00:00:00Z", name="node", kind="WEB"),
    )
    assert devices_to_prune(response, CONFIG) == [f"{WDM}/devices/3", f"{WDM}/devices/2"]


def test_prune_sorts_missing_times_first_and_never_picks_kept_devices():
    response = listing(
        device(1, "2026-01-01T00:00:00Z"),
        device(2, None),
        device(3, "garbage"),
        device(4, "2025-01-01T00:00:00Z"),
    )
    assert devices_to_prune(response, CONFIG, keep=[f"{WDM}/devices/2"]) == [f"{WDM}/devices/3"]


@pytest.mark.parametrize(
    ("count", "pruned"), [(1, 1), (2, 1), (3, 1), (4, 2), (6, 2), (7, 3), (10, 4)]
)
def test_prune_count_is_at_least_one_and_a_third_rounded_up(count, pruned):
    response = listing(*(device(n, f"2026-01-{n + 1:02d}T00:00:00Z") for n in range(count)))
    assert devices_to_prune(response, CONFIG) == [f"{WDM}/devices/{n}" for n in range(pruned)]


def test_prune_never_chooses_other_devices():
    response = listing(
        device(1, "2020-01-01T00:00:00Z", name="other"),
        device(2, "2020-01-01T00:00:00Z", kind="IOS"),
        {"url": f"{WDM}/devices/3", "deviceType": "WEB"},
        {"name": CONFIG.name, "deviceType": "WEB"},
        {"url": 5, "name": CONFIG.name, "deviceType": "WEB"},
        {"url": "ftp://x/y", "name": CONFIG.name, "deviceType": "WEB"},
        "text",
        None,
    )
    assert devices_to_prune(response, CONFIG) == []


def test_prune_lists_a_duplicated_url_once():
    response = listing(device(1, "2026-01-01T00:00:00Z"), device(1, "2026-01-01T00:00:00Z"))
    assert devices_to_prune(response, CONFIG) == [f"{WDM}/devices/1"]


@pytest.mark.parametrize("body", [b"nope", b"[]", b"{}", b'{"devices": {}}', b'{"devices": null}'])
def test_prune_malformed_listing(body):
    with pytest.raises(RemoteProtocolError) as caught:
        devices_to_prune(HttpResponse(status=200, body=body), CONFIG)
    assert caught.value.step == "device.list"


# -- fuzz ----------------------------------------------------------------------------------------

JSON_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from([DEVICE_URL, WS_URL, CONFIG.name, "WEB", "2026-01-01T00:00:00Z", "12"])
)
FIELD_NAMES = ("url", "webSocketUrl", "features", "developer", "key", "val", "name")
JSON_KEYS = st.sampled_from(
    [*FIELD_NAMES, "deviceType", "modificationTime", "devices", "message"]
) | st.text(max_size=6)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(JSON_KEYS, inner, max_size=6),
    max_leaves=25,
)
BODIES = JSON_VALUES.map(lambda v: json.dumps(v).encode()) | st.binary(max_size=40)
RESPONSES = st.builds(
    HttpResponse,
    status=st.sampled_from([200, 201, 304, 400, 403, 404, 500]),
    headers=st.sampled_from([(), (("etag", "e1"),), (("ETag", "e2"),)]),
    body=BODIES,
)
PREVIOUS = parse_registration(answer(REGISTRATION, etag="e1"))


@given(RESPONSES, st.sampled_from([None, PREVIOUS]))
def test_fuzz_parse_registration(response, previous):
    try:
        parsed = parse_registration(response, previous=previous)
    except RemoteProtocolError:
        return
    assert isinstance(parsed.url, str)
    assert isinstance(parsed.web_socket_url, str)
    assert isinstance(parsed.info.features, dict)


@given(RESPONSES, st.lists(st.sampled_from([DEVICE_URL, f"{WDM}/devices/1"]), max_size=2))
def test_fuzz_devices_to_prune(response, keep):
    try:
        chosen = devices_to_prune(response, CONFIG, keep=keep)
    except RemoteProtocolError:
        return
    assert not set(chosen) & set(keep)
    assert all(isinstance(url, str) for url in chosen)


@given(RESPONSES)
def test_fuzz_is_device_limit(response):
    assert is_device_limit(response) in (True, False)


@pytest.mark.parametrize(
    ("url", "device_id"),
    [
        (DEVICE_URL, "2fc36726-992f-421f-9325-d352399d1d4a"),
        ("http://127.0.0.1:9999/wdm/api/v1/devices/dev1", "dev1"),
        ("https://wdm-a.wbx2.com/wdm/api/v1/devices/abc/", "abc"),
        ("https://wdm-a.wbx2.com/wdm/api/v1/devices/abc?x=1#y", "abc"),
    ],
)
def test_device_id_is_the_last_segment_of_its_url(url: str, device_id: str) -> None:
    assert DeviceInfo(url=url, web_socket_url=WS_URL).id == device_id
