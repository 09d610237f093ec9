"""Configuration, as immutable values with the real Webex defaults.

Everything the protocol lets a client choose is here: where discovery starts, what the device
says about itself, the Mercury timings and backoff, which hosts may see the token. The
defaults talk to real Webex; :meth:`SessionConfig.for_cloud` points every service at one base
URL (the emulator's, or any Webex-compatible cloud).
"""

from __future__ import annotations

import functools
import platform
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TypeVar
from urllib.parse import urlsplit

from .errors import ConfigurationError

__all__ = [
    "DEFAULT_ALLOWED_DOMAINS",
    "BackoffConfig",
    "DeviceConfig",
    "DiscoveryConfig",
    "MercuryConfig",
    "SessionConfig",
]

VERSION = "0.1.0"

DEFAULT_ALLOWED_DOMAINS: tuple[str, ...] = (
    "wbx2.com",
    "ciscospark.com",
    "webex.com",
    "webexapis.com",
    "broadcloudpbx.com",
    "broadcloud.eu",
    "broadcloud.com.au",
    "broadcloudpbx.net",
)
"""Hosts ending in one of these get the Authorization header (the JS SDK's commercial list)."""


@dataclass(frozen=True, slots=True)
class DiscoveryConfig:
    """The service URLs known before any catalog answers."""

    u2c: str = "https://u2c.wbx2.com/u2c/api/v1"
    hydra: str = "https://webexapis.com/v1"
    token_url: str = "https://webexapis.com/v1/access_token"
    """OAuth token endpoint for the refresh_token grant (the catalog's idbroker may override)."""
    region: str | None = None
    """Geo-hint URL (``.../sqdiscovery/v1/region``); ``None``: never asked (it is optional)."""


@dataclass(frozen=True, slots=True)
class DeviceConfig:
    """What the WDM device says about itself, and how long it lives."""

    name: str = "webex-meetings-python"
    device_type: str = "WEB"
    model: str = "webex-meetings-python"
    localized_model: str = "webex-meetings"
    system_name: str = "WEBEX_MEETINGS_PY"
    system_version: str = VERSION
    ephemeral: bool = True
    """Ephemeral devices carry a ``ttl`` and lapse on the server if abandoned (the JS SDK's
    ``webex`` package intent); they are refreshed every ``ttl / 2 + 60`` seconds."""
    ttl: int = 1800
    include_upstream_services: str = "all"
    prune_on_device_limit: bool = True
    """On "User has excessive device registrations", delete our own oldest devices (same name
    and type) and retry the POST once."""
    extra_body: tuple[tuple[str, object], ...] = ()
    """More JSON fields for the POST body (``config.device.body`` in the JS SDK)."""
    mark_registrations: bool = True
    """Send a fresh ``registrationMarker`` (a uuid) in each registration's device POST, so that
    after a POST whose answer was lost (reset, timeout, a 5xx) the device it may have created
    can be found in the user's device list and deleted. WDM keeps the field on the device; a
    server that drops it leaves such a device to lapse after its ``ttl``."""

    @property
    def refresh_interval(self) -> float:
        """Seconds between refresh PUTs of an ephemeral device."""
        return self.ttl / 2 + 60


@dataclass(frozen=True, slots=True)
class BackoffConfig:
    """Exponential backoff: immediate first attempt, then ``initial``, doubling, capped.

    ``jitter`` is a fraction (0 = the JS SDK's exact schedule); ``max_attempts`` ``None``
    means unlimited.
    """

    initial: float = 1.0
    maximum: float = 32.0
    factor: float = 2.0
    jitter: float = 0.0
    max_attempts: int | None = None

    def delay(self, attempt: int) -> float:
        """Delay before attempt number ``attempt`` (1-based; attempt 1 is immediate),
        without jitter."""
        if attempt <= 1:
            return 0.0
        return float(min(self.maximum, self.initial * self.factor ** (attempt - 2)))


