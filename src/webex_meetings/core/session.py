"""The meetings session: ``register()`` and ``unregister()`` as one sans-IO state machine.

Theory of operation
-------------------
:class:`MeetingsSession` is the JS SDK's ``webex.meetings`` plus the parts of ``webex``
underneath it (credentials, services, device, mercury), with every bit of I/O turned into
data. A driver calls :meth:`MeetingsSession.handle` with an input and the current time and
runs the effects it gets back; the session never blocks, sleeps, or reads a clock.

``register()`` runs, in order and as parallel as the protocol allows:

1. the U2C post-auth catalog (``GET {u2c}/catalog?format=hostmap``; the pre-auth
   ``limited/catalog`` first only when configured) *in parallel with* ``GET {hydra}/people/me``
   (checks the token, names the user; optional region and meeting-preference calls ride along
   and never fail the registration);
2. the WDM device: ``POST {wdm}/devices?includeUpstreamServices=all``. On "User has excessive
   device registrations" our own oldest devices are listed, deleted and the POST retried once;
3. Mercury: open ``webSocketUrl`` (with the JS SDK's query parameters), send the authorization
   frame, wait for ``mercury.buffer_state``; then ``meetings:registered``.

A failure at any step fails ``register()`` with a typed error naming the step, and deletes any
device this registration created: a failed ``register()`` leaves nothing behind.

``unregister()`` closes Mercury (code 3050, as the JS SDK does, so that nothing reconnects),
then ``DELETE``\\ s the device (404 counts as done), then ``meetings:unregistered``.

Commands are serialized in call order; consecutive calls of the same kind coalesce, so two
overlapping ``register()`` calls make one registration and both complete with it. While
registered the session answers pings, acks every frame, refreshes an ephemeral device every
``ttl/2 + 60`` s, refreshes an expiring token at 60-90 % of its life, and reconnects Mercury
with backoff after a transient close (``network:disconnected`` then ``network:connected``).
"""

from __future__ import annotations

import itertools
import logging
import random
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any

from . import catalog as catalog_protocol
from ._session_base import Command, CommandKind, Registration, Socket
from .config import SessionConfig
from .credentials import Credentials
from .device import DeviceRegistration
from .effects import (
    AbortWebSocket,
    CompleteCommand,
    Effect,
)
from .errors import (
    CancelledCommandError,
    InvalidTransitionError,
    NotAuthorizedError,
    RemoteProtocolError,
    WebexError,
)
from .events import (
    DeviceInfo,
    MeetingsReady,
    MeetingsUnregistered,
)
from .http import HttpRequest, HttpResponse
from .http_client import IDEMPOTENT, HttpClient
from .inputs import (
    HttpRequestFailed,
    HttpResponseReceived,
    Initialize,
    Input,
    Register,
    Shutdown,
    TimerFired,
    Unregister,
    WebSocketClosed,
    WebSocketOpened,
    WebSocketRejected,
    WebSocketTextReceived,
)
from .lifecycle import Lifecycle, State, Trigger
from .session_device import DeviceSteps
from .session_mercury import MercurySteps
from .timers import Timers

__all__ = ["MeetingsSession"]

log = logging.getLogger("webex_meetings.core.session")

UNREGISTER_CLOSE_CODE = 3050
UNREGISTER_CLOSE_REASON = "meetings unregister"


