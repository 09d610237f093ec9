"""The emulator as a whole: one listener serving every emulated service, and its controls.

Theory of operation: :class:`Emulator` is an async context manager. Entering it binds a TCP
listener (127.0.0.1 and a free port by default), optionally wraps it in TLS, and serves
connections in a task group of the current event loop (asyncio or trio, through anyio) until
the context exits. :class:`EmulatorThread` runs the same object on its own event loop in a
background thread, for blocking code and subprocess clients; the control API and the helper
methods are then carried onto that loop's thread (see
:mod:`webex_meetings.emulator.control`), so they are safe to call from the test's thread.
"""

from __future__ import annotations

import base64
import random
import signal
import ssl
import textwrap
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, AsyncExitStack, suppress
from types import TracebackType
from typing import Any, Final

import anyio
import anyio.abc
import anyio.from_thread
from anyio.abc import SocketAttribute

from ..core.errors import ConfigurationError
from .admin import Admin
from .admin_endpoints import ENDPOINTS
from .behaviour import Behaviour
from .cloud import Cloud
from .control import Control
from .faults import FaultBook
from .inputs import check_optional_seconds, check_seconds
from .layout import Urls
from .limits import Limits
from .loop_gate import LoopGate, on_loop
from .recorder import DEFAULT_RECORD_LIMIT, Recorder
from .records import AckRecord, ConnectionInfo, DeviceRecord, RequestRecord, Violation
from .registry import Registry
from .routing import CloudConfig
from .server import Server
from .services import FAULT_ROUTES, LATENCY_ROUTES
from .services.hydra import make_guest_jwt
from .state import (
    DEFAULT_CLIENT_ID,
    DEFAULT_TOKEN,
    DEFAULT_USER_ID,
    Clock,
    CloudState,
    User,
)
from .tls import SelfSignedCertificate, make_self_signed

__all__ = [
    "DEFAULT_GUEST_ISSUER",
    "DEFAULT_GUEST_SECRET",
    "Emulator",
    "EmulatorThread",
    "serve_forever",
    "start_in_thread",
]

DEFAULT_GUEST_ISSUER: Final = "Y2lzY29zcGFyazovL3VzL09SR0FOSVpBVElPTi9lbXVsYXRvcg"
DEFAULT_GUEST_SECRET: Final = base64.b64encode(b"emulator-guest-issuer-secret").decode()
_WILDCARD_HOSTS: Final = ("0.0.0.0", "", "::")


