"""The server's side of a websocket upgrade, for test servers that answer by hand.

Computed here from RFC 6455 (SHA-1 of the key and the protocol's GUID), not with wsproto, so
the tests of our client do not check it against the library it is built on.
"""

from __future__ import annotations

import base64
import hashlib

__all__ = ["switching_protocols", "upgrade_key"]

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def upgrade_key(request: bytes) -> bytes:
    """The ``Sec-WebSocket-Key`` of a raw upgrade request."""
    return next(
        line.split(b":", 1)[1].strip()
        for line in request.split(b"\r\n")
        if line.lower().startswith(b"sec-websocket-key:")
    )


def switching_protocols(key: bytes) -> bytes:
    """The ``101`` answer that accepts an upgrade request carrying ``key``."""
    accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())
    return (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    )
