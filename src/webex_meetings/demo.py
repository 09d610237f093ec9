"""``webex-meetings demo``: the whole lifecycle against the embedded emulator, step by step.

It starts the Webex cloud emulator on loopback, then runs what an application would:
``Webex.init`` -> ``meetings:ready`` -> ``register()`` -> a few Mercury events -> ``unregister()``,
printing every lifecycle transition, every request and websocket step with its timing, the
device URL, and a summary. Every claim is checked against the emulator's own records (the
device exists while registered and is gone after, each event was acked, no protocol
violation); the exit status is 0 only if all of them held.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import anyio

from .commands.events import describe_event
from .commands.output import Output
from .core.events import Event, MercuryEvent
from .emulator import Emulator
from .recording import RecordingHttpTransport, RecordingWebSocketConnector, WireRecord
from .transports.httpx_transport import HttpxTransport
from .transports.websocket_anyio import AnyioWebSocketConnector
from .webex import Webex

__all__ = ["DemoReport", "run_demo"]

EVENT_TIMEOUT = 10.0
NEXT_STEPS: Final = (
    "next: `webex-meetings emulator` serves this emulator for your own client; "
    "`webex-meetings register` (with WEBEX_ACCESS_TOKEN set) registers with Webex itself; "
    "examples/ holds asyncio, trio and blocking scripts to start from"
)
AFTER_A_FAILURE: Final = (
    "next: run `webex-meetings demo -vv` to see the library's log next to each step, "
    "and report the failed checks"
)


@dataclass
class DemoReport:
    """What the demo saw and checked."""

    checks: list[tuple[str, bool]] = field(default_factory=list)
    device_url: str | None = None
    requests: int = 0
    frames: int = 0
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(passed for _, passed in self.checks)


class _Printer:
    """The demo's lines: each with its kind, text, fields and the milliseconds since start."""

    def __init__(self, output: Output) -> None:
        self._output = output
        self._t0 = time.perf_counter()

    def line(self, kind: str, text: str, **fields: Any) -> None:
        elapsed_ms = round((time.perf_counter() - self._t0) * 1000, 2)
        self._output.line(kind, text, elapsed_ms=elapsed_ms, **fields)


def _wire_printer(printer: _Printer, report: DemoReport) -> Callable[[WireRecord], None]:
    def show(record: WireRecord) -> None:
        if record.kind == "http":
            report.requests += 1
            status = record.status if record.error is None else record.error
            text = f"{record.what} -> {status} ({record.duration * 1000:.1f} ms)"
        elif record.kind == "ws.open":
            text = f"{record.what} -> {record.status or record.error}"
            text += f" ({record.duration * 1000:.1f} ms)"
        else:
            report.frames += 1
            arrow = {"ws.send": "->", "ws.receive": "<-", "ws.close": "<- close"}[record.kind]
            text = f"{arrow} {record.what}" + (f" {record.status}" if record.status else "")
        printer.line(record.kind, text, step=record.step, status=record.status)

    return show


def _check(printer: _Printer, report: DemoReport, name: str, passed: bool) -> None:
    report.checks.append((name, passed))
    printer.line("check", f"{'ok  ' if passed else 'FAIL'} {name}", passed=passed)


async def _receive_events(webex: Webex, count: int, emu: Emulator) -> list[MercuryEvent]:
    received: list[MercuryEvent] = []
    if count == 0:
        return received
    async with webex.meetings.events(MercuryEvent) as stream:
        for n in range(count):
            emu.control.push_event({"eventType": "demo.ping", "n": n})
        with anyio.move_on_after(EVENT_TIMEOUT):
            async for event in stream:
                assert isinstance(event, MercuryEvent)
                received.append(event)
                if len(received) == count:
                    break
    return received


async def _wait_for_acks(emu: Emulator, ids: set[str]) -> bool:
    with anyio.move_on_after(EVENT_TIMEOUT):
        while not ids <= {ack.message_id for ack in emu.acks}:
            await anyio.sleep(0.005)
        return True
    return False


async def _run(emu: Emulator, printer: _Printer, report: DemoReport, events: int) -> None:
    printer.line("emulator", f"Webex cloud emulator listening on {emu.base_url}")
    sink = _wire_printer(printer, report)
    http = RecordingHttpTransport(HttpxTransport(), sink)
    websockets = RecordingWebSocketConnector(AnyioWebSocketConnector(), sink)
    webex = Webex.init(
        credentials={"access_token": emu.issue_token()},
        cloud=emu.base_url,
        http=http,
        websockets=websockets,
    )

    def on_event(event: Event) -> None:
        kind, text, fields = describe_event(event)
        printer.line(kind, text, **fields)

    webex.meetings.on("*", on_event)
    try:
        started = time.perf_counter()
        async with webex:
            report.timings["init"] = time.perf_counter() - started
            started = time.perf_counter()
            await webex.meetings.register()
            report.timings["register"] = time.perf_counter() - started
            device = webex.meetings.device
            report.device_url = device.url if device else None
            printer.line("device", f"registered device {report.device_url}")
            _check(
                printer,
                report,
                "register() resolved and meetings.registered is True",
                webex.meetings.registered,
            )
            _check(
                printer,
                report,
                "the emulator holds the device",
                any(d.url == report.device_url for d in emu.devices),
            )
            received = await _receive_events(webex, events, emu)
            _check(printer, report, f"{events} Mercury events delivered", len(received) == events)
            ids = {event.id for event in received if event.id}
            _check(printer, report, "every event acked", await _wait_for_acks(emu, ids))
            started = time.perf_counter()
            await webex.meetings.unregister()
            report.timings["unregister"] = time.perf_counter() - started
            _check(
                printer,
                report,
                "unregister() resolved and registered is False",
                not webex.meetings.registered,
            )
        _check(
            printer,
            report,
            "the device is deleted on the emulator",
            not any(d.url == report.device_url for d in emu.devices),
        )
        violations = emu.violations
        for violation in violations:
            printer.line("violation", f"{violation.kind}: {violation.detail}")
        _check(printer, report, "no protocol violation recorded", not violations)
    finally:
        await http.aclose()


def _summary(printer: _Printer, report: DemoReport) -> None:
    timings = ", ".join(f"{k} {v * 1000:.1f} ms" for k, v in report.timings.items())
    passed = sum(1 for _, ok in report.checks if ok)
    verdict = "PASSED" if report.ok else "FAILED"
    printer.line(
        "summary",
        f"{verdict}: {passed}/{len(report.checks)} checks; {report.requests} HTTP requests, "
        f"{report.frames} websocket frames; {timings}",
        ok=report.ok,
        device_url=report.device_url,
        timings_ms={k: round(v * 1000, 2) for k, v in report.timings.items()},
    )
    printer.line("next", NEXT_STEPS if report.ok else AFTER_A_FAILURE)


async def run_demo(*, events: int = 3, output: Output | None = None) -> DemoReport:
    """Run the demo on the current event loop (asyncio or trio), writing its lines to
    ``output`` (text on stdout by default); returns what it checked."""
    printer = _Printer(output or Output(sys.stdout))
    report = DemoReport()
    try:
        async with Emulator(seed=0) as emu:
            await _run(emu, printer, report, events)
    except Exception as error:  # the demo reports every failure as a failed step
        _check(printer, report, f"the run raised {type(error).__name__}: {error}", False)
    _summary(printer, report)
    return report
