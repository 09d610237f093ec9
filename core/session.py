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

import enum
import itertools
import logging
import random
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import catalog as catalog_protocol
from . import device as device_protocol
from .config import BackoffConfig, SessionConfig
from .credentials import Credentials
from .device import DeviceRegistration
from .effects import (
    AbortWebSocket,
    CloseWebSocket,
    CompleteCommand,
    Effect,
    EmitEvent,
    OpenWebSocket,
    SendWebSocketText,
)
from .errors import (
    CancelledCommandError,
    DeviceLimitError,
    HandshakeRejectedError,
    InvalidTransitionError,
    MercuryClosedError,
    NotAuthorizedError,
    RemoteProtocolError,
    WebexError,
)
from .events import (
    ConnectionFailed,
    DeviceInfo,
    Event,
    MeetingsReady,
    MeetingsRegistered,
    MeetingsUnregistered,
    NetworkConnected,
    NetworkDisconnected,
    StateChanged,
)
from .http import HttpResponse
from .http_client import CREATE, IDEMPOTENT, HttpClient
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
from .mercury import (
    AbortSocket,
    ArmTimer,
    CloseAction,
    Closed,
    CloseSocket,
    Deliver,
    DisarmTimer,
    MercuryAction,
    MercuryProtocol,
    MercuryTimer,
    Online,
    SendText,
    attempts_exhausted,
    backoff_delay,
    mercury_url,
)
from .timers import Timers

__all__ = ["MeetingsSession"]

log = logging.getLogger("webex_meetings.core.session")

UNREGISTER_CLOSE_CODE = 3050
UNREGISTER_CLOSE_REASON = "meetings unregister"
_GIVE_UP_ACTIONS = frozenset({CloseAction.ABORT, CloseAction.REPLACED, CloseAction.PERMANENT})


class _Kind(enum.Enum):
    REGISTER = "register"
    UNREGISTER = "unregister"


@dataclass(slots=True)
class _Command:
    kind: _Kind
    waiters: list[int]


@dataclass(slots=True)
class _Registration:
    """Bookkeeping of one ``register()`` run."""

    waiting_for: set[str] = field(default_factory=set)
    created_device: bool = False
    pruned: bool = False
    failed: bool = False


@dataclass(slots=True)
class _Socket:
    """The Mercury websocket currently open or opening."""

    socket_id: int
    protocol: MercuryProtocol
    opened: bool = False
    timers: dict[MercuryTimer, int] = field(default_factory=dict)


