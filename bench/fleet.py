"""Fleet benchmark: N sessions registered at once in one process, against an emulator in another.

::

    .venv/bin/python bench/fleet.py 100 1000          # one column per N, a fresh process each
    .venv/bin/python bench/fleet.py 1000 --py-spy .cache/fleet-profiles   # plus profiles

Theory of operation
-------------------
For each N the benchmark runs a fresh **client process** (this file with ``--one N``), which
starts a fresh **emulator process** (this file with ``--serve-emulator``: the library's
:class:`~webex_meetings.emulator.Emulator` with N users, one access token each) and then
drives N sessions, each its own ``Webex`` with its own token and device, through five phases:

1. *baseline*: N holder tasks (one per session, the benchmark's own) wait; RSS, descriptors,
   live tasks and gc-tracked objects are measured after a full collection.
2. *register*: every holder enters ``async with webex`` and calls ``register()``, at most
   ``--concurrency`` at a time; CPU and wall time give the cost and the rate. The same four
   counts are measured again: their growth over the baseline, divided by the sessions
   registered, is the per-session figure (the holders themselves are in both measurements).
3. *idle*: nothing but Mercury pings, every ``--ping-interval`` seconds (shortened from 15 s
   so that a short window holds many cycles) for ``--idle`` seconds. The emulator counts the
   pings it answered; client CPU over that window divided by that count is the cost of one
   ping cycle, which does not depend on the interval. At the default 15 s interval, N
   sessions then cost ``N x cost / 15 s`` of a core. A second window as long, with the
   garbage collector off (``gc.disable()``), tells what the collector adds.
4. *unregister*: every session calls ``unregister()``, ``--concurrency`` at a time.
5. *exit*: every session leaves ``async with`` (session shutdown, tasks end); RSS after a full
   collection is the teardown figure.

Everything is bounded: each phase has a deadline, the whole client process has ``--timeout``.
When a limit stops the run (descriptors, a refused or failed registration, a deadline), no
more sessions start, the ones registered go through the remaining phases, and the table says
how many sessions it measured and why it stopped. ``--py-spy DIR`` records the register, idle
and unregister phases with py-spy (``pip install py-spy`` into the venv; measurement only, not
a dependency) and prints the functions that cost most. All traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import errno
import gc
import json
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager, AsyncExitStack, nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
from fleet_probes import (
    Profiler,
    Snapshot,
    measure,
    open_descriptors,
    raise_descriptor_limit,
    return_freed_memory,
    rss_kib,
    summarize_profile,
)

from webex_meetings import MercuryConfig, SessionConfig
from webex_meetings.webex import Webex

DEFAULT_SIZES = (100, 1000)
SETTLE_GRACE = 60.0
"""Seconds a phase that ran out of time still waits for what is in flight to settle."""
ADMIN_PATIENCE = 30.0
"""Seconds the benchmark retries an admin request that a full emulator answers with 503."""
DEFAULT_INTERVAL_CYCLE = 15.0
"""The real ping interval, to which the idle cost is scaled."""


# -- the emulator process ------------------------------------------------------------------


def serve_emulator(users: int, tokens_out: Path, descriptor_limit: int | None) -> None:
    """Run an emulator with ``users`` users (one token each, written to ``tokens_out``) until
    SIGTERM/SIGINT; print one JSON line ``{"base_url": ...}`` once listening."""
    from webex_meetings.emulator import Emulator

    raise_descriptor_limit(descriptor_limit)

    async def main() -> None:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async with Emulator(port=0, seed=0) as emulator:
                tokens = [emulator.issue_token(emulator.add_user()) for _ in range(users)]
                tokens_out.write_text("\n".join(tokens))
                print(json.dumps({"base_url": emulator.base_url}), flush=True)
                async for _ in signals:
                    return

    anyio.run(main)


class EmulatorFull(Exception):
    """The emulator kept answering the benchmark's admin requests with 503 (it is full)."""


