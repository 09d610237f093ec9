"""The registration lifecycle: every state, every trigger, every allowed move, as data.

Theory of operation
-------------------
A session is always in exactly one :class:`State`. It moves only when a :class:`Trigger`
fires, and only along a row of :data:`TRANSITIONS`; any other trigger raises
:class:`~webex_meetings.core.errors.InvalidTransitionError` and leaves the state as it was.

::

    uninitialized --initialize--> ready --register--> registering --registration_succeeded-->
    registered --unregister--> unregistering --unregistration_completed--> unregistered

plus the paths the real protocol needs: a failed registration returns to ``ready``; a dropped
Mercury connection moves ``registered`` to ``reconnecting`` and back; a connection that ends
for good (replaced, forbidden, token revoked) parks in ``disconnected`` with the device still
held, so that ``unregister()`` can still delete it and ``register()`` can revive it; a failed
delete parks there too, so that no device is ever forgotten.

The table is read by one module-level :mod:`transitions` machine (no model attached, no
auto-transitions) shared by every session, exported to ``specs/lifecycle.json`` and drawn in
``specs/lifecycle.mmd``; ``tests/core/test_lifecycle.py`` fails when the two drift. Where a
trigger leads is looked up in the machine's own transition index (:data:`MACHINE`'s events),
read once into :data:`_MOVES`: there is no second copy of the table, and a move costs a dict
lookup instead of the machine's callback pipeline (about 10 µs, for callbacks and a model we
never attach).

The groups of states the protocol reasons about (registered, connecting, at rest, ...) are
properties of :class:`State`, each defined once below the enum.
"""

from __future__ import annotations

import enum
import itertools
from dataclasses import dataclass
from typing import Any, Final

from transitions import Machine

from .errors import InvalidTransitionError

__all__ = [
    "MACHINE",
    "TRANSITIONS",
    "Lifecycle",
    "State",
    "Transition",
    "Trigger",
    "allowed_triggers",
    "moves",
    "next_state",
    "spec_document",
]


class State(enum.Enum):
    """The lifecycle states of a meetings session."""

    __hash__ = object.__hash__  # members are singletons; Enum's own hash is slow Python

    UNINITIALIZED = "uninitialized"
    """Constructed; credentials not yet checked."""
    READY = "ready"
    """Initialized (``meetings:ready`` emitted); not registered."""
    REGISTERING = "registering"
    """``register()`` in progress: catalog, device POST, Mercury authorization."""
    REGISTERED = "registered"
    """Device registered and Mercury online."""
    RECONNECTING = "reconnecting"
    """Device registered; Mercury dropped and is being reconnected with backoff."""
    DISCONNECTED = "disconnected"
    """Device still held; Mercury ended for good or the device delete failed."""
    UNREGISTERING = "unregistering"
    """``unregister()`` in progress: closing Mercury, deleting the device."""
    UNREGISTERED = "unregistered"
    """Device deleted and Mercury closed; ``register()`` may be called again."""

    @property
    def doc(self) -> str:
        """The one-line meaning of this state."""
        return _STATE_DOCS[self]

    @property
    def registered(self) -> bool:
        """The device is registered: Mercury is online or reconnecting."""
        return self in _REGISTERED

    @property
    def connecting(self) -> bool:
        """Mercury connection attempts are under way (registering or reconnecting)."""
        return self in _CONNECTING

    @property
    def wants_device(self) -> bool:
        """A live device is wanted: one the server forgot is registered anew."""
        return self in _WANTS_DEVICE

    @property
    def keeps_device(self) -> bool:
        """A device is held (or being registered) and not being given up: answers about it
        still count."""
        return self in _KEEPS_DEVICE

    @property
    def at_rest(self) -> bool:
        """No device is held and no registration runs: nothing to unregister."""
        return self in _AT_REST


class Trigger(enum.Enum):
    """What moves a session from one state to another."""

    __hash__ = object.__hash__

    INITIALIZE = "initialize"
    """``Webex.init``: the credentials are usable."""
    REGISTER = "register"
    """``register()`` was called and is starting."""
    REGISTRATION_SUCCEEDED = "registration_succeeded"
    """Device registered and ``mercury.buffer_state`` received."""
    REGISTRATION_FAILED = "registration_failed"
    """A registration step failed; any device it created was deleted again."""
    CONNECTION_LOST = "connection_lost"
    """Mercury closed with a transient code; reconnecting."""
    RECONNECTED = "reconnected"
    """Mercury is online again."""
    CONNECTION_ENDED = "connection_ended"
    """Mercury closed for good (replaced, refused, token unusable, retries exhausted)."""
    UNREGISTER = "unregister"
    """``unregister()`` was called and is starting."""
    UNREGISTRATION_COMPLETED = "unregistration_completed"
    """Mercury closed and the device deleted (or already gone)."""
    UNREGISTRATION_FAILED = "unregistration_failed"
    """The device delete failed; the device is still held for a later attempt."""

    @property
    def doc(self) -> str:
        """The one-line meaning of this trigger."""
        return _TRIGGER_DOCS[self]


def _docs(enum_cls: type[enum.Enum]) -> dict[Any, str]:
    """One-line docs from the attribute docstrings above (kept next to each member)."""
    import ast
    import inspect
    import textwrap

    try:
        source = textwrap.dedent(inspect.getsource(enum_cls))
    except (OSError, TypeError):  # no source shipped: docs are a nicety, not a need
        return {member: "" for member in enum_cls}
    body = ast.parse(source).body[0].body  # type: ignore[attr-defined]
    docs: dict[Any, str] = {}
    for node, following in itertools.pairwise(body):
        if (
            isinstance(node, ast.Assign)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(node.targets[0], ast.Name)
        ):
            docs[enum_cls[node.targets[0].id]] = str(following.value.value).strip()
    return docs


