"""The keywords of ``Webex(...)`` and ``Webex.init(...)``, defined once for both faces, and how
they resolve into a session's parts: credentials, configuration, runtime.

Both faces (:mod:`webex_meetings.webex` and :mod:`webex_meetings.blocking`) take
``**options: Unpack[...]`` of the typed dictionaries here, so a misspelt or mistyped keyword
fails type checking (mypy reads the keys and their types), and :func:`check_options` refuses
it at run time as Python refuses an unknown keyword. Defaults live where the values are read
(:class:`~webex_meetings.webex.Webex`), in one place.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Final, Literal, TypedDict, TypeVar

from .adapters.anyio_runtime import ANYIO
from .adapters.runtime import Runtime
from .adapters.token_provider import TokenProvider
from .adapters.trio_runtime import TRIO
from .core.config import SessionConfig
from .core.credentials import Credentials
from .core.errors import ConfigurationError
from .stores import DeviceStore
from .transports.base import HttpTransport, WebSocketConnector
from .transports.tls import Verify

__all__ = [
    "DEFAULT_UNREGISTER_TIMEOUT",
    "REGION_PATH",
    "TOKEN_ENVIRONMENT_VARIABLE",
    "AsyncWebexOptions",
    "CredentialsInit",
    "RuntimeName",
    "WebexOptions",
    "check_options",
    "resolve_config",
    "resolve_credentials",
    "resolve_runtime",
    "with_cloud",
    "with_credentials",
]

TOKEN_ENVIRONMENT_VARIABLE: Final = "WEBEX_ACCESS_TOKEN"
"""Where the access token is read from when no credentials are given."""

DEFAULT_UNREGISTER_TIMEOUT: Final = 10.0
"""Seconds the unregister done on leaving ``async with`` may take, unless told otherwise."""

CredentialsInit = str | Mapping[str, Any] | Credentials
"""A token string, a token object (``{"access_token": ...}``) or :class:`Credentials`."""

RuntimeName = Literal["anyio", "trio"]
"""``"anyio"`` (asyncio or trio) or ``"trio"`` (trio's own primitives and streams)."""

_RUNTIMES: Final[dict[str, Runtime]] = {"anyio": ANYIO, "trio": TRIO}


class WebexOptions(TypedDict, total=False):
    """The keywords of ``Webex(...)`` and ``Webex.init(...)``, on the async and the blocking
    face alike: defined once, checked by mypy (an unknown or mistyped keyword is an error)
    and at run time (``TypeError`` naming the valid ones). Every one is optional."""

    access_token: str | None
    """A bare token. With neither this nor ``credentials``, ``$WEBEX_ACCESS_TOKEN``."""
    credentials: CredentialsInit | None
    """A token string, a token object ``{"access_token": ...}`` (with optional
    ``refresh_token``, ``expires_in``, ``client_id``, ``client_secret``...) or
    :class:`~webex_meetings.core.credentials.Credentials`."""
    jwt: str | None
    """A guest-issuer JWT instead of a token: each access token comes from
    ``POST {hydra}/jwt/login`` with it (the JS SDK's ``requestAccessTokenFromJwt``), the
    first before ``register()`` goes on, the next when it expires or is refused. A secret:
    redacted everywhere, sent only where the token rule allows."""
    token_provider: TokenProvider | None
    """A function (plain or ``async``, no arguments) returning a token or ``(token,
    seconds_until_expiry)``, for apps that run their own OAuth: called for the first token
    and whenever it expires or is refused (401), instead of the refresh grant. A failure or
    no answer within ``config.http_timeout`` fails the waiting call with
    :class:`~webex_meetings.core.errors.TokenProviderError`; it is asked again only at the
    next need."""
    config: SessionConfig | None
    """A :class:`~webex_meetings.core.config.SessionConfig`; real Webex when ``None``."""
    cloud: str | None
    """A base URL (``"http://127.0.0.1:8765"``, an emulator) whose services replace
    Webex's. With ``config`` too, it rewrites that config's discovery URLs and adds its host
    to ``extra_authorized_hosts`` (see :func:`resolve_config`)."""
    http: HttpTransport | None
    """An HTTP transport instead of the default (httpx); the caller keeps ownership."""
    websockets: WebSocketConnector | None
    """A websocket connector instead of the default (wsproto over anyio or trio streams)."""
    proxy: str | None
    """``http://host:port`` for HTTP and websockets."""
    verify: Verify
    """TLS verification: ``True`` (default; ``$SSL_CERT_FILE`` when set, else certifi's
    bundle), ``False`` (one warning), a CA bundle path (PEM) or an ``ssl.SSLContext``."""
    unregister_timeout: float
    """Seconds the unregister on leaving the block may take (default 10)."""
    store: DeviceStore | None
    """Where the device record is kept for the warm path (:mod:`webex_meetings.stores`):
    a :class:`~webex_meetings.stores.FileDeviceStore` lets a restarted process skip the
    catalog and the device POST. Default: a fresh
    :class:`~webex_meetings.stores.MemoryDeviceStore` (nothing outlives the process)."""
    store_key: str | None
    """Names the user in the store (an account name, a user id); default: a one-way digest
    of the refresh token, else of the access token (see
    :func:`~webex_meetings.core.device_store.device_store_key`)."""


class AsyncWebexOptions(WebexOptions, total=False):
    """:class:`WebexOptions` plus what only the async face chooses."""

    runtime: RuntimeName
    """``"anyio"`` (default: asyncio or trio) or ``"trio"`` (native trio; trio only)."""


def check_options(options: Mapping[str, object], kind: type[WebexOptions]) -> None:
    """Refuse keywords ``kind`` does not define, as Python refuses unknown keywords.

    :raises TypeError: an unknown keyword; the message suggests the closest one and lists all.
    """
    valid = sorted(kind.__annotations__)  # a TypedDict's keys, its bases' included
    for name in options:
        if name not in valid:
            close = difflib.get_close_matches(name, valid, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise TypeError(
                f"Webex() got an unexpected keyword argument {name!r}{hint}; "
                f"the keywords are {', '.join(valid)}"
            )


def resolve_credentials(
    credentials: CredentialsInit | None,
    access_token: str | None,
    *,
    now: float,
    jwt: str | None = None,
    token_provider: TokenProvider | None = None,
) -> Credentials:
    """The credentials from ``credentials``, ``access_token``, ``jwt``, ``token_provider``
    (one of them) or ``$WEBEX_ACCESS_TOKEN``.

    :raises ConfigurationError: none given, more than one given, or unusable.
    """
    given = {
        "credentials": credentials,
        "access_token": access_token,
        "jwt": jwt,
        "token_provider": token_provider,
    }
    named = [name for name, value in given.items() if value is not None]
    if len(named) > 1:
        raise ConfigurationError(f"pass {' or '.join(named)}, not both")
    if jwt is not None:
        return Credentials.from_jwt(jwt)
    if token_provider is not None:
        if not callable(token_provider):
            raise ConfigurationError("token_provider must be a function")
        return Credentials.from_provider()
    if isinstance(credentials, Credentials):
        return credentials
    found: str | Mapping[str, Any] | None = credentials if credentials is not None else access_token
    if found is None:
        found = os.environ.get(TOKEN_ENVIRONMENT_VARIABLE) or None
    if found is None:
        raise ConfigurationError(
            "no credentials: pass credentials= or access_token=, "
            f"or set {TOKEN_ENVIRONMENT_VARIABLE}"
        )
    return Credentials.from_init(found, now=now)


def resolve_config(config: SessionConfig | None, cloud: str | None) -> SessionConfig:
    """The session's configuration from ``config`` and ``cloud``:

    * neither: real Webex (``SessionConfig()``);
    * ``config`` only: ``config``;
    * ``cloud`` only: ``SessionConfig.for_cloud(cloud)``, every service under that base URL;
    * both: ``config`` with ``cloud`` applied, as :func:`with_cloud` says.

    :raises ConfigurationError: ``config`` is not a SessionConfig, or ``cloud`` is not an
        http(s) base URL.
    """
    if config is not None and not isinstance(config, SessionConfig):
        raise ConfigurationError("config must be a SessionConfig")
    if cloud is None:
        return config if config is not None else SessionConfig()
    if config is None:
        return SessionConfig.for_cloud(cloud)
    return with_cloud(config, cloud)


REGION_PATH: Final = "/sqdiscovery/v1/region"
"""Where a cloud serves the geo hint (``discovery.region``), under its base URL."""


def with_cloud(config: SessionConfig, cloud: str) -> SessionConfig:
    """``config`` pointed at the cloud at base URL ``cloud``: its discovery URLs (U2C, hydra,
    the OAuth token URL, and the region URL if it asks for one) move under ``cloud`` as
    :meth:`SessionConfig.for_cloud` places them, and ``cloud``'s host joins its
    ``extra_authorized_hosts``. Everything else (device, Mercury timings, allowed domains,
    fetch flags, timeouts) stays as ``config`` has it.

    :raises ConfigurationError: ``cloud`` is not an http(s) base URL.
    """
    placed = SessionConfig.for_cloud(cloud)
    region = None if config.discovery.region is None else cloud.rstrip("/") + REGION_PATH
    hosts = config.extra_authorized_hosts
    new_hosts = tuple(host for host in placed.extra_authorized_hosts if host not in hosts)
    return replace(
        config,
        discovery=replace(placed.discovery, region=region),
        extra_authorized_hosts=hosts + new_hosts,
    )


Options = TypeVar("Options", bound=WebexOptions)


def with_credentials(credentials: CredentialsInit | None, options: Options) -> Options:
    """``options`` with the positional ``credentials`` of ``init(credentials, ...)`` added.

    :raises ConfigurationError: credentials given both positionally and as a keyword.
    """
    if credentials is None:
        return options
    if options.get("credentials") is not None:
        raise ConfigurationError("credentials given twice: positionally and as a keyword")
    options["credentials"] = credentials
    return options


def resolve_runtime(name: str) -> Runtime:
    """The runtime called ``name`` (``"anyio"`` or ``"trio"``).

    :raises ConfigurationError: no such runtime.
    """
    try:
        return _RUNTIMES[name]
    except KeyError:
        raise ConfigurationError(
            f"unknown runtime {name!r}: use one of {sorted(_RUNTIMES)}"
        ) from None
