"""The user's commands, serialized: ``register()`` and ``unregister()`` run one at a time.

Commands run in call order. A command arriving while another of the same kind is active (with
nothing queued behind it), or while the last queued one is of the same kind, joins it: two
overlapping ``register()`` calls make one registration and both complete with it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .effects import CompleteCommand, Effect
from .errors import CancelledCommandError, WebexError

__all__ = ["Command", "CommandKind", "CommandQueue"]


class CommandKind(enum.Enum):
    """The two user commands the session serializes."""

    REGISTER = "register"
    UNREGISTER = "unregister"


@dataclass(slots=True)
class Command:
    """One command and every caller waiting for it (their command ids)."""

    kind: CommandKind
    waiters: list[int]


class CommandQueue:
    """The command in progress and those waiting behind it."""

    __slots__ = ("active", "queued")

    def __init__(self) -> None:
        self.active: Command | None = None
        self.queued: tuple[Command, ...] = ()  # a few at most, mostly none: no list held
        """The commands waiting behind the active one, in order (read-only outside)."""

    def add(self, kind: CommandKind, command_id: int) -> None:
        """Queue a command (or join the one it coalesces with)."""
        if self.active is not None and self.active.kind is kind and not self.queued:
            self.active.waiters.append(command_id)
        elif self.queued and self.queued[-1].kind is kind:
            self.queued[-1].waiters.append(command_id)
        else:
            self.queued += (Command(kind, [command_id]),)

    @property
    def startable(self) -> bool:
        """True when :meth:`start_next` would start a command: none is active and one is
        queued."""
        return self.active is None and bool(self.queued)

    def start_next(self) -> Command | None:
        """Make the next queued command the active one and return it; ``None`` while one is
        active or when none is queued."""
        if self.active is not None or not self.queued:
            return None
        self.active, self.queued = self.queued[0], self.queued[1:]
        return self.active

    def cancel(self, command_id: int, kind: CommandKind) -> bool | list[Effect]:
        """The caller of ``command_id`` (a command of ``kind``) gave up. ``True`` when it is
        the only caller of the active command (the owner abandons that command, which
        completes as usual); otherwise the effects completing that caller at once (none when
        ``command_id`` is unknown)."""
        error = CancelledCommandError("the command was cancelled")
        active = self.active
        if active is not None and active.kind is kind and command_id in active.waiters:
            if active.waiters == [command_id]:
                return True
            active.waiters.remove(command_id)
            return complete([command_id], error)
        for command in self.queued:
            if command.kind is kind and command_id in command.waiters:
                command.waiters.remove(command_id)
                if not command.waiters:
                    self.queued = tuple(other for other in self.queued if other is not command)
                return complete([command_id], error)
        return []

    def finish(self, error: WebexError | None) -> list[Effect]:
        """The active command is done: complete every caller waiting for it."""
        command, self.active = self.active, None
        return [] if command is None else complete(command.waiters, error)

    def cancel_all(self, error: WebexError) -> list[Effect]:
        """Fail the active command and every queued one with ``error``."""
        pending = ([self.active] if self.active else []) + list(self.queued)
        self.active = None
        self.queued = ()
        return [effect for command in pending for effect in complete(command.waiters, error)]


def complete(waiters: list[int], error: WebexError | None) -> list[Effect]:
    """``CompleteCommand`` for each of ``waiters``."""
    return [CompleteCommand(command_id, error) for command_id in waiters]
