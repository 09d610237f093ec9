"""The control surfaces: the admin HTTP API, restart, the thread-hosted emulator, TLS, the
pytest fixtures and the standalone server."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import sys

import httpx
import pytest
from emulator_testkit import DEVICE_BODY, WsClient, bearer, connect_device, register_device

from webex_meetings.emulator import (
    DEFAULT_TOKEN,
    Emulator,
    EmulatorThread,
    ViolationKind,
    start_in_thread,
)
from webex_meetings.emulator.state import Clock

ADMIN = "/_emulator"


@pytest.mark.anyio
async def test_admin_api_steers_and_observes(emulator: Emulator, http: httpx.AsyncClient) -> None:
    fail = {"route": "wdm.register", "status": 429, "retry_after": 3}
    assert (await http.post(f"{ADMIN}/fail", json=fail)).status_code == 200
    refused = await http.post("/wdm/api/v1/devices", json=DEVICE_BODY, headers=bearer())
    assert (refused.status_code, refused.headers["retry-after"]) == (429, "3")

    token = (await http.post(f"{ADMIN}/tokens", json={"expires_in": 10})).json()["token"]
    assert (await http.get("/hydra/v1/people/me", headers=bearer(token))).status_code == 200
    await http.post(f"{ADMIN}/advance", json={"seconds": 10})
    assert (await http.get("/hydra/v1/people/me", headers=bearer(token))).status_code == 401
    other = (await http.post(f"{ADMIN}/tokens", json={})).json()["token"]
    assert (await http.post(f"{ADMIN}/tokens/revoke", json={"token": other})).json() == {
        "revoked": True
    }

    dto, client, first = await connect_device(emulator, http)
    await client.ack(first)
    ids = (await http.post(f"{ADMIN}/events", json={"data": {"eventType": "a.b"}})).json()["ids"]
    assert (await client.receive())["id"] == ids[0]  # type: ignore[index]
    await client.send_json({"messageId": ids[0], "type": "ack"})
    closed = await http.post(f"{ADMIN}/close", json={"code": 4001, "reason": "bye"})
    assert closed.json() == {"count": 1}
    assert (await client.receive()).code == 4001  # type: ignore[union-attr]

    state = (await http.get(f"{ADMIN}/state")).json()
    assert state["base_url"] == emulator.base_url
    assert [d["url"] for d in state["devices"]] == [dto["url"]]
    assert state["violations"] == []
    assert len((await http.get(f"{ADMIN}/requests")).json()) == state["request_count"]
    assert (await http.get(f"{ADMIN}/acks")).json()[-1]["message_id"] == ids[0]
    assert (await http.get(f"{ADMIN}/connections")).json()[0]["close_code"] == 4001
    admin_paths = [r.path for r in emulator.requests if r.path.startswith(ADMIN)]
    assert admin_paths == []


@pytest.mark.anyio
async def test_admin_api_bad_input(emulator: Emulator, http: httpx.AsyncClient) -> None:
    assert (await http.get(f"{ADMIN}/nothing")).status_code == 404
    assert (await http.post(f"{ADMIN}/fail", content=b"[1]")).status_code == 400
    assert (await http.post(f"{ADMIN}/fail", json={})).status_code == 400
    assert (
        await http.post(f"{ADMIN}/latency", json={"route": "x", "seconds": "y"})
    ).status_code == 400
    assert (await http.post(f"{ADMIN}/events", json={"data": {}})).status_code == 400
    assert (await http.post(f"{ADMIN}/reset-records")).status_code == 200
    assert emulator.violations == []


@pytest.mark.anyio
async def test_restart_cuts_connections_and_forgets_devices(
    emulator: Emulator, http: httpx.AsyncClient
) -> None:
    dto, client, first = await connect_device(emulator, http)
    await client.ack(first)
    token = emulator.issue_token()
    assert (await http.post(f"{ADMIN}/restart", json={})).status_code == 200
    assert await client.receive() is None
    assert emulator.devices == []
    assert (await http.get("/hydra/v1/people/me", headers=bearer(token))).status_code == 401
    assert (await http.get("/hydra/v1/people/me", headers=bearer())).status_code == 200
    assert (await http.delete(dto["url"], headers=bearer())).status_code == 404
    assert emulator.violations == []  # the client could not know


@pytest.mark.anyio
async def test_restart_keeping_state(emulator: Emulator, http: httpx.AsyncClient) -> None:
    dto = await register_device(http)
    emulator.control.restart(keep_state=True)
    assert [d.url for d in emulator.devices] == [dto["url"]]


def test_thread_hosted_emulator_is_driven_from_the_test_thread() -> None:
    with EmulatorThread(seed=3, backend="trio") as emulator:
        token = emulator.issue_token(expires_in=5)
        with httpx.Client(base_url=emulator.base_url) as client:
            assert client.get("/hydra/v1/people/me", headers=bearer(token)).status_code == 200
            emulator.advance(5)
            assert client.get("/hydra/v1/people/me", headers=bearer(token)).status_code == 401
            emulator.control.fail_next("sqdiscovery.region", status=502)
            assert client.get("/sqdiscovery/v1/region").status_code == 502
            device = client.post("/wdm/api/v1/devices", json=DEVICE_BODY, headers=bearer()).json()
        device_id = device["url"].rsplit("/", 1)[1]
        [event_id] = emulator.control.push_event({"eventType": "x"}, device_id=device_id)
        assert emulator.control.pending_events(device_id)[0]["id"] == event_id
        assert len(emulator.requests) == 4
        assert emulator.violations == []


def test_start_in_thread_and_stop_twice() -> None:
    thread = start_in_thread()
    assert thread.base_url.startswith("http://127.0.0.1:")
    with httpx.Client() as client:
        assert client.get(thread.base_url + "/sqdiscovery/v1/region").status_code == 200
    thread.stop()
    thread.stop()


@pytest.mark.anyio
@pytest.mark.skipif(shutil.which("openssl") is None, reason="TLS needs the openssl CLI")
async def test_tls_with_a_generated_certificate() -> None:
    async with Emulator(tls=True) as emulator:
        assert emulator.base_url.startswith("https://127.0.0.1:")
        assert emulator.ws_base_url.startswith("wss://")
        assert emulator.certificate is not None
        context = ssl.create_default_context(cafile=str(emulator.certificate.ca_file))
        async with httpx.AsyncClient(verify=context) as client:
            response = await client.get(emulator.base_url + "/hydra/v1/people/me", headers=bearer())
            assert response.status_code == 200
        async with httpx.AsyncClient(verify=True) as client:
            with pytest.raises(httpx.ConnectError):
                await client.get(emulator.base_url + "/sqdiscovery/v1/region")
        assert "TLS CA file" in emulator.describe()


@pytest.mark.emulator(seed=5, device_limit=1)
def test_running_emulator_fixture_takes_marker_options(running_emulator: Emulator) -> None:
    with httpx.Client(base_url=running_emulator.base_url) as client:
        assert client.post("/wdm/api/v1/devices", json=DEVICE_BODY, headers=bearer()).is_success
        refused = client.post("/wdm/api/v1/devices", json=DEVICE_BODY, headers=bearer())
    assert refused.status_code == 403


@pytest.mark.anyio
@pytest.mark.emulator(default_token=None)
async def test_default_token_can_be_disabled(emulator: Emulator, http: httpx.AsyncClient) -> None:
    assert (await http.get("/hydra/v1/people/me", headers=bearer(DEFAULT_TOKEN))).status_code == 401
    assert "default access token" not in emulator.describe()


@pytest.mark.anyio
async def test_an_emulator_runs_once_at_a_time(emulator: Emulator) -> None:
    with pytest.raises(Exception, match="already running"):
        await emulator.__aenter__()
    idle = Emulator()
    with pytest.raises(Exception, match="not running"):
        _ = idle.base_url


@pytest.mark.anyio
async def test_websocket_over_the_real_path_layout(
    emulator: Emulator, http: httpx.AsyncClient
) -> None:
    dto = await register_device(http)
    client = await WsClient.connect(dto["webSocketUrl"])
    await client.authorize()
    assert emulator.connections[0].query == (("outboundWireFormat", "text"),)


def test_clock_only_moves_forward() -> None:
    clock = Clock(lambda: 100.0)
    clock.advance(5)
    assert clock() == 105.0
    with pytest.raises(ValueError, match="forward"):
        clock.advance(-1)


def test_standalone_server_prints_its_urls() -> None:
    code = (
        "from webex_meetings.emulator import serve_forever; serve_forever(port=0, print_urls=True)"
    )
    with subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True
    ) as process:
        try:
            assert process.stdout is not None
            first = process.stdout.readline()
            assert first.startswith("Webex cloud emulator on http://127.0.0.1:")
            base = first.rsplit(" ", 1)[1].strip()
            lines = [process.stdout.readline() for _ in range(6)]
            assert any(base + "/u2c/api/v1" in line for line in lines)
            with httpx.Client() as client:
                assert client.get(base + "/sqdiscovery/v1/region").status_code == 200
        finally:
            process.terminate()
            process.wait(timeout=10)


def test_violation_kinds_are_plain_strings() -> None:
    assert ViolationKind.UNACKED_EVENT == "unacked_event"
