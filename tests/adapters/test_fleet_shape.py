"""What a registered session costs in tasks and timers (issue 11), and the driver's timer
heap against a model.

A registered session on asyncio keeps no task of its own beyond the one holding its task
group: its websocket pushes (no reader, no writer task) and its timers sit in one heap with
one loop callback. On trio the alarm is one task. The heap is checked against a plain dict
by hypothesis: any sequence of starts, cancels and clock advances fires exactly the timers a
dict of deadlines says, earliest first.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webex_meetings.adapters.driver import Driver
from webex_meetings.adapters.runtime import Runtime, TimerHeap, TransportOptions
from webex_meetings.core.config import SessionConfig
from webex_meetings.core.credentials import Credentials
from webex_meetings.core.inputs import Initialize
from webex_meetings.core.session import MeetingsSession
from webex_meetings.emulator import Emulator

pytestmark = pytest.mark.anyio


def _client_tasks() -> list[str]:
    """The names of the asyncio tasks that are not the (in-process) emulator's."""
    import asyncio

    names = (task.get_name() for task in asyncio.all_tasks())
    return [name for name in names if not name.startswith("webex_meetings.emulator")]


async def test_a_registered_session_keeps_its_tasks_to_a_minimum(
    emulator: Emulator, runtime: Runtime, anyio_backend: str
) -> None:
    config = SessionConfig.for_cloud(emulator.base_url)
    session = MeetingsSession(config, Credentials(emulator.issue_token()))
    http, websockets = runtime.default_transports(TransportOptions())
    before = _client_tasks() if anyio_backend == "asyncio" else []
    async with Driver(session, runtime, http=http, websockets=websockets, close_http=True) as d:
        await d.submit_input(Initialize()).wait()
        await d.register()
        assert d.pending_timers >= 1  # the Mercury ping is due some time
        pushing = anyio_backend == "asyncio" and runtime.name == "anyio"
        if pushing:
            assert d.active_tasks == 0  # the websocket has no reader or writer task
            new = [name for name in _client_tasks() if name not in before]
            assert new == ["webex_meetings.adapters.driver.Driver._keep_group"]
        else:
            assert d.active_tasks == 1  # the websocket's reader (its writer is inside)
        await d.unregister()
    assert d.active_tasks == 0


_STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("start"), st.integers(0, 5), st.floats(0, 10)),
        st.tuples(st.just("cancel"), st.integers(0, 5), st.just(0.0)),
        st.tuples(st.just("advance"), st.just(0), st.floats(0, 5)),
    ),
    max_size=60,
)


@given(_STEPS)
def test_the_timer_heap_fires_what_a_dict_of_deadlines_says(
    steps: list[tuple[str, int, float]],
) -> None:
    timers = TimerHeap()
    model: dict[int, float] = {}
    now = 0.0
    for action, timer_id, value in steps:
        if action == "start":
            timers.start(timer_id, now + value)
            model[timer_id] = now + value
        elif action == "cancel":
            timers.cancel(timer_id)
            model.pop(timer_id, None)
        else:
            now += value
            fired = [t for d, t in timers.expired(now) if timers.take(t, d)]
            due = sorted((d, t) for t, d in model.items() if d <= now)
            assert fired == [t for _, t in due]
            for _, t in due:
                del model[t]
        assert len(timers) == len(model)
        assert timers.next_deadline() == min(model.values(), default=math.inf)
