"""A sans-IO fake cloud and a pump with simulated time, for driving a MeetingsSession.

The :class:`Pump` plays the driver: it feeds inputs, runs the effects the session returns
against a :class:`FakeCloud` (which answers like Webex: catalog, people/me, WDM, Mercury), keeps
timers on a simulated clock, and records everything for assertions. ``cloud.faults`` makes a
step answer with another status, fail at the transport level, or hang.
"""

from __future__ import annotations

import json
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from webex_meetings.core.config import SessionConfig
from webex_meetings.core.credentials import Credentials
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
from webex_meetings.core.events import Event
from webex_meetings.core.http import HttpRequest, HttpResponse
from webex_meetings.core.inputs import (
    FailureKind,
    HttpRequestFailed,
    HttpResponseReceived,
    Initialize,
    Input,
    Register,
    TimerFired,
    Unregister,
    WebSocketClosed,
    WebSocketOpened,
    WebSocketRejected,
    WebSocketTextReceived,
)
from webex_meetings.core.session import MeetingsSession

BASE = "http://127.0.0.1:9999"
ORG = "1eb65fdf-9643-417f-9974-ad72cae0e10f"
TOKEN = f"FAKEACCESSTOKENsecretsecret_PF84_{ORG}"
START = 1_800_000_000.0

Fault = int | str | Callable[[HttpRequest], HttpResponse]
"""A status to answer with, ``"hang"`` (never answer), a failure of :data:`_FAILURES`
(``"fail"``, ``"timeout"``, ``"certificate"``, ``"too_large"``): no response, or a lost
answer of :data:`_LOST` (``"lost"``, ``"lost_timeout"``): the request is carried out, then
its answer is lost."""


def _json(status: int, body: Any, headers: tuple[tuple[str, str], ...] = ()) -> HttpResponse:
    data = b"" if body is None else json.dumps(body).encode()
    return HttpResponse(status, (("content-type", "application/json"), *headers), data)


_FAILURES = {
    "fail": (FailureKind.CONNECTION, "connection refused"),
    "timeout": (FailureKind.TIMEOUT, "timed out waiting for the response"),
    "certificate": (FailureKind.CERTIFICATE, "TLS failed: certificate verify failed"),
    "too_large": (FailureKind.TOO_LARGE, "the response exceeded 1 MiB"),
}
"""String faults that stand for a request that got no response (see ``FakeCloud.fail``)."""

_LOST = {"lost": "fail", "lost_timeout": "timeout"}
"""Faults where the server did the work and the answer was lost on the way back."""


