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
  the newest news, and never stalls the session. A waiting reader is woken once per batch:
  the first event appended wakes it, the others of the same turn of the loop only append.

An event matches a key when the key is its class (or a base class), its ``name``
(``"meetings:registered"``), or, for Mercury events, ``"event:<namespace>"`` or
``"event:<event type>"`` as the JavaScript SDK names them (``"event:locus.difference"``, made
by :func:`mercury_events`). ``"*"`` matches every event. Names are the :data:`EventName`
literals: an unknown one is refused at once (:class:`UnknownEventError`), never silently
waited on forever. The registry is guarded by a lock, so ``on``/``off`` work from any thread;
streams are held weakly, so an abandoned stream simply goes away.

Delivery is on the path of every Mercury event, so it does not search the registry per event.
Whom events of one class go to is worked out once, as a :class:`_Route` (the callbacks and
streams whose keys can match that class, and whether a key needs the event itself: only the
``event:<...>`` keys do), and kept until the registry changes (``on``, ``off``, a ``once``
fired, a stream subscribed or unsubscribed), which simply forgets every route.

Some events describe a lasting condition rather than a moment (:data:`LATCHED_EVENTS`:
``meetings:ready``). The registry remembers the last one delivered until :meth:`Listeners.close`,
so that a subscriber who comes late still hears it: :meth:`Listeners.on` returns it for the
caller to hand over at once (only the caller knows on which thread callbacks run), and a stream
that asks for it by name or class gets it as its first item.
"""

from __future__ import annotations

import abc
import asyncio
import difflib
import inspect
import logging
import threading
import traceback
import weakref
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import (
    Any,
    Final,
    Generic,
    Literal,
    NewType,
    TypeVar,
    Union,
    cast,
    get_args,
    overload,
)

import sniffio

from ..core.errors import UnknownEventError
from ..core.events import Event, MeetingsReady, MercuryEvent
from ..core.redaction import redact
from .runtime import Flag as RuntimeEvent

__all__ = [
    "DEFAULT_STREAM_SIZE",
    "EVENT_NAMES",
    "LATCHED_EVENTS",
    "AsyncEventStream",
    "EventBuffer",
    "EventKey",
    "EventMethods",
    "EventName",
    "Listeners",
    "MercuryEventKey",
    "UnknownEventError",
    "check_event_key",
    "event_keys",
    "mercury_events",
]

logger = logging.getLogger("webex_meetings.adapters.listeners")

E = TypeVar("E", bound=Event)

EventName = Literal[
    "*",
    "event",
    "meetings:ready",
    "meetings:registered",
    "meetings:unregistered",
    "network:connected",
    "network:disconnected",
    "mercury:connection_failed",
    "state:changed",
    "credentials:refreshed",
]
"""Every event name ``on``/``once``/``off``/``events`` accept: the ``name`` of each event class
in :mod:`webex_meetings.core.events`, and ``"*"`` (every event). A typo fails type checking."""

EVENT_NAMES: Final[frozenset[str]] = frozenset(get_args(EventName))

MercuryEventKey = NewType("MercuryEventKey", str)
"""``"event:<namespace>"`` or ``"event:<event type>"``: Mercury events of one kind, as the JS
SDK names them. Made by :func:`mercury_events`."""

EventKey = Union[EventName, MercuryEventKey, type[Event]]  # noqa: UP007 (a runtime alias on 3.10)
"""What ``on``/``off``/``events`` accept: an event name, a Mercury key or an event class."""

_MERCURY_PREFIX: Final = "event:"

LATCHED_EVENTS: Final[tuple[type[Event], ...]] = (MeetingsReady,)
"""Events that describe a lasting condition: a late subscriber gets the last one at once."""

Spawn = Callable[[Callable[[], Awaitable[None]]], None]

DEFAULT_STREAM_SIZE = 1000
"""Events an event stream buffers before it starts dropping the oldest."""


def mercury_events(kind: str) -> MercuryEventKey:
    """The key for Mercury events of one type (``"locus.difference"``) or namespace
    (``"locus"``): ``meetings.on(mercury_events("locus"), callback)``.

    :raises UnknownEventError: ``kind`` is empty or holds whitespace.
    """
    key = _MERCURY_PREFIX + kind
    check_event_key(key)
    return MercuryEventKey(key)


def _is_mercury_key(key: str) -> bool:
    if not key.startswith(_MERCURY_PREFIX):
        return False
    kind = key[len(_MERCURY_PREFIX) :]
    return bool(kind) and not any(character.isspace() for character in kind)


def check_event_key(key: object) -> None:
    """Accept an :data:`EventName`, a Mercury key (``"event:locus"``) or an event class.

    :raises UnknownEventError: anything else; the message suggests the closest name and
        lists the valid ones.
    """
    if isinstance(key, type) and issubclass(key, Event):
        return
    if isinstance(key, str) and (key in EVENT_NAMES or _is_mercury_key(key)):
        return
    close = difflib.get_close_matches(str(key), sorted(EVENT_NAMES), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise UnknownEventError(
        f"unknown event {key!r}{hint}: use one of {', '.join(sorted(EVENT_NAMES))}, "
        "an 'event:<namespace or type>' key (mercury_events('locus.difference')) "
        "or an Event class"
    )


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


def _matches_kind(key: EventKey, kind: type[Event]) -> bool | None:
    """Whether ``key`` matches every event of class ``kind`` (``True``), none (``False``),
    or depends on the event (``None``: an ``event:<...>`` key and a Mercury event)."""
    if not isinstance(key, str):
        return issubclass(kind, key)
    if key in ("*", kind.name):
        return True
    if issubclass(kind, MercuryEvent) and key.startswith(_MERCURY_PREFIX):
        return None
    return False


def _names(key: EventKey, event: Event) -> bool:
    """True when ``key`` asks for ``event``'s kind by its very name or class (not through
    ``"*"`` or a base class): who gets a latched event late."""
    return key == event.name or key is type(event)


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
        """:raises UnknownEventError: a key names no event.
        :raises ValueError: ``maxsize`` is below 1."""
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        for key in keys:
            check_event_key(key)
        self._keys = keys
        self._queue: deque[E] = deque(maxlen=maxsize)
        self._closed = False
        self.dropped = 0
        """How many events were dropped because the buffer was full."""

    def wants(self, event: Event) -> bool:
        """True if this stream was asked for ``event``'s kind (every event when no keys)."""
        return not self._keys or any(_matches(key, event) for key in self._keys)

    def wants_kind(self, kind: type[Event]) -> bool | None:
        """Whether this stream wants every event of class ``kind`` (``True``), none
        (``False``), or some (``None``: ask :meth:`wants` for each)."""
        verdicts = {_matches_kind(key, kind) for key in self._keys} if self._keys else {True}
        return True if True in verdicts else None if None in verdicts else False

    def names(self, event: Event) -> bool:
        """True if one of this stream's keys names ``event``'s kind exactly."""
        return any(_names(key, event) for key in self._keys)

    def put(self, event: Event) -> None:
        """Append ``event``, dropping the oldest one if full. Never blocks."""
        if self._closed:
            return
        if len(self._queue) == self._queue.maxlen:
            self.dropped += 1
            level = logging.WARNING if self.dropped == 1 else logging.DEBUG
            logger.log(level, "event stream full: dropped its oldest (%d so far)", self.dropped)
        # wants() admitted it, so it is of the asked kind (no cast(): a call per event)
        self._queue.append(event)  # type: ignore[arg-type]
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

    A reader with nothing to read waits on one wake-up: on asyncio a future of the loop (the
    cheapest wake-up there is, where a portable event costs two more coroutine layers and an
    ``asyncio.Event`` per wait), elsewhere a :class:`~.runtime.Flag` made by ``make_event``.
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
        self._loop: asyncio.AbstractEventLoop | None = None
        self._library_known = False  # whether _loop says it (at the first wait)
        self._waiter: asyncio.Future[None] | RuntimeEvent | None = None
        """What the waiting reader waits on; ``None`` when it is not waiting or was woken."""

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is None:
            return
        self._waiter = None  # the rest of this batch only appends
        if isinstance(waiter, asyncio.Future):
            if not waiter.done():  # cancelled while it waited: nothing to wake
                waiter.set_result(None)
        else:
            waiter.set()

    def __aiter__(self) -> AsyncEventStream[E]:
        return self

    async def __anext__(self) -> E:
        queue = self._queue
        while not queue:
            if self._closed:
                raise StopAsyncIteration
            await self._wait()
        return queue.popleft()

    async def _wait(self) -> None:
        """Until the next :meth:`_wake` (or a cancellation)."""
        if not self._library_known:
            if sniffio.current_async_library() == "asyncio":
                self._loop = asyncio.get_running_loop()
            self._library_known = True
        loop = self._loop
        waiter = loop.create_future() if loop is not None else self._make_event()
        self._waiter = waiter
        try:
            await (waiter if isinstance(waiter, asyncio.Future) else waiter.wait())
        finally:
            self._waiter = None

    async def aclose(self) -> None:
        """Stop receiving events (sync-coloured in effect; async for symmetry with ``aclose``
        elsewhere)."""
        self._on_close(self)
        self.close()

    async def __aenter__(self) -> AsyncEventStream[E]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


