"""The WDM device: registering it, refreshing it, deleting it, and pruning old ones.

Theory of operation
-------------------
A client exists for Webex as a *device* in WDM (protocol-notes §2.2-2.3, §7-8):

* ``POST {wdm}/devices?includeUpstreamServices=all`` registers one (:func:`register_request`)
  and answers the device: its ``url`` (its identity for later calls) and ``webSocketUrl``
  (the Mercury endpoint), plus feature toggles and an ``ETag`` header
  (:func:`parse_registration`).
* ``PUT <device.url>?includeUpstreamServices=all`` refreshes it with the stored body and
  ``If-None-Match: <etag>`` (:func:`refresh_request`); an ephemeral device (``ttl``) lapses
  unless refreshed. When the etag is unchanged the server may leave ``features`` out and the
  stored ones are kept.
* ``DELETE <device.url>`` unregisters it (:func:`delete_request`).
* When WDM refuses a POST with "User has excessive device registrations"
  (:func:`is_device_limit`), the client lists the user's devices (:func:`list_request`),
  deletes the oldest third of *its own* (same name and type, :func:`devices_to_prune`) and
  retries once, as later JS SDKs do.

Everything here builds requests or reads answers; the session decides when.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Final
from urllib.parse import quote, urlsplit

from .catalog import join_url
from .config import DeviceConfig, per_config
from .errors import ConfigurationError, RemoteProtocolError
from .events import DeviceInfo
from .fast_init import fast_init
from .http import EXCESSIVE_DEVICES_MESSAGE, Headers, HttpRequest, HttpResponse

__all__ = [
    "MARKER_FIELD",
    "DeviceRegistration",
    "delete_request",
    "devices_to_prune",
    "is_device_limit",
    "list_request",
    "marked_devices",
    "parse_features",
    "parse_registration",
    "refresh_request",
    "register_request",
    "registration_body",
]

_DROPPED_FROM_RAW: Final = ("services", "serviceHostMap")
_DROPPED_FROM_REFRESH: Final = ("features", "mediaCluster", "etag")
_MESSAGE_KEYS: Final = ("message", "error", "errorString", "response", "errorResponse", "msg")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_INTEGER = re.compile(r"[+-]?\d+")
_FEATURE_WORDS: Final[dict[str, bool]] = {"true": True, "false": False}
_URL_SCHEMES: Final = {
    "url": frozenset({"http", "https"}),
    "webSocketUrl": frozenset({"ws", "wss", "http", "https"}),
}
_JSON_HEADERS: Final[Headers] = (("content-type", "application/json"),)


# -- the registered device -------------------------------------------------------------------


@fast_init
@dataclass(frozen=True, slots=True)
class DeviceRegistration:
    """A device WDM registered for us: its public :class:`~.events.DeviceInfo`, plus what
    the protocol needs to refresh it.

    ``etag`` is the answer's ``ETag`` (sent back as ``If-None-Match``); ``raw`` the answer's
    body without ``services`` and ``serviceHostMap``, sent back on refresh.
    """

    info: DeviceInfo
    etag: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def url(self) -> str:
        """The device's identity: refreshed, deleted and sent as ``cisco-device-url``."""
        return self.info.url

    @property
    def web_socket_url(self) -> str:
        """Where Mercury is."""
        return self.info.web_socket_url


def _feature_value(value: Any) -> Any:
    """A toggle's ``val`` as the JS feature model reads it: numeric strings become numbers,
    ``"true"``/``"false"`` booleans, other strings stay strings."""
    if not isinstance(value, str):
        return value
    if value in _FEATURE_WORDS:
        return _FEATURE_WORDS[value]
    text = value.strip()
    if not _NUMBER.fullmatch(text):
        return value
    try:
        number: int | float = int(text) if _INTEGER.fullmatch(text) else float(text)
    except ValueError:  # more digits than int() accepts
        return value
    return number if math.isfinite(number) else value


def parse_features(features: Any) -> dict[str, dict[str, Any]]:
    """``{kind: [{key, val, ...}]}`` as ``{kind: {key: parsed val}}``; anything malformed is
    skipped (toggles are optional)."""
    if not isinstance(features, dict):
        return {}
    parsed: dict[str, dict[str, Any]] = {}
    for kind, items in features.items():
        if not isinstance(kind, str) or not isinstance(items, list):
            continue
        toggles = parsed.setdefault(kind, {})
        for item in items:
            if isinstance(item, dict) and isinstance(item.get("key"), str):
                value = item["val"] if "val" in item else item.get("value")
                toggles[item["key"]] = _feature_value(value)
    return parsed


# -- requests --------------------------------------------------------------------------------


MARKER_FIELD: Final = "registrationMarker"
"""The device field carrying a registration's marker (:attr:`DeviceConfig.mark_registrations`)."""


