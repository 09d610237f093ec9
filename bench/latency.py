"""register() under network latency: the slope over L is the number of sequential round trips.

``.venv/bin/python bench/latency.py [--runs N] [--js-runs N] [--no-js]`` starts the emulator
on 127.0.0.1 (in a thread of this process), makes it add latency L to every HTTP answer, to the
websocket upgrade and to every frame it sends, and measures ``register()`` at L = 0, 25 and
50 ms for:

* **ours, cold**: a fresh ``Webex`` with an empty store: catalog (people/me alongside), device
  POST, Mercury upgrade, authorization frame;
* **ours, warm**: a fresh ``Webex`` over a store holding the device the previous run kept
  (``unregister(keep_device=True)``): upgrade and authorization frame only;

each with a ``MemoryDeviceStore`` and with a ``FileDeviceStore`` (a new one per cold run, one
shared by the warm runs), so that every row compares like with like;
* **the official JS SDK** 3.12.0 (``node register.mjs``, its own register() timing), skipped
  with a message when node/npm are missing.

It prints a markdown table: the median register() time per L and the slope of a least-squares
line through them (ms per ms of L), which is the number of sequential round trips. Everything
is loopback only and bounded: a fixed number of runs, each with a timeout.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent))

import interop

from webex_meetings import FileDeviceStore, MemoryDeviceStore, Webex
from webex_meetings.emulator import Emulator, EmulatorThread
from webex_meetings.stores import DeviceStore

LATENCIES_MS = (0, 25, 50)
STORES: dict[str, Callable[[Path], DeviceStore]] = {
    "MemoryDeviceStore": lambda _: MemoryDeviceStore(),
    "FileDeviceStore": lambda folder: FileDeviceStore(folder / "devices.json"),
}
"""A new store of each kind (in ``folder``, for the file store)."""
OURS = tuple((warm, kind) for warm in (False, True) for kind in STORES)
JS = "js"
COLUMNS: dict[object, tuple[str, ...]] = {
    **{
        (warm, kind): (f"ours, {'warm' if warm else 'cold'} ({kind}): register()",)
        for warm, kind in OURS
    },
    JS: (
        "official JS SDK 3.12.0: register() (catalog already fetched)",
        "official JS SDK 3.12.0: init -> register() resolved",
    ),
}
RUN_TIMEOUT = 30.0


async def _register_ms(base_url: str, token: str, store: DeviceStore, *, keep: bool) -> float:
    """One register() in a fresh Webex, in ms; leaves keeping the device when ``keep``."""
    with anyio.fail_after(RUN_TIMEOUT):
        async with Webex(access_token=token, cloud=base_url, store=store) as webex:
            started = time.perf_counter()
            await webex.meetings.register()
            elapsed = (time.perf_counter() - started) * 1000
            if keep:
                await webex.meetings.unregister(keep_device=True)
    return elapsed


def measure_ours(emulator: Emulator, runs: int, *, warm: bool, kind: str) -> float:
    """The median register() in ms: cold (a new, empty store each run) or warm (one store,
    holding the device the previous run kept), with a store of ``kind``."""
    token = emulator.issue_token()
    times = []
    with tempfile.TemporaryDirectory() as folder:
        if not warm:
            for run in range(runs):
                store = STORES[kind](Path(folder) / str(run))
                times.append(anyio.run(_cold_ms, emulator.base_url, token, store))
            return statistics.median(times)
        store = STORES[kind](Path(folder))
        anyio.run(_warm_ms, emulator.base_url, token, store)  # prime: a device kept
        times = [anyio.run(_warm_ms, emulator.base_url, token, store) for _ in range(runs)]
        anyio.run(_delete_kept, emulator.base_url, token, store)  # the last one kept
    return statistics.median(times)


async def _cold_ms(base_url: str, token: str, store: DeviceStore) -> float:
    return await _register_ms(base_url, token, store, keep=False)


async def _warm_ms(base_url: str, token: str, store: DeviceStore) -> float:
    return await _register_ms(base_url, token, store, keep=True)


async def _delete_kept(base_url: str, token: str, store: DeviceStore) -> None:
    with anyio.fail_after(RUN_TIMEOUT):
        async with Webex(access_token=token, cloud=base_url, store=store) as webex:
            await webex.meetings.register()


def _ours(emulator: Emulator, *, runs: int, warm: bool, kind: str) -> tuple[float]:
    return (measure_ours(emulator, runs, warm=warm, kind=kind),)


def _js_once(base_url: str) -> tuple[float, float]:
    """One ``node register.mjs``: its register() and its init -> register() resolved, in ms
    (the script waits for the catalog before calling register(), so register() alone leaves
    the catalog out)."""
    env = dict(os.environ, STUB_BASE=base_url, POST_WAIT_MS="0", HOLD_MS="0")
    env.pop("WEBEX_TOKEN", None)
    done = subprocess.run(
        ["node", "register.mjs"],
        cwd=interop.CACHE,
        env=env,
        capture_output=True,
        text=True,
        timeout=interop.RUN_TIMEOUT,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    verdict = json.loads(lines[-1]) if lines else {}
    if done.returncode != 0 or verdict.get("ok") is not True:
        raise RuntimeError(f"register.mjs exited {done.returncode}: {done.stderr[-2000:]}")
    steps = verdict["steps"]
    return (
        steps["register_resolved"] - steps["register_call"],
        steps["register_resolved"] - steps["init_call"],
    )


def measure_js(emulator: Emulator, runs: int) -> tuple[float, float]:
    """The JS SDK's median register() and init -> registered, in ms."""
    results = [_js_once(emulator.base_url) for _ in range(runs)]
    return (
        statistics.median(register for register, _ in results),
        statistics.median(whole for _, whole in results),
    )


