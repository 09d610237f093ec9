"""Timers as data: the core asks for a wake-up and is told when it comes.

The core never reads a clock. It asks a driver for ``StartTimer(timer_id, delay)`` and is fed
``TimerFired(timer_id)``. Each part of a session that waits for something (the HTTP client's
retries and token refresh, the Mercury link's pings and reconnects, the session's device
refresh) keeps its own :class:`TimerSet`: at most one timer per *key* (what the wait is for),
so arming a key again replaces its timer, and a ``TimerFired`` for a timer that was cancelled
or replaced meanwhile is recognised as stale and ignored.

Timer ids come from the session's one id allocator (``new_id``), so ids are unique across the
parts and across kinds (requests, sockets, timers): the session asks each part in turn whether
a fired id is one of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import Generic, TypeVar

from .effects import CancelTimer, Effect, StartTimer

__all__ = ["TimerSet"]

K = TypeVar("K", bound=Hashable)


class TimerSet(Generic[K]):
    """The live timers of one owner, by key. Returns effects; never runs callbacks."""

    __slots__ = ("_by_id", "_by_key", "_new_id")

    def __init__(self, new_id: Callable[[], int]) -> None:
        self._new_id = new_id
        self._by_key: dict[K, int] = {}
        self._by_id: dict[int, K] = {}

    def start(self, key: K, delay: float) -> list[Effect]:
        """Arm ``key`` to fire after ``delay`` seconds, replacing a timer armed for it."""
        by_key = self._by_key
        replaced = by_key.get(key)
        timer_id = by_key[key] = self._new_id()
        self._by_id[timer_id] = key
        start = StartTimer(timer_id, delay if delay > 0.0 else 0.0)
        if replaced is None:
            return [start]
        del self._by_id[replaced]
        return [CancelTimer(replaced), start]

    def cancel(self, key: K) -> list[Effect]:
        """Disarm ``key`` (nothing when it is not armed)."""
        timer_id = self._by_key.pop(key, None)
        if timer_id is None:
            return []
        del self._by_id[timer_id]
        return [CancelTimer(timer_id)]

    def cancel_each(self, keys: Iterable[K]) -> list[Effect]:
        """Disarm each of ``keys`` that is armed (nothing for the others)."""
        by_key, by_id = self._by_key, self._by_id
        effects: list[Effect] = []
        for key in keys:
            timer_id = by_key.pop(key, None)
            if timer_id is not None:
                del by_id[timer_id]
                effects.append(CancelTimer(timer_id))
        return effects

    def fired(self, timer_id: int) -> K | None:
        """The key ``timer_id`` was armed for, now disarmed; ``None`` when it is not one of
        ours or no longer live."""
        key = self._by_id.pop(timer_id, None)
        if key is not None:
            del self._by_key[key]
        return key

    def armed(self, key: K) -> bool:
        """True while ``key`` is armed."""
        return key in self._by_key

    def cancel_all(self) -> list[Effect]:
        """Disarm every timer."""
        effects: list[Effect] = [CancelTimer(i) for i in self._by_id]
        self._by_key.clear()
        self._by_id.clear()
        return effects
