"""The handful of concurrency primitives a driver needs, as one small interface.

The driver (:mod:`.driver`) never imports anyio or trio itself. It asks a :class:`Runtime` for a
task group, cancel scopes, an event, the loop's clock and an :class:`Alarm`; anyio and trio
offer the same shapes under slightly different names, so a runtime is just a table of them
(:data:`.anyio_runtime.ANYIO`, :data:`.trio_runtime.TRIO`), much as httpcore's backends are
thin.

An :class:`Alarm` is the one timer a driver owns, however many timers the core asks for: the
driver keeps the core's timers in a heap and arms the alarm for the earliest. On asyncio it is
a callback scheduled with ``loop.call_at`` (no task); elsewhere it is :class:`TaskAlarm`, one
task sleeping in a cancel scope whose deadline is moved in place.

The Protocols below describe what the driver uses of each primitive and nothing more; anyio's and
trio's own objects satisfy them as they are.
"""

from __future__ import annotations

import heapq
import math
import ssl
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol

import httpx
import sniffio

from ..core.errors import ConfigurationError
from ..transports._wsproto_client import DEFAULT_MAX_MESSAGE_SIZE
from ..transports.base import HttpTransport, WebSocketConnector
from ..transports.http_asyncio import AsyncioHttpTransport
from ..transports.httpx_transport import DEFAULT_MAX_RESPONSE_SIZE, HttpxTransport
from ..transports.shared import (
    SHARED_POOL_CONNECTIONS,
    SHARED_POOL_KEEPALIVE,
    SharedHttpTransports,
)
from ..transports.tls import Verify, check_verify, ssl_context_for

__all__ = [
    "Alarm",
    "CancelScope",
    "Flag",
    "Runtime",
    "TaskAlarm",
    "TaskGroup",
    "TimerHeap",
    "TransportOptions",
]


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


class DeadlineScope(CancelScope, Protocol):
    """A cancel scope whose deadline (on the loop's clock) can be moved while it runs."""

    deadline: float


class TaskGroup(Protocol):
    """A task group (anyio) or nursery (trio)."""

    def start_soon(
        self, func: Callable[..., Coroutine[Any, Any, Any]], *args: Any, name: object = None
    ) -> object: ...

    async def start(
        self, func: Callable[..., Coroutine[Any, Any, Any]], *args: Any, name: object = None
    ) -> Any: ...

    @property
    def cancel_scope(self) -> Any: ...


class Flag(Protocol):
    """A one-shot flag (``anyio.Event``, ``trio.Event``; named apart from the user's events):
    ``set()`` never blocks, ``wait()`` is a checkpoint."""

    def set(self) -> None: ...

    def is_set(self) -> bool: ...

    async def wait(self) -> Any: ...


class Alarm(Protocol):
    """One wake-up call, moved as often as needed: ``callback()`` runs on the event loop once
    the loop's clock reaches the armed deadline (never before)."""

    def now(self) -> float:
        """The loop's clock, on which deadlines are given."""
        ...

    def arm(self, deadline: float) -> None:
        """Call back at ``deadline`` instead of any earlier arming; ``math.inf`` disarms."""
        ...

    def close(self) -> None:
        """Never call back again."""
        ...


class TaskAlarm:
    """An :class:`Alarm` run by one task of ``group``: it sleeps in a cancel scope whose
    deadline :meth:`arm` moves in place, so re-arming costs no new task and no new scope.

    The callback runs in that task; the task ends with :meth:`close` or with the group.
    """

    __slots__ = ("_callback", "_clock", "_closed", "_deadline", "_new_scope", "_scope", "_sleep")

    def __init__(
        self,
        group: TaskGroup,
        callback: Callable[[], None],
        *,
        new_scope: Callable[[], DeadlineScope],
        sleep_forever: Callable[[], Awaitable[None]],
        clock: Callable[[], float],
    ) -> None:
        self._callback = callback
        self._new_scope = new_scope
        self._sleep = sleep_forever
        self._clock = clock
        self._deadline = math.inf
        self._scope: DeadlineScope | None = None
        self._closed = False
        group.start_soon(self._run)

    def now(self) -> float:
        return self._clock()

    def arm(self, deadline: float) -> None:
        self._deadline = deadline
        if self._scope is not None:
            self._scope.deadline = deadline

    def close(self) -> None:
        self._closed = True
        if self._scope is not None:
            self._scope.cancel()

    async def _run(self) -> None:
        while not self._closed:
            with self._new_scope() as scope:
                scope.deadline = self._deadline
                self._scope = scope
                await self._sleep()
            self._scope = None
            if not self._closed and self._clock() >= self._deadline:
                self._deadline = math.inf
                self._callback()


