"""No device is ever left behind (issue 8 §2), at the core: lost POST answers, unusable
answers, cancelled and cut-short commands.

The fake cloud's ``"lost"`` faults carry a request out and then lose its answer (a reset or a
timeout after the server committed), which is what leaves a device nobody knows about.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from session_harness import FakeCloud, Pump, _json

from webex_meetings.core.device import MARKER_FIELD
from webex_meetings.core.effects import CompleteCommand, OpenWebSocket, SendHttpRequest
from webex_meetings.core.errors import (
    CancelledCommandError,
    HttpStatusError,
    RemoteProtocolError,
    TimeoutError,
    TransportError,
)
from webex_meetings.core.http import HttpRequest, HttpResponse
from webex_meetings.core.inputs import Cancel, Shutdown
from webex_meetings.core.lifecycle import State


def _posts(cloud: FakeCloud) -> list[HttpRequest]:
    return [r for r in cloud.requests if r.step == "device.register"]


def _created_then(status: int) -> Any:
    """A fault for the device POST: the service creates the device, a gateway answers
    ``status``."""

    def fault(request: HttpRequest) -> HttpResponse:
        cloud = fault.cloud  # type: ignore[attr-defined]
        cloud._answer(request)
        return _json(status, {"message": f"gateway {status}"})

    return fault


# -- a POST whose answer was lost ------------------------------------------------------------


@pytest.mark.parametrize("lost", ["lost", "lost_timeout"])
def test_a_lost_post_answer_is_found_and_deleted_before_the_post_is_retried(
    pump: Pump, cloud: FakeCloud, lost: str
) -> None:
    cloud.fail("device.register", lost)
    command = pump.register()
    pump.advance(10)
    assert pump.result(command) is None
    assert pump.requests_by_step().count("device.register") == 2
    assert len(cloud.devices) == 1  # the lost one was deleted, the retry's is held
    [held] = cloud.devices
    assert pump.session.device is not None
    assert pump.session.device.url == held
    steps = pump.requests_by_step()
    first, second = (i for i, step in enumerate(steps) if step == "device.register")
    assert steps[first + 1 : second] == ["device.list", "device.unregister"]


def test_every_post_of_a_registration_carries_its_one_marker(pump: Pump, cloud: FakeCloud):
    cloud.fail("device.register", "lost", "lost")
    pump.register()
    pump.advance(10)
    markers = {post.json()[MARKER_FIELD] for post in _posts(cloud)}
    assert len(_posts(cloud)) == 3
    assert len(markers) == 1
    pump.unregister()
    pump.register()
    assert len({post.json()[MARKER_FIELD] for post in _posts(cloud)}) == 2  # a new run


def test_a_gateway_error_after_the_commit_is_cleaned_up_before_the_retry(
    pump: Pump, cloud: FakeCloud
) -> None:
    fault = _created_then(503)
    fault.cloud = cloud  # type: ignore[attr-defined]
    cloud.fail("device.register", fault)
    command = pump.register()
    pump.advance(10)
    assert pump.result(command) is None
    assert len(cloud.devices) == 1
    assert pump.requests_by_step().count("device.unregister") == 1


def test_when_every_try_is_lost_register_fails_with_nothing_left(
    pump: Pump, cloud: FakeCloud
) -> None:
    cloud.fail("device.register", "lost_timeout", "lost_timeout", "lost_timeout")
    command = pump.register()
    pump.advance(60)
    error = pump.result(command)
    assert isinstance(error, TimeoutError)
    assert error.step == "device.register"
    assert len(_posts(cloud)) == 3
    assert cloud.devices == {}
    assert pump.session.state is State.READY


def test_a_post_refused_outright_is_neither_searched_nor_retried(pump: Pump, cloud: FakeCloud):
    cloud.fail("device.register", 400)
    assert isinstance(pump.result(pump.register()), HttpStatusError)
    assert "device.list" not in pump.requests_by_step()
    assert len(_posts(cloud)) == 1


def test_without_a_device_list_the_post_is_not_retried_blindly(pump: Pump, cloud: FakeCloud):
    cloud.fail("device.register", "lost")
    cloud.fail("device.list", 500, 500, 500)
    command = pump.register()
    pump.advance(60)
    assert isinstance(pump.result(command), TransportError)
    assert len(_posts(cloud)) == 1  # never a second device on top of one we cannot see


def test_a_device_without_the_marker_is_never_touched(pump: Pump, cloud: FakeCloud):
    other = f"{cloud.base}/wdm/api/v1/devices/other"
    cloud.devices[other] = {"url": other, "name": "webex-meetings-python", "deviceType": "WEB"}
    cloud.fail("device.register", "lost")
    pump.register()
    pump.advance(10)
    assert other in cloud.devices
    deleted = [r.url for r in cloud.requests if r.step == "device.unregister"]
    assert other not in deleted


# -- an unusable answer ----------------------------------------------------------------------


def _without_web_socket_url(cloud: FakeCloud) -> Any:
    def fault(request: HttpRequest) -> HttpResponse:
        created = json.loads(cloud._create_device(request).body)
        del created["webSocketUrl"]
        return _json(200, created)

    return fault


def test_an_unusable_answer_is_deleted_before_register_fails(pump: Pump, cloud: FakeCloud):
    cloud.fail("device.register", _without_web_socket_url(cloud))
    cloud.fail("device.unregister", "hang")
    command = pump.register()
    assert command not in pump.completed  # waits for the DELETE
    pump.release()
    assert isinstance(pump.result(command), RemoteProtocolError)
    assert cloud.devices == {}
    done = [i for i, e in enumerate(pump.effects) if isinstance(e, CompleteCommand)][-1]
    deletes = [
        i
        for i, e in enumerate(pump.effects)
        if isinstance(e, SendHttpRequest) and e.request.method == "DELETE"
    ]
    assert deletes
    assert deletes[0] < done


def test_an_unusable_answer_without_a_url_is_found_by_its_marker(pump: Pump, cloud: FakeCloud):
    def no_urls(request: HttpRequest) -> HttpResponse:
        created = json.loads(cloud._create_device(request).body)
        return _json(200, {k: v for k, v in created.items() if k not in ("url", "webSocketUrl")})

    cloud.fail("device.register", no_urls)
    assert isinstance(pump.result(pump.register()), RemoteProtocolError)
    assert cloud.devices == {}
    assert "device.list" in pump.requests_by_step()


# -- cancelled and cut-short commands -------------------------------------------------------


def test_a_cancelled_register_stops_at_once_and_deletes_its_device(cloud: FakeCloud) -> None:
    from session_harness import make_session

    pump = Pump(make_session(), cloud)
    pump.init()
    cloud.ws_faults.extend([None] * 10)  # Mercury unreachable
    command = pump.register()
    assert cloud.devices
    opened = sum(isinstance(e, OpenWebSocket) for e in pump.effects)
    pump.feed(Cancel(command))
    assert isinstance(pump.result(command), CancelledCommandError)
    assert cloud.devices == {}
    assert pump.session.state is State.READY
    pump.advance(600)
    assert sum(isinstance(e, OpenWebSocket) for e in pump.effects) == opened  # nothing more
    assert not pump.timers


def test_a_register_cancelled_during_its_post_completes_once_the_device_is_gone(
    pump: Pump, cloud: FakeCloud
) -> None:
    cloud.fail("device.register", "hang")
    command = pump.register()
    pump.feed(Cancel(command))
    assert command not in pump.completed  # the POST may still create a device
    assert pump.session.state is State.REGISTERING
    pump.release()
    assert isinstance(pump.result(command), CancelledCommandError)
    assert cloud.devices == {}
    assert pump.session.state is State.READY


def test_cancelling_one_of_two_coalesced_registers_leaves_the_other(pump: Pump, cloud: FakeCloud):
    cloud.fail("device.register", "hang")
    first, second = pump.register(), pump.register()
    pump.feed(Cancel(first))
    assert isinstance(pump.result(first), CancelledCommandError)
    pump.release()
    assert pump.result(second) is None
    assert pump.session.registered


def test_cancelling_a_queued_register_drops_it(pump: Pump, cloud: FakeCloud):
    cloud.fail("device.register", "hang")
    first = pump.register()
    unregister = pump.unregister()
    second = pump.register()
    pump.feed(Cancel(second))
    assert isinstance(pump.result(second), CancelledCommandError)
    pump.release()
    assert pump.result(first) is None
    assert pump.result(unregister) is None
    assert pump.session.state is State.UNREGISTERED
    assert cloud.devices == {}


def test_an_unregister_cannot_be_cancelled_and_unknown_ids_are_ignored(cloud: FakeCloud):
    from session_harness import make_session

    pump = Pump(make_session(), cloud)
    pump.init()
    pump.register()
    cloud.fail("device.unregister", "hang")
    command = pump.unregister()
    pump.feed(Cancel(command))
    pump.feed(Cancel(999))
    assert command not in pump.completed
    pump.release()
    assert pump.result(command) is None


def test_shutdown_during_unregister_leaves_the_device_named_and_disconnected(cloud: FakeCloud):
    from session_harness import make_session

    pump = Pump(make_session(), cloud)
    pump.init()
    pump.register()
    url = pump.session.device.url  # type: ignore[union-attr]
    cloud.fail("device.unregister", "hang")
    command = pump.unregister()
    assert pump.session.state is State.UNREGISTERING
    assert pump.session.devices_to_delete == (url,)
    pump.feed(Shutdown())
    assert isinstance(pump.result(command), CancelledCommandError)
    assert pump.session.state is State.DISCONNECTED  # not left at unregistering


def test_shutdown_during_register_settles_at_ready(pump: Pump, cloud: FakeCloud):
    cloud.fail("device.register", "hang")
    pump.register()
    pump.feed(Shutdown())
    assert pump.session.state is State.READY


def test_devices_being_cleaned_up_are_named(pump: Pump, cloud: FakeCloud):
    cloud.ws_faults.extend([403])  # Mercury refuses: the registration fails
    cloud.fail("device.unregister", "hang")
    command = pump.register()
    [url] = cloud.devices
    assert command not in pump.completed
    assert pump.session.devices_to_delete == (url,)
    pump.release()
    assert pump.result(command) is not None
    assert pump.session.devices_to_delete == ()
    assert cloud.devices == {}
