"""What a restarted process needs to register warm: the device record, its key, its checks.

Theory of operation
-------------------
A cold ``register()`` costs four sequential round trips: the U2C catalog (``people/me``
alongside), the WDM device POST, the Mercury upgrade and the authorization frame. Two of them
only learn things that outlive a process: where the services are (the catalog) and which
device is ours (its ``url`` and ``webSocketUrl``). A :class:`DeviceRecord` holds exactly
those, so the next ``register()`` can skip both and do only the upgrade and the
authorization frame (the *warm path*, two round trips).

The core never reads or writes a store. A driver loads the record for the session's key and
feeds it as :class:`~.inputs.DeviceRecordLoaded` before ``Register``; the session checks it
(:func:`check_record`) and answers with :class:`~.effects.UpdateDeviceStore` effects
whenever what a later process should find changes (registered, device refreshed,
unregistered, a registration failed). ``None`` in that effect forgets the record.

A record an application can read never holds a secret: no token, refresh token, JWT or
client secret is one of its fields, and :func:`holds_no_secret` refuses a record any of whose
strings contains one of the session's secrets (a server could echo a token inside a URL). The
session skips that search only when its records go to a store of its own process that nothing
else reads (the faces' default ``MemoryDeviceStore``: ``MeetingsSession(...,
records_stay_in_process=True)``). Loaded records are untrusted, as any cloud answer: every
URL in them must pass the token rule (:func:`~.token_rule.token_refusal`) of the session's
configuration, or the record is dropped; a catalog older than :data:`CATALOG_MAX_AGE`, or
from another cloud, is not used; a device whose ``ttl`` has run out since its last refresh
is not tried.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final
from urllib.parse import urlsplit

from .catalog import ServiceCatalog
from .config import SessionConfig
from .credentials import Credentials
from .device import DeviceRegistration
from .events import DeviceInfo
from .fast_init import fast_init
from .token_rule import token_refusal

__all__ = [
    "CATALOG_MAX_AGE",
    "RECORD_FORMAT",
    "DeviceRecord",
    "StoredDevice",
    "UsableRecord",
    "check_record",
    "device_store_key",
    "holds_no_secret",
    "record_from_json",
]

CATALOG_MAX_AGE: Final = 12 * 3600.0
"""Seconds a stored catalog is used for; an older one is fetched anew."""

LAPSE_MARGIN: Final = 60.0
"""A stored ephemeral device is not tried when less than this is left of its ``ttl``."""

RECORD_FORMAT: Final = 1
"""The version of :meth:`DeviceRecord.to_json`'s shape; another version reads as unusable."""

_KEY_CONTEXT: Final = b"webex-meetings device store key v1\x00"
_DEVICE_TEXT_FIELDS: Final = ("user_id", "device_type", "name", "modification_time", "etag")
_SOCKET_SCHEMES: Final = frozenset({"ws", "wss", "http", "https"})
_HTTP_SCHEMES: Final = frozenset({"http", "https"})


# -- the record ------------------------------------------------------------------------------


@fast_init
@dataclass(frozen=True, slots=True)
class StoredDevice:
    """A WDM device a later process may reuse. Every field is what WDM answered; none is a
    secret."""

    url: str
    web_socket_url: str
    refreshed_at: float
    """When WDM last registered or refreshed it (unix seconds)."""
    ttl: int | None = None
    """The ``ttl`` it was registered with (``None``: not ephemeral, it never lapses)."""
    user_id: str | None = None
    device_type: str | None = None
    name: str | None = None
    modification_time: str | None = None
    etag: str | None = None
    features: Mapping[str, Mapping[str, Any]] = field(default_factory=dict, compare=False)
    body: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """The device's answer (without services and features): what a refresh PUT sends back."""

    @classmethod
    def of(
        cls, device: DeviceRegistration, *, refreshed_at: float, ttl: int | None
    ) -> StoredDevice:
        """The stored form of a held device."""
        info = device.info
        body = dict(device.raw)
        body.pop("features", None)
        return cls(
            url=info.url,
            web_socket_url=info.web_socket_url,
            refreshed_at=refreshed_at,
            ttl=ttl,
            user_id=info.user_id,
            device_type=info.device_type,
            name=info.name,
            modification_time=info.modification_time,
            etag=device.etag,
            features=info.features,
            body=body,
        )

    def registration(self) -> DeviceRegistration:
        """The device as the session holds it."""
        info = DeviceInfo(
            url=self.url,
            web_socket_url=self.web_socket_url,
            user_id=self.user_id,
            device_type=self.device_type,
            name=self.name,
            modification_time=self.modification_time,
            features={kind: dict(toggles) for kind, toggles in self.features.items()},
        )
        return DeviceRegistration(info, etag=self.etag, raw=dict(self.body))


