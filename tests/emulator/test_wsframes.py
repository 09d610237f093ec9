"""The frame-size guard reads frame headers exactly as wsproto frames them, however the bytes
are chunked, and reports a message over the limit as soon as its header announces it."""

from __future__ import annotations

import itertools
import struct

from hypothesis import given
from hypothesis import strategies as st
from wsproto.connection import Connection, ConnectionType
from wsproto.events import BytesMessage, Ping, TextMessage

from webex_meetings.emulator.wsframes import FrameSizeGuard

LIMIT = 300


def _client_bytes(messages: list[tuple[str, int, bool]]) -> bytes:
    """What a wsproto client sends for these ``(kind, size, last fragment)`` messages."""
    client = Connection(ConnectionType.CLIENT)  # after the handshake: frames only
    out = b""
    for kind, size, last in messages:
        if kind == "text":
            out += client.send(TextMessage(data="a" * size, message_finished=last))
        elif kind == "bytes":
            out += client.send(BytesMessage(data=b"a" * size, message_finished=last))
        else:
            out += client.send(Ping(payload=b"p" * min(size, 125)))
    return out


def _chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


message = st.tuples(
    st.sampled_from(["text", "bytes", "ping"]),
    st.one_of(st.integers(0, 200), st.integers(0, 70_000)),
    st.booleans(),
)


@given(messages=st.lists(message, max_size=8), cuts=st.lists(st.integers(0, 10**6), max_size=12))
def test_the_guard_trips_exactly_when_a_message_announces_too_much(
    messages: list[tuple[str, int, bool]], cuts: list[int]
) -> None:
    # A message is the data frames since the last final one, pings interleaved; the sender
    # continues one kind of message until it finishes.
    normalized, kind_open = [], None
    for kind, size, last in messages:
        if kind != "ping":
            kind = kind_open or kind
            kind_open = None if last else kind
        normalized.append((kind, size, last))
    expected, running = None, 0
    for kind, size, last in normalized:
        if kind == "ping":
            continue
        running += size
        if running > LIMIT and expected is None:
            expected = running
        if last:
            running = 0
    guard = FrameSizeGuard(LIMIT)
    reported, passed = None, b""
    data = _client_bytes(normalized)
    for chunk in _chunks(data, cuts):
        reported = guard.feed(chunk)
        if reported is not None:
            passed += chunk[: guard.clean_prefix]
            break
        passed += chunk
    assert reported == expected
    if expected is not None:  # what passes on stops before the offending frame's payload
        boundary = FrameSizeGuard(2**64)
        assert boundary.feed(passed) is None
        assert not boundary.inside_payload
        assert data.startswith(passed)


def test_a_header_announcing_two_to_the_63_trips_before_any_payload() -> None:
    guard = FrameSizeGuard(1024)
    header = bytes([0x81, 0xFF]) + struct.pack(">Q", 2**63) + b"mask"
    assert guard.feed(header[:5]) is None
    assert guard.feed(header[5:]) == 2**63


def test_16_bit_lengths_and_unmasked_frames() -> None:
    guard = FrameSizeGuard(1000)
    assert guard.feed(bytes([0x82, 126]) + struct.pack(">H", 1000) + b"x" * 1000) is None
    assert guard.feed(bytes([0x82, 126]) + struct.pack(">H", 1001)) == 1001
