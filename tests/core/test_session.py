"""The meetings session, driven end to end against the sans-IO fake cloud."""

from __future__ import annotations

import json

import pytest
from session_harness import BASE, TOKEN, FakeCloud, Pump, make_session, query

from webex_meetings.core.config import BackoffConfig, MercuryConfig, SessionConfig
from webex_meetings.core.effects import CloseWebSocket, OpenWebSocket, SendHttpRequest
from webex_meetings.core.errors import (
    AuthorizationError,
    CancelledCommandError,
    CertificateError,
    DeviceLimitError,
    HandshakeRejectedError,
    HttpStatusError,
    InvalidTransitionError,
    MercuryClosedError,
    NotAuthorizedError,
    ResponseTooLargeError,
    TimeoutError,
    TransportError,
)
from webex_meetings.core.events import MeetingsRegistered, MercuryEvent, NetworkDisconnected
from webex_meetings.core.inputs import Shutdown
from webex_meetings.core.lifecycle import State


def registered_pump(cloud: FakeCloud, config: SessionConfig | None = None, **kw: object) -> Pump:
    pump = Pump(make_session(config, **kw), cloud)  # type: ignore[arg-type]
    pump.init()
    assert pump.result(pump.register()) is None
    assert pump.session.state is State.REGISTERED
    return pump


# -- register ----------------------------------------------------------------------------


def test_register_runs_catalog_and_people_me_in_parallel_then_device_then_mercury(pump: Pump):
    command = pump.register(run=False)
    first = pump.session.handle(pump._inputs.popleft(), now=pump.now)
    sent = [e.request.step for e in first if isinstance(e, SendHttpRequest)]
    assert sent == ["catalog", "people/me"]  # both before any answer: one round trip
    for effect in first:
        pump._apply(effect)
    pump.run()
    assert pump.result(command) is None
    assert pump.requests_by_step() == ["catalog", "people/me", "device.register"]
    assert [f.get("type") for f in pump.cloud.frames] == [
        "authorization",
        "ack",
        "ping",
        "ack",
    ]  # the pong is acked too (it has an id)
    assert pump.session.registered
    assert pump.session.state is State.REGISTERED
    assert pump.names()[-2:] == ["state:changed", "meetings:registered"]
    registered = pump.events[-1]
    assert isinstance(registered, MeetingsRegistered)
    assert registered.device.url.startswith(f"{BASE}/wdm/api/v1/devices/")
    assert registered.device.id == "dev1"  # what the cloud's device list names it by
    assert pump.session.person is not None
    assert pump.session.person.display_name == "Ada"


def test_events_in_lifecycle_order(pump: Pump):
    pump.register()
    states = [(e.source, e.dest) for e in pump.events if e.name == "state:changed"]
    assert states == [
        ("uninitialized", "ready"),
        ("ready", "registering"),
        ("registering", "registered"),
    ]
    assert pump.names().index("meetings:ready") < pump.names().index("meetings:registered")


def test_requests_carry_the_webex_headers(pump: Pump):
    pump.register()
    post = pump.cloud.requests[-1]
    assert post.method == "POST"
    assert query(post.url) == {"includeUpstreamServices": ["all"]}
    assert post.header("authorization") == f"Bearer {TOKEN}"
    assert post.header("cisco-no-http-redirect") == "true"
    assert post.header(
        "spark-user-agent",
    ).startswith("webex-meetings/")  # type: ignore[union-attr]
    tracking = [r.header("trackingid") for r in pump.cloud.requests]
    prefix = pump.session.session_id
    assert tracking == [f"{prefix}_{n}" for n in range(1, len(tracking) + 1)]
    body = post.json()
    assert body["deviceType"] == "WEB"
    assert body["ttl"] == 1800
    assert post.header("cisco-device-url") is None  # not yet registered