class MeetingsSession(DeviceSteps, MercurySteps):
    """The sans-IO meetings session. See the module docstring for the protocol it runs.

    Not thread-safe: feed it from one task or thread at a time.
    """

    def __init__(
        self,
        config: SessionConfig,
        credentials: Credentials,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self._config = config
        self._rng = rng if rng is not None else random.Random()
        self._now = 0.0
        self._out: list[Effect] = []
        self._ids = itertools.count(1)
        self._timers = Timers(self._out, self._ids)
        self.session_id = f"{config.tracking_id_prefix}_{self._new_uuid()}"
        self._http = HttpClient(
            config,
            credentials,
            session_id=self.session_id,
            out=self._out,
            ids=self._ids,
            timers=self._timers,
            now=lambda: self._now,
            fraction=lambda: self._rng.uniform(*config.refresh_margin),
        )
        self._lifecycle = Lifecycle()
        self._catalog: catalog_protocol.ServiceCatalog | None = None
        self.person: catalog_protocol.Person | None = None
        self.geo_hint: dict[str, Any] | None = None
        self.preferred_site: str | None = None
        self._device: DeviceRegistration | None = None
        self._device_refresh_timer: int | None = None
        self._recreation_waiters = []
        self._socket: Socket | None = None
        self._connect_failures = 0
        self._reconnect_timer: int | None = None
        self._reconnect_after_close = False
        self._recent_event_ids: OrderedDict[str, None] = OrderedDict()
        self._active: Command | None = None
        self._queue: deque[Command] = deque()
        self._registration: Registration | None = None
        self._shut_down = False

    # -- public view ----------------------------------------------------------------------

    @property
    def registered(self) -> bool:
        """True while the device is registered and Mercury online (or reconnecting)."""
        return self.state in (State.REGISTERED, State.RECONNECTING)

    @property
    def device(self) -> DeviceInfo | None:
        """The registered device, if one is held."""
        return None if self._device is None else self._device.info()

    @property
    def catalog(self) -> catalog_protocol.ServiceCatalog | None:
        """The service catalog, once fetched."""
        return self._catalog

    def __repr__(self) -> str:
        return f"<MeetingsSession {self.state.value} device={self._device is not None}>"

    # -- the one entry point ------------------------------------------------------------

    def handle(self, event: Input, *, now: float) -> list[Effect]:
        """Feed one input at time ``now`` (unix seconds); returns the effects to run, in order.

        Only :class:`~.inputs.Initialize` raises (``InvalidTransitionError`` when already
        initialized); every other outcome, errors included, comes back as effects.
        """
        self._now = now
        try:
            if self._shut_down and not isinstance(event, (Register, Unregister)):
                return []
            _HANDLERS[type(event)](self, event)
            # The next queued command starts only once this input is fully handled, so that
            # it never runs in the middle of another step (an unregister's close frame
            # between a registration's own last actions, say). Failures decided on the spot
            # (a refused destination) run first, and may finish the command in progress.
            self._http.run_deferred()
            while self._next_command():
                self._http.run_deferred()
            return list(self._out)
        finally:
            self._out.clear()

    # -- commands -------------------------------------------------------------------------

    def _on_initialize(self, _: Initialize) -> None:
        if self.state is not State.UNINITIALIZED:
            raise InvalidTransitionError(Trigger.INITIALIZE.value, self.state.value)
        self._fire(Trigger.INITIALIZE)
        self._http.schedule_refresh()
        self._emit(MeetingsReady())

    def _on_register(self, event: Register) -> None:
        self._enqueue(CommandKind.REGISTER, event.command_id)

    def _on_unregister(self, event: Unregister) -> None:
        self._enqueue(CommandKind.UNREGISTER, event.command_id)

    def _enqueue(self, kind: CommandKind, command_id: int) -> None:
        if self._shut_down:
            self._complete([command_id], CancelledCommandError("the session is shut down"))
            return
        if self._active is not None and self._active.kind is kind and not self._queue:
            self._active.waiters.append(command_id)
        elif self._queue and self._queue[-1].kind is kind:
            self._queue[-1].waiters.append(command_id)
        else:
            self._queue.append(Command(kind, [command_id]))

    def _next_command(self) -> bool:
        """Start queued commands until one is in progress (or none is left). True when one
        was started."""
        started = False
        while self._active is None and self._queue:
            command = self._queue.popleft()
            self._active = command
            start = (
                self._start_register
                if command.kind is CommandKind.REGISTER
                else self._start_unregister
            )
            start()
            started = True
        return started

    def _finish_command(self, error: WebexError | None) -> None:
        command, self._active = self._active, None
        if command is not None:
            self._complete(command.waiters, error)

    def _complete(self, waiters: list[int], error: WebexError | None) -> None:
        for command_id in waiters:
            self._out.append(CompleteCommand(command_id, error))

    def _on_shutdown(self, _: Shutdown) -> None:
        error = CancelledCommandError("the session was shut down")
        pending = ([self._active] if self._active else []) + list(self._queue)
        self._active, self._queue = None, deque()
        for command in pending:
            self._complete(command.waiters, error)
        self._http.forget_all()
        self._timers.cancel_all()
        if self._socket is not None:
            self._out.append(AbortWebSocket(self._socket.socket_id))
            self._socket = None
        self._shut_down = True

    # -- register ---------------------------------------------------------------------------

    def _start_register(self) -> None:
        state = self.state
        if state is State.UNINITIALIZED:
            self._finish_command(InvalidTransitionError("register", state.value))
        elif state in (State.REGISTERED, State.RECONNECTING):
            log.debug("already registered")
            self._finish_command(None)
        elif not self._can_authorize():
            self._finish_command(NotAuthorizedError("SDK cannot authorize", step="register"))
        else:
            self._fire(Trigger.REGISTER)
            self._registration = Registration()
            if self._device is not None:  # reviving a disconnected device
                self._refresh_device(
                    then=self._while_registering(self._connect_first),
                    on_error=self._while_registering(self._fail_registration),
                )
            elif self.credentials.can_authorize(self._now):
                self._fetch_prerequisites()
            else:
                self._http.refresh_token(self._while_registering(self._after_register_refresh))

    def _can_authorize(self) -> bool:
        credentials = self.credentials
        return credentials.can_authorize(self._now) or credentials.can_refresh

    def _after_register_refresh(self, error: WebexError | None) -> None:
        if error is not None:
            self._fail_registration(error)
        else:
            self._fetch_prerequisites()

    def _fetch_prerequisites(self) -> None:
        """Step 1: catalog and people/me in parallel; optional calls ride along."""
        registration = self._registration
        assert registration is not None
        if self._catalog is None:
            registration.waiting_for.add("catalog")
            if self._config.fetch_limited_catalog and self.credentials.org_id:
                self._fetch_limited_catalog()
            else:
                self._fetch_catalog(self._config.discovery.u2c)
        if self._config.fetch_people_me and self.person is None:
            registration.waiting_for.add("people/me")
            self._fetch_person()
        self._fetch_optional()
        if not registration.waiting_for:
            self._register_device()

    def _prerequisite_done(self, name: str) -> None:
        registration = self._registration
        if registration is None or registration.failed:
            return
        registration.waiting_for.discard(name)
        if not registration.waiting_for:
            self._register_device()

    def _fetch_limited_catalog(self) -> None:
        org_id = self.credentials.org_id
        assert org_id is not None
        request = catalog_protocol.limited_catalog_request(
            self._config.discovery.u2c, org_id=org_id
        )

        def received(response: HttpResponse) -> None:
            limited = self._parse_catalog(response, step="catalog.limited")
            if limited is not None:
                self._fetch_catalog(limited.url("u2c") or self._config.discovery.u2c, limited)

        self._http.send(
            request,
            on_response=self._while_registering(received),
            on_error=self._while_registering(self._fail_registration),
            authorize=False,
            retry=IDEMPOTENT,
        )

    def _fetch_catalog(
        self, u2c_url: str, limited: catalog_protocol.ServiceCatalog | None = None
    ) -> None:
        def received(response: HttpResponse) -> None:
            catalog = self._parse_catalog(response, step="catalog")
            if catalog is None:
                return
            self._catalog = catalog if limited is None else limited.merged(catalog)
            idbroker = self._catalog.url("idbroker")
            if idbroker:
                self._http.token_url = f"{idbroker.rstrip('/')}/idb/oauth2/v1/access_token"
            self._prerequisite_done("catalog")

        self._http.send(
            catalog_protocol.catalog_request(u2c_url),
            on_response=self._while_registering(received),
            on_error=self._while_registering(self._fail_registration),
            retry=IDEMPOTENT,
        )

    def _parse_catalog(
        self, response: HttpResponse, *, step: str
    ) -> catalog_protocol.ServiceCatalog | None:
        try:
            return catalog_protocol.ServiceCatalog.parse(response.json(step=step), step=step)
        except RemoteProtocolError as error:
            self._fail_registration(error)
            return None

    def _hydra_url(self) -> str:
        if self._catalog is not None:
            hydra = self._catalog.url("hydra")
            if hydra:
                return hydra
        return self._config.discovery.hydra

    def _fetch_person(self) -> None:
        def received(response: HttpResponse) -> None:
            try:
                self.person = catalog_protocol.parse_person(response.json(step="people/me"))
            except RemoteProtocolError as error:
                self._fail_registration(error)
                return
            self._prerequisite_done("people/me")

        def failed(error: WebexError) -> None:
            # A rejected token is fatal (as in the JS SDK); an unreachable or broken hydra is
            # not: the device and Mercury do not need it.
            status = getattr(error, "status", None)
            if status in (401, 403):
                self._fail_registration(error)
            else:
                log.warning("people/me failed, continuing without it: %s", error)
                self._prerequisite_done("people/me")

        self._http.send(
            catalog_protocol.people_me_request(self._hydra_url()),
            on_response=self._while_registering(received),
            on_error=self._while_registering(failed),
            retry=IDEMPOTENT,
        )

    def _fetch_optional(self) -> None:
        """The geo hint and the preferred Webex site, when configured. They never fail a
        registration: a failure is only logged."""
        region = self._config.discovery.region
        if region is not None and self.geo_hint is None:
            self._http.send(
                HttpRequest("GET", region, step="region", timeout=5.0),
                on_response=self._on_region,
                on_error=lambda error: log.debug("region failed: %s", error),
                authorize=False,
            )
        if self._config.fetch_meeting_preferences and self.preferred_site is None:
            self._http.send(
                catalog_protocol.meeting_preferences_request(self._hydra_url()),
                on_response=self._on_meeting_preferences,
                on_error=lambda error: log.debug("meetingPreferences failed: %s", error),
            )

    def _on_region(self, response: HttpResponse) -> None:
        try:
            self.geo_hint = response.json_object(step="region")
        except RemoteProtocolError as error:
            log.debug("ignoring region answer: %s", error)

    def _on_meeting_preferences(self, response: HttpResponse) -> None:
        try:
            body = response.json(step="meetingPreferences")
        except RemoteProtocolError as error:
            log.debug("ignoring meetingPreferences answer: %s", error)
            return
        self.preferred_site = catalog_protocol.parse_preferred_site(body)

    # -- the device ---------------------------------------------------------------------

    # -- failing a registration -------------------------------------------------------------

    def _fail_registration(self, error: WebexError) -> None:
        """Abandon the registration: stop Mercury, delete what it created, report ``error``."""
        registration = self._registration
        if registration is None or registration.failed:
            return
        registration.failed = True
        log.info("register() failed: %s", error)
        self._timers.cancel(self._reconnect_timer)
        self._reconnect_timer = None
        self._drop_socket()
        device = self._device
        if device is None:
            self._registration_failed(error)
            return
        self._forget_device()
        self._send_delete(device.url, on_done=lambda _error: self._registration_failed(error))

    def _registration_failed(self, error: WebexError) -> None:
        self._registration = None
        self._fire(Trigger.REGISTRATION_FAILED)
        self._finish_command(error)

    # -- Mercury ------------------------------------------------------------------------

    # -- unregister -----------------------------------------------------------------------

    def _start_unregister(self) -> None:
        state = self.state
        if state is State.UNINITIALIZED:
            self._finish_command(InvalidTransitionError("unregister", state.value))
            return
        if state in (State.READY, State.UNREGISTERED):
            log.debug("already unregistered")
            self._finish_command(None)
            return
        self._fire(Trigger.UNREGISTER)
        self._timers.cancel(self._reconnect_timer)
        self._reconnect_timer = None
        self._timers.cancel(self._device_refresh_timer)
        self._device_refresh_timer = None
        socket = self._socket
        if socket is not None and socket.opened:
            close = socket.protocol.close(UNREGISTER_CLOSE_CODE, UNREGISTER_CLOSE_REASON)
            self._run_mercury(socket, close)  # the Closed action continues in _delete_device
        else:
            self._drop_socket()
            self._delete_device()

    def _delete_device(self) -> None:
        device = self._device
        if device is None:
            self._unregistered(None)
            return

        def done(error: WebexError | None) -> None:
            if error is None:
                self._forget_device()
            self._unregistered(error)

        self._send_delete(device.url, on_done=done)

    def _unregistered(self, error: WebexError | None) -> None:
        if error is not None:
            self._fire(Trigger.UNREGISTRATION_FAILED)
        else:
            self._fire(Trigger.UNREGISTRATION_COMPLETED)
            self._emit(MeetingsUnregistered())
        self._finish_command(error)

    # -- HTTP and timers ----------------------------------------------------------------------

    def _on_http_response(self, event: HttpResponseReceived) -> None:
        self._http.received(event.request_id, event.response)

    def _on_http_failed(self, event: HttpRequestFailed) -> None:
        self._http.failed(event.request_id, event.error, kind=event.kind)

    def _on_timer(self, event: TimerFired) -> None:
        self._timers.fire(event.timer_id)

    # -- small helpers ----------------------------------------------------------------------


_HANDLERS: dict[type[Input], Callable[[MeetingsSession, Any], None]] = {
    Initialize: MeetingsSession._on_initialize,
    Register: MeetingsSession._on_register,
    Unregister: MeetingsSession._on_unregister,
    Shutdown: MeetingsSession._on_shutdown,
    HttpResponseReceived: MeetingsSession._on_http_response,
    HttpRequestFailed: MeetingsSession._on_http_failed,
    WebSocketOpened: MeetingsSession._on_socket_opened,
    WebSocketRejected: MeetingsSession._on_socket_rejected,
    WebSocketTextReceived: MeetingsSession._on_socket_text,
    WebSocketClosed: MeetingsSession._on_socket_closed,
    TimerFired: MeetingsSession._on_timer,
}
"""Which method handles each input type."""
