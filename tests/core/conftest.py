"""Fixtures for driving a MeetingsSession against the sans-IO fake cloud."""

from __future__ import annotations

import pytest
from session_harness import FakeCloud, Pump, make_session


@pytest.fixture
def cloud() -> FakeCloud:
    return FakeCloud()


@pytest.fixture
def pump(cloud: FakeCloud) -> Pump:
    p = Pump(make_session(), cloud)
    p.init()
    return p
