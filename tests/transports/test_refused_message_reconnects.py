"""A message the transport refuses after registration (over 4 MiB) is a lost connection to the
session: the socket is closed with 1009 and Mercury reconnects with backoff (issue 8 §3)."""

from __future__ import annotations

from dataclasses import replace

import anyio
import pytest

from webex_meetings.core.config import BackoffConfig, MercuryConfig, SessionConfig
from webex_meetings.emulator import Emulator
from webex_meetings.webex import Webex

pytestmark = pytest.mark.anyio


async def test_an_oversized_message_reconnects_instead_of_ending_mercury(
    emulator: Emulator,
) -> None:
    backoff = BackoffConfig(initial=0.05, maximum=0.1)
    config = replace(
        SessionConfig.for_cloud(emulator.base_url),
        mercury=MercuryConfig(reconnect_backoff=backoff),
    )
    async with Webex(access_token=emulator.default_token, config=config) as webex:
        await webex.meetings.register()
        emulator.control.push_event({"eventType": "huge", "blob": "x" * (5 * 1024 * 1024)})
        with anyio.fail_after(10):
            while len(emulator.connections) < 2:
                await anyio.sleep(0.01)
        first = emulator.connections[0]
        assert (first.close_code, first.closed_by) == (1009, "client")
        assert webex.meetings.registered
