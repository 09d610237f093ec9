"""Our own client for the conformance kit: the library's public async face, nothing more.

``python -m webex_meetings.conformance.reference_client`` reads the kit's environment
(``STUB_BASE``, ``WEBEX_ACCESS_TOKEN``, ``HOLD_MS`` and the optional Mercury settings, see
:data:`webex_meetings.conformance.ENVIRONMENT`), then does what any application does::

    async with Webex.init(credentials={"access_token": token}, config=config) as webex:
        await webex.meetings.register()
        await anyio.sleep(hold)
        await webex.meetings.unregister()

and prints one JSON line saying what happened. The kit never reads that line (it judges from
the emulator's records); it is there for a person reading the run.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Final

import anyio

from ..core.config import MercuryConfig, SessionConfig
from ..core.errors import WebexError
from ..core.lifecycle import State
from ..webex import Webex

__all__ = ["client_config", "main", "run"]

EXIT_OK: Final = 0
EXIT_USAGE: Final = 2
EXIT_REGISTER_FAILED: Final = 3
EXIT_UNREGISTER_FAILED: Final = 4

_MERCURY_TIMINGS: Final = {
    "MERCURY_PING_INTERVAL": "ping_interval",
    "MERCURY_PONG_TIMEOUT": "pong_timeout",
    "MERCURY_AUTHORIZATION_TIMEOUT": "authorization_timeout",
}
"""Environment variable (milliseconds) -> the :class:`MercuryConfig` field it sets."""

_UNREGISTERABLE: Final = frozenset({State.REGISTERED, State.RECONNECTING, State.DISCONNECTED})


class UsageError(ValueError):
    """The environment is missing something or holds a bad value."""


def _milliseconds(env: Mapping[str, str], name: str) -> float | None:
    raw = env.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise UsageError(f"{name} must be a number of milliseconds, not {raw!r}") from None
    if not math.isfinite(value) or value < 0:
        raise UsageError(f"{name} must be finite and >= 0, not {raw!r}")
    return value / 1000


def client_config(env: Mapping[str, str]) -> SessionConfig:
    """The session config for the emulator at ``STUB_BASE``, with the Mercury timings the
    environment sets.

    :raises UsageError: ``STUB_BASE`` is missing or a timing is not a number.
    """
    base = env.get("STUB_BASE")
    if not base:
        raise UsageError("STUB_BASE (the emulator's base URL) is not set")
    settings: dict[str, Any] = {}
    for name, attribute in _MERCURY_TIMINGS.items():
        seconds = _milliseconds(env, name)
        if seconds is not None:
            settings[attribute] = seconds
    defaults = MercuryConfig()
    attempts = _count(env, "MERCURY_CONNECT_ATTEMPTS")
    if attempts is not None:
        settings["initial_backoff"] = replace(defaults.initial_backoff, max_attempts=attempts)
    return SessionConfig.for_cloud(base, mercury=replace(defaults, **settings))


def _count(env: Mapping[str, str], name: str) -> int | None:
    raw = env.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw, 10)
    except ValueError:
        value = 0
    if value < 1:
        raise UsageError(f"{name} must be a whole number >= 1, not {raw!r}")
    return value


async def run(env: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
    """Register, hold ``HOLD_MS``, unregister; the exit code and a summary.

    :raises UsageError: a bad environment.
    """
    config = client_config(env)
    token = env.get("WEBEX_ACCESS_TOKEN") or env.get("WEBEX_TOKEN")
    if not token:
        raise UsageError("WEBEX_ACCESS_TOKEN is not set")
    hold = _milliseconds(env, "HOLD_MS") or 0.0
    summary: dict[str, Any] = {"scenario": env.get("CONFORMANCE_SCENARIO", "")}
    async with Webex.init(credentials={"access_token": token}, config=config) as webex:
        meetings = webex.meetings
        try:
            await meetings.register()
        except WebexError as error:
            summary.update(registered=False, error=f"register: {type(error).__name__}")
            return EXIT_REGISTER_FAILED, summary
        summary["registered"] = True
        await anyio.sleep(hold)
        summary["state_before_unregister"] = meetings.state.value
        if meetings.state in _UNREGISTERABLE:
            try:
                await meetings.unregister()
            except WebexError as error:
                summary["error"] = f"unregister: {type(error).__name__}"
                return EXIT_UNREGISTER_FAILED, summary
        summary["unregistered"] = True
    return EXIT_OK, summary


def main(env: Mapping[str, str] | None = None) -> int:
    """Run the reference client; prints one JSON summary line, returns the exit code."""
    try:
        code, summary = anyio.run(run, dict(os.environ) if env is None else env)
    except UsageError as error:
        sys.stderr.write(f"reference client: {error}\n")
        return EXIT_USAGE
    sys.stdout.write(json.dumps(summary) + "\n")
    return code


if __name__ == "__main__":
    sys.exit(main())
