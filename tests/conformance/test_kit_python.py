"""The kit against our own client: every scenario should pass.

The quick suite runs a representative subset (:data:`~webex_meetings.conformance.QUICK`); the
whole table runs under the ``conformance_full`` marker (``make test-long``). The recorded run
(``data/python.json``, the README's table) must show every scenario passed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

import pytest

from webex_meetings.conformance import QUICK, SCENARIOS, Kit, Outcome, Run
from webex_meetings.conformance.clients import python_client
from webex_meetings.conformance.scenarios import scenario_named

TIMEOUT: Final = 20.0
RECORDED: Final = Path(__file__).parent / "data" / "python.json"


def _param(name: str, *marks: pytest.MarkDecorator) -> Any:
    return pytest.param(name, marks=marks, id=name)


def _run(name: str) -> Run:
    [run] = Kit(python_client(), timeout=TIMEOUT).run([scenario_named(name)])
    return run


def _assert_passes(run: Run) -> None:
    verdict = run.verdict
    assert verdict.outcome == Outcome.PASS, (
        f"{verdict.scenario}: {verdict.outcome}: {verdict.reason}\n"
        + "\n".join(f"  [{f.severity}] {f.rule}: {f.message}" for f in verdict.findings)
        + f"\nclient output:\n{run.output}"
    )
    unmet = [w.message for w in verdict.warnings if w.rule == "reaches"]
    assert unmet == [], "the arrangement must reach the faulted step"


@pytest.mark.parametrize("name", [_param(name) for name in QUICK])
def test_our_client_passes_the_quick_scenarios(name: str) -> None:
    _assert_passes(_run(name))


@pytest.mark.parametrize(
    "name",
    [_param(s.name, pytest.mark.conformance_full) for s in SCENARIOS if s.name not in QUICK],
)
def test_our_client_passes_every_scenario(name: str) -> None:
    _assert_passes(_run(name))


def test_the_recorded_run_passes_every_scenario() -> None:
    report = json.loads(RECORDED.read_text())
    assert report["client"] == "python"
    verdicts = {entry["scenario"]: entry["verdict"] for entry in report["scenarios"]}
    assert sorted(verdicts) == sorted(s.name for s in SCENARIOS)
    not_passed = {name for name, verdict in verdicts.items() if verdict != Outcome.PASS}
    assert not_passed == set()
    assert Outcome.HANG not in verdicts.values()
