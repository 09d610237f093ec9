"""Testing your own Webex app against the emulator, with the library's pytest fixtures.

Installing webex-meetings gives pytest two fixtures (no conftest needed):

* ``emulator``: a Webex cloud emulator in the test's event loop, for async tests
  (``@pytest.mark.anyio``);
* ``running_emulator``: one in a background thread, for blocking code and subprocesses.

``@pytest.mark.emulator(...)`` passes options to either (``device_limit``, ``seed`` ...).
Point your app at ``emulator.base_url`` with a token from ``emulator.issue_token()``, drive it,
then check what the cloud saw: ``emulator.devices``, ``emulator.acks``,
``emulator.violations``; ``emulator.control`` pushes events and injects faults. Run it with::

    pytest examples/test_my_bot.py
"""

from __future__ import annotations

import pytest

from webex_meetings import blocking
from webex_meetings.core.errors import AuthorizationError, DeviceLimitError
from webex_meetings.core.events import MercuryEvent
from webex_meetings.emulator import Emulator
from webex_meetings.webex import Webex

# -- the app under test: it collects the first few Mercury events of one type ----------------


async def collect(webex: Webex, event_type: str, count: int) -> list[MercuryEvent]:
    """Register, wait for ``count`` events of ``event_type``, unregister."""
    found: list[MercuryEvent] = []
    async with webex.meetings.events(MercuryEvent) as events:
        await webex.meetings.register()
        async for event in events:
            if isinstance(event, MercuryEvent) and event.event_type == event_type:
                found.append(event)
                if len(found) == count:
                    break
    await webex.meetings.unregister()
    return found


# -- its tests -------------------------------------------------------------------------------


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # or "trio", or parametrize over both


@pytest.mark.anyio
async def test_collects_events_and_leaves_no_device(emulator: Emulator) -> None:
    webex = Webex(access_token=emulator.issue_token(), cloud=emulator.base_url)
    async with webex:
        webex.meetings.on("meetings:registered", lambda event: push_events(emulator))
        found = await collect(webex, "bot.command", count=2)

    assert [event.data["text"] for event in found] == ["hello", "bye"]
    assert emulator.devices == []  # unregistered: nothing leaked
    assert {event.id for event in found} <= {ack.message_id for ack in emulator.acks}
    assert emulator.violations == []  # the client spoke the protocol correctly


def push_events(emulator: Emulator) -> None:
    emulator.control.push_event({"eventType": "bot.noise"})
    emulator.control.push_event({"eventType": "bot.command", "text": "hello"})
    emulator.control.push_event({"eventType": "bot.command", "text": "bye"})


@pytest.mark.anyio
async def test_a_revoked_token_is_reported(emulator: Emulator) -> None:
    token = emulator.issue_token()
    emulator.control.revoke_token(token)
    async with Webex(access_token=token, cloud=emulator.base_url) as webex:
        with pytest.raises(AuthorizationError) as raised:
            await webex.meetings.register()
    assert raised.value.status == 401
    assert emulator.devices == []


@pytest.mark.anyio
async def test_survives_a_wdm_outage(emulator: Emulator) -> None:
    emulator.control.fail_next("wdm.register", status=503, retry_after=0.01)  # inject a fault
    async with Webex(access_token=emulator.issue_token(), cloud=emulator.base_url) as webex:
        await webex.meetings.register()  # retried after the 503
        assert webex.meetings.registered
    assert emulator.devices == []


@pytest.mark.emulator(device_limit=0)
def test_blocking_code_too(running_emulator: Emulator) -> None:
    token = running_emulator.issue_token()
    webex = blocking.Webex(access_token=token, cloud=running_emulator.base_url)
    with webex, pytest.raises(DeviceLimitError):
        webex.meetings.register(timeout=30)
    assert running_emulator.devices == []
