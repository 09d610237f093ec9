"""Every step of register and unregister under every TCP fault (issue 8's proof).

Each run: a Webex with short timeouts registers through the fault proxy, and leaves ``async
with`` (which unregisters). The fault fires once, on the first connection whose client sends
the step's request line (or, for ``auth``, the first websocket frame). Each run asserts:

* it ends within :data:`RUN_DEADLINE` seconds, with success or a typed ``WebexError``;
* zero devices on the emulator once ``async with`` has exited (WDM is reachable in every
  run: each fault fires once and the proxy passes everything else);
* no task of the client is left running in the test's event loop.

The emulator runs in its own thread on 127.0.0.1:P and advertises 127.0.0.3:P; the proxy
listens on 127.0.0.3:P, so every byte of the client passes it, and the test's event loop holds
only the client's and the proxy's tasks.

A representative subset runs in the normal suite; the full matrix is marked ``faults_full``
(``pytest -m faults_full tests/faults``). Every cell passes: a device POST whose answer is
lost (closed, reset, swallowed, trickled) is found again by its registration marker and
deleted.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import anyio
import pytest
from fault_proxy import AUTH_FRAME, Fault, FaultProxy, Rule, fault_proxy

from webex_meetings.core.config import BackoffConfig, MercuryConfig, SessionConfig
from webex_meetings.core.errors import WebexError
from webex_meetings.emulator import Emulator, EmulatorThread
from webex_meetings.transports.websocket_anyio import AnyioWebSocketConnector
from webex_meetings.webex import Webex

pytestmark = pytest.mark.anyio

HTTP_TIMEOUT = 0.5
CONNECT_TIMEOUT = 0.5
UNREGISTER_TIMEOUT = 3.0
RUN_DEADLINE = 15.0
"""register() (3 tries of each GET with 1 s and 2 s between them, 3 websocket attempts with
a 0.5 s authorization timeout) plus the exit (``UNREGISTER_TIMEOUT``), with room to spare."""

STEPS = {
    "catalog": b"GET /u2c/api/v1/catalog",
    "people_me": b"GET /hydra/v1/people/me",
    "device_post": b"POST /wdm/api/v1/devices",
    "upgrade": b"GET /mercury/",
    "auth": AUTH_FRAME,
    "delete": b"DELETE /wdm/",
}

FAULTS = {
    "latency": Rule(b"", Fault.LATENCY, delay=0.2),
    "close_after": Rule(b"", Fault.CLOSE_AFTER, count=20),
    "reset": Rule(b"", Fault.RESET),
    "hole_before": Rule(b"", Fault.HOLE_BEFORE),
    "hole_after": Rule(b"", Fault.HOLE_AFTER),
    "trickle": Rule(b"", Fault.TRICKLE, delay=0.002),
}

QUICK = {
    ("catalog", "reset"),
    ("people_me", "latency"),
    ("device_post", "hole_after"),
    ("upgrade", "trickle"),
    ("auth", "hole_before"),
    ("delete", "close_after"),
}
"""The representative subset of the normal suite: every step and every fault once."""


PROXY_HOST = "127.0.0.3"


@pytest.fixture
def threaded_emulator() -> Iterator[Emulator]:
    with EmulatorThread(advertised_host=PROXY_HOST, mercury_auth_deadline=2.0) as emulator:
        yield emulator


def _params() -> list[object]:
    params = []
    for step in STEPS:
        for fault in FAULTS:
            marks = [] if (step, fault) in QUICK else [pytest.mark.faults_full]
            params.append(pytest.param(step, fault, marks=marks, id=f"{step}-{fault}"))
    return params


def short_config(base_url: str) -> SessionConfig:
    backoff = BackoffConfig(initial=0.1, maximum=0.4, max_attempts=3)
    mercury = MercuryConfig(
        authorization_timeout=0.5,
        force_close_delay=0.5,
        initial_backoff=backoff,
        reconnect_backoff=backoff,
    )
    return replace(SessionConfig.for_cloud(base_url), mercury=mercury, http_timeout=HTTP_TIMEOUT)


def task_ids() -> set[int]:
    return {task.id for task in anyio.get_running_tasks()}


async def run_lifecycle(proxy: FaultProxy, emulator: Emulator) -> WebexError | None:
    """Register and leave; the typed error register() raised, if any."""
    webex = Webex(
        access_token=emulator.default_token,
        config=short_config(f"http://{proxy.host}:{proxy.port}"),
        websockets=AnyioWebSocketConnector(connect_timeout=CONNECT_TIMEOUT),
        unregister_timeout=UNREGISTER_TIMEOUT,
    )
    failure: WebexError | None = None
    async with webex:
        try:
            await webex.meetings.register()
        except WebexError as exc:
            failure = exc
    return failure


@pytest.mark.parametrize(("step", "fault"), _params())
async def test_a_fault_at_each_step(threaded_emulator: Emulator, step: str, fault: str) -> None:
    before = task_ids()
    port = threaded_emulator.port
    async with fault_proxy(("127.0.0.1", port), host=PROXY_HOST, port=port) as proxy:
        proxy.rules.append(replace(FAULTS[fault], match=STEPS[step]))
        with anyio.fail_after(RUN_DEADLINE):
            await run_lifecycle(proxy, threaded_emulator)
    assert proxy.fired, "the fault never fired: the step was not reached"
    assert threaded_emulator.devices == [], "a device was left on the server"
    left = task_ids() - before
    assert not left, f"{len(left)} task(s) left running"
