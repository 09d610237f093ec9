"""Small text frames without wsproto: the common case of a websocket, read and written lean.

Theory of operation. Almost every frame on a Mercury connection is a small, final, unmasked
text frame from the server (an event, a pong) or a masked text frame from the client (a ping,
an ack). wsproto handles every frame in general (a frame object, an event object, a buffer
and a generator per step); for these two cases that generality is most of the CPU an idle
connection costs. This module does them directly, and hands wsproto everything else.

* :func:`encode_text` builds the client's frame: header, a fresh masking key from
  ``os.urandom`` (RFC 6455 §5.3), and the payload masked with one XOR of two integers.
* :class:`FrameSplitter` sits in front of wsproto on the receiving side. It buffers received
  bytes and walks them frame by frame (reading only headers): a complete frame that is final
  text, unmasked, without reserved bits, with a minimal 7- or 16-bit length of at most
  ``limit`` bytes, valid UTF-8, outside a fragmented message, is decoded here and returned as
  ``str``. Every other frame's bytes are returned as ``bytes``, for wsproto, as soon as they
  arrive (a large frame is passed through piece by piece, so wsproto's own bounds apply
  as before); so wsproto always sees whole frames in order, every one of them but the small
  texts, and its state (fragmentation, closing, failure) is what it would have been.

The splitter follows fragmentation from the headers it passes on (a non-final text or binary
frame opens a message, a final continuation closes it), so while a message is fragmented
every frame goes to wsproto. :meth:`FrameSplitter.hand_over_all` makes everything from then
on wsproto's: at the end of the stream, once the connection is no longer open, and when the
upgrade answer's trailing bytes could not be located.
"""

from __future__ import annotations

import codecs
import os

__all__ = ["FrameSplitter", "encode_text"]

_FINAL_TEXT = 0x81
"""First header byte of a final text frame with no reserved bit set."""
_MASKED = 0x80
_LENGTH_16 = 126
_LENGTH_64 = 127
_LENGTH_FIELD_SIZES = {_LENGTH_16: 2, _LENGTH_64: 8}
"""Bytes of the extended length, by the 7-bit length field (none for 0-125)."""
_OPCODE_CONTINUATION, _OPCODE_TEXT, _OPCODE_BINARY = 0, 1, 2
_FOREVER = 1 << 64
"""A pass-through count that never runs out."""


def encode_text(text: str) -> bytes:
    """One final, masked text frame holding ``text`` (the client's side, RFC 6455 §5.2).

    :raises UnicodeEncodeError: ``text`` holds a lone surrogate (as wsproto would).
    """
    payload = text.encode("utf-8")
    size = len(payload)
    if size < _LENGTH_16:
        header = bytes((_FINAL_TEXT, _MASKED | size))
    elif size < 1 << 16:
        header = bytes((_FINAL_TEXT, _MASKED | _LENGTH_16)) + size.to_bytes(2, "big")
    else:
        header = bytes((_FINAL_TEXT, _MASKED | _LENGTH_64)) + size.to_bytes(8, "big")
    key = os.urandom(4)
    return header + key + mask(payload, key)


def mask(data: bytes, key: bytes) -> bytes:
    """``data`` XORed with the 4-byte ``key`` repeated (masking and unmasking alike)."""
    size = len(data)
    keystream = (key * ((size >> 2) + 1))[:size]
    masked = int.from_bytes(data, "little") ^ int.from_bytes(keystream, "little")
    return masked.to_bytes(size, "little")


class FrameSplitter:
    """Received websocket bytes split into small texts read here and bytes for wsproto.

    :param limit: the largest payload read here (a larger text frame goes to wsproto).
    """

    __slots__ = ("_buffer", "_fragmented", "_lent", "_limit", "_passing")

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._buffer = bytearray()
        self._passing = 0
        """Bytes of the frame being passed to wsproto not yet passed (``_FOREVER``: all)."""
        self._lent = 0
        """Buffered bytes already given to wsproto: the start of a header not yet whole."""
        self._fragmented = False

    def feed(self, data: bytes) -> None:
        """Add received bytes."""
        self._buffer += data

    def hand_over_all(self) -> bytes:
        """Make every byte wsproto's from now on; returns those buffered (maybe empty)."""
        self._passing = _FOREVER
        lent, self._lent = self._lent, 0
        return self._take(len(self._buffer))[lent:]

    def next_item(self) -> str | bytes | None:
        """The next small text (``str``), bytes for wsproto (``bytes``), or ``None`` when
        more must be received first.

        Bytes wsproto could fail on go to it as soon as they arrive, as they did before this
        module: a header that cannot be a small text's, a small text's payload once it cannot
        be UTF-8. Only a small text's own bytes wait here for the rest of their frame.
        """
        buffer = self._buffer
        if self._passing:
            return self._pass()
        if len(buffer) < 2:
            return None
        first, second = buffer[0], buffer[1]
        length = second & 0x7F
        length_field = _LENGTH_FIELD_SIZES.get(length, 0)
        start = 2 + length_field + (4 if second & _MASKED else 0)
        small = first == _FINAL_TEXT and not self._fragmented and second <= _LENGTH_16
        if len(buffer) < start:
            return None if small else self._lend()
        if length_field:
            length = int.from_bytes(buffer[2 : 2 + length_field], "big")
        if small and length <= self._limit and (second < _LENGTH_16 or length >= _LENGTH_16):
            if len(buffer) < start + length:
                if _may_be_utf8(buffer, start):
                    return None
            else:
                text = self._decode(start, length)
                if text is not None:
                    return text
        self._follow_fragments(first)
        self._passing = _FOREVER if length >> 63 else start + length
        return self._pass()

    def _decode(self, start: int, length: int) -> str | None:
        """The frame's text, consumed; ``None`` (nothing consumed) when it is not UTF-8:
        wsproto then fails the connection exactly as it would have."""
        try:
            text = self._buffer[start : start + length].decode("utf-8")
        except UnicodeDecodeError:
            return None
        del self._buffer[: start + length]
        return text

    def _follow_fragments(self, first: int) -> None:
        opcode, final = first & 0x0F, first & 0x80
        if opcode in (_OPCODE_TEXT, _OPCODE_BINARY) and not final:
            self._fragmented = True
        elif opcode == _OPCODE_CONTINUATION and final:
            self._fragmented = False

    def _lend(self) -> bytes | None:
        """The start of a header that is not a small text's: wsproto gets it now (it may
        fail on it at once); it stays here too, until its length can be read."""
        data = bytes(self._buffer[self._lent :])
        self._lent = len(self._buffer)
        return data or None

    def _pass(self) -> bytes | None:
        if self._lent:  # the header's start, already wsproto's
            del self._buffer[: self._lent]
            self._passing -= self._lent
            self._lent = 0
        count = min(self._passing, len(self._buffer))
        if self._passing != _FOREVER:
            self._passing -= count
        return self._take(count) or None

    def _take(self, count: int) -> bytes:
        data = bytes(self._buffer[:count])
        del self._buffer[:count]
        return data


def _may_be_utf8(buffer: bytearray, start: int) -> bool:
    """Whether the payload so far (from ``start``) can begin a UTF-8 text."""
    try:
        codecs.utf_8_decode(buffer[start:], "strict", False)
    except UnicodeDecodeError:
        return False
    return True
