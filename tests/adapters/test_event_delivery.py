"""Mercury events from the socket to the user: every one acked exactly once, delivered in
order to callbacks and streams, a full stream dropping its oldest; the registry's routes
following every change; a stream's reader woken once per batch and safely cancelled. On
asyncio and trio (anyio) and native trio."""

from __future__ import annotations

import gc
from collections import Counter
from typing import Any

import anyio
import pytest

from webex_meetings import Event, MeetingsReady, MercuryEvent, StateChanged, mercury_events
from webex_meetings.adapters.listeners import AsyncEventStream, EventBuffer, Listeners
from webex_meetings.adapters.runtime import Runtime
from webex_meetings.emulator import Emulator
from webex_meetings.webex import Webex

pytestmark = pytest.mark.anyio

COUNT = 300


def mercury(event_type: str, n: int = 0) -> MercuryEvent:
    return MercuryEvent(id=f"{event_type}-{n}", event_type=event_type, data={}, envelope={})


def push(emulator: Emulator, count: int, event_type: str = "test.event") -> list[str]:
    ids: list[str] = []
    for n in range(count):
        ids += emulator.control.push_event({"eventType": event_type, "n": n})
    return ids


async def until_acked(emulator: Emulator, ids: list[str]) -> None:
    with anyio.fail_after(10):
        while emulator.control.pending_events(emulator.devices[0].id):
            await anyio.sleep(0.001)
    acked = Counter(ack.message_id for ack in emulator.acks if ack.known)
    assert [acked[event_id] for event_id in ids] == [1] * len(ids)  # each once, none twice


# -- end to end, through the emulator --------------------------------------------------------


async def test_a_burst_is_acked_once_each_and_delivered_in_order(
    emulator: Emulator, runtime_name: str
) -> None:
    seen_by_callback: list[str | None] = []
    webex = Webex.init(
        credentials={"access_token": emulator.default_token},
        cloud=emulator.base_url,
        runtime=runtime_name,
    )
    webex.meetings.on(mercury_events("test"), lambda event: seen_by_callback.append(event.id))
    async with webex:
        await webex.meetings.register()
        async with webex.meetings.events(MercuryEvent, maxsize=COUNT) as stream:
            ids = push(emulator, COUNT)
            seen: list[str | None] = []
            with anyio.fail_after(10):
                async for event in stream:
                    seen.append(event.id)
                    if len(seen) == COUNT:
                        break
            await until_acked(emulator, ids)
            assert seen == ids
            assert stream.dropped == 0
    assert seen_by_callback == ids
    assert emulator.violations == []


async def test_a_full_stream_drops_its_oldest_and_every_event_is_still_acked(
    emulator: Emulator, runtime_name: str
) -> None:
    webex = Webex.init(
        credentials={"access_token": emulator.default_token},
        cloud=emulator.base_url,
        runtime=runtime_name,
    )
    async with webex:
        await webex.meetings.register()
        async with webex.meetings.events(MercuryEvent, maxsize=5) as stream:
            ids = push(emulator, 40)
            await until_acked(emulator, ids)  # the reader has not read a single one
            kept = [event.id async for event in _take(stream, 5)]
        assert kept == ids[-5:]
        assert stream.dropped == 35
    assert emulator.violations == []


async def _take(stream: AsyncEventStream[MercuryEvent], count: int) -> Any:
    for _ in range(count):
        yield await stream.__anext__()


# -- the registry's routes --------------------------------------------------------------------


class Recording(EventBuffer[Event]):
    """A stream that only records how often it was woken."""

    def __init__(self, *keys: Any, maxsize: int = 100) -> None:
        super().__init__(keys, maxsize)
        self.wakes = 0

    def _wake(self) -> None:
        self.wakes += 1

    def taken(self) -> list[Event]:
        items = list(self._queue)
        self._queue.clear()
        return items


def never_spawn(func: Any) -> None:
    raise AssertionError("no async callback here")


def test_routes_follow_every_change_of_the_registry() -> None:
    listeners = Listeners()
    calls: list[tuple[str, str | None]] = []

    def first(event: MercuryEvent) -> None:
        calls.append(("first", event.id))

    def second(event: MercuryEvent) -> None:
        calls.append(("second", event.id))

    listeners.on(MercuryEvent, first)
    listeners.deliver(mercury("a.x", 1), never_spawn)  # the route of MercuryEvent is made
    listeners.on("event", second)
    listeners.deliver(mercury("a.x", 2), never_spawn)
    listeners.off(MercuryEvent, first)
    listeners.deliver(mercury("a.x", 3), never_spawn)
    stream = Recording(MercuryEvent)
    listeners.subscribe(stream)
    listeners.deliver(mercury("a.x", 4), never_spawn)
    listeners.unsubscribe(stream)
    listeners.deliver(mercury("a.x", 5), never_spawn)
    assert calls == [
        ("first", "a.x-1"),
        ("first", "a.x-2"),
        ("second", "a.x-2"),
        ("second", "a.x-3"),
        ("second", "a.x-4"),
        ("second", "a.x-5"),
    ]
    assert [event.id for event in stream.taken()] == ["a.x-4"]  # type: ignore[attr-defined]


