"""The seed document's snippets ("Web Meetings SDK | Authorization and Device Registration"),
translated line by line, against the emulator, on asyncio, trio and the blocking face.

The JavaScript they translate::

    const webex = Webex.init({credentials: {access_token: token}});
    webex.meetings.on('meetings:ready', () => webex.meetings.register());
    webex.meetings.on('meetings:registered', () => console.log('registered'));
    ...
    await webex.meetings.unregister();

In Python the work runs inside ``async with webex:`` (or ``with webex:``), and ``meetings:ready``
fires on entering it. The handler must run whether it was added before the block (the
JavaScript order) or inside it (the README's order, where readiness has already happened).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import anyio
import pytest

from webex_meetings import Event, State, blocking
from webex_meetings.emulator import Emulator
from webex_meetings.webex import Webex

WAIT = 10.0


def credentials(emulator: Emulator) -> dict[str, str]:
    return {"access_token": emulator.default_token}


# -- async face: asyncio and trio, both runtimes -----------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("subscribe_inside", [True, False], ids=["inside-block", "before-block"])
async def test_the_seed_snippets_run_on_the_async_face(
    emulator: Emulator, runtime_name: str, subscribe_inside: bool
) -> None:
    webex = Webex.init(
        credentials=credentials(emulator), cloud=emulator.base_url, runtime=runtime_name
    )
    meetings = webex.meetings
    registered = anyio.Event()
    seen: list[str] = []

    async def on_ready(event: Event) -> None:
        seen.append(event.name)
        await meetings.register()

    def on_registered(event: Event) -> None:
        seen.append(event.name)
        registered.set()

    def subscribe() -> None:
        meetings.on("meetings:ready", on_ready)
        meetings.on("meetings:registered", on_registered)

    if not subscribe_inside:
        subscribe()
    async with webex:
        assert meetings.ready
        if subscribe_inside:
            subscribe()
        with anyio.fail_after(WAIT):
            await registered.wait()
        assert meetings.registered
        assert len(emulator.devices) == 1
        await meetings.unregister()
        assert meetings.state is State.UNREGISTERED
    assert seen == ["meetings:ready", "meetings:registered"]
    assert emulator.devices == []
    assert not meetings.ready


# -- blocking face ---------------------------------------------------------------------------


@pytest.mark.parametrize("subscribe_inside", [True, False], ids=["inside-block", "before-block"])
def test_the_seed_snippets_run_on_the_blocking_face(
    running_emulator: Emulator, subscribe_inside: bool
) -> None:
    webex = blocking.Webex.init(
        credentials=credentials(running_emulator), cloud=running_emulator.base_url
    )
    meetings = webex.meetings
    registered = threading.Event()
    seen: list[tuple[str, str]] = []

    def on(name: str) -> Callable[[Event], Any]:
        def record(event: Event) -> None:
            seen.append((event.name, threading.current_thread().name))

        return record

    def on_ready(event: Event) -> None:
        on("ready")(event)
        meetings.register(wait=False)  # callbacks run on the loop thread: never block there

    def on_registered(event: Event) -> None:
        on("registered")(event)
        registered.set()

    def subscribe() -> None:
        meetings.on("meetings:ready", on_ready)
        meetings.on("meetings:registered", on_registered)

    if not subscribe_inside:
        subscribe()
    assert not meetings.ready
    with webex:
        assert meetings.ready
        if subscribe_inside:
            subscribe()
        assert registered.wait(WAIT)
        assert len(running_emulator.devices) == 1
        meetings.unregister(timeout=WAIT)
        assert meetings.state is State.UNREGISTERED
    loop = "webex-meetings-loop"
    assert seen == [("meetings:ready", loop), ("meetings:registered", loop)]
    assert running_emulator.devices == []
    assert not meetings.ready
