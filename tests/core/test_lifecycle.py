"""The lifecycle table, its one transitions machine, and the specs generated from it."""

from __future__ import annotations

import gc
import itertools
from collections import deque

import pytest
import transitions
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from webex_meetings import specs_export
from webex_meetings.core import lifecycle
from webex_meetings.core.errors import InvalidTransitionError, LocalProtocolError
from webex_meetings.core.lifecycle import (
    MACHINE,
    TRANSITIONS,
    Lifecycle,
    State,
    Trigger,
    allowed_triggers,
    next_state,
)

S, T = State, Trigger
ALL_PAIRS = list(itertools.product(State, Trigger))
TERMINAL_STATES: frozenset[State] = frozenset()
"""No state is terminal: every session can always move on (register again, or unregister)."""


def _reachable(start: State) -> set[State]:
    seen, queue = {start}, deque([start])
    while queue:
        state = queue.popleft()
        for trigger in allowed_triggers(state):
            dest = next_state(state, trigger)
            assert dest is not None
            if dest not in seen:
                seen.add(dest)
                queue.append(dest)
    return seen


REACHABLE = _reachable(lifecycle.INITIAL_STATE)


# -- the generated specs -------------------------------------------------------------------


def test_specs_match_the_code() -> None:
    stale = specs_export.differences()
    assert not stale, f"specs/ is out of date ({', '.join(stale)}): run `make specs`"


def test_specs_cover_the_lifecycle_files() -> None:
    rendered = specs_export.render()
    assert {"lifecycle.json", "lifecycle.mmd", "lifecycle.md"} <= set(rendered)
    assert rendered["lifecycle.mmd"] == lifecycle.mermaid_diagram()
    assert "```mermaid\n" + lifecycle.mermaid_diagram() + "```" in rendered["lifecycle.md"]


def test_spec_document_lists_every_row() -> None:
    document = lifecycle.spec_document()
    assert document["initial"] == "uninitialized"
    assert [s["name"] for s in document["states"]] == [s.value for s in State]
    assert [t["name"] for t in document["triggers"]] == [t.value for t in Trigger]
    rows = {
        (source, row["trigger"]): row["dest"]
        for row in document["transitions"]
        for source in row["sources"]
    }
    expected = {
        (s.value, t.value): dest.value
        for s, t in ALL_PAIRS
        if (dest := next_state(s, t)) is not None
    }
    assert rows == expected


def test_mermaid_has_one_edge_per_allowed_pair() -> None:
    edges = lifecycle.mermaid_diagram().splitlines()[2:]
    expected = sorted(
        f"    {s.value} --> {dest.value}: {t.value}"
        for s, t in ALL_PAIRS
        if (dest := next_state(s, t)) is not None
    )
    assert sorted(edges) == expected


# -- documentation -------------------------------------------------------------------------


@pytest.mark.parametrize("member", [*State, *Trigger], ids=lambda m: f"{type(m).__name__}.{m.name}")
def test_every_member_has_a_one_line_doc(member: State | Trigger) -> None:
    assert member.doc.strip()
    assert "\n" not in member.doc


# -- table-driven paths --------------------------------------------------------------------

