"""Benchmark 2: Mercury event throughput, library vs the bare websocket transport.

Each run sets up both sides, each with its own in-process
:class:`~webex_meetings.emulator.Emulator` on the same asyncio loop as the clients, one device
registered and its Mercury socket authorized (not timed). A *burst* then starts the clock, asks
the emulator to push ``burst`` events to that device, and stops the clock once the client has
seen every event *and* the emulator holds none of them unacknowledged (every ack is checked
against the emulator's records afterwards). The emulator's own cost per event (building,
sending, matching acks) is in both columns.

* ours: ``Webex`` (anyio runtime on asyncio) receiving through ``meetings.events(MercuryEvent)``
  (the session parses, acks and dispatches each envelope).
* baseline: the same frames over the bare transport ours uses on asyncio
  (:class:`~webex_meetings.transports.websocket_asyncio.AsyncioWebSocketConnector`, wsproto
  on asyncio's own transports), read by a minimal loop that parses each frame and acks it,
  without the session: the transport ceiling.

Bursts take turns, ours and the baseline's, in alternating order (ABBA ...), each after a full
garbage collection (not timed), so that a change of load on a shared machine hits both members
of an adjacent pair alike; a burst lasts some 30 ms. The ratio reported is the median over
every adjacent pair of the pair's ratio, the library's cost per event the median of the pairs'
differences of µs per event.

``python bench/mercury_throughput.py [--events N] [--burst N] [--runs N]`` prints each run and
the summary; ``bench/run.py`` uses :func:`measure`.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import httpx

from webex_meetings.core.events import MercuryEvent
from webex_meetings.emulator import Emulator
from webex_meetings.transports.base import WebSocketConnection, WebSocketTextMessage
from webex_meetings.transports.websocket_asyncio import AsyncioWebSocketConnector
from webex_meetings.webex import Webex

EVENT_TYPE = "bench.event"
BURST_TIMEOUT = 60.0
DEFAULT_BURST = 200

Burst = Callable[[int], Awaitable[float]]
"""Push ``count`` events and wait until all are received and acked: the seconds it took."""


def _fail(what: str) -> None:
    raise RuntimeError(f"throughput benchmark: {what}")


def _push(emulator: Emulator, device_id: str, count: int) -> list[str]:
    ids: list[str] = []
    for n in range(count):
        ids.extend(emulator.control.push_event({"eventType": EVENT_TYPE, "n": n}, device_id))
    return ids


async def _wait_for_acks(emulator: Emulator, device_id: str) -> None:
    """Until the emulator holds no event of the device unacked: checked at every turn of the
    loop (a sleeping poll would add its period to every burst, diluting the ratio), and
    cheaply (what is still pending, a few events at most once all were received)."""
    while emulator.control.pending_events(device_id):
        await anyio.sleep(0)


def _check_acks(emulator: Emulator, ids: list[str], read: int) -> int:
    """Every one of ``ids`` has a known ack among the emulator's ack records from ``read``
    on; returns where the next check starts (after the clock stopped: not timed)."""
    acks = emulator.acks
    missing = set(ids) - {ack.message_id for ack in acks[read:] if ack.known}
    if missing:
        _fail(f"{len(missing)} events not acked")
    return len(acks)


@asynccontextmanager
async def _ours(events: int) -> AsyncIterator[Burst]:
    """Ours, ready to receive: an emulator, a registered ``Webex``, its event stream."""
    async with Emulator(seed=0) as emulator:
        token = emulator.issue_token()
        webex = Webex.init(credentials={"access_token": token}, cloud=emulator.base_url)
        async with webex:
            await webex.meetings.register()
            [device] = emulator.devices
            async with webex.meetings.events(MercuryEvent, maxsize=events + 16) as stream:
                read = len(emulator.acks)

                async def burst(count: int) -> float:
                    nonlocal read
                    started = time.perf_counter()
                    ids = _push(emulator, device.id, count)
                    seen: list[str | None] = []
                    async for event in stream:
                        assert isinstance(event, MercuryEvent)
                        if event.event_type == EVENT_TYPE:
                            seen.append(event.id)
                            if len(seen) == count:
                                break
                    await _wait_for_acks(emulator, device.id)
                    elapsed = time.perf_counter() - started
                    if seen != ids or stream.dropped:
                        _fail(f"events out of order or dropped ({stream.dropped} dropped)")
                    read = _check_acks(emulator, ids, read)
                    return elapsed

                yield burst
            await webex.meetings.unregister()
        _check_clean(emulator)


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


@asynccontextmanager
async def _raw(events: int) -> AsyncIterator[Burst]:
    """The baseline, ready to receive: an emulator and an authorized bare socket."""
    async with Emulator(seed=0) as emulator:
        token = emulator.issue_token()
        socket, _ = await _open_raw_socket(emulator, token)
        device_id = emulator.devices[0].id
        read = len(emulator.acks)

        async def burst(count: int) -> float:
            nonlocal read
            started = time.perf_counter()
            ids = _push(emulator, device_id, count)
            seen: list[str] = []
            while len(seen) < count:
                frame = _parse(await socket.receive())
                await _ack(socket, frame)
                if frame.get("data", {}).get("eventType") == EVENT_TYPE:
                    seen.append(frame["id"])
            await _wait_for_acks(emulator, device_id)
            elapsed = time.perf_counter() - started
            if seen != ids:
                _fail("raw events out of order")
            read = _check_acks(emulator, ids, read)
            return elapsed

        yield burst
        await socket.close(1000, "done")
        await socket.aclose()
        if emulator.violations:
            _fail(f"raw loop: protocol violations {emulator.violations[:3]}")


def _check_clean(emulator: Emulator) -> None:
    if emulator.devices:
        _fail("device left on the emulator")
    if emulator.violations:
        _fail(f"protocol violations recorded: {emulator.violations[:3]}")


@dataclass(frozen=True, slots=True)
class Pair:
    """One burst of each side, back to back: events/s."""

    ours: float
    baseline: float

    @property
    def ratio(self) -> float:
        """The share of the transport ceiling ours kept."""
        return self.ours / self.baseline

    @property
    def cost_us(self) -> float:
        """What the library added per event, in µs."""
        return 1e6 / self.ours - 1e6 / self.baseline


@dataclass(frozen=True, slots=True)
class Result:
    """Adjacent pairs of bursts, and their medians."""

    pairs: list[Pair]

    @property
    def ratio(self) -> float:
        """The median of the pairs' ratios."""
        return statistics.median(pair.ratio for pair in self.pairs)

    @property
    def cost_us(self) -> float:
        """The median of the pairs' per-event differences, in µs."""
        return statistics.median(pair.cost_us for pair in self.pairs)

    @property
    def ours_us(self) -> float:
        """Ours, µs per event (median over bursts)."""
        return statistics.median(1e6 / pair.ours for pair in self.pairs)

    @property
    def baseline_us(self) -> float:
        """The baseline, µs per event (median over bursts)."""
        return statistics.median(1e6 / pair.baseline for pair in self.pairs)

    def summary(self) -> str:
        ratios = sorted(pair.ratio for pair in self.pairs)
        quartiles = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
        return (
            f"ratio {self.ratio:.3f} (median of {len(ratios)} adjacent pairs; quartiles "
            f"{quartiles[0]:.3f}-{quartiles[2]:.3f}); per event: ours {self.ours_us:.1f} µs, "
            f"baseline {self.baseline_us:.1f} µs, library cost {self.cost_us:.1f} µs"
        )


