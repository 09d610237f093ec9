"""A faithful, fault-injecting emulator of the Webex cloud services device registration uses.

One process serves U2C, hydra, the OAuth token endpoint, WDM, Mercury (websocket), the region,
Calliope, metrics, conversation and Locus calls under one base URL with the real path layout,
so the official JavaScript SDK registers and unregisters against it unchanged. A control API
(:class:`Control`, also as JSON under ``/_emulator/``) injects faults and latency, steers live
websockets and reports every protocol violation a client commits.

>>> async with Emulator(seed=0) as emu:            # doctest: +SKIP
...     token = emu.issue_token(expires_in=3600)
...     emu.control.fail_next("wdm.register", status=429, retry_after=1)
...     ...                                        # point a client at emu.base_url
...     assert emu.violations == []
"""

from __future__ import annotations

from .control import Control
from .emulator import (
    DEFAULT_GUEST_ISSUER,
    DEFAULT_GUEST_SECRET,
    Emulator,
    EmulatorThread,
    serve_forever,
    start_in_thread,
)
from .inputs import ControlInputError, UnknownNameError, UnknownRouteError
from .limits import Limits
from .records import (
    RULES,
    AckRecord,
    ConnectionInfo,
    DeviceRecord,
    RequestRecord,
    Rule,
    Severity,
    Violation,
    ViolationKind,
)
from .routing import CloudConfig
from .server import ServerStats
from .state import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_ORG_ID,
    DEFAULT_TOKEN,
    DEFAULT_USER_ID,
    DEVICE_LIMIT_MESSAGE,
    User,
)

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_GUEST_ISSUER",
    "DEFAULT_GUEST_SECRET",
    "DEFAULT_ORG_ID",
    "DEFAULT_TOKEN",
    "DEFAULT_USER_ID",
    "DEVICE_LIMIT_MESSAGE",
    "RULES",
    "AckRecord",
    "CloudConfig",
    "ConnectionInfo",
    "Control",
    "ControlInputError",
    "DeviceRecord",
    "Emulator",
    "EmulatorThread",
    "Limits",
    "RequestRecord",
    "Rule",
    "ServerStats",
    "Severity",
    "UnknownNameError",
    "UnknownRouteError",
    "User",
    "Violation",
    "ViolationKind",
    "serve_forever",
    "start_in_thread",
]