def slope(xs: list[float], ys: list[float]) -> float:
    """The least-squares slope of ys over xs."""
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    num = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    return num / sum((x - mean_x) ** 2 for x in xs)


def table(columns: dict[str, list[float]]) -> str:
    header = "| client | " + " | ".join(f"L = {ms} ms" for ms in LATENCIES_MS)
    lines = [header + " | slope (round trips) |", "|---" * (len(LATENCIES_MS) + 2) + "|"]
    for name, values in columns.items():
        cells = " | ".join(f"{value:.1f} ms" for value in values)
        rounds = slope([float(ms) for ms in LATENCIES_MS], values)
        lines.append(f"| {name} | {cells} | {rounds:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="runs of ours per point (7)")
    parser.add_argument("--js-runs", type=int, default=3, help="JS SDK runs per point (3)")
    parser.add_argument("--no-js", action="store_true", help="skip the official JS SDK")
    args = parser.parse_args(argv)
    js_skipped = "--no-js given" if args.no_js else interop.prepare()
    clients: dict[object, Callable[[Emulator], tuple[float, ...]]] = {
        (warm, kind): functools.partial(_ours, runs=args.runs, warm=warm, kind=kind)
        for warm, kind in OURS
    }
    if js_skipped is None:
        clients[JS] = lambda emu: measure_js(emu, args.js_runs)
    else:
        print(f"JS SDK columns skipped: {js_skipped}", flush=True)
    columns: dict[str, list[float]] = {}
    with EmulatorThread(host="127.0.0.1") as emulator:
        for latency_ms in LATENCIES_MS:
            emulator.control.set_latency("*", latency_ms / 1000)
            for client, measure in clients.items():
                for name, value in zip(COLUMNS[client], measure(emulator), strict=True):
                    columns.setdefault(name, []).append(value)
                    print(f"L = {latency_ms} ms  {name}: {value:.1f} ms", flush=True)
        emulator.control.set_latency("*", 0)
        assert emulator.devices == [], "a benchmark run left a device behind"
    print()
    print("register() wall time (median) with latency L on every answer, upgrade and frame:")
    print(table(columns))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
