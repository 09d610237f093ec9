"""register() against a broken or hostile server (issue 8 §3, §4), at the core: one overall
deadline naming the step, errors that say who closed, transient-looking closes after
registration, events ahead of ``buffer_state``, and a ``people/me`` that refuses the token.
"""

from __future__ import annotations

import json
import logging

import pytest
from session_harness import FakeCloud, Pump, make_session

from webex_meetings.core.config import BackoffConfig, MercuryConfig, SessionConfig
from webex_meetings.core.effects import SendWebSocketText
from webex_meetings.core.errors import MercuryClosedError, TimeoutError
from webex_meetings.core.events import MercuryEvent, NetworkDisconnected
from webex_meetings.core.lifecycle import State
from webex_meetings.core.mercury import MAX_EARLY_EVENTS

BASE = "http://127.0.0.1:9999"


def _pump(cloud: FakeCloud, **changes: object) -> Pump:
    pump = Pump(make_session(SessionConfig.for_cloud(BASE, **changes)), cloud)
    pump.init()
    return pump


# -- one deadline for register() -------------------------------------------------------------


def test_a_black_holed_authorization_fails_register_at_the_deadline(cloud: FakeCloud) -> None:
    cloud.withhold_buffer_state = True
    pump = _pump(cloud)
    command = pump.register()
    pump.advance(59.9)
    assert command not in pump.completed
    pump.advance(0.2)
    error = pump.result(command)
    assert isinstance(error, TimeoutError)
    assert error.step == "mercury.buffer_state"
    assert "60 s" in str(error)
    assert cloud.devices == {}  # what it created is deleted
    assert pump.session.state is State.READY
    assert not pump.sockets


@pytest.mark.parametrize(
    ("step", "expected"),
    [("catalog", "catalog"), ("people/me", "people/me"), ("device.register", "device.register")],
)
def test_the_deadline_names_the_step_it_caught(cloud: FakeCloud, step: str, expected: str):
    cloud.fail(step, "hang")
    pump = _pump(cloud, register_timeout=5.0)
    command = pump.register()
    pump.advance(5.0)
    error = pump.result(command) if command in pump.completed else None
    if step == "device.register":  # the POST may still create a device: waited for
        assert error is None
        pump.release()
        error = pump.result(command)
        assert cloud.devices == {}
    assert isinstance(error, TimeoutError)
    assert error.step == expected


def test_a_connect_that_never_succeeds_is_named(cloud: FakeCloud) -> None:
    cloud.ws_faults.extend([None] * 20)  # every upgrade fails to connect
    pump = _pump(cloud, register_timeout=10.0)
    command = pump.register()
    pump.advance(10.0)
    error = pump.result(command)
    assert isinstance(error, TimeoutError)
    assert error.step == "mercury.connect"


def test_a_registration_within_the_deadline_is_not_cut_later(pump: Pump) -> None:
    assert pump.result(pump.register()) is None
    pump.advance(3600)
    assert pump.session.registered


# -- who closed --------------------------------------------------------------------------------


def _one_attempt(cloud: FakeCloud) -> Pump:
    mercury = MercuryConfig(initial_backoff=BackoffConfig(max_attempts=1))
    return _pump(cloud, mercury=mercury)


def test_our_own_close_is_reported_as_ours(cloud: FakeCloud) -> None:
    cloud.withhold_buffer_state = True
    pump = _one_attempt(cloud)
    command = pump.register()
    pump.advance(31)
    error = pump.result(command)
    assert isinstance(error, MercuryClosedError)
    assert error.by_us
    assert str(error).startswith("this client closed the Mercury websocket: 1000")
    assert "Authorization timed out" in str(error)
    assert error.step == "mercury.buffer_state"


def test_the_servers_close_is_reported_as_the_servers(cloud: FakeCloud) -> None:
    pump = _one_attempt(cloud)
    cloud.withhold_buffer_state = True
    command = pump.register()
    pump.server_close(4403, "forbidden")
    error = pump.result(command)
    assert isinstance(error, MercuryClosedError)
    assert not error.by_us
    assert str(error).startswith("Mercury closed the websocket: 4403 'forbidden'")


def test_a_lost_connection_is_reported_as_lost(cloud: FakeCloud) -> None:
    pump = _one_attempt(cloud)
    cloud.withhold_buffer_state = True
    command = pump.register()
    pump.server_close(1006, "")
    error = pump.result(command)
    assert isinstance(error, MercuryClosedError)
    assert str(error).startswith("the connection to Mercury was lost: 1006")


# -- a frame the transport refused, after registration ----------------------------------------


@pytest.mark.parametrize(("code", "reason"), [(1009, "message too big"), (1007, "invalid")])
def test_an_oversized_or_invalid_frame_reconnects_like_a_dropped_connection(
    pump: Pump, code: int, reason: str
) -> None:
    assert pump.result(pump.register()) is None
    pump.server_close(code, reason)
    [disconnected] = [e for e in pump.events if isinstance(e, NetworkDisconnected)]
    assert disconnected.will_reconnect
    pump.advance(1)
    assert pump.session.state is State.REGISTERED
    assert pump.names()[-1] == "network:connected"


# -- events ahead of buffer_state --------------------------------------------------------------


def _event(n: int) -> dict[str, object]:
    return {"id": f"early{n}", "data": {"eventType": "locus.difference", "n": n}}


def test_events_before_buffer_state_are_delivered_after_registered_in_order(
    cloud: FakeCloud,
) -> None:
    cloud.before_buffer_state = [_event(1), _event(2)]
    pump = _pump(cloud)
    assert pump.result(pump.register()) is None
    names = pump.names()
    registered = names.index("meetings:registered")
    delivered = [e for e in pump.events if isinstance(e, MercuryEvent)]
    assert [e.data["n"] for e in delivered] == [1, 2]
    assert names.index("event") > registered
    acked = [f["messageId"] for f in cloud.frames if f.get("type") == "ack"]
    assert acked[:2] == ["early1", "early2"]


def test_past_the_cap_early_frames_are_left_for_redelivery(cloud: FakeCloud) -> None:
    cloud.before_buffer_state = [_event(n) for n in range(MAX_EARLY_EVENTS + 3)]
    pump = _pump(cloud)
    assert pump.result(pump.register()) is None
    delivered = [e for e in pump.events if isinstance(e, MercuryEvent)]
    assert len(delivered) == MAX_EARLY_EVENTS
    acked = {
        json.loads(e.text).get("messageId")
        for e in pump.effects
        if isinstance(e, SendWebSocketText) and '"ack"' in e.text
    }
    assert f"early{MAX_EARLY_EVENTS}" not in acked  # not acked: the server redelivers it


# -- people/me refusing the token --------------------------------------------------------------


@pytest.mark.parametrize("status", [401, 403])
def test_people_me_refusing_the_token_does_not_fail_register(
    pump: Pump, cloud: FakeCloud, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="webex_meetings.core.session")
    cloud.fail("people/me", status)
    assert pump.result(pump.register()) is None
    assert pump.session.person is None
    assert pump.session.registered
    assert any("people/me" in r.getMessage() for r in caplog.records)
