"""The meetings session: ``register()`` and ``unregister()`` as one sans-IO state machine.

Theory of operation
-------------------
:class:`MeetingsSession` is the JS SDK's ``webex.meetings`` plus the parts of ``webex``
underneath it (credentials, services, device, mercury), with every bit of I/O turned into
data. A driver calls :meth:`MeetingsSession.handle` with an input and the current time and
runs the effects it gets back; the session never blocks, sleeps, or reads a clock.

The session owns two protocol objects and talks to them through return values only: the
:class:`~.http_client.HttpClient` (requests in flight, retries, the token and its refresh)
and the :class:`~.mercury_link.MercuryLink` (the websocket across reconnects). Each request
is sent with a *purpose*, one of the small dataclasses of :mod:`.purposes` saying why it was
sent; its :class:`~.http_client.Reply` comes back with that purpose and goes to the
purpose's handler (:data:`_REPLY_HANDLERS`). The link answers with effects and notices
(online, lost, gave up, reconnect due, ...) that go to :data:`_NOTICE_HANDLERS`. The session
itself owns the lifecycle state, the command queue, the registration in progress
(:class:`~.purposes.Registration`) and the device it holds; nothing else writes them.

``register()`` runs, in order and as parallel as the protocol allows (read on from
:meth:`MeetingsSession._start_register`, the methods follow in this order):

1. the U2C post-auth catalog (``GET {u2c}/catalog?format=hostmap``; the pre-auth
   ``limited/catalog`` first only when configured) *in parallel with* ``GET {hydra}/people/me``
   (names the user; never fails the registration, a refused token included: WDM judges the
   token, as in the JS SDK; optional region and meeting-preference calls ride along too);
2. the WDM device: ``POST {wdm}/devices?includeUpstreamServices=all``. On "User has excessive
   device registrations" our own oldest devices are listed, deleted and the POST retried once;
3. Mercury: open ``webSocketUrl`` (with the JS SDK's query parameters), send the authorization
   frame, wait for ``mercury.buffer_state``; then ``meetings:registered``.

The *warm path* (:mod:`.warm_path`): a usable stored record replaces step 1 by the stored
catalog and, when it holds a device that may still exist, step 2 by that device, so only
step 3 runs; a stored device found gone or refused is deleted and the same ``register()``
goes on cold from step 2 (:meth:`MeetingsSession._warm_device_refused`). The session keeps
the record the next ``register()`` starts from and emits the
:class:`~.effects.UpdateDeviceStore` effects; :mod:`.warm_path` decides what of a loaded
record is used and what record is stored, from the parts the session passes it.

A failure at any step fails ``register()`` with a typed error naming the step, once every
device this registration created is deleted: a failed (or cancelled, :class:`~.inputs.Cancel`)
``register()`` leaves nothing behind. Its device POSTs carry a marker, so a device whose
answer was lost (a reset, a timeout, a gateway's 5xx) is found in the user's device list and
deleted; only then is the POST tried again (:meth:`MeetingsSession._device_post_failed`).
The whole of ``register()`` is bounded by ``SessionConfig.register_timeout``: when it passes,
the registration fails with a ``TimeoutError`` naming the step it was at.

``unregister()`` closes Mercury (code 3050, as the JS SDK does, so that nothing reconnects),
then ``DELETE``\\ s the device (404 counts as done), then ``meetings:unregistered``.

Commands are serialized in call order and coalesce (:mod:`.commands`). While
registered the session answers pings, acks every frame, refreshes an ephemeral device every
``ttl/2 + 60`` s (a device the server forgot is POSTed anew and Mercury moves to it),
refreshes an expiring token at 60-90 % of its life, and reconnects Mercury with backoff after
a transient close (``network:disconnected`` then ``network:connected``).
"""

from __future__ import annotations

import functools
import itertools
import logging
import random
from collections.abc import Callable
from typing import Any, Final

from . import catalog as catalog_protocol
from . import device as device_protocol
from . import purposes, warm_path
from .commands import CommandKind, CommandQueue, complete
from .config import SessionConfig
from .credentials import Credentials
from .device import DeviceRegistration
from .device_store import DeviceRecord
from .effects import Effect, EmitEvent, UpdateDeviceStore
from .errors import (
    CancelledCommandError,
    DeviceLimitError,
    HttpStatusError,
    InvalidTransitionError,
    NotAuthorizedError,
    RemoteProtocolError,
    ResponseTooLargeError,
    TimeoutError,
    TokenRefreshError,
    TransportError,
    WebexError,
)
from .events import (
    DeviceInfo,
    Event,
    MeetingsReady,
    MeetingsRegistered,
    MeetingsUnregistered,
    NetworkConnected,
    StateChanged,
)
from .http import HttpRequest, HttpResponse
from .http_client import CREATE, IDEMPOTENT, NO_RETRY, HttpClient, Reply, RetryPolicy
from .inputs import (
    Cancel,
    DeviceRecordLoaded,
    HttpRequestFailed,
    HttpResponseReceived,
    Initialize,
    Input,
    Register,
    Shutdown,
    TimerFired,
    TokenProvided,
    TokenProviderFailed,
    Unregister,
    WebSocketClosed,
    WebSocketOpened,
    WebSocketRejected,
    WebSocketTextReceived,
)
from .lifecycle import Lifecycle, State, Trigger, moves
from .mercury_link import (
    Connected,
    GaveUp,
    Lost,
    MercuryLink,
    ReconnectDue,
    RefreshDeviceFirst,
    RefreshTokenFirst,
    Stopped,
)
from .purposes import After, Registration
from .timers import TimerSet
from .uuids import random_uuid4

__all__ = ["MeetingsSession"]

log = logging.getLogger("webex_meetings.core.session")

UNREGISTER_CLOSE_CODE = 3050
UNREGISTER_CLOSE_REASON = "meetings unregister"

_DEVICE_REFRESH: Final = "device refresh"
"""The session's own timers: an ephemeral device's periodic refresh, and the next try of a
device POST whose answer was lost."""
_POST_AGAIN: Final = "device post again"
_DEADLINE: Final = "register deadline"

_SETTLED_AT_SHUTDOWN: Final = {
    State.REGISTERING: Trigger.REGISTRATION_FAILED,
    State.UNREGISTERING: Trigger.UNREGISTRATION_FAILED,
}
"""Where ``Shutdown`` leaves a session caught in the middle of a command."""

_GONE: Final = frozenset({404, 410})

_STATE_CHANGED: Final = {
    (source, trigger): EmitEvent(StateChanged(source.value, dest.value, trigger.value))
    for (source, trigger), dest in moves().items()
}
"""The ``state:changed`` effect of every allowed move, built once: events are immutable."""
_READY: Final = EmitEvent(MeetingsReady())
_NETWORK_CONNECTED: Final = EmitEvent(NetworkConnected())
_UNREGISTERED: Final = EmitEvent(MeetingsUnregistered())


