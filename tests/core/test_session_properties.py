"""Property tests for the meetings session, driven through the sans-IO fake cloud.

Theory of operation
-------------------
:class:`CheckedPump` is the harness's :class:`~session_harness.Pump` with a ledger: it sees
every input it feeds and every effect the session returns, in order, and checks the
session's promises *as they happen* (not only between steps):

* ids: no two ``SendHttpRequest`` share a request id, no two ``OpenWebSocket`` a socket id,
  no two ``StartTimer`` a timer id (nor across kinds); ``CancelTimer`` only for a timer that
  was started and neither fired nor cancelled;
* sockets: after the session was told a socket closed or was rejected, or after it aborted
  it, no effect names that socket again; text is sent and a close asked for only on a socket
  reported open; after ``CloseWebSocket`` only acks (frames that arrived while closing) and an
  abort may follow, never a second close;
* the lifecycle: every ``state:changed`` is a row of ``TRANSITIONS`` and starts where the
  previous one ended; ``meetings:registered`` and ``meetings:unregistered`` alternate, a
  revival from ``disconnected`` excepted (see :meth:`CheckedPump._announce`);
* commands: each completes once, with ``None`` or a :class:`WebexError` with a message; when
  an ``unregister()`` completes successfully no device the session ever held is left in the
  cloud (unless the cloud had forgotten it or a best-effort delete was refused);
* never two ``POST /devices`` in flight at once (one registration posts one device at a time);
* no access token, refresh token or client secret in the ``repr`` of an effect, event, error
  or the session.

:class:`PropertyCloud` adds to :class:`~session_harness.FakeCloud` what the properties need:
data-valued faults (``Retry-After``, the device limit), faults on the Mercury authorization
frame, consistent 404s (a device said to be gone is gone), refreshed tokens that are
distinctive secrets, and a record of every device it created.

The session bugs these properties found are named below (``RECREATE_FAILURE`` ...) and their
minimal reproducers are kept at the end of this file as regression tests. Should a bug be
open again, list it in :data:`OPEN_BUGS`: the machine then steers around it as narrowly as it
can (see ``CheckedPump``) so that it keeps guarding everything else. ``PROP_N=5000`` in the
environment runs every property with that many random (not derandomized) examples.
"""

from __future__ import annotations

import json
import os
import random
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)
from session_harness import BASE, ORG, START, FakeCloud, Fault, Pump, _json

from webex_meetings.core.config import BackoffConfig, MercuryConfig, SessionConfig
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
from webex_meetings.core.errors import WebexError
from webex_meetings.core.events import (
    ConnectionFailed,
    MeetingsRegistered,
    MeetingsUnregistered,
    StateChanged,
)
from webex_meetings.core.http import HttpRequest, HttpResponse
from webex_meetings.core.http_client import MAX_RETRY_AFTER
from webex_meetings.core.inputs import (
    Cancel,
    HttpRequestFailed,
    HttpResponseReceived,
    Input,
    Register,
    TimerFired,
    Unregister,
    WebSocketClosed,
    WebSocketOpened,
    WebSocketRejected,
    WebSocketTextReceived,
)
from webex_meetings.core.lifecycle import State, Trigger, next_state
from webex_meetings.core.session import MeetingsSession

ACCESS_TOKEN = f"PROPACCESSTOKENqz9_PF84_{ORG}"
REFRESH_TOKEN = "PROPREFRESHTOKENqz9"
CLIENT_SECRET = "PROPCLIENTSECRETqz9"

DEVICE_ITEM_STEPS = frozenset({"device.refresh", "device.unregister"})
GONE = frozenset({404, 410})
HTTP_STEPS = (
    "catalog",
    "catalog.limited",
    "people/me",
    "device.register",
    "device.refresh",
    "device.unregister",
    "device.list",
    "credentials.refresh",
)


# -- data-valued faults -----------------------------------------------------------------------


@dataclass(frozen=True)
class RetryAfter:
    """Answer ``status`` with a ``Retry-After: seconds`` header."""

    status: int
    seconds: int

    def response(self) -> HttpResponse:
        return _json(self.status, {"message": "slow down"}, (("retry-after", str(self.seconds)),))


@dataclass(frozen=True)
class DeviceLimit:
    """WDM's "User has excessive device registrations"."""

    def response(self) -> HttpResponse:
        return _json(403, {"message": "User has excessive device registrations"})


@dataclass(frozen=True)
class Rejected:
    """A websocket upgrade answered with ``status`` (and maybe ``Retry-After``)."""

    status: int
    retry_after: float | None = None


@dataclass(frozen=True)
class AuthClose:
    """Instead of ``buffer_state``, the server closes the socket after the auth frame."""

    code: int
    reason: str = ""


SILENT = "silent"
"""Auth fault: the server never answers the authorization frame."""

PASS = "pass"
"""HTTP fault: answer normally (to aim a later fault at a later request of the same step)."""

RECREATE_FAILURE = "recreate-failure"
"""Fixed session bug: a device found gone (PUT 404) is forgotten before its re-creation POST
succeeds; when that POST fails the session is left registered/reconnecting/registering with
no device (see the regression tests below). The machine keeps re-creation POSTs fault-free."""
REENTRANT_CLOSE = "reentrant-close"
"""Fixed session bug: an ``unregister()`` queued behind ``register()`` starts from inside the
Mercury action loop that reported ``Online``; the rest of that batch (the first ping and its
pong timer) still runs on the socket just closed (see the regression test below)."""
STALE_PREREQUISITE = "stale-prerequisite"
"""Fixed session bug: the catalog and people/me continuations are not tied to the registration
that sent them; an answer to a request of a failed ``register()`` that arrives during the next
one completes (or fails) the *new* registration's step: a second device POST, or a new
``register()`` failed with the old request's error. The pump drops such stale answers."""
LATE_REFRESH = "late-refresh"
"""Fixed session bug: a device refresh (PUT) still in flight, or waiting for a retry, when
``unregister()`` deletes the device acts on its answer afterwards: a 404 re-creates a device
(POST) while unregistered, which is then held, refreshed forever and never deleted. The pump
drops answers to refreshes that outlived an unregister."""
OPEN_BUGS: frozenset[str] = frozenset()
"""Session bugs known to be open, which the machine steers around or tolerates (precisely,
see CheckedPump). Empty: all four found were fixed."""


