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

import importlib
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
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

_EXPORTS: Final[dict[str, str]] = {
    "Control": ".control",
    "DEFAULT_GUEST_ISSUER": ".emulator",
    "DEFAULT_GUEST_SECRET": ".emulator",
    "Emulator": ".emulator",
    "EmulatorThread": ".emulator",
    "serve_forever": ".emulator",
    "start_in_thread": ".emulator",
    "ControlInputError": ".inputs",
    "UnknownNameError": ".inputs",
    "UnknownRouteError": ".inputs",
    "Limits": ".limits",
    "AckRecord": ".records",
    "ConnectionInfo": ".records",
    "DeviceRecord": ".records",
    "RULES": ".records",
    "RequestRecord": ".records",
    "Rule": ".records",
    "Severity": ".records",
    "Violation": ".records",
    "ViolationKind": ".records",
    "CloudConfig": ".routing",
    "ServerStats": ".server",
    "DEFAULT_CLIENT_ID": ".state",
    "DEFAULT_CLIENT_SECRET": ".state",
    "DEFAULT_ORG_ID": ".state",
    "DEFAULT_TOKEN": ".state",
    "DEFAULT_USER_ID": ".state",
    "DEVICE_LIMIT_MESSAGE": ".state",
    "User": ".state",
}
"""Public name -> the module defining it (imported on first use, see ``__getattr__``)."""


def __getattr__(name: str) -> Any:
    """Import a public name's module on first use, so that ``webex-meetings`` subcommands
    other than ``emulator`` and ``demo`` do not pay for loading the emulator."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
