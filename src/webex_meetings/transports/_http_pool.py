"""The keep-alive pool of :mod:`.http_asyncio`: idle connections per origin, one cap for all.

Theory of operation. Every connection holds a *slot*; at most ``max_connections`` slots are
taken at once, counting connections being opened. :meth:`ConnectionPool.acquire` gives a
request, in this order:

1. the most recently parked idle connection to its origin (the newest is the likeliest to be
   alive; an expired one is closed and the next tried);
2. a new connection, when a slot is free, or when an idle connection to another origin can
   be closed to free one;
3. otherwise a place in one FIFO queue, until the request's deadline. A connection given
   back is handed straight to the first waiter if it goes to the same origin; otherwise it
   is closed and its slot passes to that waiter, which opens its own connection. So while
   anyone waits, nothing is idle.

:meth:`ConnectionPool.release` takes a connection back after its exchange: one that is not
:attr:`~._http_connection.HttpConnection.reusable` is closed; one beyond ``max_idle`` idle
connections is closed; the others are parked. Nothing is polled per request: a parked
connection that the server closes (or writes to) leaves the pool from its own callback, and
one idle for ``keepalive_expiry`` seconds is closed by one loop timer for the whole pool (and
is never handed out, should the timer be late). Everything runs on the pool's event loop,
between awaits, so the counts need no lock.
"""

from __future__ import annotations

import asyncio
import builtins
import ssl
from collections import deque
from typing import TypeVar

import anyio

from ._http_connection import HttpConnection, Origin

__all__ = ["ConnectTimeout", "ConnectionPool", "PoolClosed", "PoolTimeout", "wait_until"]

_T = TypeVar("_T")


class PoolTimeout(builtins.TimeoutError):
    """No connection became free before the request's deadline."""


class ConnectTimeout(builtins.TimeoutError):
    """Connecting (TCP and TLS) took longer than allowed."""


class PoolClosed(Exception):
    """The pool (its transport) is closed."""


def _expire(future: asyncio.Future[_T], error: type[BaseException]) -> None:
    if not future.done():
        future.set_exception(error())


async def wait_until(future: asyncio.Future[_T], deadline: float, error: type[Exception]) -> _T:
    """``await future``, failed with ``error()`` if it is not done by ``deadline`` (the loop's
    clock): one timer handle, no cancel scope."""
    timer = future.get_loop().call_at(deadline, _expire, future, error)
    try:
        return await future
    finally:
        timer.cancel()


_Waiter = tuple[Origin, bool, "asyncio.Future[HttpConnection | None]"]
"""A queued request: its origin, whether it wants a fresh connection, and the future that
gets a connection (handed over) or ``None`` (a slot: open one)."""


