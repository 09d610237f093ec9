"""The async face (``webex_meetings.webex``): construction, ``async with``, commands and their
cancellation, callbacks and event streams, on a fake session over in-memory transports."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, get_args

import anyio
import pytest
from adapter_fakes import TOKEN, FakeCloud, FakeMeetingsSession

from webex_meetings import (
    ConfigurationError,
    Event,
    EventName,
    LocalProtocolError,
    MeetingsReady,
    MeetingsRegistered,
    MercuryEvent,
    SessionConfig,
    State,
    UnknownEventError,
    Webex,
    mercury_events,
)
from webex_meetings.core import events as core_events
from webex_meetings.core.inputs import Cancel, Register, Shutdown, Unregister
from webex_meetings.transports.memory import MemoryHttpTransport, MemoryWebSocketConnector

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def fake_webex(
    runtime_name: str, cloud: FakeCloud | None = None, **options: Any
) -> AsyncIterator[tuple[Webex, FakeMeetingsSession, FakeCloud]]:
    cloud = cloud or FakeCloud()
    session = FakeMeetingsSession()
    async with MemoryWebSocketConnector(cloud.mercury) as connector:
        webex = Webex.from_session(
            session,
            http=MemoryHttpTransport(cloud.http),
            websockets=connector,
            runtime=runtime_name,
            **options,
        )
        yield webex, session, cloud


async def eventually(predicate: Any) -> None:
    with anyio.fail_after(5):
        while not predicate():
            await anyio.sleep(0)


# -- construction ---------------------------------------------------------------------------


def test_credentials_come_from_arguments_or_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("WEBEX_ACCESS_TOKEN", raising=False)
    with pytest.raises(ConfigurationError, match="WEBEX_ACCESS_TOKEN"):
        Webex.init()
    with pytest.raises(ConfigurationError, match="not both"):
        Webex(access_token=TOKEN, credentials={"access_token": TOKEN})
    monkeypatch.setenv("WEBEX_ACCESS_TOKEN", TOKEN)
    for webex in (
        Webex.init(),
        Webex.init(credentials={"access_token": TOKEN}),
        Webex.init(TOKEN),
        Webex(access_token=TOKEN),
    ):
        assert webex.meetings.state is State.UNINITIALIZED
        assert TOKEN not in repr(webex)


def test_invalid_cloud_and_runtime_are_refused() -> None:
    for config in (None, SessionConfig()):
        with pytest.raises(ConfigurationError, match="base URL"):
            Webex(access_token=TOKEN, config=config, cloud="ftp://nowhere")
    with pytest.raises(ConfigurationError, match="SessionConfig"):
        Webex(access_token=TOKEN, config="http://127.0.0.1:1")
    with pytest.raises(ConfigurationError, match="unknown runtime"):
        Webex(access_token=TOKEN, runtime="curio")


async def test_native_trio_runtime_refuses_to_run_under_asyncio(
    runtime_name: str, anyio_backend: str
) -> None:
    webex = Webex(access_token=TOKEN, cloud="http://127.0.0.1:1", runtime="trio")
    if anyio_backend == "trio":
        return
    with pytest.raises(ConfigurationError, match="trio"):
        async with webex:
            pass


# -- lifetime -------------------------------------------------------------------------------


async def test_enter_initializes_and_exit_unregisters(runtime_name: str) -> None:
    async with fake_webex(runtime_name) as (webex, session, cloud):
        ready: list[Event] = []
        webex.meetings.on("meetings:ready", ready.append)
        async with webex:
            assert webex.meetings.state is State.READY
            assert ready == [MeetingsReady()]
            await webex.meetings.register()
            assert webex.meetings.registered
            assert webex.meetings.device is not None
        assert webex.meetings.state is State.UNREGISTERED
        assert cloud.requests[-1].startswith("DELETE")
        assert isinstance(session.inputs[-1], Shutdown)
        with pytest.raises(LocalProtocolError, match="one `async with`"):
            async with webex:
                pass


async def test_readiness_is_observable_whenever_one_looks(runtime_name: str) -> None:
    seen: list[str] = []

    async def later(event: Event) -> None:
        await anyio.sleep(0)
        seen.append(f"async {event.name}")

    async with fake_webex(runtime_name) as (webex, _, _):
        meetings = webex.meetings
        meetings.on("meetings:ready", lambda event: seen.append(f"early {event.name}"))
        assert not meetings.ready
        async with webex:
            assert meetings.ready
            assert seen == ["early meetings:ready"]
            meetings.on("meetings:ready", lambda event: seen.append(f"late {event.name}"))
            assert seen[-1] == "late meetings:ready"  # called at once, inside on()
            meetings.once(MeetingsReady, lambda event: seen.append("late once"))
            meetings.on("meetings:ready", later)
            await eventually(lambda: "async meetings:ready" in seen)
            async with meetings.events("meetings:ready") as named, meetings.events() as every:
                assert await named.__anext__() == MeetingsReady()
                await meetings.register()
                assert (await every.__anext__()).name != "meetings:ready"  # not for "*"
        assert not meetings.ready
        meetings.on("meetings:ready", lambda event: seen.append("after the end"))
    assert seen == [
        "early meetings:ready",
        "late meetings:ready",
        "late once",
        "async meetings:ready",
    ]


async def test_a_late_subscriber_to_other_events_waits(runtime_name: str) -> None:
    seen: list[Event] = []
    async with fake_webex(runtime_name) as (webex, _, _), webex:
        webex.meetings.on("*", seen.append)
        webex.meetings.on(Event, seen.append)
        webex.meetings.on("meetings:unregistered", seen.append)
        assert seen == []  # only meetings:ready is latched, and only for who names it


async def test_unknown_event_names_are_refused_with_the_valid_ones(runtime_name: str) -> None:
    async with fake_webex(runtime_name) as (webex, _, _):
        meetings = webex.meetings
        for call in (
            lambda: meetings.on("meetings:registred", print),
            lambda: meetings.once("meetings:registred", print),
            lambda: meetings.off("meetings:registred"),
            lambda: meetings.events("meetings:ready", "meetings:registred"),
        ):
            with pytest.raises(UnknownEventError) as caught:
                call()
            message = str(caught.value)
            assert "'meetings:registred' (did you mean 'meetings:registered'?)" in message
            assert "meetings:ready, meetings:registered, meetings:unregistered" in message
        for bad in ("", "event:", "event: x", 3, str):
            with pytest.raises(UnknownEventError):
                meetings.on(bad, print)
        with pytest.raises(UnknownEventError):
            mercury_events("")
        assert isinstance(UnknownEventError("x"), (LocalProtocolError, ValueError))
        meetings.on("event:locus", print)  # the JS SDK's spelling still works at run time
        meetings.on(mercury_events("locus.difference"), print)


def test_the_event_names_are_those_of_the_core_events() -> None:
    classes = [c for c in vars(core_events).values() if isinstance(c, type)]
    names = {c.name for c in classes if issubclass(c, Event)}
    assert set(get_args(EventName)) == names | {"*"}


async def test_commands_need_async_with(runtime_name: str) -> None:
    async with fake_webex(runtime_name) as (webex, _, _):
        with pytest.raises(LocalProtocolError, match="async with"):
            await webex.meetings.register()


async def test_a_failed_initialize_leaves_nothing_running(runtime_name: str) -> None:
    async with fake_webex(runtime_name) as (webex, session, _):
        session.state = State.READY  # Initialize now raises InvalidTransitionError
        with pytest.raises(LocalProtocolError, match="cannot initialize"):
            async with webex:
                raise AssertionError("not reached")
        with pytest.raises(LocalProtocolError, match="async with"):
            await webex.meetings.register()


async def test_exit_bounds_a_hanging_unregister(runtime_name: str) -> None:
    class Hanging(FakeCloud):
        async def http(self, request: Any) -> Any:
            if request.method == "DELETE":
                await anyio.sleep_forever()
            return await super().http(request)

    async with fake_webex(runtime_name, Hanging(), unregister_timeout=0.05) as (webex, _, _):
        with anyio.fail_after(5):
            async with webex:
                await webex.meetings.register()
        assert webex.meetings.state is State.UNREGISTERING  # gave up waiting, nothing runs


# -- cancellation ---------------------------------------------------------------------------


async def test_cancelled_register_is_rolled_back(runtime_name: str) -> None:
    async with fake_webex(runtime_name, FakeCloud(hold_buffer_state=True)) as (webex, s, cloud):
        async with webex:
            with anyio.move_on_after(5) as scope:
                async with anyio.create_task_group() as group:
                    group.start_soon(webex.meetings.register)
                    await eventually(lambda: cloud.frames == ["auth"])
                    scope.cancel()
            assert scope.cancelled_caught
            # Abandoned at once (Cancel), its device deleted before register() returned.
            assert webex.meetings.state is State.READY
        commands = [type(e) for e in s.inputs if isinstance(e, (Register, Unregister, Cancel))]
        assert commands[:2] == [Register, Cancel]
        assert cloud.requests == ["POST http://cloud.test/wdm/devices", "DELETE " + DEVICE]


async def test_cancelled_register_without_rollback_completes(runtime_name: str) -> None:
    held = FakeCloud(hold_buffer_state=True)
    async with fake_webex(runtime_name, held) as (webex, _, cloud), webex:
        async with anyio.create_task_group() as group:
            group.start_soon(lambda: webex.meetings.register(rollback_on_cancel=False))
            await eventually(lambda: cloud.frames == ["auth"])
            group.cancel_scope.cancel()
        await cloud.release_buffer_state()
        await eventually(lambda: webex.meetings.registered)
        assert cloud.requests == ["POST http://cloud.test/wdm/devices"]


async def test_cancelled_unregister_completes(runtime_name: str) -> None:
    async with fake_webex(runtime_name) as (webex, _, cloud):
        async with webex:
            await webex.meetings.register()
            with anyio.CancelScope() as scope:
                scope.cancel()
                await webex.meetings.unregister()
            await eventually(lambda: webex.meetings.state is State.UNREGISTERED)
        assert cloud.requests[-1] == "DELETE " + DEVICE


DEVICE = "http://cloud.test/wdm/devices/1"


# -- callbacks and event streams ------------------------------------------------------------


async def test_on_off_once_and_async_callbacks(runtime_name: str) -> None:
    seen: list[str] = []

    async def later(event: Event) -> None:
        await anyio.sleep(0)
        seen.append(f"async {event.name}")

    def every(event: Event) -> None:
        seen.append(f"every {event.name}")

    async with fake_webex(runtime_name, FakeCloud()) as (webex, _, cloud):
        meetings = webex.meetings
        meetings.once("*", lambda event: seen.append(f"once {event.name}"))
        meetings.on(MeetingsRegistered, every)
        meetings.on("meetings:registered", later)
        meetings.on(mercury_events("locus"), every)
        meetings.on(mercury_events("locus.difference"), lambda event: seen.append(event.event_type))
        async with webex:
            await meetings.register()
            meetings.off(MeetingsRegistered, every)
            await cloud.sockets[-1].send_text("event:locus.difference")
            await eventually(lambda: "locus.difference" in seen)
            await meetings.unregister()
            await meetings.register()
    assert seen == [
        "once state:changed",
        "every meetings:registered",
        "async meetings:registered",
        "every event",
        "locus.difference",
        "async meetings:registered",
    ]


async def test_event_streams_filter_end_and_drop_the_oldest(
    runtime_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with fake_webex(runtime_name, FakeCloud()) as (webex, _, cloud):
        everything = webex.meetings.events()
        mercury = webex.meetings.events(MercuryEvent)
        small = webex.meetings.events("event", maxsize=2)
        async with webex:
            await webex.meetings.register()
            for kind in ("a.1", "b.2", "c.3"):
                await cloud.sockets[-1].send_text(f"event:{kind}")
            with caplog.at_level(logging.WARNING):
                await eventually(lambda: small.dropped == 1)
            received = []
            async for event in mercury:
                received.append(event.event_type)
                if len(received) == 3:
                    break
        assert received == ["a.1", "b.2", "c.3"]
        assert [e.event_type async for e in small] == ["b.2", "c.3"]
        names = [event.name async for event in everything]  # ends: the session is over
        assert names[:2] == ["state:changed", "meetings:ready"]
        assert names[-1] == "meetings:unregistered"
        assert "dropped its oldest" in caplog.text
        late = webex.meetings.events()
        assert [event async for event in late] == []


async def test_a_closed_stream_stops_receiving(runtime_name: str) -> None:
    async with fake_webex(runtime_name) as (webex, _, _), webex:
        async with webex.meetings.events() as stream:
            pass
        await webex.meetings.register()
        assert [event async for event in stream] == []
