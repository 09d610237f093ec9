"""Speed benchmarks of webex-meetings, each against a baseline measured in the same run.

``make bench`` (or ``.venv/bin/python bench/run.py [--quick] [--runs N] [--events N]``) prints
one markdown table (medians, p90 in brackets, ratio ours/baseline) and the machine it ran on.
Everything talks to 127.0.0.1 only; every loop is bounded by a count and every wait by a
timeout. See bench/README.md for what each row means.

1. lifecycle: register/unregister latency and init -> unregistered, on every face of the
   library, vs the official JS SDK 3.12.0 (``node register.mjs``) on the same emulator;
   plus both as cold processes (wall time from spawn to exit).
2. Mercury throughput: events/s delivered to ``meetings.events()`` and acked, vs the bare
   websocket transport read and acked by a minimal loop.
3. core: sans-IO register+unregister cycles/s vs JSON-only work of the same messages.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import core_cycles
import interop
import lifecycle
import mercury_throughput
from stats import Row, Summary, markdown_table

from webex_meetings.emulator import EmulatorThread

LIFECYCLE = "1 lifecycle"
THROUGHPUT = "2 Mercury"
CORE = "3 core"


@dataclass(frozen=True, slots=True)
class Settings:
    runs: int
    events: int
    core_cycles: int

    @property
    def throughput_runs(self) -> int:
        return max(2, math.ceil(self.runs / 3))


def parse_settings(argv: list[str] | None = None) -> Settings:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs (about 30 s)")
    parser.add_argument("--runs", type=int, help="runs per measurement (default 25, quick 10)")
    parser.add_argument("--events", type=int, default=2000, help="events per throughput run")
    args = parser.parse_args(argv)
    runs = args.runs if args.runs is not None else (10 if args.quick else 25)
    if not 1 <= runs <= 200 or not 1 <= args.events <= 100_000:
        parser.error("--runs must be within 1..200 and --events within 1..100000")
    return Settings(runs=runs, events=args.events, core_cycles=150 if args.quick else 400)


def progress(text: str) -> None:
    print(f"[bench] {text}", file=sys.stderr, flush=True)


# -- 1. lifecycle ------------------------------------------------------------------------------


@dataclass
class LifecycleSamples:
    """Every client's samples, filled round by round."""

    js: lifecycle.Timings = field(default_factory=lifecycle.Timings)
    cold: lifecycle.Timings = field(default_factory=lifecycle.Timings)
    faces: dict[str, lifecycle.Timings] = field(
        default_factory=lambda: {face: lifecycle.Timings() for face in lifecycle.FACES}
    )


def _lifecycle_round(samples: LifecycleSamples, base_url: str, token: str, js_ready: bool) -> None:
    """One run of every client, back to back, so load changes hit them all alike."""
    if js_ready:
        run = interop.run_once(base_url)
        samples.js.add(run.register, run.unregister, run.total, run.wall)
    steps, wall = lifecycle.cold_run(base_url, token)
    samples.cold.add(*steps, wall)
    for face, cycle in lifecycle.FACES.items():
        samples.faces[face].add(*cycle(base_url, token))


def _lifecycle_rows(face: str, ours: lifecycle.Timings, js: lifecycle.Timings) -> list[Row]:
    return [
        Row(LIFECYCLE, f"register() · {face}", "ms", False, ours.register, js.register),
        Row(LIFECYCLE, f"unregister() · {face}", "ms", False, ours.unregister, js.unregister),
        Row(LIFECYCLE, f"init→unregistered · {face}", "ms", False, ours.total, js.total),
    ]


def bench_lifecycle(settings: Settings, js_ready: bool) -> list[Row]:
    samples = LifecycleSamples()
    with EmulatorThread(seed=0) as emulator:
        base_url, token = emulator.base_url, emulator.issue_token()
        for cycle in lifecycle.FACES.values():
            cycle(base_url, token)  # warm-up, discarded
        for n in range(settings.runs):
            clients = "JS SDK, ours cold, 4 faces" if js_ready else "ours cold, 4 faces"
            progress(f"lifecycle round {n + 1}/{settings.runs}: {clients}")
            _lifecycle_round(samples, base_url, token, js_ready)
        lifecycle.check_emulator(emulator)
    js, cold = samples.js, samples.cold
    rows: list[Row] = []
    for face, timings in samples.faces.items():
        rows += _lifecycle_rows(f"{face}, warm", timings, js)
    rows += _lifecycle_rows("cold process (asyncio)", cold, js)
    rows.append(Row(LIFECYCLE, "process wall, spawn→exit · cold", "ms", False, cold.wall, js.wall))
    return rows


