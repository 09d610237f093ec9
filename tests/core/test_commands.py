"""The command queue: call order, coalescing, cancelling."""

from __future__ import annotations

from webex_meetings.core.commands import CommandKind, CommandQueue
from webex_meetings.core.effects import CompleteCommand
from webex_meetings.core.errors import CancelledCommandError, WebexError

REGISTER, UNREGISTER = CommandKind.REGISTER, CommandKind.UNREGISTER


def test_commands_start_in_call_order_one_at_a_time() -> None:
    queue = CommandQueue()
    assert not queue.startable
    queue.add(REGISTER, 1)
    queue.add(UNREGISTER, 2)
    assert queue.startable
    first = queue.start_next()
    assert first is not None
    assert (first.kind, first.waiters) == (REGISTER, [1])
    assert not queue.startable  # one is active
    assert queue.start_next() is None
    assert queue.finish(None) == [CompleteCommand(1, None)]
    second = queue.start_next()
    assert second is not None
    assert (second.kind, second.waiters) == (UNREGISTER, [2])
    assert queue.finish(None) == [CompleteCommand(2, None)]
    assert not queue.startable


def test_a_command_joins_the_active_or_last_queued_one_of_its_kind() -> None:
    queue = CommandQueue()
    queue.add(REGISTER, 1)
    queue.start_next()
    queue.add(REGISTER, 2)  # joins the active register
    queue.add(UNREGISTER, 3)
    queue.add(UNREGISTER, 4)  # joins the queued unregister
    queue.add(REGISTER, 5)  # after an unregister: a register of its own
    assert queue.finish(None) == [CompleteCommand(1, None), CompleteCommand(2, None)]
    unregister = queue.start_next()
    assert unregister is not None
    assert unregister.waiters == [3, 4]


def test_cancelling_a_queued_command_drops_it_once_it_has_no_caller() -> None:
    queue = CommandQueue()
    queue.add(UNREGISTER, 1)
    queue.start_next()
    queue.add(REGISTER, 2)
    queue.add(UNREGISTER, 3)
    outcome = queue.cancel(2, REGISTER)
    assert isinstance(outcome, list)
    [completed] = outcome
    assert isinstance(completed, CompleteCommand)
    assert completed.command_id == 2
    assert isinstance(completed.error, CancelledCommandError)
    assert queue.cancel(99, REGISTER) == []
    queue.finish(None)
    left = queue.start_next()
    assert left is not None
    assert (left.kind, left.waiters) == (UNREGISTER, [3])


def test_the_only_caller_of_the_active_command_abandons_it() -> None:
    queue = CommandQueue()
    queue.add(REGISTER, 1)
    queue.start_next()
    assert queue.cancel(1, REGISTER) is True


def test_cancel_all_fails_the_active_and_the_queued_commands() -> None:
    queue = CommandQueue()
    queue.add(REGISTER, 1)
    queue.start_next()
    queue.add(UNREGISTER, 2)
    error: WebexError = CancelledCommandError("shut down")
    assert queue.cancel_all(error) == [CompleteCommand(1, error), CompleteCommand(2, error)]
    assert not queue.startable
    assert queue.start_next() is None
