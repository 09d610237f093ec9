"""The lean frame path (:mod:`webex_meetings.transports._frames`) against wsproto: what we
encode wsproto reads back, and a client reading small texts itself behaves exactly as one
leaving every byte to wsproto, whatever the frames and however the reads split them."""

from __future__ import annotations

import itertools
import re

from hypothesis import given, settings
from hypothesis import strategies as st
from websocket_upgrade import switching_protocols, upgrade_key
from wsproto import ConnectionType
from wsproto.connection import Connection, ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    Pong,
    TextMessage,
)

from webex_meetings.transports._frames import FrameSplitter, encode_text, mask
from webex_meetings.transports._wsproto_client import (
    _EVENT_HANDLERS,
    WebSocketClientProtocol,
    WebSocketTarget,
)
from webex_meetings.transports.base import (
    WebSocketClosedMessage,
    WebSocketMessage,
    WebSocketTextMessage,
)

MAX_MESSAGE_SIZE = 300


def _server_events(data: bytes) -> list[Event]:
    """What a wsproto server reads from the client's bytes."""
    server = Connection(ConnectionType.SERVER)
    server.receive_data(data)
    return list(server.events())


@given(st.text(max_size=70_000) | st.text(max_size=300))
def test_encoded_text_reads_back_through_wsproto(text: str) -> None:
    events = _server_events(encode_text(text))
    assert all(isinstance(event, TextMessage) for event in events)
    assert "".join(event.data for event in events if isinstance(event, TextMessage)) == text
    assert events[-1].message_finished  # type: ignore[attr-defined]


@given(st.binary(max_size=100), st.binary(min_size=4, max_size=4))
def test_mask_is_an_involution_matching_bytewise_xor(data: bytes, key: bytes) -> None:
    masked = mask(data, key)
    assert masked == bytes(byte ^ key[i % 4] for i, byte in enumerate(data))
    assert mask(masked, key) == data


# -- the receiving side: ours against wsproto alone ----------------------------------------------


class WsprotoClient(WebSocketClientProtocol):
    """The reference: the client as it was before :mod:`._frames`, every byte wsproto's."""

    def receive(self, data: bytes) -> bool:
        self._ws.receive_data(data)
        return any(isinstance(event, AcceptConnection) for event in self._ws.events())

    def receive_data(self, data: bytes) -> None:
        if self._closed is None and self._ws.state is not ConnectionState.CLOSED:
            self._ws.receive_data(data or None)

    def next_message(self) -> WebSocketMessage | None:
        if self._closed is not None:
            return self._closed
        for event in self._ws.events():
            handler = _EVENT_HANDLERS.get(type(event))
            message = handler(self, event) if handler is not None else None
            if message is not None:
                return message
        return None

    def send_text(self, text: str) -> None:
        self._outbox += self._ws.send(TextMessage(data=text))


def _accepted(*, lean: bool, first_frames: bytes = b"") -> WebSocketClientProtocol:
    protocol = (WebSocketClientProtocol if lean else WsprotoClient)(
        WebSocketTarget.from_url("ws://h.test/"), max_message_size=MAX_MESSAGE_SIZE
    )
    answer = switching_protocols(upgrade_key(protocol.data_to_send()))
    assert protocol.receive(answer + first_frames)
    return protocol


_texts = st.text(max_size=40) | st.text(min_size=100, max_size=160)
"""Short texts, and some of 126 bytes and more (a 16-bit length; more than the client's
small-text limit, ``MAX_MESSAGE_SIZE``, when longer than 300 bytes)."""
_binaries = st.binary(max_size=40)


@st.composite
def _server_frames(draw: st.DrawFn, count: int = 12) -> bytes:
    """A stream of frames as a server sends them: texts (some larger than the client takes),
    fragmented messages, binary ones, pings, pongs, invalid UTF-8 and perhaps a close."""
    server = Connection(ConnectionType.SERVER)
    stream = bytearray()
    for kind in draw(st.lists(st.sampled_from(sorted(_KINDS)), max_size=count)):
        stream += _KINDS[kind](draw, server)
        if kind == "close":  # the server sends nothing after its close
            break
    return bytes(stream)