@fast_init
@dataclass(frozen=True, slots=True)
class DeviceRecord:
    """What one user's sessions on one cloud leave for the next process: the catalog's
    service URLs (their priority hosts already chosen) and, when one was kept, the device.

    Build it from JSON with :meth:`from_json`; :meth:`to_json` is its stored form. Public as
    ``webex_meetings.DeviceStoreRecord`` (what a custom store keeps).
    """

    cloud: str
    """The U2C URL the catalog came from: a record is used only with the same one."""
    services: Mapping[str, str]
    """Service name -> URL, as the catalog resolved them."""
    catalog_fetched_at: float
    """When the catalog was fetched (unix seconds)."""
    device: StoredDevice | None = None

    @staticmethod
    def from_json(value: object) -> DeviceRecord:
        """:func:`record_from_json`: the record ``value`` holds.

        :raises ValueError: ``value`` is not a record (the message never quotes values).
        """
        return record_from_json(value)

    def to_json(self) -> dict[str, Any]:
        """The record as a JSON-ready object (the shape :func:`record_from_json` reads)."""
        out: dict[str, Any] = {
            "format": RECORD_FORMAT,
            "cloud": self.cloud,
            "services": dict(self.services),
            "catalogFetchedAt": self.catalog_fetched_at,
        }
        device = self.device
        if device is not None:
            stored: dict[str, Any] = {
                "url": device.url,
                "webSocketUrl": device.web_socket_url,
                "refreshedAt": device.refreshed_at,
                "ttl": device.ttl,
                "features": {kind: dict(toggles) for kind, toggles in device.features.items()},
                "body": dict(device.body),
            }
            for name in _DEVICE_TEXT_FIELDS:
                stored[_camel(name)] = getattr(device, name)
            out["device"] = stored
        return out


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


# -- reading the stored form -----------------------------------------------------------------


def record_from_json(value: object) -> DeviceRecord:
    """The record in ``value`` (what :meth:`DeviceRecord.to_json` wrote).

    :raises ValueError: ``value`` is not a record of :data:`RECORD_FORMAT`; the message says
        which field is wrong (it never quotes values).
    """
    body = _object(value, "record")
    if body.get("format") != RECORD_FORMAT:
        raise ValueError(f"the record is not of format {RECORD_FORMAT}")
    services = _object(body.get("services"), "services")
    for name, url in services.items():
        if not isinstance(url, str):
            raise ValueError(f"service {str(name)[:40]!r} is not a URL")
    device_value = body.get("device")
    return DeviceRecord(
        cloud=_text(body.get("cloud"), "cloud"),
        services=MappingProxyType(dict(services)),
        catalog_fetched_at=_time(body.get("catalogFetchedAt"), "catalogFetchedAt"),
        device=None if device_value is None else _stored_device(device_value),
    )


def _stored_device(value: object) -> StoredDevice:
    body = _object(value, "device")
    ttl = body.get("ttl")
    if ttl is not None and (not isinstance(ttl, int) or isinstance(ttl, bool) or ttl <= 0):
        raise ValueError("device.ttl is not a positive integer")
    texts: dict[str, str | None] = {}
    for name in _DEVICE_TEXT_FIELDS:
        text = body.get(_camel(name))
        if text is not None and not isinstance(text, str):
            raise ValueError(f"device.{_camel(name)} is not text")
        texts[name] = text
    features = _object(body.get("features", {}), "device.features")
    if not all(isinstance(toggles, dict) for toggles in features.values()):
        raise ValueError("device.features is not an object of objects")
    return StoredDevice(
        url=_text(body.get("url"), "device.url"),
        web_socket_url=_text(body.get("webSocketUrl"), "device.webSocketUrl"),
        refreshed_at=_time(body.get("refreshedAt"), "device.refreshedAt"),
        ttl=ttl,
        features=features,
        body=_object(body.get("body", {}), "device.body"),
        **texts,
    )