def test_mercury_keys_are_matched_on_each_event_and_other_keys_by_class() -> None:
    listeners = Listeners()
    by_namespace, by_type, every, state = (
        Recording(mercury_events("locus")),
        Recording(mercury_events("locus.difference")),
        Recording(),
        Recording("state:changed", mercury_events("locus")),
    )
    for stream in (by_namespace, by_type, every, state):
        listeners.subscribe(stream)
    events: list[Event] = [
        mercury("locus.difference"),
        mercury("locus.roap"),
        mercury("other.thing"),
        StateChanged("a", "b", "go"),
        mercury("locus.difference", 2),
    ]
    for event in events:
        listeners.deliver(event, never_spawn)
    assert by_namespace.taken() == [events[0], events[1], events[4]]
    assert by_type.taken() == [events[0], events[4]]
    assert every.taken() == events
    assert state.taken() == [events[0], events[1], events[3], events[4]]


def test_a_once_callback_runs_once_however_often_its_route_is_used() -> None:
    listeners = Listeners()
    calls: list[str | None] = []
    listeners.on(mercury_events("a"), lambda event: calls.append(event.id), once=True)
    for n in range(3):
        listeners.deliver(mercury("a.b", n), never_spawn)
    assert calls == ["a.b-0"]


def test_a_latched_event_reaches_whoever_comes_before_or_after_it() -> None:
    listeners = Listeners()
    early: list[Event] = []
    listeners.on("meetings:ready", early.append)
    ready = MeetingsReady()
    listeners.deliver(ready, never_spawn)
    assert early == [ready]
    assert listeners.on("meetings:ready", early.append) is ready  # the caller hands it over
    late = Recording(MeetingsReady)
    listeners.subscribe(late)
    assert late.taken() == [ready]


def test_an_abandoned_stream_is_not_fed_and_breaks_nothing() -> None:
    listeners = Listeners()
    kept = Recording(MercuryEvent)
    listeners.subscribe(kept)
    listeners.subscribe(Recording(MercuryEvent))  # dropped at once
    listeners.deliver(mercury("a.b"), never_spawn)
    gc.collect()
    listeners.deliver(mercury("a.b", 1), never_spawn)
    assert [event.id for event in kept.taken()] == ["a.b-0", "a.b-1"]  # type: ignore[attr-defined]


def test_a_full_buffer_drops_the_oldest_and_counts_what_it_dropped() -> None:
    stream = Recording(maxsize=3)
    for n in range(5):
        stream.put(mercury("a.b", n))
    assert [event.id for event in stream.taken()] == ["a.b-2", "a.b-3", "a.b-4"]  # type: ignore[attr-defined]
    assert stream.dropped == 2


# -- the reader's wake-up ---------------------------------------------------------------------


class CountingStream(AsyncEventStream[MercuryEvent]):
    """Counts how often its reader had to wait."""

    waits = 0

    async def _wait(self) -> None:
        self.waits += 1
        await super()._wait()


def new_stream(runtime: Runtime, maxsize: int = 100) -> CountingStream:
    return CountingStream((MercuryEvent,), maxsize, runtime.event, lambda stream: None)


async def test_a_batch_wakes_the_reader_once_and_keeps_its_order(runtime: Runtime) -> None:
    stream = new_stream(runtime)
    batch = [mercury("a.b", n) for n in range(5)]
    got: list[MercuryEvent] = []

    async def read() -> None:
        async for event in stream:
            got.append(event)

    async with anyio.create_task_group() as group:
        group.start_soon(read)
        while stream.waits == 0:
            await anyio.sleep(0)
        for event in batch:  # one turn of the loop: one batch
            stream.put(event)
        while len(got) < len(batch):
            await anyio.sleep(0)
        assert stream.waits == 2  # before the batch, and after it: not once per event
        stream.close()
    assert got == batch


async def test_a_reader_cancelled_while_waiting_loses_nothing(runtime: Runtime) -> None:
    stream = new_stream(runtime)

    async def read() -> None:
        await stream.__anext__()

    async with anyio.create_task_group() as group:
        group.start_soon(read)
        while stream.waits == 0:
            await anyio.sleep(0)
        group.cancel_scope.cancel()
        stream.put(mercury("a.b"))  # the reader is cancelled, not yet gone: no error
    stream.put(mercury("a.b", 1))
    with anyio.fail_after(5):
        assert [(await stream.__anext__()).id for _ in range(2)] == ["a.b-0", "a.b-1"]
    stream.close()
    assert [event async for event in stream] == []
