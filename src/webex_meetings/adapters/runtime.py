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

import functools
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol, TypeVar

import sniffio

from ..core.errors import ConfigurationError
from ..transports.base import HttpTransport, WebSocketConnector
from ..transports.httpx_transport import HttpxTransport

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


@functools.cache
def default_ssl_context() -> ssl.SSLContext:
    """The verifying TLS context every default transport shares: built once per process, as
    loading a CA bundle costs tens of milliseconds (the certifi bundle httpx would load, or
    the system's CAs when certifi is absent)."""
    try:
        import certifi
    except ImportError:  # pragma: no cover - httpx brings certifi
        return ssl.create_default_context()
    return ssl.create_default_context(cafile=certifi.where())


@dataclass(frozen=True, slots=True)
class TransportOptions:
    """What the default transports are built from.

    ``verify``: ``True`` (system CAs, the default), ``False`` (no certificate check), a CA
    bundle path, or a ready :class:`ssl.SSLContext`. ``proxy``: ``http://host:port``.
    """

    proxy: str | None = None
    verify: bool | str | ssl.SSLContext = True
    http_timeout: float = 20.0
    connect_timeout: float = 10.0

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context to use (one shared verifying context by default)."""
        if self.verify is True:
            return default_ssl_context()
        if isinstance(self.verify, ssl.SSLContext):
            return self.verify
        if self.verify is False:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            return context
        return ssl.create_default_context(cafile=self.verify)


class ScopeFactory(Protocol):
    """``anyio.CancelScope`` / ``trio.CancelScope``: a new scope, not entered yet."""

    def __call__(self, *, shield: bool = ...) -> CancelScope: ...


class TimeoutFactory(Protocol):
    """``move_on_after``: a scope that cancels itself ``seconds`` after it is entered."""

    def __call__(self, seconds: float, /, *, shield: bool = ...) -> CancelScope: ...


class ConnectorFactory(Protocol):
    """A websocket connector class of :mod:`webex_meetings.transports`."""

    def __call__(
        self, *, connect_timeout: float, ssl_context: ssl.SSLContext | None, proxy: str | None
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
        """The HTTP transport (httpx, which runs on asyncio and trio alike) and this runtime's
        websocket connector, used when the caller passes none."""
        context = options.ssl_context()
        http = HttpxTransport(
            timeout=options.http_timeout,
            proxy=options.proxy,
            verify=True if context is None else context,
        )
        connector = self.websocket_connector(
            connect_timeout=options.connect_timeout, ssl_context=context, proxy=options.proxy
        )
        return http, connector
