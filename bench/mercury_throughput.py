"""Benchmark 2: Mercury event throughput, library vs the bare websocket transport.

Each run starts a fresh in-process :class:`~webex_meetings.emulator.Emulator` on the same
asyncio loop as the client, registers one device and authorizes its Mercury socket (not timed).
Then the clock starts, the emulator is asked to push ``count`` events to that device, and it
stops once the client has seen every event *and* the emulator has recorded an ack for each.
The emulator's own cost per event (building, sending, matching acks) is in both columns.

* ours: ``Webex`` (anyio runtime on asyncio) receiving through ``meetings.events(MercuryEvent)``
  (the session parses, acks and dispatches each envelope).
* baseline: the same frames over the bare transport ours uses on asyncio
  (:class:`~webex_meetings.transports.websocket_asyncio.AsyncioWebSocketConnector`, wsproto
  on asyncio's own transports), read by a minimal loop that parses each frame and acks it,
  without the session: the transport ceiling.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import anyio
import httpx

from webex_meetings.core.events import MercuryEvent
from webex_meetings.emulator import Emulator
from webex_meetings.transports.base import WebSocketConnection, WebSocketTextMessage
from webex_meetings.transports.websocket_asyncio import AsyncioWebSocketConnector
from webex_meetings.webex import Webex

EVENT_TYPE = "bench.event"
RUN_TIMEOUT = 60.0
ACK_POLL = 0.0005


def _fail(what: str) -> None:
    raise RuntimeError(f"throughput benchmark: {what}")


def _push(emulator: Emulator, device_id: str, count: int) -> list[str]:
    ids: list[str] = []
    for n in range(count):
        ids.extend(emulator.control.push_event({"eventType": EVENT_TYPE, "n": n}, device_id))
    return ids


async def _wait_for_acks(emulator: Emulator, ids: list[str]) -> None:
    wanted = set(ids)
    while True:
        acked = {ack.message_id for ack in emulator.acks if ack.known}
        if wanted <= acked:
            return
        await anyio.sleep(ACK_POLL)


async def _ours_run(count: int) -> float:
    async with Emulator(seed=0) as emulator:
        token = emulator.issue_token()
        webex = Webex.init(credentials={"access_token": token}, cloud=emulator.base_url)
        async with webex:
            await webex.meetings.register()
            [device] = emulator.devices
            async with webex.meetings.events(MercuryEvent, maxsize=count + 16) as stream:
                with anyio.fail_after(RUN_TIMEOUT):
                    started = time.perf_counter()
                    ids = _push(emulator, device.id, count)
                    seen: list[str | None] = []
                    async for event in stream:
                        assert isinstance(event, MercuryEvent)
                        if event.event_type == EVENT_TYPE:
                            seen.append(event.id)
                            if len(seen) == count:
                                break
                    await _wait_for_acks(emulator, ids)
                    elapsed = time.perf_counter() - started
                if seen != ids or stream.dropped:
                    _fail(f"events out of order or dropped ({stream.dropped} dropped)")
            await webex.meetings.unregister()
        _check_clean(emulator)
    return count / elapsed


async def _open_raw_socket(emulator: Emulator, token: str) -> tuple[WebSocketConnection, str]:
    """Register a device over plain HTTP and open its authorized Mercury socket."""
    body = {"name": "bench", "deviceType": "UNKNOWN", "model": "bench", "systemName": "bench"}
    headers = {"authorization": f"Bearer {token}"}
    async with httpx.AsyncClient() as http:
        answer = await http.post(
            f"{emulator.urls.service('wdm')}/devices", json=body, headers=headers
        )
    answer.raise_for_status()
    device = answer.json()
    url = f"{device['webSocketUrl']}?outboundWireFormat=text&bufferStates=true"
    socket = await AsyncioWebSocketConnector().connect(url)
    auth = {
        "id": str(uuid.uuid4()),
        "type": "authorization",
        "data": {"token": f"Bearer {token}"},
        "trackingId": "bench_1",
    }
    await socket.send_text(json.dumps(auth))
    buffer_state = _parse(await socket.receive())
    await _ack(socket, buffer_state)
    return socket, device["url"]


def _parse(message: Any) -> dict[str, Any]:
    if not isinstance(message, WebSocketTextMessage):
        _fail(f"the socket closed: {message}")
    frame: dict[str, Any] = json.loads(message.text)
    return frame


async def _ack(socket: WebSocketConnection, frame: dict[str, Any]) -> None:
    if "id" in frame:
        await socket.send_text(json.dumps({"type": "ack", "messageId": frame["id"]}))


async def _raw_run(count: int) -> float:
    async with Emulator(seed=0) as emulator:
        token = emulator.issue_token()
        socket, _ = await _open_raw_socket(emulator, token)
        device_id = emulator.devices[0].id
        with anyio.fail_after(RUN_TIMEOUT):
            started = time.perf_counter()
            ids = _push(emulator, device_id, count)
            seen: list[str] = []
            while len(seen) < count:
                frame = _parse(await socket.receive())
                await _ack(socket, frame)
                if frame.get("data", {}).get("eventType") == EVENT_TYPE:
                    seen.append(frame["id"])
            await _wait_for_acks(emulator, ids)
            elapsed = time.perf_counter() - started
        await socket.close(1000, "done")
        await socket.aclose()
        if seen != ids:
            _fail("raw events out of order")
        if emulator.violations:
            _fail(f"raw loop: protocol violations {emulator.violations[:3]}")
    return count / elapsed


def _check_clean(emulator: Emulator) -> None:
    if emulator.devices:
        _fail("device left on the emulator")
    if emulator.violations:
        _fail(f"protocol violations recorded: {emulator.violations[:3]}")


def measure(count: int, runs: int) -> tuple[list[float], list[float]]:
    """Events/s for ours and for the raw transport, ``runs`` of each, interleaved."""

    async def batch() -> tuple[list[float], list[float]]:
        ours: list[float] = []
        raw: list[float] = []
        await _ours_run(min(count, 200))  # warm-up, discarded
        await _raw_run(min(count, 200))
        for _ in range(runs):
            ours.append(await _ours_run(count))
            raw.append(await _raw_run(count))
        return ours, raw

    return anyio.run(batch, backend="asyncio")
