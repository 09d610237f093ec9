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

import gc
import importlib.util
import json
import random
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from webex_meetings.core.config import SessionConfig
from webex_meetings.core.credentials import Credentials
from webex_meetings.core.session import MeetingsSession

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
class RecordingCloud(harness.FakeCloud):  # type: ignore[name-defined,misc]  # loaded by path
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


# -- the core alone: time spent inside handle() --------------------------------------------


class _Recording:
    """A session that also records every (input, now) it is fed."""

    def __init__(self, session: Any, fed: list[tuple[Any, float]]) -> None:
        self._session = session
        self._fed = fed

    def handle(self, event: Any, *, now: float) -> Any:
        self._fed.append((event, now))
        return self._session.handle(event, now=now)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)


def record_lifecycle() -> list[tuple[Any, float]]:
    """Every (input, now) one init+register+unregister cycle feeds the session, in order."""
    fed: list[tuple[Any, float]] = []
    pump = harness.Pump(_Recording(harness.make_session(), fed), harness.FakeCloud())
    pump.init()
    pump.result(pump.register())
    pump.result(pump.unregister())
    return fed


def face_session() -> Any:
    """A session as the library's faces build it: the process's shared configuration (one
    value per cloud) and random generator, credentials of its own, and the default device
    store (the instance's memory: records that stay in the process)."""
    return MeetingsSession(
        SessionConfig.for_cloud(harness.BASE),
        Credentials(harness.TOKEN),
        rng=_SHARED_RNG,
        records_stay_in_process=True,
    )


_SHARED_RNG = random.Random(7)


def _pong_for(effects: list[Any]) -> str | None:
    """The pong answering the ping among ``effects``, if one was sent."""
    for effect in effects:
        text = getattr(effect, "text", "")
        if '"type":"ping"' in text:
            return '{"type":"pong","id":' + json.dumps(json.loads(text)["id"]) + "}"
    return None


def lifecycle_us(cycles: int, new_session: Callable[[], Any] = face_session) -> float:
    """Mean µs of one whole lifecycle inside the core: a new session (``new_session``) and
    every ``handle`` call of init, register and unregister, replayed from a recorded cycle
    (request, socket and timer ids come from the session's own counter, so they match; the
    pong is rewritten to answer the session's own ping, off the clock: that JSON work is the
    benchmark's, not the core's)."""
    from webex_meetings.core.inputs import WebSocketTextReceived

    fed = record_lifecycle()
    [at] = [i for i, (e, _) in enumerate(fed) if '"pong"' in getattr(e, "text", "")]
    before, ping, pong, after = fed[: at - 1], fed[at - 1], fed[at], fed[at + 1 :]
    total = 0.0
    for _ in range(cycles):
        started = time.perf_counter()
        session = new_session()
        for event, now in before:
            session.handle(event, now=now)
        effects = session.handle(ping[0], now=ping[1])
        paused = time.perf_counter()
        answer = _pong_for(effects)
        assert answer is not None
        rewritten = WebSocketTextReceived(pong[0].socket_id, answer)
        started += time.perf_counter() - paused
        session.handle(rewritten, now=pong[1])
        for event, now in after:
            session.handle(event, now=now)
        total += time.perf_counter() - started
    return total / cycles * 1e6


def ping_cycle_us(cycles: int) -> float:
    """Mean µs inside the core per Mercury ping cycle of a registered session: the ping
    timer firing (ping frame, pong timer) and the pong arriving (ack, next ping timer)."""
    from webex_meetings.core.config import MercuryConfig
    from webex_meetings.core.effects import SendWebSocketText, StartTimer
    from webex_meetings.core.inputs import TimerFired, WebSocketTextReceived

    pump = harness.Pump(harness.make_session(), harness.FakeCloud())
    pump.init()
    pump.result(pump.register())
    session, now = pump.session, pump.now
    [socket_id] = pump.sockets
    ping_interval = MercuryConfig().ping_interval
    [ping_timer] = [t for t, at in pump.timers.items() if at == now + ping_interval]
    total = 0.0
    for _ in range(cycles):
        now += 15.0
        started = time.perf_counter()
        effects = session.handle(TimerFired(ping_timer), now=now)
        total += time.perf_counter() - started
        [ping] = [e for e in effects if isinstance(e, SendWebSocketText)]
        pong = '{"type":"pong","id":' + json.dumps(json.loads(ping.text)["id"]) + "}"
        started = time.perf_counter()
        effects = session.handle(WebSocketTextReceived(socket_id, pong), now=now + 0.01)
        total += time.perf_counter() - started
        [ping_timer] = [e.timer_id for e in effects if isinstance(e, StartTimer)]
    return total / cycles * 1e6


# -- what a registered session holds -------------------------------------------------------


def registered_sessions(count: int) -> list[Any]:
    """``count`` sessions built as the faces build them, each fed init, register and the
    answer to its first ping (the recorded cycle up to its unregister)."""
    from webex_meetings.core.inputs import Unregister, WebSocketTextReceived

    fed = record_lifecycle()
    [stop] = [i for i, (e, _) in enumerate(fed) if isinstance(e, Unregister)]
    sessions = []
    for _ in range(count):
        session = face_session()
        answer = None
        for event, now in fed[:stop]:
            if '"pong"' in getattr(event, "text", ""):
                assert answer is not None
                event = WebSocketTextReceived(event.socket_id, answer)
            answer = _pong_for(session.handle(event, now=now)) or answer
        if not session.registered:
            raise RuntimeError("core benchmark: the replayed registration failed")
        sessions.append(session)
    return sessions


def session_footprint(count: int = 500) -> tuple[float, float]:
    """What one registered session holds, averaged over ``count`` held at once: objects the
    garbage collector tracks, and bytes allocated (``tracemalloc``; config, catalog and
    caches shared by every session are built first and not counted)."""
    registered_sessions(1)  # the shared config, catalog and caches
    gc.collect()
    gc.disable()
    try:
        before = len(gc.get_objects())
        held = registered_sessions(count)
        objects = (len(gc.get_objects()) - before - 1) / count  # not the list holding them
        del held
        gc.collect()
        tracemalloc.start()
        try:
            start = tracemalloc.get_traced_memory()[0]
            held = registered_sessions(count)
            allocated = tracemalloc.get_traced_memory()[0] - start - sys.getsizeof(held)
        finally:
            tracemalloc.stop()
    finally:
        gc.enable()
    return objects, allocated / count


def main() -> None:
    """Print the core's cost per lifecycle and per ping cycle (best of five runs), and what
    a registered session holds."""
    lifecycle = min(lifecycle_us(2000) for _ in range(5))
    seeded = min(lifecycle_us(2000, harness.make_session) for _ in range(5))
    ping = min(ping_cycle_us(20000) for _ in range(5))
    objects, allocated = session_footprint()
    print(f"core lifecycle (new session, init, register, unregister): {lifecycle:.1f} us")
    print(f"  the same with a freshly seeded random generator per session: {seeded:.1f} us")
    print(f"core ping cycle (ping timer, pong): {ping:.2f} us")
    print(f"a registered session holds: {objects:.0f} gc-tracked objects, {allocated:.0f} bytes")


if __name__ == "__main__":
    main()