@dataclass
class FakeCloud:
    """Answers the session's requests and frames like the Webex cloud would."""

    base: str = BASE
    ws_base: str = "ws://127.0.0.1:9999"
    """Where the devices' ``webSocketUrl`` points."""
    links: dict[str, str] = field(default_factory=dict)
    """Catalog service links that replace (or add to) the default ones."""
    faults: dict[str, deque[Fault]] = field(default_factory=dict)
    devices: dict[str, dict[str, Any]] = field(default_factory=dict)
    ws_faults: deque[Any] = field(default_factory=deque)
    requests: list[HttpRequest] = field(default_factory=list)
    frames: list[dict[str, Any]] = field(default_factory=list)
    device_cap: int | None = None
    before_buffer_state: list[dict[str, Any]] = field(default_factory=list)
    """Frames Mercury sends after the authorization frame, ahead of ``buffer_state``."""
    withhold_buffer_state: bool = False
    """Mercury swallows the authorization frame (a black hole): no ``buffer_state``."""
    _count: int = 0

    def fail(self, step: str, *faults: Fault) -> None:
        """Make the next answers to ``step`` (catalog, people/me, device.register, ...) faulty."""
        self.faults.setdefault(step, deque()).extend(faults)

    # -- HTTP --------------------------------------------------------------------------

    def http(self, request: HttpRequest) -> HttpResponse | str:
        self.requests.append(request)
        queue = self.faults.get(request.step)
        if queue:
            fault = queue.popleft()
            if fault in _LOST:
                self._answer(request)
                return _LOST[fault]  # type: ignore[index]
            if isinstance(fault, str):
                return fault
            if callable(fault):
                return fault(request)
            return _json(fault, {"message": f"injected {fault}"})
        return self._answer(request)

    def _answer(self, request: HttpRequest) -> HttpResponse:
        path = urlsplit(request.url).path
        if path.endswith("/catalog"):
            return _json(200, self.catalog())
        if path.endswith("/people/me"):
            return _json(200, {"id": "person-1", "displayName": "Ada", "emails": ["a@x.io"]})
        if path.endswith("/meetingPreferences"):
            sites = [{"siteUrl": "one.webex.com"}, {"siteUrl": "two.webex.com", "default": True}]
            return _json(200, {"sites": sites})
        if path.endswith("/devices") and request.method == "POST":
            return self._create_device(request)
        if path.endswith("/devices") and request.method == "GET":
            return _json(200, {"devices": list(self.devices.values())})
        if "/devices/" in path:
            return self._device_item(request)
        if path.endswith("/access_token"):
            self._count += 1
            return _json(
                200,
                {
                    "access_token": f"refreshed{self._count}_PF84_{ORG}",
                    "expires_in": 3600,
                    "token_type": "Bearer",
                },
            )
        return _json(404, {"message": "no such route"})

    def catalog(self) -> dict[str, Any]:
        links = {
            "u2c": f"{self.base}/u2c/api/v1",
            "hydra": f"{self.base}/hydra/v1",
            "wdm": f"{self.base}/wdm/api/v1",
            "locus": f"{self.base}/locus/api/v1",
            **self.links,
        }
        return {"serviceLinks": links, "hostCatalog": {}, "format": "hostmap"}

    def _create_device(self, request: HttpRequest) -> HttpResponse:
        if self.device_cap is not None and len(self.devices) >= self.device_cap:
            return _json(403, {"message": "User has excessive device registrations"})
        self._count += 1
        body = request.json()
        device_id = f"dev{self._count}"
        url = f"{self.base}/wdm/api/v1/devices/{device_id}"
        device = dict(
            body,
            url=url,
            modificationTime=f"2026-01-01T00:00:{self._count:02d}Z",
            webSocketUrl=f"{self.ws_base}/mercury/{device_id}/messages",
            userId="person-1",
        )
        self.devices[url] = device
        return _json(200, device, (("etag", f'"{device_id}"'),))

    def _device_item(self, request: HttpRequest) -> HttpResponse:
        url = request.url.split("?")[0]
        if url not in self.devices:
            return _json(404, {"message": "device not found"})
        if request.method == "DELETE":
            del self.devices[url]
            return HttpResponse(204)
        return _json(200, self.devices[url], (("etag", '"same"'),))

    # -- Mercury -----------------------------------------------------------------------

    def ws_open(self, url: str) -> str | int | None:
        """``"open"``, a rejection status, or ``None`` (connect failed)."""
        if self.ws_faults:
            return self.ws_faults.popleft()  # type: ignore[no-any-return]
        return "open"

    def ws_text(self, text: str) -> list[str]:
        frame = json.loads(text)
        self.frames.append(frame)
        if frame.get("type") == "authorization":
            if self.withhold_buffer_state:
                return []
            self._count += 1
            buffer_state = {
                "id": f"bs{self._count}",
                "sequenceNumber": 1,
                "data": {"eventType": "mercury.buffer_state"},
            }
            return [json.dumps(f) for f in [*self.before_buffer_state, buffer_state]]
        if frame.get("type") == "ping":
            return [json.dumps({"type": "pong", "id": frame["id"]})]
        return []


