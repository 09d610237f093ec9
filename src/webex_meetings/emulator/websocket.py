"""The I/O of one Mercury websocket: wsproto over the connection's stream, timers, commands.

Theory of operation: :class:`WebSocketSession` runs one accepted websocket with two tasks.
The reader (the connection's own task) feeds the bytes to a :class:`FrameSizeGuard` (an
oversized announced message closes 1009 at once) and to wsproto, and hands each complete
message to the sans-IO :class:`~webex_meetings.emulator.mercury.MercuryConnection`. The writer
performs everything that happens later: control commands (queued by :meth:`command`, never
blocking the caller), frames whose injected latency has not passed yet (a heap ordered by due
time, so equal delays keep their order and no frame needs a task of its own), the
authorization deadline and the close-handshake timeout. Every send goes through one lock and
is bounded by ``send_timeout``: a client that stops reading is cut.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
from collections import deque
from typing import Any

import anyio
import anyio.abc
from wsproto.connection import Connection as WsConnection
from wsproto.connection import ConnectionState
from wsproto.events import BytesMessage, CloseConnection, Message, Ping, TextMessage
from wsproto.events import Event as WsEvent

from .limits import TRANSPORT_ERRORS, Limits
from .mercury import (
    Action,
    Authorized,
    Close,
    Command,
    Drop,
    MercuryConnection,
    Schedule,
    Send,
    replacement_close,
)
from .recorder import Recorder
from .registry import Registry
from .wsframes import FrameSizeGuard

__all__ = ["WebSocketSession"]

log = logging.getLogger(__name__)

Frame = Send | Close
Later = Frame | Command


class WebSocketSession:
    """Runs one accepted Mercury websocket (see the module docstring)."""

    def __init__(
        self,
        *,
        stream: anyio.abc.ByteStream,
        ws: WsConnection,
        mercury: MercuryConnection,
        registry: Registry,
        recorder: Recorder,
        limits: Limits,
        close_timeout: float,
    ) -> None:
        self._stream = stream
        self._ws = ws
        self._mercury = mercury
        self._registry = registry
        self._recorder = recorder
        self._limits = limits
        self._close_timeout = close_timeout
        self._guard = FrameSizeGuard(limits.max_ws_message_bytes)
        self._lock = anyio.Lock()
        self._parts: list[str | bytes] = []
        self._close: tuple[int | None, str, str] = (None, "", "transport")
        self._inbox: deque[Command] = deque()
        self._later: list[tuple[float, int, Later]] = []  # heap of (due, order, what)
        self._order = itertools.count()
        self._wake = anyio.Event()
        self._auth_due = 0.0
        self._close_due: float | None = None
        self._scope = anyio.CancelScope()
        self._finished = False

    # -- LiveSocket --------------------------------------------------------------------------

    @property
    def mercury(self) -> MercuryConnection:
        return self._mercury

    def command(self, command: Command) -> None:
        """Queue a control command for the writer (never blocks)."""
        self._inbox.append(command)
        self._wake.set()

    def drop(self) -> None:
        """Cut the connection without a close frame."""
        self._scope.cancel()

    # -- running -----------------------------------------------------------------------------

    async def run(self) -> None:
        """Serve the websocket until it ends (or is cut); records its end once."""
        self._registry.add_socket(self)
        self._auth_due = anyio.current_time() + self._mercury.auth_deadline
        try:
            with self._scope:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(self._writer)
                    await self._read_loop()
                    tg.cancel_scope.cancel()
        finally:
            self._finish()

    def _finish(self) -> None:
        """Record the end of the connection (once), before the client can observe it."""
        if self._finished:
            return
        self._finished = True
        code, reason, by = self._close
        self._mercury.closed(code, reason, by)
        if self._registry.remove_socket(self):
            self._recorder.connections.append(self._mercury.info())

    # -- the reader --------------------------------------------------------------------------

    async def _read_loop(self) -> None:
        while self._ws.state is not ConnectionState.CLOSED:
            try:
                data: bytes | None = await self._stream.receive(self._limits.read_chunk)
            except (anyio.EndOfStream, *TRANSPORT_ERRORS):
                data = None
            if data is not None and self._guard.feed(data) is not None:
                await self._take_events(data[: self._guard.clean_prefix])
                for action in self._mercury.oversized(self._guard.limit):
                    if isinstance(action, (Send, Close)):
                        await self._send_now(action)  # at once, whatever the latency
                return
            if await self._take_events(data):
                return

    async def _take_events(self, data: bytes | None) -> bool:
        """Feed wsproto and handle its events; whether the websocket is closed."""
        if data == b"":
            return self._closed()
        self._ws.receive_data(data)
        for event in self._ws.events():
            await self._on_event(event)
            if self._closed():
                return True
        return False

    def _closed(self) -> bool:
        return self._ws.state is ConnectionState.CLOSED

    async def _on_event(self, event: WsEvent) -> None:
        if isinstance(event, Message):
            await self._on_message(event)
        elif isinstance(event, Ping):
            await self._send_bytes(self._ws.send(event.response()))
        elif isinstance(event, CloseConnection):
            await self._on_close(event)

    async def _on_message(self, event: Message[Any]) -> None:
        self._parts.append(event.data)
        if not event.message_finished:
            return
        parts, self._parts = self._parts, []
        if isinstance(event, TextMessage):
            text = "".join(p for p in parts if isinstance(p, str))
            await self._perform(self._mercury.receive_text(text))
        else:
            assert isinstance(event, BytesMessage)
            await self._perform(self._mercury.receive_binary())

    async def _on_close(self, event: CloseConnection) -> None:
        state = self._ws.state
        if state is ConnectionState.OPEN:
            # wsproto reports an unparsable frame as a CloseConnection while still OPEN.
            await self._perform(self._mercury.malformed(event.reason or "bad frame", event.code))
            return
        if self._close[2] != "server":
            by = "transport" if event.code == 1006 and state is ConnectionState.CLOSED else "client"
            self._close = (event.code, event.reason or "", by)
        if state is ConnectionState.REMOTE_CLOSING:
            self._finish()
            await self._send_bytes(self._ws.send(event.response()))

    # -- the writer --------------------------------------------------------------------------

    async def _writer(self) -> None:
        while True:
            self._wake = anyio.Event()
            while self._inbox:
                await self._perform(self._mercury.on_command(self._inbox.popleft()))
            now = anyio.current_time()
            while self._later and self._later[0][0] <= now:
                await self._run_later(heapq.heappop(self._later)[2])
            if self._timers_fired(now):
                await self._perform(self._mercury.auth_deadline_passed())
            with anyio.move_on_after(self._next_due() - now):
                await self._wake.wait()

    def _timers_fired(self, now: float) -> bool:
        """Cut a close handshake that timed out; whether the auth deadline just passed."""
        if self._close_due is not None and now >= self._close_due:
            self._scope.cancel()
        if self._auth_due and now >= self._auth_due:
            self._auth_due = 0.0
            return not self._mercury.authorized
        return False

    def _next_due(self) -> float:
        dues = [d for d in (self._auth_due or None, self._close_due) if d is not None]
        if self._later:
            dues.append(self._later[0][0])
        return min(dues, default=anyio.current_time() + 3600.0)

    # -- actions -----------------------------------------------------------------------------

    async def _perform(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Authorized):
                self._replace_older()
            elif isinstance(action, Drop):
                self.drop()
            elif isinstance(action, Schedule):
                self._schedule(action.command, action.delay)
            elif action.delay > 0:
                self._schedule(action, action.delay)
            else:
                await self._send_now(action)

    def _schedule(self, what: Later, delay: float) -> None:
        due = anyio.current_time() + delay
        heapq.heappush(self._later, (due, next(self._order), what))
        self._wake.set()

    async def _run_later(self, what: Later) -> None:
        if isinstance(what, (Send, Close)):
            await self._send_now(what)
        else:
            await self._perform(self._mercury.on_command(what))

    def _replace_older(self) -> None:
        for socket in self._registry.sockets(self._mercury.device_id):
            close = replacement_close(self._mercury, socket.mercury)
            if close is not None:
                socket.command(close)

    async def _send_now(self, frame: Frame) -> None:
        if isinstance(frame, Close):
            await self._server_close(frame)
        else:
            await self._send_json(frame)

    async def _send_json(self, action: Send) -> None:
        async with self._lock:
            if self._ws.state is not ConnectionState.OPEN:
                return
            payload = dict(action.payload)
            if action.sequenced:
                payload["sequenceNumber"] = self._mercury.next_sequence()
                payload["wsWriteTimestamp"] = int(self._mercury.now() * 1000)
            text = json.dumps(payload, separators=(",", ":"))
            self._mercury.frames_out += 1
            await self._send_locked(self._ws.send(TextMessage(data=text)))

    async def _server_close(self, action: Close) -> None:
        async with self._lock:
            if self._ws.state is not ConnectionState.OPEN:
                return
            self._close = (action.code, action.reason, "server")
            await self._send_locked(self._ws.send(CloseConnection(action.code, action.reason)))
        self._close_due = anyio.current_time() + self._close_timeout
        self._wake.set()

    async def _send_bytes(self, data: bytes) -> None:
        async with self._lock:
            await self._send_locked(data)

    async def _send_locked(self, data: bytes) -> None:
        with anyio.move_on_after(self._limits.send_timeout) as scope:
            await self._stream.send(data)
        if scope.cancelled_caught:
            log.info("websocket %d: the client stopped reading; cut", self._mercury.id)
            self._scope.cancel()
