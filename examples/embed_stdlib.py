"""The sans-IO core in a runtime we do not ship: the standard library and two state machines.

A complete driver in one file, following docs/embedding.md: ``selectors``, ``socket`` and
``ssl`` move the bytes, h11 and wsproto speak HTTP/1.1 and websockets, and the
:class:`~webex_meetings.core.session.MeetingsSession` decides everything else (no anyio, trio
or httpx). It registers a device, prints one Mercury event, and unregisters::

    WEBEX_CLOUD_URL=http://127.0.0.1:8765 WEBEX_ACCESS_TOKEN=... python examples/embed_stdlib.py

Kept short on purpose: each request gets its own connection, and connecting or sending
blocks for at most the request's timeout (a production driver would connect and write through
the selector too).
"""

from __future__ import annotations

import itertools
import os
import selectors
import socket
import ssl
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import h11
import wsproto.events as ws
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.utilities import ProtocolError

from webex_meetings.core import effects as fx
from webex_meetings.core import inputs as ins
from webex_meetings.core.config import SessionConfig
from webex_meetings.core.credentials import Credentials
from webex_meetings.core.errors import WebexError
from webex_meetings.core.events import Event, MercuryEvent
from webex_meetings.core.http import HttpResponse
from webex_meetings.core.session import MeetingsSession

MAX_BODY = 1 << 20  # bytes of one HTTP answer
MAX_MESSAGE = 4 << 20  # characters of one websocket message
CONNECT_TIMEOUT = 10.0
BROKEN = (OSError, h11.ProtocolError, ProtocolError)  # what a broken peer raises here


def connect(url: str, timeout: float) -> socket.socket:
    """A connected socket (TLS for https/wss) whose calls block at most ``timeout``."""
    parts = urlsplit(url)
    secure = parts.scheme in ("https", "wss")
    address = (parts.hostname, parts.port or (443 if secure else 80))
    sock = socket.create_connection(address, timeout)
    if secure:
        sock = ssl.create_default_context().wrap_socket(sock, server_hostname=parts.hostname)
    return sock


def target(url: str) -> str:
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def failure_kind(exc: BaseException) -> ins.FailureKind:
    if isinstance(exc, TimeoutError):
        return ins.FailureKind.TIMEOUT
    if isinstance(exc, ssl.SSLCertVerificationError):
        return ins.FailureKind.CERTIFICATE
    return ins.FailureKind.CONNECTION


class HttpExchange:
    """One request on its own connection; feeds exactly one outcome."""

    def __init__(self, driver: Driver, effect: fx.SendHttpRequest) -> None:
        request, self.driver, self.request_id = effect.request, driver, effect.request_id
        timeout = request.timeout or 20.0
        self.deadline = time.monotonic() + timeout
        self.h11 = h11.Connection(h11.CLIENT)
        self.response: h11.Response | None = None
        self.body = bytearray()
        headers = [("host", urlsplit(request.url).netloc), ("connection", "close")]
        if request.body is not None:
            headers.append(("content-length", str(len(request.body))))
        head = h11.Request(
            method=request.method, target=target(request.url), headers=[*headers, *request.headers]
        )
        data = self.h11.send(head) or b""
        if request.body:
            data += self.h11.send(h11.Data(data=request.body)) or b""
        data += self.h11.send(h11.EndOfMessage()) or b""
        self.sock = connect(request.url, timeout)
        self.sock.sendall(data)
        driver.watch(self)

    def readable(self) -> None:
        self.h11.receive_data(self.sock.recv(65536))
        while (event := self.h11.next_event()) is not h11.NEED_DATA:
            if isinstance(event, h11.Response):
                self.response = event
            elif isinstance(event, h11.Data):
                self.body += event.data
                if len(self.body) > MAX_BODY:
                    return self.failed(ins.FailureKind.TOO_LARGE, "the answer is too large")
            elif isinstance(event, h11.EndOfMessage) and self.response is not None:
                headers = tuple((k.decode(), v.decode()) for k, v in self.response.headers)
                answer = HttpResponse(self.response.status_code, headers, bytes(self.body))
                return self.finish(ins.HttpResponseReceived(self.request_id, answer))
            else:
                raise ConnectionError("closed before the answer was complete")

    def failed(self, kind: ins.FailureKind, why: str) -> None:
        self.finish(ins.HttpRequestFailed(self.request_id, why, kind))

    def broken(self, exc: BaseException) -> None:
        self.failed(failure_kind(exc), f"transport failure ({type(exc).__name__})")

    def finish(self, outcome: ins.Input) -> None:
        self.driver.forget(self.sock)
        self.driver.feed(outcome)