class MeetingsSession:
    """The sans-IO meetings session. See the module docstring for the protocol it runs.

    Not thread-safe: feed it from one task or thread at a time.
    """

    __slots__ = (
        "__weakref__",
        "_catalog",
        "_catalog_fetched_at",
        "_check_records",
        "_commands",
        "_config",
        "_device",
        "_device_refreshed_at",
        "_http",
        "_keeping",
        "_lifecycle",
        "_link",
        "_now",
        "_offered",
        "_out",
        "_recreation_waiters",
        "_registration",
        "_rng",
        "_shut_down",
        "_timers",
        "geo_hint",
        "person",
        "preferred_site",
        "session_id",
    )

    def __init__(
        self,
        config: SessionConfig,
        credentials: Credentials,
        *,
        rng: random.Random | None = None,
        records_stay_in_process: bool = False,
    ) -> None:
        """``records_stay_in_process``: the records of this session's
        :class:`~.effects.UpdateDeviceStore` effects go only to a store in this process
        that nothing else reads (a face's own ``MemoryDeviceStore``), so they are not
        checked for secrets (:func:`~.device_store.holds_no_secret`): the session holds
        everything in them already. Leave it false for any store an application can read.
        """
        self._config = config
        self._check_records = not records_stay_in_process
        self._rng = rng = rng if rng is not None else random.Random()
        self._now = 0.0
        self._out: list[Effect] = []
        new_id = itertools.count(1).__next__
        # No part holds a method of the session (no reference cycle): refcounting alone
        # frees a session that is dropped.
        new_uuid = functools.partial(random_uuid4, rng)
        self.session_id = session_id = f"{config.tracking_id_prefix}_{new_uuid()}"
        self._http = HttpClient(config, credentials, session_id=session_id, new_id=new_id, rng=rng)
        self._link = MercuryLink(
            config, session_id=session_id, new_id=new_id, new_uuid=new_uuid, rng=rng
        )
        self._timers: TimerSet[str] = TimerSet(new_id)
        self._lifecycle = Lifecycle()
        self._catalog: catalog_protocol.ServiceCatalog | None = None
        self.person: catalog_protocol.Person | None = None
        self.geo_hint: dict[str, Any] | None = None
        self.preferred_site: str | None = None
        self._device: DeviceRegistration | None = None
        self._device_refreshed_at = 0.0
        self._catalog_fetched_at = 0.0
        self._offered: DeviceRecord | None = None
        self._keeping: set[int] = set()
        self._recreation_waiters: list[purposes.RefreshDevice] = []
        self._commands = CommandQueue()
        self._registration: Registration | None = None
        self._shut_down = False

    # -- public view ----------------------------------------------------------------------

    @property
    def state(self) -> State:
        """The lifecycle state."""
        return self._lifecycle.state

    @property
    def credentials(self) -> Credentials:
        """The current credentials (replaced after each refresh)."""
        return self._http.credentials

    @property
    def registered(self) -> bool:
        """True while the device is registered and Mercury online (or reconnecting)."""
        return self.state.registered

    @property
    def device(self) -> DeviceInfo | None:
        """The registered device, if one is held."""
        return None if self._device is None else self._device.info

    @property
    def devices_to_delete(self) -> tuple[str, ...]:
        """URLs of devices this session created and still means to delete, the DELETE not
        yet confirmed: those a failed or cancelled registration is cleaning up, and the held
        device while unregistering. What a driver names when it stops waiting."""
        run = self._registration
        urls = [] if run is None else sorted(run.deleting | run.orphans)
        if self._device is not None and self.state is State.UNREGISTERING:
            urls.append(self._device.url)
        return tuple(urls)

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
            _INPUT_HANDLERS[type(event)](self, event)
            # The next queued command starts only once this input is fully handled, so that
            # it never runs in the middle of another step (an unregister's close frame
            # between a registration's own last actions, say). Failures decided on the spot
            # (a refused destination) run first, and may finish the command in progress.
            # Both lists are empty for almost every input: two attribute reads decide it.
            if self._http.deferred or self._commands.queued:
                self._run_deferred()
                while self._next_command():
                    if self._http.deferred:
                        self._run_deferred()
        except BaseException:
            self._out.clear()
            raise
        out, self._out = self._out, []
        return out

    def _take(self, output: list[Any]) -> None:
        """Run what a part returned, in order: effects go out, notices and replies are
        handled here."""
        out = self._out  # handlers append to the same list
        for item in output:
            if isinstance(item, Effect):
                out.append(item)
            elif type(item) is Reply:  # _on_reply, inlined: most notices are replies
                purpose = item.purpose
                _REPLY_HANDLERS[type(purpose)](self, purpose, item)
            else:
                _NOTICE_HANDLERS[type(item)](self, item)

    def _run_deferred(self) -> None:
        http = self._http
        while http.deferred:
            self._take(http.take_deferred())

    def _fire(self, trigger: Trigger) -> None:
        source, _ = self._lifecycle.fire(trigger)
        self._out.append(_STATE_CHANGED[source, trigger])

    def _emit(self, event: Event) -> None:
        self._out.append(EmitEvent(event))

    def _new_uuid(self) -> str:
        return random_uuid4(self._rng)

    def _new_marker(self) -> str | None:
        """A marker for a device POST (see ``DeviceConfig.mark_registrations``)."""
        return self._new_uuid() if self._config.device.mark_registrations else None

    # -- commands -------------------------------------------------------------------------

    def _on_initialize(self, _: Initialize) -> None:
        if self._lifecycle.state is not State.UNINITIALIZED:
            raise InvalidTransitionError(Trigger.INITIALIZE.value, self._lifecycle.state.value)
        self._fire(Trigger.INITIALIZE)
        self._take(self._http.schedule_refresh(self._now))
        self._out.append(_READY)

    def _on_register(self, event: Register) -> None:
        self._enqueue(CommandKind.REGISTER, event.command_id)

    def _on_unregister(self, event: Unregister) -> None:
        if event.keep_device:
            self._keeping.add(event.command_id)
        self._enqueue(CommandKind.UNREGISTER, event.command_id)

    def _on_record_loaded(self, event: DeviceRecordLoaded) -> None:
        self._offered = event.record

    def _enqueue(self, kind: CommandKind, command_id: int) -> None:
        if self._shut_down:
            error = CancelledCommandError("the session is shut down")
            self._out += complete([command_id], error)
        else:
            self._commands.add(kind, command_id)

    def _next_command(self) -> bool:
        """Start queued commands until one is in progress (or none is left). True when one
        was started."""
        started = False
        while (command := self._commands.start_next()) is not None:
            if command.kind is CommandKind.REGISTER:
                self._start_register()
            else:
                self._start_unregister()
            started = True
        return started

    def _finish_command(self, error: WebexError | None) -> None:
        if self._keeping and self._commands.active is not None:
            self._keeping.difference_update(self._commands.active.waiters)
        self._out += self._commands.finish(error)

    def _on_cancel(self, event: Cancel) -> None:
        outcome = self._commands.cancel(event.command_id, CommandKind.REGISTER)
        if outcome is True:
            self._fail_registration(CancelledCommandError("register() was cancelled"))
        elif outcome:
            self._out += outcome

    def _on_shutdown(self, _: Shutdown) -> None:
        self._out += self._commands.cancel_all(CancelledCommandError("the session was shut down"))
        self._take(self._http.forget_all())
        self._take(self._timers.cancel_all())
        self._take(self._link.drop())
        self._shut_down = True
        settle = _SETTLED_AT_SHUTDOWN.get(self._lifecycle.state)
        if settle is not None:  # what was in progress will never finish
            if self._registration is not None and settle is Trigger.REGISTRATION_FAILED:
                self._forget_device()
                self._registration = None
            self._fire(settle)

    # -- register, step 1: catalog and people/me ----------------------------------------------

    def _start_register(self) -> None:
        state, offered, self._offered = self._lifecycle.state, self._offered, None
        if state is State.UNINITIALIZED:
            self._finish_command(InvalidTransitionError("register", state.value))
        elif state.registered:
            log.debug("already registered")
            self._finish_command(None)
        elif not self._can_authorize():
            self._finish_command(NotAuthorizedError("SDK cannot authorize", step="register"))
        else:
            self._fire(Trigger.REGISTER)
            run = self._registration = Registration(marker=self._new_marker())
            self._out += self._timers.start(_DEADLINE, self._config.register_timeout)
            if self._device is not None:  # reviving a disconnected device
                run.step = "device.refresh"
                self._refresh_device(After.REVIVE, run=run)
                return
            run.offered = offered
            if self.credentials.can_authorize(self._now):
                self._proceed(run)
            else:
                run.step = "credentials.refresh"
                self._take(
                    self._http.refresh_token(purposes.TokenBeforeRegister(run), now=self._now)
                )

    def _deadline_passed(self) -> None:
        run = self._registration
        if run is None or not self._is_current(run):
            return
        step = self._link.waiting_for if run.step == "mercury" else run.step
        timeout = self._config.register_timeout
        self._fail_registration(
            TimeoutError(f"register() took longer than {timeout:g} s", step=step)
        )

    def _can_authorize(self) -> bool:
        credentials = self.credentials
        return credentials.can_authorize(self._now) or credentials.can_refresh

    def _is_current(self, run: Registration | None) -> bool:
        """True while ``run`` is the registration in progress and has not failed."""
        return run is not None and run is self._registration and run.failure is None

    def _on_token_before_register(
        self, purpose: purposes.TokenBeforeRegister, reply: Reply
    ) -> None:
        if not self._is_current(purpose.run):
            return
        if reply.error is not None:
            self._fail_registration(reply.error)
        else:
            self._proceed(purpose.run)

    def _proceed(self, run: Registration) -> None:
        """A usable token is in hand: take the loaded record (only now, so that a
        registration failing for want of a token leaves the store as it was), then go warm
        or cold."""
        if run.offered is not None and not run.applied:
            run.applied = True
            self._use_record(run.offered, run)
        if run.warm:
            self._connect_warm(run)
        else:
            self._fetch_prerequisites(run)

    # -- register, the warm path: a stored catalog and device ------------------------------------

    def _use_record(self, record: DeviceRecord, run: Registration) -> None:
        """Take what a loaded record offers: its catalog (unless one is held) and its device
        (then ``run`` goes warm). A record the checks refuse is forgotten."""
        usable = warm_path.usable(record, self._config, now=self._now)
        if usable is None:
            self._store(None)
            return
        if self._catalog is None:
            self._use_catalog(usable.catalog, usable.catalog_fetched_at)
        stored = usable.device
        if stored is not None:
            self._hold_device(stored.registration(), refreshed_at=stored.refreshed_at)
            run.warm = True

    def _connect_warm(self, run: Registration) -> None:
        """Only the upgrade and the authorization frame; people/me and the optional calls
        run alongside, never waited for."""
        if self._config.fetch_people_me and self.person is None:
            run.asked_person = True
            request = catalog_protocol.people_me_request(self._hydra_url())
            self._send(request, purposes.PersonAside(), retry=IDEMPOTENT)
        self._fetch_optional()
        self._connect_mercury()

    def _in_warm_attempt(self) -> Registration | None:
        run = self._registration
        return run if run is not None and run.warm and self._is_current(run) else None

    def _warm_device_refused(self, run: Registration, why: str) -> None:
        """The stored device is gone or refused: forget it and register cold, in the same
        ``register()`` (the catalog is kept). It is deleted alongside, never waited for, even
        when the upgrade answered 404 or 410 (Mercury's word, not WDM's; a DELETE answered
        404 or 410 is done): no device is left behind."""
        log.info("the stored device cannot be used (%s): registering a new one", why)
        run.warm = False
        self._take(self._link.drop())
        if self._device is not None:
            self._send_delete(self._device.url, purposes.CleanUp(self._device.url, None))
        self._forget_device()
        self._update_store()
        self._fetch_prerequisites(run)

    def _on_person_aside(self, _: purposes.PersonAside, reply: Reply) -> None:
        self._take_person(reply)

    def _store(self, record: DeviceRecord | None) -> None:
        """Emit the store update, and remember ``record`` as the one the next
        ``register()`` starts from (none while registered: it needs none), so a
        ``register()`` queued behind this never uses a record loaded before it."""
        self._offered = None if self._lifecycle.state.registered else record
        self._out.append(UpdateDeviceStore(record))

    def _update_store(self, *, with_device: bool = False) -> None:
        """Tell the store what a later process should find: the catalog, and the device
        when ``with_device`` (see :func:`.warm_path.record_of`)."""
        record = warm_path.record_of(
            self._catalog,
            self._catalog_fetched_at,
            self._device if with_device else None,
            refreshed_at=self._device_refreshed_at,
            config=self._config,
            credentials=self._http.credentials if self._check_records else None,
        )
        self._store(record)

    # -- register, step 1 cold: fetching the catalog and people/me ----------------------------

    def _fetch_prerequisites(self, run: Registration) -> None:
        """Catalog and people/me in parallel; optional calls ride along."""
        run.step = "catalog"
        if self._catalog is None:
            run.waiting_for.add("catalog")
            if self._config.fetch_limited_catalog and self.credentials.org_id:
                self._fetch_limited_catalog(run)
            else:
                self._fetch_catalog(self._config.discovery.u2c, purposes.Catalog(run, None))
        if self._config.fetch_people_me and self.person is None and not run.asked_person:
            run.waiting_for.add("people/me")
            request = catalog_protocol.people_me_request(self._hydra_url())
            self._send(request, purposes.Person(run), retry=IDEMPOTENT)
        self._fetch_optional()
        if not run.waiting_for:
            self._register_device()

    def _prerequisite_done(self, run: Registration, name: str) -> None:
        if not self._is_current(run):
            return
        run.waiting_for.discard(name)
        if run.waiting_for:
            run.step = min(run.waiting_for)  # "catalog" before "people/me"
        else:
            self._register_device()

    def _fetch_limited_catalog(self, run: Registration) -> None:
        org_id = self.credentials.org_id
        assert org_id is not None
        request = catalog_protocol.limited_catalog_request(
            self._config.discovery.u2c, org_id=org_id
        )
        self._send(request, purposes.LimitedCatalog(run), authorize=False, retry=IDEMPOTENT)

    def _on_limited_catalog(self, purpose: purposes.LimitedCatalog, reply: Reply) -> None:
        limited = self._parse_catalog(purpose.run, reply, step="catalog.limited")
        if limited is not None:
            u2c = limited.url("u2c") or self._config.discovery.u2c
            self._fetch_catalog(u2c, purposes.Catalog(purpose.run, limited))

    def _fetch_catalog(self, u2c_url: str, purpose: purposes.Catalog) -> None:
        self._send(catalog_protocol.catalog_request(u2c_url), purpose, retry=IDEMPOTENT)

    def _on_catalog(self, purpose: purposes.Catalog, reply: Reply) -> None:
        catalog = self._parse_catalog(purpose.run, reply, step="catalog")
        if catalog is None:
            return
        merged = catalog if purpose.limited is None else purpose.limited.merged(catalog)
        self._use_catalog(merged, self._now)
        self._prerequisite_done(purpose.run, "catalog")

    def _use_catalog(self, catalog: catalog_protocol.ServiceCatalog, fetched_at: float) -> None:
        self._catalog = catalog
        self._catalog_fetched_at = fetched_at
        idbroker = catalog.url("idbroker")
        token_url = f"{idbroker.rstrip('/')}/idb/oauth2/v1/access_token" if idbroker else None
        # the hydra of the JS SDK's services.get('hydra', true)
        self._http.use_catalog(token_url=token_url, hydra_url=self._hydra_url())

    def _parse_catalog(
        self, run: Registration, reply: Reply, *, step: str
    ) -> catalog_protocol.ServiceCatalog | None:
        """The catalog in ``reply``; ``None`` when the run is over or just failed."""
        if not self._is_current(run):
            return None
        try:
            if reply.error is not None:
                raise reply.error
            assert reply.response is not None
            return catalog_protocol.parse_catalog(reply.response.body, step=step)
        except WebexError as error:
            self._fail_registration(error)
            return None

    def _hydra_url(self) -> str:
        if self._catalog is not None:
            hydra = self._catalog.url("hydra")
            if hydra:
                return hydra
        return self._config.discovery.hydra

    def _on_person(self, purpose: purposes.Person, reply: Reply) -> None:
        if self._is_current(purpose.run):
            self._take_person(reply)
            self._prerequisite_done(purpose.run, "people/me")

    def _take_person(self, reply: Reply) -> None:
        try:
            if reply.error is not None:
                raise reply.error
            assert reply.response is not None
            self.person = catalog_protocol.parse_person(reply.response.json(step="people/me"))
        except WebexError as error:
            # Never fatal, a 401 or 403 included: the official SDK ignores people/me failures
            # (tokens without the people scope exist) and lets WDM judge the token.
            log.warning("people/me failed, continuing without it: %s", error)

    def _fetch_optional(self) -> None:
        """The geo hint and the preferred Webex site, when configured. They never fail a
        registration: a failure is only logged."""
        region = self._config.discovery.region
        if region is not None and self.geo_hint is None:
            request = HttpRequest("GET", region, step="region", timeout=5.0)
            self._send(request, purposes.REGION, authorize=False)
        if self._config.fetch_meeting_preferences and self.preferred_site is None:
            request = catalog_protocol.meeting_preferences_request(self._hydra_url())
            self._send(request, purposes.MEETING_PREFERENCES)

    def _on_region(self, _: purposes.Region, reply: Reply) -> None:
        try:
            if reply.error is not None:
                raise reply.error
            assert reply.response is not None
            self.geo_hint = reply.response.json_object(step="region")
        except WebexError as error:
            log.debug("region failed: %s", error)

    def _on_meeting_preferences(self, _: purposes.MeetingPreferences, reply: Reply) -> None:
        try:
            if reply.error is not None:
                raise reply.error
            assert reply.response is not None
            body = reply.response.json(step="meetingPreferences")
        except WebexError as error:
            log.debug("meetingPreferences failed: %s", error)
            return
        self.preferred_site = catalog_protocol.parse_preferred_site(body)

    # -- register, step 2: the device ---------------------------------------------------------

    def _register_device(self) -> None:
        """POST the device (one try: a retry first makes sure the last try created nothing)."""
        run = self._registration
        assert self._catalog is not None
        assert run is not None
        try:
            wdm = self._catalog.require("wdm", step="device.register")
        except RemoteProtocolError as error:
            self._fail_registration(error)
            return
        run.step = "device.register"
        run.attempt += 1
        run.posting = True
        request = device_protocol.register_request(wdm, self._config.device, marker=run.marker)
        self._send(request, purposes.PostDevice(run))

    def _on_device_posted(self, purpose: purposes.PostDevice, reply: Reply) -> None:
        run = purpose.run
        run.posting = False
        if not self._is_current(run):
            # The register() that asked failed or was cancelled while the POST was in flight:
            # whatever the POST created is deleted before that register() completes.
            self._note_created(run, reply)
            self._clean_up(run)
        elif reply.error is not None:
            self._device_post_failed(run, reply.error)
        else:
            assert reply.response is not None
            try:
                device = device_protocol.parse_registration(reply.response)
            except RemoteProtocolError as error:
                self._note_created(run, reply)
                self._fail_registration(error)
                return
            self._hold_device(device)
            self._connect_mercury()

    def _device_post_failed(self, run: Registration, error: WebexError) -> None:
        """A POST answered with an error, or not at all. When the answer may have been lost
        after the server created the device, find that device and delete it before trying
        again (or failing): a retried POST never leaves a second device behind."""
        if not _outcome_unknown(error):
            self._device_refused(run, error)
        elif _post_retryable(error) and run.attempt < CREATE.max_attempts and run.marker:
            run.retry = error
            self._sweep(run)
        else:
            run.unsure = True
            self._fail_registration(error)

    def _post_again_later(self, run: Registration, error: WebexError) -> None:
        """The device list shows no device left by the lost POST: POST again after the
        retry delay (``Retry-After`` honoured, capped)."""
        retry_after = getattr(error, "retry_after", None)
        delay = CREATE.delay(run.attempt, retry_after)
        log.info("device POST failed (%s); trying again in %.1f s", error, delay)
        self._out += self._timers.start(_POST_AGAIN, delay)

    def _note_created(self, run: Registration, reply: Reply) -> None:
        """What a POST answer (or its absence) says about a device left to delete."""
        url = None if reply.response is None else _created_url(reply.response)
        if url is not None:
            run.orphans.add(url)
        elif reply.response is not None or _outcome_unknown(reply.error):
            run.unsure = True

    def _device_refused(self, run: Registration, error: WebexError) -> None:
        if (
            isinstance(error, DeviceLimitError)
            and self._config.device.prune_on_device_limit
            and not run.pruned
        ):
            run.pruned = True
            self._list_own_devices(run, error)
        else:
            self._fail_registration(error)

    def _list_own_devices(self, run: Registration, limit_error: DeviceLimitError) -> None:
        """Delete our own oldest devices (same name and type), then POST once more."""
        assert self._catalog is not None
        wdm = self._catalog.require("wdm", step="device.list")
        run.step = "device.list"
        purpose = purposes.ListForPruning(run, limit_error)
        self._send(device_protocol.list_request(wdm), purpose, retry=IDEMPOTENT)

    def _on_devices_listed(self, purpose: purposes.ListForPruning, reply: Reply) -> None:
        run = purpose.run
        if not self._is_current(run):
            return
        try:
            if reply.error is not None:
                raise reply.error
            assert reply.response is not None
            urls = device_protocol.devices_to_prune(reply.response, self._config.device)
        except WebexError as error:
            self._fail_registration(error)
            return
        if not urls:
            self._fail_registration(purpose.limit_error)
            return
        log.info("device limit reached: deleting %d of our own oldest devices", len(urls))
        run.pruning.update(urls)
        for url in urls:
            self._send_delete(url, purposes.DeletePruned(run, url))

    def _on_pruned(self, purpose: purposes.DeletePruned, _: Reply) -> None:
        run = purpose.run
        run.pruning.discard(purpose.url)
        if not run.pruning and self._is_current(run):
            run.attempt = 0  # a new POST, with its own tries
            self._register_device()

    def _hold_device(
        self, device: DeviceRegistration, *, refreshed_at: float | None = None
    ) -> None:
        """Hold ``device``, refreshed by WDM at ``refreshed_at`` (now, unless it is a stored
        one); once registered, the store learns of it."""
        self._device = device
        self._device_refreshed_at = self._now if refreshed_at is None else refreshed_at
        self._http.use_device(device.url)
        due = self._device_refreshed_at + self._config.device.refresh_interval
        self._arm_device_refresh(max(0.0, due - self._now))
        if self._lifecycle.state.registered:
            self._update_store(with_device=True)

    def _forget_device(self) -> None:
        self._device = None
        self._http.use_device(None)
        self._out += self._timers.cancel(_DEVICE_REFRESH)

    def _holds(self, device: DeviceRegistration) -> bool:
        """True while ``device`` (or a refreshed copy of it: same URL) is the one held."""
        return self._device is not None and self._device.url == device.url

    # -- register, step 3: Mercury ------------------------------------------------------------

    def _connect_mercury(self) -> None:
        device = self._device
        assert device is not None
        if self._registration is not None:
            self._registration.step = "mercury"
        self._take(self._link.connect(device.web_socket_url, self.credentials, now=self._now))

    def _on_connected(self, _: Connected) -> None:
        if self._lifecycle.state is State.REGISTERING:
            self._registration = None
            self._out += self._timers.cancel(_DEADLINE)
            self._fire(Trigger.REGISTRATION_SUCCEEDED)
            assert self._device is not None
            self._emit(MeetingsRegistered(self._device.info))
            self._finish_command(None)  # first: the store update is off the critical path
            self._update_store(with_device=True)
        elif self._lifecycle.state is State.RECONNECTING:
            self._fire(Trigger.RECONNECTED)
            self._out.append(_NETWORK_CONNECTED)

    def _on_gave_up(self, notice: GaveUp) -> None:
        warm = self._in_warm_attempt()
        if warm is not None:
            self._warm_device_refused(warm, f"Mercury: {notice.error}")
        elif self._lifecycle.state is State.REGISTERING:
            self._fail_registration(notice.error)
        elif self._lifecycle.state is State.RECONNECTING:
            self._fire(Trigger.CONNECTION_ENDED)

    # -- failing a registration -------------------------------------------------------------

    def _fail_registration(self, error: WebexError) -> None:
        """Abandon the registration: stop Mercury, delete what it created (also a device a
        POST in flight or a lost answer may have created), then report ``error``."""
        run = self._registration
        if run is None or run.failed:
            return
        run.failure = error
        log.info("register() failed: %s", error)
        self._take(self._link.drop())
        self._out += self._timers.cancel(_POST_AGAIN)
        self._out += self._timers.cancel(_DEADLINE)
        if self._device is not None:
            if not run.warm:  # a stored device never connected stays, stored, for the next
                run.orphans.add(self._device.url)
            self._forget_device()
        self._clean_up(run)

    def _registration_failed(self, run: Registration, error: WebexError) -> None:
        self._registration = None
        if run.warm or (run.offered is not None and not run.applied):
            self._offered = run.offered  # the store is as it was: offered again next time
        else:
            self._update_store()
        self._fire(Trigger.REGISTRATION_FAILED)
        self._finish_command(error)

    # -- cleaning up what a registration created ----------------------------------------------

    def _sweep(self, run: Registration) -> None:
        """Look for a device the last POST may have created (its answer was lost)."""
        run.unsure = True
        self._clean_up(run)

    def _clean_up(self, run: Registration) -> None:
        """Delete what ``run`` created and does not keep; :meth:`_after_clean_up` goes on
        once nothing is left in flight."""
        for url in run.orphans - run.deleting:
            run.deleting.add(url)
            run.cleaning += 1
            self._send_delete(url, purposes.CleanUp(url, run))
        run.orphans.clear()
        if run.unsure and not run.posting and run.marker is not None:
            run.unsure = False
            run.cleaning += 1
            self._list_devices(purposes.Sweep(run.marker, run))
        self._after_clean_up(run)

    def _list_devices(self, purpose: purposes.Sweep) -> None:
        assert self._catalog is not None
        wdm = self._catalog.require("wdm", step="device.list")
        self._send(device_protocol.list_request(wdm), purpose, retry=IDEMPOTENT)

    def _on_swept(self, purpose: purposes.Sweep, reply: Reply) -> None:
        run = purpose.run
        try:
            if reply.error is not None:
                raise reply.error
            assert reply.response is not None
            urls = device_protocol.marked_devices(reply.response, purpose.marker)
        except WebexError as error:
            log.warning(
                "could not look for a device a lost device POST may have created (%s); "
                "if there is one, it lapses on the server after its ttl",
                error,
            )
            urls = []
            if run is not None and run.retry is not None:  # never POST again blindly
                self._fail_registration(run.retry)
        for url in urls:
            if self._device is not None and self._device.url == url:
                continue  # the device held: never an orphan
            log.info("deleting device %s, created by a POST whose answer was lost", url)
            if run is None:
                self._send_delete(url, purposes.CleanUp(url, None))
            else:
                run.orphans.add(url)
        if run is not None:
            run.cleaning -= 1
            self._clean_up(run)

    def _on_cleaned_up(self, purpose: purposes.CleanUp, reply: Reply) -> None:
        if reply.error is not None:
            log.warning("could not delete device %s: %s", purpose.url, reply.error)
        run = purpose.run
        if run is not None:
            run.deleting.discard(purpose.url)
            run.cleaning -= 1
            self._after_clean_up(run)

    def _after_clean_up(self, run: Registration) -> None:
        if run.cleaning or run.posting:
            return
        if run.failure is not None:
            if not run.finished:
                run.finished = True
                self._registration_failed(run, run.failure)
        elif run.retry is not None and self._is_current(run):
            error, run.retry = run.retry, None
            self._post_again_later(run, error)

    def _delete_orphan(self, marker: str | None, response: HttpResponse | None) -> None:
        """A device answer we cannot use (or a lost one) may have created a device that no
        registration waits for: delete it, by its URL or by its POST's marker."""
        url = None if response is None else _created_url(response)
        if url is not None:
            self._send_delete(url, purposes.CleanUp(url, None))
        elif marker is not None:
            self._list_devices(purposes.Sweep(marker, None))

    # -- while registered: reconnecting ---------------------------------------------------

    def _on_lost(self, notice: Lost) -> None:
        self._fire(Trigger.CONNECTION_LOST if notice.will_reconnect else Trigger.CONNECTION_ENDED)

    def _wants_mercury(self) -> bool:
        """True while a (re)connection attempt is wanted."""
        return (
            self._lifecycle.state.connecting
            and self._device is not None
            and not (self._registration is not None and self._registration.failed)
        )

    def _on_reconnect_due(self, _: ReconnectDue) -> None:
        device = self._device
        if self._wants_mercury() and device is not None:
            self._take(self._link.open(device.web_socket_url, self.credentials, now=self._now))

    def _reconnect_later(self, delay: float) -> None:
        if self._wants_mercury():
            self._take(self._link.reconnect_in(delay))

    def _on_refresh_token_first(self, notice: RefreshTokenFirst) -> None:
        self._take(
            self._http.refresh_token(purposes.TokenBeforeReconnect(notice.delay), now=self._now)
        )

    def _on_token_before_reconnect(
        self, purpose: purposes.TokenBeforeReconnect, reply: Reply
    ) -> None:
        self._reconnect_unless_token_dead(purpose.delay, reply.error)

    def _reconnect_unless_token_dead(self, delay: float, error: WebexError | None) -> None:
        """Reconnect after ``delay``, unless ``error`` says no token will ever come again:
        then the connection ends for good, as after a permanent Mercury close (a reconnect
        with a dead token would loop forever). A transient failure keeps the backoff."""
        if error is not None and _token_is_dead(error) and self._wants_mercury():
            log.warning("reconnecting stopped: %s", error)
            self._take(self._link.give_up(error))
        else:
            self._reconnect_later(delay)

    def _on_refresh_device_first(self, notice: RefreshDeviceFirst) -> None:
        warm = self._in_warm_attempt()
        if warm is not None:
            self._warm_device_refused(warm, "Mercury does not know it")
        elif self._device is not None:
            self._refresh_device(After.RECONNECT, delay=notice.delay)
        else:
            self._reconnect_later(notice.delay)

    # -- while registered: keeping the device alive ------------------------------------------

    def _arm_device_refresh(self, delay: float | None = None) -> None:
        """Refresh an ephemeral device after ``delay`` (by default the refresh interval)."""
        if self._config.device.ephemeral:
            interval = self._config.device.refresh_interval
            self._out += self._timers.start(_DEVICE_REFRESH, interval if delay is None else delay)
        else:
            self._out += self._timers.cancel(_DEVICE_REFRESH)

    def _refresh_device(
        self, after: After, *, run: Registration | None = None, delay: float = 0.0
    ) -> None:
        """PUT the device; a 404 means it is gone, so POST a new one (the JS SDK's rule).

        The old device stays held until its replacement exists, so a failed re-creation
        leaves the session with a device to retry with (and to delete). Answers that come
        after the device was forgotten or is being unregistered are dropped; after it was
        replaced, what waited for a fresh device goes on with the replacement.
        """
        device = self._device
        assert device is not None
        purpose = purposes.RefreshDevice(device, after, run, delay, device.web_socket_url)
        self._send(
            device_protocol.refresh_request(device, self._config.device),
            purpose,
            retry=IDEMPOTENT,
            accept=frozenset({304, 404}),
        )

    def _on_device_refreshed(self, purpose: purposes.RefreshDevice, reply: Reply) -> None:
        device = purpose.device
        if not self._lifecycle.state.keeps_device:
            return
        if not self._holds(device):
            # Replaced meanwhile (another refresh found it gone and re-created it): the
            # answer is stale, but what waited for a fresh device goes on with the new one.
            if self._device is not None and purpose.after is not After.PERIODIC:
                self._after_device_refresh(purpose, None)
            return
        response = reply.response
        if response is None:
            assert reply.error is not None
            self._after_device_refresh(purpose, reply.error)
            return
        if response.status == 404:
            if self._lifecycle.state.wants_device:
                self._recreate_device(purpose)
            return  # disconnected: unregister() will find it gone, which is fine
        if response.status == 304:
            self._device_refreshed_at = self._now
            self._arm_device_refresh()
            if self._lifecycle.state.registered:
                self._update_store(with_device=True)
        else:
            try:
                refreshed = device_protocol.parse_registration(response, previous=device)
            except RemoteProtocolError as error:
                self._after_device_refresh(purpose, error)
                return
            self._hold_device(refreshed)
        self._after_device_refresh(purpose, None)

    def _recreate_device(self, waiting: purposes.RefreshDevice) -> None:
        """POST a device to replace the one the server forgot. One POST at a time: a second
        refresh finding it gone (a periodic refresh racing a reconnect) waits for the same."""
        self._recreation_waiters.append(waiting)
        if len(self._recreation_waiters) > 1:
            return
        assert self._catalog is not None
        try:
            wdm = self._catalog.require("wdm", step="device.register")
        except RemoteProtocolError as error:
            self._recreation_done(error)
            return
        run = self._registration if self._is_current(self._registration) else None
        marker = self._new_marker() if run is None else run.marker
        if run is not None:
            run.posting = True
        request = device_protocol.register_request(wdm, self._config.device, marker=marker)
        self._send(request, purposes.RecreateDevice(waiting.device, marker, run))

    def _on_device_recreated(self, purpose: purposes.RecreateDevice, reply: Reply) -> None:
        run = purpose.run
        if run is not None:
            run.posting = False
            if run.failed:  # the registration it was for is over: clean up after it
                self._recreation_waiters.clear()
                self._note_created(run, reply)
                self._clean_up(run)
                return
        wanted = self._holds(purpose.replacing) and self._lifecycle.state.wants_device
        response, error = reply.response, reply.error
        if response is None and _outcome_unknown(error):  # the answer may be all that was lost
            if run is not None:
                self._sweep(run)  # a registration waiting for it waits for this too
            else:
                self._delete_orphan(purpose.marker, None)
        if not wanted:  # unregistered (or replaced) meanwhile: keep nothing
            if response is not None:
                self._delete_orphan(purpose.marker, response)
            self._recreation_waiters.clear()
            return
        if response is None:
            assert error is not None
            self._recreation_done(error)
            return
        try:
            device = device_protocol.parse_registration(response)
        except RemoteProtocolError as parse_error:
            self._delete_orphan(purpose.marker, response)
            self._recreation_done(parse_error)
            return
        self._hold_device(device)
        self._recreation_done(None)

    def _recreation_done(self, error: WebexError | None) -> None:
        waiting, self._recreation_waiters = self._recreation_waiters, []
        for purpose in waiting:
            self._after_device_refresh(purpose, error)

    def _after_device_refresh(
        self, purpose: purposes.RefreshDevice, error: WebexError | None
    ) -> None:
        _AFTER_DEVICE_REFRESH[purpose.after](self, purpose, error)

    def _revive_refreshed(self, purpose: purposes.RefreshDevice, error: WebexError | None) -> None:
        if not self._is_current(purpose.run):
            return
        if error is not None:
            self._fail_registration(error)
        else:
            self._connect_mercury()

    def _periodic_refreshed(
        self, purpose: purposes.RefreshDevice, error: WebexError | None
    ) -> None:
        if error is not None:
            log.warning("device refresh failed: %s", error)
            self._arm_device_refresh()
            return
        new_url = None if self._device is None else self._device.web_socket_url
        if new_url != purpose.old_socket_url:  # the device was re-created: move Mercury
            self._take(self._link.move())

    def _reconnect_refreshed(
        self, purpose: purposes.RefreshDevice, error: WebexError | None
    ) -> None:
        self._reconnect_unless_token_dead(purpose.delay, error)

    # -- unregister -----------------------------------------------------------------------

    def _start_unregister(self) -> None:
        state = self._lifecycle.state
        if state is State.UNINITIALIZED:
            self._finish_command(InvalidTransitionError("unregister", state.value))
            return
        if state.at_rest:
            log.debug("already unregistered")
            self._finish_command(None)
            return
        self._fire(Trigger.UNREGISTER)
        self._out += self._timers.cancel(_DEVICE_REFRESH)
        self._take(self._link.stop(UNREGISTER_CLOSE_CODE, UNREGISTER_CLOSE_REASON))

    def _on_stopped(self, _: Stopped) -> None:
        """Mercury is closed for ``unregister()``: delete the device."""
        if self._lifecycle.state is not State.UNREGISTERING:
            return
        device = self._device
        if device is None:
            self._unregistered(None)
        elif self._keeps_device():
            self._update_store(with_device=True)
            self._forget_device()
            self._unregistered(None)
        else:
            self._send_delete(device.url, purposes.DELETE_FOR_UNREGISTER)

    def _keeps_device(self) -> bool:
        """True when every caller of the unregister in progress asked to keep the device."""
        if not self._keeping:  # the usual case: nobody asked
            return False
        active = self._commands.active
        waiters = [] if active is None else active.waiters
        kept = bool(waiters) and all(waiter in self._keeping for waiter in waiters)
        self._keeping.difference_update(waiters)
        return kept

    def _on_deleted_for_unregister(self, _: purposes.DeleteForUnregister, reply: Reply) -> None:
        if reply.error is None:
            self._forget_device()
            self._update_store()
        self._unregistered(reply.error)

    def _unregistered(self, error: WebexError | None) -> None:
        if error is not None:
            self._fire(Trigger.UNREGISTRATION_FAILED)
        else:
            self._fire(Trigger.UNREGISTRATION_COMPLETED)
            self._out.append(_UNREGISTERED)
        self._finish_command(error)

    # -- requests, timers and what the world did ---------------------------------------------

    def _send(
        self,
        request: HttpRequest,
        purpose: object,
        *,
        authorize: bool = True,
        retry: RetryPolicy = NO_RETRY,
        accept: frozenset[int] = frozenset(),
    ) -> None:
        self._take(
            self._http.send(
                request, purpose, now=self._now, authorize=authorize, retry=retry, accept=accept
            )
        )

    def _send_delete(self, url: str, purpose: object) -> None:
        """DELETE a device: a clean-up (pruned, orphaned, or unregistered), the one kind of
        request worth a token whose renewal was refused for good."""
        request = device_protocol.delete_request(url)
        output = self._http.send(
            request, purpose, now=self._now, retry=IDEMPOTENT, accept=_GONE, worth_a_dead_token=True
        )
        self._take(output)

    def _on_reply(self, reply: Reply) -> None:
        _REPLY_HANDLERS[type(reply.purpose)](self, reply.purpose, reply)

    def _on_http_response(self, event: HttpResponseReceived) -> None:
        self._take(self._http.received(event.request_id, event.response, now=self._now))

    def _on_http_failed(self, event: HttpRequestFailed) -> None:
        self._take(self._http.failed(event.request_id, event.error, kind=event.kind))

    def _on_timer(self, event: TimerFired) -> None:
        timer_id = event.timer_id
        key = self._timers.fired(timer_id)
        if key == _DEVICE_REFRESH:
            self._refresh_device(After.PERIODIC)
            return
        if key == _POST_AGAIN:
            if self._is_current(self._registration):
                self._register_device()
            return
        if key == _DEADLINE:
            self._deadline_passed()
            return
        output: list[Any] | None = self._link.timer_fired(timer_id, now=self._now)
        if output is None:
            output = self._http.timer_fired(timer_id, now=self._now)
        if output is not None:
            self._take(output)

    def _on_token_provided(self, event: TokenProvided) -> None:
        output = self._http.token_provided(
            event.request_id, event.token, event.expires_in, now=self._now
        )
        self._take(output)

    def _on_token_provider_failed(self, event: TokenProviderFailed) -> None:
        output = self._http.token_provider_failed(
            event.request_id, event.error, exception=event.exception
        )
        self._take(output)

    def _on_socket_opened(self, event: WebSocketOpened) -> None:
        self._take(self._link.opened(event.socket_id))

    def _on_socket_text(self, event: WebSocketTextReceived) -> None:
        self._take(self._link.received(event.socket_id, event.text, now=self._now))

    def _on_socket_closed(self, event: WebSocketClosed) -> None:
        self._take(self._link.closed(event.socket_id, event.code, event.reason))

    def _on_socket_rejected(self, event: WebSocketRejected) -> None:
        warm = self._in_warm_attempt()
        if (
            warm is not None
            and event.status in warm_path.STORED_DEVICE_REFUSED
            and event.socket_id == self._link.socket_id
        ):
            why = f"the websocket upgrade was answered {event.status}"
            self._warm_device_refused(warm, why)
            return
        self._take(self._link.rejected(event.socket_id, event.status, event.retry_after))