class TimerHeap:
    """A driver's timers (the core's), by id, in one heap of ``(deadline, timer_id)``.

    Cancelling or restarting a timer only changes :attr:`_due`; its old heap entry goes stale
    and is dropped when it reaches the top (or when stale entries outnumber live ones).
    """

    __slots__ = ("_due", "_heap")

    def __init__(self) -> None:
        self._due: dict[int, float] = {}
        self._heap: list[tuple[float, int]] = []

    def __len__(self) -> int:
        return len(self._due)

    def start(self, timer_id: int, deadline: float) -> None:
        self._due[timer_id] = deadline
        heapq.heappush(self._heap, (deadline, timer_id))
        if len(self._heap) > 2 * len(self._due) + 8:
            self._heap = [(due, timer) for timer, due in self._due.items()]
            heapq.heapify(self._heap)

    def cancel(self, timer_id: int) -> None:
        self._due.pop(timer_id, None)

    def next_deadline(self) -> float:
        """The earliest live deadline (``math.inf`` when none)."""
        heap, due = self._heap, self._due
        while heap:
            deadline, timer_id = heap[0]
            if due.get(timer_id) == deadline:
                return deadline
            heapq.heappop(heap)
        return math.inf

    def expired(self, now: float) -> list[tuple[float, int]]:
        """Take every heap entry due by ``now`` (live or not), earliest first."""
        heap = self._heap
        entries = []
        while heap and heap[0][0] <= now:
            entries.append(heapq.heappop(heap))
        return entries

    def take(self, timer_id: int, deadline: float) -> bool:
        """Forget the timer if it is still the one due at ``deadline``: whether it fires."""
        if self._due.get(timer_id) != deadline:
            return False
        del self._due[timer_id]
        return True


_SHARED_HTTP = SharedHttpTransports()
"""Every default HTTP transport of the process: one per event loop and transport options."""


@dataclass(frozen=True, slots=True)
class TransportOptions:
    """What the default transports are built from.

    ``verify``: ``True`` (system CAs, the default; ``$SSL_CERT_FILE`` when set), ``False``
    (no certificate check; one warning per process), a CA bundle path, or a ready
    :class:`ssl.SSLContext` (see :mod:`webex_meetings.transports.tls`). ``proxy``:
    ``http://host:port``. ``connect_timeout``: seconds a new connection may take (a
    websocket's TCP, TLS and upgrade; on asyncio an HTTP connection's TCP and TLS, within
    the request's own timeout). ``max_response_size``: bytes an HTTP answer may hold;
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
        key = (
            self.proxy,
            context,
            self.http_timeout,
            self.connect_timeout,
            self.max_response_size,
        )
        return _SHARED_HTTP.lease(key, lambda: self.new_http(context))

    def new_http(self, context: ssl.SSLContext) -> AsyncioHttpTransport | HttpxTransport:
        """A new HTTP transport for these options (not shared): h11 on asyncio's transports
        (:mod:`..transports.http_asyncio`) under asyncio without a proxy, httpx's pool
        otherwise (trio, a proxy). Call it inside the event loop."""
        if self.proxy is None and sniffio.current_async_library() == "asyncio":
            return AsyncioHttpTransport(
                timeout=self.http_timeout,
                connect_timeout=self.connect_timeout,
                verify=context,
                max_response_size=self.max_response_size,
                max_connections=SHARED_POOL_CONNECTIONS,
                max_idle_connections=SHARED_POOL_KEEPALIVE,
            )
        return HttpxTransport(
            timeout=self.http_timeout,
            proxy=self.proxy,
            verify=context,
            max_response_size=self.max_response_size,
            limits=httpx.Limits(
                max_connections=SHARED_POOL_CONNECTIONS,
                max_keepalive_connections=SHARED_POOL_KEEPALIVE,
            ),
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
    start_alarm: Callable[[TaskGroup, Callable[[], None]], Alarm]
    """A new disarmed :class:`Alarm` calling back on the event loop (a task of the group where
    the library needs one)."""
    websocket_connector: ConnectorFactory
    """The websocket connector used when the caller passes none (called inside the loop)."""

    def default_transports(
        self, options: TransportOptions
    ) -> tuple[HttpTransport, WebSocketConnector]:
        """The HTTP transport (a lease on the event loop's shared one: h11 on asyncio's
        transports under asyncio without a proxy, httpx's pool otherwise) and this runtime's
        websocket connector, used when the caller passes none. Must be called inside the
        event loop."""
        context = options.ssl_context()
        connector = self.websocket_connector(
            connect_timeout=options.connect_timeout,
            ssl_context=context,
            proxy=options.proxy,
            max_message_size=options.max_message_size,
        )
        return options.shared_http(context), connector