PATHS = {
    "register and unregister": (
        [T.INITIALIZE, T.REGISTER, T.REGISTRATION_SUCCEEDED, T.UNREGISTER],
        [S.READY, S.REGISTERING, S.REGISTERED, S.UNREGISTERING],
    ),
    "unregister completes": (
        [T.INITIALIZE, T.REGISTER, T.REGISTRATION_SUCCEEDED, T.UNREGISTER,
         T.UNREGISTRATION_COMPLETED],
        [S.READY, S.REGISTERING, S.REGISTERED, S.UNREGISTERING, S.UNREGISTERED],
    ),
    "register again after unregister": (
        [T.INITIALIZE, T.REGISTER, T.REGISTRATION_SUCCEEDED, T.UNREGISTER,
         T.UNREGISTRATION_COMPLETED, T.REGISTER],
        [S.READY, S.REGISTERING, S.REGISTERED, S.UNREGISTERING, S.UNREGISTERED, S.REGISTERING],
    ),
    "failed registration returns to ready": (
        [T.INITIALIZE, T.REGISTER, T.REGISTRATION_FAILED, T.REGISTER],
        [S.READY, S.REGISTERING, S.READY, S.REGISTERING],
    ),
    "reconnect": (
        [T.INITIALIZE, T.REGISTER, T.REGISTRATION_SUCCEEDED, T.CONNECTION_LOST, T.RECONNECTED],
        [S.READY, S.REGISTERING, S.REGISTERED, S.RECONNECTING, S.REGISTERED],
    ),
    "connection ends while reconnecting, then unregister": (
        [T.INITIALIZE, T.REGISTER, T.REGISTRATION_SUCCEEDED, T.CONNECTION_LOST,
         T.CONNECTION_ENDED, T.UNREGISTER],
        [S.READY, S.REGISTERING, S.REGISTERED, S.RECONNECTING, S.DISCONNECTED, S.UNREGISTERING],
    ),
    "replaced connection revived by register": (
        [T.INITIALIZE, T.REGISTER, T.REGISTRATION_SUCCEEDED, T.CONNECTION_ENDED, T.REGISTER],
        [S.READY, S.REGISTERING, S.REGISTERED, S.DISCONNECTED, S.REGISTERING],
    ),
    "failed delete keeps the device, retried": (
        [T.INITIALIZE, T.REGISTER, T.REGISTRATION_SUCCEEDED, T.UNREGISTER,
         T.UNREGISTRATION_FAILED, T.UNREGISTER, T.UNREGISTRATION_COMPLETED],
        [S.READY, S.REGISTERING, S.REGISTERED, S.UNREGISTERING, S.DISCONNECTED,
         S.UNREGISTERING, S.UNREGISTERED],
    ),
    "unregister while reconnecting": (
        [T.INITIALIZE, T.REGISTER, T.REGISTRATION_SUCCEEDED, T.CONNECTION_LOST, T.UNREGISTER],
        [S.READY, S.REGISTERING, S.REGISTERED, S.RECONNECTING, S.UNREGISTERING],
    ),
}  # fmt: skip


@pytest.mark.parametrize(("triggers", "states"), PATHS.values(), ids=PATHS.keys())
def test_paths(triggers: list[Trigger], states: list[State]) -> None:
    session = Lifecycle()
    assert session.state is S.UNINITIALIZED
    previous = session.state
    for trigger, expected in zip(triggers, states, strict=True):
        assert session.can(trigger)
        assert session.fire(trigger) == (previous, expected)
        assert session.state is expected
        previous = expected


REFUSED = [
    (S.UNINITIALIZED, T.REGISTER, "cannot register while uninitialized"),
    (S.READY, T.UNREGISTER, "cannot unregister while ready"),
    (S.REGISTERING, T.REGISTER, "cannot register while registering"),
    (S.REGISTERED, T.REGISTER, "cannot register while registered"),
    (S.REGISTERED, T.INITIALIZE, "cannot initialize while registered"),
    (S.UNREGISTERING, T.UNREGISTER, "cannot unregister while unregistering"),
    (S.UNREGISTERED, T.UNREGISTER, "cannot unregister while unregistered"),
    (S.DISCONNECTED, T.RECONNECTED, "cannot reconnected while disconnected"),
]


@pytest.mark.parametrize(("state", "trigger", "message"), REFUSED)
def test_refused_triggers_raise_and_keep_the_state(
    state: State, trigger: Trigger, message: str
) -> None:
    session = Lifecycle(state)
    assert not session.can(trigger)
    with pytest.raises(InvalidTransitionError) as caught:
        session.fire(trigger)
    assert isinstance(caught.value, LocalProtocolError)
    assert str(caught.value) == message
    assert (caught.value.trigger, caught.value.state) == (trigger.value, state.value)
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None  # no foreign (transitions) error behind it
    assert session.state is state


def test_repr() -> None:
    assert repr(Lifecycle(S.REGISTERED)) == "Lifecycle(registered)"


# -- every (state, trigger) pair -----------------------------------------------------------


def _check_pair(state: State, trigger: Trigger) -> None:
    session = Lifecycle(state)
    dest = next_state(state, trigger)
    allowed_by_machine = trigger.value in MACHINE.get_triggers(state)
    assert allowed_by_machine == (dest is not None) == (trigger in allowed_triggers(state))
    assert session.can(trigger) == (dest is not None)
    if dest is None:
        with pytest.raises(InvalidTransitionError):
            session.fire(trigger)
        assert session.state is state
    else:
        assert session.fire(trigger) == (state, dest)
        assert session.state is dest


@given(st.sampled_from(State), st.sampled_from(Trigger))
def test_fire_moves_to_next_state_or_raises(state: State, trigger: Trigger) -> None:
    _check_pair(state, trigger)


@pytest.mark.parametrize(("state", "trigger"), ALL_PAIRS)
def test_every_pair_exhaustively(state: State, trigger: Trigger) -> None:
    _check_pair(state, trigger)


def test_machine_triggers_match_the_table_exactly() -> None:
    for state in State:
        assert set(MACHINE.get_triggers(state)) == {t.value for t in allowed_triggers(state)}