@dataclass(frozen=True, slots=True)
class MercuryConfig:
    """Mercury websocket timings, all in seconds (the JS SDK's defaults)."""

    ping_interval: float = 15.0
    pong_timeout: float = 14.0
    force_close_delay: float = 2.0
    authorization_timeout: float = 30.0
    """How long to wait for ``mercury.buffer_state`` after the authorization frame. The JS SDK
    waits forever; we fail the attempt and back off instead."""
    initial_backoff: BackoffConfig = field(default_factory=lambda: BackoffConfig(max_attempts=6))
    """Backoff while ``register()`` is waiting: bounded, so ``register()`` always settles."""
    reconnect_backoff: BackoffConfig = field(default_factory=BackoffConfig)
    """Backoff after a registered connection dropped: unlimited by default."""


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """Everything a :class:`~webex_meetings.core.session.MeetingsSession` needs to know."""

    discovery: DiscoveryConfig = field(default_factory=DiscoveryConfig)
    device: DeviceConfig = field(default_factory=DeviceConfig)
    mercury: MercuryConfig = field(default_factory=MercuryConfig)
    allowed_domains: tuple[str, ...] = DEFAULT_ALLOWED_DOMAINS
    extra_authorized_hosts: tuple[str, ...] = ()
    """``host`` or ``host:port`` values that also get the Authorization header, over http or
    https (an emulator on loopback). Real Webex hosts get it over https only."""
    fetch_limited_catalog: bool = False
    """Fetch the pre-auth ``limited/catalog?orgId=`` before the post-auth catalog, as the JS
    SDK does. Off by default: with a token, the post-auth catalog alone is enough."""
    fetch_people_me: bool = True
    """``GET {hydra}/people/me`` during register: validates the token and names the user."""
    fetch_meeting_preferences: bool = False
    """``GET {hydra}/meetingPreferences`` during register (the preferred Webex site)."""
    tracking_id_prefix: str = "webex-meetings-py"
    app_name: str | None = None
    app_version: str | None = None
    http_timeout: float = 20.0
    register_timeout: float = 60.0
    """The overall deadline of one ``register()``: when it passes, the registration fails with
    a :class:`~webex_meetings.core.errors.TimeoutError` naming the step it was at, and what it
    created is deleted. (Without it, a black-holed authorization frame would take every Mercury
    attempt's authorization timeout plus the backoff: minutes.)"""
    refresh_margin: tuple[float, float] = (0.6, 0.9)
    """Refresh the token after this random fraction of its lifetime (the JS SDK's 60-90 %)."""

    @property
    def spark_user_agent(self) -> str:
        """``spark-user-agent``: ``webex-meetings/<version> (python <x.y>)[ app/ver]``."""
        return _spark_user_agent(self.app_name, self.app_version)

    @classmethod
    def for_cloud(cls, base_url: str, **changes: object) -> SessionConfig:
        """A config whose every service lives under ``base_url`` (an emulator, a proxy).

        The base URL's host gets the Authorization header even over plain http. Configs
        are immutable, so every call for the same ``base_url`` (and no changes) returns the
        same shared value: a thousand sessions of one cloud hold one config.
        """
        if cls is not SessionConfig:
            return replace(cls()._placed(base_url), **changes)  # type: ignore[arg-type]
        config = _config_for_cloud(base_url)
        return replace(config, **changes) if changes else config  # type: ignore[arg-type]

    def _placed(self, base_url: str) -> SessionConfig:
        """This config with every service under ``base_url`` (see :meth:`for_cloud`)."""
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError(f"not an http(s) base URL: {base_url!r}")
        try:
            parts.port  # noqa: B018  (parsing it is the check)
        except ValueError:
            raise ConfigurationError(f"the port of {base_url!r} is not 0 to 65535") from None
        base = base_url.rstrip("/")
        return replace(
            self,
            discovery=DiscoveryConfig(
                u2c=f"{base}/u2c/api/v1",
                hydra=f"{base}/hydra/v1",
                token_url=f"{base}/idbroker/idb/oauth2/v1/access_token",
            ),
            extra_authorized_hosts=(parts.netloc,),
        )


@functools.lru_cache(maxsize=64)
def _config_for_cloud(base_url: str) -> SessionConfig:
    """:meth:`SessionConfig.for_cloud` without changes, remembered (configs are immutable)."""
    return SessionConfig()._placed(base_url)


_C = TypeVar("_C")
_R = TypeVar("_R")

_PER_CONFIG_MAXSIZE = 64


def per_config(build: Callable[[_C], _R]) -> Callable[[_C], _R]:
    """Remember ``build(config)`` for each configuration value, by identity.

    For what the protocol derives from a configuration once and reuses on every request or
    connection (timer actions, an encoded body). ``functools.lru_cache`` would hash the frozen
    dataclass, field by field, on every call: more than the work it saves. A configuration
    is immutable and a process has a handful of them, so each is looked up by ``id``; the
    entry keeps the value alive, so its id cannot be reused while remembered. Past
    :data:`_PER_CONFIG_MAXSIZE` values everything is forgotten and built again.
    """
    remembered: dict[int, tuple[_C, _R]] = {}

    @functools.wraps(build)
    def lookup(config: _C) -> _R:
        entry = remembered.get(id(config))  # an entry keeps its config: the same object
        if entry is None:
            if len(remembered) >= _PER_CONFIG_MAXSIZE:
                remembered.clear()
            entry = remembered[id(config)] = (config, build(config))
        return entry[1]

    return lookup


@functools.lru_cache(maxsize=64)
def _spark_user_agent(app_name: str | None, app_version: str | None) -> str:
    agent = f"webex-meetings/{VERSION} (python {platform.python_version()})"
    if app_name:
        agent += f" {app_name}/{app_version or '0.0'}"
    return agent
