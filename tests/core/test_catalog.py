"""The U2C catalog: parsing, priority-host selection, merging, and the catalog and people/me
requests."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webex_meetings.core import catalog
from webex_meetings.core.catalog import (
    HostEntry,
    Person,
    ServiceCatalog,
    catalog_request,
    join_url,
    limited_catalog_request,
    parse_person,
    people_me_request,
)
from webex_meetings.core.errors import RemoteProtocolError


def entry(host: str, priority: int | None, service: str, cluster: str = "us-east-2_a") -> dict:
    return {"host": host, "ttl": -1, "priority": priority, "id": f"urn:TEAM:{cluster}:{service}"}


# A post-auth hostmap shaped like real U2C answers and the JS SDK's fixtures: each service link
# is filed under its own host, with several hosts of different priority for the home cluster
# and hosts of another cluster after them.
POSTAUTH: dict[str, Any] = {
    "serviceLinks": {
        "u2c": "https://u2c.wbx2.com/u2c/api/v1",
        "hydra": "https://webexapis.com/v1",
        "wdm": "https://wdm-a.wbx2.com/wdm/api/v1",
        "locus": "https://locus-a.wbx2.com/locus/api/v1",
        "calliopeDiscovery": "https://calliope-a.wbx2.com/calliope/api/discovery/v1",
        "metrics": "https://metrics-a.wbx2.com/metrics/api/v1",
        "conversation": "https://conv-a.wbx2.com/conversation/api/v1",
        "mercuryConnection": "https://mercury-connection-a.wbx2.com/mercury/api/v1",
        "idbroker": "https://idbroker.webex.com",
        "identity": "https://identity.webex.com",
        "broken": "not a url",
        "ftp": "ftp://files.wbx2.com/x",
        "number": 42,
    },
    "hostCatalog": {
        "u2c.wbx2.com": [entry("u2c.wbx2.com", 5, "u2c")],
        "wdm-a.wbx2.com": [
            entry("wdm-a.wbx2.com", 5, "wdm"),
            entry("wdm-r.wbx2.com", 3, "wdm"),
            entry("wdm-k.wbx2.com", 0, "wdm"),
            entry("wdm-minus.wbx2.com", -1, "wdm"),
            entry("wdm-other.wbx2.com", 1, "mercury"),  # another service: not a wdm host
        ],
        "locus-a.wbx2.com": [
            entry("locus-a.wbx2.com", 2, "locus"),
            entry("locus-tie.wbx2.com", 2, "locus"),
        ],
        "calliope-a.wbx2.com": [entry("calliope-a.wbx2.com", 0, "calliopeDiscovery")],
        "metrics-a.wbx2.com": [],
        "conv-a.wbx2.com": [entry("conv-r.wbx2.com", None, "conversation")],
        "mercury-connection-a.wbx2.com": [
            entry("mercury-connection-b.wbx2.com", 1, "mercuryConnection", "eu-central-1_k")
        ],
    },
    "format": "hostmap",
    "timestamp": "1700000000",
    "orgId": "1eb65fdf-9643-417f-9974-ad72cae0e10f",
}

# The shape the JS SDK was run against on loopback: one host:port key for every service.
BASE = "http://127.0.0.1:42237"
LOOPBACK: dict[str, Any] = {
    "serviceLinks": {
        "u2c": f"{BASE}/u2c/api/v1",
        "hydra": f"{BASE}/hydra/v1",
        "wdm": f"{BASE}/wdm/api/v1",
        "locus": f"{BASE}/locus/api/v1",
    },
    "hostCatalog": {
        "127.0.0.1:42237": [
            entry("127.0.0.1", 5, "u2c"),
            entry("127.0.0.1", 5, "hydra"),
            entry("127.0.0.1", 5, "wdm"),
            entry("127.0.0.1", 5, "locus"),
        ]
    },
}


@pytest.fixture
def postauth() -> ServiceCatalog:
    return ServiceCatalog.parse(POSTAUTH)


def test_parse_keeps_http_links_and_skips_the_rest(postauth):
    assert postauth.names == {
        "u2c",
        "hydra",
        "wdm",
        "locus",
        "calliopeDiscovery",
        "metrics",
        "conversation",
        "mercuryConnection",
        "idbroker",
        "identity",
    }
    assert postauth.host_catalog["u2c.wbx2.com"] == (
        HostEntry(host="u2c.wbx2.com", ttl=-1, priority=5, id="urn:TEAM:us-east-2_a:u2c"),
    )


@pytest.mark.parametrize(
    ("name", "url"),
    [
        ("wdm", "https://wdm-r.wbx2.com/wdm/api/v1"),  # lowest positive priority of wdm's hosts
        ("u2c", "https://u2c.wbx2.com/u2c/api/v1"),
        ("locus", "https://locus-a.wbx2.com/locus/api/v1"),  # first wins a tie
        ("calliopeDiscovery", "https://calliope-a.wbx2.com/calliope/api/discovery/v1"),
        ("metrics", "https://metrics-a.wbx2.com/metrics/api/v1"),  # empty host list
        ("conversation", "https://conv-a.wbx2.com/conversation/api/v1"),  # no priority
        ("mercuryConnection", "https://mercury-connection-b.wbx2.com/mercury/api/v1"),
        ("hydra", "https://webexapis.com/v1"),  # no hostCatalog key
        ("idbroker", "https://idbroker.webex.com"),
        ("nope", None),
        ("broken", None),
    ],
)
def test_priority_host_selection(postauth, name, url):
    assert postauth.url(name) == url


@pytest.mark.parametrize(
    ("link", "hosts", "url"),
    [
        # the port of the link is kept
        (f"{BASE}/wdm/api/v1", [entry("127.0.0.1", 5, "wdm")], f"{BASE}/wdm/api/v1"),
        (f"{BASE}/wdm/api/v1", [entry("localhost", 5, "wdm")], "http://localhost:42237/wdm/api/v1"),
        (
            "https://wdm.example:8443/a?b=1",
            [entry("w2.example", 1, "wdm")],
            "https://w2.example:8443/a?b=1",
        ),
        # a host that already names a port is not given a second one
        (f"{BASE}/wdm", [entry("127.0.0.1:9000", 5, "wdm")], "http://127.0.0.1:9000/wdm"),
        (f"{BASE}/wdm", [entry("[::1]", 5, "wdm")], "http://[::1]:42237/wdm"),
        (f"{BASE}/wdm", [entry("[::1]:7", 5, "wdm")], "http://[::1]:7/wdm"),
        # only positive priorities count; none left -> the link itself
        (f"{BASE}/wdm", [entry("a", 0, "wdm"), entry("b", -1, "wdm")], f"{BASE}/wdm"),
        # only hosts of the first entry's service count
        (f"{BASE}/wdm", [entry("a", 9, "wdm"), entry("b", 1, "u2c")], "http://a:42237/wdm"),
        (f"{BASE}/wdm", [entry("a", 9, "u2c"), entry("b", 1, "wdm")], "http://a:42237/wdm"),
    ],
)
def test_priority_host_substitution_keeps_the_port(link, hosts, url):
    key = link.split("/")[2]
    catalog = ServiceCatalog.parse({"serviceLinks": {"wdm": link}, "hostCatalog": {key: hosts}})
    assert catalog.url("wdm") == url


def test_loopback_catalog_like_the_js_sdk_run():
    catalog = ServiceCatalog.parse(LOOPBACK)
    for name in ("u2c", "hydra", "wdm", "locus"):
        assert catalog.url(name) == LOOPBACK["serviceLinks"][name]


def test_host_catalog_keys_match_case_insensitively():
    catalog = ServiceCatalog.parse(
        {
            "serviceLinks": {"wdm": "https://WDM-A.wbx2.com/wdm/api/v1"},
            "hostCatalog": {"Wdm-A.Wbx2.Com": [entry("wdm-r.wbx2.com", 1, "wdm")]},
        }
    )
    assert catalog.url("wdm") == "https://wdm-r.wbx2.com/wdm/api/v1"


def test_empty_host_catalog_is_valid():
    catalog = ServiceCatalog.parse({"serviceLinks": {"wdm": f"{BASE}/wdm"}, "hostCatalog": {}})
    assert catalog.url("wdm") == f"{BASE}/wdm"
    assert catalog.host_catalog == {}


def test_require(postauth):
    assert postauth.require("wdm", step="device.register") == "https://wdm-r.wbx2.com/wdm/api/v1"
    with pytest.raises(RemoteProtocolError) as caught:
        ServiceCatalog.parse(LOOPBACK).merged(ServiceCatalog()).require(
            "calliope", step="device.register"
        )
    assert caught.value.message == "'calliope' service is not available from the catalog"
    assert caught.value.step == "device.register"


def test_merged_prefers_the_other_catalog():
    limited = ServiceCatalog.parse(
        {
            "serviceLinks": {"u2c": "https://u2c-old.wbx2.com/u2c", "hydra": f"{BASE}/hydra/v1"},
            "hostCatalog": {"u2c-old.wbx2.com": [entry("u2c-r.wbx2.com", 1, "u2c")]},
        }
    )
    merged = limited.merged(ServiceCatalog.parse(POSTAUTH))
    assert merged.url("u2c") == "https://u2c.wbx2.com/u2c/api/v1"
    assert merged.url("hydra") == "https://webexapis.com/v1"
    assert merged.url("wdm") == "https://wdm-r.wbx2.com/wdm/api/v1"
    assert "u2c-old.wbx2.com" in merged.host_catalog
    assert limited.url("hydra") == f"{BASE}/hydra/v1"  # the original is unchanged


def test_catalog_is_immutable(postauth):
    with pytest.raises(TypeError):
        postauth.service_links["wdm"] = "https://evil.example/"  # type: ignore[index]
    with pytest.raises(AttributeError):
        postauth.service_links = {}  # type: ignore[misc]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (None, "JSON object"),
        ([], "JSON object"),
        ({"hostCatalog": {}}, "serviceLinks"),
        ({"serviceLinks": {}}, "hostCatalog"),
        ({"serviceLinks": [], "hostCatalog": {}}, "serviceLinks"),
        ({"serviceLinks": {}, "hostCatalog": []}, "hostCatalog"),
        ({"serviceLinks": {}, "hostCatalog": None}, "hostCatalog"),
        ({"serviceLinks": {}, "hostCatalog": {"a.com": {}}}, "hostCatalog['a.com']"),
        ({"serviceLinks": {}, "hostCatalog": {"a.com": [5]}}, "hostCatalog['a.com'][0]"),
        ({"serviceLinks": {}, "hostCatalog": {"a.com": [{}]}}, "hostCatalog['a.com'][0].host"),
        (
            {"serviceLinks": {}, "hostCatalog": {"a.com": [{"host": "evil.com/x@a.com"}]}},
            "hostCatalog['a.com'][0].host",
        ),
        (
            {"serviceLinks": {}, "hostCatalog": {"a.com": [{"host": "a.com\n"}]}},
            "hostCatalog['a.com'][0].host",
        ),
    ],
)
def test_parse_errors_name_the_field(body, field):
    with pytest.raises(RemoteProtocolError) as caught:
        ServiceCatalog.parse(body, step="catalog.limited")
    assert field in caught.value.message
    assert caught.value.step == "catalog.limited"


def test_ill_typed_optional_entry_fields_are_tolerated():
    catalog = ServiceCatalog.parse(
        {
            "serviceLinks": {},
            "hostCatalog": {"a.com": [{"host": "b.com", "ttl": "x", "priority": True}]},
        }
    )
    assert catalog.host_catalog["a.com"] == (
        HostEntry(host="b.com", ttl=None, priority=None, id=""),
    )


# -- requests ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "u2c", ["https://u2c.wbx2.com/u2c/api/v1", "https://u2c.wbx2.com/u2c/api/v1/"]
)
def test_catalog_requests_wire_form(u2c):
    limited = limited_catalog_request(u2c, org_id="1eb65fdf-9643-417f-9974-ad72cae0e10f")
    assert limited.method == "GET"
    assert limited.url == (
        "https://u2c.wbx2.com/u2c/api/v1/limited/catalog"
        "?orgId=1eb65fdf-9643-417f-9974-ad72cae0e10f&format=hostmap"
    )
    assert (limited.headers, limited.body, limited.step) == ((), None, "catalog.limited")

    postauth = catalog_request(u2c)
    assert postauth.method == "GET"
    assert postauth.url == "https://u2c.wbx2.com/u2c/api/v1/catalog?format=hostmap"
    assert (postauth.headers, postauth.body, postauth.step) == ((), None, "catalog")


def test_limited_catalog_request_quotes_the_org_id():
    request = limited_catalog_request(BASE, org_id="a b&c=d")
    assert request.url == f"{BASE}/limited/catalog?orgId=a+b%26c%3Dd&format=hostmap"


def test_people_me_request_wire_form():
    for hydra in ("https://webexapis.com/v1", "https://webexapis.com/v1///"):
        request = people_me_request(hydra)
        assert (request.method, request.url) == ("GET", "https://webexapis.com/v1/people/me")
        assert (request.headers, request.body, request.step) == ((), None, "people/me")


@pytest.mark.parametrize(
    ("base", "path", "joined"),
    [("a/", "/b", "a/b"), ("a", "b", "a/b"), ("a//", "b/c", "a/b/c"), ("a", "//b", "a/b")],
)
def test_join_url(base, path, joined):
    assert join_url(base, path) == joined


# -- people/me ----------------------------------------------------------------------------------


def test_parse_person():
    body = {
        "id": "Y2lzY29zcGFyazovL3VzL1BFT1BMRS84",
        "emails": ["stub.user@example.invalid", 5],
        "displayName": "Stub User",
        "orgId": "Y2lzY29zcGFyazovL3VzL09SR0FOSVpBVElPTi8x",
        "type": "person",
        "status": "active",
    }
    assert parse_person(body) == Person(
        id="Y2lzY29zcGFyazovL3VzL1BFT1BMRS84",
        display_name="Stub User",
        emails=("stub.user@example.invalid",),
        org_id="Y2lzY29zcGFyazovL3VzL09SR0FOSVpBVElPTi8x",
        type="person",
    )


def test_parse_person_tolerates_missing_fields():
    assert parse_person({"displayName": 5, "emails": "x"}) == Person(None, None, (), None, None)


@pytest.mark.parametrize("body", [None, [], "me", 3])
def test_parse_person_needs_an_object(body):
    with pytest.raises(RemoteProtocolError) as caught:
        parse_person(body)
    assert caught.value.step == "people/me"


# -- fuzz --------------------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)
LINKS = st.sampled_from(
    [
        "https://wdm-a.wbx2.com/wdm/api/v1",
        "http://127.0.0.1:8080/x",
        "https://a.example:99999/x",
        "http://[::1/x",
        "https://user@a.example/",
        "https://[::1]:9/x",
        "",
    ]
) | st.text(max_size=20)
HOST_ENTRIES = st.fixed_dictionaries(
    {},
    optional={
        "host": st.sampled_from(["wdm-r.wbx2.com", "127.0.0.1", "[::1]", "a:1"]) | JSON_VALUES,
        "priority": st.integers(-2, 5) | JSON_VALUES,
        "ttl": st.integers() | JSON_VALUES,
        "id": st.sampled_from(["urn:TEAM:c:wdm", "urn:TEAM:c:u2c", "x"]) | JSON_VALUES,
    },
)
CATALOGS = st.fixed_dictionaries(
    {
        "serviceLinks": st.dictionaries(
            st.sampled_from(["wdm", "u2c"]) | st.text(max_size=5), LINKS
        ),
        "hostCatalog": st.dictionaries(
            st.sampled_from(["wdm-a.wbx2.com", "127.0.0.1:8080", "[::1]:9"]) | st.text(max_size=5),
            st.lists(HOST_ENTRIES, max_size=4) | JSON_VALUES,
        ),
    }
)


@given(JSON_VALUES | CATALOGS)
def test_fuzz_parse(body):
    try:
        catalog = ServiceCatalog.parse(body)
    except RemoteProtocolError:
        return
    for name in catalog.names:
        url = catalog.url(name)
        assert isinstance(url, str)
        assert url.split(":", 1)[0].lower() in ("http", "https")
    assert catalog.merged(catalog) == catalog


@given(st.binary(max_size=60))
def test_fuzz_parse_of_decoded_bytes(raw):
    try:
        body = json.loads(raw)
    except ValueError:
        return
    with contextlib.suppress(RemoteProtocolError):
        ServiceCatalog.parse(body)


@pytest.mark.parametrize(
    ("body", "site"),
    [
        (
            {"sites": [{"siteUrl": "a.webex.com"}, {"siteUrl": "b.webex.com", "default": True}]},
            "b.webex.com",
        ),
        ({"sites": [{"siteUrl": "a.webex.com"}, {"siteUrl": "b.webex.com"}]}, "a.webex.com"),
        ({"sites": [{"default": True}, {"siteUrl": "c.webex.com"}]}, "c.webex.com"),
        ({"sites": []}, None),
        ({"sites": "nope"}, None),
        ({}, None),
        ([], None),
        (None, None),
    ],
)
def test_preferred_site_is_the_default_or_the_first(body: object, site: str | None) -> None:
    assert catalog.parse_preferred_site(body) == site


def test_meeting_preferences_request() -> None:
    request = catalog.meeting_preferences_request("https://webexapis.com/v1/")
    assert (request.method, request.url, request.step) == (
        "GET",
        "https://webexapis.com/v1/meetingPreferences",
        "meetingPreferences",
    )
