"""The emulator's bounds on what a client can take: bytes, time and connections.

Every resource an untrusted client can make the emulator hold is bounded here: request heads
and bodies, websocket messages, the time a connection may sit idle or trickle, the time a send
may wait for a client that stopped reading, and the number of connections and websockets. The
defaults suit a test suite and a 10,000-websocket load test alike; ``max_connections``
defaults to what the process's file-descriptor limit allows (:func:`descriptor_budget`).
"""

from __future__ import annotations

import logging
import math
import ssl
import sys
from dataclasses import dataclass, fields
from typing import Final

import anyio

__all__ = ["TRANSPORT_ERRORS", "Limits", "descriptor_budget", "raise_descriptor_limit"]

log = logging.getLogger(__name__)

TRANSPORT_ERRORS: Final = (
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    anyio.EndOfStream,
    OSError,
    ssl.SSLError,
)
"""What a stream raises when its peer went away."""

RESERVED_DESCRIPTORS: Final = 64
"""Descriptors kept back from connections (the listener, logs, certificates, the runtime)."""


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds (bytes, seconds, counts); see the module docstring.

    ``max_connections`` ``None`` means :func:`descriptor_budget` at start-up;
    ``max_websockets`` ``None`` means ``max_connections``.
    """

    max_header_bytes: int = 16 * 1024
    max_body_bytes: int = 1024 * 1024
    max_ws_message_bytes: int = 1024 * 1024
    read_chunk: int = 64 * 1024
    header_timeout: float = 10.0
    """From the first byte of a request (or the connection's start) to the end of its head."""
    keep_alive_timeout: float = 10.0
    """How long an idle keep-alive connection waits for its next request: longer than the
    common client pools keep one idle (httpx 5 s, Node's agent 4-5 s), so a client never
    reuses a connection the emulator is closing at that moment."""
    body_timeout: float = 30.0
    """From the end of a request's head to the end of its body."""
    send_timeout: float = 30.0
    """How long one send may wait for a client that does not read."""
    max_connections: int | None = None
    max_websockets: int | None = None
    overflow_answers: int = 64
    """Connections over the limit answered with 503 at a time; more are closed at once."""

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"Limits.{item.name} must be a number, not {value!r}")
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"Limits.{item.name} must be finite and > 0, not {value!r}")

    def connection_cap(self) -> int:
        """``max_connections``, or what the descriptor limit allows."""
        return self.max_connections or descriptor_budget()

    def websocket_cap(self) -> int:
        return self.max_websockets or self.connection_cap()


def _descriptor_limits() -> tuple[int, int] | None:
    if sys.platform == "win32":  # pragma: no cover - no RLIMIT_NOFILE there
        return None
    import resource

    return resource.getrlimit(resource.RLIMIT_NOFILE)


def descriptor_budget() -> int:
    """How many connections fit in this process's file-descriptor limit (one each), keeping
    :data:`RESERVED_DESCRIPTORS` back; 10,000 where the platform has no such limit."""
    limits = _descriptor_limits()
    if limits is None or limits[0] < 0:  # RLIM_INFINITY is -1
        return 10_000
    return max(1, limits[0] - RESERVED_DESCRIPTORS)


def raise_descriptor_limit(wanted: int | None = None) -> tuple[int, int] | None:
    """Raise the soft file-descriptor limit towards the hard one (to ``wanted`` if given);
    ``(old, new)`` when it changed. A standalone server does this; a library never does."""
    limits = _descriptor_limits()
    if limits is None:  # pragma: no cover
        return None
    import resource

    soft, hard = limits
    ceiling = hard if hard >= 0 else 1 << 20
    target = ceiling if wanted is None else min(ceiling, wanted)
    if soft < 0 or target <= soft:
        return None
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError) as exc:
        log.warning("could not raise the file-descriptor limit to %d: %s", target, exc)
        return None
    return soft, target