class WebSocket:
    """One websocket; feeds opened or rejected, every text message, and one close."""

    def __init__(self, driver: Driver, effect: fx.OpenWebSocket) -> None:
        self.driver, self.socket_id = driver, effect.socket_id
        self.conn = WSConnection(ConnectionType.CLIENT)
        self.fragments: list[str] = []
        self.sock = connect(effect.url, CONNECT_TIMEOUT)
        self.send(ws.Request(host=urlsplit(effect.url).netloc, target=target(effect.url)))
        driver.watch(self)

    def send(self, event: ws.Event) -> None:
        self.sock.sendall(self.conn.send(event))

    def readable(self) -> None:
        data = self.sock.recv(65536)
        self.conn.receive_data(data or None)
        for event in self.conn.events():
            if isinstance(event, ws.AcceptConnection):
                self.driver.feed(ins.WebSocketOpened(self.socket_id))
            elif isinstance(event, ws.RejectConnection):
                return self.end(ins.WebSocketRejected(self.socket_id, event.status_code))
            elif isinstance(event, ws.TextMessage):
                self.text(event)
            elif isinstance(event, ws.Ping):
                self.send(event.response())
            elif isinstance(event, ws.CloseConnection):
                if self.conn.state is ConnectionState.REMOTE_CLOSING:
                    self.send(event.response())
                return self.end(ins.WebSocketClosed(self.socket_id, event.code, event.reason or ""))
        if not data:
            self.end(ins.WebSocketClosed(self.socket_id, 1006, "connection lost"))

    def text(self, event: ws.TextMessage) -> None:
        self.fragments.append(event.data)
        if sum(map(len, self.fragments)) > MAX_MESSAGE:  # bounded, and said so
            self.send(ws.CloseConnection(1009, "message too big"))
            self.end(ins.WebSocketClosed(self.socket_id, 1009, "message too big"))
        elif event.message_finished:
            text, self.fragments = "".join(self.fragments), []
            self.driver.feed(ins.WebSocketTextReceived(self.socket_id, text))

    def broken(self, exc: BaseException) -> None:
        self.end(ins.WebSocketClosed(self.socket_id, 1006, "connection lost"))

    def end(self, outcome: ins.Input | None = None) -> None:
        """Drop the socket; ``outcome`` is the last input it feeds."""
        self.driver.sockets.pop(self.socket_id, None)
        self.driver.forget(self.sock)
        if outcome is not None:
            self.driver.feed(outcome)