def test_mercury_url_and_authorization_frame(pump: Pump):
    pump.register()
    opened = [e for e in pump.effects if isinstance(e, OpenWebSocket)]
    assert len(opened) == 1
    params = query(opened[0].url)
    assert params["outboundWireFormat"] == ["text"]
    assert params["bufferStates"] == ["true"]
    assert params["aliasHttpStatus"] == ["true"]
    assert params["multipleConnections"] == ["true"]
    assert params["clientTimestamp"] == [str(int(pump.now * 1000))]
    auth = pump.cloud.frames[0]
    assert auth["type"] == "authorization"
    assert auth["data"] == {"token": f"Bearer {TOKEN}"}
    assert auth["trackingId"] == f"{pump.session.session_id}_{int(pump.now * 1000)}"


def test_register_when_registered_is_a_no_op(cloud: FakeCloud):
    pump = registered_pump(cloud)
    before = len(cloud.requests)
    assert pump.result(pump.register()) is None
    assert len(cloud.requests) == before
    assert pump.names().count("meetings:registered") == 1


def test_overlapping_registers_coalesce_into_one_registration(pump: Pump, cloud: FakeCloud):
    cloud.fail("device.register", "hang")
    first = pump.register()
    second = pump.register()
    assert not pump.completed
    pump.release()
    assert pump.result(first) is None
    assert pump.result(second) is None
    assert pump.requests_by_step().count("device.register") == 1
    assert pump.names().count("meetings:registered") == 1


def test_register_before_initialize_is_refused():
    pump = Pump(make_session(), FakeCloud())
    error = pump.result(pump.register())
    assert isinstance(error, InvalidTransitionError)
    assert pump.session.state is State.UNINITIALIZED


def test_register_without_usable_credentials_sends_nothing(cloud: FakeCloud):
    from session_harness import START

    pump = Pump(make_session(expires_at=START - 1), cloud)
    pump.init()
    error = pump.result(pump.register())
    assert isinstance(error, NotAuthorizedError)
    assert cloud.requests == []
    assert pump.session.state is State.READY


def test_initialize_twice_is_refused(pump: Pump):
    with pytest.raises(InvalidTransitionError):
        pump.init()
    assert pump.session.state is State.READY


# -- failures roll back ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("step", "fault", "error_type"),
    [
        ("catalog", 500, HttpStatusError),
        ("catalog", 404, HttpStatusError),
        ("device.register", 400, HttpStatusError),
        ("device.register", 401, AuthorizationError),
    ],
)
def test_a_failed_step_fails_register_with_its_name(pump: Pump, cloud, step, fault, error_type):
    cloud.fail(step, fault, fault, fault)
    error = pump.result(pump.register())
    assert isinstance(error, error_type)
    assert error.step == step
    assert pump.session.state is State.READY
    assert cloud.devices == {}


@pytest.mark.parametrize(
    ("fault", "error_type", "attempts"),
    [
        ("fail", TransportError, 3),
        ("timeout", TimeoutError, 3),
        ("certificate", CertificateError, 1),
        ("too_large", ResponseTooLargeError, 1),
    ],
)
def test_only_failures_a_retry_can_cure_are_retried(
    pump: Pump, cloud: FakeCloud, fault, error_type, attempts
):
    cloud.fail("catalog", fault, fault, fault)
    command = pump.register()
    pump.advance(60)
    error = pump.result(command)
    assert type(error) is error_type
    assert error.step == "catalog"
    assert pump.requests_by_step().count("catalog") == attempts
    assert pump.session.state is State.READY


def test_people_me_outage_does_not_block_registration(pump: Pump, cloud: FakeCloud):
    cloud.fail("people/me", 500, 500, 500)
    assert pump.result(pump.register()) is None
    assert pump.session.person is None


def test_retryable_statuses_are_retried_after_retry_after(pump: Pump, cloud: FakeCloud):
    def limited(request):
        from webex_meetings.core.http import HttpResponse

        return HttpResponse(429, (("retry-after", "7"),), b"{}")

    cloud.fail("catalog", limited)
    command = pump.register()
    assert command not in pump.completed
    pump.advance(6.9)
    assert command not in pump.completed
    pump.advance(0.2)
    assert pump.result(command) is None