# -- the cloud and the pump -------------------------------------------------------------------


@dataclass
class PropertyCloud(FakeCloud):
    """A FakeCloud with the extra faults and bookkeeping the properties need."""

    auth_faults: deque[AuthClose | str] = field(default_factory=deque)
    created: list[str] = field(default_factory=list)
    lost: dict[str, int] = field(default_factory=dict)
    """Devices created by a POST whose answer was then lost: how many requests came before."""
    forgotten: set[str] = field(default_factory=set)
    secrets: list[str] = field(default_factory=lambda: [ACCESS_TOKEN, REFRESH_TOKEN, CLIENT_SECRET])
    _issued: int = 0

    def http(self, request: HttpRequest) -> HttpResponse | str:
        queue = self.faults.get(request.step)
        fault = queue[0] if queue else None
        if isinstance(fault, (RetryAfter, DeviceLimit)):
            queue.popleft()
            self.requests.append(request)
            return fault.response()
        if queue and queue[0] == PASS:
            queue.popleft()
            self.requests.append(request)
            answer: HttpResponse | str = self._answer(request)
            self.settle(request, 200)
            return answer
        before = len(self.created)
        answer = super().http(request)
        if isinstance(answer, HttpResponse):
            self.settle(request, answer.status)
        elif request.step == "device.register":
            self.lost.update(dict.fromkeys(self.created[before:], len(self.requests)))
        return answer

    def settle(self, request: HttpRequest, status: int) -> None:
        """Keep the cloud consistent with an answer: a device said to be gone is gone."""
        if request.step in DEVICE_ITEM_STEPS and status in GONE:
            self.forget(request.url.split("?")[0])

    def forget(self, url: str) -> None:
        if self.devices.pop(url, None) is not None:
            self.forgotten.add(url)

    def forget_all(self) -> None:
        for url in list(self.devices):
            self.forget(url)

    def _create_device(self, request: HttpRequest) -> HttpResponse:
        response = super()._create_device(request)
        if response.ok:
            self.created.append(json.loads(response.body)["url"])
        return response

    def _answer(self, request: HttpRequest) -> HttpResponse:
        if request.url.split("?")[0].endswith("/access_token"):
            self._issued += 1
            access = f"ISSUEDACCESS{self._issued}qz9_PF84_{ORG}"
            refresh = f"ISSUEDREFRESH{self._issued}qz9"
            self.secrets += [access, refresh]
            body = {"access_token": access, "refresh_token": refresh, "expires_in": 3600}
            return _json(200, body)
        return super()._answer(request)

    def clear_faults(self) -> None:
        self.faults.clear()
        self.ws_faults.clear()
        self.auth_faults.clear()
        self.device_cap = None


def secret_forms(secret: str) -> list[str]:
    """The strings that must not show: the secret, and the opaque part of an org token."""
    return [secret, secret.split("_PF84_")[0]]


class LedgerError(AssertionError):
    """A promise of the session was broken (raised from inside the pump)."""


