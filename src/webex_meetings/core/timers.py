"""Timers as data: the core asks for a wake-up and is told when it comes.

The core never reads a clock. It asks a driver for ``StartTimer(timer_id, delay)`` and is fed
``TimerFired(timer_id)``; :class:`Timers` keeps the callback for each live timer id so that a
fired timer runs the right continuation, and a timer that was cancelled (or replaced) before
its ``TimerFired`` arrived is ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from .effects import CancelTimer, Effect, StartTimer

__all__ = ["Timers"]


class Timers:
    """The live timers of one session."""

    __slots__ = ("_callbacks", "_ids", "_out")

    def __init__(self, out: list[Effect], ids: Iterator[int]) -> None:
        self._out = out
        self._ids = ids
        self._callbacks: dict[int, Callable[[], None]] = {}

    def start(self, delay: float, callback: Callable[[], None]) -> int:
        """Ask for ``callback`` to run after ``delay`` seconds; returns the timer id."""
        timer_id = next(self._ids)
        self._callbacks[timer_id] = callback
        self._out.append(StartTimer(timer_id, max(0.0, delay)))
        return timer_id

    def cancel(self, timer_id: int | None) -> None:
        """Forget a timer (no-op for ``None`` or a timer that already fired)."""
        if timer_id is not None and self._callbacks.pop(timer_id, None) is not None:
            self._out.append(CancelTimer(timer_id))

    def fire(self, timer_id: int) -> None:
        """Run the callback of ``timer_id`` if it is still live."""
        callback = self._callbacks.pop(timer_id, None)
        if callback is not None:
            callback()

    def cancel_all(self) -> None:
        """Forget every live timer."""
        for timer_id in list(self._callbacks):
            self.cancel(timer_id)