def test_mercury_refused_deletes_the_new_device(pump: Pump, cloud: FakeCloud):
    cloud.ws_faults.append(403)
    error = pump.result(pump.register())
    assert isinstance(error, HandshakeRejectedError)
    assert error.status == 403
    assert cloud.devices == {}
    assert pump.requests_by_step()[-1] == "device.unregister"
    assert pump.session.state is State.READY
    assert pump.session.device is None


def test_mercury_unreachable_gives_up_after_bounded_attempts(cloud: FakeCloud):
    config = SessionConfig.for_cloud(
        BASE, mercury=MercuryConfig(initial_backoff=BackoffConfig(max_attempts=3))
    )
    pump = Pump(make_session(config), cloud)
    pump.init()
    cloud.ws_faults.extend([None, None, None])
    command = pump.register()
    pump.advance(1.0)  # second attempt after 1 s
    assert command not in pump.completed
    pump.advance(2.0)  # third after 2 s more: the last one
    error = pump.result(command)
    assert isinstance(error, MercuryClosedError)
    assert [e.retry_in for e in pump.events if e.name == "mercury:connection_failed"] == [
        1.0,
        2.0,
        None,
    ]
    assert cloud.devices == {}


def test_authorization_timeout_is_retried(cloud: FakeCloud):
    config = SessionConfig.for_cloud(BASE, mercury=MercuryConfig(authorization_timeout=5))
    pump = Pump(make_session(config), cloud)
    pump.init()
    real = cloud.ws_text
    silent = {"on": True}

    def ws_text(text: str) -> list[str]:
        frames = real(text)
        return [] if silent["on"] and json.loads(text)["type"] == "authorization" else frames

    cloud.ws_text = ws_text  # type: ignore[method-assign]
    command = pump.register()
    silent["on"] = False
    pump.advance(5.0)  # auth timeout -> close -> reconnect after 1 s
    pump.advance(1.5)
    assert pump.result(command) is None


def test_device_limit_prunes_only_our_own_oldest_devices(cloud: FakeCloud):
    other = f"{BASE}/wdm/api/v1/devices/theirs"
    cloud.devices[other] = {
        "url": other,
        "name": "Webex Desktop",
        "deviceType": "DESKTOP",
        "modificationTime": "2020-01-01T00:00:00Z",
    }
    for n in range(3):
        url = f"{BASE}/wdm/api/v1/devices/old{n}"
        cloud.devices[url] = {
            "url": url,
            "name": "webex-meetings-python",
            "deviceType": "WEB",
            "modificationTime": f"2025-01-0{n + 1}T00:00:00Z",
        }
    cloud.device_cap = 4
    pump = Pump(make_session(), cloud)
    pump.init()
    assert pump.result(pump.register()) is None
    assert other in cloud.devices
    assert f"{BASE}/wdm/api/v1/devices/old0" not in cloud.devices  # the oldest of ours
    assert pump.requests_by_step().count("device.register") == 2


def test_device_limit_with_none_of_ours_fails(cloud: FakeCloud):
    cloud.device_cap = 0
    pump = Pump(make_session(), cloud)
    pump.init()
    assert isinstance(pump.result(pump.register()), DeviceLimitError)


def test_401_refreshes_the_token_and_replays_once(cloud: FakeCloud):
    pump = Pump(
        make_session(refresh_token="r" * 20, client_id="client", client_secret="s" * 20), cloud
    )
    pump.init()
    cloud.fail("device.register", 401)
    assert pump.result(pump.register()) is None
    steps = pump.requests_by_step()
    assert steps[-2:] == ["credentials.refresh", "device.register"]
    replay = cloud.requests[-1]
    assert replay.header("authorization") == "Bearer refreshed1_PF84_" + TOKEN.split("_PF84_")[1]
    assert "credentials:refreshed" in pump.names()


# -- while registered --------------------------------------------------------------------


