"""Byte movers behind two small Protocols (:mod:`.base`): HTTP and websocket."""

from __future__ import annotations

from .base import (
    HttpTransport,
    PushWebSocketConnection,
    WebSocketClosedMessage,
    WebSocketConnection,
    WebSocketConnector,
    WebSocketMessage,
    WebSocketTextMessage,
)
from .http_asyncio import AsyncioHttpTransport
from .httpx_transport import HttpxTransport
from .memory import (
    MemoryHttpTransport,
    MemoryRejection,
    MemoryServerSocket,
    MemoryWebSocket,
    MemoryWebSocketConnection,
    MemoryWebSocketConnector,
)
from .websocket_anyio import AnyioWebSocketConnection, AnyioWebSocketConnector
from .websocket_asyncio import AsyncioWebSocketConnection, AsyncioWebSocketConnector
from .websocket_trio import TrioWebSocketConnection, TrioWebSocketConnector

__all__ = [
    "AnyioWebSocketConnection",
    "AnyioWebSocketConnector",
    "AsyncioHttpTransport",
    "AsyncioWebSocketConnection",
    "AsyncioWebSocketConnector",
    "HttpTransport",
    "HttpxTransport",
    "MemoryHttpTransport",
    "MemoryRejection",
    "MemoryServerSocket",
    "MemoryWebSocket",
    "MemoryWebSocketConnection",
    "MemoryWebSocketConnector",
    "PushWebSocketConnection",
    "TrioWebSocketConnection",
    "TrioWebSocketConnector",
    "WebSocketClosedMessage",
    "WebSocketConnection",
    "WebSocketConnector",
    "WebSocketMessage",
    "WebSocketTextMessage",
]