def _object(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict) or not all(isinstance(key, str) for key in value):
        raise ValueError(f"{what} is not an object")
    return value


def _text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} is not text")
    return value


def _time(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{what} is not a time")
    return float(value)


# -- the key ---------------------------------------------------------------------------------


def device_store_key(
    config: SessionConfig, credentials: Credentials | None, *, name: str | None = None
) -> str:
    """The key a session's record is stored under: its cloud (the U2C URL) and its user.

    The user is ``name`` when the application gives one (``store_key=``: an account name, a
    user id it knows), else a digest of the credential that names the user longest: the
    refresh token when there is one (it outlives many access tokens), else the guest JWT (a
    guest logs in with the same one again), else the access token. The digest is SHA-256 over
    a fixed context and the secret, so it reveals nothing usable: a token cannot be recovered
    from it (tokens are long random strings) and it never goes on the wire. The price of not
    storing the user id itself (which is only known after the cloud answered) is that a new
    token without a refresh token finds no record: give ``store_key`` when the token changes
    between processes, and always with a token provider (no token is known before it runs).

    :raises ValueError: no ``name`` and no credential to derive the user from (none given, or
        tokens that only the app's token provider will bring).
    """
    if name is not None:
        return f"{config.discovery.u2c} name:{name}"
    secret = _user_secret(credentials)
    if not secret:
        raise ValueError("a device store key needs store_key= or a token to derive it from")
    digest = hashlib.sha256(_KEY_CONTEXT + secret.encode("utf-8")).hexdigest()[:32]
    return f"{config.discovery.u2c} sha256:{digest}"


def _user_secret(credentials: Credentials | None) -> str:
    """The longest-lived secret that names the user ('' when there is none yet)."""
    if credentials is None:
        return ""
    longest = credentials.refresh_token or credentials.jwt
    return longest.reveal() if longest is not None else credentials.access_token


# -- building and checking records -----------------------------------------------------------


def destination_refusal(url: str, config: SessionConfig) -> str | None:
    """Why the token rule forbids sending a secret to ``url`` (``None``: it allows it)."""
    return token_refusal(
        url, allowed_domains=config.allowed_domains, extra_hosts=config.extra_authorized_hosts
    )


def catalog_services(catalog: ServiceCatalog, config: SessionConfig) -> Mapping[str, str]:
    """The catalog's service URLs worth storing: those a token may go to (no request of ours
    goes anywhere else).

    Remembered per catalog and configuration, by identity (sessions of one cloud share both):
    the same mapping every time, so :func:`holds_no_secret` finds its JSON text remembered too.
    """
    key = (id(catalog), id(config))
    entry = _SERVICES.get(key)  # an entry keeps its catalog and config: the same objects
    if entry is None:
        if len(_SERVICES) >= _REMEMBERED:
            _SERVICES.clear()
        services: dict[str, str] = {}
        for name in sorted(catalog.names):
            url = catalog.url(name)
            if url is not None and destination_refusal(url, config) is None:
                services[name] = url
        entry = _SERVICES[key] = (catalog, config, MappingProxyType(services))
    return entry[2]


_REMEMBERED: Final = 64
"""Catalogs (and their service texts) remembered at once; past it all are forgotten."""
_SERVICES: dict[tuple[int, int], tuple[ServiceCatalog, SessionConfig, Mapping[str, str]]] = {}
_SERVICES_TEXT: dict[int, tuple[Mapping[str, str], str]] = {}
_APART: Final = "\x00"
"""Between two strings of a record's text: a secret found across two strings (only one
holding this character could be) refuses a record that needed no refusal, never the other
way round."""


def holds_no_secret(record: DeviceRecord, credentials: Credentials) -> bool:
    """True when no string of ``record`` contains a secret of ``credentials``: any of
    :meth:`~.credentials.Credentials.every_secret` (the access token, the refresh token, the
    client secret, the guest JWT, the superseded tokens still kept).

    A substring search per secret (a cloud could echo one inside a URL) over every string of
    the record, keys included, as decoded (no escaping hides anything): :func:`_record_texts`
    joins them into a few texts.
    """
    text = _APART.join(_record_texts(record))
    return not any(secret in text for secret in credentials.every_secret())


def _record_texts(record: DeviceRecord) -> tuple[str, ...]:
    """Every string of ``record`` in a few texts: the cloud, the services (the text of a
    mapping :func:`catalog_services` returned is remembered with it: sessions of one cloud
    share it) and the device, when there is one."""
    services = record.services
    entry = _SERVICES_TEXT.get(id(services))  # an entry keeps its mapping: the same object
    if entry is None:
        if len(_SERVICES_TEXT) >= _REMEMBERED:
            _SERVICES_TEXT.clear()
        entry = _SERVICES_TEXT[id(services)] = (services, _APART.join(_strings(services)))
    device = record.device
    if device is None:
        return (record.cloud, entry[1])
    fields = [getattr(device, name) for name in _DEVICE_TEXT_FIELDS]
    fields += (device.url, device.web_socket_url, device.features, device.body)
    return (record.cloud, entry[1], _APART.join(_strings(fields)))


def _strings(value: object) -> list[str]:
    """Every string in ``value``: itself, or the keys and values of mappings, lists and
    tuples at any depth (without recursion: a deep body cannot exhaust the stack); numbers,
    booleans and ``None`` hold none; anything else counts as its ``str``."""
    found: list[str] = []
    stack: list[object] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, dict):
            stack += item
            stack += item.values()
        elif isinstance(item, (list, tuple)):
            stack += item
        elif item is None or isinstance(item, (int, float)):
            continue
        elif isinstance(item, Mapping):
            stack += item
            stack += item.values()
        else:
            found.append(str(item))
    return found


