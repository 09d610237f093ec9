"""Benchmark 1: ``register()`` / ``unregister()`` latency and init -> unregistered, per face.

Every client talks to one shared :class:`~webex_meetings.emulator.EmulatorThread` (asyncio, in a
background thread of the benchmark process): our in-process runs, our cold subprocess runs and
the JS SDK's node runs. Devices are deleted by each ``unregister()``, so the emulator's state
does not grow between runs (only its request log does).

In-process runs start a fresh event loop per cycle in this (warm) process, after one
discarded warm-up cycle per face, so they are *warm-process* numbers; the cold columns
(``python bench/cold_client.py`` vs ``node register.mjs``, both a fresh process per run) are
the apples-to-apples comparison.
Note that in-process our client shares the GIL with the emulator's thread; the subprocess
clients (ours cold, and node) do not.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import trio

from webex_meetings.blocking import Webex as BlockingWebex
from webex_meetings.options import RuntimeName
from webex_meetings.webex import Webex

Cycle = tuple[float, float, float]
"""register, unregister and init -> unregistered, in milliseconds."""

COLD_CLIENT = Path(__file__).with_name("cold_client.py")
COLD_TIMEOUT = 60.0
CYCLE_TIMEOUT = 30.0


@dataclass
class Timings:
    """Samples in milliseconds, one per run."""

    register: list[float] = field(default_factory=list)
    unregister: list[float] = field(default_factory=list)
    total: list[float] = field(default_factory=list)
    wall: list[float] = field(default_factory=list)

    def add(
        self, register: float, unregister: float, total: float, wall: float | None = None
    ) -> None:
        self.register.append(register)
        self.unregister.append(unregister)
        self.total.append(total)
        if wall is not None:
            self.wall.append(wall)


def _ms(since: float) -> float:
    return (time.perf_counter() - since) * 1000


def _fail(what: str) -> None:
    raise RuntimeError(f"lifecycle benchmark: {what}")


async def _async_cycle(base_url: str, token: str, runtime: RuntimeName) -> Cycle:
    init_call = time.perf_counter()
    webex = Webex.init(credentials={"access_token": token}, cloud=base_url, runtime=runtime)
    with anyio.fail_after(CYCLE_TIMEOUT):
        return await _async_steps(webex, runtime, init_call)


async def _async_steps(webex: Webex, runtime: RuntimeName, init_call: float) -> Cycle:
    async with webex:
        register_call = time.perf_counter()
        await webex.meetings.register()
        register = _ms(register_call)
        if not webex.meetings.registered:
            _fail(f"{runtime}: not registered after register()")
        unregister_call = time.perf_counter()
        await webex.meetings.unregister()
        unregister = _ms(unregister_call)
        total = _ms(init_call)
        if webex.meetings.registered:
            _fail(f"{runtime}: still registered after unregister()")
    return register, unregister, total


def _blocking_cycle(base_url: str, token: str) -> Cycle:
    init_call = time.perf_counter()
    with BlockingWebex.init(credentials={"access_token": token}, cloud=base_url) as webex:
        register_call = time.perf_counter()
        webex.meetings.register(timeout=CYCLE_TIMEOUT)
        register = _ms(register_call)
        if not webex.meetings.registered:
            _fail("blocking: not registered after register()")
        unregister_call = time.perf_counter()
        webex.meetings.unregister(timeout=CYCLE_TIMEOUT)
        unregister = _ms(unregister_call)
        total = _ms(init_call)
    return register, unregister, total


def _async_face(backend: str, runtime: RuntimeName) -> Callable[[str, str], Cycle]:
    """One cycle on a fresh event loop of ``backend`` (the process itself stays warm)."""

    def run(base_url: str, token: str) -> Cycle:
        if backend == "trio-native":
            return trio.run(_async_cycle, base_url, token, runtime)
        return anyio.run(_async_cycle, base_url, token, runtime, backend=backend)

    return run


FACES: dict[str, Callable[[str, str], Cycle]] = {
    "anyio/asyncio": _async_face("asyncio", "anyio"),
    "anyio/trio": _async_face("trio", "anyio"),
    'trio native (runtime="trio")': _async_face("trio-native", "trio"),
    "blocking face": _blocking_cycle,
}
"""Each face: one init -> register -> unregister cycle in this process."""


def cold_run(base_url: str, token: str) -> tuple[Cycle, float]:
    """One ``python bench/cold_client.py`` run: (register, unregister, total) and wall ms.

    :raises RuntimeError: the subprocess failed.
    """
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(COLD_CLIENT), base_url, token],
        capture_output=True,
        text=True,
        timeout=COLD_TIMEOUT,
        check=False,
    )
    wall = _ms(started)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        _fail(f"cold client exited {done.returncode}: {done.stderr[-2000:]}")
    durations: dict[str, Any] = json.loads(lines[-1])["durations_ms"]
    return (durations["register"], durations["unregister"], durations["total"]), wall


def check_emulator(emulator: Any) -> None:
    """Nothing left behind, nothing done wrong: no live device, no protocol violation."""
    if emulator.devices:
        _fail(f"{len(emulator.devices)} device(s) left on the emulator")
    if emulator.violations:
        _fail(f"protocol violations recorded: {emulator.violations[:3]}")
