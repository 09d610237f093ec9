"""The U2C service catalog: where each Webex service lives, and the ``people/me`` lookup.

Theory of operation
-------------------
U2C answers ``GET {u2c}/catalog?format=hostmap`` (and the unauthenticated
``limited/catalog?orgId=...``) with two objects::

    {"serviceLinks": {"wdm": "https://wdm-a.wbx2.com/wdm/api/v1", ...},
     "hostCatalog": {"wdm-a.wbx2.com": [{"host": "wdm-r.wbx2.com", "ttl": -1,
                                          "priority": 5, "id": "urn:TEAM:us-east-2_a:wdm"}]}}

A service's URL is its link with the *priority host* substituted (protocol-notes §4.2-4.3):
take the ``hostCatalog`` entries filed under the link's ``host[:port]``, keep those whose
``id`` names the same service (its 4th ``:``-part) as the first entry's, keep those with a positive
``priority``, and pick the lowest priority (the first on a tie). The link's port is kept.
With no usable host the link is used as is.

:class:`ServiceCatalog` is an immutable value; a later catalog is folded in with
:meth:`ServiceCatalog.merged`, its links winning.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final
from urllib.parse import urlencode, urlsplit, urlunsplit

from .errors import RemoteProtocolError
from .fast_init import fast_init
from .http import HttpRequest, decode_json

__all__ = [
    "HostEntry",
    "Person",
    "ServiceCatalog",
    "catalog_request",
    "join_url",
    "limited_catalog_request",
    "meeting_preferences_request",
    "parse_catalog",
    "parse_person",
    "parse_preferred_site",
    "people_me_request",
]

_HOST = re.compile(r"(?:[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")
"""A catalog host: a name or a bracketed IPv6 address, maybe with a port."""
_HTTP_SCHEMES: Final = frozenset({"http", "https"})
_EMPTY_LINKS: Final[Mapping[str, str]] = MappingProxyType({})
_EMPTY_HOSTS: Final[Mapping[str, tuple[HostEntry, ...]]] = MappingProxyType({})


def join_url(base: str, path: str) -> str:
    """``base`` and ``path`` joined by exactly one ``/``."""
    return base.rstrip("/") + "/" + path.lstrip("/")


def _http_url_netloc(url: object) -> str | None:
    """The lower-cased ``host[:port]`` of an absolute http(s) URL, or ``None``."""
    if not isinstance(url, str):
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return None
    if parts.scheme.lower() not in _HTTP_SCHEMES or not parts.hostname or "@" in parts.netloc:
        return None
    return parts.netloc.lower()


def _service_id(host_id: str) -> str | None:
    """The 4th ``:``-part of a host id: ``urn:TEAM:us-east-2_a:wdm`` -> ``wdm``."""
    parts = host_id.split(":")
    return parts[3] if len(parts) > 3 else None


@dataclass(frozen=True, slots=True)
class HostEntry:
    """One ``hostCatalog`` entry: a host (no port) that may serve a link's URLs."""

    host: str
    ttl: int | None
    priority: int | None
    id: str

    @classmethod
    def parse(cls, item: object, *, where: str, step: str) -> HostEntry:
        """One entry; ``ttl`` and ``priority`` that are not integers read as ``None``.

        :raises RemoteProtocolError: the entry is not an object or its ``host`` is not a host
            name (optionally with a port).
        """
        if not isinstance(item, dict):
            raise RemoteProtocolError(f"catalog field {where} is not an object", step=step)
        host = item.get("host")
        if not isinstance(host, str) or not _HOST.fullmatch(host):
            raise RemoteProtocolError(f"catalog field {where}.host is not a host name", step=step)
        host_id = item.get("id")
        return cls(
            host=host,
            ttl=_integer(item.get("ttl")),
            priority=_integer(item.get("priority")),
            id=host_id if isinstance(host_id, str) else "",
        )


