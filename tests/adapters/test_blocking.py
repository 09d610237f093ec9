"""The blocking face (``webex_meetings.blocking``) against the emulator on its own thread:
plain threads, a running asyncio loop (``wait=False``), callbacks on the loop thread,
timeouts and closing."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from webex_meetings import (
    Event,
    LocalProtocolError,
    MeetingsReady,
    MeetingsRegistered,
    MeetingsUnregistered,
    MercuryEvent,
    State,
    StateChanged,
    TimeoutError,
    UnknownEventError,
)
from webex_meetings.blocking import Webex
from webex_meetings.emulator import Emulator

WAIT = 10.0


@pytest.fixture
def webex(running_emulator: Emulator) -> Iterator[Webex]:
    with Webex.init(
        credentials={"access_token": running_emulator.default_token},
        cloud=running_emulator.base_url,
    ) as webex:
        yield webex


def next_of(webex: Webex, kind: type[Event]) -> Any:
    """A function returning the next event of ``kind`` (subscribed now, waited for later)."""
    stream = webex.meetings.events(kind)
    return lambda: stream.get(timeout=WAIT)


def test_register_from_several_plain_threads(webex: Webex, running_emulator: Emulator) -> None:
    threads_seen: list[str] = []
    webex.meetings.on(
        MeetingsRegistered, lambda e: threads_seen.append(threading.current_thread().name)
    )
    errors: list[BaseException] = []

    def register() -> None:
        try:
            webex.meetings.register(timeout=WAIT)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    workers = [threading.Thread(target=register) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(WAIT)
    assert errors == []
    assert webex.meetings.registered
    assert len(running_emulator.devices) == 1  # concurrent calls made one registration
    assert threads_seen == ["webex-meetings-loop"]  # callbacks run on the loop thread
    webex.meetings.unregister(timeout=WAIT)
    assert running_emulator.devices == []
    assert webex.meetings.state is State.UNREGISTERED


def test_events_iterate_until_the_timeout(webex: Webex, running_emulator: Emulator) -> None:
    with webex.meetings.events(MercuryEvent, timeout=WAIT) as events:
        webex.meetings.register(timeout=WAIT)
        [event_id] = running_emulator.control.push_event({"eventType": "locus.difference"})
        first = next(iter(events))
        assert (first.id, first.event_type) == (event_id, "locus.difference")
    assert list(webex.meetings.events(MercuryEvent, timeout=0)) == []


def test_inside_a_running_asyncio_loop_nothing_blocks(
    webex: Webex, running_emulator: Emulator
) -> None:
    async def main() -> int:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        ticker = asyncio.create_task(tick())
        await asyncio.wrap_future(webex.meetings.register(wait=False))
        await asyncio.wrap_future(webex.meetings.unregister(wait=False))
        ticker.cancel()
        return ticks

    assert asyncio.run(main()) > 10  # the loop kept running while the calls were in flight
    assert webex.meetings.state is State.UNREGISTERED


def test_callbacks_may_not_block_but_may_submit(webex: Webex) -> None:
    outcome: list[object] = []
    unregistered = next_of(webex, MeetingsUnregistered)

    def on_registered(event: Event) -> None:
        try:
            webex.meetings.unregister()
        except LocalProtocolError as exc:
            outcome.append(exc)
        outcome.append(webex.meetings.unregister(wait=False))
        try:
            webex.close()
        except LocalProtocolError as exc:
            outcome.append(exc)

    webex.meetings.once("meetings:registered", on_registered)
    webex.meetings.register(timeout=WAIT)
    assert unregistered() == MeetingsUnregistered()
    blocked, future, closing = outcome
    assert "wait=False" in str(blocked)
    assert future.result(timeout=WAIT) is None  # type: ignore[union-attr]
    assert "callback" in str(closing)


def test_a_timed_out_register_is_cancelled_and_rolled_back(
    webex: Webex, running_emulator: Emulator
) -> None:
    running_emulator.control.set_latency("wdm.register", 0.3)
    changes = webex.meetings.events(StateChanged)
    with pytest.raises(TimeoutError, match="cancelled"):
        webex.meetings.register(timeout=0.05)
    # Rolled back: abandoned at once and its device deleted (or, had it finished first,
    # unregistered).
    while changes.get(timeout=WAIT).dest not in ("ready", "unregistered"):
        pass
    assert running_emulator.devices == []
    assert not webex.meetings.registered


def test_close_unregisters_is_idempotent_and_final(running_emulator: Emulator) -> None:
    webex = Webex(access_token=running_emulator.default_token, cloud=running_emulator.base_url)
    assert webex.meetings.state is State.UNINITIALIZED  # nothing runs before first use
    webex.meetings.register(timeout=WAIT)
    assert len(running_emulator.devices) == 1
    webex.close()
    webex.close()
    assert running_emulator.devices == []
    assert not any(t.name == "webex-meetings-loop" for t in threading.enumerate())
    with pytest.raises(LocalProtocolError, match="closed"):
        webex.meetings.register()


def test_readiness_is_observable_from_any_thread(running_emulator: Emulator) -> None:
    webex = Webex(access_token=running_emulator.default_token, cloud=running_emulator.base_url)
    assert not webex.meetings.ready  # nothing runs before first use
    seen: list[tuple[str, str]] = []
    called = threading.Event()

    def record(event: Event) -> None:
        seen.append((event.name, threading.current_thread().name))
        called.set()

    with webex:
        assert webex.meetings.ready
        webex.meetings.once("meetings:ready", record)  # from this plain thread, late
        assert called.wait(WAIT)
        with webex.meetings.events("meetings:ready", timeout=0) as stream:
            assert list(stream) == [MeetingsReady()]
        webex.meetings.once("meetings:ready", lambda event: webex.meetings.on("*", record))
    assert seen == [("meetings:ready", "webex-meetings-loop")]  # "*" got no late ready
    assert not webex.meetings.ready
    webex.meetings.on("meetings:ready", record)
    assert len(seen) == 1  # closed: no longer ready, nothing replayed


def test_unknown_event_names_and_keywords_are_refused(running_emulator: Emulator) -> None:
    with pytest.raises(TypeError, match=r"'clod' \(did you mean 'cloud'\?\)"):
        Webex(access_token=running_emulator.default_token, clod=running_emulator.base_url)
    with pytest.raises(TypeError, match="'runtime'"):
        Webex.init(running_emulator.default_token, runtime="trio")
    webex = Webex.init(running_emulator.default_token, cloud=running_emulator.base_url)
    with pytest.raises(UnknownEventError, match="did you mean 'meetings:registered'"):
        webex.meetings.on("meetings:registred", print)
    with pytest.raises(UnknownEventError, match="meetings:unregistered"):
        webex.meetings.events("meetings:redy")
    assert webex.meetings.state is State.UNINITIALIZED  # the refused call started nothing
    webex.close()


def test_a_timed_out_register_raises_only_once_its_device_is_deleted(
    running_emulator: Emulator,
) -> None:
    emulator = running_emulator
    emulator.control.fail_next("mercury.connect", count=1000, status=503)  # never registers
    emulator.control.set_latency("wdm.delete", 0.3)  # the rollback's DELETE takes a while
    with Webex(access_token=emulator.default_token, cloud=emulator.base_url) as webex:
        with pytest.raises(TimeoutError, match="cancelled"):
            webex.meetings.register(timeout=1.0)
        assert len(emulator.control.device_history) == 1  # a device was created...
        assert emulator.devices == []  # ...and deleted before register() raised
        assert not webex.meetings.registered


def test_a_timed_out_register_waits_for_its_rollback_at_most_unregister_timeout(
    running_emulator: Emulator,
) -> None:
    emulator = running_emulator
    emulator.control.fail_next("mercury.connect", count=1000, status=503)
    emulator.control.set_latency("wdm.delete", 60.0)  # WDM never confirms the deletion
    webex = Webex(
        access_token=emulator.default_token, cloud=emulator.base_url, unregister_timeout=0.5
    )
    try:
        started = time.monotonic()
        with pytest.raises(TimeoutError, match="cancelled"):
            webex.meetings.register(timeout=0.5)
        assert time.monotonic() - started < 0.5 + 0.5 + 1.0 + 2.0  # + the grace, + slack
    finally:
        emulator.control.set_latency("wdm.delete", 0.0)
        webex.close()
