"""The driver: runs what the sans-IO session asks for and feeds back what happened.

Theory of operation
-------------------
The session (:class:`~webex_meetings.core.session.MeetingsSession`) is synchronous and not
thread-safe, so exactly one task talks to it: the **pump**. Everything else (user commands,
HTTP responses, websocket frames, timers) is an :class:`~webex_meetings.core.inputs.Input` put
into one unbounded memory channel with a never-blocking ``send_nowait``; the pump takes them out
in order, calls ``session.handle(input, now=clock())`` and runs the returned effects in list
order. Running an effect never blocks the pump either, it only starts things (table
:data:`_RUNNERS`):

* ``SendHttpRequest``: a task per request; its outcome comes back as ``HttpResponseReceived`` or
  ``HttpRequestFailed`` (timeouts and transport errors mapped to our short message).
* ``OpenWebSocket``: a task per socket that connects, then reads every message in order and
  finally reports ``WebSocketClosed`` exactly once; beside it a writer task drains the socket's
  own queue, so ``SendWebSocketText`` and ``CloseWebSocket`` keep their order without the pump
  waiting. ``AbortWebSocket`` cancels both and drops the connection.
* ``StartTimer``: a sleeper task in its own cancel scope; ``CancelTimer`` cancels the scope.
* ``EmitEvent``: handed to :class:`~.listeners.Listeners` (callbacks and event streams).
* ``CompleteCommand``: resolves the :class:`CommandTicket` the caller awaits.

Every id is the core's, except command ids, which :meth:`Driver.submit_command` allocates.
Inputs naming something the core no longer waits for are ignored by the core, so no race here
needs care. All of it lives in one task group owned by ``async with Driver(...)``; leaving the
block unregisters a held device (bounded by ``unregister_timeout``), sends ``Shutdown``, gives
websockets ``shutdown_grace`` seconds to finish their close handshake and cancels what is left:
nothing outlives it. Every task runs in its own shielded scope, so a cancelled owner (a
timeout around ``async with``) still gets its device unregistered on the way out. A
registration still running when the block is left (or whose ``register()`` was cancelled) is
abandoned at once with a ``Cancel`` input, and its device deleted; when WDM does not confirm a
deletion in time, a warning names the device.

The driver never imports anyio or trio: it gets its primitives from a
:class:`~.runtime.Runtime`, so :mod:`.anyio_runtime` and :mod:`.trio_runtime` stay thin.
"""

from __future__ import annotations

