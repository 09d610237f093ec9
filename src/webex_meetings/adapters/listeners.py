"""Delivering the session's events to the user: callbacks and event streams.

Theory of operation
-------------------
The driver hands every ``EmitEvent`` to :meth:`Listeners.deliver`, on the event loop, in the
order the core emitted them. Delivery never blocks the driver:

* a **callback** registered with :meth:`Listeners.on` is called right away; if it returns an
  awaitable (an ``async def`` callback), that awaitable runs as its own task, so async callbacks
  may overlap. A callback that raises is logged (redacted) and forgotten: it never reaches the
  session.
* an **event stream** (:class:`EventBuffer`) gets the event appended to its bounded buffer. When
  the buffer is full the *oldest* buffered event is dropped to make room (the stream counts
  drops in ``dropped`` and logs a warning on the first one): a slow reader loses history, never
  the newest news, and never stalls the session.

An event matches a key when the key is its class (or a base class), its ``name``
(``"meetings:registered"``), or, for Mercury events, ``"event:<namespace>"`` or
``"event:<event type>"`` as the JavaScript SDK names them (``"event:locus.difference"``).
``"*"`` matches every event. The registry is guarded by a lock, so ``on``/``off`` work from any
thread; streams are held weakly, so an abandoned stream simply goes away.
"""

from __future__ import annotations

import inspect
import logging
import threading
import traceback
import weakref
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

from ..core.events import Event, MercuryEvent
from ..core.redaction import redact
from .runtime import Flag as RuntimeEvent

__all__ = [
    "DEFAULT_STREAM_SIZE",
    "AsyncEventStream",
    "EventBuffer",
    "EventKey",
    "Listeners",
    "event_keys",
]

logger = logging.getLogger("webex_meetings.adapters.listeners")

E = TypeVar("E", bound=Event)
EventKey = str | type[Event]
"""What ``on``/``off``/``events`` accept: an event name or an event class."""
Spawn = Callable[[Callable[[], Awaitable[None]]], None]

DEFAULT_STREAM_SIZE = 1000
"""Events an event stream buffers before it starts dropping the oldest."""


def event_keys(event: Event) -> tuple[str, ...]:
    """The names an event answers to: its ``name`` and, for Mercury events, the JS SDK's
    ``event:<namespace>`` and ``event:<event type>``."""
    if isinstance(event, MercuryEvent):
        return (event.name, f"event:{event.namespace}", f"event:{event.event_type}")
    return (event.name,)


def _matches(key: EventKey, event: Event) -> bool:
    if isinstance(key, str):
        return key == "*" or key in event_keys(event)
    return isinstance(event, key)


def log_callback_error(what: str, exc: BaseException) -> None:
    """Log an exception raised by user code, with its traceback redacted."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    logger.error("%s raised; the session goes on:\n%s", what, redact(text))


@dataclass(frozen=True, slots=True)
class _Listener:
    key: EventKey
    callback: Callable[[Any], object]
    once: bool


class EventBuffer(Generic[E]):
    """A bounded buffer of events for one reader; drops the oldest when full.

    Typed by what it yields: ``EventBuffer[MercuryEvent]`` when asked for one event class.

    Subclasses decide how a reader waits (:meth:`_wake` is called after every change).
    """

    def __init__(self, keys: tuple[EventKey, ...], maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self._keys = keys
        self._queue: deque[E] = deque(maxlen=maxsize)
        self._closed = False
        self.dropped = 0
        """How many events were dropped because the buffer was full."""

    def wants(self, event: Event) -> bool:
        """True if this stream was asked for ``event``'s kind (every event when no keys)."""
        return not self._keys or any(_matches(key, event) for key in self._keys)

    def put(self, event: Event) -> None:
        """Append ``event``, dropping the oldest one if full. Never blocks."""
        if self._closed:
            return
        if len(self._queue) == self._queue.maxlen:
            self.dropped += 1
            level = logging.WARNING if self.dropped == 1 else logging.DEBUG
            logger.log(level, "event stream full: dropped its oldest (%d so far)", self.dropped)
        self._queue.append(cast(E, event))  # wants() admitted it: it is of the asked kind
        self._wake()

    def close(self) -> None:
        """End the stream: the reader gets what is buffered, then the end."""
        self._closed = True
        self._wake()

    @property
    def closed(self) -> bool:
        """True once the stream was closed (by its reader or because the session ended)."""
        return self._closed

    def _wake(self) -> None:
        raise NotImplementedError


