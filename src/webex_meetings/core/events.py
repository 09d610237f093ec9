"""The events a session emits to its user, as typed, immutable objects.

Each class has a ``name`` (the JS SDK's event name where one exists) so that
``meetings.on("meetings:registered", callback)`` and ``isinstance`` checks both work.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urlsplit

from .fast_init import fast_init

__all__ = [
    "ConnectionFailed",
    "DeviceInfo",
    "Event",
    "MeetingsReady",
    "MeetingsRegistered",
    "MeetingsUnregistered",
    "MercuryEvent",
    "NetworkConnected",
    "NetworkDisconnected",
    "StateChanged",
    "TokenRefreshed",
]


@fast_init
@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """The WDM device this session registered.

    ``url`` is the device's identity (used for refresh and delete), :attr:`id` the last part
    of it, ``web_socket_url`` the Mercury endpoint, ``user_id`` the owner, ``features`` the
    parsed feature toggles by kind (``developer``, ``entitlement``, ``user``) and key.
    """

    url: str
    web_socket_url: str
    user_id: str | None = None
    device_type: str | None = None
    name: str | None = None
    modification_time: str | None = None
    features: dict[str, dict[str, Any]] = field(default_factory=dict, compare=False)

    @property
    def id(self) -> str:
        """The WDM device id: the last segment of :attr:`url`'s path
        (``https://wdm-a.wbx2.com/wdm/api/v1/devices/<id>``), what WDM's and the emulator's
        admin API name a device by."""
        path = urlsplit(self.url).path
        return path.rstrip("/").rpartition("/")[2]


@dataclass(frozen=True, slots=True)
class Event:
    """Base class of every event."""

    name: ClassVar[str] = "event"


@dataclass(frozen=True, slots=True)
class MeetingsReady(Event):
    """``meetings:ready``: the SDK is initialized and ``register()`` may be called."""

    name: ClassVar[str] = "meetings:ready"


@fast_init
@dataclass(frozen=True, slots=True)
class MeetingsRegistered(Event):
    """``meetings:registered``: the device is registered and Mercury is online."""

    name: ClassVar[str] = "meetings:registered"
    device: DeviceInfo


@dataclass(frozen=True, slots=True)
class MeetingsUnregistered(Event):
    """``meetings:unregistered``: Mercury is closed and the device deleted."""

    name: ClassVar[str] = "meetings:unregistered"


@fast_init
@dataclass(frozen=True, slots=True)
class NetworkDisconnected(Event):
    """``network:disconnected``: Mercury went offline after being online.

    ``will_reconnect`` is true when the session is reconnecting by itself (a transient close),
    false when the close ends the connection (replaced, forbidden, permanent).
    """

    name: ClassVar[str] = "network:disconnected"
    code: int
    reason: str
    will_reconnect: bool


@dataclass(frozen=True, slots=True)
class NetworkConnected(Event):
    """``network:connected``: Mercury is online again after a reconnect."""

    name: ClassVar[str] = "network:connected"


@fast_init
@dataclass(frozen=True, slots=True)
class ConnectionFailed(Event):
    """``mercury:connection_failed``: one connection attempt failed; another will follow
    after ``retry_in`` seconds (``None`` when no retry will follow)."""

    name: ClassVar[str] = "mercury:connection_failed"
    attempt: int
    error: str
    retry_in: float | None


@fast_init
@dataclass(frozen=True, slots=True)
class MercuryEvent(Event):
    """``event``: one Mercury event envelope (already acknowledged).

    ``event_type`` is ``data.eventType`` (for example ``locus.difference``), ``namespace`` its
    part before the first dot, ``data`` the envelope's ``data`` object, ``envelope`` the whole
    parsed frame.
    """

    name: ClassVar[str] = "event"
    id: str | None
    event_type: str
    data: dict[str, Any] = field(compare=False)
    envelope: dict[str, Any] = field(compare=False, repr=False)
    sequence_number: int | None = None

    @property
    def namespace(self) -> str:
        """The event type's namespace: ``locus`` for ``locus.difference``."""
        return self.event_type.split(".", 1)[0]


@fast_init
@dataclass(frozen=True, slots=True)
class StateChanged(Event):
    """``state:changed``: the lifecycle moved from ``source`` to ``dest`` on ``trigger``."""

    name: ClassVar[str] = "state:changed"
    source: str
    dest: str
    trigger: str


@fast_init
@dataclass(frozen=True, slots=True)
class TokenRefreshed(Event):
    """``credentials:refreshed``: a new access token was obtained (never carried here)."""

    name: ClassVar[str] = "credentials:refreshed"
    expires_in: float | None
