"""The native trio runtime: nurseries, trio cancel scopes and events, one alarm task per
driver, and the wsproto-over-trio websocket connector. Valid only under ``trio.run``.

Each entry is the trio primitive of the same meaning; see :class:`~.runtime.Runtime`.
"""

from __future__ import annotations

from collections.abc import Callable

import trio

from ..transports.websocket_trio import TrioWebSocketConnector
from .runtime import Alarm, Runtime, TaskAlarm, TaskGroup, require_library

__all__ = ["TRIO"]


def _start_alarm(group: TaskGroup, callback: Callable[[], None]) -> Alarm:
    return TaskAlarm(
        group,
        callback,
        new_scope=trio.CancelScope,
        sleep_forever=trio.sleep_forever,
        clock=trio.current_time,
    )


TRIO = Runtime(
    name="trio",
    check_current=require_library("trio", "trio"),
    open_task_group=trio.open_nursery,
    cancel_scope=trio.CancelScope,
    move_on_after=trio.move_on_after,
    event=trio.Event,
    start_alarm=_start_alarm,
    websocket_connector=TrioWebSocketConnector,
)
"""trio's own primitives; the session then runs without anyio in the way."""