class EmulatorProcess:
    """The emulator in a child process: its base URL, tokens, admin API and resource use."""

    def __init__(self, users: int, descriptor_limit: int | None) -> None:
        self._tokens_file = Path(tempfile.mkstemp(prefix="fleet-tokens-")[1])
        command = [sys.executable, __file__, "--serve-emulator", str(users)]
        command += ["--tokens-out", str(self._tokens_file)]
        if descriptor_limit is not None:
            command += ["--descriptor-limit", str(descriptor_limit)]
        self._process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            self.close()
            raise SystemExit("fleet: the emulator process did not start")
        self.base_url: str = json.loads(line)["base_url"]
        self.tokens = self._tokens_file.read_text().split("\n")
        self.pid = self._process.pid

    async def admin(self, path: str) -> Any:
        """``GET /_emulator/<path>``. An emulator at its connection limit answers ``503``
        until one closes: retried for up to ``ADMIN_PATIENCE`` seconds, then a clear stop."""
        async with httpx.AsyncClient(base_url=self.base_url, timeout=60) as client:
            with anyio.move_on_after(ADMIN_PATIENCE):
                while True:
                    answer = await client.get(f"/_emulator/{path}")
                    if answer.status_code != 503:
                        answer.raise_for_status()
                        return answer.json()
                    await anyio.sleep(1.0)
        raise EmulatorFull(
            f"the emulator stayed at its connection limit for {ADMIN_PATIENCE:.0f} s and "
            f"refused the benchmark's admin request ({path}); raise --descriptor-limit"
        )

    def close(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(10)
        self._tokens_file.unlink(missing_ok=True)


# -- the fleet ---------------------------------------------------------------------------------


@dataclass
class Settings:
    size: int
    concurrency: int
    ping_interval: float
    idle: float
    timeout: float
    phase_timeout: float
    descriptor_limit: int | None


@dataclass
class Result:
    """Everything one run measured; the parent turns it into a table column."""

    size: int
    registered: int = 0
    stopped_because: str | None = None
    descriptor_limit: int = 0
    ping_interval: float = 0.0
    pings: int = 0
    pings_collector_off: int = 0
    holders_gone: int = 0
    """Holder tasks that had ended (their session failed or was skipped) when ``loaded`` was
    measured: one task each fewer than in ``baseline``."""
    baseline: dict[str, int] = field(default_factory=dict)
    entered: dict[str, int] = field(default_factory=dict)
    loaded: dict[str, int] = field(default_factory=dict)
    after: dict[str, int] = field(default_factory=dict)
    trimmed: dict[str, int] = field(default_factory=dict)
    """``after`` once glibc gave freed heap back (``malloc_trim``)."""
    emulator: dict[str, int] = field(default_factory=dict)
    phases: dict[str, dict[str, float]] = field(default_factory=dict)
    violations: int = 0
    profiles: dict[str, dict[str, list[tuple[str, float]]]] = field(default_factory=dict)


class Fleet:
    """N holder tasks, each owning one ``Webex``; gates move them through the phases.

    ``done`` counts what the holders did: ``entered``, ``registered``, ``unregistered``,
    ``exited``, and ``<step> failed`` for each step that raised (the first failure stops
    every holder that has not yet begun its step).
    """

    def __init__(self, settings: Settings, emulator: EmulatorProcess, result: Result) -> None:
        self.settings = settings
        self.emulator = emulator
        self.result = result
        self.config = SessionConfig(mercury=MercuryConfig(ping_interval=settings.ping_interval))
        self.limiter = anyio.CapacityLimiter(settings.concurrency)
        self.gates = {name: anyio.Event() for name in ("enter", "register", "unregister", "exit")}
        self.done: Counter[str] = Counter()
        self.stop = False

    async def hold(self, token: str) -> None:
        try:
            async with AsyncExitStack() as stack:
                webex = Webex.init(token, config=self.config, cloud=self.emulator.base_url)
                if not await self.step("entered", lambda: stack.enter_async_context(webex)):
                    return
                if not await self.step("registered", webex.meetings.register):
                    return
                await self.step("unregistered", webex.meetings.unregister)
                await self.gates["exit"].wait()
        finally:
            self.done["exited"] += 1

    async def step(self, name: str, call: Callable[[], Awaitable[object]]) -> bool:
        """Wait for this step's gate, then ``call()`` (``--concurrency`` at a time). False
        when it failed, or was skipped because an earlier failure stopped the fleet."""
        gate = {"entered": "enter", "registered": "register", "unregistered": "unregister"}
        await self.gates[gate[name]].wait()
        async with self.limiter:
            if self.stop and name != "unregistered":
                self.done[f"{name} skipped"] += 1
                return False
            try:
                await call()
            except Exception as exc:
                self.done[f"{name} failed"] += 1
                self.fail(f"{name[:-2]} failed: {describe_error(exc)}")
                return False
        self.done[name] += 1
        return True

    def settled(self, name: str, out_of: int) -> bool:
        """Every holder that reached step ``name`` is through it, one way or another."""
        done = self.done
        return done[name] + done[f"{name} failed"] + done[f"{name} skipped"] >= out_of

    def fail(self, reason: str) -> None:
        if not self.stop:
            self.stop = True
            self.result.stopped_because = reason
            progress(f"stopping: {reason}")

    async def run_phase(self, name: str, finished: Callable[[], bool], deadline: float) -> None:
        """Open gate ``name``, wait until ``finished()`` (at most ``deadline`` seconds), and
        record what the phase cost."""
        started = time.time()
        with measure(self.emulator.pid) as phase:
            self.gates[name].set()
            if not await self.wait_until(finished, deadline, name, started):
                self.fail(f"the {name} phase did not finish within {deadline:.0f} s")
                # Nothing new starts now; what is in flight settles (or the grace ends).
                await self.wait_until(finished, SETTLE_GRACE, name, started)
        self.result.phases[name] = asdict(phase)

    async def wait_until(
        self, finished: Callable[[], bool], seconds: float, name: str, started: float
    ) -> bool:
        with anyio.move_on_after(seconds):
            while not finished():
                await anyio.sleep(0.05)
                report_progress(name, self.done, started)
            return True
        return False


def describe_error(exc: BaseException) -> str:
    """``Type: message``, naming descriptor exhaustion when it is anywhere in the chain or
    inside an exception group."""
    pending: list[BaseException] = [exc]
    while pending:
        seen = pending.pop()
        if (isinstance(seen, OSError) and seen.errno == errno.EMFILE) or any(
            sign in str(seen) for sign in ("EMFILE", "Too many open files")
        ):
            limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
            return (
                f"file descriptors exhausted (limit {limit:,} per process; "
                f"{type(exc).__name__}: {exc})"
            )
        pending += getattr(seen, "exceptions", ())
        pending += [e for e in (seen.__cause__, seen.__context__) if e is not None]
    return f"{type(exc).__name__}: {exc}"


_last_report = [0.0]


def report_progress(phase: str, done: Counter[str], started: float) -> None:
    if time.time() - _last_report[0] >= 5:
        _last_report[0] = time.time()
        counts = ", ".join(f"{key} {value}" for key, value in sorted(done.items()))
        progress(f"  {phase}: {time.time() - started:.0f} s, {counts}")


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


async def run_fleet(settings: Settings, emulator: EmulatorProcess, profiler: Profiler) -> Result:
    result = Result(
        settings.size, descriptor_limit=raise_descriptor_limit(settings.descriptor_limit)
    )
    result.ping_interval = settings.ping_interval
    fleet = Fleet(settings, emulator, result)
    deadline = settings.phase_timeout
    async with anyio.create_task_group() as group:
        for token in emulator.tokens[: settings.size]:
            group.start_soon(fleet.hold, token)
        await anyio.sleep(0.1)
        result.baseline = asdict(Snapshot.take())
        await fleet.run_phase("enter", lambda: fleet.settled("entered", settings.size), deadline)
        result.entered = asdict(Snapshot.take())
        entered = fleet.done["entered"]
        with profiler.phase("register"):
            await fleet.run_phase(
                "register", lambda: fleet.settled("registered", entered), deadline
            )
        result.registered = fleet.done["registered"]
        result.loaded = asdict(Snapshot.take())
        result.holders_gone = fleet.done["exited"]
        result.emulator = {
            "rss_kib": rss_kib(emulator.pid),
            "descriptors": open_descriptors(emulator.pid),
        }
        try:
            devices = len(await emulator.admin("devices"))
        except EmulatorFull as exc:
            fleet.fail(str(exc))
        else:
            if devices != result.registered:
                fleet.fail(f"the emulator holds {devices} devices, not {result.registered}")
        await idle(fleet, profiler)
        registered = result.registered
        with profiler.phase("unregister"):
            await fleet.run_phase(
                "unregister", lambda: fleet.settled("unregistered", registered), deadline
            )
        await fleet.run_phase("exit", lambda: fleet.done["exited"] >= settings.size, deadline)
    result.after = asdict(Snapshot.take())
    if return_freed_memory():
        result.trimmed = asdict(Snapshot.take())
    result.violations = len(await emulator.admin("violations"))
    leftover = len(await emulator.admin("devices"))
    if leftover:
        fleet.fail(f"{leftover} devices were left on the emulator")
    result.profiles = {name: summarize_profile(path) for name, path in profiler.files.items()}
    return result


async def idle(fleet: Fleet, profiler: Profiler) -> None:
    """Let the fleet ping for ``idle`` seconds, then as long again with the garbage collector
    off; count the pings the emulator answered in each window."""
    result = fleet.result
    if not result.registered:
        return
    result.phases["idle"], result.pings = await idle_window(fleet, profiler.phase("idle"))
    gc.disable()
    try:
        window = await idle_window(fleet, nullcontext())
        result.phases["idle, collector off"], result.pings_collector_off = window
    finally:
        gc.enable()


async def idle_window(
    fleet: Fleet, profiling: AbstractContextManager[None]
) -> tuple[dict[str, float], int]:
    before = await pings(fleet.emulator)
    with profiling, measure(fleet.emulator.pid) as phase:
        await anyio.sleep(fleet.settings.idle)
    return asdict(phase), await pings(fleet.emulator) - before


async def pings(emulator: EmulatorProcess) -> int:
    """Pings the emulator answered so far (0 when it is too full to tell)."""
    try:
        connections = await emulator.admin("connections")
    except EmulatorFull as exc:
        progress(f"  {exc}")
        return 0
    return sum(connection["pings"] for connection in connections)


def run_one(settings: Settings, profile_dir: Path | None) -> Result:
    """The client process: one fleet of ``settings.size`` against a fresh emulator."""
    emulator = EmulatorProcess(settings.size, settings.descriptor_limit)
    try:
        profiler = Profiler(profile_dir, settings.size)

        async def main() -> Result:
            with anyio.fail_after(settings.timeout):
                return await run_fleet(settings, emulator, profiler)

        return anyio.run(main)
    finally:
        emulator.close()


# -- the table ---------------------------------------------------------------------------------


def per_session(result: Result, key: str, when: str = "loaded") -> float:
    count = result.registered if when == "loaded" else result.size
    grown: int = getattr(result, when)[key] - result.baseline[key]
    if key == "tasks" and when == "loaded":
        grown += result.holders_gone
    return grown / max(1, count)


def ms_per(phase: dict[str, float], count: int) -> str:
    return f"{phase['cpu'] * 1000 / max(1, count):.2f}"


ROWS: tuple[tuple[str, Callable[[Result], str]], ...] = (
    ("sessions registered", lambda r: f"{r.registered:,} of {r.size:,}"),
    ("RSS per entered session, not registered (KiB)", lambda r: entered_rss(r)),
    ("client CPU per init + enter (ms)", lambda r: ms_per(r.phases["enter"], r.size)),
    ("RSS per registered session (KiB)", lambda r: f"{per_session(r, 'rss_kib'):.0f}"),
    ("file descriptors per session", lambda r: f"{per_session(r, 'descriptors'):.2f}"),
    ("live tasks per session", lambda r: f"{per_session(r, 'tasks'):.2f}"),
    ("gc-tracked objects per session", lambda r: f"{per_session(r, 'objects'):,.0f}"),
    ("gc-tracked objects in total", lambda r: f"{r.loaded['objects']:,}"),
    ("client CPU per register (ms)", lambda r: ms_per(r.phases["register"], r.registered)),
    ("registrations per second", lambda r: rate(r, "register")),
    ("full collections during register, in all", lambda r: full(r, "register")),
    ("ping interval used (s) / pings counted", lambda r: f"{r.ping_interval:g} / {r.pings:,}"),
    ("client CPU per idle ping cycle (us)", lambda r: f"{cycle_us(r):.0f}"),
    ("  = share of a core at 15 s, all sessions", lambda r: f"{core_share(r):.1%}"),
    ("  the same, collector off (us)", lambda r: f"{cycle_us(r, collector=False):.0f}"),
    ("full collections while idle, in all", lambda r: full(r, "idle")),
    ("client CPU per unregister (ms)", lambda r: ms_per(r.phases["unregister"], r.registered)),
    ("unregistrations per second", lambda r: rate(r, "unregister")),
    ("client CPU per exit (ms)", lambda r: ms_per(r.phases["exit"], r.registered)),
    ("RSS baseline / registered / after teardown (MB)", lambda r: rss_triple(r)),
    ("  after teardown, freed heap returned (malloc_trim) (MB)", lambda r: trimmed_rss(r)),
    ("emulator: RSS (MB) / descriptors, registered", lambda r: emulator_pair(r)),
    ("emulator CPU per register (ms)", lambda r: emulator_ms(r)),
)


def rate(result: Result, phase: str) -> str:
    return f"{result.registered / result.phases[phase]['wall']:.0f}"


def entered_rss(result: Result) -> str:
    return f"{per_session(result, 'rss_kib', 'entered'):.0f}"


def full(result: Result, phase: str) -> str:
    return f"{result.phases[phase]['full_collections']:.0f}"


def cycle_us(result: Result, *, collector: bool = True) -> float:
    name, count = (
        ("idle", result.pings) if collector else ("idle, collector off", result.pings_collector_off)
    )
    window = result.phases.get(name)
    return window["cpu"] * 1e6 / count if window and count else 0.0


def core_share(result: Result) -> float:
    return result.registered * cycle_us(result) / 1e6 / DEFAULT_INTERVAL_CYCLE


def rss_triple(result: Result) -> str:
    values = (result.baseline, result.loaded, result.after)
    return " / ".join(f"{v['rss_kib'] / 1024:.0f}" for v in values)


def trimmed_rss(result: Result) -> str:
    return f"{result.trimmed['rss_kib'] / 1024:.0f}"


def emulator_pair(result: Result) -> str:
    return f"{result.emulator['rss_kib'] / 1024:.0f} / {result.emulator['descriptors']:,}"


def emulator_ms(result: Result) -> str:
    return f"{result.phases['register']['emulator_cpu'] * 1000 / max(1, result.registered):.2f}"


def table(results: list[Result]) -> str:
    lines = ["| per session unless said | " + " | ".join(f"N={r.size:,}" for r in results) + " |"]
    lines.append("|---" * (len(results) + 1) + "|")
    for label, cell in ROWS:
        lines.append(f"| {label} | " + " | ".join(safe(cell, r) for r in results) + " |")
    return "\n".join(lines)


def safe(cell: Callable[[Result], str], result: Result) -> str:
    try:
        return cell(result)
    except (KeyError, ZeroDivisionError):
        return "-"


def notes(results: list[Result]) -> str:
    lines = []
    for result in results:
        if result.stopped_because:
            lines.append(f"- N={result.size:,} stopped: {result.stopped_because}")
        if result.violations:
            lines.append(
                f"- N={result.size:,}: the emulator recorded {result.violations} violations"
            )
        for phase, summary in result.profiles.items():
            worked = int(summary["samples"][0][1])
            for kind in ("areas", "ours", "self"):
                lines.append(f"\npy-spy, N={result.size:,}, {phase}, {kind} ({worked} samples):\n")
                lines += [f"    {part:6.1%}  {name}" for name, part in summary[kind]]
    limit = results[0].descriptor_limit if results else 0
    lines.append(f"- open-file limit {limit:,} per process; Python {sys.version.split()[0]}")
    return "\n".join(lines)


# -- command line ------------------------------------------------------------------------------


def default_interval(size: int) -> float:
    """About 300 pings a second in all: many cycles in a short window, a client that keeps up."""
    return min(DEFAULT_INTERVAL_CYCLE, max(2.0, size / 300))


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sizes", nargs="*", type=int, default=list(DEFAULT_SIZES))
    parser.add_argument("--concurrency", type=int, default=100, help="registrations in flight")
    parser.add_argument("--ping-interval", type=float, help="seconds (default: N/300, 2..15)")
    parser.add_argument("--idle", type=float, help="idle window, seconds (default 4 intervals)")
    parser.add_argument("--py-spy", type=Path, metavar="DIR", help="profile the main phases")
    parser.add_argument("--timeout", type=float, default=3600.0, help="per N, seconds")
    parser.add_argument(
        "--phase-timeout", type=float, help="seconds per phase (default: 120 + N x 0.06)"
    )
    parser.add_argument(
        "--descriptor-limit", type=int, help="open files per process (default: the hard limit)"
    )
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve-emulator", type=int, metavar="USERS", help=argparse.SUPPRESS)
    parser.add_argument("--tokens-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if any(size < 1 for size in args.sizes):
        parser.error("sizes must be positive")
    return args


def settings_for(args: argparse.Namespace, size: int) -> Settings:
    interval = args.ping_interval or default_interval(size)
    idle_seconds = args.idle if args.idle is not None else min(60.0, 4 * interval)
    return Settings(
        size,
        args.concurrency,
        interval,
        idle_seconds,
        args.timeout,
        args.phase_timeout or 120 + size * 0.06,
        args.descriptor_limit,
    )


def child_flags(args: argparse.Namespace) -> list[str]:
    """The options a client process gets, as given to this one."""
    flags = ["--concurrency", str(args.concurrency), "--timeout", str(args.timeout)]
    for name in ("ping_interval", "idle", "py_spy", "descriptor_limit", "phase_timeout"):
        value = getattr(args, name)
        if value is not None:
            flags += [f"--{name.replace('_', '-')}", str(value)]
    return flags


def run_child(args: argparse.Namespace, size: int, argv: list[str]) -> Result | None:
    """Run one size in a fresh client process; its last stdout line is the JSON result."""
    progress(f"N={size:,}: starting a client process and an emulator process")
    command = [sys.executable, __file__, str(size), "--one", *argv]
    try:
        done = subprocess.run(
            command, stdout=subprocess.PIPE, text=True, timeout=args.timeout + 120
        )
    except subprocess.TimeoutExpired:
        progress(f"N={size:,}: the client process did not finish within its timeout")
        return None
    if done.returncode != 0 or not done.stdout.strip():
        progress(f"N={size:,}: the client process failed (exit {done.returncode})")
        return None
    data = json.loads(done.stdout.strip().splitlines()[-1])
    return Result(**data)


def main(argv: list[str]) -> int:
    args = parse(argv)
    if args.serve_emulator is not None:
        serve_emulator(args.serve_emulator, args.tokens_out, args.descriptor_limit)
        return 0
    if args.one:
        [size] = args.sizes
        result = run_one(settings_for(args, size), args.py_spy)
        print(json.dumps(asdict(result)), flush=True)
        return 0
    flags = child_flags(args)
    results = [r for size in args.sizes if (r := run_child(args, size, flags)) is not None]
    if not results:
        return 1
    print(table(results))
    print()
    print(notes(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
