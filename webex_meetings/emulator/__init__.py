"""A faithful, fault-injecting emulator of the Webex cloud services device registration uses."""

from __future__ import annotations

__all__: list[str] = []
