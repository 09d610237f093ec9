"""The kit's outputs: terminal rows, JSON, JUnit XML, markdown; the README's tables equal to
the recorded runs."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from webex_meetings.conformance import Finding, Outcome, Run, Verdict, scenarios
from webex_meetings.conformance.report import (
    BEGIN_MARKER,
    END_MARKER,
    junit_xml,
    main,
    replace_section,
    report_json,
    side_by_side,
    summary_line,
    table_row,
)

REPO = Path(__file__).resolve().parents[2]
DATA = Path(__file__).parent / "data"
RECORDED = [DATA / "python.json", DATA / "js.json"]

WARNING = Finding("emulator:unacked_event", "warning", "event e1 was never acked", "§3.4")
ERROR = Finding("nothing-left", "error", "left 1 device live at the end")


def _run(name: str, outcome: str, reason: str, *findings: Finding) -> Run:
    verdict = Verdict(name, outcome, reason, 2.25, tuple(findings), True, 0, 1)
    return Run(scenarios.scenario_named(name), verdict, "")


RUNS = [
    _run("baseline", Outcome.PASS, "registered, device deleted", WARNING),
    _run("delete-503", Outcome.FAIL, "left 1 device live at the end", ERROR),
    _run("upgrade-404", Outcome.HANG, "did not end within 20 s; never registered"),
]


def test_a_row_is_one_line_with_verdict_time_and_reason() -> None:
    row = table_row(RUNS[0].verdict)
    assert row.split()[:4] == ["baseline", "pass", "2.2", "s"]
    assert row.endswith("registered, device deleted [1 warning]")
    assert summary_line([r.verdict for r in RUNS]) == "3 scenarios: 1 pass, 1 fail, 1 hang (7 s)"


def test_the_json_report_holds_every_verdict_and_its_rules() -> None:
    report = report_json(RUNS, client="python", timeout=20.0)
    assert report["summary"] == {"pass": 1, "fail": 1, "hang": 1}
    failed = report["scenarios"][1]
    assert failed["verdict"] == "fail"
    assert failed["rules_violated"] == ["nothing-left"]
    assert failed["description"] == scenarios.scenario_named("delete-503").description
    assert failed["findings"][0]["reference"].startswith("protocol-notes.md")
    json.dumps(report)


def test_junit_marks_a_fail_as_failure_and_a_hang_as_error() -> None:
    suite = ET.fromstring(junit_xml(RUNS, client="js"))
    assert suite.attrib["tests"] == "3"
    assert (suite.attrib["failures"], suite.attrib["errors"]) == ("1", "1")
    cases = {case.attrib["name"]: case for case in suite.iter("testcase")}
    assert cases["baseline"].find("failure") is None
    assert "never acked" in (cases["baseline"].findtext("system-out") or "")
    failure = cases["delete-503"].find("failure")
    assert failure is not None
    assert failure.attrib["message"] == "left 1 device live at the end"
    error = cases["upgrade-404"].find("error")
    assert error is not None
    assert error.attrib["type"] == "hang"


def test_side_by_side_has_a_column_per_client_and_a_row_per_scenario() -> None:
    python = report_json(RUNS[:2], client="python", timeout=20.0)
    js = report_json(RUNS[1:], client="js", timeout=20.0)
    table = side_by_side([python, js]).splitlines()
    assert table[0] == "| scenario | python | js |"
    assert table[2] == "| `baseline` | pass (2.2 s) | not run |"
    assert table[3].startswith("| `delete-503` | **fail** (2.2 s): left 1 device")
    assert table[-1] == "| **total** | 1 pass, 1 fail, 0 hang | 0 pass, 1 fail, 1 hang |"


def test_a_pipe_in_a_reason_does_not_break_the_table() -> None:
    report = report_json([_run("baseline", Outcome.FAIL, "a | b")], client="x", timeout=1.0)
    assert "a \\| b" in side_by_side([report])


def test_replace_section_needs_its_markers() -> None:
    document = f"head\n{BEGIN_MARKER}\nold\n{END_MARKER}\ntail\n"
    assert (
        replace_section(document, "new\n") == f"head\n{BEGIN_MARKER}\n\nnew\n\n{END_MARKER}\ntail\n"
    )
    with pytest.raises(ValueError, match="markers"):
        replace_section("no markers", "x")


def test_the_readme_shows_the_recorded_verdicts_of_both_clients() -> None:
    reports = [json.loads(path.read_text()) for path in RECORDED]
    assert [r["client"] for r in reports] == ["python", "js"]
    readme = (REPO / "README.md").read_text()
    expected = replace_section(readme, side_by_side(reports))
    assert readme == expected, (
        "the README's conformance tables differ from tests/conformance/data: run "
        "`python -m webex_meetings.conformance.report --write README.md "
        "tests/conformance/data/python.json tests/conformance/data/js.json`"
    )


def test_the_report_module_prints_and_writes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recorded = tmp_path / "r.json"
    recorded.write_text(json.dumps(report_json(RUNS, client="python", timeout=20.0)))
    assert main([str(recorded)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("| scenario | python |")
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n{BEGIN_MARKER}\n{END_MARKER}\n")
    assert main(["--write", str(readme), str(recorded)]) == 0
    assert printed in readme.read_text()


def test_the_readme_section_documents_the_command_and_its_environment() -> None:
    from webex_meetings.cli import build_parser
    from webex_meetings.conformance import ENVIRONMENT

    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## Conformance kit") : readme.index(BEGIN_MARKER)]
    for name, _ in ENVIRONMENT:
        assert f"`{name}`" in section, name
    [subparsers] = [a for a in build_parser()._actions if a.dest == "command"]
    parser = subparsers.choices["conformance"]  # type: ignore[index]
    options = {o for a in parser._actions for o in a.option_strings if o.startswith("--")}
    undocumented = {o for o in options - {"--help", "--verbose", "--seed"} if o not in section}
    assert undocumented == set()
