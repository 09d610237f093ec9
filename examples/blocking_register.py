"""Register a Webex device, print a few Mercury events, unregister: no event loop needed.

``webex_meetings.blocking`` has the same API with plain methods; the library runs its event
loop in a background thread::

    WEBEX_ACCESS_TOKEN=... python examples/blocking_register.py

Give a base URL as the first argument to use an emulator instead of Webex (the token is
still read from ``WEBEX_ACCESS_TOKEN``).
"""

from __future__ import annotations

import sys

from webex_meetings.blocking import Webex
from webex_meetings.core.events import MercuryEvent

CLOUD = sys.argv[1] if len(sys.argv) > 1 else None  # None: the real Webex cloud
EVENTS = 3


def main() -> None:
    with Webex.init(cloud=CLOUD) as webex:  # leaving the block unregisters
        with webex.meetings.events(MercuryEvent) as events:
            webex.meetings.register(timeout=60)
            print("registered:", webex.meetings.device.url if webex.meetings.device else "?")
            for count, event in enumerate(events, start=1):
                print("event:", event.event_type, event.data)
                if count == EVENTS:
                    break
        webex.meetings.unregister(timeout=30)
        print("unregistered")


if __name__ == "__main__":
    main()
