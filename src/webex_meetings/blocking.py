"""The blocking face: the same API with plain methods, for code without an event loop.

::

    from webex_meetings.blocking import Webex

    with Webex.init(credentials={"access_token": token}) as webex:
        webex.meetings.on("meetings:registered", print)
        webex.meetings.register()
        for event in webex.meetings.events(MercuryEvent, timeout=30):
            ...
        webex.meetings.unregister()

Theory of operation
-------------------
Each instance runs the async face (:class:`webex_meetings.webex.Webex`, anyio runtime on
asyncio) on a private event-loop thread, reached through an anyio
:class:`~anyio.from_thread.BlockingPortal`. The ``async with`` of the async face is entered and
left on that thread (``wrap_async_context_manager``), so it owns the background work exactly as
it does for async code. The thread is a daemon and ``close()`` also runs at interpreter exit, so
a forgotten ``close()`` still unregisters the device instead of hanging the exit.

* Every method is safe to call from any thread. A blocking call blocks *the calling thread*
  only; from inside a running asyncio loop, pass ``wait=False`` to get a
  :class:`concurrent.futures.Future` and ``await asyncio.wrap_future(future)``, so that the
  loop is never blocked. Cancelling that future cancels the call: a cancelled ``register()``
  is rolled back, or, if it finished in that very instant, stays completed (never half-done;
  ``meetings.registered`` tells which).
* ``timeout=`` on ``register()``/``unregister()`` bounds the wait; on expiry the call is
  cancelled as above and :class:`~webex_meetings.core.errors.TimeoutError` is raised once
  the cancellation has settled: a registration's rollback (its device deleted) is done, or
  gave up after ``unregister_timeout``. A ``KeyboardInterrupt`` during the wait cancels the
  call the same way.
* Callbacks (``on``) run **on the event-loop thread**: they must not block, and may not make
  blocking calls on this instance (that would wait for the very thread they run on; such a
  call raises :class:`~webex_meetings.core.errors.LocalProtocolError`). ``wait=False`` calls
  are allowed there.
* The instance starts on first use (``register()``, ``events()``, ``with``, or ``start()``);
  ``close()`` unregisters a held device, stops everything and joins the thread.
* ``meetings.ready`` is true from start (``meetings:ready``) until ``close()``. A
  ``meetings:ready`` callback added while ready is called at once, on the event-loop thread
  like every callback (from a plain thread, ``on()`` hands it over there and returns).
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

import anyio
from anyio.from_thread import BlockingPortal

from .adapters.driver import Session
from .adapters.listeners import (
    DEFAULT_STREAM_SIZE,
    EventBuffer,
    EventKey,
    EventMethods,
    MercuryEventKey,
)
from .adapters.token_provider import TokenProvider
from .core.errors import CancelledCommandError, LocalProtocolError, TimeoutError
from .core.events import DeviceInfo, Event, MercuryEvent
from .core.lifecycle import State
from .options import (
    DEFAULT_UNREGISTER_TIMEOUT,
    CredentialsInit,
    WebexOptions,
    check_options,
    with_credentials,
)
from .transports.base import HttpTransport, WebSocketConnector
from .webex import Webex as AsyncWebex

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["BlockingEventStream", "Meetings", "Webex"]

logger = logging.getLogger("webex_meetings.blocking")

E = TypeVar("E", bound=Event)
Call = Callable[[], Awaitable[None]]


_SETTLE_GRACE = 1.0
"""Seconds a cancelled blocking call may take beyond ``unregister_timeout`` to end."""


def _signalling(call: Call, ended: threading.Event) -> Call:
    """``call`` that sets ``ended`` once it has ended, however (cancelled included)."""

    async def run() -> None:
        try:
            await call()
        finally:
            ended.set()

    return run


class _LoopThread:
    """A daemon thread running an asyncio loop that serves one blocking portal."""

    def __init__(self) -> None:
        ready: concurrent.futures.Future[BlockingPortal] = concurrent.futures.Future()
        self._thread = threading.Thread(
            target=self._run, args=(ready,), name="webex-meetings-loop", daemon=True
        )
        self._thread.start()
        self.portal = ready.result()

    def _run(self, ready: concurrent.futures.Future[BlockingPortal]) -> None:
        try:
            anyio.run(self._serve, ready, backend="asyncio")
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc)
            else:
                logger.error("the event-loop thread failed: %s", type(exc).__name__)

    async def _serve(self, ready: concurrent.futures.Future[BlockingPortal]) -> None:
        async with BlockingPortal() as portal:
            ready.set_result(portal)
            await portal.sleep_until_stopped()

    def is_current(self) -> bool:
        """True when called on the loop thread itself."""
        return threading.current_thread() is self._thread  # idents of ended threads recur

    def stop(self) -> None:
        """Stop the loop and join the thread. Idempotent."""
        if self._thread.is_alive():
            self.portal.call(self.portal.stop)
            self._thread.join()


def _shut_down(context: AbstractContextManager[Any], loop: _LoopThread) -> None:
    """Leave the async face's ``async with`` and stop the loop (``close()`` and exit hook)."""
    try:
        context.__exit__(None, None, None)
    finally:
        loop.stop()


