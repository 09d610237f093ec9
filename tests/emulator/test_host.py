"""Every URL the emulator hands out names the host the client used, as a reverse proxy would
(issue 10: ``--cloud http://localhost:8765`` works as well as ``127.0.0.1``)."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import pytest
from emulator_testkit import DEVICE_BODY, TIMEOUT, WsClient, bearer

from webex_meetings import Webex
from webex_meetings.emulator import Emulator
from webex_meetings.emulator.layout import Urls

pytestmark = pytest.mark.anyio


def _netlocs(value: object) -> set[str]:
    """Every host:port of an http(s)/ws(s) URL inside a JSON value."""
    if isinstance(value, dict):
        return set().union(*(_netlocs(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_netlocs(v) for v in value)) if value else set()
    if isinstance(value, str) and value.split(":", 1)[0] in ("http", "https", "ws", "wss"):
        return {urlsplit(value).netloc}
    return set()


async def test_urls_follow_the_host_the_client_used(
    emulator: Emulator,
    http: httpx.AsyncClient,  # the fixture closes the websocket streams
) -> None:
    local = f"localhost:{emulator.port}"
    async with httpx.AsyncClient(base_url=f"http://{local}", timeout=TIMEOUT) as via_name:
        limited = (await via_name.get("/u2c/api/v1/limited/catalog?orgId=x")).json()
        catalog = (await via_name.get("/u2c/api/v1/catalog", headers=bearer())).json()
        device = await via_name.post("/wdm/api/v1/devices", json=DEVICE_BODY, headers=bearer())
        listed = (await via_name.get("/wdm/api/v1/devices", headers=bearer())).json()
        state = (await via_name.get("/_emulator/state")).json()
    dto = device.json()
    for body in (limited, catalog, dto, listed):
        assert _netlocs(body) == {local}
    assert set(catalog["hostCatalog"]) == {local}
    assert {e["host"] for e in catalog["hostCatalog"][local]} == {"localhost"}
    assert dto["webSocketUrl"].startswith(f"ws://{local}/mercury/v1/")
    assert state["base_url"] == f"http://{local}"

    seen_by_ip = await http.get(urlsplit(dto["url"]).path, headers=bearer())
    assert _netlocs(seen_by_ip.json()) == {f"127.0.0.1:{emulator.port}"}
    [record] = emulator.devices
    assert record.url == dto["url"]  # the records keep the URL the device was created under

    client = await WsClient.connect(dto["webSocketUrl"])
    first = await client.authorize()
    assert first["data"]["eventType"] == "mercury.buffer_state"
    await client.ack(first)
    await client.close()
    assert emulator.violations == []


@pytest.mark.parametrize(
    "header",
    ["", "evil.example/path", "a b", "x" * 300, "host:99999999", "[::1", "h\r\nx-injected: 1"],
)
def test_a_host_header_that_is_not_a_plain_host_is_never_echoed(header: str) -> None:
    urls = Urls("http", "127.0.0.1", 8765)
    assert urls.for_host(header) is urls


def test_for_host_keeps_the_scheme_and_lowercases() -> None:
    urls = Urls("https", "127.0.0.1", 8765)
    seen = urls.for_host("LocalHost:8765")
    assert (seen.base, seen.ws_base, seen.host) == (
        "https://localhost:8765",
        "wss://localhost:8765",
        "localhost",
    )
    assert urls.for_host("[::1]:8765").base == "https://[::1]:8765"
    assert urls.for_host("proxy.internal").base == "https://proxy.internal"


@pytest.mark.emulator(advertised_host="127.0.0.1")
async def test_a_fixed_advertised_host_wins(emulator: Emulator) -> None:
    async with httpx.AsyncClient(
        base_url=f"http://localhost:{emulator.port}", timeout=TIMEOUT
    ) as http:
        catalog = (await http.get("/u2c/api/v1/catalog", headers=bearer())).json()
    assert _netlocs(catalog) == {f"127.0.0.1:{emulator.port}"}


async def test_our_client_registers_through_localhost(emulator: Emulator) -> None:
    cloud = f"http://localhost:{emulator.port}"
    async with Webex.init(
        credentials={"access_token": emulator.issue_token()}, cloud=cloud
    ) as webex:
        await webex.meetings.register()
        [device] = emulator.devices
        assert device.url.startswith(cloud + "/wdm/api/v1/devices/")
        await webex.meetings.unregister()
    assert emulator.devices == []
    assert emulator.violations == []