class CheckedPump(Pump):
    """A Pump that checks every input and effect against the session's promises."""

    cloud: PropertyCloud

    def __init__(
        self,
        session: MeetingsSession,
        cloud: PropertyCloud,
        *,
        tolerate: frozenset[str] = OPEN_BUGS,
    ) -> None:
        super().__init__(session, cloud)
        self.tolerate = tolerate
        self.broken = False
        self.recreating = False
        self.closed_in_batch: set[int] = set()
        self.epochs: Counter[Trigger] = Counter()
        self.sent_at: dict[int, tuple[int, int, State]] = {}
        self.dropped: list[Input] = []
        self.kinds: dict[int, str] = {}
        self.completions: Counter[int] = Counter()
        self.ids: set[int] = set()
        self.timers_started: dict[int, float] = {}
        self.timers_done: set[int] = set()
        self.sockets_opened: set[int] = set()
        self.sockets_open_reported: set[int] = set()
        self.sockets_gone: set[int] = set()
        self.sockets_closing: set[int] = set()
        self.in_flight: dict[int, HttpRequest] = {}
        self.best_effort_deletes: set[int] = set()
        self.excused: set[str] = set()
        self.held_urls: set[str] = set()
        self.state = State.UNINITIALIZED
        self.announced = False
        self.revivable = False
        self.open_delays: list[float] = []
        self._cause: Input | None = None

    # -- the loop, observed -------------------------------------------------------------

    def run(self) -> None:
        try:
            while self._inputs:
                self._step(self._inputs.popleft())
        except BaseException:
            self.broken = True  # the ledger is no longer trustworthy: teardown skips checks
            raise

    def _step(self, event: Input) -> None:
        if isinstance(event, (HttpResponseReceived, HttpRequestFailed)) and self._stale(event):
            self.in_flight.pop(event.request_id)
            self.dropped.append(event)
            return
        self._observe_input(event)
        self._cause = event
        self.closed_in_batch.clear()
        effects = self.session.handle(event, now=self.now)
        self.effects.extend(effects)
        for effect in effects:
            self._check(effect)
            self._apply(effect)
        self._after_handle()

    def _stale(self, event: HttpResponseReceived | HttpRequestFailed) -> bool:
        """An answer that would run into an open bug (STALE_PREREQUISITE, LATE_REFRESH)."""
        step = self.in_flight[event.request_id].step
        registers, unregisters, state = self.sent_at[event.request_id]
        if step in ("catalog", "catalog.limited", "people/me"):
            return (
                STALE_PREREQUISITE in self.tolerate and registers != self.epochs[Trigger.REGISTER]
            )
        if step == "device.refresh" and LATE_REFRESH in self.tolerate:
            after_unregister = State.UNREGISTERING, State.UNREGISTERED, State.READY
            return unregisters != self.epochs[Trigger.UNREGISTER] or state in after_unregister
        return False

    def _observe_input(self, event: Input) -> None:
        if isinstance(event, Register):
            self.kinds[event.command_id] = "register"
        elif isinstance(event, Unregister):
            self.kinds[event.command_id] = "unregister"
        elif isinstance(event, (HttpResponseReceived, HttpRequestFailed)):
            self._answered(event)
        elif isinstance(event, WebSocketOpened):
            self.sockets_open_reported.add(event.socket_id)
        elif isinstance(event, (WebSocketClosed, WebSocketRejected)):
            self.sockets_gone.add(event.socket_id)
        elif isinstance(event, TimerFired):
            self.timers_done.add(event.timer_id)

    def _answered(self, event: HttpResponseReceived | HttpRequestFailed) -> None:
        request = self.in_flight.pop(event.request_id)
        if request.step == "device.refresh" and isinstance(event, HttpResponseReceived):
            self.recreating = event.response.status in GONE
        refused = isinstance(event, HttpRequestFailed) or not (
            event.response.ok or event.response.status in GONE
        )
        if refused and event.request_id in self.best_effort_deletes:
            self.excused.add(request.url.split("?")[0])
        listed = isinstance(event, HttpResponseReceived) and event.response.ok
        if request.step == "device.list" and not listed:  # lost before: cannot be found now
            asked = self.cloud.requests.index(request)
            self.excused |= {url for url, at in self.cloud.lost.items() if at <= asked}

    def _after_handle(self) -> None:
        device = self.session.device
        if device is not None:
            self.held_urls.add(device.url)
        if self.session.state is not self.state:
            raise LedgerError(f"state {self.session.state} without state:changed to it")

    # -- effects ------------------------------------------------------------------------

    def _check(self, effect: Effect) -> None:
        text = repr(effect)
        for secret in self.cloud.secrets:
            for form in secret_forms(secret):
                if form in text:
                    raise LedgerError(f"a secret shows in {type(effect).__name__}")
        checker = _CHECKS.get(type(effect))
        if checker is not None:
            checker(self, effect)

    def _new_id(self, value: int, what: str) -> None:
        if value in self.ids:
            raise LedgerError(f"{what} id {value} was used before")
        self.ids.add(value)

    def _check_request(self, effect: SendHttpRequest) -> None:
        self._new_id(effect.request_id, "request")
        request = effect.request
        if request.step == "device.register" and any(
            r.step == "device.register" for r in self.in_flight.values()
        ):
            raise LedgerError("two device POSTs in flight at once")
        self.in_flight[effect.request_id] = request
        self.sent_at[effect.request_id] = (
            self.epochs[Trigger.REGISTER],
            self.epochs[Trigger.UNREGISTER],
            self.session.state,
        )
        if request.method == "DELETE":
            held = self.session.device
            if held is None or held.url != request.url.split("?")[0]:
                self.best_effort_deletes.add(effect.request_id)

    def _check_open(self, effect: OpenWebSocket) -> None:
        self._new_id(effect.socket_id, "socket")
        self.sockets_opened.add(effect.socket_id)
        cause = self._cause
        delay = self.timers_started[cause.timer_id] if isinstance(cause, TimerFired) else 0.0
        self.open_delays.append(delay)

    def _check_socket_use(
        self, effect: SendWebSocketText | CloseWebSocket | AbortWebSocket
    ) -> None:
        socket_id = effect.socket_id
        name = type(effect).__name__
        if socket_id not in self.sockets_opened or socket_id in self.sockets_gone:
            raise LedgerError(f"{name} for socket {socket_id}, which is gone or unknown")
        if isinstance(effect, AbortWebSocket):
            self.sockets_gone.add(socket_id)
            return
        if socket_id not in self.sockets_open_reported:
            raise LedgerError(f"{name} for socket {socket_id} before it opened")
        if isinstance(effect, CloseWebSocket):
            if socket_id in self.sockets_closing:
                raise LedgerError(f"second close for socket {socket_id}")
            self.sockets_closing.add(socket_id)
            self.closed_in_batch.add(socket_id)
        elif socket_id in self.sockets_closing and not self._tolerated_reentrant_send(effect):
            # RFC 6455 5.5.1: no data frame after sending a Close frame.
            raise LedgerError(f"{effect.text!r} sent on closing socket {socket_id}")

    def _tolerated_reentrant_send(self, effect: SendWebSocketText) -> bool:
        """REENTRANT_CLOSE, precisely: the first ping, in the same batch as the close."""
        return (
            REENTRANT_CLOSE in self.tolerate
            and effect.socket_id in self.closed_in_batch
            and json.loads(effect.text).get("type") == "ping"
        )

    def _check_start(self, effect: StartTimer) -> None:
        self._new_id(effect.timer_id, "timer")
        if not 0.0 <= effect.delay < float("inf"):
            raise LedgerError(f"timer delay {effect.delay}")
        self.timers_started[effect.timer_id] = effect.delay

    def _check_cancel(self, effect: CancelTimer) -> None:
        timer_id = effect.timer_id
        if timer_id not in self.timers_started or timer_id in self.timers_done:
            raise LedgerError(f"cancel of timer {timer_id}: never started, fired or cancelled")
        self.timers_done.add(timer_id)

    def _check_event(self, effect: EmitEvent) -> None:
        event = effect.event
        if isinstance(event, StateChanged):
            self._transition(event)
        elif isinstance(event, (MeetingsRegistered, MeetingsUnregistered)):
            self._announce(event)

    def _transition(self, event: StateChanged) -> None:
        source, dest, trigger = State(event.source), State(event.dest), Trigger(event.trigger)
        if source is not self.state or next_state(source, trigger) is not dest:
            raise LedgerError(f"illegal state:changed {event} after {self.state}")
        self.state = dest
        self.epochs[trigger] += 1
        if dest is State.DISCONNECTED:
            self.revivable = True

    def _announce(self, event: MeetingsRegistered | MeetingsUnregistered) -> None:
        """Alternation. A device revived from ``disconnected`` (connection ended for good, or
        a failed delete) is announced again without an unregistered in between: the
        lifecycle's design (``register()`` revives it); the user saw ``registered`` go False."""
        registering = isinstance(event, MeetingsRegistered)
        if registering and self.announced and not self.revivable:
            raise LedgerError("meetings:registered twice without meetings:unregistered")
        if not registering and not self.announced:
            raise LedgerError("meetings:unregistered without meetings:registered")
        self.announced, self.revivable = registering, False

    def _check_complete(self, effect: CompleteCommand) -> None:
        command_id, error = effect.command_id, effect.error
        if command_id not in self.kinds:
            raise LedgerError(f"completion of unknown command {command_id}")
        self.completions[command_id] += 1
        if self.completions[command_id] > 1:
            raise LedgerError(f"command {command_id} completed twice")
        if error is not None:
            if not isinstance(error, WebexError) or not error.message or not str(error):
                raise LedgerError(f"command {command_id} failed with {error!r}")
            for secret in self.cloud.secrets:
                if any(form in str(error) for form in secret_forms(secret)):
                    raise LedgerError("a secret shows in an error message")
        elif self.kinds[command_id] == "unregister":
            self._check_unregistered(command_id)
        if error is not None and self.kinds[command_id] == "register":
            self._check_register_failed(command_id)

    def _check_register_failed(self, command_id: int) -> None:
        """A failed or cancelled register() has deleted what it created when it completes
        (unless the registration goes on for another caller)."""
        if self.state is State.REGISTERING:
            return
        left = (set(self.cloud.created) & set(self.cloud.devices)) - self.excused
        if self.session.device is not None:
            left.discard(self.session.device.url)
        if left:
            raise LedgerError(f"register {command_id} failed but {sorted(left)} remain")

    def _check_unregistered(self, command_id: int) -> None:
        if self.session.device is not None:
            raise LedgerError(f"unregister {command_id} succeeded with a device still held")
        left = (self.held_urls & set(self.cloud.devices)) - self.excused
        if left:
            raise LedgerError(f"unregister {command_id} succeeded but {sorted(left)} remain")

    # -- more driving ---------------------------------------------------------------------

    def _apply(self, effect: Effect) -> None:
        if isinstance(effect, SendWebSocketText) and self._auth_fault(effect):
            return
        if isinstance(effect, SendHttpRequest) and effect.request.step == "device.register":
            recreating, self.recreating = self.recreating, False
            if recreating and RECREATE_FAILURE in self.tolerate:
                self._inputs.append(HttpResponseReceived(effect.request_id, self._recreate(effect)))
                return
        super()._apply(effect)

    def _recreate(self, effect: SendHttpRequest) -> HttpResponse:
        """A re-creation POST, answered without faults or device cap (RECREATE_FAILURE)."""
        self.cloud.requests.append(effect.request)
        cap, self.cloud.device_cap = self.cloud.device_cap, None
        try:
            return self.cloud._answer(effect.request)
        finally:
            self.cloud.device_cap = cap

    def _auth_fault(self, effect: SendWebSocketText) -> bool:
        """Answer an authorization frame with a queued auth fault; False when none applies."""
        if effect.socket_id not in self.sockets or not self.cloud.auth_faults:
            return False
        frame = json.loads(effect.text)
        if frame.get("type") != "authorization":
            return False
        self.cloud.frames.append(frame)
        fault = self.cloud.auth_faults.popleft()
        if isinstance(fault, AuthClose):
            del self.sockets[effect.socket_id]
            self._inputs.append(WebSocketClosed(effect.socket_id, fault.code, fault.reason))
        return True

    def _open(self, effect: OpenWebSocket) -> None:
        if self.cloud.ws_faults and isinstance(self.cloud.ws_faults[0], Rejected):
            fault = self.cloud.ws_faults.popleft()
            rejected = WebSocketRejected(effect.socket_id, fault.status, fault.retry_after)
            self._inputs.append(rejected)
            return
        super()._open(effect)

    def release_with(self, fault: int | str | None) -> None:
        """Answer every held request: normally (``None``), with an error status, or ``"fail"``."""
        if fault is None or fault == 200:
            self.release()
            return
        held, self.held = self.held, {}
        for request_id, request in held.items():
            if fault == "fail":
                self.feed(HttpRequestFailed(request_id, "connection reset"))
            else:
                assert isinstance(fault, int)
                self.cloud.settle(request, fault)
                self.feed(HttpResponseReceived(request_id, _json(fault, {"message": "late"})))

    def send_text(self, text: str) -> None:
        for socket_id in list(self.sockets):
            self.feed(WebSocketTextReceived(socket_id, text))

    def drive(self, command_id: int, *, step: float = 60.0, limit: int = 200) -> Any:
        """Advance the clock until ``command_id`` completes; returns its error (or None)."""
        for _ in range(limit):
            if command_id in self.completed:
                return self.completed[command_id]
            self.advance(step)
        raise AssertionError(f"command {command_id} never completed")

    def settle_everything(self) -> None:
        """No more faults; answer everything held; let every retry and backoff run out."""
        self.cloud.clear_faults()
        self.auto_pong = True
        for _ in range(12):
            self.release()
            self.advance(300.0)
        assert not self.held

    def check_quiet_state(self) -> None:
        """What holds between inputs (the pump is quiescent)."""
        session = self.session
        assert isinstance(session.state, State)
        assert session.state is self.state
        sockets = len(self.sockets)
        if session.state is State.REGISTERED:
            assert sockets == 1, f"registered with {sockets} sockets open"
        elif session.state in (State.REGISTERING, State.RECONNECTING, State.UNREGISTERING):
            assert sockets <= 1, f"{session.state} with {sockets} sockets open"
        else:
            assert sockets == 0, f"{session.state} with {sockets} sockets open"
        if session.state in (State.UNINITIALIZED, State.READY, State.UNREGISTERED):
            assert session.device is None, f"{session.state} with a device held"
        if session.registered:
            device = session.device
            assert device is not None, f"{session.state} without a device"
            assert device.url in self.cloud.devices or device.url in self.cloud.forgotten
        text = repr(session)
        for secret in self.cloud.secrets:
            assert not any(form in text for form in secret_forms(secret))


