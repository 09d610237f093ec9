"""The anyio runtime: drives the session on asyncio or on trio, through anyio.

Each entry is the anyio primitive of the same meaning; see :class:`~.runtime.Runtime`. Two
entries look at the library underneath, because asyncio offers a cheaper shape than anyio's
portable one: the alarm is a ``loop.call_at`` callback (:class:`LoopAlarm`, no task), and the
websocket connector works on asyncio's transports (:mod:`..transports.websocket_asyncio`, no
task per connection). On trio both are the portable ones.
"""

from __future__ import annotations

import asyncio
import contextvars
import math
import ssl
from collections.abc import Callable

import anyio
import sniffio

from ..transports.base import WebSocketConnector
from ..transports.websocket_anyio import AnyioWebSocketConnector
from ..transports.websocket_asyncio import AsyncioWebSocketConnector
from .runtime import Alarm, Runtime, TaskAlarm, TaskGroup, require_library

__all__ = ["ANYIO", "LoopAlarm"]


class LoopAlarm:
    """An :class:`~.runtime.Alarm` on asyncio: at most one ``loop.call_at`` handle, no task.

    The callback runs in a context where sniffio is told it runs under asyncio (a loop
    callback has no current task, and anyio asks sniffio), so what it calls may use anyio as
    it would inside a task.
    """

    __slots__ = ("_callback", "_context", "_deadline", "_handle", "_loop")

    def __init__(self, callback: Callable[[], None]) -> None:
        self._loop = asyncio.get_running_loop()
        self._callback = callback
        self._context = contextvars.copy_context()
        self._context.run(sniffio.current_async_library_cvar.set, "asyncio")
        self._deadline = math.inf
        self._handle: asyncio.TimerHandle | None = None

    def now(self) -> float:
        return self._loop.time()

    def arm(self, deadline: float) -> None:
        if deadline == self._deadline:
            return
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._deadline = deadline
        if deadline != math.inf:
            self._handle = self._loop.call_at(deadline, self._ring, context=self._context)

    def close(self) -> None:
        self.arm(math.inf)

    def _ring(self) -> None:
        self._handle = None
        self._deadline = math.inf
        self._callback()


def _start_alarm(group: TaskGroup, callback: Callable[[], None]) -> Alarm:
    if sniffio.current_async_library() == "asyncio":
        return LoopAlarm(callback)
    return TaskAlarm(
        group,
        callback,
        new_scope=anyio.CancelScope,
        sleep_forever=anyio.sleep_forever,
        clock=anyio.current_time,
    )


def _websocket_connector(
    *,
    connect_timeout: float,
    ssl_context: ssl.SSLContext | None,
    proxy: str | None,
    max_message_size: int,
) -> WebSocketConnector:
    options = {
        "connect_timeout": connect_timeout,
        "ssl_context": ssl_context,
        "proxy": proxy,
        "max_message_size": max_message_size,
    }
    if sniffio.current_async_library() == "asyncio":
        return AsyncioWebSocketConnector(**options)  # type: ignore[arg-type]
    return AnyioWebSocketConnector(**options)  # type: ignore[arg-type]


ANYIO = Runtime(
    name="anyio",
    check_current=require_library("anyio", "asyncio", "trio"),
    open_task_group=anyio.create_task_group,
    cancel_scope=anyio.CancelScope,
    move_on_after=anyio.move_on_after,
    event=anyio.Event,
    start_alarm=_start_alarm,
    websocket_connector=_websocket_connector,
)
"""anyio's task groups, cancel scopes and events; runs on asyncio and on trio. On asyncio the
alarm is a loop callback and websockets run on asyncio's transports; on trio, one alarm task
per driver and wsproto over anyio streams."""
