"""Routes, the per-request call context, and the cloud's behaviour knobs.

The URL layout itself lives in :mod:`webex_meetings.emulator.layout`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from .behaviour import Behaviour
from .layout import Urls
from .messages import Request, Response, error_response
from .recorder import Recorder
from .records import Violation
from .state import CloudState, User

__all__ = ["Call", "CloudConfig", "Route", "route"]


@dataclass(frozen=True, slots=True)
class CloudConfig:
    """Behaviour knobs of the emulated cloud (times in seconds)."""

    mercury_auth_deadline: float = 30.0
    mercury_close_timeout: float = 2.0
    """How long to wait for the client's close frame after the server's."""
    preferred_site: str = "emulator.webex.invalid"
    region: tuple[tuple[str, str], ...] = (
        ("clientAddress", "127.0.0.1"),
        ("clientRegion", "US-EAST"),
        ("countryCode", "US"),
        ("regionCode", "US-EAST"),
        ("timezone", "America/New_York"),
    )


@dataclass(frozen=True, slots=True)
class Call:
    """Everything a route handler gets: the request, path parameters and the caller."""

    request: Request
    params: dict[str, str]
    route: str
    state: CloudState
    recorder: Recorder
    urls: Urls
    config: CloudConfig
    behaviour: Behaviour
    user: User | None = None

    def violate(self, kind: str, detail: str, device_id: str | None = None) -> None:
        """Record a protocol violation of this request's client."""
        violation = Violation.of(
            kind,
            detail,
            at=self.state.clock(),
            route=self.route,
            client=self.request.tracking_id,
            device_id=device_id,
        )
        self.recorder.violations.append(violation)

    def error(self, status: int, message: str) -> Response:
        """A Webex-shaped error answer echoing the request's trackingid."""
        return error_response(status, message, tracking_id=self.request.tracking_id)

    @property
    def authed_user(self) -> User:
        """The authenticated user (routes with ``auth=True`` always have one)."""
        assert self.user is not None
        return self.user


Handler = Callable[[Call], Response]


@dataclass(frozen=True, slots=True)
class Route:
    """``method`` + a full-match ``pattern`` on the path, answered by ``handler``.

    ``auth``: the route needs ``Authorization: Bearer <token>`` (checked before the handler).
    """

    name: str
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    auth: bool = True


def route(name: str, method: str, pattern: str, handler: Handler, *, auth: bool = True) -> Route:
    """Build a :class:`Route` from a regex string."""
    return Route(name, method, re.compile(pattern), handler, auth)
