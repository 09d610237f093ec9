"""The emulator's memory of what clients did: one bounded log per kind of record.

The service handlers, the Mercury connections and the server append here (on the event loop's
thread); the control API reads copies. Each log keeps the newest ``limit`` records (100,000 by
default) so a long-running emulator under load never grows without bound; ``dropped`` counts
what fell off the front.
"""

from __future__ import annotations

from collections import deque
from typing import Final, Generic, TypeVar

from .records import AckRecord, ConnectionInfo, RequestRecord, Violation

__all__ = ["DEFAULT_RECORD_LIMIT", "Log", "Recorder"]

DEFAULT_RECORD_LIMIT: Final = 100_000

T = TypeVar("T")


class Log(Generic[T]):
    """The newest ``limit`` records of one kind, oldest first."""

    def __init__(self, limit: int) -> None:
        self._items: deque[T] = deque(maxlen=limit)
        self.dropped = 0

    def append(self, item: T) -> None:
        if len(self._items) == self._items.maxlen:
            self.dropped += 1
        self._items.append(item)

    def snapshot(self) -> list[T]:
        return list(self._items)

    def clear(self) -> None:
        self._items.clear()
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._items)


class Recorder:
    """Violations, requests, acks and finished websocket connections."""

    def __init__(self, limit: int = DEFAULT_RECORD_LIMIT) -> None:
        if limit < 1:
            raise ValueError("the record limit must be at least 1")
        self.violations: Log[Violation] = Log(limit)
        self.requests: Log[RequestRecord] = Log(limit)
        self.acks: Log[AckRecord] = Log(limit)
        self.connections: Log[ConnectionInfo] = Log(limit)
        """Finished connections only; live ones are in the registry."""

    def clear(self) -> None:
        for log in (self.violations, self.requests, self.acks, self.connections):
            log.clear()