_CHECKS: dict[type[Effect], Any] = {
    SendHttpRequest: CheckedPump._check_request,
    OpenWebSocket: CheckedPump._check_open,
    SendWebSocketText: CheckedPump._check_socket_use,
    CloseWebSocket: CheckedPump._check_socket_use,
    AbortWebSocket: CheckedPump._check_socket_use,
    StartTimer: CheckedPump._check_start,
    CancelTimer: CheckedPump._check_cancel,
    EmitEvent: CheckedPump._check_event,
    CompleteCommand: CheckedPump._check_complete,
}


def credentials(*, refresh: bool, expires_in: float | None) -> Credentials:
    extra: dict[str, Any] = {}
    if refresh:
        extra = {"refresh_token": REFRESH_TOKEN, "client_id": "cid", "client_secret": CLIENT_SECRET}
    expires_at = None if expires_in is None else START + expires_in
    return Credentials(ACCESS_TOKEN, expires_at=expires_at, **extra)


def make_pump(
    config: SessionConfig | None = None,
    *,
    refresh: bool = False,
    expires_in: float | None = None,
    seed: int = 7,
    tolerate: frozenset[str] = OPEN_BUGS,
) -> CheckedPump:
    session = MeetingsSession(
        config or SessionConfig.for_cloud(BASE),
        credentials(refresh=refresh, expires_in=expires_in),
        rng=random.Random(seed),
    )
    pump = CheckedPump(session, PropertyCloud(), tolerate=tolerate)
    pump.init()
    return pump