_REGISTERED: Final = frozenset({State.REGISTERED, State.RECONNECTING})
_CONNECTING: Final = frozenset({State.REGISTERING, State.RECONNECTING})
_WANTS_DEVICE: Final = frozenset({State.REGISTERING, State.REGISTERED, State.RECONNECTING})
_KEEPS_DEVICE: Final = _WANTS_DEVICE | {State.DISCONNECTED}
_AT_REST: Final = frozenset({State.UNINITIALIZED, State.READY, State.UNREGISTERED})

_STATE_DOCS: Final = _docs(State)
_TRIGGER_DOCS: Final = _docs(Trigger)


@dataclass(frozen=True, slots=True)
class Transition:
    """One row of the lifecycle table: ``trigger`` moves any of ``sources`` to ``dest``."""

    trigger: Trigger
    sources: tuple[State, ...]
    dest: State


S, T = State, Trigger
TRANSITIONS: Final[tuple[Transition, ...]] = (
    Transition(T.INITIALIZE, (S.UNINITIALIZED,), S.READY),
    Transition(T.REGISTER, (S.READY, S.UNREGISTERED, S.DISCONNECTED), S.REGISTERING),
    Transition(T.REGISTRATION_SUCCEEDED, (S.REGISTERING,), S.REGISTERED),
    Transition(T.REGISTRATION_FAILED, (S.REGISTERING,), S.READY),
    Transition(T.CONNECTION_LOST, (S.REGISTERED,), S.RECONNECTING),
    Transition(T.RECONNECTED, (S.RECONNECTING,), S.REGISTERED),
    Transition(T.CONNECTION_ENDED, (S.REGISTERED, S.RECONNECTING), S.DISCONNECTED),
    Transition(T.UNREGISTER, (S.REGISTERED, S.RECONNECTING, S.DISCONNECTED), S.UNREGISTERING),
    Transition(T.UNREGISTRATION_COMPLETED, (S.UNREGISTERING,), S.UNREGISTERED),
    Transition(T.UNREGISTRATION_FAILED, (S.UNREGISTERING,), S.DISCONNECTED),
)
"""The whole lifecycle. Nothing else decides which moves are allowed."""
del S, T

INITIAL_STATE: Final = State.UNINITIALIZED

MACHINE: Final = Machine(
    model=None,
    states=list(State),
    transitions=[
        {"trigger": t.trigger.value, "source": list(t.sources), "dest": t.dest} for t in TRANSITIONS
    ],
    initial=INITIAL_STATE,
    auto_transitions=False,
    ignore_invalid_triggers=False,
)
"""The one :class:`transitions.Machine` every session shares; it holds no model."""


def _read_moves(machine: Machine) -> dict[tuple[State, Trigger], State]:
    """Every allowed move, as ``machine`` compiled the table: its events index their
    transitions by source state name."""
    return {
        (State[source], Trigger(name)): State[str(transitions[0].dest)]
        for name, event in machine.events.items()
        for source, transitions in event.transitions.items()
    }


_MOVES: Final = _read_moves(MACHINE)
"""``(state, trigger) -> dest``, read once from :data:`MACHINE`."""


def moves() -> dict[tuple[State, Trigger], State]:
    """Every allowed move, ``(state, trigger) -> dest`` (a copy)."""
    return dict(_MOVES)


def next_state(state: State, trigger: Trigger) -> State | None:
    """Where ``trigger`` takes a session in ``state``, or ``None`` if it is not allowed."""
    return _MOVES.get((state, trigger))


def allowed_triggers(state: State) -> frozenset[Trigger]:
    """The triggers allowed in ``state``."""
    return frozenset(trigger for (source, trigger) in _MOVES if source is state)


class Lifecycle:
    """The lifecycle position of one session, moved only along :data:`MACHINE`'s moves."""

    __slots__ = ("state",)

    def __init__(self, state: State = INITIAL_STATE) -> None:
        self.state = state

    def fire(self, trigger: Trigger) -> tuple[State, State]:
        """Apply ``trigger``; returns ``(source, dest)``.

        :raises InvalidTransitionError: ``trigger`` is not allowed now; the state is unchanged.
        """
        source = self.state
        dest = _MOVES.get((source, trigger))
        if dest is None:
            raise InvalidTransitionError(trigger.value, source.value)
        self.state = dest
        return source, dest

    def can(self, trigger: Trigger) -> bool:
        """True if ``trigger`` is allowed in the current state."""
        return next_state(self.state, trigger) is not None

    def __repr__(self) -> str:
        return f"Lifecycle({self.state.value})"


def spec_document() -> dict[str, Any]:
    """The lifecycle as plain data: what ``specs/lifecycle.json`` holds."""
    return {
        "name": "webex-meetings session lifecycle",
        "initial": INITIAL_STATE.value,
        "states": [{"name": s.value, "doc": s.doc} for s in State],
        "triggers": [{"name": t.value, "doc": t.doc} for t in Trigger],
        "transitions": [
            {
                "trigger": t.trigger.value,
                "sources": [s.value for s in t.sources],
                "dest": t.dest.value,
            }
            for t in TRANSITIONS
        ],
    }


def mermaid_diagram() -> str:
    """The lifecycle as a Mermaid ``stateDiagram-v2``: what ``specs/lifecycle.mmd`` holds."""
    lines = ["stateDiagram-v2", f"    [*] --> {INITIAL_STATE.value}"]
    for t in TRANSITIONS:
        for source in t.sources:
            lines.append(f"    {source.value} --> {t.dest.value}: {t.trigger.value}")
    return "\n".join(lines) + "\n"