@dataclass(frozen=True, slots=True)
class UsableRecord:
    """What :func:`check_record` found usable in a loaded record."""

    catalog: ServiceCatalog
    catalog_fetched_at: float
    device: StoredDevice | None
    """The stored device, when it may still exist (``None``: register a new one)."""


def check_record(record: DeviceRecord, config: SessionConfig, *, now: float) -> UsableRecord | str:
    """What of ``record`` a session with ``config`` may use at ``now``, or why none of it.

    Refused outright (the reason is returned): a record of another cloud, a catalog older than
    :data:`CATALOG_MAX_AGE` (or from the future), any URL the token rule refuses (a stored
    URL is untrusted, like any cloud answer), a catalog without ``wdm``. The device alone is
    left out when it has lapsed (its ``ttl`` run out since its last refresh).
    """
    if record.cloud != config.discovery.u2c:
        return "the record is for another cloud"
    age = now - record.catalog_fetched_at
    if not -LAPSE_MARGIN <= age <= CATALOG_MAX_AGE:
        return f"the stored catalog is {age:.0f} s old"
    for name, url in record.services.items():
        refusal = _url_refusal(url, _HTTP_SCHEMES, config)
        if refusal is not None:
            return f"stored service {name[:40]!r}: {refusal}"
    if "wdm" not in record.services:
        return "the stored catalog has no wdm service"
    device = record.device
    if device is not None:
        for url, schemes in ((device.url, _HTTP_SCHEMES), (device.web_socket_url, _SOCKET_SCHEMES)):
            refusal = _url_refusal(url, schemes, config)
            if refusal is not None:
                return f"the stored device: {refusal}"
        if device.ttl is not None and now - device.refreshed_at > device.ttl - LAPSE_MARGIN:
            device = None
    catalog = ServiceCatalog(service_links=MappingProxyType(dict(record.services)))
    return UsableRecord(catalog, record.catalog_fetched_at, device)


def _url_refusal(url: str, schemes: frozenset[str], config: SessionConfig) -> str | None:
    try:
        parts = urlsplit(url)
    except ValueError:
        return "not a URL"
    if parts.scheme.lower() not in schemes or not parts.netloc:
        return "not an absolute URL of the right scheme"
    return destination_refusal(url, config)
