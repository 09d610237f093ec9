"""Benchmark 3: the sans-IO core alone: full register+unregister cycles per second.

ours: a fresh ``MeetingsSession`` per cycle (init, register, unregister), its ``handle()``
driven by the test suite's :class:`Pump` over its sans-IO :class:`FakeCloud`
(``tests/helpers/session_harness.py``, imported by path): catalog, people/me, device POST,
Mercury open/authorization/buffer_state/acks/ping, close, device DELETE; no I/O, no event
loop, simulated time. The fake cloud's own work is included.

baseline: only the JSON work of the same cycle: every HTTP body and websocket frame the cycle
exchanged (recorded from one real cycle) parsed with ``json.loads`` and built again with
``json.dumps``. The ratio says what fraction of the pure serialization speed the session
keeps; 1/ratio is how many times the JSON work the whole cycle costs.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

HARNESS = Path(__file__).resolve().parents[1] / "tests" / "helpers" / "session_harness.py"


def _load_harness() -> ModuleType:
    spec = importlib.util.spec_from_file_location("session_harness", HARNESS)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot import {HARNESS}")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("session_harness", module)
    spec.loader.exec_module(module)
    return module


harness = _load_harness()


@dataclass
class RecordingCloud(harness.FakeCloud):
    """The fake cloud, also keeping the text of every body and frame exchanged."""

    texts: list[str] = field(default_factory=list)

    def http(self, request: Any) -> Any:
        if request.body:
            self.texts.append(request.body.decode())
        answer = super().http(request)
        body = getattr(answer, "body", b"")
        if body:
            self.texts.append(body.decode())
        return answer

    def ws_text(self, text: str) -> list[str]:
        replies: list[str] = super().ws_text(text)
        self.texts.append(text)
        self.texts.extend(replies)
        return replies


def _new_pump(cloud: Any) -> Any:
    pump = harness.Pump(harness.make_session(), cloud)
    pump.init()
    return pump


def _cycle(cloud: Any) -> None:
    """One fresh session: init, register, unregister."""
    pump = _new_pump(cloud)
    if pump.result(pump.register()) is not None or not pump.session.registered:
        raise RuntimeError("core benchmark: register failed on the fake cloud")
    if pump.result(pump.unregister()) is not None or pump.session.registered:
        raise RuntimeError("core benchmark: unregister failed on the fake cloud")


def recorded_messages() -> list[str]:
    """Every JSON text one init+register+unregister cycle exchanges."""
    cloud = RecordingCloud()
    _cycle(cloud)
    return list(cloud.texts)


def _session_rate(cycles: int) -> float:
    cloud = harness.FakeCloud()
    _cycle(cloud)  # warm-up
    started = time.perf_counter()
    for _ in range(cycles):
        _cycle(cloud)
    return cycles / (time.perf_counter() - started)


def _json_rate(cycles: int, texts: list[str]) -> float:
    started = time.perf_counter()
    for _ in range(cycles):
        for text in texts:
            json.dumps(json.loads(text))
    return cycles / (time.perf_counter() - started)


def measure(cycles: int, runs: int) -> tuple[list[float], list[float], int]:
    """Cycles/s of the session and of the JSON-only baseline, and messages per cycle."""
    texts = recorded_messages()
    ours: list[float] = []
    baseline: list[float] = []
    for _ in range(runs):
        ours.append(_session_rate(cycles))
        baseline.append(_json_rate(cycles * 10, texts))
    return ours, baseline, len(texts)