def _text(draw: st.DrawFn, server: Connection) -> bytes:
    return server.send(TextMessage(data=draw(_texts)))


def _fragmented(draw: st.DrawFn, server: Connection) -> bytes:
    parts = draw(st.lists(_texts, min_size=2, max_size=4))
    data = b"".join(server.send(TextMessage(data=p, message_finished=False)) for p in parts)
    return data + server.send(TextMessage(data=draw(_texts)))


def _binary(draw: st.DrawFn, server: Connection) -> bytes:
    finished = draw(st.booleans())
    data = server.send(BytesMessage(data=draw(_binaries), message_finished=finished))
    return data if finished else data + server.send(BytesMessage(data=draw(_binaries)))


def _ping(draw: st.DrawFn, server: Connection) -> bytes:
    return server.send(Ping(payload=draw(st.binary(max_size=125))))


def _pong(draw: st.DrawFn, server: Connection) -> bytes:
    return server.send(Pong(payload=draw(st.binary(max_size=125))))


def _invalid_utf8(draw: st.DrawFn, server: Connection) -> bytes:
    payload = draw(st.binary(max_size=10)) + b"\xff" + draw(st.binary(max_size=10))
    return bytes((0x81, len(payload))) + payload


def _close(draw: st.DrawFn, server: Connection) -> bytes:
    code = draw(st.sampled_from([1000, 1001, 1011, 4000]))
    return server.send(CloseConnection(code=code, reason=draw(st.text(max_size=20))))


_KINDS = {
    "text": _text,
    "fragmented": _fragmented,
    "binary": _binary,
    "ping": _ping,
    "pong": _pong,
    "invalid": _invalid_utf8,
    "close": _close,
}


def _run(
    protocol: WebSocketClientProtocol, chunks: list[bytes], close_after: int | None = None
) -> list[object]:
    """Feed ``chunks`` then the end of the stream as a stream owner does, the client
    closing after chunk ``close_after`` if given; everything the client reports and sends
    (as a server reads it), in order."""
    seen: list[object] = []
    for index, chunk in enumerate([*(chunk for chunk in chunks if chunk), b""]):  # b"": end
        if index == close_after:
            protocol.close(1000, "bye")
        protocol.receive_data(chunk)
        while True:
            message: WebSocketMessage | None = protocol.next_message()
            if protocol.has_data_to_send:
                seen.append(_sent(protocol.data_to_send()))
            if message is None:
                break
            if isinstance(message, WebSocketClosedMessage):
                message = WebSocketClosedMessage(message.code, _unplaced(message.reason))
            seen.append(message)
            if isinstance(message, WebSocketClosedMessage):
                return seen
    return seen


def _sent(data: bytes) -> list[tuple[str, object]]:
    """The client's frames as wsproto reads them (masks differ from run to run)."""
    server = Connection(ConnectionType.SERVER)
    server.receive_data(data)
    return [(type(event).__name__, _unplaced(repr(event))) for event in server.events()]


def _unplaced(text: str) -> str:
    """A UTF-8 error's reason without its byte position (``byte 0xe1 in position 3``, ``bytes
    in position 0-1``: how much the decoder saw at once). wsproto counts the position from
    the start of the read that held the bad byte, so it differs between the two clients (we
    give wsproto a small text's bytes together) as it already differs between two TCP
    segmentations of the same frames; the code (1007) and the rest are the same."""
    return re.sub(r"decode bytes? (0x[0-9a-f]{2} )?in position \d+(-\d+)?", "decode at N", text)


def _split(stream: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(stream), *(cut % (len(stream) + 1) for cut in cuts)})
    return [stream[a:b] for a, b in itertools.pairwise(points)]


@settings(deadline=None)
@given(
    _server_frames(),
    st.lists(st.integers(min_value=0), max_size=6),
    st.none() | st.integers(min_value=0, max_value=7),
)
def test_lean_client_agrees_with_wsproto(
    stream: bytes, cuts: list[int], close_after: int | None
) -> None:
    """Also when the client closes first (wsproto reads what follows its close)."""
    _agree(_split(stream, cuts), close_after)


