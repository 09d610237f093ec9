"""The handful of concurrency primitives a driver needs, as one small interface.

The driver (:mod:`.driver`) never imports anyio or trio itself. It asks a :class:`Runtime` for a
task group, cancel scopes, an unbounded memory channel, an event and a sleep; anyio and trio
offer the same shapes under slightly different names, so a runtime is just a table of them
(:data:`.anyio_runtime.ANYIO`, :data:`.trio_runtime.TRIO`), much as httpcore's backends are
thin.

The Protocols below describe what the driver uses of each primitive and nothing more; anyio's and
trio's own objects satisfy them as they are.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol, TypeVar

import sniffio

from ..core.errors import ConfigurationError
from ..transports._wsproto_client import DEFAULT_MAX_MESSAGE_SIZE
from ..transports.base import HttpTransport, WebSocketConnector
from ..transports.httpx_transport import DEFAULT_MAX_RESPONSE_SIZE, HttpxTransport
from ..transports.shared import SharedHttpTransports
from ..transports.tls import Verify, check_verify, ssl_context_for

__all__ = [
    "CancelScope",
    "Flag",
    "ReceiveChannel",
    "Runtime",
    "SendChannel",
    "TaskGroup",
    "TransportOptions",
]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
T_contra = TypeVar("T_contra", contravariant=True)


class CancelScope(Protocol):
    """A cancel scope: entered once, cancellable from anywhere in the same event loop, also
    before it is entered."""

    def cancel(self) -> None: ...

    @property
    def cancel_called(self) -> bool: ...

    def __enter__(self) -> Any: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None: ...


class TaskGroup(Protocol):
    """A task group (anyio) or nursery (trio)."""

    def start_soon(
        self, func: Callable[..., Coroutine[Any, Any, Any]], *args: Any, name: object = None
    ) -> object: ...

    @property
    def cancel_scope(self) -> Any: ...


class Flag(Protocol):
    """A one-shot flag (``anyio.Event``, ``trio.Event``; named apart from the user's events):
    ``set()`` never blocks, ``wait()`` is a checkpoint."""

    def set(self) -> None: ...

    def is_set(self) -> bool: ...

    async def wait(self) -> Any: ...


class SendChannel(Protocol[T_contra]):
    """The sending side of an unbounded memory channel: ``send_nowait`` never blocks."""

    def send_nowait(self, value: T_contra, /) -> None: ...

    def close(self) -> None: ...


class ReceiveChannel(Protocol[T_co]):
    """The receiving side: iterate until the sender is closed and everything is drained."""

    def __aiter__(self) -> AsyncIterator[T_co]: ...

    def close(self) -> None: ...


_SHARED_HTTP = SharedHttpTransports()
"""Every default HTTP transport of the process: one per event loop and transport options."""


@dataclass(frozen=True, slots=True)
class TransportOptions:
    """What the default transports are built from.

    ``verify``: ``True`` (system CAs, the default; ``$SSL_CERT_FILE`` when set), ``False``
    (no certificate check; one warning per process), a CA bundle path, or a ready
    :class:`ssl.SSLContext` (see :mod:`webex_meetings.transports.tls`). ``proxy``:
    ``http://host:port``. ``max_response_size``: bytes an HTTP answer may hold;
    ``max_message_size``: bytes a websocket message may hold (more fails the connection,
    and the session reconnects).

    :raises ConfigurationError: ``verify`` is not usable (a path with no readable file).
    """

    proxy: str | None = None
    verify: Verify = True
    http_timeout: float = 20.0
    connect_timeout: float = 10.0
    max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE

    def __post_init__(self) -> None:
        check_verify(self.verify)

    def ssl_context(self) -> ssl.SSLContext:
        """The TLS context to use (shared per process; see :mod:`..transports.tls`)."""
        return ssl_context_for(self.verify)

    def shared_http(self, context: ssl.SSLContext) -> HttpTransport:
        """A lease on the HTTP transport every instance of this event loop with the same
        options shares (tokens are per request, so the pool is safe to share)."""
        key = (self.proxy, context, self.http_timeout, self.max_response_size)
        return _SHARED_HTTP.lease(key, lambda: self._new_http(context))

    def _new_http(self, context: ssl.SSLContext) -> HttpTransport:
        return HttpxTransport(
            timeout=self.http_timeout,
            proxy=self.proxy,
            verify=context,
            max_response_size=self.max_response_size,
        )


class ScopeFactory(Protocol):
    """``anyio.CancelScope`` / ``trio.CancelScope``: a new scope, not entered yet."""

    def __call__(self, *, shield: bool = ...) -> CancelScope: ...


class TimeoutFactory(Protocol):
    """``move_on_after``: a scope that cancels itself ``seconds`` after it is entered."""

    def __call__(self, seconds: float, /, *, shield: bool = ...) -> CancelScope: ...


class ConnectorFactory(Protocol):
    """A websocket connector class of :mod:`webex_meetings.transports`."""

    def __call__(
        self,
        *,
        connect_timeout: float,
        ssl_context: ssl.SSLContext | None,
        proxy: str | None,
        max_message_size: int,
    ) -> WebSocketConnector: ...


def require_library(runtime: str, *libraries: str) -> Callable[[], None]:
    """A ``check_current`` for a runtime that can drive only ``libraries`` (sniffio names)."""

    def check_current() -> None:
        try:
            library = sniffio.current_async_library()
        except sniffio.AsyncLibraryNotFoundError:
            library = "no event loop"
        if library not in libraries:
            wanted = " or ".join(libraries)
            raise ConfigurationError(f'runtime="{runtime}" runs under {wanted}, not {library}')

    return check_current


@dataclass(frozen=True, slots=True)
class Runtime:
    """One async library's primitives, under the names the driver uses: a table, filled in
    by :mod:`.anyio_runtime` and :mod:`.trio_runtime`."""

    name: str
    """``"anyio"`` or ``"trio"``: what ``Webex.init(runtime=...)`` accepts."""
    check_current: Callable[[], None]
    """Raise :class:`~webex_meetings.core.errors.ConfigurationError` unless the caller runs
    under an event loop this runtime can drive."""
    open_task_group: Callable[[], AbstractAsyncContextManager[TaskGroup]]
    """A new task group; its tasks are cancelled or awaited when it exits."""
    cancel_scope: ScopeFactory
    move_on_after: TimeoutFactory
    event: Callable[[], Flag]
    """A new, unset :class:`Flag`."""
    open_channel: Callable[[], tuple[SendChannel[Any], ReceiveChannel[Any]]]
    """A new unbounded memory channel (``send_nowait`` never blocks)."""
    sleep: Callable[[float], Awaitable[None]]
    """Sleep; a checkpoint."""
    websocket_connector: ConnectorFactory
    """The websocket connector used when the caller passes none."""

    def default_transports(
        self, options: TransportOptions
    ) -> tuple[HttpTransport, WebSocketConnector]:
        """The HTTP transport (a lease on the event loop's shared httpx transport, which runs
        on asyncio and trio alike) and this runtime's websocket connector, used when the
        caller passes none. Must be called inside the event loop."""
        context = options.ssl_context()
        connector = self.websocket_connector(
            connect_timeout=options.connect_timeout,
            ssl_context=context,
            proxy=options.proxy,
            max_message_size=options.max_message_size,
        )
        return options.shared_http(context), connector