import itertools
import logging
import time
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
from .runtime import CancelScope, Flag, ReceiveChannel, Runtime, SendChannel, TaskGroup
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
    sockets) is cancelled.
    """

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
        self._timers: dict[int, CancelScope] = {}
        self._sockets = SocketRunner(websockets, runtime, self.feed)
        self._group_cm: AbstractAsyncContextManager[TaskGroup] | None = None
        self._group: TaskGroup | None = None
        self._inputs: SendChannel[tuple[Input, CommandTicket | None]] | None = None
        self._scopes: set[CancelScope] = set()
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
        self._group = await self._group_cm.__aenter__()
        send, receive = self.runtime.open_channel()
        self._inputs = send
        self._start(lambda: self._pump(receive))
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._group is not None
        assert self._group_cm is not None
        try:
            with self.runtime.cancel_scope(shield=True):
                await self._wind_down()
        finally:
            try:
                for scope in list(self._scopes):
                    scope.cancel()
                self._group.cancel_scope.cancel()
                await self._group_cm.__aexit__(None, None, None)  # raises if we are cancelled
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
            while self._lingering:
                self._idle = self.runtime.event()
                await self._idle.wait()
        self._stop_accepting()
        self.listeners.close()

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
        if self._inputs is not None:
            self._inputs.close()
            self._inputs = None
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
        if self._inputs is None:
            ticket.resolve(CancelledCommandError(_NOT_RUNNING))
        else:
            self._pending[command.command_id] = ticket
            self._inputs.send_nowait((command, ticket))
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
        """Queue an id-less command (``Initialize``, ``Shutdown``); its ticket resolves when
        the core has handled it, with whatever ``handle`` raised. Never blocks."""
        ticket = CommandTicket(input, self.runtime.event())
        if self._inputs is None:
            ticket.resolve(CancelledCommandError(_NOT_RUNNING))
        else:
            self._inputs.send_nowait((input, ticket))
        return ticket

    def feed(self, input: Input) -> None:
        """Queue an input from the outside world; dropped once the driver has stopped."""
        if self._inputs is not None:
            self._inputs.send_nowait((input, None))

    @property
    def active_tasks(self) -> int:
        """Background tasks (requests, sockets, timers, async callbacks) still running."""
        return self._active

    def spawn(self, func: Callable[[], Awaitable[None]], *, linger: bool = False) -> None:
        """Run ``func()`` as a background task of this driver. ``linger``: the task may run
        on for ``shutdown_grace`` after ``Shutdown`` (a websocket's close handshake); others
        are cancelled as soon as the core has shut down."""
        self._active += 1
        self._lingering += linger
        self._start(lambda: self._tracked(func, linger))

    def _start(self, func: Callable[[], Awaitable[None]]) -> None:
        """Start a task in its own shielded scope: cancelling the owner's surroundings (a
        timeout around ``async with``) must not kill the work that unregisters on the way
        out; only :meth:`__aexit__` cancels these scopes, once that work is done."""
        if self._group is None:
            raise RuntimeError("the driver is not running")
        scope = self.runtime.cancel_scope(shield=True)
        self._scopes.add(scope)
        self._group.start_soon(self._shielded, scope, func)

    async def _shielded(self, scope: CancelScope, func: Callable[[], Awaitable[None]]) -> None:
        try:
            with scope:
                await func()
        finally:
            self._scopes.discard(scope)

    async def _tracked(self, func: Callable[[], Awaitable[None]], linger: bool) -> None:
        try:
            await func()
        except Exception as exc:
            log_callback_error(f"background task {getattr(func, '__qualname__', func)!r}", exc)
        finally:
            self._active -= 1
            self._lingering -= linger
            if not self._lingering and self._idle is not None:
                self._idle.set()

    # -- the pump -------------------------------------------------------------------------

    async def _pump(self, inputs: ReceiveChannel[tuple[Input, CommandTicket | None]]) -> None:
        try:
            async for input, ticket in inputs:
                self._step(input, ticket)
        finally:
            inputs.close()

    def _step(self, input: Input, ticket: CommandTicket | None) -> None:
        debug("input", input)
        try:
            effects = self.session.handle(input, now=self._clock())
        except Exception as exc:
            self._refuse(input, ticket, exc)
            return
        for effect in effects:
            self._run(effect)
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

    def _run(self, effect: Effect) -> None:
        debug("effect", effect)
        runner = _RUNNERS.get(type(effect))
        if runner is None:
            logger.warning("no runner for effect %s; ignored", type(effect).__name__)
            return
        try:
            runner(self, effect)
        except Exception as exc:
            log_callback_error(f"running {type(effect).__name__}", exc)

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
        self._cancel_timer(CancelTimer(effect.timer_id))
        scope = self._timers[effect.timer_id] = self.runtime.cancel_scope()
        self.spawn(lambda: self._sleep_then_fire(effect, scope))

    async def _sleep_then_fire(self, effect: StartTimer, scope: CancelScope) -> None:
        with scope:
            await self.runtime.sleep(max(0.0, effect.delay))
            if self._timers.get(effect.timer_id) is scope:
                del self._timers[effect.timer_id]
                self.feed(TimerFired(effect.timer_id))

    def _cancel_timer(self, effect: CancelTimer) -> None:
        scope = self._timers.pop(effect.timer_id, None)
        if scope is not None:
            scope.cancel()

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
