"""Fakes for driver tests: scripted sessions and an in-memory fake cloud.

``ScriptedSession`` answers each input with whatever the test's script returns, and records
every input, so a test states "given these effects, the driver must feed back these inputs".

``FakeMeetingsSession`` is a tiny stand-in for the real session's register/unregister flow
(POST a device, open Mercury, send an auth frame, wait for ``buffer_state``; close, DELETE),
with command queueing and coalescing, good enough to exercise the faces without the core.
"""

from __future__ import annotations

import itertools
import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import anyio

from webex_meetings.core.effects import (
    AbortWebSocket,
    CloseWebSocket,
    CompleteCommand,
    Effect,
    EmitEvent,
    OpenWebSocket,
    SendHttpRequest,
    SendWebSocketText,
)
from webex_meetings.core.errors import CancelledCommandError, InvalidTransitionError
from webex_meetings.core.events import (
    DeviceInfo,
    MeetingsReady,
    MeetingsRegistered,
    MeetingsUnregistered,
    MercuryEvent,
    StateChanged,
)
from webex_meetings.core.http import HttpRequest, HttpResponse
from webex_meetings.core.inputs import (
    Cancel,
    HttpRequestFailed,
    HttpResponseReceived,
    Initialize,
    Input,
    Register,
    Shutdown,
    Unregister,
    WebSocketClosed,
    WebSocketOpened,
    WebSocketTextReceived,
)
from webex_meetings.core.lifecycle import State
from webex_meetings.transports.base import WebSocketClosedMessage, WebSocketTextMessage
from webex_meetings.transports.memory import MemoryServerSocket

Script = Callable[["ScriptedSession", Input], list[Effect]]


class Recording:
    """Keeps every input; ``await wait_for(predicate)`` until the inputs satisfy it."""

    def __init__(self) -> None:
        self.inputs: list[Input] = []
        self._changed: anyio.Event | None = None

    def record(self, event: Input, now: float) -> None:
        assert isinstance(now, float)
        self.inputs.append(event)
        if self._changed is not None:
            self._changed.set()

    async def wait_for(
        self, predicate: Callable[[list[Input]], object], timeout: float = 5.0
    ) -> None:
        with anyio.fail_after(timeout):
            while not predicate(self.inputs):
                self._changed = anyio.Event()
                await self._changed.wait()

    def of_type(self, kind: type[Input]) -> list[Input]:
        return [event for event in self.inputs if isinstance(event, kind)]


class ScriptedSession(Recording):
    """Records inputs; ``Initialize`` makes it ready, everything else goes to ``script``."""

    def __init__(self, script: Script | None = None) -> None:
        super().__init__()
        self.state = State.UNINITIALIZED
        self.registered = False
        self.device: DeviceInfo | None = None
        self.devices_to_delete: tuple[str, ...] = ()
        self.script: Script = script or (lambda session, event: [])

    def handle(self, event: Input, *, now: float) -> list[Effect]:
        self.record(event, now)
        if isinstance(event, Initialize):
            if self.state is not State.UNINITIALIZED:
                raise InvalidTransitionError("initialize", self.state.value)
            self.state = State.READY
            return [EmitEvent(MeetingsReady()), *self.script(self, event)]
        return self.script(self, event)


# -- a fake cloud and a fake session that registers against it ----------------------------

CLOUD = "http://cloud.test"
DEVICE_URL = f"{CLOUD}/wdm/devices/1"
MERCURY_URL = "ws://cloud.test/mercury"
TOKEN = "fake-token-0123456789abcdef"


@dataclass
class FakeCloud:
    """Answers the fake session's requests and serves its Mercury socket, recording all."""

    requests: list[str] = field(default_factory=list)
    frames: list[str] = field(default_factory=list)
    hold_buffer_state: bool = False
    fail_delete: bool = False
    sockets: list[MemoryServerSocket] = field(default_factory=list)

    async def http(self, request: HttpRequest) -> HttpResponse:
        self.requests.append(f"{request.method} {request.url}")
        if request.method == "DELETE" and self.fail_delete:
            return HttpResponse(500, body=b'{"message": "nope"}')
        body = {"url": DEVICE_URL, "webSocketUrl": MERCURY_URL}
        return HttpResponse(200, (("content-type", "application/json"),), json.dumps(body).encode())

    async def mercury(self, url: str, sock: MemoryServerSocket) -> None:
        self.sockets.append(sock)
        while True:
            message = await sock.receive()
            if isinstance(message, WebSocketClosedMessage):
                self.frames.append(f"closed {message.code}")
                return
            assert isinstance(message, WebSocketTextMessage)
            self.frames.append(message.text)
            if message.text == "auth" and not self.hold_buffer_state:
                await sock.send_text("buffer_state")

    async def release_buffer_state(self) -> None:
        self.hold_buffer_state = False
        await self.sockets[-1].send_text("buffer_state")


