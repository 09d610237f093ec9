"""A conformance check any websocket connector must pass, as ``trio.testing`` has for streams.

:func:`check_websocket_connector` runs a list of scenarios, each a pair of a server handler
and a client script, against a connector and a server built by the caller's ``serve``:

* ``serve(handler)`` is an async context manager yielding ``(connector, url)``: a connector
  to test and a URL at which a server runs ``await handler(url, socket)`` for each
  connection. The server socket has the :class:`~.base.WebSocketConnection` methods; using it
  accepts the upgrade, and returning a status (or :class:`~.memory.MemoryRejection`) before
  using it refuses the upgrade, as :class:`~.memory.MemoryWebSocketConnector` does.

The same scenarios run against the anyio and trio connectors (with a wsproto test server) and
against the in-memory connector, which is how the fake is kept honest.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from functools import partial

import anyio
import anyio.abc

from ..core.errors import HandshakeRejectedError, TransportError
from .base import (
    WebSocketClosedMessage,
    WebSocketConnection,
    WebSocketConnector,
    WebSocketTextMessage,
    failed_by_us,
)
from .memory import MemoryRejection

__all__ = ["Serve", "ServerHandler", "check_websocket_connector"]

ServerHandler = Callable[[str, WebSocketConnection], Awaitable[MemoryRejection | int | None]]
Serve = Callable[[ServerHandler], AbstractAsyncContextManager[tuple[WebSocketConnector, str]]]

_SCENARIO_TIMEOUT = 5.0


def _expect(condition: bool, what: str) -> None:
    if not condition:
        raise AssertionError(what)


class _Scenario:
    """One server handler and one client script, sharing what the server saw."""

    def __init__(self) -> None:
        self.server_saw: list[object] = []
        self.server_done = anyio.Event()

    async def serve(self, url: str, socket: WebSocketConnection) -> MemoryRejection | int | None:
        try:
            await self.server(socket)
        finally:
            self.server_done.set()
        return None

    async def server(self, socket: WebSocketConnection) -> None:
        """Echo text until the connection closes; record how it closed."""
        while isinstance(message := await socket.receive(), WebSocketTextMessage):
            await socket.send_text(message.text)
        self.server_saw.append(message)

    async def client(self, connector: WebSocketConnector, url: str) -> None:
        raise NotImplementedError


class _EchoThenClientCloses(_Scenario):
    async def client(self, connector: WebSocketConnector, url: str) -> None:
        connection = await connector.connect(url)
        for text in ("hello", "gr\u00fc\u00dfe \u2713", ""):
            await connection.send_text(text)
            echoed = await connection.receive()
            _expect(echoed == WebSocketTextMessage(text), f"echo of {text!r}: {echoed!r}")
        await connection.close(1000, "bye")
        closed = WebSocketClosedMessage(1000, "bye")
        _expect(await connection.receive() == closed, "the server's close reply")
        _expect(await connection.receive() == closed, "receive() after close repeats it")
        await self.server_done.wait()
        _expect(self.server_saw == [closed], f"server saw {self.server_saw!r}")
        try:
            await connection.send_text("too late")
        except TransportError:
            pass
        else:
            raise AssertionError("send_text() after close must raise TransportError")
        await connection.close(1000, "again")
        await connection.aclose()
        await connection.aclose()


class _ServerCloses(_Scenario):
    async def server(self, socket: WebSocketConnection) -> None:
        await socket.send_text("last words")
        await socket.close(4000, "go away")
        self.server_saw.append(await socket.receive())

    async def client(self, connector: WebSocketConnector, url: str) -> None:
        connection = await connector.connect(url)
        _expect(await connection.receive() == WebSocketTextMessage("last words"), "text first")
        closed = WebSocketClosedMessage(4000, "go away")
        _expect(await connection.receive() == closed, "the server's close code and reason")
        await self.server_done.wait()
        _expect(self.server_saw == [closed], f"close reply seen by server: {self.server_saw!r}")
        await connection.aclose()


class _ServerAborts(_Scenario):
    async def server(self, socket: WebSocketConnection) -> None:
        await socket.send_text("bye")
        await socket.aclose()

    async def client(self, connector: WebSocketConnector, url: str) -> None:
        connection = await connector.connect(url)
        _expect(await connection.receive() == WebSocketTextMessage("bye"), "text before abort")
        _expect(await connection.receive() == WebSocketClosedMessage(1006), "abort is 1006")
        await connection.close()
        await connection.aclose()


class _ClientAborts(_Scenario):
    async def client(self, connector: WebSocketConnector, url: str) -> None:
        connection = await connector.connect(url)
        await connection.aclose()
        _expect(await connection.receive() == WebSocketClosedMessage(1006), "own abort is 1006")
        await self.server_done.wait()
        _expect(self.server_saw == [WebSocketClosedMessage(1006)], "server sees 1006")


async def _while_receiving(
    connection: WebSocketConnection, action: Callable[[], Awaitable[None]]
) -> list[object]:
    """Run ``action`` while another task is blocked in ``receive()``; what that returned."""
    received: list[object] = []

    async def receive_one(*, task_status: anyio.abc.TaskStatus[None]) -> None:
        task_status.started()
        received.append(await connection.receive())

    async with anyio.create_task_group() as task_group:
        await task_group.start(receive_one)
        await anyio.wait_all_tasks_blocked()
        await action()
    return received


class _SendWhileReceiving(_Scenario):
    async def client(self, connector: WebSocketConnector, url: str) -> None:
        connection = await connector.connect(url)
        received = await _while_receiving(connection, partial(connection.send_text, "meanwhile"))
        _expect(received == [WebSocketTextMessage("meanwhile")], f"got {received!r}")
        await connection.close()
        _expect(isinstance(await connection.receive(), WebSocketClosedMessage), "closed")
        await connection.aclose()


class _AbortWhileReceiving(_Scenario):
    async def client(self, connector: WebSocketConnector, url: str) -> None:
        connection = await connector.connect(url)
        received = await _while_receiving(connection, connection.aclose)
        _expect(received == [WebSocketClosedMessage(1006)], f"pending receive got {received!r}")
        await self.server_done.wait()
        _expect(self.server_saw == [WebSocketClosedMessage(1006)], "server sees 1006")


class _Oversized(_Scenario):
    def __init__(self, max_message_size: int) -> None:
        super().__init__()
        self.size = max_message_size + 1

    async def server(self, socket: WebSocketConnection) -> None:
        await socket.send_text("x" * self.size)
        self.server_saw.append(await socket.receive())

    async def client(self, connector: WebSocketConnector, url: str) -> None:
        connection = await connector.connect(url)
        closed = await connection.receive()
        _expect(isinstance(closed, WebSocketClosedMessage), f"oversized closes: {closed!r}")
        _expect(closed == failed_by_us(1009, "message too big"), f"refused, 1009: {closed!r}")
        await self.server_done.wait()
        _expect(getattr(self.server_saw[0], "code", None) == 1009, "server sees 1009")
        await connection.aclose()


class _Rejected(_Scenario):
    def __init__(self, rejection: MemoryRejection | int) -> None:
        super().__init__()
        self.rejection = rejection

    async def serve(self, url: str, socket: WebSocketConnection) -> MemoryRejection | int | None:
        return self.rejection

    async def client(self, connector: WebSocketConnector, url: str) -> None:
        expected = self.rejection
        if isinstance(expected, int):
            expected = MemoryRejection(expected)
        try:
            await connector.connect(url)
        except HandshakeRejectedError as exc:
            seen = MemoryRejection(exc.status, exc.retry_after)
            _expect(seen == expected, f"rejection {seen!r}, expected {expected!r}")
        else:
            raise AssertionError("a refused upgrade must raise HandshakeRejectedError")


async def check_websocket_connector(serve: Serve, *, max_message_size: int | None = None) -> None:
    """Run every scenario; pass ``max_message_size`` (as configured) to check the 1009 close.

    :raises AssertionError: a scenario did not behave as a websocket must.
    """
    scenarios: list[_Scenario] = [
        _EchoThenClientCloses(),
        _ServerCloses(),
        _ServerAborts(),
        _ClientAborts(),
        _SendWhileReceiving(),
        _AbortWhileReceiving(),
        _Rejected(404),
        _Rejected(MemoryRejection(429, retry_after=7.0)),
    ]
    if max_message_size is not None:
        scenarios.append(_Oversized(max_message_size))
    for scenario in scenarios:
        with anyio.fail_after(_SCENARIO_TIMEOUT):
            async with serve(scenario.serve) as (connector, url):
                await scenario.client(connector, url)
