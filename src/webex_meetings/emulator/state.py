"""The emulated cloud's data: users, tokens, devices and Mercury events. No I/O.

Theory of operation: :class:`CloudState` is a plain object mutated by the service handlers and
the control API, always from the event loop's thread. Time is read only through the injected
clock (seconds, a float), randomness only through the injected ``random.Random``, so a run is
reproducible from its seed and tests move time with :meth:`Clock.advance` instead of sleeping.

Expiry is lazy: a token or a device is judged against the clock when it is used or listed.
Devices whose ``ttl`` lapsed are ended on the next look-up, found through a heap of expiry
times, so no request costs time in the number of devices. Ended devices are kept (the newest
``ended_limit``), so a later ``DELETE`` of a lapsed device is told apart from a ``DELETE`` of an
id that never existed, and the device history can be reported.

Tokens look like real Webex tokens, ``<opaque>_<cluster>_<orgId>`` (the JS SDK reads the org id
from the third field), and are stored as their full string; ``repr`` never shows one.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import math
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Final

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_ORG_ID",
    "DEFAULT_TOKEN",
    "DEFAULT_USER_ID",
    "DEVICE_LIMIT_MESSAGE",
    "Clock",
    "CloudState",
    "Device",
    "DeviceLimitReached",
    "PushedEvent",
    "TokenCheck",
    "TokenRecord",
    "User",
    "device_json",
    "feature_toggle",
    "isoformat",
]

DEFAULT_ORG_ID: Final = "1eb65fdf-9643-417f-9974-ad72cae0e10f"
DEFAULT_USER_ID: Final = "88888888-4444-4444-4444-aaaaaaaaaaaa"
DEFAULT_TOKEN: Final = (
    "FAKEACCESSTOKENZmFrZS1hY2Nlc3MtdG9rZW4tZm9yLWxvY2FsLXN0dWI_PF84_" + DEFAULT_ORG_ID
)
"""The interop script's default token; accepted by default for the default user."""
DEFAULT_CLIENT_ID: Final = "C0emulator0client0id"
DEFAULT_CLIENT_SECRET: Final = "emulator-client-secret"
DEVICE_LIMIT_MESSAGE: Final = "User has excessive device registrations"
CLUSTER: Final = "PF84"
_ALPHABET: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def isoformat(seconds: float) -> str:
    """``2024-01-02T03:04:05.678Z`` for a clock value in epoch seconds."""
    moment = datetime.fromtimestamp(seconds, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class Clock:
    """The emulator's clock: a base clock (wall time by default) plus a settable offset.

    ``advance(seconds)`` moves time forward for token and device expiry, whatever the base.
    """

    def __init__(self, base: Callable[[], float] | None = None) -> None:
        self._base = base or time.time
        self._offset = 0.0

    def __call__(self) -> float:
        return self._base() + self._offset

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` (finite, >= 0).

        :raises ValueError: ``seconds`` is negative (time only moves forward), NaN, infinite
            or not a number.
        """
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
            raise ValueError(f"seconds must be a number, not {seconds!r}")
        if seconds < 0:
            raise ValueError("time only moves forward")
        if not math.isfinite(seconds):
            raise ValueError(f"seconds must be finite, not {seconds!r}")
        self._offset += seconds


@dataclass(frozen=True, slots=True)
class User:
    """A Webex user of the emulated cloud."""

    id: str
    org_id: str
    email: str
    display_name: str
    type: str = "person"
    """``person``, or ``appuser`` for guests created by the JWT login."""


@dataclass(slots=True)
class TokenRecord:
    """An access or refresh token the emulator issued (or was told to accept)."""

    value: str = field(repr=False)
    user_id: str
    kind: str
    """``access`` or ``refresh``."""
    expires_at: float | None
    client_id: str | None = None
    revoked: bool = False
    pinned: bool = False
    """Configured at start-up (the default token): survives :meth:`CloudState.forget_everything`."""


@dataclass(frozen=True, slots=True)
class TokenCheck:
    """The verdict on a presented token: ``user`` when valid, else ``reason``."""

    user: User | None
    reason: str = ""
    record: TokenRecord | None = None


@dataclass(slots=True)
class Device:
    """A WDM device registration."""

    id: str
    user_id: str
    url: str
    web_socket_url: str
    body: dict[str, Any]
    created: float
    modified: float
    ttl: int | None
    ended_at: float | None = None
    ended_by: str | None = None
    """``deleted``, ``lapsed`` or ``restart`` once the device ended."""

    @property
    def expires_at(self) -> float | None:
        """When the device lapses (``modified + ttl``), ``None`` for persistent devices."""
        return None if self.ttl is None else self.modified + self.ttl

    def etag_with(self, features: str = "") -> str:
        """Stable while the device's features (``features``: the overrides in force, as
        text) are unchanged."""
        seed = f"{self.id}|{features}".encode()
        digest = hashlib.sha1(seed, usedforsecurity=False).hexdigest()[:16]
        return f'"{digest}"'


@dataclass(slots=True)
class PushedEvent:
    """An event the control API queued for a device's Mercury connection, kept until acked."""

    id: str
    device_id: str
    envelope: dict[str, Any]
    deliveries: int = 0
    acked: bool = False


class DeviceLimitReached(Exception):
    """A user already has the maximum number of devices."""


class CloudState:
    """Users, tokens, devices and pending Mercury events of one emulated cloud."""

    def __init__(
        self,
        *,
        clock: Clock,
        rng: random.Random,
        device_limit: int = 100,
        access_token_lifetime: float = 3600.0,
        refresh_token_lifetime: float = 90 * 86400.0,
        ended_limit: int = 100_000,
    ) -> None:
        self.clock = clock
        self.rng = rng
        self.device_limit = device_limit
        self.access_token_lifetime = access_token_lifetime
        self.refresh_token_lifetime = refresh_token_lifetime
        self.users: dict[str, User] = {}
        self.tokens: dict[str, TokenRecord] = {}
        self.devices: dict[str, Device] = {}
        """The live devices, oldest first."""
        self._by_user: dict[str, dict[str, None]] = {}  # user id -> live device ids, in order
        self._expiry: list[tuple[float, str]] = []  # heap of (expires_at, device id)
        self.ended: dict[str, Device] = {}
        """Devices that ended (deleted, lapsed, forgotten), oldest first, the newest
        ``ended_limit`` of them."""
        self.ended_limit = ended_limit
        self.events: dict[str, dict[str, PushedEvent]] = {}
        """Per device, the pending (not yet acked) events by id, in push order."""
        self._events_by_id: dict[str, PushedEvent] = {}  # every pending event, for acks
        self.clients: dict[str, str] = {DEFAULT_CLIENT_ID: DEFAULT_CLIENT_SECRET}
        self.guest_issuers: dict[str, bytes] = {}
        self.guests: dict[str, str] = {}

    # -- ids ---------------------------------------------------------------------------------

    def new_uuid(self) -> str:
        """A random (seeded) uuid4 string."""
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _opaque(self, length: int = 64) -> str:
        return "".join(self.rng.choice(_ALPHABET) for _ in range(length))

    # -- users -------------------------------------------------------------------------------

    def add_user(
        self,
        *,
        user_id: str | None = None,
        org_id: str = DEFAULT_ORG_ID,
        email: str | None = None,
        display_name: str | None = None,
        user_type: str = "person",
    ) -> User:
        """Create (or replace) a user and return it."""
        uid = user_id or self.new_uuid()
        user = User(
            id=uid,
            org_id=org_id,
            email=email or f"user-{uid[:8]}@example.invalid",
            display_name=display_name or f"Emulated User {uid[:8]}",
            type=user_type,
        )
        self.users[uid] = user
        return user

    # -- tokens ------------------------------------------------------------------------------

    def issue_token(
        self,
        user_id: str,
        *,
        kind: str = "access",
        expires_in: float | None = None,
        client_id: str | None = None,
        value: str | None = None,
        pinned: bool = False,
    ) -> str:
        """Issue a token for ``user_id`` (``expires_in`` ``None``: never expires).

        :raises KeyError: no such user.
        """
        user = self.users[user_id]
        token = value or f"{self._opaque()}_{CLUSTER}_{user.org_id}"
        expires_at = None if expires_in is None else self.clock() + expires_in
        record = TokenRecord(token, user_id, kind, expires_at, client_id, pinned=pinned)
        self.tokens[token] = record
        return token

    def check_token(self, token: str, *, kind: str = "access") -> TokenCheck:
        """Judge a presented token: unknown, expired, revoked, or valid for a user."""
        record = self.tokens.get(token)
        if record is None or record.kind != kind:
            return TokenCheck(None, "unknown token")
        if record.revoked:
            return TokenCheck(None, "token revoked", record)
        if record.expires_at is not None and self.clock() >= record.expires_at:
            return TokenCheck(None, "token expired", record)
        return TokenCheck(self.users[record.user_id], "", record)

    def revoke_token(self, token: str) -> bool:
        """Revoke a token; ``False`` if it is unknown."""
        record = self.tokens.get(token)
        if record is None:
            return False
        record.revoked = True
        return True

    def expire_token(self, token: str) -> bool:
        """Make a token expire now; ``False`` if it is unknown."""
        record = self.tokens.get(token)
        if record is None:
            return False
        record.expires_at = self.clock()
        return True

    # -- devices -----------------------------------------------------------------------------

    def _purge_expired(self) -> None:
        """End the devices whose ttl ran out (each costs O(log n), the rest nothing)."""
        now = self.clock()
        while self._expiry and self._expiry[0][0] <= now:
            when, device_id = heapq.heappop(self._expiry)
            device = self.devices.get(device_id)
            if device is not None and device.expires_at == when:
                self._end(device, "lapsed", at=when)

    def device(self, device_id: str) -> Device | None:
        """The live device with this id, or ``None`` (lapsed devices end here)."""
        self._purge_expired()
        return self.devices.get(device_id)

    def devices_of_all(self) -> list[Device]:
        """Every live device, oldest first."""
        self._purge_expired()
        return list(self.devices.values())

    def devices_of(self, user_id: str) -> list[Device]:
        """The user's live devices, oldest first."""
        self._purge_expired()
        return [self.devices[i] for i in self._by_user.get(user_id, {})]

    def create_device(
        self,
        user_id: str,
        body: dict[str, Any],
        *,
        ttl: int | None,
        url_for: Callable[[str], tuple[str, str]],
    ) -> Device:
        """Register a device; ``url_for(id)`` gives its ``(url, webSocketUrl)``.

        :raises DeviceLimitReached: the user has ``device_limit`` devices already.
        """
        self._purge_expired()
        if len(self._by_user.get(user_id, {})) >= self.device_limit:
            raise DeviceLimitReached(DEVICE_LIMIT_MESSAGE)
        device_id = self.new_uuid()
        url, ws_url = url_for(device_id)
        now = self.clock()
        device = Device(device_id, user_id, url, ws_url, dict(body), now, now, ttl)
        self.devices[device_id] = device
        self._by_user.setdefault(user_id, {})[device_id] = None
        self._track_expiry(device)
        return device

    def refresh_device(self, device: Device, body: dict[str, Any], ttl: int | None) -> None:
        """Apply a refresh PUT: new body fields, new ttl window from now."""
        device.body.update(body)
        device.modified = self.clock()
        if ttl is not None:
            device.ttl = ttl
        self._track_expiry(device)

    def delete_device(self, device_id: str) -> bool:
        """End a device as its client's DELETE does; ``False`` if it was not live."""
        device = self.device(device_id)
        if device is None:
            return False
        self._end(device, "deleted")
        return True

    def lapse_device(self, device_id: str) -> bool:
        """End a device as if its ttl ran out; ``False`` if it was not live."""
        device = self.devices.get(device_id)
        if device is None:
            return False
        self._end(device, "lapsed")
        return True

    def lapsed(self, device_id: str) -> bool:
        """Whether this id was a device that ended without its client's doing (its ttl ran
        out, the control API expired it, or a restart forgot it)."""
        ended = self.ended.get(device_id)
        return ended is not None and ended.ended_by != "deleted"

    def _track_expiry(self, device: Device) -> None:
        if device.expires_at is not None:
            heapq.heappush(self._expiry, (device.expires_at, device.id))

    def _end(self, device: Device, how: str, *, at: float | None = None) -> None:
        del self.devices[device.id]
        owned = self._by_user.get(device.user_id, {})
        owned.pop(device.id, None)
        if not owned:
            self._by_user.pop(device.user_id, None)
        for event in self.events.pop(device.id, {}).values():
            self._events_by_id.pop(event.id, None)
        device.ended_at = self.clock() if at is None else at
        device.ended_by = how
        self.ended[device.id] = device
        if len(self.ended) > self.ended_limit:
            self.ended.pop(next(iter(self.ended)))

    # -- Mercury events ----------------------------------------------------------------------

    def enqueue_event(self, device_id: str, data: dict[str, Any], **extra: Any) -> PushedEvent:
        """Queue an event envelope for a device; it stays pending until acked."""
        event_id = self.new_uuid()
        envelope: dict[str, Any] = {
            "id": event_id,
            "data": data,
            "timestamp": int(self.clock() * 1000),
            "trackingId": f"emulator_{event_id}",
            "alertType": "none",
            "headers": {},
            "filterMessage": False,
        }
        envelope.update(extra)
        event = PushedEvent(event_id, device_id, envelope)
        self.events.setdefault(device_id, {})[event_id] = event
        self._events_by_id[event_id] = event
        return event

    def pending_events(self, device_id: str) -> list[PushedEvent]:
        """Events of the device not yet acked, in push order."""
        return list(self.events.get(device_id, {}).values())

    def find_event(self, event_id: str) -> PushedEvent | None:
        """The pending event with this id, on any device (acked events are forgotten)."""
        return self._events_by_id.get(event_id)

    def ack_event(self, event_id: str) -> PushedEvent | None:
        """Mark a pending event acked and forget it; ``None`` if it was not pending."""
        event = self._events_by_id.pop(event_id, None)
        if event is not None:
            event.acked = True
            self.events.get(event.device_id, {}).pop(event_id, None)
        return event

    def forget_everything(self) -> None:
        """End every device and drop events and issued tokens (users and clients stay)."""
        for device in list(self.devices.values()):
            self._end(device, "restart")
        self._expiry.clear()
        self.events.clear()
        self._events_by_id.clear()
        self.tokens = {k: v for k, v in self.tokens.items() if v.pinned}


def device_json(
    device: Device, *, org_id: str, urls_for: Callable[[str], tuple[str, str]] | None = None
) -> dict[str, Any]:
    """The WDM DTO of a device, as POST/PUT/GET answer it; ``urls_for(id)`` gives the
    ``url`` and ``webSocketUrl`` to show (default: those it was created with)."""
    url, web_socket_url = (
        (device.url, device.web_socket_url) if urls_for is None else urls_for(device.id)
    )
    stamp = isoformat(device.modified)
    body: dict[str, Any] = dict(device.body)
    body.pop("ttl", None)
    body.update(
        {
            "url": url,
            "webSocketUrl": web_socket_url,
            "userId": device.user_id,
            "orgId": org_id,
            "creationTime": isoformat(device.created),
            "modificationTime": stamp,
            "features": _features(stamp),
            "deviceSettings": {},
            "clientMessagingGiphy": "ALLOW",
            "webFileShareControl": "ALLOW",
            "whiteboardFileShareControl": "ALLOW",
            "showSupportText": False,
        }
    )
    if device.ttl is not None:
        body["ttl"] = device.ttl
    return body


def feature_toggle(key: str, value: bool | str, mutable: bool, stamp: str) -> dict[str, Any]:
    """One WDM feature toggle (``val`` is the JSON text of a boolean, else the string)."""
    return {
        "key": key,
        "val": json.dumps(value) if isinstance(value, bool) else value,
        "value": value,
        "mutable": mutable,
        "type": "boolean" if isinstance(value, bool) else "string",
        "lastModified": stamp,
    }


def _features(stamp: str) -> dict[str, list[dict[str, Any]]]:
    return {
        "developer": [feature_toggle("web-high-availability", False, True, stamp)],
        "entitlement": [feature_toggle("squared-call-initiation", True, False, stamp)],
        "user": [],
    }