class Emulator:
    """The Webex cloud emulator (see the module docstring).

    ``seed`` drives every id, token and random fault; ``clock`` (seconds, wall time by default)
    drives expiry, and :meth:`advance` moves it. ``default_token`` (the interop script's
    token unless ``None``) is always accepted for the default user. Each user may hold
    ``device_limit`` devices. Tokens from the refresh grant live ``access_token_lifetime``
    seconds. A Mercury client must authorize within ``mercury_auth_deadline`` seconds.

    The URLs it hands out name the host each client used (its ``Host`` header), so
    ``http://localhost:PORT`` and ``http://127.0.0.1:PORT`` both work; ``advertised_host``
    fixes one host for every client instead. ``latency`` (seconds) delays every HTTP answer,
    the websocket upgrade and every frame it sends (``control.set_latency`` tunes it per
    route). ``limits`` bounds what clients can take (bytes, time, connections);
    ``record_limit`` how many records of each kind it keeps.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 0,
        clock: Callable[[], float] | None = None,
        tls: bool = False,
        default_token: str | None = DEFAULT_TOKEN,
        device_limit: int = 100,
        access_token_lifetime: float = 3600.0,
        mercury_auth_deadline: float = 30.0,
        advertised_host: str | None = None,
        limits: Limits | None = None,
        config: CloudConfig | None = None,
        latency: float = 0.0,
        record_limit: int = DEFAULT_RECORD_LIMIT,
    ) -> None:
        self._host = host
        self._port = port
        self._tls = tls
        self._advertised = advertised_host
        self._limits = limits or Limits()
        self._config = config or CloudConfig(mercury_auth_deadline=mercury_auth_deadline)
        self._gate = LoopGate()
        self.clock = Clock(clock)
        rng = random.Random(seed)
        self.state = CloudState(
            clock=self.clock,
            rng=rng,
            device_limit=device_limit,
            access_token_lifetime=access_token_lifetime,
            ended_limit=record_limit,
        )
        self._recorder = Recorder(record_limit)
        self._registry = Registry()
        self._faults = FaultBook(fault_routes=FAULT_ROUTES, latency_routes=LATENCY_ROUTES, rng=rng)
        self._behaviour = Behaviour()
        self.control = Control(
            state=self.state,
            faults=self._faults,
            behaviour=self._behaviour,
            recorder=self._recorder,
            registry=self._registry,
            gate=self._gate,
        )
        if latency:
            self.control.set_latency("*", latency)
        self.default_user = self.state.add_user(
            user_id=DEFAULT_USER_ID,
            email="emulated.user@example.invalid",
            display_name="Emulated User",
        )
        if default_token is not None:
            self.state.issue_token(DEFAULT_USER_ID, value=default_token, pinned=True)
        self.default_token = default_token
        self.state.guest_issuers[DEFAULT_GUEST_ISSUER] = base64.b64decode(DEFAULT_GUEST_SECRET)
        self.server: Server | None = None
        self._urls: Urls | None = None
        self._stack: AsyncExitStack | None = None
        self.certificate: SelfSignedCertificate | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> Emulator:
        """Bind and start serving.

        :raises OSError: the port cannot be bound.
        :raises ConfigurationError: TLS was asked for and no certificate could be made.
        """
        if self._stack is not None:
            raise ConfigurationError("this emulator is already running")
        stack = AsyncExitStack()
        await stack.__aenter__()
        try:
            listener, tls = await self._listen(stack)
            cloud = Cloud(
                state=self.state,
                faults=self._faults,
                recorder=self._recorder,
                behaviour=self._behaviour,
                urls=self.urls,
                config=self._config,
                admin=Admin(self, ENDPOINTS),
                follow_host=self._advertised is None,
            )
            self.server = Server(
                cloud=cloud,
                registry=self._registry,
                recorder=self._recorder,
                limits=self._limits,
                close_timeout=self._config.mercury_close_timeout,
                tls=tls,
            )
            task_group = await stack.enter_async_context(anyio.create_task_group())
            task_group.start_soon(self.server.serve, listener)
            stack.callback(task_group.cancel_scope.cancel)
        except BaseException:
            await stack.aclose()
            raise
        self._stack = stack
        return self

    async def _listen(
        self, stack: AsyncExitStack
    ) -> tuple[list[anyio.abc.SocketListener], ssl.SSLContext | None]:
        """The bound TCP listener, and the TLS context to wrap its connections in (if any)."""
        tcp = await anyio.create_tcp_listener(local_host=self._host, local_port=self._port)
        stack.push_async_callback(tcp.aclose)
        port = tcp.extra(SocketAttribute.local_port)
        host = self._advertised or ("127.0.0.1" if self._host in _WILDCARD_HOSTS else self._host)
        if not self._tls:
            self._urls = Urls("http", host, port)
            return _socket_listeners(tcp), None
        certificate = make_self_signed(host)
        stack.callback(certificate.remove)
        self.certificate = certificate
        self._urls = Urls("https", host, port)
        return _socket_listeners(tcp), certificate.server_context()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.__aexit__(exc_type, exc, tb)

    # -- where it is -------------------------------------------------------------------------

    @property
    def urls(self) -> Urls:
        """The emulator's URL layout.

        :raises ConfigurationError: the emulator is not running.
        """
        if self._urls is None:
            raise ConfigurationError("the emulator is not running")
        return self._urls

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``: the only URL a client needs."""
        return self.urls.base

    @property
    def port(self) -> int:
        return self.urls.port

    @property
    def ws_base_url(self) -> str:
        return self.urls.ws_base

    def describe(self) -> str:
        """Human-readable lines: the URLs to point a client at, and the default token."""
        urls = self.urls
        lines = [
            f"Webex cloud emulator on {urls.base}",
            f"  base URL (STUB_BASE)   {urls.base}",
            f"  U2C discovery          {urls.service('u2c')}",
            f"  hydra                  {urls.service('hydra')}",
            f"  region (sqdiscovery)   {urls.base}/sqdiscovery/v1/region",
            f"  OAuth token endpoint   {urls.service('idbroker')}/idb/oauth2/v1/access_token",
            f"  admin API              {urls.base}/_emulator/<endpoint> (JSON)",
            *_admin_summary(),
        ]
        if self.default_token:
            lines.append(f"  default access token   {self.default_token}")
        if self.certificate is not None:
            lines.append(f"  TLS CA file            {self.certificate.ca_file}")
        if self.server is not None:
            lines.append(
                f"  limits                 {self.server.connection_cap} connections, "
                f"{self.server.websocket_cap} websockets; 503 beyond, with a log line"
            )
        return "\n".join(lines)

    # -- users, tokens, time -----------------------------------------------------------------

    def _user_id(self, user: User | str | None) -> str:
        if user is None:
            return self.default_user.id
        return user.id if isinstance(user, User) else user

    @on_loop
    def add_user(
        self,
        *,
        email: str | None = None,
        display_name: str | None = None,
        org_id: str | None = None,
    ) -> User:
        """Create a user (with a fresh id) and return it."""
        kwargs: dict[str, Any] = {"email": email, "display_name": display_name}
        if org_id is not None:
            kwargs["org_id"] = org_id
        return self.state.add_user(**kwargs)

    @on_loop
    def issue_token(
        self, user: User | str | None = None, *, expires_in: float | None = None
    ) -> str:
        """A new access token, ``<opaque>_PF84_<orgId>``, for ``user`` (default user if
        ``None``); ``expires_in`` seconds on the emulator clock, ``None`` for never.

        :raises KeyError: no such user.
        :raises ControlInputError: ``expires_in`` is not a finite number >= 0.
        """
        lifetime = check_optional_seconds("expires_in", expires_in)
        return self.state.issue_token(self._user_id(user), expires_in=lifetime)

    @on_loop
    def issue_refresh_token(
        self,
        user: User | str | None = None,
        *,
        client_id: str = DEFAULT_CLIENT_ID,
        expires_in: float | None = None,
    ) -> str:
        """A refresh token for the ``refresh_token`` grant of ``client_id``.

        :raises KeyError: no such user.
        :raises ControlInputError: ``expires_in`` is not a finite number >= 0.
        """
        lifetime = check_optional_seconds("expires_in", expires_in)
        return self.state.issue_token(
            self._user_id(user), kind="refresh", expires_in=lifetime, client_id=client_id
        )

    @on_loop
    def register_client(self, client_id: str, client_secret: str) -> None:
        """Accept this OAuth client at the token endpoint."""
        self.state.clients[client_id] = client_secret

    @on_loop
    def add_guest_issuer(self, issuer: str, secret_b64: str) -> None:
        """Accept guest JWTs signed (HS256) with this base64 secret for issuer ``issuer``."""
        self.state.guest_issuers[issuer] = base64.b64decode(secret_b64)

    def make_guest_jwt(
        self, subject: str = "guest-user", *, name: str = "Guest", expires_in: float | None = None
    ) -> str:
        """A guest JWT for ``POST {hydra}/jwt/login``, signed by the default guest issuer."""
        expires_at = None if expires_in is None else self.clock() + expires_in
        return make_guest_jwt(
            issuer=DEFAULT_GUEST_ISSUER,
            secret_b64=DEFAULT_GUEST_SECRET,
            subject=subject,
            name=name,
            expires_at=expires_at,
        )

    @on_loop
    def advance(self, seconds: float) -> None:
        """Move the emulator clock forward (tokens and devices expire accordingly).

        :raises ControlInputError: ``seconds`` is not a finite number >= 0.
        """
        self.clock.advance(check_seconds("seconds", seconds))

    # -- observation shortcuts ---------------------------------------------------------------

    @property
    def violations(self) -> list[Violation]:
        """Protocol violations recorded so far (see :attr:`Control.violations`)."""
        return self.control.violations

    @property
    def devices(self) -> list[DeviceRecord]:
        return self.control.devices

    @property
    def connections(self) -> list[ConnectionInfo]:
        return self.control.connections

    @property
    def acks(self) -> list[AckRecord]:
        return self.control.acks

    @property
    def requests(self) -> list[RequestRecord]:
        return self.control.requests


