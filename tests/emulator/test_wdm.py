"""WDM: device registration, the per-user cap, ttl expiry, refresh with ETags, deletion."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from emulator_testkit import DEVICE_BODY, bearer, register_device

from webex_meetings.emulator import DEVICE_LIMIT_MESSAGE, Emulator, ViolationKind

pytestmark = pytest.mark.anyio

DEVICES = "/wdm/api/v1/devices"


async def test_register_answers_the_device_dto(emulator: Emulator, http: httpx.AsyncClient) -> None:
    response = await http.post(
        DEVICES, params={"includeUpstreamServices": "all"}, json=DEVICE_BODY, headers=bearer()
    )
    assert response.status_code == 200
    dto = response.json()
    device_id = dto["url"].rsplit("/", 1)[1]
    assert dto["url"] == f"{emulator.base_url}/wdm/api/v1/devices/{device_id}"
    assert dto["webSocketUrl"] == (
        f"{emulator.ws_base_url}/mercury/v1/apps/wx2/registrations/{device_id}/messages"
    )
    assert set(dto["features"]) == {"developer", "entitlement", "user"}
    assert dto["ttl"] == 1800
    assert dto["name"] == DEVICE_BODY["name"]
    assert response.headers["etag"]
    [info] = emulator.devices
    assert (info.id, info.ttl) == (device_id, 1800)
    assert emulator.violations == []


async def test_the_js_sdk_body_without_ttl_registers_a_persistent_device(
    emulator: Emulator, http: httpx.AsyncClient
) -> None:
    body = {k: v for k, v in DEVICE_BODY.items() if k != "ttl"}
    dto = (await http.post(DEVICES, json=body, headers=bearer())).json()
    assert "ttl" not in dto
    emulator.advance(10**7)
    assert (await http.get(dto["url"], headers=bearer())).status_code == 200


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ([1, 2], "JSON object"),
        ({k: v for k, v in DEVICE_BODY.items() if k != "deviceType"}, "deviceType"),
        ({**DEVICE_BODY, "model": 7}, "model"),
        ({**DEVICE_BODY, "ttl": "1800"}, "ttl"),
        ({**DEVICE_BODY, "ttl": 0}, "ttl"),
        ({**DEVICE_BODY, "ttl": True}, "ttl"),
    ],
)
async def test_register_validates_the_body(
    emulator: Emulator, http: httpx.AsyncClient, body: Any, problem: str
) -> None:
    response = await http.post(DEVICES, json=body, headers=bearer())
    assert response.status_code == 400
    assert problem in response.json()["message"]
    [violation] = emulator.violations
    assert (violation.kind, violation.route) == (ViolationKind.INVALID_BODY, "wdm.register")
    assert emulator.devices == []


async def test_register_rejects_non_json(emulator: Emulator, http: httpx.AsyncClient) -> None:
    response = await http.post(DEVICES, content=b"\xff{", headers=bearer())
    assert response.status_code == 400
    assert [v.kind for v in emulator.violations] == [ViolationKind.INVALID_BODY]


@pytest.mark.emulator(device_limit=2)
async def test_device_cap_answers_excessive_registrations(
    emulator: Emulator, http: httpx.AsyncClient
) -> None:
    first = await register_device(http)
    await register_device(http)
    refused = await http.post(DEVICES, json=DEVICE_BODY, headers=bearer())
    assert refused.status_code == 403
    assert refused.json()["message"] == DEVICE_LIMIT_MESSAGE
    listed = (await http.get(DEVICES, headers=bearer())).json()["devices"]
    assert len(listed) == 2
    assert all("modificationTime" in d and d["deviceType"] == "WEB" for d in listed)
    assert (await http.delete(first["url"], headers=bearer())).status_code == 204
    await register_device(http)
    other = emulator.issue_token(emulator.add_user())
    await register_device(http, other)  # the cap is per user
    assert emulator.violations == []


async def test_devices_lapse_after_their_ttl(emulator: Emulator, http: httpx.AsyncClient) -> None:
    dto = await register_device(http, ttl=60)
    emulator.advance(59)
    refreshed = await http.put(dto["url"], json={**dto, "ttl": 60}, headers=bearer())
    assert refreshed.status_code == 200
    emulator.advance(59)
    assert (await http.get(dto["url"], headers=bearer())).status_code == 200
    emulator.advance(1)
    assert (await http.get(dto["url"], headers=bearer())).status_code == 404
    assert (await http.get(DEVICES, headers=bearer())).json() == {"devices": []}
    assert (await http.put(dto["url"], json=dto, headers=bearer())).status_code == 404
    assert (await http.delete(dto["url"], headers=bearer())).status_code == 404
    assert emulator.violations == []  # a lapsed device is normal life


async def test_refresh_with_if_none_match_answers_200_with_the_same_etag(
    emulator: Emulator, http: httpx.AsyncClient
) -> None:
    created = await http.post(DEVICES, json=DEVICE_BODY, headers=bearer())
    dto, etag = created.json(), created.headers["etag"]
    headers = {**bearer(), "if-none-match": etag}
    body = {**dto, "ipNetworkDetector": {"firstIpV4": -1}, "name": "renamed"}
    refreshed = await http.put(
        dto["url"] + "?includeUpstreamServices=all", json=body, headers=headers
    )
    assert refreshed.status_code == 200
    assert refreshed.headers["etag"] == etag
    again = refreshed.json()
    assert again["name"] == "renamed"
    assert "user" in again["features"]
    assert "entitlement" in again["features"]
    assert emulator.violations == []


async def test_refresh_validates_types(emulator: Emulator, http: httpx.AsyncClient) -> None:
    dto = await register_device(http)
    response = await http.put(dto["url"], json={"deviceType": 5}, headers=bearer())
    assert response.status_code == 400
    assert [v.kind for v in emulator.violations] == [ViolationKind.INVALID_BODY]


async def test_delete_then_delete_again_is_a_violation(
    emulator: Emulator, http: httpx.AsyncClient
) -> None:
    dto = await register_device(http)
    assert (await http.get(dto["url"], headers=bearer())).json()["url"] == dto["url"]
    assert (await http.delete(dto["url"], headers=bearer())).status_code == 204
    assert emulator.violations == []
    assert (await http.delete(dto["url"], headers=bearer())).status_code == 404
    assert (await http.put(dto["url"], json=dto, headers=bearer())).status_code == 404
    kinds = [v.kind for v in emulator.violations]
    assert kinds == [ViolationKind.UNKNOWN_DEVICE, ViolationKind.UNKNOWN_DEVICE]
    assert emulator.violations[0].device_id == dto["url"].rsplit("/", 1)[1]


async def test_never_registered_device_delete_is_a_violation(
    emulator: Emulator, http: httpx.AsyncClient
) -> None:
    url = f"{emulator.base_url}/wdm/api/v1/devices/00000000-0000-4000-8000-000000000000"
    assert (await http.delete(url, headers=bearer())).status_code == 404
    assert [v.kind for v in emulator.violations] == [ViolationKind.UNKNOWN_DEVICE]


async def test_another_users_device_is_not_found(
    emulator: Emulator, http: httpx.AsyncClient
) -> None:
    dto = await register_device(http)
    stranger = emulator.issue_token(emulator.add_user())
    assert (await http.delete(dto["url"], headers=bearer(stranger))).status_code == 404
    assert [v.kind for v in emulator.violations] == [ViolationKind.FOREIGN_DEVICE]
    assert len(emulator.devices) == 1


async def test_expire_device_control(emulator: Emulator, http: httpx.AsyncClient) -> None:
    dto = await register_device(http)
    device_id = dto["url"].rsplit("/", 1)[1]
    assert emulator.control.expire_device(device_id) is True
    assert emulator.control.expire_device(device_id) is False
    assert (await http.put(dto["url"], json=dto, headers=bearer())).status_code == 404
    assert emulator.violations == []