def _integer(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(frozen=True, slots=True)
class ServiceCatalog:
    """Service links and the host catalog of one or more U2C answers."""

    service_links: Mapping[str, str] = field(default_factory=lambda: _EMPTY_LINKS)
    host_catalog: Mapping[str, tuple[HostEntry, ...]] = field(default_factory=lambda: _EMPTY_HOSTS)
    _urls: dict[str, str | None] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )
    """Service URLs already resolved (a pure function of the fields above)."""

    @classmethod
    def parse(cls, body: Any, *, step: str = "catalog") -> ServiceCatalog:
        """The catalog in a decoded U2C ``format=hostmap`` answer.

        Links that are not absolute http(s) URLs are skipped; ``hostCatalog`` keys are
        lower-cased.

        :raises RemoteProtocolError: the body, ``serviceLinks`` or ``hostCatalog`` is not an
            object, or a host entry is malformed; the message names the field.
        """
        if not isinstance(body, dict):
            raise RemoteProtocolError("the catalog is not a JSON object", step=step)
        links = _object_field(body, "serviceLinks", step=step)
        hosts = _object_field(body, "hostCatalog", step=step)
        service_links = {
            name: url
            for name, url in links.items()
            if isinstance(name, str) and _http_url_netloc(url) is not None
        }
        return cls(
            service_links=MappingProxyType(service_links),
            host_catalog=MappingProxyType(_parse_hosts(hosts, step=step)),
        )

    @property
    def names(self) -> frozenset[str]:
        """The names of every service with a link."""
        return frozenset(self.service_links)

    def url(self, name: str) -> str | None:
        """The URL of service ``name`` at its priority host, or ``None`` if unknown."""
        try:
            return self._urls[name]
        except KeyError:
            pass
        link = self.service_links.get(name)
        url = None
        if link is not None:
            netloc = _http_url_netloc(link)
            best = _priority_host(self.host_catalog.get(netloc or "", ()))
            url = link if best is None else _with_host(link, best.host)
        self._urls[name] = url
        return url

    def require(self, name: str, *, step: str) -> str:
        """The URL of service ``name``.

        :raises RemoteProtocolError: the catalog has no such service.
        """
        url = self.url(name)
        if url is None:
            raise RemoteProtocolError(
                f"'{name}' service is not available from the catalog", step=step
            )
        return url

    def merged(self, other: ServiceCatalog) -> ServiceCatalog:
        """This catalog updated by ``other``: its links and host lists win."""
        return ServiceCatalog(
            service_links=MappingProxyType({**self.service_links, **other.service_links}),
            host_catalog=MappingProxyType({**self.host_catalog, **other.host_catalog}),
        )


def parse_catalog(body: bytes, *, step: str = "catalog") -> ServiceCatalog:
    """The catalog in the raw body of a U2C answer (:meth:`ServiceCatalog.parse` of its JSON).

    Sessions of one cloud all get the same catalog: the few bodies seen last are remembered
    with what they parse to, so a thousand sessions hold one catalog, parsed once.

    :raises RemoteProtocolError: the body is not JSON, or not a catalog.
    """
    return _parse_catalog_body(body, step)


