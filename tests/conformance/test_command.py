"""``webex-meetings conformance``: options, exit codes, outputs, any client after ``--``.

The runs here use tiny stand-in clients (a command that does nothing, one that never ends)
and our reference client through ``-- COMMAND``; each is bounded by a short ``--timeout``.
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from webex_meetings.cli import main
from webex_meetings.commands.conformance import (
    EXIT_FAIL,
    EXIT_HANG,
    EXIT_NO_NODE,
    EXIT_PASS,
    EXIT_USAGE,
)
from webex_meetings.conformance import SCENARIOS

REFERENCE = [sys.executable, "-m", "webex_meetings.conformance.reference_client"]
DOES_NOTHING = [sys.executable, "-c", "pass"]
NEVER_ENDS = [sys.executable, "-c", "import signal; signal.pause()"]


def test_list_prints_every_scenario_with_what_it_checks(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["conformance", "--list"]) == EXIT_PASS
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(SCENARIOS)
    for line, scenario in zip(lines, SCENARIOS, strict=True):
        assert line.split()[0] == scenario.name
        assert line.endswith(scenario.description)


def test_help_documents_the_environment_rules_and_exit_codes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["conformance", "--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    for name in ("STUB_BASE", "WEBEX_ACCESS_TOKEN", "WEBEX_TOKEN", "HOLD_MS", "retry-after"):
        assert name in text
    assert "3  a scenario hung" in text
    assert "4  --client js" in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "give one client"),
        (["--client", "python", "--", *DOES_NOTHING], "give one client"),
        (["--client", "python", "--scenario", "baselin"], "did you mean baseline"),
        (["--", "/nonexistent/client"], "command not found"),
        (["--client", "python", "--junit", "/nonexistent/dir/j.xml"], "no folder"),
    ],
    ids=["no-client", "two-clients", "unknown-scenario", "missing-command", "junit-folder"],
)
def test_usage_errors_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["conformance", *argv]) == EXIT_USAGE
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("timeout", ["0", "-1", "nan", "inf", "soon"])
def test_a_bad_timeout_is_refused_by_the_parser(timeout: str) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["conformance", "--client", "python", "--timeout", timeout])
    assert exited.value.code == EXIT_USAGE


def test_without_node_the_js_client_says_so_and_exits_4(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    code = main(["conformance", "--client", "js", "--js-folder", str(tmp_path / "js")])
    assert code == EXIT_NO_NODE
    assert "needs Node.js and npm" in capsys.readouterr().err


def test_a_client_that_does_nothing_fails_and_a_report_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junit = tmp_path / "junit.xml"
    argv = ["conformance", "--scenario", "baseline", "--json", "--junit", str(junit)]
    assert main([*argv, "--timeout", "10", "--", *DOES_NOTHING]) == EXIT_FAIL
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    [entry] = report["scenarios"]
    assert entry["verdict"] == "fail"
    assert entry["reason"] == "never registered: no device was created"
    assert "baseline" in captured.err  # the progress table goes to stderr with --json
    suite = ET.parse(junit).getroot()
    assert suite.attrib["failures"] == "1"


def test_a_client_that_never_ends_is_a_hang(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["conformance", "--scenario", "baseline", "--timeout", "1", "--", *NEVER_ENDS]
    assert main(argv) == EXIT_HANG
    out = capsys.readouterr().out
    assert "hang" in out
    assert "did not end within 1 s" in out


def test_any_command_is_a_client_given_the_environment(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["conformance", "--scenario", "baseline", "--markdown", "--timeout", "20"]
    assert main([*argv, "--", *REFERENCE]) == EXIT_PASS
    out = capsys.readouterr().out
    assert out.startswith(f"| scenario | {Path(sys.executable).name} |")
    assert "| `baseline` | pass (" in out