class FakeMeetingsSession(Recording):
    """Register: POST device -> open Mercury -> "auth" -> "buffer_state" -> registered.
    Unregister: close 3050 -> DELETE -> unregistered. Commands run one at a time, in order;
    a command of the same kind as the one queued last joins it."""

    def __init__(self) -> None:
        super().__init__()
        self.state = State.UNINITIALIZED
        self.device: DeviceInfo | None = None
        self.devices_to_delete: tuple[str, ...] = ()
        self._ids = itertools.count(1000)
        self._queue: deque[tuple[type[Input], list[int]]] = deque()
        self._active: tuple[type[Input], list[int]] | None = None
        self._request: int | None = None
        self._socket: int | None = None
        self._cancelled = False
        self._sent = ""
        self._out: list[Effect] = []

    @property
    def registered(self) -> bool:
        return self.state is State.REGISTERED

    def handle(self, event: Input, *, now: float) -> list[Effect]:
        self.record(event, now)
        self._out = []
        handler = getattr(self, f"_on_{type(event).__name__}", None)
        if handler is not None:
            handler(event)
        return self._out

    def _move(self, state: State) -> None:
        self._out.append(EmitEvent(StateChanged(self.state.value, state.value, "fake")))
        self.state = state

    def _on_Initialize(self, event: Initialize) -> None:
        if self.state is not State.UNINITIALIZED:
            raise InvalidTransitionError("initialize", self.state.value)
        self._move(State.READY)
        self._out.append(EmitEvent(MeetingsReady()))

    def _on_Register(self, event: Register) -> None:
        self._enqueue(Register, event.command_id)

    def _on_Unregister(self, event: Unregister) -> None:
        self._enqueue(Unregister, event.command_id)

    def _enqueue(self, kind: type[Input], command_id: int) -> None:
        if self._queue and self._queue[-1][0] is kind:
            self._queue[-1][1].append(command_id)
        else:
            self._queue.append((kind, [command_id]))
        self._next()

    def _next(self) -> None:
        if self._active is not None or not self._queue:
            return
        self._active = self._queue.popleft()
        kind = self._active[0]
        if kind is Register and self.state is State.REGISTERED:
            return self._finish()
        if kind is Unregister and self.state is not State.REGISTERED:
            return self._finish()
        if kind is Register:
            self._move(State.REGISTERING)
            self._send("POST", f"{CLOUD}/wdm/devices")
        else:
            self._move(State.UNREGISTERING)
            self._out.append(CloseWebSocket(self._socket or 0, 3050, "done"))

    def _finish(self, error: Exception | None = None) -> None:
        assert self._active is not None
        for command_id in self._active[1]:
            self._out.append(CompleteCommand(command_id, error))  # type: ignore[arg-type]
        self._active = None
        self._next()

    def _send(self, method: str, url: str) -> None:
        self._sent = method
        self._request = next(self._ids)
        self._out.append(SendHttpRequest(self._request, HttpRequest(method, url, step="fake")))

    def _on_Cancel(self, event: Cancel) -> None:
        """Abandon a registration nobody else waits for: delete its device, then fail it."""
        active = self._active
        if active is None or active[0] is not Register or active[1] != [event.command_id]:
            return
        self._cancelled = True
        if self._socket is not None:
            self._out.append(AbortWebSocket(self._socket))
            self._socket = None
        if self._request is None:  # the device exists: delete it
            self._send("DELETE", DEVICE_URL)

    def _on_HttpResponseReceived(self, event: HttpResponseReceived) -> None:
        if event.request_id != self._request:
            return
        self._request = None
        if self._cancelled and self._sent == "POST":  # the device it created goes too
            self._send("DELETE", DEVICE_URL)
        elif self._cancelled:
            self._cancelled = False
            self._move(State.READY)
            self._finish(CancelledCommandError("register() was cancelled"))
        elif self.state is State.REGISTERING:
            self._socket = next(self._ids)
            self._out.append(OpenWebSocket(self._socket, MERCURY_URL))
        elif event.response.status >= 400:
            self._move(State.DISCONNECTED)
            self._finish(CancelledCommandError("delete failed"))
        else:
            self.device = None
            self._move(State.UNREGISTERED)
            self._out.append(EmitEvent(MeetingsUnregistered()))
            self._finish()

    def _on_HttpRequestFailed(self, event: HttpRequestFailed) -> None:
        if event.request_id == self._request:
            self._move(State.READY)
            self._finish(CancelledCommandError(event.error))

    def _on_WebSocketOpened(self, event: WebSocketOpened) -> None:
        if event.socket_id == self._socket:
            self._out.append(SendWebSocketText(event.socket_id, "auth"))

    def _on_WebSocketTextReceived(self, event: WebSocketTextReceived) -> None:
        if event.socket_id != self._socket:
            return
        if event.text == "buffer_state" and self.state is State.REGISTERING:
            self.device = DeviceInfo(DEVICE_URL, MERCURY_URL)
            self._move(State.REGISTERED)
            self._out.append(EmitEvent(MeetingsRegistered(self.device)))
            self._finish()
        elif event.text.startswith("event:"):
            event_type = event.text.removeprefix("event:")
            self._out.append(SendWebSocketText(event.socket_id, f"ack {event_type}"))
            self._out.append(EmitEvent(MercuryEvent("x", event_type, {}, {})))

    def _on_WebSocketClosed(self, event: WebSocketClosed) -> None:
        if event.socket_id == self._socket and self.state is State.UNREGISTERING:
            self._socket = None
            self._send("DELETE", DEVICE_URL)

    def _on_Shutdown(self, event: Shutdown) -> None:
        if self._socket is not None:
            self._out.append(AbortWebSocket(self._socket))
        pending = [self._active] if self._active else []
        for _, ids in [*pending, *self._queue]:
            for command_id in ids:
                self._out.append(CompleteCommand(command_id, CancelledCommandError("shutdown")))
        self._active = None
        self._queue.clear()
