"""The driver: runs what the sans-IO session asks for and feeds back what happened.

Theory of operation
-------------------
The session (:class:`~webex_meetings.core.session.MeetingsSession`) is synchronous and not
thread-safe, so it is only ever called from the event loop's thread, one input at a time.
Everything (user commands, HTTP responses, websocket frames, timers) is an
:class:`~webex_meetings.core.inputs.Input` handed to :meth:`Driver.feed` (or
:meth:`~Driver.submit_command`), which never blocks: it appends the input to a queue and, unless
an input is being handled at that moment, handles the queue right there, in the caller's
turn of the loop: ``session.handle(input, now=clock())``, then the returned effects in list
order. An input fed while another is handled (by an effect, or a user callback) waits in the
queue and is handled right after it, so ``handle`` is never re-entered and inputs keep their
order. No task and no channel stand between what happened and the session. Running an effect
never blocks either, it only starts things (table :data:`_RUNNERS`):

* ``SendHttpRequest``: a task per request; its outcome comes back as ``HttpResponseReceived`` or
  ``HttpRequestFailed`` (timeouts and transport errors mapped to our short message).
* ``OpenWebSocket``: a task that connects (:class:`~.io_tasks.SocketRunner`). A pushing
  connection (asyncio's) then runs without any task: its messages are fed from the loop's
  callback, and ``SendWebSocketText``/``CloseWebSocket`` are written at once. Other
  connections keep a reader task and a writer task. ``AbortWebSocket`` drops the connection.
* ``StartTimer``/``CancelTimer``: one heap of deadlines per driver
  (:class:`~.runtime.TimerHeap`) and one :class:`~.runtime.Alarm` armed for the earliest (a
  ``call_at`` on asyncio, one sleeping task on trio): no task per timer, and a cancelled
  timer is only forgotten.
* ``EmitEvent``: handed to :class:`~.listeners.Listeners` (callbacks and event streams).
* ``CompleteCommand``: resolves the :class:`CommandTicket` the caller awaits.

Every id is the core's, except command ids, which :meth:`Driver.submit_command` allocates.
Inputs naming something the core no longer waits for are ignored by the core, so no race here
needs care. All tasks live in one task group owned by ``async with Driver(...)`` and held by
the driver's one long-lived task (:meth:`Driver._keep_group`); its cancel scope is shielded:
cancelling the owner's surroundings (a timeout around ``async with``) must
not kill the work that unregisters on the way out. Leaving the block unregisters a held device
(bounded by ``unregister_timeout``), sends ``Shutdown``, gives websockets ``shutdown_grace``
seconds to finish their close handshake, then drops every socket and cancels every task:
nothing outlives it. A registration still running when the block is left (or whose
``register()`` was cancelled) is abandoned at once with a ``Cancel`` input, and its device
deleted; when WDM does not confirm a deletion in time, a warning names the device.

The driver never imports anyio or trio: it gets its primitives from a
:class:`~.runtime.Runtime`, so :mod:`.anyio_runtime` and :mod:`.trio_runtime` stay thin.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, suppress
from typing import Any, Final, Protocol

from ..core.effects import (
    AbortWebSocket,
    CancelTimer,
    CloseWebSocket,
    CompleteCommand,
    Effect,
    EmitEvent,
    OpenWebSocket,
    RequestToken,
    SendHttpRequest,
    SendWebSocketText,
    StartTimer,
    UpdateDeviceStore,
)
from ..core.errors import CancelledCommandError, WebexError
from ..core.events import DeviceInfo
from ..core.inputs import (
    Cancel,
    Input,
    Register,
    Shutdown,
    TimerFired,
    Unregister,
    WebSocketClosed,
)
from ..core.lifecycle import State
from ..core.redaction import redact
from ..transports.base import HttpTransport, WebSocketConnector
from .io_tasks import SocketRunner, exchange_http
from .listeners import Listeners, log_callback_error
from .runtime import Alarm, Flag, Runtime, TaskGroup, TimerHeap
from .token_provider import ProviderCalls, TokenProvider

__all__ = ["CommandTicket", "Driver", "Session"]

logger = logging.getLogger("webex_meetings.adapters.driver")


class Session(Protocol):
    """What the driver uses of a :class:`~webex_meetings.core.session.MeetingsSession`."""

    @property
    def state(self) -> State: ...

    @property
    def registered(self) -> bool: ...

    @property
    def device(self) -> DeviceInfo | None: ...

    @property
    def devices_to_delete(self) -> tuple[str, ...]: ...

    def handle(self, event: Input, *, now: float) -> list[Effect]: ...


def _closed_text(event: WebSocketClosed) -> str:
    return f"WebSocketClosed(socket_id={event.socket_id}, code={event.code}, reason=" + (
        f"{redact(event.reason)!r})"
    )


_LOG_TEXT: Final[dict[type, Callable[[Any], str]]] = {
    # Close codes are not secrets, but ``code=<digits>`` reads like an OAuth code to redact().
    CloseWebSocket: repr,  # its reason is ours
    WebSocketClosed: _closed_text,
}


def debug(what: str, value: object) -> None:
    """Log ``value``'s repr at DEBUG, redacted once more for good measure (reprs of inputs
    and effects already hide secrets; server texts inside them are scrubbed here too)."""
    if logger.isEnabledFor(logging.DEBUG):
        text = _LOG_TEXT.get(type(value), lambda v: redact(repr(v)))(value)
        logger.debug("%s %s", what, text)


class CommandTicket:
    """The outcome of one submitted input, awaited by whoever submitted it.

    ``Register``/``Unregister`` tickets resolve on the core's ``CompleteCommand``; other inputs
    (``Initialize``, ``Shutdown``) as soon as ``handle`` returned or raised.
    """

    __slots__ = ("_callbacks", "_done", "_error", "input")

    def __init__(self, input: Input, done: Flag) -> None:
        self.input = input
        self._done = done
        self._error: BaseException | None = None
        self._callbacks: list[Callable[[CommandTicket], None]] = []

    @property
    def done(self) -> bool:
        """True once the outcome is known."""
        return self._done.is_set()

    @property
    def error(self) -> BaseException | None:
        """The failure, or ``None`` (also while not done)."""
        return self._error

    def add_done_callback(self, callback: Callable[[CommandTicket], None]) -> None:
        """Call ``callback(ticket)`` on the event loop once done (at once if already done)."""
        if self.done:
            callback(self)
        else:
            self._callbacks.append(callback)

    def resolve(self, error: BaseException | None) -> None:
        """Record the outcome (first one wins) and wake the waiters."""
        if self.done:
            return
        self._error = error
        self._done.set()
        for callback in self._callbacks:
            try:
                callback(self)
            except Exception as exc:
                log_callback_error("command done-callback", exc)
        self._callbacks.clear()

    async def wait(self) -> None:
        """Wait for the outcome.

        :raises WebexError: the command failed (the core's error, or
            :class:`~webex_meetings.core.errors.CancelledCommandError` at shutdown).
        """
        await self._done.wait()
        if self._error is not None:
            raise self._error


class Driver:
    """Pumps one session in one task group; see the module docstring.

    Use as ``async with Driver(...) as driver:``. ``unregister_timeout`` bounds the unregister
    done on exit; ``shutdown_grace`` bounds how long websockets may take to finish closing
    after ``Shutdown``; then everything still running (requests in flight, async callbacks,
    sockets) is dropped or cancelled.
    """

    __slots__ = (
        "_accepting",
        "_active",
        "_alarm",
        "_clock",
        "_close_http",
        "_command_ids",
        "_group",
        "_group_cm",
        "_handling",
        "_http",
        "_idle",
        "_lingering",
        "_pending",
        "_queue",
        "_sockets",
        "_started",
        "_timers",
        "_timers_moved",
        "_update_store",
        "listeners",
        "runtime",
        "session",
        "shutdown_grace",
        "token_provider",
        "unregister_timeout",
    )

    def __init__(
        self,
        session: Session,
        runtime: Runtime,
        *,
        http: HttpTransport,
        websockets: WebSocketConnector,
        listeners: Listeners | None = None,
        clock: Callable[[], float] = time.time,
        unregister_timeout: float = 10.0,
        shutdown_grace: float = 2.0,
        close_http: bool = False,
        token_provider: TokenProvider | None = None,
        update_store: Callable[[UpdateDeviceStore], None] | None = None,
    ) -> None:
        self.session = session
        self.runtime = runtime
        self.listeners = listeners if listeners is not None else Listeners()
        self.unregister_timeout = unregister_timeout
        self.shutdown_grace = shutdown_grace
        self.token_provider = ProviderCalls(token_provider)
        """Runs for each ``RequestToken`` (see :mod:`.token_provider`)."""
        self._http = http
        self._close_http = close_http
        self._update_store = update_store
        self._clock = clock
        self._command_ids = itertools.count(1)
        self._pending: dict[int, CommandTicket] = {}
        self._queue: deque[tuple[Input, CommandTicket | None]] = deque()
        self._handling = False
        self._accepting = False
        self._timers = TimerHeap()
        self._timers_moved = False
        """A timer started or cancelled since the alarm was last armed."""
        self._alarm: Alarm | None = None
        self._sockets = SocketRunner(websockets, runtime, self.feed, self._maybe_idle)
        self._group_cm: AbstractAsyncContextManager[TaskGroup] | None = None
        self._group: TaskGroup | None = None
        self._active = 0
        self._lingering = 0
        self._idle: Flag | None = None
        self._started = False

    # -- lifetime -------------------------------------------------------------------------

    async def __aenter__(self) -> Driver:
        if self._started:
            raise RuntimeError("a Driver runs once")
        self._started = True
        self._group_cm = self.runtime.open_task_group()
        outer = await self._group_cm.__aenter__()
        self._group = await outer.start(self._keep_group)
        self._alarm = self.runtime.start_alarm(self._group, self._fire_timers)
        self._accepting = True
        return self

    async def _keep_group(self, *, task_status: Any) -> None:
        """The driver's one long-lived task: it holds the task group every other task runs
        in, with a shielded cancel scope. Shielded, because cancelling the owner's
        surroundings (a timeout around ``async with``) must not kill the work that
        unregisters on the way out; in a task of its own, because a shield entered in the
        owner's task would also shield the owner's ``async with`` body."""
        async with self.runtime.open_task_group() as group:
            group.cancel_scope.shield = True
            task_status.started(group)
            await self.runtime.event().wait()  # until __aexit__ cancels the group

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._group is not None
        assert self._group_cm is not None
        try:
            with self.runtime.cancel_scope(shield=True):
                await self._wind_down()
        finally:
            try:
                self._stop_accepting()
                if self._alarm is not None:
                    self._alarm.close()
                self._sockets.abort_all()
                self._group.cancel_scope.cancel()
                await self._group_cm.__aexit__(None, None, None)
            finally:
                if self._close_http:
                    with self.runtime.cancel_scope(shield=True):
                        await self._http.aclose()

    async def _wind_down(self) -> None:
        if self._holds_device():
            self._cancel_registrations()  # abandoned at once, their devices deleted first
            unregister = self.submit_command(Unregister)
            await self._settle(unregister, self.unregister_timeout)
            if not unregister.done:
                self._warn_left_behind(f"within unregister_timeout ({self.unregister_timeout} s)")
        await self._settle(self.submit_input(Shutdown()), None)
        with self.runtime.move_on_after(self.shutdown_grace):
            while self._lingering or self._sockets.pushing:
                self._idle = self.runtime.event()
                await self._idle.wait()
        self._stop_accepting()
        self.listeners.close()

    def _maybe_idle(self) -> None:
        """Wake the wind-down once no task may linger and no socket is open."""
        if not self._lingering and not self._sockets.pushing and self._idle is not None:
            self._idle.set()

    def _cancel_registrations(self) -> None:
        for command_id, ticket in list(self._pending.items()):
            if isinstance(ticket.input, Register):
                self.feed(Cancel(command_id))

    def _warn_left_behind(self, when: str) -> None:
        urls = list(self.session.devices_to_delete)
        device = self.session.device
        if device is not None and device.url not in urls:
            urls.append(device.url)
        if urls:
            logger.warning(
                "WDM did not confirm the deletion of %s %s: it may stay registered "
                "(an ephemeral device lapses after its ttl)",
                ", ".join(urls),
                when,
            )

    def _holds_device(self) -> bool:
        registering = any(isinstance(t.input, Register) for t in self._pending.values())
        return registering or not self.session.state.at_rest

    async def _settle(self, ticket: CommandTicket, timeout: float | None) -> None:
        with self.runtime.move_on_after(timeout if timeout is not None else float("inf")):
            try:
                await ticket.wait()
            except WebexError as exc:
                logger.warning("%s failed while closing: %s", type(ticket.input).__name__, exc)
        if not ticket.done:
            logger.warning("%s did not finish within %s s", type(ticket.input).__name__, timeout)

    def _stop_accepting(self) -> None:
        self._accepting = False
        self._queue.clear()
        for ticket in list(self._pending.values()):
            ticket.resolve(CancelledCommandError("the session was closed"))
        self._pending.clear()

    # -- commands -------------------------------------------------------------------------

    def submit_command(
        self, kind: type[Register] | type[Unregister], **fields: Any
    ) -> CommandTicket:
        """Queue ``Register``/``Unregister`` (with ``fields``) under a fresh command id. Never
        blocks."""
        command = kind(next(self._command_ids), **fields)
        ticket = CommandTicket(command, self.runtime.event())
        if not self._accepting:
            ticket.resolve(CancelledCommandError(_NOT_RUNNING))
        else:
            self._pending[command.command_id] = ticket
            self._handle_soon(command, ticket)
        return ticket

    async def register(self, *, rollback_on_cancel: bool = True) -> None:
        """Register and wait.

        If the wait is cancelled (or interrupted) and the session was not registered before,
        the registration is rolled back unless ``rollback_on_cancel`` is false: it is
        abandoned at once (``Cancel``) and the device it created deleted before this returns
        (the wait for that is bounded by ``unregister_timeout``); one that finished just
        before is unregistered. Never half-done, never running on in the background.

        :raises WebexError: the registration failed (nothing is left behind).
        """
        held_before = self.session.registered
        ticket = self.submit_command(Register)
        try:
            await ticket.wait()
        except BaseException:
            if rollback_on_cancel and not held_before and ticket.error is None:
                with self.runtime.cancel_scope(shield=True):
                    await self._roll_back(ticket)
            raise

    async def _roll_back(self, ticket: CommandTicket) -> None:
        logger.debug("register() was cancelled: rolling it back")
        with self.runtime.move_on_after(self.unregister_timeout) as deadline:
            if not ticket.done:
                assert isinstance(ticket.input, Register)
                self.feed(Cancel(ticket.input.command_id))
                await self._outcome(ticket)
            if ticket.error is None:  # it registered before the Cancel arrived
                await self._outcome(self.submit_command(Unregister))
        if deadline.cancel_called:
            self._warn_left_behind(f"within unregister_timeout ({self.unregister_timeout} s)")

    @staticmethod
    async def _outcome(ticket: CommandTicket) -> None:
        with suppress(WebexError):
            await ticket.wait()

    async def unregister(self, *, keep_device: bool = False) -> None:
        """Unregister and wait (``keep_device``: see :class:`Unregister`). Cancelling the
        wait does not stop the unregister: it completes in the background.

        :raises WebexError: the device could not be deleted (the session still holds it).
        """
        await self.submit_command(Unregister, keep_device=keep_device).wait()

    def submit_input(self, input: Input) -> CommandTicket:
        """Hand an id-less command (``Initialize``, ``Shutdown``) to the session; its ticket
        resolves when the core has handled it, with whatever ``handle`` raised. Never
        blocks."""
        ticket = CommandTicket(input, self.runtime.event())
        if not self._accepting:
            ticket.resolve(CancelledCommandError(_NOT_RUNNING))
        else:
            self._handle_soon(input, ticket)
        return ticket

    def feed(self, input: Input) -> None:
        """Hand an input from the outside world to the session: now, or right after the
        input being handled. Never blocks; dropped once the driver has stopped."""
        if self._accepting:
            self._handle_soon(input, None)

    @property
    def active_tasks(self) -> int:
        """Background tasks (requests, connecting or non-pushing sockets, async callbacks)
        still running."""
        return self._active

    @property
    def pending_timers(self) -> int:
        """The core's timers started and neither fired nor cancelled."""
        return len(self._timers)

    def spawn(self, func: Callable[[], Awaitable[None]], *, linger: bool = False) -> None:
        """Run ``func()`` as a background task of this driver. ``linger``: the task may run
        on for ``shutdown_grace`` after ``Shutdown`` (a websocket's close handshake); others
        are cancelled as soon as the core has shut down."""
        if self._group is None:
            raise RuntimeError("the driver is not running")
        self._active += 1
        self._lingering += linger
        self._group.start_soon(self._tracked, func, linger)

    async def _tracked(self, func: Callable[[], Awaitable[None]], linger: bool) -> None:
        try:
            await func()
        except Exception as exc:
            log_callback_error(f"background task {getattr(func, '__qualname__', func)!r}", exc)
        finally:
            self._active -= 1
            self._lingering -= linger
            self._maybe_idle()

    # -- handling inputs ------------------------------------------------------------------

    def _handle_soon(self, input: Input, ticket: CommandTicket | None) -> None:
        queue = self._queue
        if self._handling or queue:
            queue.append((input, ticket))
            if self._handling:
                return  # the input being handled is on the stack: this one comes right after
        self._handling = True
        try:
            if not queue:  # the usual case: nothing waits, this input goes first
                self._step(input, ticket)
            while queue:
                self._step(*queue.popleft())
        finally:
            self._handling = False
        if self._timers_moved:
            self._rearm()

    def _step(self, input: Input, ticket: CommandTicket | None) -> None:
        logging_on = logger.isEnabledFor(logging.DEBUG)
        if logging_on:
            debug("input", input)
        try:
            effects = self.session.handle(input, now=self._clock())
        except Exception as exc:
            self._refuse(input, ticket, exc)
            return
        for effect in effects:
            if logging_on:
                debug("effect", effect)
            runner = _RUNNERS.get(type(effect))
            if runner is None:
                logger.warning("no runner for effect %s; ignored", type(effect).__name__)
                continue
            try:
                runner(self, effect)
            except Exception as exc:
                log_callback_error(f"running {type(effect).__name__}", exc)
        if ticket is not None and not isinstance(input, (Register, Unregister)):
            ticket.resolve(None)

    def _refuse(self, input: Input, ticket: CommandTicket | None, exc: Exception) -> None:
        if isinstance(input, (Register, Unregister)):
            self._pending.pop(input.command_id, None)
        if ticket is not None:
            debug("input refused", exc)
            ticket.resolve(exc)
        else:
            log_callback_error(f"the session, handling {type(input).__name__},", exc)

    # -- timers ---------------------------------------------------------------------------

    def _fire_timers(self) -> None:
        """The alarm rang: feed ``TimerFired`` for each timer due, earliest first (one that
        an earlier one's effects cancelled or restarted does not fire)."""
        assert self._alarm is not None
        for deadline, timer_id in self._timers.expired(self._alarm.now()):
            if self._timers.take(timer_id, deadline):
                self.feed(TimerFired(timer_id))
        self._rearm()

    def _rearm(self) -> None:
        self._timers_moved = False
        if self._alarm is not None:
            self._alarm.arm(self._timers.next_deadline())

    # -- effect runners: each only starts something, none blocks --------------------------

    def _send_http_request(self, effect: SendHttpRequest) -> None:
        self.spawn(lambda: exchange_http(self._http, effect, self.feed))

    def _open_websocket(self, effect: OpenWebSocket) -> None:
        self.spawn(self._sockets.open(effect.socket_id, effect.url), linger=True)

    def _send_websocket_text(self, effect: SendWebSocketText) -> None:
        self._sockets.send(effect.socket_id, effect.text)

    def _close_websocket(self, effect: CloseWebSocket) -> None:
        self._sockets.close(effect.socket_id, effect.code, effect.reason)

    def _abort_websocket(self, effect: AbortWebSocket) -> None:
        self._sockets.abort(effect.socket_id)

    def _start_timer(self, effect: StartTimer) -> None:
        assert self._alarm is not None
        self._timers.start(effect.timer_id, self._alarm.now() + max(0.0, effect.delay))
        self._timers_moved = True

    def _cancel_timer(self, effect: CancelTimer) -> None:
        self._timers.cancel(effect.timer_id)
        self._timers_moved = True

    def _emit_event(self, effect: EmitEvent) -> None:
        self.listeners.deliver(effect.event, self.spawn)

    def _request_token(self, effect: RequestToken) -> None:
        self.spawn(lambda: self.token_provider.provide(effect, self.feed, self.runtime))

    def _update_device_store(self, effect: UpdateDeviceStore) -> None:
        if self._update_store is not None:
            self._update_store(effect)

    def _complete_command(self, effect: CompleteCommand) -> None:
        ticket = self._pending.pop(effect.command_id, None)
        if ticket is None:
            logger.debug("completion of unknown command %d ignored", effect.command_id)
            return
        ticket.resolve(effect.error)


_NOT_RUNNING = "the session is not running (use `async with webex:`) or was closed"

_RUNNERS: Final[dict[type[Effect], Callable[[Driver, Any], None]]] = {
    SendHttpRequest: Driver._send_http_request,
    OpenWebSocket: Driver._open_websocket,
    SendWebSocketText: Driver._send_websocket_text,
    CloseWebSocket: Driver._close_websocket,
    AbortWebSocket: Driver._abort_websocket,
    StartTimer: Driver._start_timer,
    CancelTimer: Driver._cancel_timer,
    EmitEvent: Driver._emit_event,
    CompleteCommand: Driver._complete_command,
    RequestToken: Driver._request_token,
    UpdateDeviceStore: Driver._update_device_store,
}
"""Which method starts each kind of effect."""