class Pump:
    """Plays the driver for one session over a FakeCloud, on a simulated clock."""

    def __init__(self, session: MeetingsSession, cloud: FakeCloud) -> None:
        self.session = session
        self.cloud = cloud
        self.now = START
        self.timers: dict[int, float] = {}
        self.events: list[Event] = []
        self.completed: dict[int, Any] = {}
        self.effects: list[Effect] = []
        self.held: dict[int, HttpRequest] = {}
        self.sockets: dict[int, str] = {}
        self.auto_pong = True
        self._inputs: deque[Input] = deque()
        self._next_command = 0

    # -- commands ----------------------------------------------------------------------

    def init(self) -> None:
        self.feed(Initialize())

    def register(self, *, run: bool = True) -> int:
        self._next_command += 1
        self.feed(Register(self._next_command), run=run)
        return self._next_command

    def unregister(self, *, run: bool = True) -> int:
        self._next_command += 1
        self.feed(Unregister(self._next_command), run=run)
        return self._next_command

    def result(self, command_id: int) -> Any:
        assert command_id in self.completed, f"command {command_id} has not completed"
        return self.completed[command_id]

    # -- the loop ----------------------------------------------------------------------

    def feed(self, event: Input, *, run: bool = True) -> None:
        self._inputs.append(event)
        if run:
            self.run()

    def run(self) -> None:
        while self._inputs:
            event = self._inputs.popleft()
            effects = self.session.handle(event, now=self.now)
            self.effects.extend(effects)
            for effect in effects:
                self._apply(effect)

    def _apply(self, effect: Effect) -> None:
        if isinstance(effect, SendHttpRequest):
            answer = self.cloud.http(effect.request)
            if answer == "hang":
                self.held[effect.request_id] = effect.request
            elif answer in _FAILURES:
                kind, text = _FAILURES[answer]
                self._inputs.append(HttpRequestFailed(effect.request_id, text, kind))
            else:
                assert isinstance(answer, HttpResponse)
                self._inputs.append(HttpResponseReceived(effect.request_id, answer))
        elif isinstance(effect, OpenWebSocket):
            self._open(effect)
        elif isinstance(effect, SendWebSocketText):
            if effect.socket_id in self.sockets:
                for text in self.cloud.ws_text(effect.text):
                    if json.loads(text).get("type") == "pong" and not self.auto_pong:
                        continue
                    self._inputs.append(WebSocketTextReceived(effect.socket_id, text))
        elif isinstance(effect, CloseWebSocket):
            if self.sockets.pop(effect.socket_id, None) is not None:
                self._inputs.append(WebSocketClosed(effect.socket_id, effect.code, effect.reason))
        elif isinstance(effect, AbortWebSocket):
            self.sockets.pop(effect.socket_id, None)
        elif isinstance(effect, StartTimer):
            self.timers[effect.timer_id] = self.now + effect.delay
        elif isinstance(effect, CancelTimer):
            self.timers.pop(effect.timer_id, None)
        elif isinstance(effect, EmitEvent):
            self.events.append(effect.event)
        elif isinstance(effect, CompleteCommand):
            self.completed[effect.command_id] = effect.error

    def _open(self, effect: OpenWebSocket) -> None:
        outcome = self.cloud.ws_open(effect.url)
        if outcome == "open":
            self.sockets[effect.socket_id] = effect.url
            self._inputs.append(WebSocketOpened(effect.socket_id))
        elif isinstance(outcome, int):
            self._inputs.append(WebSocketRejected(effect.socket_id, outcome))
        else:
            self._inputs.append(WebSocketClosed(effect.socket_id, 1006, "connect failed"))

    # -- time and the server side ------------------------------------------------------

    def advance(self, seconds: float) -> None:
        """Move the clock, firing due timers in order (and everything they cause)."""
        deadline = self.now + seconds
        while True:
            due = [(at, tid) for tid, at in self.timers.items() if at <= deadline]
            if not due:
                break
            at, timer_id = min(due)
            del self.timers[timer_id]
            self.now = max(self.now, at)
            self.feed(TimerFired(timer_id))
        self.now = deadline

    def server_close(self, code: int, reason: str = "") -> None:
        for socket_id in list(self.sockets):
            del self.sockets[socket_id]
            self.feed(WebSocketClosed(socket_id, code, reason))

    def server_send(self, frame: dict[str, Any]) -> None:
        for socket_id in list(self.sockets):
            self.feed(WebSocketTextReceived(socket_id, json.dumps(frame)))

    def release(self, status: int = 200, body: Any = None) -> None:
        """Answer every held request with the cloud's normal answer (or a given one)."""
        held, self.held = self.held, {}
        for request_id, request in held.items():
            response = (
                self.cloud._answer(request)
                if body is None and status == 200
                else _json(status, body)
            )
            self.feed(HttpResponseReceived(request_id, response))

    def names(self) -> list[str]:
        return [event.name for event in self.events]

    def requests_by_step(self) -> list[str]:
        return [request.step for request in self.cloud.requests]


def make_session(
    config: SessionConfig | None = None, token: str = TOKEN, **credentials: Any
) -> MeetingsSession:
    config = config or SessionConfig.for_cloud(BASE)
    return MeetingsSession(config, Credentials(token, **credentials), rng=random.Random(7))


def query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)
