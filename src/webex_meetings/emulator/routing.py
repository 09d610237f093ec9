"""Routes, the per-request call context, and the emulator's URL layout.

Every emulated service lives under one base URL with the real services' path layout, so a
client needs only that base URL; :data:`SERVICE_PATHS` is the layout and the source of the
U2C catalogs' ``serviceLinks``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from .messages import Request, Response, error_response
from .records import Violation

if TYPE_CHECKING:
    from .control import Control
    from .state import CloudState, User

__all__ = ["SERVICE_PATHS", "Call", "CloudConfig", "Route", "Urls"]

SERVICE_PATHS: Final[dict[str, str]] = {
    "u2c": "/u2c/api/v1",
    "hydra": "/hydra/v1",
    "wdm": "/wdm/api/v1",
    "locus": "/locus/api/v1",
    "calliopeDiscovery": "/calliope/api/discovery/v1",
    "metrics": "/metrics/api/v1",
    "clientLogs": "/clientlogs/api/v1",
    "conversation": "/conversation/api/v1",
    "encryption": "/encryption/api/v1",
    "mercuryApi": "/mercury-api/api/v1",
    "mercuryConnection": "/mercury/api/v1",
    "idbroker": "/idbroker",
    "identity": "/identity",
    "feature": "/feature/api/v1",
    "meetingInfo": "/wbxappapi/v1",
}
"""Service name -> path under the base URL."""

LIMITED_SERVICES: Final = ("u2c", "idbroker", "identity", "hydra", "metrics", "clientLogs")
"""What the pre-auth catalog lists (as the real one, no ``wdm``)."""


@dataclass(frozen=True, slots=True)
class Urls:
    """Where the emulator is reachable."""

    scheme: str
    host: str
    port: int

    @property
    def netloc(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def base(self) -> str:
        """``http://127.0.0.1:PORT`` (``https`` with TLS)."""
        return f"{self.scheme}://{self.netloc}"

    @property
    def ws_base(self) -> str:
        """``ws://127.0.0.1:PORT`` (``wss`` with TLS)."""
        return f"{'wss' if self.scheme == 'https' else 'ws'}://{self.netloc}"

    def service(self, name: str) -> str:
        """The URL of a service (a key of :data:`SERVICE_PATHS`)."""
        return self.base + SERVICE_PATHS[name]

    def device(self, device_id: str) -> tuple[str, str]:
        """A device's WDM ``url`` and Mercury ``webSocketUrl``."""
        url = f"{self.service('wdm')}/devices/{device_id}"
        ws = f"{self.ws_base}/mercury/api/v1/apps/wx2/registrations/{device_id}/messages"
        return url, ws


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
    control: Control
    urls: Urls
    config: CloudConfig
    user: User | None = None

    def violate(self, kind: str, detail: str, device_id: str | None = None) -> None:
        """Record a protocol violation of this request's client."""
        violation = Violation(
            kind, detail, self.route, self.request.tracking_id, device_id, self.state.clock()
        )
        self.control.record_violation(violation)

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
