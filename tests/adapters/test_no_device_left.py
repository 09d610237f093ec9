"""No device is left behind (issue 8 §2), end to end: the driver, the real session and real
transports against the emulator, on every runtime combination.

A cancelled ``register()`` is abandoned at once and has deleted its device when it returns;
leaving ``async with`` during a registration does the same; when WDM does not answer the
DELETE, leaving takes at most ``unregister_timeout`` and a warning names the device; an
unusable device answer is deleted before ``register()`` raises.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import pytest

from webex_meetings.adapters.driver import Driver
from webex_meetings.adapters.runtime import Runtime, TransportOptions
from webex_meetings.core.config import BackoffConfig, MercuryConfig, SessionConfig
from webex_meetings.core.credentials import Credentials
from webex_meetings.core.errors import CancelledCommandError, RemoteProtocolError
from webex_meetings.core.http import HttpRequest, HttpResponse
from webex_meetings.core.inputs import Initialize, Register
from webex_meetings.core.lifecycle import State
from webex_meetings.core.session import MeetingsSession
from webex_meetings.emulator import Emulator
from webex_meetings.transports.base import HttpTransport

pytestmark = pytest.mark.anyio

UNREGISTER_TIMEOUT = 1.0
SLACK = 3.0  # the bound is the timeout plus the shutdown grace; this much more is tolerated


def _config(emulator: Emulator) -> SessionConfig:
    # Mercury attempts that never end before the test does: 20 tries, 1 s apart at most.
    backoff = BackoffConfig(initial=0.2, maximum=1.0, max_attempts=20)
    mercury = MercuryConfig(initial_backoff=backoff)
    return SessionConfig.for_cloud(emulator.base_url, mercury=mercury, http_timeout=5.0)


class WithoutWebSocketUrl:
    """An HTTP transport whose device POST answers lose their ``webSocketUrl``."""

    def __init__(self, inner: HttpTransport) -> None:
        self.inner = inner

    async def send(self, request: HttpRequest) -> HttpResponse:
        response = await self.inner.send(request)
        if request.step != "device.register" or not response.ok:
            return response
        body = json.loads(response.body)
        del body["webSocketUrl"]
        return HttpResponse(response.status, response.headers, json.dumps(body).encode())

    async def aclose(self) -> None:
        await self.inner.aclose()


@asynccontextmanager
async def running(
    emulator: Emulator, runtime: Runtime, *, unusable_devices: bool = False
) -> AsyncIterator[Driver]:
    session = MeetingsSession(_config(emulator), Credentials(emulator.issue_token()))
    http, websockets = runtime.default_transports(TransportOptions(http_timeout=5.0))
    transport: HttpTransport = WithoutWebSocketUrl(http) if unusable_devices else http
    driver = Driver(
        session,
        runtime,
        http=transport,
        websockets=websockets,
        unregister_timeout=UNREGISTER_TIMEOUT,
        shutdown_grace=0.5,
        close_http=True,
    )
    async with driver:
        await driver.submit_input(Initialize()).wait()
        yield driver


async def _until(condition: object, timeout: float = 10.0) -> None:
    with anyio.fail_after(timeout):
        while not condition():  # type: ignore[operator]
            await anyio.sleep(0.01)


async def test_a_cancelled_register_stops_at_once_and_deletes_its_device(
    emulator: Emulator, runtime: Runtime
) -> None:
    emulator.control.fail_next("mercury.connect", count=1000, status=503)  # Mercury unreachable
    async with running(emulator, runtime) as driver:
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as group:
                group.start_soon(driver.register)
                await _until(lambda: emulator.devices)
                started = time.monotonic()
                scope.cancel()
        elapsed = time.monotonic() - started
        assert emulator.devices == []  # deleted before register() returned
        assert driver.session.state is State.READY
        assert driver.active_tasks == 0  # no reconnect left running in the background
        assert elapsed < UNREGISTER_TIMEOUT + SLACK
        attempts = len(emulator.control.requests)
        await driver.unregister()  # nothing left to do: at once
        assert len(emulator.control.requests) == attempts


async def test_leaving_during_a_registration_abandons_it_and_deletes_the_device(
    emulator: Emulator, runtime: Runtime
) -> None:
    emulator.control.fail_next("mercury.connect", count=1000, status=503)
    started = 0.0
    async with running(emulator, runtime) as driver:
        ticket = driver.submit_command(Register)
        await _until(lambda: emulator.devices)
        started = time.monotonic()
    assert time.monotonic() - started < UNREGISTER_TIMEOUT + SLACK
    assert isinstance(ticket.error, CancelledCommandError)
    assert emulator.devices == []


async def test_wdm_not_answering_the_delete_bounds_the_exit_and_names_the_device(
    emulator: Emulator, runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="webex_meetings.adapters.driver")
    started = 0.0
    async with running(emulator, runtime) as driver:
        await driver.register()
        [device] = emulator.devices
        emulator.control.set_latency("wdm.delete", 60.0)  # WDM stops answering
        started = time.monotonic()
    assert time.monotonic() - started < UNREGISTER_TIMEOUT + SLACK
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any(device.url in message for message in warnings), warnings
    assert driver.session.state is State.DISCONNECTED  # not left at unregistering


async def test_an_unusable_device_answer_is_deleted_before_register_raises(
    emulator: Emulator, runtime: Runtime
) -> None:
    async with running(emulator, runtime, unusable_devices=True) as driver:
        with pytest.raises(RemoteProtocolError):
            await driver.register()
        assert emulator.devices == []  # already, before leaving the block
    assert emulator.devices == []
