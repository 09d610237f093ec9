"""The native trio runtime: nurseries, trio cancel scopes and memory channels, and the
wsproto-over-trio websocket connector. Valid only under ``trio.run``.

Each entry is the trio primitive of the same meaning; see :class:`~.runtime.Runtime`.
"""

from __future__ import annotations

import math
from typing import Any

import trio

from ..transports.websocket_trio import TrioWebSocketConnector
from .runtime import ReceiveChannel, Runtime, SendChannel, require_library

__all__ = ["TRIO"]


def _open_channel() -> tuple[SendChannel[Any], ReceiveChannel[Any]]:
    return trio.open_memory_channel[Any](math.inf)


TRIO = Runtime(
    name="trio",
    check_current=require_library("trio", "trio"),
    open_task_group=trio.open_nursery,
    cancel_scope=trio.CancelScope,
    move_on_after=trio.move_on_after,
    event=trio.Event,
    open_channel=_open_channel,
    sleep=trio.sleep,
    websocket_connector=TrioWebSocketConnector,
)
"""trio's own primitives; the session then runs without anyio in the way."""