# -- strategies ---------------------------------------------------------------------------------

STATUSES = (400, 401, 403, 404, 409, 410, 429, 500, 502, 503, 504)
http_faults = st.one_of(
    st.sampled_from([*STATUSES, "fail", "hang", "lost", "lost_timeout"]),
    st.builds(RetryAfter, st.sampled_from([429, 503]), st.integers(0, 120)),
    st.just(DeviceLimit()),
)
ws_faults = st.one_of(
    st.none(),
    st.builds(Rejected, st.sampled_from([401, 403, 404, 429, 500, 503])),
    st.builds(Rejected, st.just(429), st.integers(0, 90).map(float)),
)
auth_faults = st.one_of(
    st.just(SILENT),
    st.builds(
        AuthClose,
        st.sampled_from([1000, 1001, 1005, 1006, 1011, 3050, 4000, 4001, 4400, 4401, 4403]),
        st.sampled_from(["", "replaced", "authentication failed"]),
    ),
)
CLOSE_CODES = (1000, 1001, 1005, 1006, 1011, 3050, 4000, 4001, 4400, 4401, 4403, 4404)
close_codes = st.one_of(st.sampled_from(CLOSE_CODES), st.integers(1000, 4999))
close_reasons = st.sampled_from(
    ["", "idle", "Done", "done (forced)", "pong not received", "replaced", "bye", "x" * 120]
)
SERVER_FRAMES = (
    json.dumps({"id": "e1", "sequenceNumber": 7, "data": {"eventType": "locus.difference"}}),
    json.dumps({"id": "e2", "data": {"eventType": "conversation.activity", "x": [1, 2]}}),
    json.dumps({"data": {"eventType": "locus.difference"}}),  # no id
    json.dumps({"id": "b1", "data": {"eventType": "mercury.buffer_state"}}),
    json.dumps({"id": "p1", "type": "pong"}),  # a pong for no ping we sent
    json.dumps({"type": "pong"}),
    json.dumps({"type": "shutdown"}),
    json.dumps({"id": "s1", "type": "shutdown"}),
    json.dumps({"id": {"nested": True}, "data": {"eventType": "x.y"}}),
    json.dumps({"id": "n1", "sequenceNumber": "12", "data": "not an object"}),
    "{not json",
    "[]",
    "null",
    '"text"',
    "",
)
advances = st.one_of(
    st.sampled_from([0.0, 0.5, 1.0, 2.0, 14.0, 15.0, 30.0, 60.0, 961.0, 2000.0]),
    st.floats(0, 2000, allow_nan=False),
)


# -- 1. the state machine -----------------------------------------------------------------------


