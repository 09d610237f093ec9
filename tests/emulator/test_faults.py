"""Injected faults: fail the next N requests, drop them, random failures from the seed, latency."""

from __future__ import annotations

import anyio
import httpx
import pytest
from emulator_testkit import DEVICE_BODY, bearer

from webex_meetings.emulator import Emulator

pytestmark = pytest.mark.anyio

DEVICES = "/wdm/api/v1/devices"


async def test_fail_next_429_with_retry_after(emulator: Emulator, http: httpx.AsyncClient) -> None:
    emulator.control.fail_next("wdm.register", status=429, retry_after=1)
    refused = await http.post(DEVICES, json=DEVICE_BODY, headers=bearer())
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["trackingId"] == "webex-meetings-py_test_1"
    assert (await http.post(DEVICES, json=DEVICE_BODY, headers=bearer())).status_code == 200
    assert [r.fault for r in emulator.requests] == ["fail", None]
    assert emulator.violations == []


@pytest.mark.parametrize("status", [401, 404, 500, 502, 503])
async def test_fail_next_counts_and_patterns(
    emulator: Emulator, http: httpx.AsyncClient, status: int
) -> None:
    emulator.control.fail_next("hydra.*", count=2, status=status)
    statuses = [
        (await http.get("/hydra/v1/people/me", headers=bearer())).status_code,
        (await http.get("/hydra/v1/meetingPreferences", headers=bearer())).status_code,
        (await http.get("/u2c/api/v1/catalog", headers=bearer())).status_code,
        (await http.get("/hydra/v1/people/me", headers=bearer())).status_code,
    ]
    assert statuses == [status, status, 200, 200]


async def test_fault_comes_before_authorization(
    emulator: Emulator, http: httpx.AsyncClient
) -> None:
    emulator.control.fail_next("u2c.catalog", status=503, message="maintenance")
    response = await http.get("/u2c/api/v1/catalog")
    assert (response.status_code, response.json()["message"]) == (503, "maintenance")
    assert emulator.violations == []


async def test_drop_next_closes_without_an_answer(
    emulator: Emulator, http: httpx.AsyncClient
) -> None:
    emulator.control.drop_next("sqdiscovery.region")
    with pytest.raises(httpx.TransportError):
        await http.get("/sqdiscovery/v1/region")
    assert (await http.get("/sqdiscovery/v1/region")).status_code == 200
    assert [r.fault for r in emulator.requests] == ["drop", None]


async def test_random_faults_are_reproducible_from_the_seed() -> None:
    async def statuses(seed: int) -> list[int]:
        async with Emulator(seed=seed) as emulator, httpx.AsyncClient() as client:
            emulator.control.fail_randomly("sqdiscovery.region", rate=0.5, status=503)
            url = f"{emulator.base_url}/sqdiscovery/v1/region"
            return [(await client.get(url)).status_code for _ in range(24)]

    first, again, other = await statuses(11), await statuses(11), await statuses(12)
    assert first == again
    assert {200, 503} == set(first)
    assert first != other
    with pytest.raises(ValueError, match="rate"):
        Emulator().control.fail_randomly("x", rate=2.0)


async def test_latency_delays_only_the_matching_route(
    emulator: Emulator, http: httpx.AsyncClient
) -> None:
    emulator.control.set_latency("hydra.people_me", 0.3)
    order: list[str] = []

    async def fetch(path: str, name: str) -> None:
        await http.get(path, headers=bearer())
        order.append(name)

    started = anyio.current_time()
    async with anyio.create_task_group() as tg:
        tg.start_soon(fetch, "/hydra/v1/people/me", "slow")
        tg.start_soon(fetch, "/sqdiscovery/v1/region", "fast")
    assert order == ["fast", "slow"]
    assert anyio.current_time() - started >= 0.3
    emulator.control.set_latency("hydra.people_me", 0)
    emulator.control.clear_faults()
    assert emulator.control.latency_for("hydra.people_me") == 0.0


async def test_fail_next_checks_its_input(emulator: Emulator) -> None:
    with pytest.raises(ValueError, match="count"):
        emulator.control.fail_next("wdm.register", count=0)
    with pytest.raises(ValueError, match="status"):
        emulator.control.fail_next("wdm.register", status=200)
