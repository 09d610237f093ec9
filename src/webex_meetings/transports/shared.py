"""One HTTP transport shared by every Webex instance of an event loop.

Theory of operation. Tokens travel per request (the core puts the ``Authorization`` header on
each one), so nothing in a connection pool belongs to one session, and a process with many
sessions gains from one pool: fewer descriptors on both ends, kept-alive connections reused
across sessions. :class:`SharedHttpTransports` keeps one transport per *(event loop, key)*,
the key saying what the transport was built from (proxy, TLS context, limits), and hands out
:class:`HttpTransportLease` values, each a full
:class:`~webex_meetings.transports.base.HttpTransport`. Closing a lease releases it; the
last release removes the entry and closes the transport. A transport is never used from two
event loops: a new loop (another ``anyio.run``, a blocking face's thread) gets its own.

Everything here runs in the event loop's thread, between checkpoints, so the counts need no
lock: the entry leaves the table before the transport's ``aclose()`` is awaited, and a lease
taken meanwhile builds a fresh transport.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass

import sniffio

from ..core.errors import TransportError
from ..core.http import HttpRequest, HttpResponse
from ._closing import AsyncClosing
from .base import HttpTransport

__all__ = [
    "SHARED_POOL_CONNECTIONS",
    "SHARED_POOL_KEEPALIVE",
    "HttpTransportLease",
    "SharedHttpTransports",
    "current_event_loop",
]

SHARED_POOL_CONNECTIONS = 100
"""Connections one shared transport opens at most, all hosts together: a request beyond
waits for a free connection, within its own timeout. (A smaller pool queues more, and
httpcore's queue costs more CPU than the connections it saves: 32 made a registration
cost 18 ms of CPU instead of 10 at 1,000 sessions.)"""
SHARED_POOL_KEEPALIVE = 20
"""Idle connections it keeps (for ``keepalive_expiry``); the rest are closed at once, so idle
sessions hold no HTTP descriptor of their own, on either end."""


def current_event_loop() -> object:
    """An object standing for the running event loop (asyncio's loop, trio's token).

    :raises TransportError: not called from an event loop.
    """
    try:
        library = sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:
        raise TransportError("a shared HTTP transport needs a running event loop") from None
    if library == "trio":
        import trio

        return trio.lowlevel.current_trio_token()
    import asyncio

    return asyncio.get_running_loop()


@dataclass(slots=True)
class _Entry:
    transport: HttpTransport
    users: int = 0


class SharedHttpTransports:
    """Transports shared per event loop and key, reference-counted through leases."""

    def __init__(self) -> None:
        self._entries: dict[tuple[object, Hashable], _Entry] = {}

    def lease(self, key: Hashable, build: Callable[[], HttpTransport]) -> HttpTransportLease:
        """A lease on the running loop's transport for ``key``, built with ``build()`` when
        there is none yet. Close the lease when done (the driver does, for its own)."""
        slot = (current_event_loop(), key)
        entry = self._entries.get(slot)
        if entry is None:
            entry = self._entries[slot] = _Entry(build())
        entry.users += 1
        return HttpTransportLease(self, slot, entry.transport)

    def users(self, key: Hashable) -> int:
        """How many open leases share the running loop's transport for ``key``."""
        entry = self._entries.get((current_event_loop(), key))
        return 0 if entry is None else entry.users

    def __len__(self) -> int:
        """Transports alive, all loops together."""
        return len(self._entries)

    async def _release(self, slot: tuple[object, Hashable]) -> None:
        entry = self._entries[slot]
        entry.users -= 1
        if entry.users == 0:
            del self._entries[slot]
            await entry.transport.aclose()


class HttpTransportLease(AsyncClosing):
    """One user's handle on a shared transport: sends through it; :meth:`aclose` releases it
    (the transport closes with its last lease)."""

    def __init__(
        self,
        owner: SharedHttpTransports,
        slot: tuple[object, Hashable],
        transport: HttpTransport,
    ) -> None:
        self._owner: SharedHttpTransports | None = owner
        self._slot = slot
        self._transport = transport

    async def send(self, request: HttpRequest) -> HttpResponse:
        """Send through the shared transport (see :meth:`HttpTransport.send`).

        :raises TransportError: this lease was closed.
        """
        if self._owner is None:
            raise TransportError("this HTTP transport lease is closed")
        return await self._transport.send(request)

    async def aclose(self) -> None:
        """Release the lease; the last one closes the transport. Idempotent."""
        owner, self._owner = self._owner, None
        if owner is not None:
            await owner._release(self._slot)
