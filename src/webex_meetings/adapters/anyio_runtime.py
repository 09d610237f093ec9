"""The anyio runtime: drives the session on asyncio or on trio, through anyio.

Each entry is the anyio primitive of the same meaning; see :class:`~.runtime.Runtime`.
"""

from __future__ import annotations

import math
from typing import Any

import anyio

from ..transports.websocket_anyio import AnyioWebSocketConnector
from .runtime import ReceiveChannel, Runtime, SendChannel, require_library

__all__ = ["ANYIO"]


def _open_channel() -> tuple[SendChannel[Any], ReceiveChannel[Any]]:
    return anyio.create_memory_object_stream[Any](math.inf)


ANYIO = Runtime(
    name="anyio",
    check_current=require_library("anyio", "asyncio", "trio"),
    open_task_group=anyio.create_task_group,
    cancel_scope=anyio.CancelScope,
    move_on_after=anyio.move_on_after,
    event=anyio.Event,
    open_channel=_open_channel,
    sleep=anyio.sleep,
    websocket_connector=AnyioWebSocketConnector,
)
"""anyio's task groups, cancel scopes, memory object streams and events; runs on asyncio and
on trio, with wsproto over anyio streams for websockets."""
