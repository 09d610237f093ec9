"""A TCP fault proxy between a client and a server on loopback (anyio; asyncio and trio).

Theory of operation. The proxy accepts each client connection, opens one to the upstream server
and pumps bytes both ways. Every connection watches what the *client* sends; the first
:class:`Rule` whose :attr:`Rule.match` appears in it (a request line such as
``b"POST /wdm/api/v1/devices"``, or :data:`AUTH_FRAME`, the first frame after a websocket
upgrade) arms that rule's fault on this connection, once per rule (``times`` in all):

================  =============================================================================
``LATENCY``       the request goes through; each answer chunk waits ``delay`` seconds
``CLOSE_AFTER``   the request goes through; ``count`` answer bytes pass, then both sides close
``RESET``         the request goes through; at its first answer byte the client gets a TCP RST
``HOLE_BEFORE``   the request never reaches the server; the connection stays open, silent
``HOLE_AFTER``    the request reaches the server; its answer (and all after it) is swallowed
``TRICKLE``       the request goes through; the answer passes one byte every ``delay`` seconds
================  =============================================================================

Everything is bounded: each pump reads at most 64 KiB at a time, the match window keeps the last
4 KiB, a black hole holds a connection only until the client leaves or the proxy is closed,
and leaving ``async with`` cancels every task. :attr:`FaultProxy.fired` records which rule fired.
"""

from __future__ import annotations

import contextlib
import enum
import socket
import struct
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field

import anyio
import anyio.abc
from anyio.abc import SocketAttribute

__all__ = ["AUTH_FRAME", "Fault", "FaultProxy", "Rule", "fault_proxy"]

AUTH_FRAME = b"<first websocket frame>"
"""A :attr:`Rule.match` for the client's first frame after a websocket upgrade (Mercury's
authorization frame; frames are masked, so their text cannot be matched)."""

_CHUNK = 64 * 1024
_WINDOW = 4096


class Fault(enum.Enum):
    LATENCY = "latency"
    CLOSE_AFTER = "close_after"
    RESET = "reset"
    HOLE_BEFORE = "hole_before"
    HOLE_AFTER = "hole_after"
    TRICKLE = "trickle"


@dataclass
class Rule:
    """Arm ``fault`` on a connection whose client sends ``match``."""

    match: bytes
    fault: Fault
    delay: float = 0.05
    """LATENCY: per answer chunk; TRICKLE: per answer byte."""
    count: int = 10
    """CLOSE_AFTER: answer bytes let through before closing."""
    times: int = 1
    """How many connections it may fire on."""


@dataclass
class _Link:
    """One client connection and its upstream."""

    client: anyio.abc.SocketStream
    server: anyio.abc.SocketStream
    window: bytes = b""
    upgraded: bool = False
    first_frame_seen: bool = False
    armed: Rule | None = None
    answer_bytes: int = 0


@dataclass
class FaultProxy:
    """The running proxy: ``port`` to connect to, ``rules`` to arm, ``fired`` to inspect."""

    host: str
    port: int
    rules: list[Rule] = field(default_factory=list)
    fired: list[Rule] = field(default_factory=list)
    connections: int = 0

    def _match(self, link: _Link, data: bytes) -> None:
        if link.armed is not None:
            return
        link.window = (link.window + data)[-_WINDOW:]
        first_frame = link.upgraded and not link.first_frame_seen
        link.first_frame_seen |= link.upgraded
        for rule in self.rules:
            hit = first_frame if rule.match == AUTH_FRAME else rule.match in link.window
            if hit and rule.times > 0:
                rule.times -= 1
                self.fired.append(rule)
                link.armed = rule
                return

    async def _client_to_server(self, link: _Link) -> None:
        with _ending_quietly():
            await self._pump_requests(link)

    async def _pump_requests(self, link: _Link) -> None:
        while data := await _receive(link.client):
            self._match(link, data)
            if link.armed is not None and link.armed.fault is Fault.HOLE_BEFORE:
                continue  # swallowed: the server never sees it
            await link.server.send(data)
        await _close_write(link.server)

    async def _server_to_client(self, link: _Link) -> None:
        with _ending_quietly():
            await self._pump_answers(link)

    async def _pump_answers(self, link: _Link) -> None:
        while data := await _receive(link.server):
            if not link.upgraded and data.startswith(b"HTTP/1.1 101"):
                link.upgraded = True
            if not await self._deliver(link, data):
                return
        await _close_write(link.client)

    async def _deliver(self, link: _Link, data: bytes) -> bool:
        """Send ``data`` to the client as the armed fault allows; False once it is over."""
        rule = link.armed
        fault = None if rule is None else rule.fault
        if rule is None or fault is None:
            await link.client.send(data)
        elif fault is Fault.LATENCY:
            await anyio.sleep(rule.delay)
            await link.client.send(data)
        elif fault is Fault.TRICKLE:
            for index in range(len(data)):
                await link.client.send(data[index : index + 1])
                await anyio.sleep(rule.delay)
        elif fault is Fault.CLOSE_AFTER:
            room = rule.count - link.answer_bytes
            link.answer_bytes += len(data)
            if room > 0:
                await link.client.send(data[:room])
            if link.answer_bytes >= rule.count:
                await _close_both(link)
                return False
        elif fault is Fault.RESET:
            _reset(link.client)
            await _close_both(link)
            return False
        # HOLE_BEFORE, HOLE_AFTER: nothing reaches the client
        return True

    async def _serve(self, client: anyio.abc.SocketStream, target: tuple[str, int]) -> None:
        self.connections += 1
        try:
            server = await anyio.connect_tcp(*target)
        except OSError:
            await anyio.aclose_forcefully(client)
            return
        link = _Link(client, server)
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(self._client_to_server, link)
                # A black hole stays silent until the client leaves (the request pump,
                # still running, ends then) or we stop; never longer.
                await self._server_to_client(link)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            pass
        finally:
            await _close_both(link)


_BROKEN = (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError)


@contextlib.contextmanager
def _ending_quietly() -> Iterator[None]:
    """A pump whose peer went away just stops."""
    with contextlib.suppress(*_BROKEN):
        yield


async def _receive(stream: anyio.abc.SocketStream) -> bytes:
    """Up to 64 KiB; ``b""`` once the stream ended or broke."""
    try:
        return await stream.receive(_CHUNK)
    except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
        return b""


async def _close_write(stream: anyio.abc.SocketStream) -> None:
    with suppress(anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
        await stream.send_eof()


async def _close_both(link: _Link) -> None:
    """Close both sockets, even in a cancelled task (under trio, a second
    ``aclose_forcefully`` after a first one in a cancelled task would never run)."""
    with anyio.CancelScope(shield=True):
        await link.client.aclose()
        await link.server.aclose()


def _reset(stream: anyio.abc.SocketStream) -> None:
    """Make the next close send a TCP RST (SO_LINGER with a zero timeout)."""
    raw = stream.extra(SocketAttribute.raw_socket)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


@asynccontextmanager
async def fault_proxy(
    target: tuple[str, int], *, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[FaultProxy]:
    """A running proxy to ``target`` on ``host:port``; stopped (every connection closed) on
    leaving the block."""
    async with await anyio.create_tcp_listener(local_host=host, local_port=port) as listener:
        proxy = FaultProxy(host, listener.extra(SocketAttribute.local_port))

        async def serve(client: anyio.abc.SocketStream) -> None:
            await proxy._serve(client, target)

        async with anyio.create_task_group() as group:
            group.start_soon(listener.serve, serve)
            try:
                yield proxy
            finally:
                group.cancel_scope.cancel()
