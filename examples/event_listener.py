"""Callbacks instead of a loop: ``meetings.on()`` and ``meetings.off()``.

Callbacks run on the event loop and must not block; an ``async def`` callback runs as a task.
This one prints lifecycle events, handles Mercury events until it has seen a few, then stops
listening and unregisters::

    WEBEX_ACCESS_TOKEN=... python examples/event_listener.py

Give a base URL as the first argument to use an emulator instead of Webex (the token is
still read from ``WEBEX_ACCESS_TOKEN``).
"""

from __future__ import annotations

import asyncio
import sys

from webex_meetings.core.events import Event, MercuryEvent
from webex_meetings.webex import Webex

CLOUD = sys.argv[1] if len(sys.argv) > 1 else None  # None: the real Webex cloud
EVENTS = 3


async def main() -> None:
    webex = Webex.init(cloud=CLOUD)
    enough = asyncio.Event()
    seen: list[MercuryEvent] = []

    def on_lifecycle(event: Event) -> None:
        print("lifecycle:", event.name)

    def on_mercury(event: MercuryEvent) -> None:
        seen.append(event)
        print("event:", event.event_type, event.data)
        if len(seen) == EVENTS:
            webex.meetings.off(MercuryEvent, on_mercury)  # no more calls from now on
            enough.set()

    for name in ("meetings:ready", "meetings:registered", "meetings:unregistered"):
        webex.meetings.on(name, on_lifecycle)
    webex.meetings.on(MercuryEvent, on_mercury)

    async with webex:
        await webex.meetings.register()
        print("registered:", webex.meetings.device.url if webex.meetings.device else "?")
        await enough.wait()
        await webex.meetings.unregister()


if __name__ == "__main__":
    asyncio.run(main())
