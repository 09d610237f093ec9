"""Register a Webex device, print a few Mercury events, unregister: the asyncio version.

The library reads the token from ``WEBEX_ACCESS_TOKEN`` (a personal access token from
https://developer.webex.com); the script registers with Webex itself::

    WEBEX_ACCESS_TOKEN=... python examples/asyncio_register.py

or, given a base URL, with that cloud instead (``webex-meetings emulator`` prints the URL and
a token)::

    WEBEX_ACCESS_TOKEN=... python examples/asyncio_register.py http://127.0.0.1:8765

Leaving ``async with`` unregisters the device, also on Ctrl-C or an error.
"""

from __future__ import annotations

import asyncio
import sys

from webex_meetings.core.events import MercuryEvent
from webex_meetings.webex import Webex

CLOUD = sys.argv[1] if len(sys.argv) > 1 else None  # None: the real Webex cloud
EVENTS = 3


async def main() -> None:
    # The token comes from $WEBEX_ACCESS_TOKEN (or pass access_token=...).
    async with Webex.init(cloud=CLOUD) as webex:
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
    asyncio.run(main())