def test_transient_close_reconnects(cloud: FakeCloud):
    pump = registered_pump(cloud)
    pump.server_close(1006)
    disconnected = [e for e in pump.events if isinstance(e, NetworkDisconnected)]
    assert disconnected
    assert disconnected[-1].will_reconnect
    assert pump.session.state is State.REGISTERED  # reconnected at once (first retry is immediate)
    assert pump.names()[-1] == "network:connected"
    assert [f["type"] for f in cloud.frames if f.get("type") == "authorization"] == [
        "authorization",
        "authorization",
    ]


def test_replaced_connection_ends_but_keeps_the_device_for_unregister(cloud: FakeCloud):
    pump = registered_pump(cloud)
    pump.server_close(4000, "replaced")
    assert pump.session.state is State.DISCONNECTED
    assert not pump.events[-2].will_reconnect  # type: ignore[attr-defined]
    assert pump.result(pump.unregister()) is None
    assert cloud.devices == {}
    assert pump.session.state is State.UNREGISTERED


def test_missing_pong_closes_and_reconnects(cloud: FakeCloud):
    pump = registered_pump(cloud)
    pump.advance(15.0)  # pong of the first ping arrived at once; next ping 15 s later
    assert [f["type"] for f in cloud.frames].count("ping") == 2
    pump.auto_pong = False
    pump.advance(15.0)
    pings = [f for f in cloud.frames if f["type"] == "ping"]
    assert len(pings) == 3
    pump.auto_pong = True
    pump.advance(14.0)  # pong timeout: close 1000 'Pong not received' -> reconnect
    closes = [e for e in pump.effects if isinstance(e, CloseWebSocket)]
    assert closes[-1].reason == "Pong not received"
    assert pump.session.state is State.REGISTERED
    assert "network:connected" in pump.names()


def test_ephemeral_device_is_refreshed_and_recreated_when_gone(cloud: FakeCloud):
    pump = registered_pump(cloud)
    device = pump.session.device
    assert device is not None
    pump.advance(960.0)
    put = cloud.requests[-1]
    assert put.method == "PUT"
    assert put.url.startswith(device.url)
    assert put.header("if-none-match") is not None
    assert put.header("cisco-device-url") == device.url
    cloud.devices.clear()  # the server forgot the device
    pump.advance(960.0)
    assert pump.requests_by_step()[-2:] == ["device.refresh", "device.register"]
    new = pump.session.device
    assert new is not None
    assert new.url != device.url
    assert pump.session.state is State.REGISTERED


def test_expiring_token_is_refreshed_before_it_expires(cloud: FakeCloud):
    from session_harness import START

    pump = Pump(
        make_session(
            refresh_token="r" * 20,
            client_id="c",
            client_secret="s" * 20,
            expires_at=START + 1000,
        ),
        cloud,
    )
    pump.init()
    pump.advance(600)
    assert "credentials.refresh" not in pump.requests_by_step()
    pump.advance(300)
    assert pump.requests_by_step() == ["credentials.refresh"]


# -- unregister ----------------------------------------------------------------------------


def test_unregister_closes_mercury_then_deletes_the_device(cloud: FakeCloud):
    pump = registered_pump(cloud)
    device = pump.session.device
    assert device is not None
    assert pump.result(pump.unregister()) is None
    close = [e for e in pump.effects if isinstance(e, CloseWebSocket)][-1]
    assert (close.code, close.reason) == (3050, "meetings unregister")
    delete = cloud.requests[-1]
    assert (delete.method, delete.url) == ("DELETE", device.url)
    assert delete.header("cisco-device-url") == device.url
    assert delete.body is None
    assert cloud.devices == {}
    assert pump.names()[-1] == "meetings:unregistered"
    assert not pump.session.registered
    assert pump.session.device is None


def test_unregister_when_not_registered_is_a_no_op(pump: Pump, cloud: FakeCloud):
    assert pump.result(pump.unregister()) is None
    assert cloud.requests == []
    assert "meetings:unregistered" not in pump.names()


def test_failed_delete_keeps_the_device_for_another_try(cloud: FakeCloud):
    pump = registered_pump(cloud)
    cloud.fail("device.unregister", 500)
    error = pump.result(pump.unregister())
    assert isinstance(error, HttpStatusError)
    assert error.status == 500
    assert pump.session.state is State.DISCONNECTED
    assert pump.session.device is not None
    assert pump.result(pump.unregister()) is None
    assert cloud.devices == {}


