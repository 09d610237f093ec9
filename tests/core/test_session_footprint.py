"""What a session costs to hold: no reference cycle (refcounting alone frees it), slots
everywhere, and what one cloud's sessions can share, shared."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest
from session_harness import BASE, FakeCloud, Pump, make_session

from webex_meetings.core.config import SessionConfig
from webex_meetings.core.http_client import HttpClient
from webex_meetings.core.mercury import MercuryProtocol
from webex_meetings.core.mercury_link import MercuryLink
from webex_meetings.core.session import MeetingsSession


@pytest.fixture
def collector_off() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def registered(cloud: FakeCloud) -> Pump:
    pump = Pump(make_session(), cloud)
    pump.init()
    assert pump.result(pump.register()) is None
    return pump


@pytest.mark.usefixtures("collector_off")
@pytest.mark.parametrize("stage", ["registered", "unregistered"])
def test_a_dropped_session_is_freed_by_refcounting_alone(stage: str) -> None:
    pump = registered(FakeCloud())
    if stage == "unregistered":
        assert pump.result(pump.unregister()) is None
    gone = weakref.ref(pump.session)
    del pump
    assert gone() is None, "a reference cycle keeps the session alive until a collection"


@pytest.mark.parametrize("kind", [MeetingsSession, HttpClient, MercuryLink, MercuryProtocol])
def test_per_session_objects_have_slots_and_no_dict(kind: type) -> None:
    assert "__dict__" not in dir(kind)
    assert hasattr(kind, "__slots__")


def test_one_clouds_sessions_share_their_config_and_catalog() -> None:
    cloud = FakeCloud()
    first, second = registered(cloud), registered(cloud)
    assert SessionConfig.for_cloud(BASE) is SessionConfig.for_cloud(BASE)
    assert first.session.catalog is not None
    assert first.session.catalog is second.session.catalog  # parsed once, held once