class ConnectionPool:
    """HTTP/1.1 connections of one event loop, shared by every request; see the module
    docstring."""

    __slots__ = (
        "_connect_timeout",
        "_connections",
        "_expiry",
        "_idle",
        "_idle_count",
        "_max_connections",
        "_max_idle",
        "_slots",
        "_ssl_context",
        "_sweep",
        "_waiters",
        "closed",
        "loop",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        *,
        ssl_context: ssl.SSLContext,
        connect_timeout: float,
        max_connections: int,
        max_idle: int,
        keepalive_expiry: float,
    ) -> None:
        self.loop = loop
        self._ssl_context = ssl_context
        self._connect_timeout = connect_timeout
        self._max_connections = max_connections
        self._max_idle = max_idle
        self._expiry = keepalive_expiry
        self._slots = 0
        self._connections: set[HttpConnection] = set()
        self._idle: dict[Origin, deque[HttpConnection]] = {}
        """Parked connections per origin, oldest first; an origin with none has no entry."""
        self._idle_count = 0
        self._waiters: deque[_Waiter] = deque()
        self._sweep: asyncio.TimerHandle | None = None
        self.closed = False

    # -- handing out --------------------------------------------------------------------------

    async def acquire(
        self, origin: Origin, deadline: float, *, fresh: bool = False
    ) -> tuple[HttpConnection, bool]:
        """A connection to ``origin`` and whether it carried a request before; with
        ``fresh``, a new connection (for the one retry after a reused one failed).

        :raises PoolTimeout: no slot came free by ``deadline``.
        :raises ConnectTimeout: connecting outlasted the connect timeout or ``deadline``.
        :raises PoolClosed: the pool is closed.
        :raises ConnectError: the connection could not be made (or ``ssl.SSLError``).
        """
        if self.closed:
            raise PoolClosed
        if not fresh:
            idle = self._take_idle(origin)
            if idle is not None:
                return idle, True
        if not self._claim_slot():
            handed = await self._wait_for_turn(origin, fresh, deadline)
            if handed is not None:
                return handed, True
        return await self._open(origin, deadline), False

    def _take_idle(self, origin: Origin) -> HttpConnection | None:
        stack = self._idle.get(origin)
        while stack:
            connection = stack.pop()
            if not stack:
                del self._idle[origin]  # every stack held is non-empty
            self._idle_count -= 1
            connection.on_idle_lost = None
            if self.loop.time() - connection.idle_since < self._expiry:
                return connection
            self._drop(connection)
        return None

    def _claim_slot(self) -> bool:
        """Take a slot if one is free or an idle connection can give up its own."""
        if self._slots < self._max_connections:
            self._slots += 1
            return True
        if not self._idle:
            return False
        origin, stack = min(self._idle.items(), key=lambda item: item[1][0].idle_since)
        self._unpark(stack.popleft())
        if not stack:
            del self._idle[origin]
        return True  # its slot is ours now

    async def _wait_for_turn(
        self, origin: Origin, fresh: bool, deadline: float
    ) -> HttpConnection | None:
        future: asyncio.Future[HttpConnection | None] = self.loop.create_future()
        waiter = (origin, fresh, future)
        self._waiters.append(waiter)
        try:
            return await wait_until(future, deadline, PoolTimeout)
        except BaseException:
            self._leave_queue(waiter)
            raise

    def _leave_queue(self, waiter: _Waiter) -> None:
        """A waiter gives up (timed out, cancelled); what it was given goes to the next."""
        future = waiter[2]
        if not future.done() or future.cancelled() or future.exception() is not None:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
            return
        handed = future.result()
        if handed is None:
            self._free_slot()
        else:
            self.release(handed)

    async def _open(self, origin: Origin, deadline: float) -> HttpConnection:
        """A new connection on a slot already taken (given back if opening fails)."""
        connection = HttpConnection(self.loop, origin)
        context = self._ssl_context if origin.scheme == "https" else None
        try:
            with anyio.fail_after(min(self._connect_timeout, deadline - self.loop.time())):
                await connection.open(context)
        except builtins.TimeoutError:
            self._free_slot()
            raise ConnectTimeout from None
        except BaseException:
            self._free_slot()
            raise
        if self.closed:
            connection.abort()
            raise PoolClosed
        self._connections.add(connection)
        return connection

    # -- taking back --------------------------------------------------------------------------

    def release(self, connection: HttpConnection) -> None:
        """Take ``connection`` back after its exchange: park it, hand it to the first waiter,
        or close it (see the module docstring)."""
        if not connection.reusable or self.closed:
            self._drop(connection)
            return
        waiter = self._next_waiter()
        if waiter is None:
            if self._idle_count < self._max_idle:
                self._park(connection)
            else:
                self._drop(connection)
            return
        origin, fresh, future = waiter
        if origin == connection.origin and not fresh:
            future.set_result(connection)
            return
        self._forget(connection)
        future.set_result(None)  # the slot passes on

    def _park(self, connection: HttpConnection) -> None:
        connection.idle_since = now = self.loop.time()
        connection.on_idle_lost = self._idle_lost
        stack = self._idle.get(connection.origin)
        if stack is None:
            stack = self._idle[connection.origin] = deque()
        stack.append(connection)
        self._idle_count += 1
        if self._sweep is None:
            self._sweep = self.loop.call_at(now + self._expiry, self._close_expired)

    def _unpark(self, connection: HttpConnection) -> None:
        """Close an idle connection already taken off its stack, keeping its slot."""
        self._idle_count -= 1
        connection.on_idle_lost = None
        self._forget(connection)

    def _idle_lost(self, connection: HttpConnection) -> None:
        """A parked connection ended (the server closed it, or wrote to it)."""
        stack = self._idle.get(connection.origin)
        if stack is not None and connection in stack:
            stack.remove(connection)
            if not stack:
                del self._idle[connection.origin]
            self._idle_count -= 1
            self._drop(connection)

    def _close_expired(self) -> None:
        """The pool's one timer: close what has been idle too long, re-arm for the rest."""
        self._sweep = None
        cutoff = self.loop.time() - self._expiry
        for origin, stack in list(self._idle.items()):
            while stack and stack[0].idle_since <= cutoff:
                self._unpark(stack.popleft())
                self._free_slot()
            if not stack:
                del self._idle[origin]
        if self._idle:
            oldest = min(stack[0].idle_since for stack in self._idle.values())
            self._sweep = self.loop.call_at(oldest + self._expiry, self._close_expired)

    # -- slots --------------------------------------------------------------------------------

    def _drop(self, connection: HttpConnection) -> None:
        """Close ``connection`` and free its slot."""
        self._forget(connection)
        self._free_slot()

    def _forget(self, connection: HttpConnection) -> None:
        connection.abort()
        self._connections.discard(connection)

    def _free_slot(self) -> None:
        waiter = self._next_waiter()
        if waiter is None:
            self._slots -= 1
        else:
            waiter[2].set_result(None)

    def _next_waiter(self) -> _Waiter | None:
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter[2].done():
                return waiter
        return None

    # -- closing ------------------------------------------------------------------------------

    def close(self) -> None:
        """Drop every connection, idle or busy, and fail every waiter. Idempotent."""
        if self.closed:
            return
        self.closed = True
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        for stack in self._idle.values():
            for connection in stack:
                connection.on_idle_lost = None
        self._idle.clear()
        self._idle_count = 0
        for connection in list(self._connections):
            connection.abort()
        self._connections.clear()
        while self._waiters:
            future = self._waiters.popleft()[2]
            if not future.done():
                future.set_exception(PoolClosed())

    def __len__(self) -> int:
        """Connections open (busy or idle), not counting those being opened."""
        return len(self._connections)

    @property
    def idle(self) -> int:
        """Connections parked for reuse."""
        return self._idle_count