class MeetingsSession:
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
        self._device: DeviceRegistration | None = None
        self._device_refresh_timer: int | None = None
        self._socket: _Socket | None = None
        self._connect_failures = 0
        self._reconnect_timer: int | None = None
        self._reconnect_after_close = False
        self._active: _Command | None = None
        self._queue: deque[_Command] = deque()
        self._registration: _Registration | None = None
        self._shut_down = False

    # -- public view ----------------------------------------------------------------------

    @property
    def state(self) -> State:
        """The lifecycle state."""
        return self._lifecycle.state

    @property
    def registered(self) -> bool:
        """True while the device is registered and Mercury online (or reconnecting)."""
        return self.state in (State.REGISTERED, State.RECONNECTING)

    @property
    def device(self) -> DeviceInfo | None:
        """The registered device, if one is held."""
        return None if self._device is None else self._device.info()

    @property
    def credentials(self) -> Credentials:
        """The current credentials (replaced after each refresh)."""
        return self._http.credentials

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
        self._enqueue(_Kind.REGISTER, event.command_id)

    def _on_unregister(self, event: Unregister) -> None:
        self._enqueue(_Kind.UNREGISTER, event.command_id)

    def _enqueue(self, kind: _Kind, command_id: int) -> None:
        if self._shut_down:
            self._complete([command_id], CancelledCommandError("the session is shut down"))
            return
        if self._active is not None and self._active.kind is kind and not self._queue:
            self._active.waiters.append(command_id)
        elif self._queue and self._queue[-1].kind is kind:
            self._queue[-1].waiters.append(command_id)
        else:
            self._queue.append(_Command(kind, [command_id]))
        self._next_command()

    def _next_command(self) -> None:
        """Start queued commands until one is in progress (or none is left)."""
        while self._active is None and self._queue:
            command = self._queue.popleft()
            self._active = command
            start = (
                self._start_register if command.kind is _Kind.REGISTER else self._start_unregister
            )
            start()

    def _finish_command(self, error: WebexError | None) -> None:
        command, self._active = self._active, None
        if command is not None:
            self._complete(command.waiters, error)
        self._next_command()

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
            self._registration = _Registration()
            if self._device is not None:  # reviving a disconnected device
                self._refresh_device(then=self._connect_first, on_error=self._fail_registration)
            elif self.credentials.can_authorize(self._now):
                self._fetch_prerequisites()
            else:
                self._http.refresh_token(self._after_register_refresh)

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
            on_response=received,
            on_error=self._fail_registration,
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
            on_response=received,
            on_error=self._fail_registration,
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
            on_response=received,
            on_error=failed,
            retry=IDEMPOTENT,
        )

    def _fetch_optional(self) -> None:
        """The geo hint, when a region URL is configured; failures are only logged."""
        region = self._config.discovery.region
        if region is None or self.geo_hint is not None:
            return

        def received(response: HttpResponse) -> None:
            try:
                self.geo_hint = response.json_object(step="region")
            except RemoteProtocolError as error:
                log.debug("ignoring region answer: %s", error)

        from .http import HttpRequest

        self._http.send(
            HttpRequest("GET", region, step="region", timeout=5.0),
            on_response=received,
            on_error=lambda error: log.debug("region failed: %s", error),
            authorize=False,
        )

    # -- the device ---------------------------------------------------------------------

    def _register_device(self) -> None:
        """Step 2: POST the device."""
        assert self._catalog is not None
        try:
            wdm = self._catalog.require("wdm", step="device.register")
        except RemoteProtocolError as error:
            self._fail_registration(error)
            return
        self._http.send(
            device_protocol.register_request(wdm, self._config.device),
            on_response=self._device_created,
            on_error=self._device_refused,
            retry=CREATE,
        )

    def _device_created(self, response: HttpResponse) -> None:
        registration = self._registration
        try:
            device = device_protocol.parse_registration(response)
        except RemoteProtocolError as error:
            self._delete_orphan(response)
            self._fail_registration(error)
            return
        if registration is None or registration.failed:
            # register() was abandoned while the POST was in flight: do not keep the device.
            self._send_delete(device.url, on_done=lambda _error: None)
            return
        registration.created_device = True
        self._hold_device(device)
        self._connect_first()

    def _delete_orphan(self, response: HttpResponse) -> None:
        """A device answer we cannot use may still have created a device: delete it."""
        try:
            url = response.json_object().get("url")
        except RemoteProtocolError:
            return
        if isinstance(url, str) and url.startswith(("http://", "https://")):
            self._send_delete(url, on_done=lambda _error: None)

    def _device_refused(self, error: WebexError) -> None:
        registration = self._registration
        if (
            isinstance(error, DeviceLimitError)
            and self._config.device.prune_on_device_limit
            and registration is not None
            and not registration.pruned
        ):
            registration.pruned = True
            self._prune_own_devices(error)
        else:
            self._fail_registration(error)

    def _prune_own_devices(self, limit_error: DeviceLimitError) -> None:
        """Delete our own oldest devices (same name and type), then POST once more."""
        assert self._catalog is not None
        wdm = self._catalog.require("wdm", step="device.list")

        def listed(response: HttpResponse) -> None:
            try:
                urls = device_protocol.devices_to_prune(response, self._config.device)
            except RemoteProtocolError as error:
                self._fail_registration(error)
                return
            if not urls:
                self._fail_registration(limit_error)
                return
            log.info("device limit reached: deleting %d of our own oldest devices", len(urls))
            remaining = set(urls)

            def deleted(url: str) -> Callable[[WebexError | None], None]:
                def done(_error: WebexError | None) -> None:
                    remaining.discard(url)
                    if not remaining:
                        self._register_device()

                return done

            for url in urls:
                self._send_delete(url, on_done=deleted(url))

        self._http.send(
            device_protocol.list_request(wdm),
            on_response=listed,
            on_error=self._fail_registration,
            retry=IDEMPOTENT,
        )

    def _hold_device(self, device: DeviceRegistration) -> None:
        self._device = device
        self._http.device_url = device.url
        self._arm_device_refresh()

    def _forget_device(self) -> None:
        self._device = None
        self._http.device_url = None
        self._timers.cancel(self._device_refresh_timer)
        self._device_refresh_timer = None

    def _arm_device_refresh(self) -> None:
        self._timers.cancel(self._device_refresh_timer)
        self._device_refresh_timer = None
        if self._config.device.ephemeral:
            self._device_refresh_timer = self._timers.start(
                self._config.device.refresh_interval, self._periodic_device_refresh
            )

    def _periodic_device_refresh(self) -> None:
        self._device_refresh_timer = None
        old_socket_url = None if self._device is None else self._device.web_socket_url

        def refreshed() -> None:
            new_url = None if self._device is None else self._device.web_socket_url
            if new_url != old_socket_url and self._socket is not None and self._socket.opened:
                # The device was re-created: move Mercury to its new URL.
                self._reconnect_after_close = True
                self._run_mercury(self._socket, self._socket.protocol.close(1000, "Done"))

        def failed(error: WebexError) -> None:
            log.warning("device refresh failed: %s", error)
            self._arm_device_refresh()

        self._refresh_device(then=refreshed, on_error=failed)

    def _refresh_device(
        self, *, then: Callable[[], None], on_error: Callable[[WebexError], None]
    ) -> None:
        """PUT the device; a 404 means it is gone, so POST a new one (the JS SDK's rule)."""
        device = self._device
        assert device is not None

        def received(response: HttpResponse) -> None:
            if response.status == 404:
                self._forget_device()
                self._recreate_device(then=then, on_error=on_error)
                return
            if response.status != 304:
                try:
                    self._hold_device(device_protocol.parse_registration(response, previous=device))
                except RemoteProtocolError as error:
                    on_error(error)
                    return
            else:
                self._arm_device_refresh()
            then()

        self._http.send(
            device_protocol.refresh_request(device, self._config.device),
            on_response=received,
            on_error=on_error,
            retry=IDEMPOTENT,
            accept=frozenset({304, 404}),
        )

    def _recreate_device(
        self, *, then: Callable[[], None], on_error: Callable[[WebexError], None]
    ) -> None:
        assert self._catalog is not None
        try:
            wdm = self._catalog.require("wdm", step="device.register")
        except RemoteProtocolError as error:
            on_error(error)
            return

        def created(response: HttpResponse) -> None:
            try:
                device = device_protocol.parse_registration(response)
            except RemoteProtocolError as error:
                self._delete_orphan(response)
                on_error(error)
                return
            if self._registration is not None:
                self._registration.created_device = True
            self._hold_device(device)
            then()

        self._http.send(
            device_protocol.register_request(wdm, self._config.device),
            on_response=created,
            on_error=on_error,
            retry=CREATE,
        )

    def _send_delete(self, url: str, *, on_done: Callable[[WebexError | None], None]) -> None:
        self._http.send(
            device_protocol.delete_request(url),
            on_response=lambda _response: on_done(None),
            on_error=on_done,
            retry=IDEMPOTENT,
            accept=frozenset({404, 410}),
        )

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

    def _connect_first(self) -> None:
        self._connect_failures = 0
        self._open_socket()

    def _open_socket(self) -> None:
        """Step 3: open the Mercury websocket for the held device."""
        self._reconnect_timer = None
        device = self._device
        assert device is not None
        now_ms = int(self._now * 1000)
        protocol = MercuryProtocol(
            self._config.mercury,
            authorization=self.credentials.authorization,
            tracking_id=f"{self.session_id}_{now_ms}",
            new_id=self._new_uuid,
        )
        socket = _Socket(next(self._ids), protocol)
        self._socket = socket
        url = mercury_url(
            device.web_socket_url, now_ms=now_ms, ephemeral=self._config.device.ephemeral
        )
        self._out.append(OpenWebSocket(socket.socket_id, url))

    def _current(self, socket_id: int) -> _Socket | None:
        socket = self._socket
        return socket if socket is not None and socket.socket_id == socket_id else None

    def _on_socket_opened(self, event: WebSocketOpened) -> None:
        socket = self._current(event.socket_id)
        if socket is not None and not socket.opened:
            socket.opened = True
            self._run_mercury(socket, socket.protocol.opened())

    def _on_socket_text(self, event: WebSocketTextReceived) -> None:
        socket = self._current(event.socket_id)
        if socket is not None and socket.opened:
            self._run_mercury(socket, socket.protocol.received(event.text, now=self._now))

    def _on_socket_closed(self, event: WebSocketClosed) -> None:
        socket = self._current(event.socket_id)
        if socket is not None:
            self._run_mercury(socket, socket.protocol.closed(event.code, event.reason))

    def _on_socket_rejected(self, event: WebSocketRejected) -> None:
        socket = self._current(event.socket_id)
        if socket is None:
            return
        self._release_socket(socket)
        error = HandshakeRejectedError(event.status, retry_after=event.retry_after)
        if event.status == 404:  # the device is gone: PUT finds out, re-POSTs, reconnect
            action = CloseAction.REFRESH_DEVICE_THEN_RECONNECT
        elif event.status == 401:
            action = CloseAction.REFRESH_TOKEN_THEN_RECONNECT
        elif event.status == 403:
            action = CloseAction.ABORT
        else:
            action = CloseAction.RECONNECT
        self._connection_attempt_failed(action, error, retry_after=event.retry_after)

    def _run_mercury(self, socket: _Socket, actions: list[MercuryAction]) -> None:
        for action in actions:
            handler = _MERCURY_ACTIONS.get(type(action))
            if handler is not None:
                handler(self, socket, action)
            else:
                log.debug("mercury: %r", action)

    def _mercury_send(self, socket: _Socket, action: SendText) -> None:
        self._out.append(SendWebSocketText(socket.socket_id, action.text))

    def _mercury_arm(self, socket: _Socket, action: ArmTimer) -> None:
        self._timers.cancel(socket.timers.pop(action.timer, None))
        timer = action.timer

        def fire() -> None:
            socket.timers.pop(timer, None)
            if self._socket is socket:
                self._run_mercury(socket, socket.protocol.timer_fired(timer, now=self._now))

        socket.timers[timer] = self._timers.start(action.delay, fire)

    def _mercury_disarm(self, socket: _Socket, action: DisarmTimer) -> None:
        self._timers.cancel(socket.timers.pop(action.timer, None))

    def _mercury_close(self, socket: _Socket, action: CloseSocket) -> None:
        self._out.append(CloseWebSocket(socket.socket_id, action.code, action.reason))

    def _mercury_abort(self, socket: _Socket, _: AbortSocket) -> None:
        self._out.append(AbortWebSocket(socket.socket_id))

    def _mercury_online(self, socket: _Socket, _: Online) -> None:
        self._connect_failures = 0
        if self.state is State.REGISTERING:
            self._registration = None
            self._fire(Trigger.REGISTRATION_SUCCEEDED)
            assert self._device is not None
            self._emit(MeetingsRegistered(self._device.info()))
            self._finish_command(None)
        elif self.state is State.RECONNECTING:
            self._fire(Trigger.RECONNECTED)
            self._emit(NetworkConnected())

    def _mercury_deliver(self, socket: _Socket, action: Deliver) -> None:
        if self.state in (State.REGISTERED, State.REGISTERING, State.RECONNECTING):
            self._emit(action.event)

    def _mercury_closed(self, socket: _Socket, closed: Closed) -> None:
        self._release_socket(socket)
        state = self.state
        log.debug("mercury closed: %d %r -> %s", closed.code, closed.reason, closed.action.name)
        action = closed.action
        if self._reconnect_after_close:
            self._reconnect_after_close = False
            action = CloseAction.RECONNECT
        if state is State.UNREGISTERING:
            self._delete_device()
            return
        error = MercuryClosedError(closed.code, closed.reason)
        if state is State.REGISTERED:
            will_reconnect = action not in _GIVE_UP_ACTIONS
            self._emit(NetworkDisconnected(closed.code, closed.reason, will_reconnect))
            if not will_reconnect:
                self._fire(Trigger.CONNECTION_ENDED)
                return
            self._fire(Trigger.CONNECTION_LOST)
            self._connect_failures = 0
            self._reconnect_later(backoff_delay(self._backoff(), 1, self._rng))  # immediate
            return
        self._connection_attempt_failed(action, error)

    def _release_socket(self, socket: _Socket) -> None:
        for timer_id in socket.timers.values():
            self._timers.cancel(timer_id)
        socket.timers.clear()
        if self._socket is socket:
            self._socket = None

    def _drop_socket(self) -> None:
        socket = self._socket
        if socket is not None:
            self._release_socket(socket)
            self._out.append(AbortWebSocket(socket.socket_id))

    def _backoff(self) -> BackoffConfig:
        mercury = self._config.mercury
        return (
            mercury.initial_backoff
            if self.state is State.REGISTERING
            else mercury.reconnect_backoff
        )

    def _connection_attempt_failed(
        self, action: CloseAction, error: WebexError, *, retry_after: float | None = None
    ) -> None:
        """Decide what follows a failed or lost connection: retry after a delay, or stop."""
        if self.state not in (State.REGISTERING, State.REGISTERED, State.RECONNECTING):
            return
        backoff = self._backoff()
        self._connect_failures += 1
        next_attempt = self._connect_failures + 1
        cannot_refresh = (
            action is CloseAction.REFRESH_TOKEN_THEN_RECONNECT and not self.credentials.can_refresh
        )
        exhausted = attempts_exhausted(backoff, self._connect_failures)
        if action in _GIVE_UP_ACTIONS or cannot_refresh or exhausted:
            self._emit(ConnectionFailed(self._connect_failures, str(error), None))
            self._connection_given_up(error)
            return
        delay = max(backoff_delay(backoff, next_attempt, self._rng), retry_after or 0.0)
        self._emit(ConnectionFailed(self._connect_failures, str(error), delay))
        if action is CloseAction.REFRESH_TOKEN_THEN_RECONNECT:
            self._http.refresh_token(lambda refresh_error: self._reconnect_later(delay))
        elif action is CloseAction.REFRESH_DEVICE_THEN_RECONNECT and self._device is not None:
            self._refresh_device(
                then=lambda: self._reconnect_later(delay),
                on_error=lambda refresh_error: self._reconnect_later(delay),
            )
        else:
            self._reconnect_later(delay)

    def _reconnect_later(self, delay: float) -> None:
        if self.state not in (State.REGISTERING, State.RECONNECTING) or self._device is None:
            return
        if self._registration is not None and self._registration.failed:
            return
        self._timers.cancel(self._reconnect_timer)
        if delay <= 0:
            self._open_socket()
        else:
            self._reconnect_timer = self._timers.start(delay, self._open_socket)

    def _connection_given_up(self, error: WebexError) -> None:
        if self.state is State.REGISTERING:
            self._fail_registration(error)
        elif self.state is State.RECONNECTING:
            self._fire(Trigger.CONNECTION_ENDED)

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
        self._http.failed(event.request_id, event.error, timed_out=event.timed_out)

    def _on_timer(self, event: TimerFired) -> None:
        self._timers.fire(event.timer_id)

    # -- small helpers ----------------------------------------------------------------------

    def _fire(self, trigger: Trigger) -> None:
        source, dest = self._lifecycle.fire(trigger)
        self._emit(StateChanged(source.value, dest.value, trigger.value))

    def _emit(self, event: Event) -> None:
        self._out.append(EmitEvent(event))

    def _new_uuid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))


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

_MERCURY_ACTIONS: dict[type[MercuryAction], Callable[[MeetingsSession, _Socket, Any], None]] = {
    SendText: MeetingsSession._mercury_send,
    ArmTimer: MeetingsSession._mercury_arm,
    DisarmTimer: MeetingsSession._mercury_disarm,
    CloseSocket: MeetingsSession._mercury_close,
    AbortSocket: MeetingsSession._mercury_abort,
    Online: MeetingsSession._mercury_online,
    Deliver: MeetingsSession._mercury_deliver,
    Closed: MeetingsSession._mercury_closed,
}
"""What each Mercury action turns into; the rest (pongs, violations) is only logged."""
