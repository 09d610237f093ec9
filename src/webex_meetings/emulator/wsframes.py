"""A watch on websocket frame headers: refuse an oversized message when it is announced.

wsproto hands a message over as its bytes arrive, so a frame whose header announces 2^63
bytes would hold its connection for as long as the client cares to trickle. The guard reads
the same byte stream (before wsproto does), parses only the frame headers (RFC 6455 §5.2) and
skips payloads by arithmetic, and reports as soon as a frame, or the fragments of one message
together, announce more than the limit. No I/O; each call costs time in the number of frame
headers in the chunk, not in its bytes.
"""

from __future__ import annotations

from typing import Final

__all__ = ["FrameSizeGuard"]

_CONTINUATION: Final = 0x0
_FIRST_CONTROL_OPCODE: Final = 0x8
_EXTENDED_LENGTH: Final = {126: 2, 127: 8}


def _header_length(first_two: bytes | bytearray) -> int:
    masked = first_two[1] & 0x80
    return 2 + _EXTENDED_LENGTH.get(first_two[1] & 0x7F, 0) + (4 if masked else 0)


def _payload_length(header: bytes | bytearray) -> int:
    short = header[1] & 0x7F
    size = _EXTENDED_LENGTH.get(short)
    return short if size is None else int.from_bytes(header[2 : 2 + size], "big")


class FrameSizeGuard:
    """Tracks the frames of one direction of a websocket (see the module docstring)."""

    def __init__(self, max_message_bytes: int) -> None:
        self.limit = max_message_bytes
        self._header = bytearray()
        self._payload_left = 0
        self._message_bytes = 0
        self.clean_prefix = 0
        """After :meth:`feed` reported: how many bytes of that chunk came before the
        offending frame (they may still be handed on)."""

    def feed(self, data: bytes) -> int | None:
        """Account for the next bytes of the stream; the announced size of the message when
        it exceeds the limit (the guard is then spent), else ``None``."""
        view = memoryview(data)
        header_start = 0
        while view:
            if self._payload_left:
                skipped = min(self._payload_left, len(view))
                self._payload_left -= skipped
                view = view[skipped:]
                continue
            if not self._header:
                header_start = len(data) - len(view)
            view = self._read_header(view)
            if len(self._header) >= 2 and len(self._header) == _header_length(self._header):
                too_big = self._frame_complete()
                if too_big is not None:
                    self.clean_prefix = header_start
                    return too_big
        return None

    @property
    def inside_payload(self) -> bool:
        """Whether the bytes so far end inside a frame's payload."""
        return self._payload_left > 0

    def _read_header(self, view: memoryview) -> memoryview:
        needed = 2 if len(self._header) < 2 else _header_length(self._header)
        take = min(needed - len(self._header), len(view))
        self._header += view[:take]
        return view[take:]

    def _frame_complete(self) -> int | None:
        header, self._header = self._header, bytearray()
        opcode, final = header[0] & 0x0F, bool(header[0] & 0x80)
        length = _payload_length(header)
        self._payload_left = length
        if opcode >= _FIRST_CONTROL_OPCODE:
            return length if length > self.limit else None
        if opcode == _CONTINUATION:
            self._message_bytes += length
        else:
            self._message_bytes = length
        size = self._message_bytes
        if final:
            self._message_bytes = 0
        return size if size > self.limit else None