def test_gone_device_counts_as_unregistered(cloud: FakeCloud):
    pump = registered_pump(cloud)
    cloud.devices.clear()
    assert pump.result(pump.unregister()) is None
    assert pump.session.state is State.UNREGISTERED


def test_unregister_during_register_runs_after_it(pump: Pump, cloud: FakeCloud):
    cloud.fail("device.register", "hang")
    register = pump.register()
    unregister = pump.unregister()
    pump.release()
    assert pump.result(register) is None
    assert pump.result(unregister) is None
    assert cloud.devices == {}
    assert pump.session.state is State.UNREGISTERED


def test_register_again_after_unregister(cloud: FakeCloud):
    pump = registered_pump(cloud)
    pump.unregister()
    assert pump.result(pump.register()) is None
    assert len(cloud.devices) == 1
    assert pump.requests_by_step().count("catalog") == 1  # the catalog is kept


def test_shutdown_cancels_pending_commands(pump: Pump, cloud: FakeCloud):
    cloud.fail("device.register", "hang")
    command = pump.register()
    pump.feed(Shutdown())
    assert isinstance(pump.result(command), CancelledCommandError)
    assert pump.timers == {}


def test_no_effect_or_event_shows_the_token(cloud: FakeCloud):
    pump = registered_pump(cloud)
    pump.unregister()
    for item in [*pump.effects, *pump.events, pump.session]:
        assert "secretsecret" not in repr(item)


def test_a_redelivered_event_reaches_the_application_once(cloud: FakeCloud):
    pump = registered_pump(cloud)
    event = {"id": "evt-1", "data": {"eventType": "locus.difference", "n": 1}}
    pump.server_send(event)
    pump.server_close(1006)  # dropped: Mercury will redeliver what it thinks unacked
    pump.server_send(event)
    pump.server_send({"id": "evt-2", "data": {"eventType": "locus.difference", "n": 2}})
    delivered = [e for e in pump.events if isinstance(e, MercuryEvent)]
    assert [e.id for e in delivered] == ["evt-1", "evt-2"]
    acks = [f["messageId"] for f in cloud.frames if f.get("type") == "ack"]
    assert acks.count("evt-1") == 2  # acked both times


def test_meeting_preferences_ride_along_when_configured(cloud: FakeCloud):
    pump = registered_pump(cloud, SessionConfig.for_cloud(BASE, fetch_meeting_preferences=True))
    assert "meetingPreferences" in pump.requests_by_step()
    assert pump.session.preferred_site == "two.webex.com"  # the default site


def test_meeting_preferences_never_fail_a_registration(cloud: FakeCloud):
    cloud.fail("meetingPreferences", 500)
    pump = registered_pump(cloud, SessionConfig.for_cloud(BASE, fetch_meeting_preferences=True))
    assert pump.session.preferred_site is None


def test_meeting_preferences_are_not_asked_by_default(pump: Pump, cloud: FakeCloud):
    pump.register()
    assert "meetingPreferences" not in pump.requests_by_step()


def test_a_revival_whose_refresh_was_overtaken_by_a_recreation_still_completes(
    cloud: FakeCloud,
):
    # Found by the property machine: a periodic refresh and a revival's refresh both find the
    # device gone; the first re-creates it, and the revival must go on with the new device.
    pump = registered_pump(cloud)
    cloud.fail("device.refresh", "hang", "hang")
    cloud.devices.clear()  # the server forgets the device
    pump.advance(961)  # the periodic refresh hangs
    pump.server_close(1000, "")  # Mercury ends for good: disconnected, device held
    assert pump.session.state is State.DISCONNECTED
    command = pump.register()  # revive: its refresh hangs too
    pump.release()  # both answer 404
    assert pump.result(command) is None
    assert pump.session.registered
    assert list(cloud.devices) == [pump.session.device.url]  # type: ignore[union-attr]