class SessionMachine(RuleBasedStateMachine):
    """Random commands, time, server behaviour and faults; the ledger checks every effect."""

    pump: CheckedPump

    @initialize(
        refresh=st.booleans(),
        expires_in=st.sampled_from([None, 40.0, 1000.0, 5000.0]),
        limited=st.booleans(),
        seed=st.integers(0, 3),
        registered=st.booleans(),
    )
    def start(
        self, refresh: bool, expires_in: float | None, limited: bool, seed: int, registered: bool
    ) -> None:
        config = SessionConfig.for_cloud(BASE, fetch_limited_catalog=limited)
        self.pump = make_pump(config, refresh=refresh, expires_in=expires_in, seed=seed)
        if registered:
            self.pump.register()

    @rule()
    def register(self) -> None:
        self.pump.register()

    @rule()
    def unregister(self) -> None:
        self.pump.unregister()

    @rule(kinds=st.lists(st.sampled_from(["register", "unregister"]), min_size=1, max_size=3))
    def commands(self, kinds: list[str]) -> None:
        for kind in kinds:
            if kind == "register":
                self.pump.register(run=False)
            else:
                self.pump.unregister(run=False)
        self.pump.run()

    @rule(lost=st.sampled_from(["lost", "lost_timeout"]))
    def lose_a_device_answer(self, lost: str) -> None:
        self.pump.cloud.fail("device.register", lost)

    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        pump = self.pump
        waiting = [c for c, kind in pump.kinds.items() if c not in pump.completed]
        if waiting:
            pump.feed(Cancel(data.draw(st.sampled_from(waiting))))

    @rule(seconds=advances)
    def advance(self, seconds: float) -> None:
        self.pump.advance(seconds)

    @rule(code=close_codes, reason=close_reasons)
    def server_close(self, code: int, reason: str) -> None:
        self.pump.server_close(code, reason)

    @rule(text=st.sampled_from(SERVER_FRAMES))
    def server_frame(self, text: str) -> None:
        self.pump.send_text(text)

    @rule(step=st.sampled_from(HTTP_STEPS), faults=st.lists(http_faults, min_size=1, max_size=3))
    def http_fault(self, step: str, faults: list[Fault]) -> None:
        self.pump.cloud.fail(step, *faults)

    @rule(step=st.sampled_from(HTTP_STEPS))
    def hang(self, step: str) -> None:
        self.pump.cloud.fail(step, "hang")

    @precondition(lambda self: bool(self.pump.held))
    @rule(answer=st.sampled_from([None, None, 200, 404, 429, 500, "fail"]))
    def release(self, answer: int | str | None) -> None:
        self.pump.release_with(answer)

    @rule(faults=st.lists(ws_faults, min_size=1, max_size=4))
    def websocket_fault(self, faults: list[Rejected | None]) -> None:
        self.pump.cloud.ws_faults.extend(faults)

    @rule(faults=st.lists(auth_faults, min_size=1, max_size=3))
    def authorization_fault(self, faults: list[AuthClose | str]) -> None:
        self.pump.cloud.auth_faults.extend(faults)

    @rule(cap=st.sampled_from([None, 0, 1, 2]))
    def device_cap(self, cap: int | None) -> None:
        self.pump.cloud.device_cap = cap

    @rule()
    def toggle_auto_pong(self) -> None:
        self.pump.auto_pong = not self.pump.auto_pong

    @rule()
    def cloud_forgets_devices(self) -> None:
        self.pump.cloud.forget_all()

    failed = False

    @invariant()
    def quiet_state(self) -> None:
        try:
            self.pump.check_quiet_state()
        except BaseException:
            self.failed = True
            raise

    def teardown(self) -> None:
        pump = getattr(self, "pump", None)
        if pump is None or pump.broken or self.failed:
            return  # a step failed already: that failure is the report
        pump.settle_everything()
        pump.check_quiet_state()
        unfinished = set(pump.kinds) - set(pump.completed)
        assert not unfinished, f"commands {sorted(unfinished)} never completed"
        command = pump.unregister()
        pump.settle_everything()
        assert pump.result(command) is None
        assert pump.session.device is None
        assert pump.session.state in (State.READY, State.UNREGISTERED)
        leaked = (set(pump.cloud.created) & set(pump.cloud.devices)) - pump.excused
        assert not leaked, f"devices left registered: {sorted(leaked)}"


