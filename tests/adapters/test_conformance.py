"""The conformance suite of issue 4: one body per scenario, run over every adapter x transport
combination against the emulator, with identical observable behaviour.

Combinations: the async face with the anyio runtime on asyncio and on trio (httpx + wsproto
over anyio streams), the native trio runtime (httpx + wsproto over trio streams, and once with
the anyio websocket connector), and the blocking face driven from a running asyncio loop through
``wait=False`` futures. Each scenario asserts the *same* constants on every combination: the
lifecycle events the user saw and the requests the emulator answered. Every test also captures
every log record at DEBUG and fails if the access token appears in any of them.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import pytest

from webex_meetings import blocking
from webex_meetings.core.config import MercuryConfig, SessionConfig
from webex_meetings.core.events import Event, MercuryEvent, NetworkDisconnected
from webex_meetings.core.lifecycle import State
from webex_meetings.emulator import Emulator
from webex_meetings.transports.websocket_anyio import AnyioWebSocketConnector
from webex_meetings.webex import Webex

pytestmark = pytest.mark.anyio


@dataclass(frozen=True)
class Combo:
    backend: str
    face: str = "async"
    runtime: str = "anyio"
    anyio_websockets: bool = False


COMBOS = {
    "anyio-asyncio": Combo("asyncio"),
    "anyio-trio": Combo("trio"),
    "native-trio": Combo("trio", runtime="trio"),
    "native-trio-anyio-ws": Combo("trio", runtime="trio", anyio_websockets=True),
    "blocking": Combo("asyncio", face="blocking"),
}


@pytest.fixture(params=list(COMBOS))
def combo(request: pytest.FixtureRequest) -> Combo:
    return COMBOS[request.param]


@pytest.fixture
def anyio_backend(combo: Combo) -> str:
    return combo.backend


# -- capturing every log record ------------------------------------------------------------


class KeepRecords(logging.Handler):
    """Keeps every record; ``when(marker)`` returns an event set once a message has it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self._markers: list[tuple[str, threading.Event]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        message = record.getMessage()
        for marker, seen in self._markers:
            if marker in message:
                seen.set()

    def when(self, marker: str) -> threading.Event:
        seen = threading.Event()
        self._markers.append((marker, seen))
        return seen


@pytest.fixture
def logs(emulator: Emulator) -> Iterator[KeepRecords]:
    handler = KeepRecords()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    token = emulator.default_token
    assert token
    formatter = logging.Formatter()
    text = "\n".join(formatter.format(record) for record in handler.records)
    assert "webex_meetings.adapters.driver" in {r.name for r in handler.records}
    assert token not in text


# -- one client interface over both faces ----------------------------------------------------


class Client:
    """What every scenario uses; the faces differ only in how a call is made and awaited."""

    def __init__(self, meetings: Any) -> None:
        self.meetings = meetings
        self.events: list[Event] = []
        meetings.on("*", self.events.append)

    @property
    def state(self) -> State:
        state: State = self.meetings.state
        return state

    async def register(self) -> None:
        raise NotImplementedError

    async def unregister(self) -> None:
        raise NotImplementedError

    async def call_in_order(self, group: Any, command: str) -> None:
        """Start ``command`` in ``group``; return once it is submitted (calls keep order)."""

        async def run(*, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
            task_status.started()
            await getattr(self, command)()

        await group.start(run)


class AsyncClient(Client):
    async def register(self) -> None:
        await self.meetings.register()

    async def unregister(self) -> None:
        await self.meetings.unregister()


class BlockingClient(Client):
    """The blocking face used from inside a running asyncio loop, as documented."""

    async def register(self) -> None:
        await asyncio.wrap_future(self.meetings.register(wait=False))

    async def unregister(self) -> None:
        await asyncio.wrap_future(self.meetings.unregister(wait=False))


@asynccontextmanager
async def open_client(combo: Combo, emulator: Emulator, **config: Any) -> AsyncIterator[Client]:
    options: dict[str, Any] = {
        "credentials": {"access_token": emulator.default_token},
        "config": SessionConfig.for_cloud(emulator.base_url, **config),
    }
    if combo.face == "blocking":
        webex = blocking.Webex.init(**options)
        client: Client = BlockingClient(webex.meetings)
        await anyio.to_thread.run_sync(webex.start)
        try:
            yield client
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(webex.close)
        return
    if combo.anyio_websockets:
        options["websockets"] = AnyioWebSocketConnector()
    async_webex = Webex.init(runtime=combo.runtime, **options)
    client = AsyncClient(async_webex.meetings)
    async with async_webex:
        yield client


async def eventually(predicate: Callable[[], object], timeout: float = 10.0) -> None:
    with anyio.fail_after(timeout):
        while not predicate():
            await anyio.sleep(0.005)


def lifecycle(client: Client) -> list[str]:
    return [_describe(event) for event in client.events if not isinstance(event, MercuryEvent)]


def _describe(event: Event) -> str:
    dest = getattr(event, "dest", None)
    return event.name if dest is None else f"{event.name} {dest}"


def requests(emulator: Emulator) -> list[str]:
    return [f"{r.method} {r.route}" for r in emulator.requests]


REGISTER_REQUESTS = [
    "GET u2c.catalog",
    "GET hydra.people_me",
    "POST wdm.register",
    "GET mercury.connect",
]
UNREGISTER_REQUESTS = ["DELETE wdm.delete"]
READY_EVENTS = ["state:changed ready", "meetings:ready"]
REGISTER_EVENTS = [
    "state:changed registering",
    "state:changed registered",
    "meetings:registered",
]
UNREGISTER_EVENTS = [
    "state:changed unregistering",
    "state:changed unregistered",
    "meetings:unregistered",
]


def sorted_register(trace: list[str]) -> list[str]:
    """Catalog and people/me run in parallel: put them in the order of REGISTER_REQUESTS."""
    head = sorted(
        trace[:2], key=lambda r: REGISTER_REQUESTS.index(r) if r in REGISTER_REQUESTS else -1
    )
    return [*head, *trace[2:]]


# -- scenarios --------------------------------------------------------------------------------


async def test_register_events_pings_unregister_and_again(
    combo: Combo, emulator: Emulator, logs: KeepRecords
) -> None:
    mercury = MercuryConfig(ping_interval=0.02, pong_timeout=0.1)
    async with open_client(combo, emulator, mercury=mercury) as client:
        assert client.state is State.READY
        await client.register()
        assert client.meetings.registered
        [device] = emulator.devices
        assert client.meetings.device.url == device.url

        ids = emulator.control.push_event({"eventType": "locus.difference", "n": 1})
        await eventually(lambda: any(isinstance(e, MercuryEvent) for e in client.events))
        [event] = [e for e in client.events if isinstance(e, MercuryEvent)]
        assert (event.id, event.event_type, event.data["n"]) == (ids[0], "locus.difference", 1)
        await eventually(lambda: any(a.message_id == ids[0] and a.known for a in emulator.acks))

        # Pings every 20 ms, each answered within 100 ms, or Mercury would be closed.
        await eventually(lambda: emulator.connections[0].frames_in >= 15)
        [connection] = emulator.connections
        assert connection.open
        assert not any(isinstance(e, NetworkDisconnected) for e in client.events)

        await client.unregister()
        assert emulator.devices == []
        [connection] = emulator.connections
        assert (connection.closed_by, connection.close_code) == ("client", 3050)
        assert client.state is State.UNREGISTERED

        await client.register()
        assert len(emulator.devices) == 1
        await client.unregister()
    assert emulator.devices == []
    assert lifecycle(client) == [
        *READY_EVENTS,
        *REGISTER_EVENTS,
        *UNREGISTER_EVENTS,
        *REGISTER_EVENTS,
        *UNREGISTER_EVENTS,
    ]
    trace = requests(emulator)
    assert sorted_register(trace[:4]) == REGISTER_REQUESTS
    assert trace[4:] == [*UNREGISTER_REQUESTS, *REGISTER_REQUESTS[2:], *UNREGISTER_REQUESTS]


async def test_concurrent_commands_run_in_call_order(
    combo: Combo, emulator: Emulator, logs: KeepRecords
) -> None:
    async with open_client(combo, emulator) as client:
        async with anyio.create_task_group() as group:
            for command in ("register", "register", "unregister", "register"):
                await client.call_in_order(group, command)
        assert client.meetings.registered
        assert len(emulator.devices) == 1
    assert emulator.devices == []
    assert lifecycle(client) == [
        *READY_EVENTS,
        *REGISTER_EVENTS,
        *UNREGISTER_EVENTS,
        *REGISTER_EVENTS,
        *UNREGISTER_EVENTS,  # leaving `async with` unregisters
    ]
    trace = requests(emulator)
    assert sorted_register(trace[:4]) == REGISTER_REQUESTS
    assert trace[4:] == [*UNREGISTER_REQUESTS, *REGISTER_REQUESTS[2:], *UNREGISTER_REQUESTS]


REGISTER_STEPS = {
    # marker in the driver's DEBUG log -> emulator route made slow so the step is in flight
    "step='catalog'": "u2c.catalog",
    "step='people/me'": "hydra.people_me",
    "step='device.register'": "wdm.register",
    "OpenWebSocket(": "mercury.connect",
    "SendWebSocketText(": None,
}


SETTLED = (State.READY, State.REGISTERED, State.UNREGISTERED)


async def wait_marker(seen: threading.Event) -> None:
    await eventually(seen.is_set)


@pytest.mark.parametrize("marker", list(REGISTER_STEPS))
async def test_cancelled_register_is_rolled_back_at_every_step(
    combo: Combo, emulator: Emulator, logs: KeepRecords, marker: str
) -> None:
    route = REGISTER_STEPS[marker]
    if route is not None:
        emulator.control.set_latency(route, 0.2)
    async with open_client(combo, emulator) as client:
        seen = logs.when(marker)
        completed: list[bool] = []

        async def register() -> None:
            await client.register()
            completed.append(True)  # finished before the cancel landed: completed, not half

        async with anyio.create_task_group() as group:
            group.start_soon(register)
            await wait_marker(seen)
            group.cancel_scope.cancel()
        await eventually(lambda: client.state in SETTLED)
        if completed or (client.meetings.registered and isinstance(client, BlockingClient)):
            # The async faces roll back whenever the caller saw the cancellation. Through a
            # cancelled concurrent Future, a register that finished in that instant stays
            # completed (never half-done): session and cloud agree.
            assert client.meetings.registered
            assert len(emulator.devices) == 1
            await client.unregister()
        assert client.state in (State.READY, State.UNREGISTERED)
        await eventually(
            lambda: emulator.devices == [] and not any(c.open for c in emulator.connections)
        )
        assert not client.meetings.registered
        if route is not None:
            emulator.control.set_latency(route, 0)
        await client.register()  # the session is usable again
        assert len(emulator.devices) == 1
    assert emulator.devices == []
    assert lifecycle(client)[-3:] == UNREGISTER_EVENTS


@pytest.mark.parametrize("marker", ["CloseWebSocket(", "step='device.unregister'"])
async def test_cancelled_unregister_completes_in_the_background(
    combo: Combo, emulator: Emulator, logs: KeepRecords, marker: str
) -> None:
    emulator.control.set_latency("wdm.delete", 0.2)
    async with open_client(combo, emulator) as client:
        await client.register()
        seen = logs.when(marker)
        async with anyio.create_task_group() as group:
            group.start_soon(client.unregister)
            await wait_marker(seen)
            group.cancel_scope.cancel()
        await eventually(lambda: client.state is State.UNREGISTERED)
        assert emulator.devices == []
    assert lifecycle(client)[-3:] == UNREGISTER_EVENTS
    assert requests(emulator)[-1] == "DELETE wdm.delete"


async def test_owner_cancelled_mid_register_leaves_no_device(
    combo: Combo, emulator: Emulator, logs: KeepRecords
) -> None:
    emulator.control.set_latency("wdm.register", 0.2)
    seen = logs.when("step='device.register'")
    with anyio.CancelScope() as owner:
        async with open_client(combo, emulator) as client, anyio.create_task_group() as group:
            group.start_soon(client.register)
            await wait_marker(seen)
            owner.cancel()
            await anyio.sleep_forever()
    assert owner.cancelled_caught
    assert emulator.devices == []
    assert not any(c.open for c in emulator.connections)
    assert client.state in (State.READY, State.UNREGISTERED)
