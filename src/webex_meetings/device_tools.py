"""See and clean up a user's WDM devices (``webex-meetings devices list | prune``).

Leaked devices are the most common complaint about Webex clients: each one keeps receiving a
copy of every event, and too many make WDM refuse new ones ("User has excessive device
registrations"). These functions list the devices of the token's user through the catalog's
``wdm`` service and delete chosen ones, with the same headers and token rules as the session.

A device's age is measured on the server's clock (the list answer's ``Date`` header) against its
``modificationTime``, so a skewed local clock (or an emulator's simulated one) cannot make
``--older-than`` delete fresh devices; without a ``Date`` header the local clock is used.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

from .core import catalog as catalog_protocol
from .core import device as device_protocol
from .core.config import SessionConfig
from .core.credentials import Credentials
from .core.errors import RemoteProtocolError
from .core.http import HttpRequest, HttpResponse, error_for_status
from .core.http_client import decorate_request
from .transports.base import HttpTransport

__all__ = ["DeviceTools", "WdmDevice", "select_for_prune"]


@dataclass(frozen=True, slots=True)
class WdmDevice:
    """One device as WDM lists it. ``ours`` is true for devices this library creates with the
    given configuration (same name and device type)."""

    url: str
    name: str | None
    device_type: str | None
    model: str | None
    modification_time: str | None
    ours: bool
    listed_at: float | None = None
    """The server's time of the listing (epoch seconds, from its ``Date`` header), if sent."""

    @property
    def age_seconds(self) -> float | None:
        """Seconds since the last modification on the server's clock, when WDM said."""
        when = _parse_time(self.modification_time)
        now = time.time() if self.listed_at is None else self.listed_at
        return None if when is None else max(0.0, now - when)


def _parse_time(value: str | None) -> float | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if moment.tzinfo is None:  # WDM writes UTC
            moment = moment.replace(tzinfo=timezone.utc)
        return moment.timestamp()
    except (ValueError, OverflowError):
        return None


def _server_time(response: HttpResponse) -> float | None:
    """The response's ``Date`` header as epoch seconds, or ``None``."""
    value = response.header("date")
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
        if moment.tzinfo is None:  # "-0000": UTC, says RFC 5322
            moment = moment.replace(tzinfo=timezone.utc)
        return moment.timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def select_for_prune(
    devices: Sequence[WdmDevice],
    *,
    name: str | None = None,
    older_than: float | None = None,
    include_foreign: bool = False,
) -> list[WdmDevice]:
    """The devices to delete: ours only (unless ``include_foreign``), matching ``name`` when
    given (then any client's device of that name), older than ``older_than`` seconds."""
    chosen = []
    for device in devices:
        if name is not None:
            if device.name != name:
                continue
        elif not (device.ours or include_foreign):
            continue
        age = device.age_seconds
        if older_than is not None and (age is None or age < older_than):
            continue
        chosen.append(device)
    return chosen


class DeviceTools:
    """Lists and deletes WDM devices over an :class:`HttpTransport`."""

    def __init__(
        self, config: SessionConfig, credentials: Credentials, http: HttpTransport
    ) -> None:
        self._config = config
        self._credentials = credentials
        self._http = http
        self._session_id = f"{config.tracking_id_prefix}_{uuid.uuid4()}"
        self._sequence = itertools.count(1)
        self._wdm: str | None = None

    async def _send(self, request: HttpRequest, *, accept: Sequence[int] = ()) -> HttpResponse:
        prepared = decorate_request(
            request,
            self._config,
            tracking_id=f"{self._session_id}_{next(self._sequence)}",
            authorization=self._credentials.authorization,
        )
        response = await self._http.send(prepared)
        if not response.ok and response.status not in accept:
            raise error_for_status(prepared, response)
        return response

    async def wdm_url(self) -> str:
        """The catalog's ``wdm`` service URL (fetched once).

        :raises HttpStatusError: / :raises TransportError: / :raises RemoteProtocolError:
        """
        if self._wdm is None:
            response = await self._send(
                catalog_protocol.catalog_request(self._config.discovery.u2c)
            )
            catalog = catalog_protocol.ServiceCatalog.parse(response.json(step="catalog"))
            self._wdm = catalog.require("wdm", step="device.list")
        return self._wdm

    async def list(self) -> list[WdmDevice]:
        """Every device of the token's user, oldest first."""
        response = await self._send(device_protocol.list_request(await self.wdm_url()))
        body = response.json_object(step="device.list")
        items = body.get("devices")
        if not isinstance(items, list):
            raise RemoteProtocolError("the device list has no 'devices' array", step="device.list")
        listed_at = _server_time(response)
        devices = [self._device(item, listed_at) for item in items if isinstance(item, dict)]
        return sorted(devices, key=lambda d: d.modification_time or "")

    def _device(self, item: dict[str, Any], listed_at: float | None) -> WdmDevice:
        def text(key: str) -> str | None:
            value = item.get(key)
            return value if isinstance(value, str) else None

        own = self._config.device
        name, device_type = text("name"), text("deviceType")
        return WdmDevice(
            url=text("url") or "",
            name=name,
            device_type=device_type,
            model=text("model"),
            modification_time=text("modificationTime"),
            ours=name == own.name and device_type == own.device_type,
            listed_at=listed_at,
        )

    async def delete(self, device: WdmDevice | str) -> None:
        """Delete one device (already gone counts as deleted)."""
        url = device if isinstance(device, str) else device.url
        await self._send(device_protocol.delete_request(url), accept=(404, 410))