SessionMachine.TestCase.settings = settings(
    max_examples=int(os.environ.get("PROP_N", "800")),
    stateful_step_count=40,
    deadline=None,
    derandomize=not os.environ.get("PROP_N"),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestSessionMachine = SessionMachine.TestCase


# -- 2. focused properties ----------------------------------------------------------------------

FOCUSED = settings(
    max_examples=int(os.environ.get("PROP_N", "120")),
    deadline=None,
    derandomize=not os.environ.get("PROP_N"),
)

REGISTER_STEPS = ("catalog", "catalog.limited", "people/me", "device.register", "device.list")
register_path_faults = st.one_of(
    st.sampled_from([*STATUSES, "fail"]),
    st.builds(RetryAfter, st.sampled_from([429, 503]), st.integers(0, 120)),
    st.just(DeviceLimit()),
)
transient_delete_faults = st.one_of(
    st.sampled_from([429, 502, 503, 504, "fail"]),
    st.builds(RetryAfter, st.just(503), st.integers(0, 60)),
)


def registered_names(pump: Pump) -> list[str]:
    return [name for name in pump.names() if name == "meetings:registered"]


@FOCUSED
@given(
    faults=st.fixed_dictionaries(
        {step: st.lists(register_path_faults, max_size=3) for step in REGISTER_STEPS}
    ),
    refresh_faults=st.lists(register_path_faults, max_size=3),
    delete_faults=st.lists(transient_delete_faults, max_size=2),
    ws=st.lists(ws_faults, max_size=4),
    auth=st.lists(auth_faults, max_size=3),
    refresh=st.booleans(),
    expired=st.booleans(),
    limited=st.booleans(),
    cap=st.sampled_from([None, 0]),
)
def test_a_failed_register_leaves_nothing_behind(
    faults: dict[str, list[Fault]],
    refresh_faults: list[Fault],
    delete_faults: list[Fault],
    ws: list[Rejected | None],
    auth: list[AuthClose | str],
    refresh: bool,
    expired: bool,
    limited: bool,
    cap: int | None,
) -> None:
    """(a) Whatever fails on the way (a rollback delete may need its retries), a failed
    register() leaves no device in the cloud, no socket open, and the session READY."""
    config = SessionConfig.for_cloud(BASE, fetch_limited_catalog=limited)
    pump = make_pump(
        config, refresh=refresh, expires_in=-1.0 if expired else None, tolerate=frozenset()
    )
    cloud = pump.cloud
    for step, queued in faults.items():
        cloud.fail(step, *queued)
    cloud.fail("credentials.refresh", *refresh_faults)
    cloud.fail("device.unregister", *delete_faults)
    cloud.ws_faults.extend(ws)
    cloud.auth_faults.extend(auth)
    cloud.device_cap = cap
    error = pump.drive(pump.register(), step=30.0)
    pump.advance(600.0)  # let any best-effort delete finish its retries
    if error is None:
        device = pump.session.device
        assert device is not None
        assert pump.session.state is State.REGISTERED
        assert list(cloud.devices) == [device.url]
        assert registered_names(pump) == ["meetings:registered"]
        return
    assert isinstance(error, WebexError)
    assert cloud.devices == {}, f"{error!r} left {list(cloud.devices)}"
    assert pump.session.state is State.READY
    assert pump.session.device is None
    assert pump.sockets == {}
    assert registered_names(pump) == []
    triggers = [e.trigger for e in pump.events if isinstance(e, StateChanged)]
    # Refused up front (cannot authorize) without a transition, or rolled back.
    assert triggers in (["initialize"], ["initialize", "register", "registration_failed"])


idempotent_transients = st.one_of(
    st.sampled_from([429, 502, 503, 504, "fail"]),
    st.builds(RetryAfter, st.sampled_from([429, 503]), st.integers(0, 30)),
)
create_transients = st.one_of(
    st.sampled_from([429, 503]),
    st.builds(RetryAfter, st.sampled_from([429, 503]), st.integers(0, 30)),
)
ws_transients = st.one_of(
    st.none(),
    st.builds(Rejected, st.sampled_from([404, 429, 500, 503])),
    st.builds(Rejected, st.just(429), st.integers(0, 20).map(float)),
)
auth_transients = st.one_of(
    st.just(SILENT),
    st.builds(AuthClose, st.sampled_from([1000, 1001, 1005, 1006, 1011, 4001])),
)


@FOCUSED
@given(
    catalog=st.lists(idempotent_transients, max_size=2),
    people=st.lists(st.sampled_from([404, 500, 502, 503, 504, "fail"]), max_size=3),
    device=st.lists(create_transients, max_size=2),
    replay=st.booleans(),
    ws=st.lists(ws_transients, max_size=3),
    auth=st.lists(auth_transients, max_size=2),
    refresh=st.booleans(),
)
def test_b_register_after_transient_faults_announces_once(
    catalog: list[Fault],
    people: list[Fault],
    device: list[Fault],
    replay: bool,
    ws: list[Rejected | None],
    auth: list[AuthClose | str],
    refresh: bool,
) -> None:
    """(b) Transient faults within the retry budgets delay register() but it succeeds, with
    exactly one meetings:registered, one device in the cloud and one socket. (The overall
    deadline is set out of the way: two silent authorizations alone take over a minute.)"""
    config = SessionConfig.for_cloud(BASE, register_timeout=3600.0)
    pump = make_pump(config, refresh=refresh, tolerate=frozenset())
    cloud = pump.cloud
    cloud.fail("catalog", *catalog)
    cloud.fail("people/me", *people)
    if replay and refresh:
        cloud.fail("device.register", 401)  # one 401: refresh the token, replay the POST
    cloud.fail("device.register", *device)
    cloud.ws_faults.extend(ws)
    cloud.auth_faults.extend(auth)
    assert pump.drive(pump.register(), step=10.0) is None
    device_info = pump.session.device
    assert device_info is not None
    assert pump.session.state is State.REGISTERED
    assert registered_names(pump) == ["meetings:registered"]
    assert list(cloud.devices) == [device_info.url]
    assert len(pump.sockets) == 1
    failures = [e for e in pump.events if isinstance(e, ConnectionFailed)]
    assert len(failures) == len(ws) + len(auth)
    assert all(f.retry_in is not None for f in failures)


def expected_delay(
    backoff: BackoffConfig, attempt: int, retry_after: float | None
) -> tuple[float, float]:
    """The range a delay before attempt number ``attempt`` may take (jitter included)."""
    base = backoff.delay(attempt)
    low, high = base * (1 - backoff.jitter), base * (1 + backoff.jitter)
    floor = min(retry_after or 0.0, MAX_RETRY_AFTER)  # Retry-After is honoured up to 60 s
    return max(low, floor), max(high, floor)


@FOCUSED
@given(
    initial=st.sampled_from([0.5, 1.0, 2.0]),
    maximum=st.sampled_from([1.0, 4.0, 32.0]),
    factor=st.sampled_from([1.5, 2.0, 3.0]),
    jitter=st.sampled_from([0.0, 0.1, 0.5]),
    failures=st.lists(
        st.one_of(
            st.none(),
            st.builds(Rejected, st.sampled_from([500, 503])),
            st.builds(Rejected, st.just(429), st.integers(0, 100).map(float)),
        ),
        min_size=1,
        max_size=8,
    ),
    reconnecting=st.booleans(),
    seed=st.integers(0, 100),
)
def test_c_reconnect_delays_follow_the_configured_backoff(
    initial: float,
    maximum: float,
    factor: float,
    jitter: float,
    failures: list[Rejected | None],
    reconnecting: bool,
    seed: int,
) -> None:
    """(c) The delay before each connection attempt (the StartTimer whose firing opened the
    socket) follows the backoff: immediate, then initial * factor**n capped at maximum, within
    the jitter, never below Retry-After (capped at 60 s); ConnectionFailed.retry_in announces
    it exactly."""
    backoff = BackoffConfig(initial=initial, maximum=maximum, factor=factor, jitter=jitter)
    mercury = (
        MercuryConfig(reconnect_backoff=backoff)
        if reconnecting
        else MercuryConfig(initial_backoff=backoff)
    )
    # Retry-After up to 60 s per attempt: the register() deadline is set out of the way.
    config = SessionConfig.for_cloud(BASE, mercury=mercury, register_timeout=3600.0)
    pump = make_pump(config, seed=seed)
    if reconnecting:
        assert pump.result(pump.register()) is None
    first_open, first_event = len(pump.open_delays), len(pump.events)
    pump.cloud.ws_faults.extend(failures)
    if reconnecting:
        pump.server_close(1006, "")
        command = None
    else:
        command = pump.register()
    for _ in range(len(failures) + 1):
        pump.advance(max(maximum * (1 + jitter), 100.0))
    assert pump.session.state is State.REGISTERED
    if command is not None:
        assert pump.result(command) is None
    delays = pump.open_delays[first_open:]
    assert len(delays) == len(failures) + 1
    assert delays[0] == 0.0  # the first attempt is immediate
    announced = [e for e in pump.events[first_event:] if isinstance(e, ConnectionFailed)]
    assert [e.retry_in for e in announced] == delays[1:]
    for attempt, (delay, failure) in enumerate(zip(delays[1:], failures, strict=True), 2):
        retry_after = failure.retry_after if failure is not None else None
        low, high = expected_delay(backoff, attempt, retry_after)
        assert low <= delay <= high, (attempt, delay, low, high)
        assert delay <= max(maximum * (1 + jitter), min(retry_after or 0.0, MAX_RETRY_AFTER))


# -- fixed session bugs: their minimal reproducers, kept as regression tests --------------


def strict_pump(**kwargs: Any) -> CheckedPump:
    """A pump that tolerates no known bug."""
    return make_pump(tolerate=frozenset(), **kwargs)


def test_regression_failed_recreation_leaves_registered_session_without_device() -> None:
    pump = strict_pump()
    assert pump.result(pump.register()) is None
    pump.cloud.forget_all()  # the server forgot the device ...
    pump.cloud.device_cap = 0  # ... and will not take a new one
    pump.advance(961.0)  # periodic refresh: PUT 404 -> forget -> POST 403
    assert pump.session.state is State.REGISTERED
    assert pump.session.device is not None  # fails: forgotten before the POST succeeded


def test_regression_failed_recreation_makes_the_next_refresh_raise() -> None:
    pump = strict_pump()
    assert pump.result(pump.register()) is None
    pump.cloud.forget_all()
    pump.cloud.device_cap = 0
    pump.advance(961.0)
    pump.advance(961.0)  # raises: `assert device is not None` in _refresh_device


def test_regression_failed_recreation_during_register_never_completes() -> None:
    pump = strict_pump()
    pump.cloud.auth_faults.append(AuthClose(1005))  # before buffer_state: refresh the device
    pump.cloud.fail("device.refresh", 404)  # it is gone
    pump.cloud.fail("device.register", PASS, 400)  # and cannot be re-created
    command = pump.register()
    pump.advance(3600.0)
    assert command in pump.completed  # fails: nothing is scheduled any more


def test_regression_unregister_queued_behind_register_pings_after_close() -> None:
    pump = strict_pump()
    pump.register(run=False)
    pump.unregister(run=False)
    pump.run()  # LedgerError: the first ping goes out after CloseWebSocket(3050)


def test_regression_stale_people_me_answer_posts_a_second_device() -> None:
    pump = strict_pump()
    pump.cloud.fail("catalog", 500)  # register #1 fails ...
    pump.cloud.fail("people/me", 503)  # ... with people/me waiting for its retry
    assert pump.result(pump.register()) is not None
    pump.cloud.fail("people/me", "hang")
    pump.cloud.fail("device.register", "hang")
    pump.register()
    pump.advance(1.5)  # the old people/me retry answers: register #2 POSTs its device
    pump.release()  # the new people/me answers: a second POST (LedgerError)


def test_regression_stale_people_me_401_fails_the_next_register() -> None:
    pump = strict_pump()
    pump.cloud.fail("catalog", 500)
    pump.cloud.fail("people/me", "hang")
    assert pump.result(pump.register()) is not None  # failed; its people/me still held
    [stale] = pump.held
    pump.cloud.fail("catalog", "hang")
    second = pump.register()  # its own people/me succeeds; its catalog is held
    del pump.held[stale]
    pump.feed(HttpResponseReceived(stale, _json(401, {"message": "old"})))
    assert second not in pump.completed  # fails: the old request's 401 failed register #2


def test_regression_refresh_in_flight_at_unregister_recreates_a_device() -> None:
    pump = strict_pump()
    assert pump.result(pump.register()) is None
    pump.cloud.fail("device.refresh", "hang")
    pump.advance(961.0)  # the periodic PUT hangs
    assert pump.result(pump.unregister()) is None
    assert pump.cloud.devices == {}
    pump.release()  # PUT answers 404: the session POSTs a new device while unregistered
    assert pump.session.device is None
    assert pump.cloud.devices == {}


def test_websocket_retry_after_is_capped_like_http() -> None:
    """A 429 with Retry-After 86400 on the Mercury upgrade waits 60 s at most, as HTTP does
    (it once made register() wait a day)."""
    pump = strict_pump()
    pump.cloud.ws_faults.append(Rejected(429, 86400.0))
    command = pump.register()
    [failed] = [e for e in pump.events if isinstance(e, ConnectionFailed)]
    assert failed.retry_in is not None
    assert failed.retry_in <= 60.0  # fails: 86400
    pump.advance(120.0)
    assert command in pump.completed
