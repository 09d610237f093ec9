"""Soak: N register/unregister cycles through a fault proxy, with random faults.

    python bench/soak.py            # 10,000 cycles
    python bench/soak.py --quick    # 200 cycles
    python bench/soak.py --cycles 500 --fault-rate 0.3 --seed 7
    python bench/soak.py --lanes 4  # 10,000 cycles, four at a time

The emulator runs in another process (on 127.0.0.1:P); each lane has its own fault proxy
(``tests/helpers/fault_proxy.py``) in this process, lane k on 127.0.0.(3+k):P, and the emulator
advertises its services on the host the client used, so a lane's whole cycle (catalog, WDM,
Mercury) goes through that lane's proxy and a fault armed for it hits only it. Each cycle is one
Webex instance: ``async with`` + ``register()`` + exit; with probability ``--fault-rate`` one
random fault (latency, close after N bytes, reset, black hole before/after, trickle) is armed on
one random step (catalog, people/me, device POST, upgrade, authorization frame, DELETE). A cycle
ends with success or a typed WebexError, within a deadline. At the end it prints cycles,
outcomes, leaked devices (must be 0: a device whose POST answer was lost is found and deleted), fds
and RSS before/after. Bounded: the cycle count and a per-cycle deadline; loopback only.
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import resource
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "helpers"))

from fault_proxy import AUTH_FRAME, Fault, Rule, fault_proxy  # type: ignore[import-not-found]

from webex_meetings.core.config import BackoffConfig, MercuryConfig, SessionConfig
from webex_meetings.core.errors import WebexError
from webex_meetings.transports.websocket_anyio import AnyioWebSocketConnector
from webex_meetings.webex import Webex

FIRST_PROXY_HOST = 3  # lane k proxies on 127.0.0.(3+k)
TOKEN = "emulator-default-token"
STEPS = {
    "catalog": b"GET /u2c/api/v1/catalog",
    "people_me": b"GET /hydra/v1/people/me",
    "device_post": b"POST /wdm/api/v1/devices",
    "upgrade": b"GET /mercury/",
    "auth": AUTH_FRAME,
    "delete": b"DELETE /wdm/",
}
FAULTS = [
    Rule(b"", Fault.LATENCY, delay=0.1),
    Rule(b"", Fault.CLOSE_AFTER, count=20),
    Rule(b"", Fault.RESET),
    Rule(b"", Fault.HOLE_BEFORE),
    Rule(b"", Fault.HOLE_AFTER),
    Rule(b"", Fault.TRICKLE, delay=0.002),
]
CYCLE_DEADLINE = 20.0


def fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def config(base: str) -> SessionConfig:
    backoff = BackoffConfig(initial=0.1, maximum=0.4, max_attempts=3)
    mercury = MercuryConfig(authorization_timeout=0.5, initial_backoff=backoff)
    return replace(SessionConfig.for_cloud(base), mercury=mercury, http_timeout=0.5)


def start_emulator(port: int) -> subprocess.Popen[bytes]:
    code = (
        "from webex_meetings.emulator import serve_forever;"
        f"serve_forever('127.0.0.1', {port}, print_urls=False, default_token='{TOKEN}')"
    )
    return subprocess.Popen([sys.executable, "-c", code])


async def devices_left(port: int) -> int:
    import httpx

    async with httpx.AsyncClient() as client:
        devices = (await client.get(f"http://127.0.0.1:{port}/_emulator/devices")).json()
    return len(devices)


async def wait_for(port: int) -> None:
    with anyio.fail_after(15):
        while True:
            try:
                await (await anyio.connect_tcp("127.0.0.1", port)).aclose()
                return
            except OSError:
                await anyio.sleep(0.05)


async def cycle(base: str) -> str:
    webex = Webex(
        access_token=TOKEN,
        config=config(base),
        websockets=AnyioWebSocketConnector(connect_timeout=0.5),
        unregister_timeout=3.0,
    )
    outcome = "registered"
    with anyio.fail_after(CYCLE_DEADLINE):
        async with webex:
            try:
                await webex.meetings.register()
            except WebexError as exc:
                outcome = type(exc).__name__
    return outcome


class Soak:
    """The cycles still to run and what they gave, shared by the lanes."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.started = time.monotonic()
        self.left = args.cycles
        self.done = 0
        self.outcomes: collections.Counter[str] = collections.Counter()

    def take(self) -> bool:
        """Claim the next cycle, if any is left."""
        if self.left == 0:
            return False
        self.left -= 1
        return True

    def record(self, outcome: str) -> None:
        self.outcomes[outcome] += 1
        self.done += 1
        if self.args.progress and self.done % self.args.progress == 0:
            elapsed = time.monotonic() - self.started
            rss = rss_kib() / 1024
            print(
                f"{self.done} cycles, {elapsed:.0f} s, RSS {rss:.1f} MiB, {fds()} fds", flush=True
            )


async def lane(soak: Soak, number: int, port: int) -> None:
    """Run cycles through this lane's own proxy until none are left."""
    rng = random.Random(soak.args.seed * 1000 + number)
    host = f"127.0.0.{FIRST_PROXY_HOST + number}"
    async with fault_proxy(("127.0.0.1", port), host=host, port=port) as proxy:
        base = f"http://{host}:{port}"
        while soak.take():
            proxy.rules.clear()
            if rng.random() < soak.args.fault_rate:
                rule = replace(rng.choice(FAULTS), match=rng.choice(list(STEPS.values())))
                proxy.rules.append(rule)
                soak.outcomes[f"fault {rule.fault.value}"] += 1
            soak.record(await cycle(base))


async def soak(args: argparse.Namespace) -> None:
    port = args.port
    emulator = start_emulator(port)
    try:
        await wait_for(port)
        warm_up = Soak(argparse.Namespace(**{**vars(args), "cycles": 1, "fault_rate": 0.0}))
        await lane(warm_up, 0, port)  # imports, TLS context, pools
        fds_before, rss_before = fds(), rss_kib()
        run = Soak(args)
        async with anyio.create_task_group() as lanes:
            for number in range(args.lanes):
                lanes.start_soon(lane, run, number, port)
        elapsed = time.monotonic() - run.started
        leaked = await devices_left(port)
        print(
            f"cycles: {run.done} in {elapsed:.1f} s on {args.lanes} lane(s)"
            f" (fault rate {args.fault_rate}, seed {args.seed})"
        )
        for name, count in sorted(run.outcomes.items()):
            print(f"  {name}: {count}")
        print(f"leaked devices: {leaked}")
        print(f"fds: {fds_before} -> {fds()}")
        print(f"RSS: {rss_before / 1024:.1f} MiB -> {rss_kib() / 1024:.1f} MiB")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS: {peak:.1f} MiB")
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true", help="200 cycles")
    parser.add_argument("--fault-rate", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--port", type=int, default=8797)
    parser.add_argument(
        "--lanes", type=int, default=1, help="cycles in flight at once, each through its own proxy"
    )
    parser.add_argument("--progress", type=int, default=1000, help="print every N cycles")
    args = parser.parse_args()
    if args.quick:
        args.cycles = 200
    anyio.run(soak, args)


if __name__ == "__main__":
    main()