def _agree(chunks: list[bytes], close_after: int | None = None) -> None:
    lean = _run(_accepted(lean=True), chunks, close_after)
    assert lean == _run(_accepted(lean=False), chunks, close_after)


@settings(deadline=None, max_examples=40)  # two runs per split point: slow by design
@given(_server_frames(count=5))
def test_lean_client_agrees_with_wsproto_at_every_split(stream: bytes) -> None:
    for cut in range(1, len(stream)):
        _agree([stream[:cut], stream[cut:]])
    _agree([stream[i : i + 1] for i in range(len(stream))])


@settings(deadline=None)
@given(_server_frames(), st.integers(min_value=0, max_value=40))
def test_frames_behind_the_101_are_read_alike(stream: bytes, cut: int) -> None:
    first, rest = stream[:cut], stream[cut:]
    lean = _run(_accepted(lean=True, first_frames=first), [rest])
    assert lean == _run(_accepted(lean=False, first_frames=first), [rest])


@given(st.lists(st.binary(), max_size=6))
def test_arbitrary_bytes_are_read_alike(chunks: list[bytes]) -> None:
    """Broken frames too: the first one we do not read is wsproto's, and it fails alike."""
    _agree(chunks)


def test_small_texts_skip_wsproto() -> None:
    frames = FrameSplitter(limit=200)
    server = Connection(ConnectionType.SERVER)
    frames.feed(server.send(TextMessage(data="pong")) + server.send(TextMessage(data="é" * 70)))
    assert frames.next_item() == "pong"
    assert frames.next_item() == "é" * 70  # 140 bytes: a 16-bit length
    assert frames.next_item() is None


def test_invalid_utf8_and_large_frames_go_to_wsproto() -> None:
    frames = FrameSplitter(limit=10)
    invalid = b"\x81\x02\xc3\x28"
    large = b"\x81\x0b" + b"x" * 11
    frames.feed(invalid + large)
    assert frames.next_item() == invalid
    assert frames.next_item() == large
    assert frames.next_item() is None


def test_a_large_frame_passes_through_as_it_arrives() -> None:
    frames = FrameSplitter(limit=10)
    frames.feed(b"\x81\x7e\x01\x00" + b"a" * 100)
    assert frames.next_item() == b"\x81\x7e\x01\x00" + b"a" * 100
    frames.feed(b"b" * 156 + b"\x81\x01c")
    assert frames.next_item() == b"b" * 156
    assert frames.next_item() == "c"


def test_a_non_minimal_or_broken_length_is_wsproto_s() -> None:
    frames = FrameSplitter(limit=1000)
    frames.feed(b"\x81\x7e\x00\x05hello")  # 16 bits for 5
    assert frames.next_item() == b"\x81\x7e\x00\x05hello"
    frames = FrameSplitter(limit=1000)
    frames.feed(b"\x81\x7f\x80" + b"\x00" * 7 + b"xyz")  # the top bit of 64: forever
    assert frames.next_item() == b"\x81\x7f\x80" + b"\x00" * 7 + b"xyz"
    frames.feed(b"\x81\x01c")
    assert frames.next_item() == b"\x81\x01c"


def test_a_fragmented_message_is_wsproto_s_to_its_end() -> None:
    frames = FrameSplitter(limit=100)
    frames.feed(b"\x01\x01a" + b"\x81\x01b" + b"\x80\x01c" + b"\x81\x01d")
    assert frames.next_item() == b"\x01\x01a"
    assert frames.next_item() == b"\x81\x01b"  # inside the message: wsproto fails it
    assert frames.next_item() == b"\x80\x01c"
    assert frames.next_item() == "d"


def test_invalid_utf8_still_closes_with_1007() -> None:
    protocol = _accepted(lean=True)
    protocol.receive_data(b"\x81\x01a\x81\x02\xc3\x28")
    assert protocol.next_message() == WebSocketTextMessage("a")
    closed = protocol.next_message()
    assert isinstance(closed, WebSocketClosedMessage)
    assert (closed.code, closed.reason.startswith("closed by us with 1007")) == (1006, True)
    assert _sent(protocol.data_to_send())[0][0] == "CloseConnection"