def test_table_has_no_duplicate_pairs() -> None:
    pairs = [(source, t.trigger) for t in TRANSITIONS for source in t.sources]
    assert len(pairs) == len(set(pairs))


# -- the one machine -----------------------------------------------------------------------


def test_one_module_level_machine_without_models() -> None:
    machines = [v for v in vars(lifecycle).values() if isinstance(v, transitions.Machine)]
    assert machines == [MACHINE]
    assert MACHINE.models == []
    assert MACHINE.auto_transitions is False
    assert MACHINE.ignore_invalid_triggers is False
    assert not any(name.startswith("to_") for name in MACHINE.events)
    Lifecycle().fire(T.INITIALIZE)
    assert MACHINE.models == []  # firing never attaches a model


def test_no_other_machine_is_built_by_sessions() -> None:
    before = sum(isinstance(o, transitions.Machine) for o in gc.get_objects())
    sessions = [Lifecycle() for _ in range(5)]
    for session in sessions:
        session.fire(T.INITIALIZE)
    after = sum(isinstance(o, transitions.Machine) for o in gc.get_objects())
    assert after == before


def test_lifecycle_has_no_per_instance_dict() -> None:
    with pytest.raises(AttributeError):
        Lifecycle().__dict__  # noqa: B018


# -- graph properties ----------------------------------------------------------------------


def test_every_state_is_reachable_from_uninitialized() -> None:
    assert set(State) == REACHABLE


@pytest.mark.parametrize("state", [s for s in State if s not in TERMINAL_STATES])
def test_every_non_terminal_state_has_an_exit(state: State) -> None:
    exits = {next_state(state, t) for t in allowed_triggers(state)}
    assert exits - {state}


def test_from_every_state_unregistered_or_ready_can_be_reached() -> None:
    for state in State:
        assert {S.UNREGISTERED, S.READY} & _reachable(state)


# -- random walks --------------------------------------------------------------------------


class RandomTriggers(RuleBasedStateMachine):
    """Fire random triggers; the state is always a reachable State, refusals change nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.session = Lifecycle()
        self.model = lifecycle.INITIAL_STATE

    @rule(trigger=st.sampled_from(Trigger))
    def fire_any(self, trigger: Trigger) -> None:
        self._fire(trigger)

    @rule(trigger=st.sampled_from(Trigger))
    def fire_only_if_allowed(self, trigger: Trigger) -> None:
        if self.session.can(trigger):
            self._fire(trigger)

    def _fire(self, trigger: Trigger) -> None:
        before = self.session.state
        expected = next_state(before, trigger)
        if expected is None:
            with pytest.raises(InvalidTransitionError):
                self.session.fire(trigger)
        else:
            assert self.session.fire(trigger) == (before, expected)
            self.model = expected

    @invariant()
    def state_is_a_reachable_state(self) -> None:
        assert isinstance(self.session.state, State)
        assert self.session.state in REACHABLE
        assert self.session.state is self.model


TestRandomTriggers = RandomTriggers.TestCase


def test_moves_are_read_from_the_machine_not_kept_twice() -> None:
    other = transitions.Machine(
        model=None,
        states=list(State),
        transitions=[{"trigger": "register", "source": [S.READY], "dest": S.REGISTERED}],
        initial=S.READY,
        auto_transitions=False,
    )
    assert lifecycle._read_moves(other) == {(S.READY, T.REGISTER): S.REGISTERED}
    assert lifecycle._read_moves(MACHINE) == {
        (source, row.trigger): row.dest for row in TRANSITIONS for source in row.sources
    }


# -- groups of states ----------------------------------------------------------------------

GROUPS = {
    "registered": {S.REGISTERED, S.RECONNECTING},
    "connecting": {S.REGISTERING, S.RECONNECTING},
    "wants_device": {S.REGISTERING, S.REGISTERED, S.RECONNECTING},
    "keeps_device": {S.REGISTERING, S.REGISTERED, S.RECONNECTING, S.DISCONNECTED},
    "at_rest": {S.UNINITIALIZED, S.READY, S.UNREGISTERED},
}


@pytest.mark.parametrize("group", GROUPS)
def test_state_groups(group: str) -> None:
    assert {state for state in State if getattr(state, group)} == GROUPS[group]


def test_at_rest_states_are_where_unregister_has_nothing_to_do() -> None:
    # Every state that is not at rest can be unregistered from, or is on its way there.
    for state in State:
        if not state.at_rest and state is not S.REGISTERING:
            assert state is S.UNREGISTERING or next_state(state, T.UNREGISTER) is not None
