"""Where every emulated service lives: the path layout and the URLs handed to clients.

Every emulated service lives under one base URL with the real services' path layout (the
real host becomes the first path segment: ``https://mercury-connection-a.wbx2.com/v1`` is
served at ``{base}/mercury/v1``), so a client needs only that base URL. :data:`SERVICE_PATHS`
is the one definition of that layout: the emulator routes by it, its U2C catalogs list it, and
``webex_meetings.specs_export`` builds the wire examples from it.

The URLs the emulator hands out (catalog links, a device's ``url`` and ``webSocketUrl``) name
the scheme, host and port the client used, taken from its ``Host`` header, as a reverse proxy
would: a client that reached ``http://localhost:8765`` is told about ``localhost:8765``, one that
reached ``127.0.0.1`` about ``127.0.0.1`` (:meth:`Urls.for_host`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

__all__ = ["LIMITED_SERVICES", "MERCURY_MESSAGES_PATH", "SERVICE_PATHS", "Urls"]

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
    "mercuryConnection": "/mercury/v1",
    "idbroker": "/idbroker",
    "identity": "/identity",
    "feature": "/feature/api/v1",
    "meetingInfo": "/wbxappapi/v1",
}
"""Service name -> path under the base URL (``mercuryConnection`` as the JS SDK's reference
trace shows it: ``{mercuryConnection}/apps/wx2/registrations/<device id>/messages``)."""

LIMITED_SERVICES: Final = ("u2c", "idbroker", "identity", "hydra", "metrics", "clientLogs")
"""What the pre-auth catalog lists (as the real one, no ``wdm``)."""

MERCURY_MESSAGES_PATH: Final = (
    SERVICE_PATHS["mercuryConnection"] + "/apps/wx2/registrations/{device_id}/messages"
)
"""A device's Mercury websocket path (``{device_id}`` filled in)."""

_HOST_HEADER: Final = re.compile(
    r"(?P<host>[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])"  # a name, IPv4, or [IPv6]
    r"(?::\d{1,5})?"
)


@dataclass(frozen=True, slots=True)
class Urls:
    """Where the emulator is reachable: ``scheme://netloc`` (netloc is ``host[:port]``)."""

    scheme: str
    host: str
    port: int
    netloc: str = ""
    """``host:port`` unless given (a ``Host`` header without a port keeps none)."""

    def __post_init__(self) -> None:
        if not self.netloc:
            object.__setattr__(self, "netloc", f"{self.host}:{self.port}")

    def for_host(self, header: str | None) -> Urls:
        """These URLs as seen by a client that sent ``Host: header``; ``self`` when the header
        is missing or not a plain ``host[:port]`` (nothing else is ever echoed)."""
        if not header:
            return self
        match = _HOST_HEADER.fullmatch(header.strip())
        if match is None:
            return self
        netloc = match.group(0).lower()
        if netloc == self.netloc:
            return self
        return Urls(self.scheme, match.group("host").lower(), self.port, netloc)

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
        ws = self.ws_base + MERCURY_MESSAGES_PATH.format(device_id=device_id)
        return url, ws
