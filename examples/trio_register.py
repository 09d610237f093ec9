"""Register a Webex device, print a few Mercury events, unregister: the trio version.

The same code as ``asyncio_register.py``: the library runs on trio as it does on asyncio.
``runtime="trio"`` uses trio's own networking; leave it out to use anyio's (works too)::

    WEBEX_ACCESS_TOKEN=... python examples/trio_register.py

Set ``WEBEX_CLOUD_URL`` to use an emulator instead of Webex.
"""

from __future__ import annotations

import os

import trio

from webex_meetings.core.events import MercuryEvent
from webex_meetings.webex import Webex

CLOUD = os.environ.get("WEBEX_CLOUD_URL")  # None: the real Webex cloud
EVENTS = 3


async def main() -> None:
    async with Webex.init(cloud=CLOUD, runtime="trio") as webex:
        async with webex.meetings.events(MercuryEvent) as events:
            await webex.meetings.register()
            print("registered:", webex.meetings.device.url if webex.meetings.device else "?")
            count = 0
            async for event in events:
                print("event:", event.event_type, event.data)
                count += 1
                if count == EVENTS:
                    break
        await webex.meetings.unregister()
        print("unregistered")


if __name__ == "__main__":
    trio.run(main)