def _admin_summary() -> list[str]:
    """The admin endpoints by method, wrapped, for the banner."""
    lines = []
    for method in ("GET", "POST"):
        names = " ".join(e.path for e in ENDPOINTS if e.method == method)
        wrapped = textwrap.wrap(names, 70, break_on_hyphens=False)
        lines += [f"    {method:<5}{wrapped[0]}", *(f"         {rest}" for rest in wrapped[1:])]
    lines.append("    (`webex-meetings emulator --help` documents each endpoint and route name)")
    return lines


def _socket_listeners(listener: anyio.abc.Listener[Any]) -> list[anyio.abc.SocketListener]:
    """The plain socket listeners of what ``create_tcp_listener`` made (one per address)."""
    inner = getattr(listener, "listeners", [listener])
    return [item for item in inner if isinstance(item, anyio.abc.SocketListener)]


class EmulatorThread(AbstractContextManager["Emulator"]):
    """An :class:`Emulator` on its own event loop in a daemon thread.

    ``with EmulatorThread(seed=1) as emu:`` gives the running emulator; every keyword goes to
    :class:`Emulator`. ``backend`` is ``"asyncio"`` or ``"trio"``.
    """

    def __init__(self, *, backend: str = "asyncio", **emulator_options: Any) -> None:
        self._backend = backend
        self._options = emulator_options
        self._portal_cm: AbstractContextManager[anyio.from_thread.BlockingPortal] | None = None
        self._emulator_cm: AbstractContextManager[Emulator] | None = None
        self.emulator: Emulator | None = None

    def start(self) -> Emulator:
        """Start the thread and the emulator; returns the running emulator.

        :raises ConfigurationError: already started.
        """
        if self._portal_cm is not None:
            raise ConfigurationError("this emulator thread is already running")
        self._portal_cm = anyio.from_thread.start_blocking_portal(self._backend)
        portal = self._portal_cm.__enter__()
        try:
            emulator = Emulator(**self._options)
            self._emulator_cm = portal.wrap_async_context_manager(emulator)
            self._emulator_cm.__enter__()
            emulator._gate.bind(portal, portal.call(threading.get_ident))
        except BaseException:
            self._portal_cm.__exit__(None, None, None)
            self._portal_cm = None
            raise
        self.emulator = emulator
        return emulator

    def stop(self) -> None:
        """Stop the emulator and its thread (idempotent)."""
        emulator_cm, self._emulator_cm = self._emulator_cm, None
        portal_cm, self._portal_cm = self._portal_cm, None
        if self.emulator is not None:
            self.emulator._gate.unbind()
        try:
            if emulator_cm is not None:
                emulator_cm.__exit__(None, None, None)
        finally:
            if portal_cm is not None:
                portal_cm.__exit__(None, None, None)

    @property
    def base_url(self) -> str:
        """The running emulator's base URL.

        :raises ConfigurationError: not started.
        """
        if self.emulator is None:
            raise ConfigurationError("the emulator thread is not running")
        return self.emulator.base_url

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_in_thread(**options: Any) -> EmulatorThread:
    """Start an emulator in a background thread; ``.emulator`` is it, ``.stop()`` ends it."""
    thread = EmulatorThread(**options)
    thread.start()
    return thread


def serve_forever(
    host: str = "127.0.0.1",
    port: int = 8790,
    *,
    tls: bool = False,
    print_urls: bool = True,
    backend: str = "asyncio",
    prepare: Callable[[Emulator], list[str]] | None = None,
    **options: Any,
) -> None:
    """Run an emulator until interrupted (Ctrl-C or SIGTERM); the ``webex-meetings emulator``
    command. ``prepare(emulator)`` runs once it serves (on its loop) and returns lines to add
    to the printed banner.

    :raises OSError: the port cannot be bound.
    """

    async def main() -> None:
        # Ctrl-C and SIGTERM end the run through a signal receiver, not KeyboardInterrupt,
        # so the server closes cleanly on every Python and backend (3.10's asyncio turns a
        # KeyboardInterrupt in the loop into a CancelledError).
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async with Emulator(host=host, port=port, tls=tls, **options) as emulator:
                extra = prepare(emulator) if prepare is not None else []
                if print_urls:
                    print("\n".join([emulator.describe(), *extra]), flush=True)
                async for _ in signals:
                    return

    with suppress(KeyboardInterrupt):
        anyio.run(main, backend=backend)
