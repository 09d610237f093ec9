"""Carrying control calls onto the emulator's event-loop thread.

Every public control method runs on the emulator's event loop. When the emulator lives in
another thread (:class:`~webex_meetings.emulator.EmulatorThread`) the call is carried there
through an anyio blocking portal and the caller waits for the result, so the API is safe from
any thread; on the loop's own thread the call runs directly.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Concatenate, ParamSpec, Protocol, TypeVar

if TYPE_CHECKING:
    import anyio.from_thread

__all__ = ["LoopGate", "on_loop"]

P = ParamSpec("P")
R = TypeVar("R")


class LoopGate:
    """Carries calls onto the emulator's event-loop thread (a no-op on that thread)."""

    def __init__(self) -> None:
        self.portal: anyio.from_thread.BlockingPortal | None = None
        self.loop_thread: int | None = None

    def bind(self, portal: anyio.from_thread.BlockingPortal, loop_thread: int) -> None:
        """From now on, calls from other threads go through ``portal``."""
        self.portal = portal
        self.loop_thread = loop_thread

    def unbind(self) -> None:
        self.portal = None
        self.loop_thread = None

    def call(self, fn: Callable[[], R]) -> R:
        """Run ``fn`` on the loop thread and return its result."""
        portal = self.portal
        if portal is None or threading.get_ident() == self.loop_thread:
            return fn()
        return portal.call(fn)


class HasGate(Protocol):
    _gate: LoopGate


S = TypeVar("S", bound=HasGate)


def on_loop(method: Callable[Concatenate[S, P], R]) -> Callable[Concatenate[S, P], R]:
    """Decorator: run a method on the emulator's loop thread, whatever thread calls it."""

    def wrapper(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return self._gate.call(functools.partial(method, self, *args, **kwargs))

    functools.update_wrapper(wrapper, method)
    return wrapper
