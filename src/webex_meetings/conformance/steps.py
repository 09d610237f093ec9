"""The steps that arrange a scenario, each one call of the emulator's control API.

A scenario is arranged in two phases: its ``arrange`` steps run on a fresh emulator before the
client starts (faults, variants, omitted fields, feature toggles, scheduled closes, the device
limit, latency), its ``mid_session`` steps run once, a moment after the client's first Mercury
session became ready (expire the device, expire the token, cut the websocket): things that
only mean something once a client is registered. Steps are small frozen values, so the
scenario table is data that prints itself (:meth:`Step.describe`) and the judge never sees
them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ..emulator.control import Control

__all__ = [
    "CloseSessions",
    "DeviceLimit",
    "DropConnections",
    "ExpireDevices",
    "ExpireToken",
    "Fail",
    "Feature",
    "Latency",
    "Omit",
    "ShutdownSessions",
    "Step",
    "Target",
    "Variant",
]


class Target(Protocol):
    """What a step acts on: the emulator's control API and the run's own token."""

    @property
    def control(self) -> Control: ...

    @property
    def token(self) -> str: ...


class Step(Protocol):
    """One arrangement: applied to a :class:`Target`, described in one short phrase."""

    def apply(self, target: Target) -> None: ...

    def describe(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Fail:
    """Answer ``route`` with ``status`` (``count`` ``None``: every attempt)."""

    route: str
    status: int
    count: int | None = 1
    retry_after: float | None = None

    def apply(self, target: Target) -> None:
        target.control.fail_next(
            self.route, count=self.count, status=self.status, retry_after=self.retry_after
        )

    def describe(self) -> str:
        times = "every time" if self.count is None else f"{self.count}x"
        wait = "" if self.retry_after is None else f" Retry-After {self.retry_after:g}"
        return f"{self.route} answers {self.status}{wait} ({times})"


@dataclass(frozen=True, slots=True)
class Variant:
    """Switch an emulator variant on."""

    name: str

    def apply(self, target: Target) -> None:
        target.control.set_variant(self.name)

    def describe(self) -> str:
        return f"variant {self.name}"


@dataclass(frozen=True, slots=True)
class Omit:
    """Leave a field out of the answers."""

    field: str

    def apply(self, target: Target) -> None:
        target.control.omit(self.field)

    def describe(self) -> str:
        return f"omit {self.field}"


@dataclass(frozen=True, slots=True)
class Feature:
    """Turn a WDM developer feature toggle on."""

    key: str

    def apply(self, target: Target) -> None:
        target.control.set_feature(self.key, True)

    def describe(self) -> str:
        return f"feature {self.key} on"


@dataclass(frozen=True, slots=True)
class CloseSessions:
    """Close the next ``count`` sessions ``after`` seconds after they became ready."""

    code: int
    reason: str = ""
    after: float = 0.3
    count: int = 1

    def apply(self, target: Target) -> None:
        target.control.schedule_close(self.code, self.reason, self.after, self.count)

    def describe(self) -> str:
        reason = f" {self.reason!r}" if self.reason else ""
        return f"close {self.code}{reason} {self.after:g} s after ready ({self.count}x)"


@dataclass(frozen=True, slots=True)
class ShutdownSessions:
    """Send the ``shutdown`` frame ``after`` seconds after the next session became ready."""

    after: float = 0.3

    def apply(self, target: Target) -> None:
        target.control.schedule_shutdown(self.after)

    def describe(self) -> str:
        return f"shutdown frame {self.after:g} s after ready"


@dataclass(frozen=True, slots=True)
class DeviceLimit:
    """How many devices the user may hold (0: "excessive device registrations" at once)."""

    limit: int

    def apply(self, target: Target) -> None:
        target.control.set_device_limit(self.limit)

    def describe(self) -> str:
        return f"device limit {self.limit}"


@dataclass(frozen=True, slots=True)
class Latency:
    """Delay every answer and frame matching ``route``."""

    seconds: float
    route: str = "*"

    def apply(self, target: Target) -> None:
        target.control.set_latency(self.route, self.seconds)

    def describe(self) -> str:
        return f"latency {self.seconds:g} s on {self.route}"


@dataclass(frozen=True, slots=True)
class ExpireDevices:
    """Make every live device lapse now, as if its ttl ran out (its websocket stays open)."""

    def apply(self, target: Target) -> None:
        target.control.expire_devices()

    def describe(self) -> str:
        return "the device expires server-side"


@dataclass(frozen=True, slots=True)
class DropConnections:
    """Cut every live websocket without a close frame (the client sees 1006)."""

    def apply(self, target: Target) -> None:
        target.control.drop_connections()

    def describe(self) -> str:
        return "the websocket is cut (1006)"


@dataclass(frozen=True, slots=True)
class ExpireToken:
    """Make the run's access token expire now."""

    def apply(self, target: Target) -> None:
        target.control.expire_token(target.token)

    def describe(self) -> str:
        return "the access token expires"
