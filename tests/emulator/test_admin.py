"""The admin API checks every input: bad values answer 400 with a clear message and change
nothing; the Python control API raises typed errors for the same values."""

from __future__ import annotations

import math
from typing import Any

import httpx
import pytest
from emulator_testkit import DEVICE_BODY, bearer

from webex_meetings.emulator import (
    ControlInputError,
    Emulator,
    UnknownRouteError,
)
from webex_meetings.emulator.admin_endpoints import ENDPOINTS
from webex_meetings.emulator.reference import help_text

pytestmark = pytest.mark.anyio

ADMIN = "/_emulator"

BAD_INPUT: list[tuple[str, str, str]] = [
    ("advance", '{"seconds": NaN}', "finite"),
    ("advance", '{"seconds": Infinity}', "finite"),
    ("advance", '{"seconds": -1}', ">= 0"),
    ("advance", '{"seconds": "1"}', "must be number"),
    ("advance", '{"seconds": true}', "must be number"),
    ("advance", "{}", "'seconds' (number) is required"),
    ("advance", '{"seconds": 1, "extra": 2}', "unknown field(s) extra"),
    ("latency", '{"route": "*", "seconds": NaN}', "finite"),
    ("latency", '{"route": "wdm.nothing", "seconds": 1}', "unknown route 'wdm.nothing'"),
    ("fail", '{"route": "wdm.regster"}', "did you mean 'wdm.register'"),
    ("fail", '{"route": "wdm.register", "count": 0}', "count must be an integer >= 1"),
    ("fail", '{"route": "wdm.register", "count": 1.5}', "count must be int|null"),
    ("fail", '{"route": "wdm.register", "count": true}', "count must be int|null"),
    ("fail", '{"route": "wdm.register", "status": 200}', "4xx/5xx"),
    ("fail", '{"route": "wdm.register", "retry_after": -1}', "retry_after"),
    ("fail", '{"route": "wdm.register", "retry_after": NaN}', "retry_after"),
    ("fail", '{"route": "wdm.register", "cuont": 2}', "unknown field(s) cuont"),
    ("fail", '{"route": 5}', "route must be string"),
    ("drop", '{"route": "nothing.at.all"}', "unknown route"),
    ("fail-randomly", '{"route": "wdm.*", "rate": 1.5}', "within [0, 1]"),
    ("close", '{"code": 1006}', "drop the connection instead"),
    ("close", '{"code": 99999}', "close code"),
    ("close", '{"reason": 5}', "reason must be string"),
    ("events", '{"data": []}', "data must be object"),
    ("events", '{"data": {"no": "type"}}', "eventType"),
    ("tokens", '{"expires_in": NaN}', "expires_in"),
    ("tokens", '{"expires_in": -5}', "expires_in"),
    ("restart", '{"keep_state": "yes"}', "keep_state must be bool"),
    ("fail", "[1]", "must be a JSON object"),
    ("fail", "{not json", "not JSON"),
    ("fail", "[" * 50_000 + "]" * 50_000, "nested too deeply"),
]


@pytest.mark.parametrize(("path", "body", "message"), BAD_INPUT)
async def test_bad_admin_input_is_a_400_and_changes_nothing(
    emulator: Emulator, http: httpx.AsyncClient, path: str, body: str, message: str
) -> None:
    before = (await http.get(f"{ADMIN}/state")).json()
    response = await http.post(f"{ADMIN}/{path}", content=body)
    assert response.status_code == 400, response.text
    assert message in response.json()["message"]
    after = (await http.get(f"{ADMIN}/state")).json()
    assert math.isfinite(after["now"])
    assert after["now"] - before["now"] < 60
    assert (await http.get(f"{ADMIN}/faults")).json() == {"faults": [], "latencies": {}}
    assert (await http.get("/hydra/v1/people/me", headers=bearer())).status_code == 200
    assert emulator.violations == []


async def test_unknown_things_are_404(emulator: Emulator, http: httpx.AsyncClient) -> None:
    assert (await http.get(f"{ADMIN}/nothing")).status_code == 404
    assert (await http.post(f"{ADMIN}/state")).status_code == 404
    missing = await http.post(
        f"{ADMIN}/events", json={"data": {"eventType": "x"}, "device_id": "nope"}
    )
    assert missing.status_code == 404
    assert (await http.post(f"{ADMIN}/tokens", json={"user_id": "nope"})).status_code == 404


async def test_the_fault_and_route_listings(emulator: Emulator, http: httpx.AsyncClient) -> None:
    routes = (await http.get(f"{ADMIN}/routes")).json()
    assert "wdm.register" in routes["fault_routes"]
    assert "mercury.connect" in routes["fault_routes"]
    assert "mercury.event" not in routes["fault_routes"]
    assert "mercury.event" in routes["latency_routes"]
    body = {"route": "wdm.*", "count": None, "status": 503, "retry_after": 2}
    assert (await http.post(f"{ADMIN}/fail", json=body)).status_code == 200
    assert (await http.post(f"{ADMIN}/latency", json={"seconds": 0.01})).status_code == 200
    rules = (await http.get(f"{ADMIN}/faults")).json()
    assert rules["latencies"] == {"*": 0.01}
    [fault] = rules["faults"]
    assert (fault["route"], fault["remaining"], fault["retry_after"]) == ("wdm.*", None, 2)
    for _ in range(3):  # count null: every request until cleared
        refused = await http.post("/wdm/api/v1/devices", json=DEVICE_BODY, headers=bearer())
        assert refused.status_code == 503
    await http.post(f"{ADMIN}/clear")
    assert (await http.get(f"{ADMIN}/faults")).json() == {"faults": [], "latencies": {}}


async def test_python_control_raises_typed_errors(emulator: Emulator) -> None:
    control = emulator.control
    with pytest.raises(UnknownRouteError) as caught:
        control.fail_next("wdm.regster")
    assert caught.value.route == "wdm.regster"
    assert "wdm.register" in caught.value.valid
    assert "did you mean 'wdm.register'" in str(caught.value)
    bad_calls: list[Any] = [
        lambda: control.fail_next("wdm.register", count=0),
        lambda: control.fail_next("wdm.register", retry_after=math.nan),
        lambda: control.set_latency("*", math.inf),
        lambda: control.set_latency("*", -1),
        lambda: control.close_connections(1006),
        lambda: control.push_event({"no": "type"}),
        lambda: emulator.advance(math.nan),
        lambda: emulator.advance(-1),
        lambda: emulator.issue_token(expires_in=math.nan),
    ]
    for call in bad_calls:
        with pytest.raises(ControlInputError):
            call()
    with pytest.raises(UnknownRouteError):
        control.set_latency("mercury.evnt", 1)
    control.set_latency("mercury.event", 0.5)  # frames take latency, not faults
    with pytest.raises(UnknownRouteError):
        control.fail_next("mercury.event")
    assert control.latencies == {"mercury.event": 0.5}
    assert control.active_faults == []


def test_the_reference_lists_every_endpoint() -> None:
    text = help_text()
    for endpoint in ENDPOINTS:
        assert f"{endpoint.method} /_emulator/{endpoint.path}" in text
        for field in endpoint.fields:
            assert field.name in text