class Driver:
    """Feeds the session one input at a time and runs its effects, in order."""

    def __init__(self, session: MeetingsSession) -> None:
        self.session = session
        self.selector = selectors.DefaultSelector()
        self.inputs: list[ins.Input] = []
        self.timers: dict[int, float] = {}  # timer id -> monotonic deadline
        self.sockets: dict[int, WebSocket] = {}
        self.completed: dict[int, WebexError | None] = {}
        self.events: list[Event] = []
        self.command_ids = itertools.count(1)

    def feed(self, event: ins.Input) -> None:
        self.inputs.append(event)

    def watch(self, owner: HttpExchange | WebSocket) -> None:
        self.selector.register(owner.sock, selectors.EVENT_READ, owner)

    def forget(self, sock: socket.socket) -> None:
        self.selector.unregister(sock)
        sock.close()

    def command(self, kind: type[ins.Register] | type[ins.Unregister], timeout: float) -> None:
        """Run ``register()`` or ``unregister()`` to its end; raise its error."""
        command_id = next(self.command_ids)
        self.feed(kind(command_id))
        self.run_until(lambda: command_id in self.completed, timeout)
        if (error := self.completed.pop(command_id)) is not None:
            raise error

    def run_until(self, done: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            while self.inputs:  # one input at a time; its effects run before the next
                for effect in self.session.handle(self.inputs.pop(0), now=time.time()):
                    RUNNERS[type(effect)](self, effect)
            if done():
                return
            if time.monotonic() > deadline:
                raise TimeoutError("the session did not get there in time")
            owners = [key.data for key in self.selector.get_map().values()]
            exchanges = [owner for owner in owners if isinstance(owner, HttpExchange)]
            wake = min([deadline, *self.timers.values(), *(x.deadline for x in exchanges)])
            self.wait(wake, exchanges)

    def wait(self, until: float, exchanges: list[HttpExchange]) -> None:
        for key, _ in self.selector.select(max(0.0, until - time.monotonic())):
            try:
                key.data.readable()
            except BROKEN as exc:
                key.data.broken(exc)
        now = time.monotonic()
        for timer_id, due in sorted(self.timers.items(), key=lambda item: item[1]):
            if due <= now:
                del self.timers[timer_id]
                self.feed(ins.TimerFired(timer_id))
        for exchange in exchanges:
            if exchange.deadline <= now and exchange.sock.fileno() != -1:
                exchange.failed(ins.FailureKind.TIMEOUT, "timed out")

    def close(self) -> None:
        """After ``Shutdown``: drop whatever is still open."""
        for key in list(self.selector.get_map().values()):
            self.forget(key.fileobj)  # type: ignore[arg-type]

    # -- effects: each only starts something ----------------------------------------------

    def send_http(self, effect: fx.SendHttpRequest) -> None:
        try:
            HttpExchange(self, effect)
        except BROKEN as exc:
            why = f"connect failed ({type(exc).__name__})"
            self.feed(ins.HttpRequestFailed(effect.request_id, why, failure_kind(exc)))

    def open_websocket(self, effect: fx.OpenWebSocket) -> None:
        try:
            self.sockets[effect.socket_id] = WebSocket(self, effect)
        except BROKEN:
            self.feed(ins.WebSocketClosed(effect.socket_id, 1006, "connect failed"))

    def start_timer(self, effect: fx.StartTimer) -> None:
        self.timers[effect.timer_id] = time.monotonic() + effect.delay

    def cancel_timer(self, effect: fx.CancelTimer) -> None:
        self.timers.pop(effect.timer_id, None)

    def on_socket(self, socket_id: int, action: Callable[[WebSocket], None]) -> None:
        if (sock := self.sockets.get(socket_id)) is not None:
            try:
                action(sock)
            except BROKEN as exc:
                sock.broken(exc)


RUNNERS: dict[type[fx.Effect], Callable[[Driver, Any], None]] = {
    fx.SendHttpRequest: Driver.send_http,
    fx.OpenWebSocket: Driver.open_websocket,
    fx.SendWebSocketText: lambda d, e: d.on_socket(
        e.socket_id, lambda s: s.send(ws.Message(e.text))
    ),
    fx.CloseWebSocket: lambda d, e: d.on_socket(
        e.socket_id, lambda s: s.send(ws.CloseConnection(e.code, e.reason))
    ),
    fx.AbortWebSocket: lambda d, e: d.on_socket(e.socket_id, WebSocket.end),
    fx.StartTimer: Driver.start_timer,
    fx.CancelTimer: Driver.cancel_timer,
    fx.EmitEvent: lambda d, e: d.events.append(e.event),
    fx.CompleteCommand: lambda d, e: d.completed.__setitem__(e.command_id, e.error),
    # Only credentials built with Credentials.from_provider() ask; this example has none.
    fx.RequestToken: lambda d, e: d.feed(ins.TokenProviderFailed(e.request_id, "no provider")),
    fx.UpdateDeviceStore: lambda d, e: None,  # no device store here: always the cold path
}
"""What each effect starts; every effect kind of ``webex_meetings.core.effects`` is here."""


def main() -> None:
    cloud = os.environ.get("WEBEX_CLOUD_URL")
    config = SessionConfig.for_cloud(cloud) if cloud else SessionConfig()
    driver = Driver(MeetingsSession(config, Credentials(os.environ["WEBEX_ACCESS_TOKEN"])))
    driver.feed(ins.Initialize())
    try:
        driver.command(ins.Register, timeout=90)
        device = driver.session.device
        print("registered:", device.url if device else "?")
        driver.run_until(lambda: any(isinstance(e, MercuryEvent) for e in driver.events), 60)
        event = next(e for e in driver.events if isinstance(e, MercuryEvent))
        print("event:", event.event_type, event.data)
    finally:
        driver.command(ins.Unregister, timeout=30)  # leaves no device behind
        driver.feed(ins.Shutdown())
        driver.run_until(lambda: not driver.inputs, timeout=1)
        driver.close()
    print("unregistered")


if __name__ == "__main__":
    main()
