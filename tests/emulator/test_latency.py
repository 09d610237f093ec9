"""Latency L on every HTTP answer, on the websocket upgrade and on every frame the emulator
sends (issue 11), per route when asked; and no request or frame costs time in the number of
devices or connections."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest
from emulator_testkit import Closed, WsClient, bearer, connect_device, register_device

from webex_meetings.emulator import Emulator

pytestmark = pytest.mark.anyio

L = 0.05


async def _timed(operation: Any) -> tuple[Any, float]:
    started = anyio.current_time()
    result = await operation
    return result, anyio.current_time() - started


@pytest.mark.emulator(latency=L)
async def test_latency_on_every_answer_upgrade_and_frame(
    emulator: Emulator, http: httpx.AsyncClient
) -> None:
    region, took = await _timed(http.get("/sqdiscovery/v1/region"))
    assert (region.status_code, took >= L) == (200, True)
    missing, took = await _timed(http.get("/u2c/api/v1/catalog"))  # a refusal is late too
    assert (missing.status_code, took >= L) == (401, True)
    dto = await register_device(http)
    client, took = await _timed(WsClient.connect(dto["webSocketUrl"]))
    assert took >= L
    first, took = await _timed(client.authorize())
    assert first["data"]["eventType"] == "mercury.buffer_state"
    assert took >= L
    await client.send_json({"id": "p1", "type": "ping"})
    pong, took = await _timed(client.receive())
    assert (pong["id"], took >= L) == ("p1", True)  # type: ignore[index]
    [event_id] = emulator.control.push_event({"eventType": "x"})
    event, took = await _timed(client.receive())
    assert (event["id"], took >= L) == (event_id, True)  # type: ignore[index]
    emulator.control.close_connections(4000, "later")
    closed, took = await _timed(client.receive())
    assert (closed, took >= L) == (Closed(4000, "later"), True)
    assert {r.latency for r in emulator.requests} == {L}


@pytest.mark.emulator(latency=L)
async def test_equal_delays_keep_the_order_of_frames(
    emulator: Emulator, http: httpx.AsyncClient
) -> None:
    dto, client, _ = await connect_device(emulator, http)
    device_id = dto["url"].rsplit("/", 1)[1]
    ids = [emulator.control.push_event({"eventType": "n", "n": n}, device_id)[0] for n in range(8)]
    received = [await client.receive() for _ in ids]
    assert [frame["id"] for frame in received] == ids  # type: ignore[index]
    sequence = [frame["sequenceNumber"] for frame in received]  # type: ignore[index]
    assert sequence == sorted(sequence)


async def test_per_route_latency_delays_only_that_frame(
    emulator: Emulator, http: httpx.AsyncClient
) -> None:
    _, client, _ = await connect_device(emulator, http)
    emulator.control.set_latency("mercury.event", 0.2)
    [event_id] = emulator.control.push_event({"eventType": "slow"})
    await client.send_json({"id": "fast", "type": "ping"})
    assert (await client.receive())["id"] == "fast"  # type: ignore[index]
    assert (await client.receive())["id"] == event_id  # type: ignore[index]


async def test_latency_through_the_admin_api(emulator: Emulator, http: httpx.AsyncClient) -> None:
    assert (await http.post("/_emulator/latency", json={"seconds": L})).status_code == 200
    assert emulator.control.latencies == {"*": L}
    _, took = await _timed(http.get("/sqdiscovery/v1/region"))
    assert took >= L
    await http.post("/_emulator/latency", json={"seconds": 0})
    assert emulator.control.latencies == {}


class _CountingDict(dict[str, Any]):
    """A dict that counts full scans (iteration over every entry)."""

    scans = 0

    def values(self) -> Any:
        self.scans += 1
        return super().values()

    def items(self) -> Any:
        self.scans += 1
        return super().items()

    def __iter__(self) -> Any:
        self.scans += 1
        return super().__iter__()


async def test_requests_and_frames_never_scan_every_device_or_socket(
    emulator: Emulator, http: httpx.AsyncClient
) -> None:
    for _ in range(5):
        await register_device(http)
    dto, client, first = await connect_device(emulator, http)
    device_id = dto["url"].rsplit("/", 1)[1]
    devices = _CountingDict(emulator.state.devices)
    emulator.state.devices = devices
    assert emulator.server is not None
    sockets = _CountingDict(emulator.server.registry._sockets)
    emulator.server.registry._sockets = sockets  # type: ignore[assignment]

    await client.send_json({"messageId": first["id"], "type": "ack"})
    await client.send_json({"id": "p", "type": "ping"})
    assert (await client.receive())["id"] == "p"  # type: ignore[index]
    [event_id] = emulator.control.push_event({"eventType": "x"}, device_id)
    assert (await client.receive())["id"] == event_id  # type: ignore[index]
    await client.send_json({"messageId": event_id, "type": "ack"})
    second = await WsClient.connect(dto["webSocketUrl"])
    await second.authorize()  # replaces the first socket: found by device, not by scanning
    assert await client.receive() == Closed(4000, "replaced")
    put = await http.put(dto["url"], json={"ttl": 1800}, headers=bearer())
    assert put.status_code == 200
    await register_device(http)
    assert (await http.delete(dto["url"], headers=bearer())).status_code == 204
    assert (devices.scans, sockets.scans) == (0, 0)
