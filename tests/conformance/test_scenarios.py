"""The scenario table: complete as issue 12 asks, every arrangement valid on the emulator."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from webex_meetings.conformance import QUICK, SCENARIOS, Scenario, UnknownScenarioError
from webex_meetings.conformance.runner import ENVIRONMENT
from webex_meetings.conformance.scenarios import Leftover, scenario_named, select
from webex_meetings.conformance.steps import CloseSessions, Fail, Omit, Variant
from webex_meetings.emulator import EmulatorThread

NAMES = [s.name for s in SCENARIOS]

REQUIRED = [
    "baseline",
    *(
        f"{step}-{status}"
        for step in ("catalog", "people-me", "device-post", "refresh-put", "delete", "upgrade")
        for status in (401, 403, 404, 429, 500, 503)
    ),
    "event-before-buffer-state",
    "registration-status",
    "catalog-host-port",
    "feature-high-availability",
    "omit-websocket-url",
    "omit-device-url",
    "omit-host-catalog",
    "omit-service-links",
    "omit-wdm",
    "missing-pong",
    *(f"close-{code}" for code in (1000, 1001, 1006, 3050, 4000, 4001, 4400, 4401, 4403)),
    "shutdown",
    "device-expired",
    "excessive-devices",
    "token-expired",
    "latency",
]


def test_every_case_of_the_issue_is_a_scenario() -> None:
    assert sorted(set(REQUIRED) - set(NAMES)) == []


def test_names_are_unique_and_quick_is_a_subset() -> None:
    assert len(NAMES) == len(set(NAMES))
    assert set(QUICK) <= set(NAMES)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=NAMES)
def test_each_scenario_says_in_one_line_what_it_checks(scenario: Scenario) -> None:
    assert scenario.description
    assert "\n" not in scenario.description
    assert scenario.expect.describe()
    assert scenario.arrangement()
    assert scenario.hold_ms > 0


def test_the_fault_matrix_is_arranged_as_documented() -> None:
    catalog = scenario_named("catalog-401")
    assert catalog.arrange == (Fail("u2c.catalog", 401, None),)
    assert catalog.expect.registers is False
    assert scenario_named("device-post-429").arrange == (Fail("wdm.register", 429, 1, 1.0),)
    assert scenario_named("device-post-503").expect.registers is None
    upgrade = scenario_named("upgrade-503")
    assert upgrade.arrange == (Fail("mercury.connect", 503, None),)
    assert ("MERCURY_CONNECT_ATTEMPTS", "3") in upgrade.env
    refresh = scenario_named("refresh-put-500")
    assert refresh.mid_session, "the refresh PUT is reached through a mid-session disruption"
    assert refresh.expect.recovers
    assert refresh.expect.reaches == "wdm.refresh"
    assert scenario_named("people-me-401").expect.registers is True
    assert scenario_named("delete-404").expect.leftover == Leftover.ANY


def test_steps_reach_what_the_issue_names() -> None:
    arranged = [step for s in SCENARIOS for step in s.arrange]
    assert Variant("mercury.event_before_buffer_state") in arranged
    assert Omit("device.webSocketUrl") in arranged
    codes = {step.code for step in arranged if isinstance(step, CloseSessions)}
    assert codes == {1000, 1001, 1006, 3050, 4000, 4001, 4400, 4401, 4403}


def test_scenario_environments_stay_within_the_contract() -> None:
    contract = {name for name, _ in ENVIRONMENT}
    used = {name for s in SCENARIOS for name, _ in s.env}
    assert used <= contract


def test_every_arrangement_is_accepted_by_the_emulator() -> None:
    """Each step is a valid control call (a misspelt route or variant would raise)."""
    with EmulatorThread(seed=0) as emulator:
        target = SimpleNamespace(control=emulator.control, token=emulator.issue_token())
        for scenario in SCENARIOS:
            for step in (*scenario.arrange, *scenario.mid_session):
                step.apply(target)
                assert step.describe()
            emulator.control.clear_faults()
            emulator.control.set_device_limit(100)


def test_selection_keeps_table_order_and_refuses_unknown_names() -> None:
    assert select() == SCENARIOS
    assert [s.name for s in select(["close-1006", "baseline", "baseline"])] == [
        "baseline",
        "close-1006",
    ]
    with pytest.raises(UnknownScenarioError, match="did you mean close-1006"):
        select(["close-106"])
    with pytest.raises(UnknownScenarioError, match="--list"):
        scenario_named("nothing-like-it")