_INPUT_HANDLERS: Final[dict[type[Input], Callable[[MeetingsSession, Any], None]]] = {
    Initialize: MeetingsSession._on_initialize,
    Register: MeetingsSession._on_register,
    DeviceRecordLoaded: MeetingsSession._on_record_loaded,
    Cancel: MeetingsSession._on_cancel,
    Unregister: MeetingsSession._on_unregister,
    Shutdown: MeetingsSession._on_shutdown,
    HttpResponseReceived: MeetingsSession._on_http_response,
    HttpRequestFailed: MeetingsSession._on_http_failed,
    WebSocketOpened: MeetingsSession._on_socket_opened,
    WebSocketRejected: MeetingsSession._on_socket_rejected,
    WebSocketTextReceived: MeetingsSession._on_socket_text,
    WebSocketClosed: MeetingsSession._on_socket_closed,
    TimerFired: MeetingsSession._on_timer,
    TokenProvided: MeetingsSession._on_token_provided,
    TokenProviderFailed: MeetingsSession._on_token_provider_failed,
}
"""Which method handles each input type."""

_NOTICE_HANDLERS: Final[dict[type, Callable[[MeetingsSession, Any], None]]] = {
    Reply: MeetingsSession._on_reply,
    Connected: MeetingsSession._on_connected,
    Lost: MeetingsSession._on_lost,
    GaveUp: MeetingsSession._on_gave_up,
    ReconnectDue: MeetingsSession._on_reconnect_due,
    RefreshTokenFirst: MeetingsSession._on_refresh_token_first,
    RefreshDeviceFirst: MeetingsSession._on_refresh_device_first,
    Stopped: MeetingsSession._on_stopped,
}
"""Which method handles each notice of the HTTP client and the Mercury link."""

