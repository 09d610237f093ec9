"""The driver against a scripted session: given effects, it must feed back the right inputs."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
import trio
import trio.testing
from adapter_fakes import ScriptedSession

from webex_meetings.adapters.driver import Driver
from webex_meetings.adapters.runtime import Runtime
from webex_meetings.core.effects import (
    AbortWebSocket,
    CancelTimer,
    CloseWebSocket,
    CompleteCommand,
    Effect,
    EmitEvent,
    OpenWebSocket,
    SendHttpRequest,
    SendWebSocketText,
    StartTimer,
)
from webex_meetings.core.errors import (
    CancelledCommandError,
    InvalidTransitionError,
    TimeoutError,
    TransportError,
)
from webex_meetings.core.events import MeetingsReady, NetworkConnected, NetworkDisconnected
from webex_meetings.core.http import HttpRequest, HttpResponse
from webex_meetings.core.inputs import (
    FailureKind,
    HttpRequestFailed,
    HttpResponseReceived,
    Initialize,
    Input,
    Register,
    Shutdown,
    TimerFired,
    WebSocketClosed,
    WebSocketOpened,
    WebSocketRejected,
    WebSocketTextReceived,
)
from webex_meetings.transports.base import WebSocketClosedMessage, WebSocketConnection
from webex_meetings.transports.memory import (
    MemoryHttpTransport,
    MemoryRejection,
    MemoryServerSocket,
    MemoryWebSocketConnector,
)

pytestmark = pytest.mark.anyio

URL = "ws://cloud.test/mercury"
OPEN: list[Effect] = [OpenWebSocket(7, URL)]


async def answer_ok(request: HttpRequest) -> HttpResponse:
    return HttpResponse(200, body=b"{}")


async def serve_nothing(url: str, sock: MemoryServerSocket) -> None:
    await sock.receive()


@asynccontextmanager
async def running(
    session: Any,
    runtime: Runtime,
    *,
    http: Any = answer_ok,
    ws: Any = serve_nothing,
    connector: Any = None,
    **options: Any,
) -> AsyncIterator[Driver]:
    transport = MemoryHttpTransport(http)
    async with MemoryWebSocketConnector(ws) as memory:
        driver = Driver(session, runtime, http=transport, websockets=connector or memory, **options)
        async with driver:
            await driver.submit_input(Initialize()).wait()
            yield driver


async def eventually(predicate: Any) -> None:
    """Let other tasks run until ``predicate()`` holds (at most 5 s)."""
    with anyio.fail_after(5):
        while not predicate():
            await anyio.sleep(0)


def scripted(table: dict[type[Input], list[Effect]]) -> ScriptedSession:
    """A session answering the first input of each kind in ``table`` with its effects."""

    def script(session: ScriptedSession, event: Input) -> list[Effect]:
        kind = type(event)
        return table.get(kind, []) if session.of_type(kind) == [event] else []

    return ScriptedSession(script)


# -- HTTP -----------------------------------------------------------------------------------


async def test_http_outcomes_are_mapped_to_inputs(runtime: Runtime) -> None:
    async def cloud(request: HttpRequest) -> HttpResponse:
        outcomes: dict[str, Any] = {
            "/ok": HttpResponse(404, body=b"{}"),
            "/refused": TransportError("could not connect"),
            "/slow": TimeoutError("timed out waiting for the response"),
            "/weird": ValueError("something foreign"),
        }
        outcome = outcomes[request.url.removeprefix("http://h")]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    paths = ["/ok", "/refused", "/slow", "/weird"]
    requests = [SendHttpRequest(i, HttpRequest("GET", f"http://h{p}")) for i, p in enumerate(paths)]
    session = scripted({Initialize: requests})
    async with running(session, runtime, http=cloud):
        await session.wait_for(lambda inputs: len(inputs) == 5)
    answers = {event.request_id: event for event in session.inputs[1:5]}  # type: ignore[attr-defined]
    assert isinstance(answers[0], HttpResponseReceived)
    assert answers[0].response.status == 404
    assert answers[1] == HttpRequestFailed(1, "could not connect", FailureKind.CONNECTION)
    assert answers[2] == HttpRequestFailed(
        2, "timed out waiting for the response", FailureKind.TIMEOUT
    )
    assert answers[3] == HttpRequestFailed(
        3, "transport failure (ValueError)", FailureKind.CONNECTION
    )


# -- timers ---------------------------------------------------------------------------------


async def test_timers_fire_unless_cancelled_and_restart_replaces(runtime: Runtime) -> None:
    effects: list[Effect] = [
        StartTimer(1, 0.0),
        StartTimer(2, 0.01),
        StartTimer(4, 1000.0),
        StartTimer(4, 0.01),
        StartTimer(5, 1000.0),
        CancelTimer(2),
        StartTimer(3, 0.03),
    ]
    session = scripted({Initialize: effects})
    async with running(session, runtime) as driver:
        await session.wait_for(lambda inputs: TimerFired(3) in inputs)
        assert driver.pending_timers == 1  # timer 5 still waiting
        assert driver.active_tasks == 0  # no task per timer
    fired = session.of_type(TimerFired)
    assert sorted(fired, key=lambda e: e.timer_id) == [TimerFired(1), TimerFired(3), TimerFired(4)]  # type: ignore[attr-defined]
    assert driver.active_tasks == 0


@pytest.mark.parametrize(
    ("anyio_backend", "runtime_name"),
    [(("trio", {"clock": trio.testing.MockClock(autojump_threshold=0)}), "trio")],
)
async def test_native_trio_timers_run_on_trio_time(runtime: Runtime) -> None:
    effects: list[Effect] = [StartTimer(1, 3600.0), StartTimer(2, 86400.0), CancelTimer(2)]
    session = scripted({Initialize: effects})
    start = trio.current_time()
    async with running(session, runtime):
        await session.wait_for(lambda inputs: TimerFired(1) in inputs, timeout=7200)
        assert trio.current_time() - start == pytest.approx(3600.0)
    assert TimerFired(2) not in session.inputs


# -- websockets -----------------------------------------------------------------------------


async def test_websocket_texts_keep_their_order_both_ways(runtime: Runtime) -> None:
    received: list[str] = []

    async def server(url: str, sock: MemoryServerSocket) -> None:
        for i in range(30):
            await sock.send_text(f"s{i}")
        while True:
            message = await sock.receive()
            if isinstance(message, WebSocketClosedMessage):
                received.append(f"closed {message.code} {message.reason}")
                return
            received.append(message.text)

    sends: list[Effect] = [SendWebSocketText(7, f"c{i}") for i in range(30)]
    opened: list[Effect] = [*sends, CloseWebSocket(7, 3050, "bye")]
    session = scripted({Initialize: OPEN, WebSocketOpened: opened})
    async with running(session, runtime, ws=server):
        await session.wait_for(lambda inputs: any(isinstance(e, WebSocketClosed) for e in inputs))
    socket_inputs = [e for e in session.inputs if getattr(e, "socket_id", None) == 7]
    assert socket_inputs[0] == WebSocketOpened(7)
    assert socket_inputs[1:31] == [WebSocketTextReceived(7, f"s{i}") for i in range(30)]
    assert socket_inputs[31:] == [WebSocketClosed(7, 3050, "bye")]
    assert received == [f"c{i}" for i in range(30)] + ["closed 3050 bye"]


async def test_websocket_refused_upgrade_is_rejected(runtime: Runtime) -> None:
    async def refuse(url: str, sock: MemoryServerSocket) -> MemoryRejection:
        return MemoryRejection(429, retry_after=3.0)

    session = scripted({Initialize: OPEN})
    async with running(session, runtime, ws=refuse):
        await session.wait_for(lambda inputs: len(inputs) == 2)
    assert session.inputs[1] == WebSocketRejected(7, 429, 3.0)


async def test_websocket_connect_failure_reads_as_abnormal_close(runtime: Runtime) -> None:
    class Unreachable:
        async def connect(self, url: str) -> WebSocketConnection:
            raise TransportError("websocket connect to ws://cloud.test: could not connect")

    session = scripted({Initialize: OPEN})
    async with running(session, runtime, connector=Unreachable()):
        await session.wait_for(lambda inputs: len(inputs) == 2)
    reason = "connect failed: websocket connect to ws://cloud.test: could not connect"
    assert session.inputs[1] == WebSocketClosed(7, 1006, reason)


async def test_websocket_dropped_by_peer_reads_as_1006(runtime: Runtime) -> None:
    async def drop(url: str, sock: MemoryServerSocket) -> None:
        await sock.send_text("hello")
        await sock.aclose()

    session = scripted({Initialize: OPEN})
    async with running(session, runtime, ws=drop):
        await session.wait_for(lambda inputs: len(inputs) == 4)
    assert session.inputs[1:] == [
        WebSocketOpened(7),
        WebSocketTextReceived(7, "hello"),
        WebSocketClosed(7, 1006, ""),
        Shutdown(),
    ]


async def test_aborted_websocket_is_dropped_and_feeds_nothing_more(runtime: Runtime) -> None:
    seen: list[str] = []

    async def server(url: str, sock: MemoryServerSocket) -> None:
        message = await sock.receive()
        assert isinstance(message, WebSocketClosedMessage)
        seen.append(f"closed {message.code}")

    opened: list[Effect] = [SendWebSocketText(7, "x"), AbortWebSocket(7), SendWebSocketText(7, "y")]
    session = scripted({Initialize: OPEN, WebSocketOpened: opened})
    async with running(session, runtime, ws=server) as driver:
        await session.wait_for(lambda inputs: WebSocketOpened(7) in inputs)
        await eventually(lambda: seen and driver.active_tasks == 0)
    assert seen == ["closed 1006"]
    assert session.inputs[1:] == [WebSocketOpened(7), Shutdown()]


# -- events, commands, errors -----------------------------------------------------------------


async def test_events_reach_callbacks_in_order_before_the_command_completes(
    runtime: Runtime,
) -> None:
    events: list[str] = []

    def script(session: ScriptedSession, event: Input) -> list[Effect]:
        if isinstance(event, Register):
            return [
                EmitEvent(NetworkDisconnected(1000, "x", True)),
                EmitEvent(NetworkConnected()),
                CompleteCommand(event.command_id),
            ]
        return []

    session = ScriptedSession(script)
    async with running(session, runtime) as driver:
        driver.listeners.on("*", lambda event: events.append(event.name))
        ticket = driver.submit_command(Register)
        ticket.add_done_callback(lambda _: events.append("done"))
        await ticket.wait()
    assert events == ["network:disconnected", "network:connected", "done"]


async def test_callback_errors_are_logged_and_contained(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    delivered: list[str] = []

    def broken(event: Any) -> None:
        raise RuntimeError("bad callback with Bearer abcdefghijklmnop")

    async def broken_async(event: Any) -> None:
        await anyio.sleep(0)
        raise RuntimeError("bad async callback")

    async def good_async(event: Any) -> None:
        delivered.append(f"async {event.name}")

    session = ScriptedSession()
    listeners_first = Driver(session, runtime, http=MemoryHttpTransport(answer_ok), websockets=None)  # type: ignore[arg-type]
    listeners = listeners_first.listeners
    listeners.on(MeetingsReady, broken)
    listeners.on("meetings:ready", broken_async)
    listeners.on("meetings:ready", lambda event: delivered.append(event.name))
    listeners.on("meetings:ready", good_async)
    with caplog.at_level(logging.ERROR, logger="webex_meetings"):
        async with running(session, runtime, listeners=listeners) as driver:
            await eventually(lambda: len(delivered) == 2)
            await driver.submit_input(Shutdown()).wait()
    assert delivered == ["meetings:ready", "async meetings:ready"]
    messages = [record.getMessage() for record in caplog.records]
    assert any("broken" in m and "bad callback" in m for m in messages)
    assert any("bad async callback" in m for m in messages)
    assert not any("abcdefghijklmnop" in m for m in messages)


async def test_a_refused_command_fails_its_ticket_and_the_pump_goes_on(runtime: Runtime) -> None:
    session = ScriptedSession()
    async with running(session, runtime) as driver:
        with pytest.raises(InvalidTransitionError):
            await driver.submit_input(Initialize()).wait()
        await driver.submit_input(Shutdown()).wait()
    assert session.inputs == [Initialize(), Initialize(), Shutdown(), Shutdown()]


async def test_commands_after_close_fail_at_once(runtime: Runtime) -> None:
    session = ScriptedSession()
    async with running(session, runtime, unregister_timeout=0.01) as driver:
        pending = driver.submit_command(Register)  # the script never completes it
    assert isinstance(pending.error, CancelledCommandError)
    with pytest.raises(CancelledCommandError):
        await driver.submit_command(Register).wait()


async def test_exit_leaves_nothing_running(runtime: Runtime) -> None:
    async def hang(url: str, sock: MemoryServerSocket) -> None:
        sock.accept()
        await anyio.sleep_forever()

    async def hang_http(request: HttpRequest) -> HttpResponse:
        await anyio.sleep_forever()
        raise AssertionError

    effects: list[Effect] = [
        StartTimer(1, 1000.0),
        OpenWebSocket(7, URL),
        SendHttpRequest(2, HttpRequest("GET", "http://h/")),
    ]
    session = scripted({Initialize: effects})
    with anyio.fail_after(5):
        async with running(
            session, runtime, ws=hang, http=hang_http, shutdown_grace=0.01
        ) as driver:
            await session.wait_for(lambda inputs: WebSocketOpened(7) in inputs)
            assert driver.active_tasks == 2  # the socket's task and the request's
            assert driver.pending_timers == 1
    assert driver.active_tasks == 0
    assert session.inputs[-1] == Shutdown()


def test_runtime_primitives_are_named_apart_from_the_users_events() -> None:
    from webex_meetings.adapters import runtime
    from webex_meetings.core import events

    clashes = set(runtime.__all__) & (set(events.__all__) | {"Event"})
    assert not clashes