class Webex:
    """The blocking :class:`webex_meetings.webex.Webex`: the same keywords
    (:class:`~webex_meetings.options.WebexOptions`, the one definition both faces share; no
    ``runtime``), the same ``meetings`` API with plain methods. See the module docstring for
    threading rules.

    :raises ConfigurationError: no usable credentials, or an invalid option value.
    :raises TypeError: an unknown keyword.
    """

    def __init__(self, **options: Unpack[WebexOptions]) -> None:
        check_options(options, WebexOptions)
        self._setup(AsyncWebex(**options))

    @classmethod
    def init(
        cls, credentials: CredentialsInit | None = None, /, **options: Unpack[WebexOptions]
    ) -> Webex:
        """``Webex.init(credentials={"access_token": ...}, config=...)``.

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
        unregister_timeout: float = DEFAULT_UNREGISTER_TIMEOUT,
        token_provider: TokenProvider | None = None,
    ) -> Webex:
        """As :meth:`webex_meetings.webex.Webex.from_session`."""
        webex = cls.__new__(cls)
        webex._setup(
            AsyncWebex.from_session(
                session,
                http=http,
                websockets=websockets,
                unregister_timeout=unregister_timeout,
                token_provider=token_provider,
            )
        )
        return webex

    def _setup(self, inner: AsyncWebex) -> None:
        self._inner = inner
        self._lock = threading.Lock()
        self._loop: _LoopThread | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self._closed = False
        self.meetings = Meetings(self)
        """The meetings plugin: ``register()``, ``unregister()``, ``on()``, ``events()``."""

    def __repr__(self) -> str:
        return f"<blocking Webex state={self.meetings.state.value}>"

    def start(self) -> None:
        """Start the event-loop thread and initialize (emits ``meetings:ready``). Called by
        the first method that needs it; idempotent.

        :raises NotAuthorizedError: the credentials cannot authorize.
        :raises LocalProtocolError: the instance was closed.
        """
        if self._on_loop_thread():
            return  # a callback during start (meetings:ready): started as far as it can tell
        with self._lock:
            if self._closed:
                raise LocalProtocolError("this Webex instance was closed")
            if self._finalizer is not None:
                return
            # Known before entering: a meetings:ready callback runs on this loop meanwhile.
            self._loop = loop = _LoopThread()
            context = loop.portal.wrap_async_context_manager(self._inner)
            try:
                context.__enter__()
            except BaseException:
                self._loop = None
                loop.stop()
                raise
            self._finalizer = weakref.finalize(self, _shut_down, context, loop)

    def _on_loop_thread(self) -> bool:
        loop = self._loop
        return loop is not None and loop.is_current()

    def close(self) -> None:
        """Unregister a held device (bounded by ``unregister_timeout``), stop all background
        work and the event-loop thread. Idempotent.

        :raises LocalProtocolError: called from a callback (on the event-loop thread).
        """
        if self._on_loop_thread():
            raise LocalProtocolError("close() cannot be called from a callback")
        with self._lock:
            self._closed = True
            finalizer = self._finalizer
        if finalizer is not None:
            finalizer()

    def __enter__(self) -> Webex:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- calling into the loop ------------------------------------------------------------

    def call(self, call: Call, *, wait: bool, timeout: float | None) -> Any:
        """Run ``call()`` on the loop: wait for it, or return a Future when not ``wait``."""
        if self._on_loop_thread():
            if wait:
                raise LocalProtocolError(
                    "a blocking call from a callback would deadlock: use wait=False"
                )
            return self._spawn_here(call)
        self.start()
        assert self._loop is not None
        if not wait:
            return self._loop.portal.start_task_soon(call)
        ended = threading.Event()
        future = self._loop.portal.start_task_soon(_signalling(call, ended))
        return self._wait(future, timeout, ended)

    def _spawn_here(self, call: Call) -> concurrent.futures.Future[None]:
        future: concurrent.futures.Future[None] = concurrent.futures.Future()
        future.set_running_or_notify_cancel()

        async def run() -> None:
            try:
                await call()
            except Exception as exc:
                future.set_exception(exc)
            else:
                future.set_result(None)

        self._inner.running_driver().spawn(run)
        return future

    def subscribe(self, key: EventKey, callback: Callable[[Any], object], *, once: bool) -> None:
        """Add ``callback`` for ``key``; a late subscriber to a latched event
        (``meetings:ready`` while ready) is called at once on the event-loop thread: right
        here from a callback, handed over from any other thread.

        :raises UnknownEventError: ``key`` names no event.
        """
        latched = self._inner.listeners.on(key, callback, once=once)
        if latched is None:
            return
        if self._on_loop_thread():
            self._inner.hand_over(callback, latched)
            return

        async def call_on_loop() -> None:
            self._inner.hand_over(callback, latched)

        loop = self._loop
        try:
            if loop is not None:
                loop.portal.start_task_soon(call_on_loop)
        except RuntimeError:  # closing at this very moment: no longer ready
            logger.debug("meetings:ready not replayed: the instance is closing")

    def _wait(
        self, future: concurrent.futures.Future[None], timeout: float | None, ended: threading.Event
    ) -> None:
        try:
            future.result(timeout)
        except concurrent.futures.TimeoutError:
            self._cancel_and_settle(future, ended)
            raise TimeoutError(f"no outcome within {timeout} s; the call was cancelled") from None
        except concurrent.futures.CancelledError:
            raise CancelledCommandError("the call was cancelled: the session closed") from None
        except BaseException:
            self._cancel_and_settle(future, ended)  # KeyboardInterrupt: cancel it the same way
            raise

    def _cancel_and_settle(
        self, future: concurrent.futures.Future[None], ended: threading.Event
    ) -> None:
        """Cancel the call on the loop and wait until it has really ended, so that a cancelled
        ``register()`` has rolled back (its device deleted) when the caller sees the error.
        The rollback bounds itself by ``unregister_timeout``; this wait adds a grace."""
        future.cancel()
        ended.wait(self._inner.unregister_timeout + _SETTLE_GRACE)


class Meetings(EventMethods):
    """``webex.meetings`` with plain methods (``on``, ``once`` and ``off`` from
    :class:`~webex_meetings.adapters.listeners.EventMethods`; callbacks run on the event-loop
    thread)."""

    def __init__(self, webex: Webex) -> None:
        self._webex = webex
        self._async = webex._inner.meetings

    @property
    def ready(self) -> bool:
        """True from ``meetings:ready`` (the instance started) until ``close()``."""
        return self._async.ready

    @property
    def registered(self) -> bool:
        """True while the device is registered and Mercury is online (or reconnecting)."""
        return self._async.registered

    @property
    def state(self) -> State:
        """The lifecycle state."""
        return self._async.state

    @property
    def device(self) -> DeviceInfo | None:
        """The registered device, while one is held."""
        return self._async.device

    @overload
    def register(
        self,
        *,
        wait: Literal[True] = ...,
        timeout: float | None = ...,
        rollback_on_cancel: bool = ...,
    ) -> None: ...
    @overload
    def register(
        self, *, wait: Literal[False], timeout: float | None = ..., rollback_on_cancel: bool = ...
    ) -> concurrent.futures.Future[None]: ...
    def register(
        self, *, wait: bool = True, timeout: float | None = None, rollback_on_cancel: bool = True
    ) -> concurrent.futures.Future[None] | None:
        """Register; blocks the calling thread until done (``wait=False``: returns a
        :class:`concurrent.futures.Future` at once). A call cancelled by ``timeout``,
        ``KeyboardInterrupt`` or ``future.cancel()`` is rolled back unless
        ``rollback_on_cancel`` is false.

        :raises WebexError: a step failed (nothing is left behind).
        :raises TimeoutError: no outcome within ``timeout`` seconds; the call was cancelled
            and its rollback done (bounded by ``unregister_timeout``) before this is raised.
        :raises LocalProtocolError: a blocking call from a callback.
        """

        async def register() -> None:
            await self._async.register(rollback_on_cancel=rollback_on_cancel)

        result: concurrent.futures.Future[None] | None
        result = self._webex.call(register, wait=wait, timeout=timeout)
        return result

    @overload
    def unregister(
        self,
        *,
        wait: Literal[True] = ...,
        timeout: float | None = ...,
        keep_device: bool = ...,
    ) -> None: ...
    @overload
    def unregister(
        self, *, wait: Literal[False], timeout: float | None = ..., keep_device: bool = ...
    ) -> concurrent.futures.Future[None]: ...
    def unregister(
        self, *, wait: bool = True, timeout: float | None = None, keep_device: bool = False
    ) -> concurrent.futures.Future[None] | None:
        """Close Mercury and delete the device; blocks the calling thread until done
        (``wait=False``: returns a Future). A cancelled call completes in the background.
        ``keep_device=True`` leaves the device for the next process (the warm path; see the
        async face's ``unregister``).

        :raises WebexError: the delete failed (the device is still held).
        :raises TimeoutError: no outcome within ``timeout`` seconds.
        :raises LocalProtocolError: a blocking call from a callback.
        """
        result: concurrent.futures.Future[None] | None

        async def unregister() -> None:
            await self._async.unregister(keep_device=keep_device)

        result = self._webex.call(unregister, wait=wait, timeout=timeout)
        return result

    def _subscribe(self, key: EventKey, callback: Callable[[Any], object], *, once: bool) -> None:
        self._webex.subscribe(key, callback, once=once)

    def _unsubscribe(self, key: EventKey, callback: Callable[[Any], object] | None) -> None:
        self._async.off(key, callback)

    @overload
    def events(
        self, key: type[E], /, *, timeout: float | None = ..., maxsize: int = ...
    ) -> BlockingEventStream[E]: ...
    @overload
    def events(
        self, key: MercuryEventKey, /, *, timeout: float | None = ..., maxsize: int = ...
    ) -> BlockingEventStream[MercuryEvent]: ...
    @overload
    def events(
        self, *keys: EventKey, timeout: float | None = ..., maxsize: int = ...
    ) -> BlockingEventStream[Event]: ...
    def events(
        self, *keys: EventKey, timeout: float | None = None, maxsize: int = DEFAULT_STREAM_SIZE
    ) -> BlockingEventStream[Any]:
        """A blocking iterator over the events matching ``keys`` (all when none). Iteration
        ends when no event came within ``timeout`` seconds (``None``: wait as long as it
        takes) or the session closed. Buffers ``maxsize`` events, dropping the oldest. Asked
        for one event class, it is typed by it: ``events(MercuryEvent)`` yields
        ``MercuryEvent``."""
        listeners = self._webex._inner.listeners
        stream: BlockingEventStream[Any] = BlockingEventStream(
            keys, maxsize, timeout, listeners.unsubscribe
        )
        listeners.subscribe(stream)
        self._webex.start()
        return stream


class BlockingEventStream(EventBuffer[E]):
    """``for event in webex.meetings.events(timeout=...)``: thread-safe, one reader."""

    def __init__(
        self,
        keys: tuple[EventKey, ...],
        maxsize: int,
        timeout: float | None,
        on_close: Callable[[EventBuffer[Any]], None],
    ) -> None:
        super().__init__(keys, maxsize)
        self._timeout = timeout
        self._on_close = on_close
        self._condition = threading.Condition()

    def _wake(self) -> None:
        with self._condition:
            self._condition.notify_all()

    def get(self, timeout: float | None = None) -> E | None:
        """The next event; ``None`` when none came within ``timeout`` or the stream ended."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._condition:
            while not self._queue:
                remaining = None if deadline is None else deadline - time.monotonic()
                if self._closed or (remaining is not None and remaining <= 0):
                    return None
                self._condition.wait(remaining)
            return self._queue.popleft()

    def __iter__(self) -> Iterator[E]:
        return self

    def __next__(self) -> E:
        event = self.get(self._timeout)
        if event is None:
            raise StopIteration
        return event

    def close(self) -> None:
        """Stop receiving events; iteration ends once the buffer is drained."""
        self._on_close(self)
        super().close()

    def __enter__(self) -> BlockingEventStream[E]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
