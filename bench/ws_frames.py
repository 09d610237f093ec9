"""Websocket framing of one idle ping cycle: the lean path against wsproto alone (issue 11).

One cycle is what an idle Mercury connection does every 15 s, in the sans-IO client only (no
socket, no TLS, no event loop): the client frames its ping (``send_text`` + ``data_to_send``)
and reads the server's pong (``receive_data`` + ``next_message`` until ``None``). "ours" is
:class:`~webex_meetings.transports._wsproto_client.WebSocketClientProtocol` as shipped (small
texts through :mod:`webex_meetings.transports._frames`); "wsproto" is the same client with
every received byte left to wsproto and every text framed by wsproto, as before that module.
Also each half on its own, and a 4 KiB event (a typical Mercury event) received.

    .venv/bin/python bench/ws_frames.py [--cycles N]

Prints microseconds per operation for both and the ratio wsproto / ours (above 1: ours is
faster), best of five runs each, interleaved.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import time
from collections.abc import Callable

from wsproto import ConnectionType
from wsproto.connection import Connection
from wsproto.events import TextMessage

from webex_meetings.transports._wsproto_client import WebSocketClientProtocol, WebSocketTarget

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
PING = json.dumps({"id": "5f3c7a2e-8d1b-4c7e-9a51-3b0f6d2e1c44", "type": "ping"})
PONG = json.dumps({"id": "5f3c7a2e-8d1b-4c7e-9a51-3b0f6d2e1c44", "type": "pong"})
EVENT = json.dumps({"id": "e" * 36, "data": {"eventType": "locus.difference", "x": "y" * 4000}})


class WsprotoTexts(WebSocketClientProtocol):
    """The client as it was: texts framed by wsproto, no received byte read outside it."""

    def send_text(self, text: str) -> None:
        if self._closed is not None or self._ws.state.name != "OPEN":
            raise RuntimeError("closed")
        self._outbox += self._ws.send(TextMessage(data=text))


def _open(lean: bool) -> WebSocketClientProtocol:
    protocol = (WebSocketClientProtocol if lean else WsprotoTexts)(
        WebSocketTarget.from_url("ws://bench.test/")
    )
    request = protocol.data_to_send()
    key = request.split(b"Sec-WebSocket-Key: ")[1].split(b"\r\n")[0]
    accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
    if not lean:
        protocol._frames.hand_over_all()
    protocol.receive(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    )
    return protocol


def _server_frame(text: str) -> bytes:
    return Connection(ConnectionType.SERVER).send(TextMessage(data=text))


def _send(protocol: WebSocketClientProtocol) -> None:
    protocol.send_text(PING)
    protocol.data_to_send()


def _receiver(frame: bytes) -> Callable[[WebSocketClientProtocol], None]:
    def receive(protocol: WebSocketClientProtocol) -> None:
        protocol.receive_data(frame)
        while protocol.next_message() is not None:
            pass

    return receive


def _cycle(protocol: WebSocketClientProtocol) -> None:
    _send(protocol)
    _RECEIVE_PONG(protocol)


_RECEIVE_PONG = _receiver(_server_frame(PONG))

CASES: dict[str, Callable[[WebSocketClientProtocol], None]] = {
    "ping cycle (send ping + receive pong)": _cycle,
    "send a ping": _send,
    "receive a pong": _RECEIVE_PONG,
    "receive a 4 KiB event": _receiver(_server_frame(EVENT)),
}


def _best_us(step: Callable[[WebSocketClientProtocol], None], lean: bool, cycles: int) -> float:
    protocol = _open(lean)
    start = time.perf_counter()
    for _ in range(cycles):
        step(protocol)
    return (time.perf_counter() - start) / cycles * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=20_000)
    cycles = parser.parse_args().cycles
    print(f"{'per operation (us), best of 5':40} {'ours':>8} {'wsproto':>8} {'ratio':>6}")
    for name, step in CASES.items():
        ours, theirs = [], []
        for _ in range(5):
            ours.append(_best_us(step, True, cycles))
            theirs.append(_best_us(step, False, cycles))
        print(f"{name:40} {min(ours):8.2f} {min(theirs):8.2f} {min(theirs) / min(ours):6.2f}")


if __name__ == "__main__":
    main()