@dataclass(frozen=True, slots=True)
class _Route:
    """Who gets the events of one class (see the module docstring): the callbacks and the
    streams that may want them, each with whether to ask the event itself (``check``)."""

    latched: bool
    callbacks: tuple[tuple[_Listener, bool], ...]
    streams: tuple[tuple[weakref.ref[EventBuffer[Any]], bool], ...]


class Listeners:
    """The callbacks and event streams of one session. Thread-safe registration."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: list[_Listener] = []
        self._streams: weakref.WeakSet[EventBuffer[Any]] = weakref.WeakSet()
        self._latched: dict[type[Event], Event] = {}
        self._closed = False
        self._routes: dict[type[Event], _Route] = {}
        """By event class; replaced by an empty dict whenever the registry changes."""

    def on(
        self, key: EventKey, callback: Callable[[Any], object], *, once: bool = False
    ) -> Event | None:
        """Call ``callback(event)`` for every event matching ``key`` (once, if ``once``).

        When ``key`` names a latched event that already happened (``meetings:ready`` while
        ready), that event is returned: the caller must hand it to ``callback`` now (with
        :meth:`call`, on the thread where callbacks run). A ``once`` callback served that way
        is not kept.

        :raises UnknownEventError: ``key`` names no event.
        :raises TypeError: ``callback`` is not callable.
        """
        check_event_key(key)
        if not callable(callback):
            raise TypeError("callback must be callable")
        with self._lock:
            latched = self._latched_for(key)
            if latched is None or not once:
                self._listeners.append(_Listener(key, callback, once))
                self._routes = {}
        return latched

    def _latched_for(self, key: EventKey) -> Event | None:
        return next((event for event in self._latched.values() if _names(key, event)), None)

    def latched(self, kind: type[E]) -> E | None:
        """The last ``kind`` event delivered, while it holds (``MeetingsReady`` from
        ``meetings:ready`` until the session ends); ``None`` otherwise."""
        with self._lock:
            return cast("E | None", self._latched.get(kind))

    def off(self, key: EventKey, callback: Callable[[Any], object] | None = None) -> None:
        """Remove ``callback`` for ``key``, or every callback for ``key`` when ``None``.

        :raises UnknownEventError: ``key`` names no event.
        """
        check_event_key(key)
        with self._lock:
            self._listeners = [
                entry
                for entry in self._listeners
                if not (entry.key == key and callback in (None, entry.callback))
            ]
            self._routes = {}

    def subscribe(self, stream: EventBuffer[Any]) -> None:
        """Start feeding ``stream``, first with the latched events it names; a stream
        subscribed after :meth:`close` ends at once."""
        latched: list[Event] = []
        with self._lock:
            closed = self._closed
            if not closed:
                self._streams.add(stream)
                self._routes = {}
                latched = [event for event in self._latched.values() if stream.names(event)]
        if closed:
            stream.close()
            return
        for event in latched:
            stream.put(event)

    def unsubscribe(self, stream: EventBuffer[Any]) -> None:
        """Stop feeding ``stream``."""
        with self._lock:
            self._streams.discard(stream)
            self._routes = {}

    def deliver(self, event: Event, spawn: Spawn) -> None:
        """Hand ``event`` to every matching callback and stream; ``spawn`` runs async
        callbacks as tasks. Never raises, never blocks (beyond what sync callbacks do)."""
        kind = type(event)
        route = self._routes.get(kind)
        if route is None or route.latched:
            with self._lock:  # a latched event: remembered, and its route read, at once
                route = self._route(kind)
                if route.latched:
                    self._latched[kind] = event
        for entry, check in route.callbacks:
            if check and not _matches(entry.key, event):
                continue
            if entry.once and not self._fired_once(entry):
                continue
            self.call(entry.callback, event, spawn)
        for stream_ref, check in route.streams:
            stream = stream_ref()
            if stream is not None and (not check or stream.wants(event)):
                stream.put(event)

    def _route(self, kind: type[Event]) -> _Route:
        """Work out (and keep) the route of events of class ``kind``; holding the lock."""
        callbacks = []
        for entry in self._listeners:
            verdict = _matches_kind(entry.key, kind)
            if verdict is not False:
                callbacks.append((entry, verdict is None))
        streams = []
        for stream in self._streams:
            verdict = stream.wants_kind(kind)
            if verdict is not False:
                streams.append((weakref.ref(stream), verdict is None))
        route = _Route(issubclass(kind, LATCHED_EVENTS), tuple(callbacks), tuple(streams))
        self._routes[kind] = route
        return route

    def _fired_once(self, entry: _Listener) -> bool:
        """Take a ``once`` callback out, for its one call; ``False`` when it is gone already."""
        with self._lock:
            remaining = [other for other in self._listeners if other is not entry]
            if len(remaining) == len(self._listeners):
                return False
            self._listeners = remaining
            self._routes = {}
        return True

    def close(self) -> None:
        """End every stream and forget latched events (the session is over); callbacks stay
        registered."""
        with self._lock:
            self._closed = True
            self._latched.clear()
            streams = list(self._streams)
            self._streams.clear()
            self._routes = {}
        for stream in streams:
            stream.close()

    @staticmethod
    def call(callback: Callable[[Any], object], event: Event, spawn: Spawn) -> None:
        """Call ``callback(event)`` as a delivery does: an awaitable result runs as a task
        through ``spawn``; an exception is logged, never raised."""
        what = f"callback {_describe(callback)} for {event.name!r}"
        try:
            result = callback(event)
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


class EventMethods(abc.ABC):
    """``on``, ``once`` and ``off`` of ``webex.meetings``, written once for every face; a
    face says how it subscribes (:meth:`_subscribe`) and unsubscribes (:meth:`_unsubscribe`)."""

    @abc.abstractmethod
    def _subscribe(self, key: EventKey, callback: Callable[[Any], object], *, once: bool) -> None:
        """Add ``callback`` for ``key`` (a late ``meetings:ready`` subscriber is called)."""

    @abc.abstractmethod
    def _unsubscribe(self, key: EventKey, callback: Callable[[Any], object] | None) -> None:
        """Remove ``callback`` (or every callback) for ``key``."""

    @overload
    def on(self, key: type[E], callback: Callable[[E], object]) -> None: ...
    @overload
    def on(self, key: MercuryEventKey, callback: Callable[[MercuryEvent], object]) -> None: ...
    @overload
    def on(self, key: EventName, callback: Callable[[Any], object]) -> None: ...
    def on(self, key: EventKey, callback: Callable[[Any], object]) -> None:
        """Call ``callback(event)`` for each event named ``key`` (an :data:`EventName`:
        ``"meetings:ready"``, ``"meetings:registered"``, ``"meetings:unregistered"``,
        ``"network:disconnected"``, ``"network:connected"``, ``"event"``, ``"*"``...), of
        Mercury kind ``key`` (``mercury_events("locus")``) or of class ``key``.

        ``meetings:ready`` is latched: added while the instance is ready, the callback is
        called at once. ``async def`` callbacks run as tasks; exceptions are logged, never
        raised into the session. Callbacks run on the event loop (on the blocking face: its
        event-loop thread) and must not block.

        :raises UnknownEventError: ``key`` names no event (the message lists the names).
        """
        self._subscribe(key, callback, once=False)

    @overload
    def once(self, key: type[E], callback: Callable[[E], object]) -> None: ...
    @overload
    def once(self, key: MercuryEventKey, callback: Callable[[MercuryEvent], object]) -> None: ...
    @overload
    def once(self, key: EventName, callback: Callable[[Any], object]) -> None: ...
    def once(self, key: EventKey, callback: Callable[[Any], object]) -> None:
        """As :meth:`on`, for the next matching event only.

        :raises UnknownEventError: ``key`` names no event.
        """
        self._subscribe(key, callback, once=True)

    def off(self, key: EventKey, callback: Callable[[Any], object] | None = None) -> None:
        """Remove ``callback`` (or every callback) registered for ``key``.

        :raises UnknownEventError: ``key`` names no event.
        """
        self._unsubscribe(key, callback)