def registration_body(config: DeviceConfig, *, marker: str | None = None) -> dict[str, Any]:
    """The JSON body of the registration ``POST``; ``marker`` goes in when
    ``config.mark_registrations``."""
    body: dict[str, Any] = {
        "name": config.name,
        "deviceType": config.device_type,
        "model": config.model,
        "localizedModel": config.localized_model,
        "systemName": config.system_name,
        "systemVersion": config.system_version,
    }
    if config.ephemeral:
        body["ttl"] = config.ttl
    if marker is not None and config.mark_registrations:
        body[MARKER_FIELD] = marker
    body.update(dict(config.extra_body))
    return body


_ENCODER: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
"""Built once: ``json.dumps`` with options builds a new encoder on every call."""


def _encode_json(body: dict[str, Any]) -> bytes:
    try:
        return _ENCODER.encode(body).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"the device body is not JSON ({type(exc).__name__})") from None


@functools.lru_cache(maxsize=1024)
def _with_upstream_query(url: str, services: str) -> str:
    """``url`` with ``includeUpstreamServices=<services>`` (a pure function, remembered: the
    same device and WDM URLs come back all the time)."""
    separator = "&" if urlsplit(url).query else "?"
    return f"{url}{separator}includeUpstreamServices={quote(services, safe=',')}"


def register_request(
    wdm_url: str, config: DeviceConfig, *, marker: str | None = None
) -> HttpRequest:
    """``POST {wdm}/devices?includeUpstreamServices=...`` with :func:`registration_body`.

    :raises ConfigurationError: ``config.extra_body`` holds a value JSON cannot encode.
    """
    return HttpRequest(
        method="POST",
        url=_with_upstream_query(join_url(wdm_url, "devices"), config.include_upstream_services),
        headers=_JSON_HEADERS,
        body=_registration_bytes(config, marker),
        step="device.register",
    )


def _registration_bytes(config: DeviceConfig, marker: str | None) -> bytes:
    """:func:`registration_body` encoded. The body is the same for every registration of a
    config but for the marker, so it is encoded once and the marker (a uuid: nothing to
    escape) spliced in; with ``extra_body`` (whose keys may come after it) it is encoded
    afresh."""
    if config.extra_body or marker is None or not _PLAIN_MARKER.fullmatch(marker):
        return _encode_json(registration_body(config, marker=marker))
    head, tail = _body_around_marker(config)
    return head + marker.encode("ascii") + tail if config.mark_registrations else head + tail


_PLAIN_MARKER = re.compile(r"[0-9A-Za-z-]{1,64}")


@per_config
def _body_around_marker(config: DeviceConfig) -> tuple[bytes, bytes]:
    """The encoded body without ``extra_body``, around the marker's value (without the
    marker field at all when ``config.mark_registrations`` is off: then ``tail`` is
    empty)."""
    if not config.mark_registrations:
        return _encode_json(registration_body(config)), b""
    body = _encode_json(registration_body(config))
    return body[:-1] + b',"' + MARKER_FIELD.encode() + b'":"', b'"}'


def refresh_request(device: DeviceRegistration, config: DeviceConfig) -> HttpRequest:
    """``PUT <device.url>?includeUpstreamServices=...`` with the stored device body, plus
    ``ttl`` when ephemeral, plus ``config.extra_body``; ``If-None-Match`` when an etag is
    known.

    :raises ConfigurationError: ``config.extra_body`` holds a value JSON cannot encode.
    """
    body = {key: value for key, value in device.raw.items() if key not in _DROPPED_FROM_REFRESH}
    if config.ephemeral:
        body["ttl"] = config.ttl
    body.update(dict(config.extra_body))
    headers: Headers = _JSON_HEADERS
    if device.etag is not None:
        headers += (("If-None-Match", device.etag),)
    return HttpRequest(
        method="PUT",
        url=_with_upstream_query(device.url, config.include_upstream_services),
        headers=headers,
        body=_encode_json(body),
        step="device.refresh",
    )


def delete_request(device_url: str) -> HttpRequest:
    """``DELETE <device.url>``: unregister the device."""
    return HttpRequest(method="DELETE", url=device_url, step="device.unregister")


@functools.lru_cache(maxsize=64)
def list_request(wdm_url: str) -> HttpRequest:
    """``GET {wdm}/devices``: every device of the user."""
    return HttpRequest(method="GET", url=join_url(wdm_url, "devices"), step="device.list")


# -- answers ---------------------------------------------------------------------------------


def _required_url(body: dict[str, Any], key: str, *, step: str) -> str:
    value = body.get(key)
    if not isinstance(value, str):
        raise RemoteProtocolError(f"the device has no {key}", step=step)
    try:
        parts = urlsplit(value)
    except ValueError:
        parts = urlsplit("")
    if parts.scheme.lower() not in _URL_SCHEMES[key] or not parts.netloc:
        raise RemoteProtocolError(f"the device's {key} is not an absolute URL", step=step)
    return value


