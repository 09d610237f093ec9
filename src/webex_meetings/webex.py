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
trio's own primitives and websocket stack (``runtime="trio"``).

Sync-coloured methods (``on``, ``off``, ``events``, the properties) never block; async ones are
checkpoints. All decisions are the core's (:mod:`webex_meetings.core.session`); this module
only assembles it with a driver (:mod:`webex_meetings.adapters.driver`) and transports.
"""

from __future__ import annotations

import os
import ssl
import time
from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack
from typing import Any, Final, TypeVar, overload

from .adapters.anyio_runtime import ANYIO
from .adapters.driver import Driver, Session
from .adapters.listeners import DEFAULT_STREAM_SIZE, AsyncEventStream, EventKey, Listeners
from .adapters.runtime import Runtime, TransportOptions
from .adapters.trio_runtime import TRIO
from .core.config import SessionConfig
from .core.credentials import Credentials
from .core.errors import ConfigurationError, LocalProtocolError
from .core.events import DeviceInfo, Event
from .core.inputs import Initialize
from .core.lifecycle import State
from .core.session import MeetingsSession
from .transports.base import HttpTransport, WebSocketConnector

__all__ = ["TOKEN_ENVIRONMENT_VARIABLE", "Meetings", "Webex"]

TOKEN_ENVIRONMENT_VARIABLE: Final = "WEBEX_ACCESS_TOKEN"
"""Where the access token is read from when no credentials are given."""

E = TypeVar("E", bound=Event)
CredentialsInit = str | Mapping[str, Any] | Credentials
"""A token string, a token object (``{"access_token": ...}``) or :class:`Credentials`."""

_RUNTIMES: Final[dict[str, Runtime]] = {"anyio": ANYIO, "trio": TRIO}


def resolve_credentials(
    credentials: CredentialsInit | None, access_token: str | None, *, now: float
) -> Credentials:
    """The credentials from ``credentials``, ``access_token`` or ``$WEBEX_ACCESS_TOKEN``.

    :raises ConfigurationError: none given, both given, or unusable.
    """
    if credentials is not None and access_token is not None:
        raise ConfigurationError("pass credentials or access_token, not both")
    if isinstance(credentials, Credentials):
        return credentials
    found: str | Mapping[str, Any] | None = credentials if credentials is not None else access_token
    if found is None:
        found = os.environ.get(TOKEN_ENVIRONMENT_VARIABLE) or None
    if found is None:
        raise ConfigurationError(
            "no credentials: pass credentials= or access_token=, "
            f"or set {TOKEN_ENVIRONMENT_VARIABLE}"
        )
    return Credentials.from_init(found, now=now)


def resolve_config(config: SessionConfig | None, cloud: str | None) -> SessionConfig:
    """``config``, or the config for an emulator or other cloud at ``cloud``, or the default.

    :raises ConfigurationError: both given, or ``cloud`` is not an http(s) URL.
    """
    if config is not None and cloud is not None:
        raise ConfigurationError("pass config or cloud, not both")
    if cloud is not None:
        return SessionConfig.for_cloud(cloud)
    if config is not None and not isinstance(config, SessionConfig):
        raise ConfigurationError("config must be a SessionConfig")
    return config if config is not None else SessionConfig()


def resolve_runtime(name: str) -> Runtime:
    """The runtime called ``name`` (``"anyio"`` or ``"trio"``).

    :raises ConfigurationError: no such runtime.
    """
    try:
        return _RUNTIMES[name]
    except KeyError:
        raise ConfigurationError(
            f"unknown runtime {name!r}: use one of {sorted(_RUNTIMES)}"
        ) from None


class Webex:
    """One Webex SDK instance: credentials, configuration and ``meetings``.

    Build it with :meth:`init` (the JS SDK's shape) or with keywords, then use it as
    ``async with webex:``. Nothing runs and nothing is sent before that.

    :param credentials: a token string, a token object ``{"access_token": ...}`` (with
        optional ``refresh_token``, ``expires_in``, ``client_id``, ``client_secret``...) or
        :class:`~webex_meetings.core.credentials.Credentials`.
    :param access_token: the keyword form of a bare token. With neither, the token is read
        from ``$WEBEX_ACCESS_TOKEN``.
    :param config: a :class:`~webex_meetings.core.config.SessionConfig` (real Webex when
        ``None``). :param cloud: a base URL (``"http://127.0.0.1:8000"``) whose services
        replace Webex's, for the emulator: ``SessionConfig.for_cloud(cloud)``.
    :param http: / :param websockets: transports to use instead of the defaults (httpx, and
        wsproto over anyio or trio streams); the caller keeps ownership of what it passes.
    :param proxy: ``http://host:port`` for HTTP and websockets. :param verify: TLS
        verification: ``True`` (default), ``False``, a CA bundle path or an ``SSLContext``.
    :param runtime: ``"anyio"`` (asyncio or trio) or ``"trio"`` (native trio; trio only).
    :param unregister_timeout: seconds the unregister on leaving ``async with`` may take.
    :raises ConfigurationError: no usable credentials, conflicting or invalid options.
    """

    def __init__(
        self,
        *,
        access_token: str | None = None,
        credentials: CredentialsInit | None = None,
        config: SessionConfig | None = None,
        cloud: str | None = None,
        http: HttpTransport | None = None,
        websockets: WebSocketConnector | None = None,
        proxy: str | None = None,
        verify: bool | str | ssl.SSLContext = True,
        runtime: str = "anyio",
        unregister_timeout: float = 10.0,
    ) -> None:
        session_config = resolve_config(config, cloud)
        creds = resolve_credentials(credentials, access_token, now=time.time())
        self._setup(
            MeetingsSession(session_config, creds),
            resolve_runtime(runtime),
            http=http,
            websockets=websockets,
            options=TransportOptions(proxy, verify, session_config.http_timeout),
            unregister_timeout=unregister_timeout,
        )

    @classmethod
    def init(
        cls,
        credentials: CredentialsInit | None = None,
        config: SessionConfig | None = None,
        **options: Any,
    ) -> Webex:
        """``Webex.init(credentials={"access_token": ...}, config=...)``, as in the JS SDK;
        ``options`` are the other keywords of :class:`Webex`.

        :raises ConfigurationError: as for :class:`Webex`.
        """
        return cls(credentials=credentials, config=config, **options)

    @classmethod
    def from_session(
        cls,
        session: Session,
        *,
        http: HttpTransport,
        websockets: WebSocketConnector,
        runtime: str = "anyio",
        unregister_timeout: float = 10.0,
    ) -> Webex:
        """A Webex driving an already-built session (a configured
        :class:`~webex_meetings.core.session.MeetingsSession`, or a scripted stand-in in
        tests) over the given transports.

        :raises ConfigurationError: unknown runtime.
        """
        webex = cls.__new__(cls)
        webex._setup(
            session,
            resolve_runtime(runtime),
            http=http,
            websockets=websockets,
            options=TransportOptions(),
            unregister_timeout=unregister_timeout,
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
    ) -> None:
        self._session = session
        self._runtime = runtime
        self._http = http
        self._websockets = websockets
        self._options = options
        self._unregister_timeout = unregister_timeout
        self._listeners = Listeners()
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
            driver = await stack.enter_async_context(self._new_driver())
            await driver.submit_input(Initialize()).wait()
            self._driver = driver
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
        )

    async def __aexit__(self, *exc_info: object) -> None:
        """Unregister a held device, shut down, wait until every task has ended (even when
        the block is left by cancellation: the unregister is shielded and bounded)."""
        stack, self._exit_stack = self._exit_stack, None
        self._driver = None
        if stack is not None:
            await stack.aclose()

    def running_driver(self) -> Driver:
        """The driver, while inside ``async with``.

        :raises LocalProtocolError: not inside ``async with webex:``.
        """
        if self._driver is None:
            raise LocalProtocolError("the Webex instance is not running: use `async with webex:`")
        return self._driver


class Meetings:
    """``webex.meetings``: registration, lifecycle state and events."""

    def __init__(self, webex: Webex) -> None:
        self._webex = webex

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
        await self._webex.running_driver().register(rollback_on_cancel=rollback_on_cancel)

    async def unregister(self) -> None:
        """Close Mercury and delete the device; emits ``meetings:unregistered``. A cancelled
        call still completes in the background.

        :raises LocalProtocolError: not inside ``async with webex:``.
        :raises WebexError: the delete failed (the device is still held; call again).
        """
        await self._webex.running_driver().unregister()

    @overload
    def on(self, key: type[E], callback: Callable[[E], object]) -> None: ...
    @overload
    def on(self, key: str, callback: Callable[[Any], object]) -> None: ...
    def on(self, key: EventKey, callback: Callable[[Any], object]) -> None:
        """Call ``callback(event)`` for each event named ``key`` (``"meetings:ready"``,
        ``"meetings:registered"``, ``"meetings:unregistered"``, ``"network:disconnected"``,
        ``"network:connected"``, ``"event"``, ``"event:locus"``, ``"*"``...) or of class
        ``key``. ``async def`` callbacks run as tasks; exceptions are logged, never raised
        into the session. Callbacks run on the event loop and must not block."""
        self._webex._listeners.on(key, callback)

    @overload
    def once(self, key: type[E], callback: Callable[[E], object]) -> None: ...
    @overload
    def once(self, key: str, callback: Callable[[Any], object]) -> None: ...
    def once(self, key: EventKey, callback: Callable[[Any], object]) -> None:
        """As :meth:`on`, for the next matching event only."""
        self._webex._listeners.on(key, callback, once=True)

    def off(self, key: EventKey, callback: Callable[[Any], object] | None = None) -> None:
        """Remove ``callback`` (or every callback) registered for ``key``."""
        self._webex._listeners.off(key, callback)

    @overload
    def events(self, key: type[E], /, *, maxsize: int = ...) -> AsyncEventStream[E]: ...
    @overload
    def events(self, *keys: EventKey, maxsize: int = ...) -> AsyncEventStream[Event]: ...
    def events(self, *keys: EventKey, maxsize: int = DEFAULT_STREAM_SIZE) -> AsyncEventStream[Any]:
        """An async iterator over the events matching ``keys`` (every event when none),
        from now until the session ends: ``async for event in meetings.events(MercuryEvent)``.

        It buffers up to ``maxsize`` events; when full, the oldest is dropped (counted in
        ``stream.dropped``). Use ``async with`` on it, or ``aclose()``, to stop early.
        """
        listeners = self._webex._listeners
        stream: AsyncEventStream[Any] = AsyncEventStream(
            keys, maxsize, self._webex._runtime.event, listeners.unsubscribe
        )
        listeners.subscribe(stream)
        return stream