# -- 2 and 3 -----------------------------------------------------------------------------------


def bench_throughput(settings: Settings) -> list[Row]:
    progress(f"Mercury throughput: {settings.throughput_runs} runs x {settings.events} events")
    ours, raw = mercury_throughput.measure(settings.events, settings.throughput_runs)
    name = (
        f"events/s, bursts of {mercury_throughput.DEFAULT_BURST} pushed→delivered→acked, "
        f"{settings.events} per run (asyncio)"
    )
    return [Row(THROUGHPUT, name, "events/s", True, ours, raw)]


def bench_core(settings: Settings) -> tuple[list[Row], int]:
    progress(f"core: {settings.runs} runs x {settings.core_cycles} cycles")
    ours, baseline, messages = core_cycles.measure(settings.core_cycles, settings.runs)
    name = "init+register+unregister cycles/s, sans-IO fake cloud"
    return [Row(CORE, name, "cycles/s", True, ours, baseline)], messages


# -- report ------------------------------------------------------------------------------------


def _node_version() -> str:
    node = shutil.which("node")
    if node is None:
        return "absent"
    done = subprocess.run([node, "--version"], capture_output=True, text=True, check=False)
    return done.stdout.strip() or "unknown"


def machine_info(settings: Settings) -> str:
    names = ("anyio", "trio", "httpx", "wsproto")
    packages = ", ".join(f"{name} {version(name)}" for name in names)
    return "\n".join(
        [
            f"- python {platform.python_version()} ({platform.python_implementation()}), "
            f"{platform.system()} {platform.machine()}, cpu count {os.cpu_count()}",
            f"- node {_node_version()}, webex JS SDK {interop.installed_version() or 'absent'}",
            f"- {packages}",
            f"- settings: runs {settings.runs} (throughput runs {settings.throughput_runs}), "
            f"events {settings.events}, core cycles per run {settings.core_cycles}",
        ]
    )


def _overhead_note(rows: list[Row]) -> str:
    [row] = [r for r in rows if r.section == THROUGHPUT]
    ours, raw = Summary.of(row.ours), Summary.of(row.baseline)
    if ours is None or raw is None:
        return ""
    overhead = (1 / ours.median - 1 / raw.median) * 1e6
    pairs = mercury_throughput.Result(
        [mercury_throughput.Pair(o, b) for o, b in zip(row.ours, row.baseline, strict=True)]
    )
    return (
        f"- 2: library cost per event over the bare transport: {overhead:.0f} µs (from medians);"
        f" median of the adjacent bursts' ratios {pairs.ratio:.3f}, of their differences"
        f" {pairs.cost_us:.1f} µs"
    )


def notes(rows: list[Row], js_skipped: str | None, messages: int) -> str:
    lines = [
        "- ratio = median(ours) / median(baseline). For [ms] rows, below 1 means ours is",
        "  faster; for [events/s] and [cycles/s] rows it is the fraction of the baseline's",
        "  rate that ours reaches.",
        "- 1: baseline = official JS SDK 3.12.0, one fresh `node register.mjs` per run (its own",
        "  step timestamps; cold JIT), against the same shared threaded emulator as ours.",
        "  'warm' rows: our library in this process (a fresh event loop per cycle, warm-up",
        "  discarded), sharing the GIL with the emulator thread; 'cold' rows: a fresh",
        "  `python bench/cold_client.py` per run. Runs are interleaved round by round.",
        _overhead_note(rows),
        f"- 3: baseline = json.loads + json.dumps of the {messages} bodies/frames of one cycle.",
    ]
    if js_skipped:
        lines.insert(0, f"- NOTE: {js_skipped}; section 1 has no baseline column values.")
    return "\n".join(line for line in lines if line)


def main(argv: list[str] | None = None) -> int:
    settings = parse_settings(argv)
    started = time.perf_counter()
    js_skipped = interop.prepare()
    if js_skipped:
        progress(js_skipped)
    rows = bench_lifecycle(settings, js_ready=js_skipped is None)
    rows += bench_throughput(settings)
    core_rows, messages = bench_core(settings)
    rows += core_rows
    elapsed = time.perf_counter() - started
    print("## webex-meetings benchmarks\n")
    print(markdown_table(rows))
    print()
    print(notes(rows, js_skipped, messages))
    print(f"\nMachine:\n{machine_info(settings)}\n- benchmark wall time {elapsed:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
