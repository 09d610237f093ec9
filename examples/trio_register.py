"""Register a Webex device, print a few Mercury events, unregister: the trio version.

The same code as ``asyncio_register.py``: the library runs on trio as it does on asyncio.
``runtime="trio"`` uses trio's own networking; leave it out to use anyio's (works too)::

    WEBEX_ACCESS_TOKEN=... python examples/trio_register.py

Give a base URL as the first argument to use an emulator instead of Webex (the token is
still read from ``WEBEX_ACCESS_TOKEN``).
"""

from __future__ import annotations

import sys

import trio

from webex_meetings.core.events import MercuryEvent
from webex_meetings.webex import Webex

CLOUD = sys.argv[1] if len(sys.argv) > 1 else None  # None: the real Webex cloud
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
