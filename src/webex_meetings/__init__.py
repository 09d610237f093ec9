"""webex-meetings: Webex device registration and Mercury events for asyncio, trio and
blocking Python, with a faithful Webex cloud emulator for tests.

The packages under this name are ``core`` (sans-IO protocol and lifecycle), ``transports``
(byte movers), ``adapters`` (drivers for asyncio/trio/blocking code) and ``emulator``.

The public face is :class:`Webex` (async: asyncio and trio) and
:class:`webex_meetings.blocking.Webex` (plain methods, any thread)::

    async with Webex.init(credentials={"access_token": token}) as webex:
        await webex.meetings.register()
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .core.config import (
    DEFAULT_ALLOWED_DOMAINS,
    VERSION,
    BackoffConfig,
    DeviceConfig,
    DiscoveryConfig,
    MercuryConfig,
    SessionConfig,
)
from .core.credentials import Credentials
from .core.errors import (
    AuthorizationError,
    CancelledCommandError,
    CertificateError,
    ConfigurationError,
    DeviceLimitError,
    HandshakeRejectedError,
    HttpStatusError,
    InvalidTransitionError,
    LocalProtocolError,
    MercuryClosedError,
    NotAuthorizedError,
    RateLimitedError,
    RemoteProtocolError,
    ResponseTooLargeError,
    TimeoutError,
    TokenProviderError,
    TokenRefreshError,
    TokenWithheldError,
    TransportError,
    UnknownEventError,
    WebexError,
)
from .core.events import (
    ConnectionFailed,
    DeviceInfo,
    Event,
    MeetingsReady,
    MeetingsRegistered,
    MeetingsUnregistered,
    MercuryEvent,
    NetworkConnected,
    NetworkDisconnected,
    StateChanged,
    TokenRefreshed,
)
from .core.lifecycle import State

if TYPE_CHECKING:
    from .adapters.listeners import EventName, MercuryEventKey, mercury_events
    from .options import AsyncWebexOptions, WebexOptions
    from .stores import (
        DeviceStore,
        DeviceStoreRecord,
        DeviceStoreWarning,
        FileDeviceStore,
        MemoryDeviceStore,
    )
    from .webex import Meetings, Webex

_FACE: dict[str, str] = {
    "AsyncWebexOptions": "webex_meetings.options",
    "DeviceStore": "webex_meetings.stores",
    "DeviceStoreRecord": "webex_meetings.stores",
    "DeviceStoreWarning": "webex_meetings.stores",
    "FileDeviceStore": "webex_meetings.stores",
    "MemoryDeviceStore": "webex_meetings.stores",
    "EventName": "webex_meetings.adapters.listeners",
    "Meetings": "webex_meetings.webex",
    "MercuryEventKey": "webex_meetings.adapters.listeners",
    "Webex": "webex_meetings.webex",
    "WebexOptions": "webex_meetings.options",
    "mercury_events": "webex_meetings.adapters.listeners",
}
"""Imported on first use, from the module that defines each, so that ``import
webex_meetings.core`` stays free of anyio, trio and httpx (the core is sans-IO;
tests/core/test_purity.py checks it in a fresh process)."""


def __getattr__(name: str) -> Any:
    if name in _FACE:
        import importlib

        return getattr(importlib.import_module(_FACE[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__version__ = VERSION
__all__ = [
    "DEFAULT_ALLOWED_DOMAINS",
    "AsyncWebexOptions",
    "AuthorizationError",
    "BackoffConfig",
    "CancelledCommandError",
    "CertificateError",
    "ConfigurationError",
    "ConnectionFailed",
    "Credentials",
    "DeviceConfig",
    "DeviceInfo",
    "DeviceLimitError",
    "DeviceStore",
    "DeviceStoreRecord",
    "DeviceStoreWarning",
    "DiscoveryConfig",
    "Event",
    "EventName",
    "FileDeviceStore",
    "HandshakeRejectedError",
    "HttpStatusError",
    "InvalidTransitionError",
    "LocalProtocolError",
    "Meetings",
    "MeetingsReady",
    "MeetingsRegistered",
    "MeetingsUnregistered",
    "MemoryDeviceStore",
    "MercuryClosedError",
    "MercuryConfig",
    "MercuryEvent",
    "MercuryEventKey",
    "NetworkConnected",
    "NetworkDisconnected",
    "NotAuthorizedError",
    "RateLimitedError",
    "RemoteProtocolError",
    "ResponseTooLargeError",
    "SessionConfig",
    "State",
    "StateChanged",
    "TimeoutError",
    "TokenProviderError",
    "TokenRefreshError",
    "TokenRefreshed",
    "TokenWithheldError",
    "TransportError",
    "UnknownEventError",
    "Webex",
    "WebexError",
    "WebexOptions",
    "__version__",
    "mercury_events",
]


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_FACE))
