"""Fixtures for the emulator tests (``emulator`` and ``running_emulator`` come from the
package's pytest plugin); helpers live in ``emulator_testkit``."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from emulator_testkit import OPEN_STREAMS, TIMEOUT

from webex_meetings.emulator import Emulator


@pytest.fixture
async def http(emulator: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=emulator.base_url, timeout=TIMEOUT) as client:
        yield client
    while OPEN_STREAMS:
        await OPEN_STREAMS.pop().aclose()
