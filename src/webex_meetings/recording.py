"""Transport wrappers that record what crosses the wire, with timings, and nothing secret.

:class:`RecordingHttpTransport` and :class:`RecordingWebSocketConnector` wrap any transport and
report one :class:`WireRecord` per request and per websocket step (open, each frame sent or
received, close) to a callback. A record says what happened (method, path, status, frame
type, event type) and how long it took; it never carries headers, bodies or frame texts, so
it can be printed or logged as is. The demo shows them; users can use them to see their own
traffic.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from .core.errors import WebexError
from .core.http import HttpRequest, HttpResponse
from .transports.base import (
    HttpTransport,
    WebSocketClosedMessage,
    WebSocketConnection,
    WebSocketConnector,
    WebSocketMessage,
)

__all__ = ["RecordingHttpTransport", "RecordingWebSocketConnector", "Sink", "WireRecord"]


@dataclass(frozen=True, slots=True)
class WireRecord:
    """One step on the wire.

    ``kind`` is ``"http"``, ``"ws.open"``, ``"ws.send"``, ``"ws.receive"`` or ``"ws.close"``;
    ``what`` a short description (``"POST /wdm/api/v1/devices"``, ``"authorization"``,
    ``"mercury.buffer_state"``); ``status`` the HTTP status or close code; ``started`` and
    ``duration`` in seconds (``time.perf_counter`` based); ``step`` the protocol step.
    A failed step has ``error`` (the exception's class name) and, when the error is the
    library's own, ``detail``: its message, which never holds a secret.
    """

    kind: str
    what: str
    started: float
    duration: float
    status: int | None = None
    step: str = ""
    error: str | None = None
    detail: str | None = None


Sink = Callable[[WireRecord], None]
"""Where records go: called once per step, on the event loop."""
T = TypeVar("T")


def _path(url: str) -> str:
    return urlsplit(url).path or "/"


def describe_frame(text: str) -> str:
    """A frame's type for display: ``ack``, ``ping``, ``authorization`` or its event type."""
    try:
        frame: Any = json.loads(text)
    except ValueError:
        return "(not JSON)"
    if not isinstance(frame, dict):
        return "(not an object)"
    data = frame.get("data")
    if isinstance(data, dict) and isinstance(data.get("eventType"), str):
        return str(data["eventType"])
    return str(frame.get("type", "(no type)"))


async def _timed(
    sink: Sink,
    kind: str,
    what: str,
    call: Callable[[], Awaitable[T]],
    *,
    status: Callable[[T], int | None],
    step: str = "",
) -> T:
    """Await ``call()`` and report it to ``sink``, failed (with the error's type) or not."""
    started = time.perf_counter()
    try:
        result = await call()
    except Exception as error:
        duration = time.perf_counter() - started
        detail = error.message if isinstance(error, WebexError) else None
        sink(
            WireRecord(
                kind, what, started, duration, step=step, error=type(error).__name__, detail=detail
            )
        )
        raise
    duration = time.perf_counter() - started
    sink(WireRecord(kind, what, started, duration, status=status(result), step=step))
    return result


class RecordingHttpTransport:
    """An :class:`HttpTransport` that reports each request to ``sink``."""

    def __init__(self, inner: HttpTransport, sink: Sink) -> None:
        self._inner = inner
        self._sink = sink

    async def send(self, request: HttpRequest) -> HttpResponse:
        what = f"{request.method} {_path(request.url)}"
        return await _timed(
            self._sink,
            "http",
            what,
            lambda: self._inner.send(request),
            status=lambda response: response.status,
            step=request.step,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


class _RecordingConnection:
    def __init__(self, inner: WebSocketConnection, sink: Sink) -> None:
        self._inner = inner
        self._sink = sink

    async def send_text(self, text: str) -> None:
        started = time.perf_counter()
        await self._inner.send_text(text)
        self._sink(
            WireRecord("ws.send", describe_frame(text), started, time.perf_counter() - started)
        )

    async def receive(self) -> WebSocketMessage:
        message = await self._inner.receive()
        now = time.perf_counter()
        if isinstance(message, WebSocketClosedMessage):
            self._sink(WireRecord("ws.close", message.reason or "closed", now, 0.0, message.code))
        else:
            self._sink(WireRecord("ws.receive", describe_frame(message.text), now, 0.0))
        return message

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self._sink(
            WireRecord("ws.send", f"close {code} {reason}".strip(), time.perf_counter(), 0.0)
        )
        await self._inner.close(code, reason)

    async def aclose(self) -> None:
        await self._inner.aclose()


class RecordingWebSocketConnector:
    """A :class:`WebSocketConnector` whose connections report every step to ``sink``."""

    def __init__(self, inner: WebSocketConnector, sink: Sink) -> None:
        self._inner = inner
        self._sink = sink

    async def connect(self, url: str) -> WebSocketConnection:
        what = f"GET {_path(url)} (upgrade)"
        connection = await _timed(
            self._sink, "ws.open", what, lambda: self._inner.connect(url), status=lambda _: 101
        )
        return _RecordingConnection(connection, self._sink)
