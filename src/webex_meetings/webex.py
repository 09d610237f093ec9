"""The async face: ``Webex`` and ``webex.meetings``, as the JavaScript SDK has them.

::

    async with Webex.init(credentials={"access_token": token}) as webex:
        webex.meetings.on("meetings:registered", lambda event: print(event.device.url))
        await webex.meetings.register()
        async for event in webex.meetings.events(MercuryEvent):
            ...
        await webex.meetings.unregister()

``async with`` owns every background task (requests, Mercury, pings, refresh timers,
reconnects): entering it initializes the session (``meetings:ready``); leaving it unregisters
a held device (within ``unregister_timeout`` seconds), shuts the session down and waits for
everything to stop. It works on asyncio and on trio (``runtime="anyio"``, the default), or on
trio's own primitives and websocket stack (``runtime="trio"``). Readiness is observable
whenever one looks: ``meetings.ready`` is true inside the block, and a ``meetings:ready``
callback added inside it is called at once.

Sync-coloured methods (``on``, ``off``, ``events``, the properties) never block; async ones are
checkpoints. All decisions are the core's (:mod:`webex_meetings.core.session`); this module
only assembles it with a driver (:mod:`webex_meetings.adapters.driver`) and transports.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any, TypeVar, overload

from .adapters.driver import Driver, Session
from .adapters.listeners import (
    DEFAULT_STREAM_SIZE,
    AsyncEventStream,
    EventKey,
    EventMethods,
    Listeners,
    MercuryEventKey,
)
from .adapters.runtime import Runtime, TransportOptions
from .adapters.token_provider import TokenProvider
from .core.config import SessionConfig
from .core.credentials import Credentials
from .core.device_store import device_store_key
from .core.errors import ConfigurationError, LocalProtocolError
from .core.events import DeviceInfo, Event, MeetingsReady, MercuryEvent
from .core.inputs import DeviceRecordLoaded, Initialize
from .core.lifecycle import State
from .core.session import MeetingsSession
from .options import (
    DEFAULT_UNREGISTER_TIMEOUT,
    TOKEN_ENVIRONMENT_VARIABLE,
    AsyncWebexOptions,
    CredentialsInit,
    RuntimeName,
    WebexOptions,
    check_options,
    resolve_config,
    resolve_credentials,
    resolve_runtime,
    with_credentials,
)
from .stores import DeviceStore, MemoryDeviceStore, StoreBinding
from .transports.base import HttpTransport, WebSocketConnector

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "TOKEN_ENVIRONMENT_VARIABLE",
    "AsyncWebexOptions",
    "Meetings",
    "Webex",
    "WebexOptions",
]

E = TypeVar("E", bound=Event)


class Webex:
    """One Webex SDK instance: credentials, configuration and ``meetings``.

    Build it with :meth:`init` (the JS SDK's shape) or with keywords, then use it as
    ``async with webex:``. Nothing runs and nothing is sent before that. The keywords are
    :class:`AsyncWebexOptions` (``credentials``, ``access_token``, ``jwt``,
    ``token_provider``, ``config``, ``cloud``, ``http``, ``websockets``, ``proxy``,
    ``verify``, ``unregister_timeout``, ``runtime``), each documented there.

    :raises ConfigurationError: no usable credentials, or an invalid option value.
    :raises TypeError: an unknown keyword.
    """

    def __init__(self, **options: Unpack[AsyncWebexOptions]) -> None:
        check_options(options, AsyncWebexOptions)
        session_config = resolve_config(options.get("config"), options.get("cloud"))
        creds = resolve_credentials(
            options.get("credentials"),
            options.get("access_token"),
            now=time.time(),
            jwt=options.get("jwt"),
            token_provider=options.get("token_provider"),
        )
        transport = TransportOptions(
            options.get("proxy"), options.get("verify", True), session_config.http_timeout
        )
        store = _store_binding(options, session_config, creds)
        self._setup(
            # The default store is this instance's memory: its records never leave the process.
            MeetingsSession(
                session_config, creds, records_stay_in_process=options.get("store") is None
            ),
            resolve_runtime(options.get("runtime", "anyio")),
            http=options.get("http"),
            websockets=options.get("websockets"),
            options=transport,
            unregister_timeout=options.get("unregister_timeout", DEFAULT_UNREGISTER_TIMEOUT),
            token_provider=options.get("token_provider"),
            store=store,
        )

    @classmethod
    def init(
        cls, credentials: CredentialsInit | None = None, /, **options: Unpack[AsyncWebexOptions]
    ) -> Webex:
        """``Webex.init(credentials={"access_token": ...}, config=...)``, as in the JS SDK;
        the keywords are those of :class:`Webex` (:class:`AsyncWebexOptions`).

        :raises ConfigurationError: as for :class:`Webex`, or credentials given twice.
        :raises TypeError: an unknown keyword.
        """
        return cls(**with_credentials(credentials, options))

    @classmethod
    def from_session(
        cls,
        session: Session,
        *,
        http: HttpTransport,
        websockets: WebSocketConnector,
        runtime: RuntimeName = "anyio",
        unregister_timeout: float = DEFAULT_UNREGISTER_TIMEOUT,
        token_provider: TokenProvider | None = None,
        store: DeviceStore | None = None,
        store_key: str | None = None,
    ) -> Webex:
        """A Webex driving an already-built session (a configured
        :class:`~webex_meetings.core.session.MeetingsSession`, or a scripted stand-in in
        tests) over the given transports. A session built with
        ``Credentials.from_provider()`` needs its ``token_provider`` here. The device store
        is ``store`` under ``store_key`` (the session's user: required with a store), else
        the default, this instance's memory: ``unregister(keep_device=True)`` always leaves a
        record for the next ``register()``.

        :raises ConfigurationError: unknown runtime, or ``store`` without ``store_key``.
        """
        if store is not None and not store_key:
            raise ConfigurationError("from_session(store=...) needs store_key= (whose device)")
        webex = cls.__new__(cls)
        webex._setup(
            session,
            resolve_runtime(runtime),
            http=http,
            websockets=websockets,
            options=TransportOptions(),
            unregister_timeout=unregister_timeout,
            token_provider=token_provider,
            store=StoreBinding(
                MemoryDeviceStore() if store is None else store, store_key or "this-instance"
            ),
        )
        return webex

    def _setup(
        self,
        session: Session,
        runtime: Runtime,
        *,
        http: HttpTransport | None,
        websockets: WebSocketConnector | None,
        options: TransportOptions,
        unregister_timeout: float,
        token_provider: TokenProvider | None = None,
        store: StoreBinding | None = None,
    ) -> None:
        self._session = session
        self._runtime = runtime
        self._http = http
        self._websockets = websockets
        self._options = options
        self._unregister_timeout = unregister_timeout
        self._token_provider = token_provider
        self._listeners = Listeners()
        self._store = store
        self._driver: Driver | None = None
        self._exit_stack: AsyncExitStack | None = None
        self._entered = False
        self.meetings = Meetings(self)
        """The meetings plugin: ``register()``, ``unregister()``, ``on()``, ``events()``."""

    def __repr__(self) -> str:
        return f"<Webex runtime={self._runtime.name} state={self._session.state.value}>"

    # -- lifetime -------------------------------------------------------------------------

    async def __aenter__(self) -> Webex:
        """Start the background work and initialize (emits ``meetings:ready``).

        :raises ConfigurationError: the runtime cannot run here (``"trio"`` outside trio).
        :raises LocalProtocolError: this instance was already used in an ``async with``.
        :raises NotAuthorizedError: the credentials cannot authorize.
        """
        self._runtime.check_current()
        if self._entered:
            raise LocalProtocolError("a Webex instance runs in one `async with` block only")
        self._entered = True
        async with AsyncExitStack() as stack:
            # Running before Initialize: a meetings:ready callback may call register().
            self._driver = await stack.enter_async_context(self._new_driver())
            try:
                await self._driver.submit_input(Initialize()).wait()
            except BaseException:
                self._driver = None
                raise
            self._exit_stack = stack.pop_all()
        return self

    def _new_driver(self) -> Driver:
        http, websockets = self._http, self._websockets
        owned_http = http is None
        if http is None or websockets is None:
            default_http, default_websockets = self._runtime.default_transports(self._options)
            http = http or default_http
            websockets = websockets or default_websockets
        return Driver(
            self._session,
            self._runtime,
            http=http,
            websockets=websockets,
            listeners=self._listeners,
            unregister_timeout=self._unregister_timeout,
            close_http=owned_http,
            token_provider=self._token_provider,
            update_store=None if self._store is None else self._store.update,
        )

    async def __aexit__(self, *exc_info: object) -> None:
        """Unregister a held device, shut down, wait until every task has ended (even when
        the block is left by cancellation: the unregister is shielded and bounded)."""
        stack, self._exit_stack = self._exit_stack, None
        try:
            if stack is not None:
                await stack.aclose()
        finally:
            self._driver = None
            if self._store is not None:
                self._store.flush()  # bounded: FLUSH_TIMEOUT

    def subscribe(self, key: EventKey, callback: Callable[[Any], object], *, once: bool) -> None:
        """Add ``callback`` for ``key``; a late subscriber to a latched event
        (``meetings:ready`` while ready) is called at once, here (on the event loop).

        :raises UnknownEventError: ``key`` names no event.
        """
        latched = self._listeners.on(key, callback, once=once)
        if latched is not None:
            self.hand_over(callback, latched)

    def hand_over(self, callback: Callable[[Any], object], event: Event) -> None:
        """Call ``callback(event)`` now, as a delivery would, if the latched ``event`` still
        holds (the instance runs and has not begun to close). Call on the event loop."""
        driver = self._driver
        if driver is not None and self._listeners.latched(type(event)) is not None:
            Listeners.call(callback, event, driver.spawn)

    @property
    def unregister_timeout(self) -> float:
        """Seconds the unregister on leaving (or a cancelled ``register()``'s rollback) may
        take."""
        return self._unregister_timeout

    @property
    def listeners(self) -> Listeners:
        """The callbacks and event streams of this instance (shared with the blocking face)."""
        return self._listeners

    def running_driver(self) -> Driver:
        """The driver, while inside ``async with``.

        :raises LocalProtocolError: not inside ``async with webex:``.
        """
        if self._driver is None:
            raise LocalProtocolError("the Webex instance is not running: use `async with webex:`")
        return self._driver


class Meetings(EventMethods):
    """``webex.meetings``: registration, lifecycle state and events (``on``, ``once`` and
    ``off`` from :class:`~webex_meetings.adapters.listeners.EventMethods`)."""

    def __init__(self, webex: Webex) -> None:
        self._webex = webex

    @property
    def ready(self) -> bool:
        """True from ``meetings:ready`` (entering ``async with``) until the session ends:
        ``register()`` may be called."""
        return self._webex.listeners.latched(MeetingsReady) is not None

    @property
    def registered(self) -> bool:
        """True while the device is registered and Mercury is online (or reconnecting)."""
        return bool(self._webex._session.registered)

    @property
    def state(self) -> State:
        """The lifecycle state (:class:`~webex_meetings.core.lifecycle.State`)."""
        state: State = self._webex._session.state
        return state

    @property
    def device(self) -> DeviceInfo | None:
        """The registered device, while one is held."""
        device: DeviceInfo | None = self._webex._session.device
        return device

    async def register(self, *, rollback_on_cancel: bool = True) -> None:
        """Register the device and bring Mercury online; emits ``meetings:registered``.

        Concurrent calls make one registration. If this call is cancelled, the registration is
        rolled back (unregistered right after) unless ``rollback_on_cancel`` is false, in
        which case it completes in the background.

        :raises LocalProtocolError: not inside ``async with webex:``.
        :raises WebexError: a step failed (``error.step`` names it); nothing is left behind.
        """
        driver = self._webex.running_driver()
        store = self._webex._store
        if store is not None and not self.registered:
            record = store.load()
            if record is not None:
                driver.feed(DeviceRecordLoaded(record))
        await driver.register(rollback_on_cancel=rollback_on_cancel)

    async def unregister(self, *, keep_device: bool = False) -> None:
        """Close Mercury and delete the device; emits ``meetings:unregistered``. A cancelled
        call still completes in the background.

        ``keep_device=True`` leaves the device registered in WDM and in the device store
        (``store=``), so that the next ``register()`` (of a later process, with a
        :class:`~webex_meetings.stores.FileDeviceStore`) only reconnects Mercury: the warm
        path. An ephemeral device lapses unless reused within its ``ttl``.

        :raises LocalProtocolError: not inside ``async with webex:``.
        :raises WebexError: the delete failed (the device is still held; call again).
        """
        await self._webex.running_driver().unregister(keep_device=keep_device)

    def _subscribe(self, key: EventKey, callback: Callable[[Any], object], *, once: bool) -> None:
        self._webex.subscribe(key, callback, once=once)

    def _unsubscribe(self, key: EventKey, callback: Callable[[Any], object] | None) -> None:
        self._webex.listeners.off(key, callback)

    @overload
    def events(self, key: type[E], /, *, maxsize: int = ...) -> AsyncEventStream[E]: ...
    @overload
    def events(
        self, key: MercuryEventKey, /, *, maxsize: int = ...
    ) -> AsyncEventStream[MercuryEvent]: ...
    @overload
    def events(self, *keys: EventKey, maxsize: int = ...) -> AsyncEventStream[Event]: ...
    def events(self, *keys: EventKey, maxsize: int = DEFAULT_STREAM_SIZE) -> AsyncEventStream[Any]:
        """An async iterator over the events matching ``keys`` (every event when none),
        from now until the session ends: ``async for event in meetings.events(MercuryEvent)``.
        A stream asking for ``meetings:ready`` by name or class while ready starts with it.

        It buffers up to ``maxsize`` events; when full, the oldest is dropped (counted in
        ``stream.dropped``). Use ``async with`` on it, or ``aclose()``, to stop early.

        :raises UnknownEventError: a key names no event.
        """
        listeners = self._webex.listeners
        stream: AsyncEventStream[Any] = AsyncEventStream(
            keys, maxsize, self._webex._runtime.event, listeners.unsubscribe
        )
        listeners.subscribe(stream)
        return stream


def _store_binding(
    options: WebexOptions, config: SessionConfig, credentials: Credentials
) -> StoreBinding:
    """The device store this instance uses and its key in it. The default store is this
    instance's own memory, where any key will do when the user cannot be told yet (tokens
    that only a token provider brings); an app's own store needs ``store_key=`` then.

    :raises ConfigurationError: ``store=`` with a token provider and no ``store_key=``.
    """
    store = options.get("store")
    try:
        key = device_store_key(config, credentials, name=options.get("store_key"))
    except ValueError:
        if store is not None:
            raise ConfigurationError(
                "store= with a token provider needs store_key= (which user's device to keep)"
            ) from None
        key = f"{config.discovery.u2c} this-instance"
    return StoreBinding(MemoryDeviceStore() if store is None else store, key)