_REPLY_HANDLERS: Final[dict[type, Callable[[MeetingsSession, Any, Reply], None]]] = {
    purposes.TokenBeforeRegister: MeetingsSession._on_token_before_register,
    purposes.LimitedCatalog: MeetingsSession._on_limited_catalog,
    purposes.Catalog: MeetingsSession._on_catalog,
    purposes.Person: MeetingsSession._on_person,
    purposes.PersonAside: MeetingsSession._on_person_aside,
    purposes.Region: MeetingsSession._on_region,
    purposes.MeetingPreferences: MeetingsSession._on_meeting_preferences,
    purposes.PostDevice: MeetingsSession._on_device_posted,
    purposes.ListForPruning: MeetingsSession._on_devices_listed,
    purposes.DeletePruned: MeetingsSession._on_pruned,
    purposes.Sweep: MeetingsSession._on_swept,
    purposes.CleanUp: MeetingsSession._on_cleaned_up,
    purposes.DeleteForUnregister: MeetingsSession._on_deleted_for_unregister,
    purposes.RefreshDevice: MeetingsSession._on_device_refreshed,
    purposes.RecreateDevice: MeetingsSession._on_device_recreated,
    purposes.TokenBeforeReconnect: MeetingsSession._on_token_before_reconnect,
}
"""Which method handles the reply to each purpose of a request."""

