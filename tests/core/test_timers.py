"""Timers as data: one timer per key, stale firings recognised, ids from the shared
allocator."""

from __future__ import annotations

import itertools

from webex_meetings.core.effects import CancelTimer, StartTimer
from webex_meetings.core.timers import TimerSet


def timers() -> TimerSet[str]:
    return TimerSet(itertools.count(1).__next__)


def test_arming_a_key_again_replaces_its_timer() -> None:
    armed = timers()
    assert armed.start("ping", 15.0) == [StartTimer(1, 15.0)]
    assert armed.start("ping", 5.0) == [CancelTimer(1), StartTimer(2, 5.0)]
    assert armed.fired(1) is None  # the replaced timer is stale
    assert armed.fired(2) == "ping"
    assert not armed.armed("ping")


def test_a_negative_delay_fires_at_once() -> None:
    assert timers().start("now", -3.0) == [StartTimer(1, 0.0)]


def test_cancel_disarms_one_key_and_ignores_the_unarmed() -> None:
    armed = timers()
    armed.start("a", 1.0)
    assert armed.cancel("a") == [CancelTimer(1)]
    assert armed.cancel("a") == []
    assert armed.fired(1) is None


def test_cancel_each_disarms_the_armed_keys_in_order() -> None:
    armed = timers()
    armed.start("a", 1.0)
    armed.start("c", 1.0)
    assert armed.cancel_each(["c", "b", "a"]) == [CancelTimer(2), CancelTimer(1)]
    assert armed.cancel_each(["a", "c"]) == []
    assert not armed.armed("a")
    assert not armed.armed("c")


def test_cancel_all() -> None:
    armed = timers()
    armed.start("a", 1.0)
    armed.start("b", 1.0)
    assert armed.cancel_all() == [CancelTimer(1), CancelTimer(2)]
    assert armed.fired(2) is None
