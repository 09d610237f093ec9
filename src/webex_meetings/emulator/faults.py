"""Injected faults and latency, keyed by route names.

Theory of operation: a fault is a rule keyed by a route-name pattern (``fnmatch``:
``"wdm.*"``, ``"u2c.catalog"``, ``"mercury.connect"``, ``"mercury.pong"``). Each request (or
websocket frame the emulator is about to send) asks :meth:`FaultBook.take` once, so a rule for
two requests fails exactly the next two matching ones. Random rules draw from the emulator's
seeded ``random.Random``: the same seed and the same request order give the same failures.

A pattern must match at least one route the emulator serves, so a misspelt route
(``"wdm.regster"``) is refused at once with :class:`UnknownRouteError` instead of silently
never firing. Faults apply to HTTP routes, the websocket upgrade and the frames that can be
withheld; latency applies to every route and every frame the emulator sends.

Latency rules are few; the delay of each route name is computed once and cached until a rule
changes, so looking it up costs one dict access per request or frame.
"""

from __future__ import annotations

import fnmatch
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from .inputs import UnknownRouteError

__all__ = ["Fault", "FaultBook"]


@dataclass(slots=True)
class Fault:
    """A rule answering matching requests with ``status`` (or dropping them).

    ``remaining`` counts the uses left (``None``: every matching request until cleared).
    """

    route: str
    remaining: int | None
    status: int = 500
    retry_after: float | None = None
    message: str | None = None
    drop: bool = False
    rate: float | None = None
    """For random faults: the probability of failing each matching request."""
    _matcher: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._matcher = re.compile(fnmatch.translate(self.route))

    def matches(self, route: str) -> bool:
        return self._matcher.match(route) is not None

    @property
    def label(self) -> str:
        """How the request record names this fault: ``drop``, ``random`` or ``fail``."""
        if self.drop:
            return "drop"
        return "random" if self.rate is not None else "fail"


class FaultBook:
    """The fault and latency rules of one emulator (see the module docstring).

    ``fault_routes`` are the names faults may target; ``latency_routes`` (a superset) the
    names latency may target.
    """

    def __init__(
        self, *, fault_routes: Iterable[str], latency_routes: Iterable[str], rng: random.Random
    ) -> None:
        self.fault_routes = tuple(fault_routes)
        self.latency_routes = tuple(dict.fromkeys((*self.fault_routes, *latency_routes)))
        self._rng = rng
        self._faults: list[Fault] = []
        self._latency: dict[str, float] = {}
        self._latency_cache: dict[str, float] = {}

    # -- validation --------------------------------------------------------------------------

    def check_fault_route(self, pattern: str) -> str:
        """``pattern`` if it matches a route faults can target.

        :raises UnknownRouteError: it matches none.
        """
        return _check(pattern, self.fault_routes)

    def check_latency_route(self, pattern: str) -> str:
        """``pattern`` if it matches a route latency can target.

        :raises UnknownRouteError: it matches none.
        """
        return _check(pattern, self.latency_routes)

    # -- faults ------------------------------------------------------------------------------

    def add(self, fault: Fault) -> None:
        """Add a rule (its route already checked)."""
        self._faults.append(fault)

    def take(self, route: str) -> Fault | None:
        """The fault that applies to this request, consuming one use of it."""
        for fault in self._faults:
            if not fault.matches(route):
                continue
            if fault.rate is not None:
                if self._rng.random() < fault.rate:
                    return fault
                continue
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
            return fault
        return None

    @property
    def faults(self) -> list[Fault]:
        return list(self._faults)

    # -- latency -----------------------------------------------------------------------------

    def set_latency(self, pattern: str, seconds: float) -> None:
        """Delay routes matching ``pattern`` by ``seconds`` (0 removes the rule)."""
        if seconds <= 0:
            self._latency.pop(pattern, None)
        else:
            self._latency[pattern] = seconds
        self._latency_cache.clear()

    def latency_for(self, route: str) -> float:
        """The injected delay for a route, in seconds (the largest matching rule)."""
        cached = self._latency_cache.get(route)
        if cached is None:
            delays = [s for p, s in self._latency.items() if fnmatch.fnmatchcase(route, p)]
            cached = self._latency_cache[route] = max(delays, default=0.0)
        return cached

    @property
    def latencies(self) -> dict[str, float]:
        return dict(self._latency)

    def clear(self) -> None:
        """Remove every fault and latency rule."""
        self._faults.clear()
        self._latency.clear()
        self._latency_cache.clear()


def _check(pattern: str, names: tuple[str, ...]) -> str:
    if not isinstance(pattern, str) or not any(fnmatch.fnmatchcase(n, pattern) for n in names):
        raise UnknownRouteError(str(pattern), names)
    return pattern