async def _run(events: int, burst: int) -> list[Pair]:
    """One run: both sides set up side by side, then ``events`` events each, in bursts of
    ``burst`` taken in turns (ABBA ...), after one discarded warm-up burst each."""
    async with _ours(events + burst) as ours, _raw(events + burst) as raw:
        await ours(burst)  # warm-up, discarded
        await raw(burst)
        pairs = []
        for n in range(max(1, events // burst)):
            spent = {}
            for side in (ours, raw) if n % 2 == 0 else (raw, ours):
                gc.collect()
                with anyio.fail_after(BURST_TIMEOUT):
                    spent[side] = await side(burst)
            pairs.append(Pair(burst / spent[ours], burst / spent[raw]))
    return pairs


def measure_runs(events: int, runs: int, burst: int = DEFAULT_BURST) -> list[Result]:
    """``runs`` runs of ``events`` events per side (see :func:`_run`)."""

    async def batch() -> list[Result]:
        return [Result(await _run(events, burst)) for _ in range(runs)]

    return anyio.run(batch, backend="asyncio")


def measure(events: int, runs: int) -> tuple[list[float], list[float]]:
    """Events/s of ours and of the raw transport, one sample per burst (``bench/run.py``)."""
    pairs = [pair for result in measure_runs(events, runs) for pair in result.pairs]
    return [pair.ours for pair in pairs], [pair.baseline for pair in pairs]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=2000, help="events per side per run")
    parser.add_argument("--burst", type=int, default=DEFAULT_BURST, help="events per burst")
    parser.add_argument("--runs", type=int, default=5, help="runs (5)")
    args = parser.parse_args(argv)
    if not 1 <= args.runs <= 200 or not 1 <= args.burst <= args.events <= 100_000:
        parser.error("--runs must be within 1..200, 1 <= --burst <= --events <= 100000")
    load = os.getloadavg()[0]
    results = measure_runs(args.events, args.runs, args.burst)
    for n, result in enumerate(results, 1):
        print(f"run {n}: {result.summary()}")
    print(f"all:   {Result([pair for result in results for pair in result.pairs]).summary()}")
    print(f"load average (1 min) {load:.2f} before, {os.getloadavg()[0]:.2f} after")
    return 0


if __name__ == "__main__":
    sys.exit(main())