@functools.lru_cache(maxsize=16)
def _parse_catalog_body(body: bytes, step: str) -> ServiceCatalog:
    try:
        decoded = decode_json(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise RemoteProtocolError(
            f"the server's answer is not valid JSON ({type(exc).__name__})", step=step
        ) from None
    return ServiceCatalog.parse(decoded, step=step)


def _object_field(body: dict[str, Any], name: str, *, step: str) -> dict[Any, Any]:
    value = body.get(name)
    if not isinstance(value, dict):
        raise RemoteProtocolError(f"catalog field {name} is not an object", step=step)
    return value


def _parse_hosts(hosts: dict[Any, Any], *, step: str) -> dict[str, tuple[HostEntry, ...]]:
    parsed: dict[str, tuple[HostEntry, ...]] = {}
    for key, items in hosts.items():
        where = f"hostCatalog[{str(key)[:100]!r}]"
        if not isinstance(items, list):
            raise RemoteProtocolError(f"catalog field {where} is not a list", step=step)
        parsed[str(key).lower()] = tuple(
            HostEntry.parse(item, where=f"{where}[{index}]", step=step)
            for index, item in enumerate(items)
        )
    return parsed


def _priority_host(entries: tuple[HostEntry, ...]) -> HostEntry | None:
    """The home-cluster entry with the lowest positive priority, first on a tie."""
    if not entries:
        return None
    home = _service_id(entries[0].id)
    usable = [
        entry
        for entry in entries
        if _service_id(entry.id) == home and entry.priority is not None and entry.priority > 0
    ]
    return min(usable, key=lambda entry: entry.priority or 0, default=None)


def _with_host(link: str, host: str) -> str:
    """``link`` with its host replaced by ``host``, keeping the port.

    A catalog host that already carries a port (a malformed catalog) is used as it is, so a
    port is never doubled.
    """
    parts = urlsplit(link)
    has_port = "]:" in host if host.startswith("[") else ":" in host
    netloc = host if has_port or parts.port is None else f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


# -- requests --------------------------------------------------------------------------------
# Requests are immutable values: those that depend only on a URL are built once per URL.


def limited_catalog_request(u2c_url: str, *, org_id: str) -> HttpRequest:
    """``GET {u2c}/limited/catalog?orgId=<org>&format=hostmap``: the pre-auth catalog.

    It must go out without ``Authorization`` (the JS SDK never authorizes ``limited``).
    """
    query = urlencode({"orgId": org_id, "format": "hostmap"})
    return HttpRequest(
        method="GET",
        url=join_url(u2c_url, "limited/catalog") + "?" + query,
        step="catalog.limited",
    )


@functools.lru_cache(maxsize=64)
@functools.lru_cache(maxsize=64)
def catalog_request(u2c_url: str) -> HttpRequest:
    """``GET {u2c}/catalog?format=hostmap``: the post-auth catalog (immutable: built once
    per U2C URL)."""
    return HttpRequest(
        method="GET", url=join_url(u2c_url, "catalog") + "?format=hostmap", step="catalog"
    )


@functools.lru_cache(maxsize=64)
def people_me_request(hydra_url: str) -> HttpRequest:
    """``GET {hydra}/people/me``: validates the token and names its user."""
    return HttpRequest(method="GET", url=join_url(hydra_url, "people/me"), step="people/me")


@functools.lru_cache(maxsize=64)
def meeting_preferences_request(hydra_url: str) -> HttpRequest:
    """``GET {hydra}/meetingPreferences``: the user's Webex sites."""
    return HttpRequest(
        method="GET",
        url=join_url(hydra_url, "meetingPreferences"),
        step="meetingPreferences",
    )


def parse_preferred_site(body: Any) -> str | None:
    """The preferred Webex site of a meetingPreferences answer, as the JS SDK picks it: the
    ``siteUrl`` of the site marked ``default``, else of the first site; ``None`` if none."""
    sites = body.get("sites") if isinstance(body, dict) else None
    if not isinstance(sites, list):
        return None
    urls: list[tuple[bool, str]] = [
        (site.get("default") is True, site["siteUrl"])
        for site in sites
        if isinstance(site, dict) and isinstance(site.get("siteUrl"), str) and site["siteUrl"]
    ]
    for is_default, url in urls:
        if is_default:
            return url
    return urls[0][1] if urls else None


@fast_init
@dataclass(frozen=True, slots=True)
class Person:
    """The ``people/me`` fields this library uses; each is ``None`` when absent."""

    id: str | None
    display_name: str | None
    emails: tuple[str, ...]
    org_id: str | None
    type: str | None


def parse_person(body: Any) -> Person:
    """The person in a decoded ``people/me`` answer; ill-typed optional fields read as absent.

    :raises RemoteProtocolError: the body is not a JSON object.
    """
    if not isinstance(body, dict):
        raise RemoteProtocolError("the people/me answer is not a JSON object", step="people/me")
    emails = body.get("emails")
    return Person(
        id=_text(body, "id"),
        display_name=_text(body, "displayName"),
        emails=tuple(e for e in emails if isinstance(e, str)) if isinstance(emails, list) else (),
        org_id=_text(body, "orgId"),
        type=_text(body, "type"),
    )


def _text(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    return value if isinstance(value, str) else None