_AFTER_DEVICE_REFRESH: Final[
    dict[After, Callable[[MeetingsSession, purposes.RefreshDevice, WebexError | None], None]]
] = {
    After.REVIVE: MeetingsSession._revive_refreshed,
    After.PERIODIC: MeetingsSession._periodic_refreshed,
    After.RECONNECT: MeetingsSession._reconnect_refreshed,
}
"""What follows a device refresh, by why it was refreshed."""


def _outcome_unknown(error: WebexError | None) -> bool:
    """True when a failed POST may still have created its device on the server: its answer
    was lost (connection dropped, timed out, cut as too large) or came from a gateway or a
    rate limiter in front of the service (429, 5xx)."""
    if isinstance(error, HttpStatusError):
        return error.status == 429 or error.status >= 500
    return isinstance(error, (TimeoutError, ResponseTooLargeError)) or type(error) is TransportError


def _token_is_dead(error: WebexError) -> bool:
    """True when ``error`` says no token will come again: a permanent renewal failure, or a
    request refused for want of one (see :mod:`.http_client`)."""
    if isinstance(error, TokenRefreshError):
        return error.permanent
    return isinstance(error, NotAuthorizedError)


def _post_retryable(error: WebexError) -> bool:
    """True when trying the POST again may succeed (a lost connection, a busy server)."""
    if isinstance(error, HttpStatusError):
        return error.status in CREATE.statuses
    return isinstance(error, TimeoutError) or type(error) is TransportError


def _created_url(response: HttpResponse) -> str | None:
    """The ``url`` of the device a POST answer describes, if it has a usable one."""
    try:
        url = response.json_object().get("url")
    except RemoteProtocolError:
        return None
    return url if isinstance(url, str) and url.startswith(("http://", "https://")) else None