class AsyncEventStream(EventBuffer[E]):
    """``async for event in webex.meetings.events(): ...``.

    Ends when the session shuts down or :meth:`aclose` is called; one task reads it at a time.
    Use it as an ``async with`` block (or call :meth:`aclose`) to stop buffering early.
    """

    def __init__(
        self,
        keys: tuple[EventKey, ...],
        maxsize: int,
        make_event: Callable[[], RuntimeEvent],
        on_close: Callable[[EventBuffer[Any]], None],
    ) -> None:
        super().__init__(keys, maxsize)
        self._make_event = make_event
        self._on_close = on_close
        self._ready: RuntimeEvent | None = None  # made when a reader waits: needs the loop

    def _wake(self) -> None:
        if self._ready is not None:
            self._ready.set()

    def __aiter__(self) -> AsyncEventStream[E]:
        return self

    async def __anext__(self) -> E:
        while not self._queue:
            if self._closed:
                raise StopAsyncIteration
            self._ready = self._make_event()
            await self._ready.wait()
        return self._queue.popleft()

    async def aclose(self) -> None:
        """Stop receiving events (sync-coloured in effect; async for symmetry with ``aclose``
        elsewhere)."""
        self._on_close(self)
        self.close()

    async def __aenter__(self) -> AsyncEventStream[E]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class Listeners:
    """The callbacks and event streams of one session. Thread-safe registration."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: list[_Listener] = []
        self._streams: weakref.WeakSet[EventBuffer[Any]] = weakref.WeakSet()
        self._closed = False

    def on(self, key: EventKey, callback: Callable[[Any], object], *, once: bool = False) -> None:
        """Call ``callback(event)`` for every event matching ``key`` (once, if ``once``)."""
        if not callable(callback):
            raise TypeError("callback must be callable")
        with self._lock:
            self._listeners.append(_Listener(key, callback, once))

    def off(self, key: EventKey, callback: Callable[[Any], object] | None = None) -> None:
        """Remove ``callback`` for ``key``, or every callback for ``key`` when ``None``."""
        with self._lock:
            self._listeners = [
                entry
                for entry in self._listeners
                if not (entry.key == key and callback in (None, entry.callback))
            ]

    def subscribe(self, stream: EventBuffer[Any]) -> None:
        """Start feeding ``stream``; a stream subscribed after :meth:`close` ends at once."""
        with self._lock:
            if not self._closed:
                self._streams.add(stream)
                return
        stream.close()

    def unsubscribe(self, stream: EventBuffer[Any]) -> None:
        """Stop feeding ``stream``."""
        with self._lock:
            self._streams.discard(stream)

    def deliver(self, event: Event, spawn: Spawn) -> None:
        """Hand ``event`` to every matching callback and stream; ``spawn`` runs async
        callbacks as tasks. Never raises, never blocks (beyond what sync callbacks do)."""
        with self._lock:
            matching = [entry for entry in self._listeners if _matches(entry.key, event)]
            fired_once = {id(entry) for entry in matching if entry.once}
            self._listeners = [e for e in self._listeners if id(e) not in fired_once]
            streams = [stream for stream in self._streams if stream.wants(event)]
        for entry in matching:
            self._call(entry, event, spawn)
        for stream in streams:
            stream.put(event)

    def close(self) -> None:
        """End every stream (the session is over); callbacks stay registered."""
        with self._lock:
            self._closed = True
            streams = list(self._streams)
            self._streams.clear()
        for stream in streams:
            stream.close()

    @staticmethod
    def _call(entry: _Listener, event: Event, spawn: Spawn) -> None:
        what = f"callback {_describe(entry.callback)} for {event.name!r}"
        try:
            result = entry.callback(event)
        except Exception as exc:
            log_callback_error(what, exc)
            return
        if inspect.isawaitable(result):
            spawn(_awaiting(result, what))


def _awaiting(awaitable: Awaitable[object], what: str) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        try:
            await awaitable
        except Exception as exc:
            log_callback_error(what, exc)

    return run


def _describe(callback: Callable[..., object]) -> str:
    return str(getattr(callback, "__qualname__", type(callback).__name__))