def parse_registration(
    response: HttpResponse,
    *,
    previous: DeviceRegistration | None = None,
    step: str = "device.register",
) -> DeviceRegistration:
    """The device in a successful ``POST`` or ``PUT`` answer.

    With an ``ETag`` equal to ``previous.etag``, developer toggles are kept from
    ``previous`` and, when the body has no ``features``, all of them are. A ``304`` answer
    keeps ``previous`` as it is.

    :raises RemoteProtocolError: the body is not a JSON object or lacks a string ``url`` or
        ``webSocketUrl`` holding an absolute URL.
    """
    if response.status == 304 and previous is not None:
        return previous
    body = response.json_object(step=step)
    url = _required_url(body, "url", step=step)
    web_socket_url = _required_url(body, "webSocketUrl", step=step)
    etag = response.header("etag")
    features = parse_features(body.get("features"))
    if previous is not None and etag is not None and etag == previous.etag:
        features = _features_for_same_etag(previous.info.features, features, body)

    info = DeviceInfo(
        url,
        web_socket_url,
        _text(body, "userId"),
        _text(body, "deviceType"),
        _text(body, "name"),
        _text(body, "modificationTime"),
        features,
    )
    for key in _DROPPED_FROM_RAW:  # the decoded body is ours: trimmed, not copied
        body.pop(key, None)
    return DeviceRegistration(info, etag, body)


def _text(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    return value if isinstance(value, str) else None


def _features_for_same_etag(
    previous: dict[str, dict[str, Any]], fresh: dict[str, dict[str, Any]], body: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """Features for an unchanged etag: all of the previous ones when the body has none,
    else the new ones with the previous developer toggles (the JS SDK keeps those)."""
    if "features" not in body:
        return {kind: dict(toggles) for kind, toggles in previous.items()}
    if "developer" in previous:
        fresh["developer"] = dict(previous["developer"])
    return fresh


def _messages(body: Any, depth: int = 0) -> list[str]:
    """Every message-like string of an error body (its ``message``, ``error``, ...)."""
    if isinstance(body, str):
        return [body]
    if depth > 4:
        return []
    found: list[str] = []
    if isinstance(body, dict):
        for key in _MESSAGE_KEYS:
            found += _messages(body.get(key), depth + 1)
    elif isinstance(body, list):
        for item in body[:20]:
            found += _messages(item, depth + 1)
    return found


def is_device_limit(response: HttpResponse) -> bool:
    """True when a 4xx answer says "User has excessive device registrations"."""
    if not 400 <= response.status < 500:
        return False
    try:
        body: Any = json.loads(response.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        body = response.body.decode("utf-8", "replace")
    wanted = EXCESSIVE_DEVICES_MESSAGE.lower()
    return any(wanted in message.lower() for message in _messages(body))


def _age_key(device: dict[str, Any]) -> tuple[int, datetime]:
    """Sort key: devices without a readable ``modificationTime`` first, then oldest first."""
    stamp = device.get("modificationTime")
    if isinstance(stamp, str):
        text = stamp.strip()
        text = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            moment = None
        if moment is not None:
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=timezone.utc)
            return (1, moment)
    return (0, datetime.min.replace(tzinfo=timezone.utc))


def devices_to_prune(
    response: HttpResponse, config: DeviceConfig, *, keep: Collection[str] = ()
) -> list[str]:
    """From a ``GET {wdm}/devices`` answer, the URLs of our own oldest devices to delete.

    Ours means the same ``name`` and ``deviceType`` as ``config``; URLs in ``keep`` are never
    chosen. Of the ``n`` found, the oldest ``max(1, ceil(n / 3))`` are returned; ``[]`` when
    none are ours.

    :raises RemoteProtocolError: the body is not an object with a ``devices`` list.
    """
    body = response.json_object(step="device.list")
    devices = body.get("devices")
    if not isinstance(devices, list):
        raise RemoteProtocolError("the device list has no 'devices' array", step="device.list")
    ours: dict[str, dict[str, Any]] = {}
    for device in devices:
        if _is_ours(device, config) and device["url"] not in keep:
            ours.setdefault(device["url"], device)
    if not ours:
        return []
    oldest_first = sorted(ours.values(), key=_age_key)
    count = max(1, math.ceil(len(oldest_first) / 3))
    return [device["url"] for device in oldest_first[:count]]


def marked_devices(response: HttpResponse, marker: str) -> list[str]:
    """From a ``GET {wdm}/devices`` answer, the URLs of the devices carrying ``marker``: those
    a registration's POST created, whether or not its answer arrived.

    :raises RemoteProtocolError: the body is not an object with a ``devices`` list.
    """
    body = response.json_object(step="device.list")
    devices = body.get("devices")
    if not isinstance(devices, list):
        raise RemoteProtocolError("the device list has no 'devices' array", step="device.list")
    return [
        device["url"]
        for device in devices
        if isinstance(device, dict)
        and device.get(MARKER_FIELD) == marker
        and isinstance(device.get("url"), str)
        and _scheme(device["url"]) in _URL_SCHEMES["url"]
    ]


def _scheme(url: str) -> str:
    try:
        return urlsplit(url).scheme.lower()
    except ValueError:
        return ""


def _is_ours(device: Any, config: DeviceConfig) -> bool:
    return (
        isinstance(device, dict)
        and isinstance(device.get("url"), str)
        and _scheme(device["url"]) in _URL_SCHEMES["url"]
        and device.get("name") == config.name
        and device.get("deviceType") == config.device_type
    )
