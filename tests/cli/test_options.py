"""The command line's options: no abbreviations, ``-v`` anywhere, what each verbosity shows,
``--version`` and ``python -m webex_meetings``, and every numeric option validated."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections.abc import Callable

import pytest
from cli_harness import TIMEOUT, cli_env

from webex_meetings import __version__
from webex_meetings.cli import build_parser
from webex_meetings.emulator import Emulator

CliMain = Callable[..., subprocess.CompletedProcess[str]]


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(actions[0].choices)


# -- abbreviations -------------------------------------------------------------------------------


def test_no_parser_accepts_abbreviations() -> None:
    parser = build_parser()
    assert parser.allow_abbrev is False
    assert all(sub.allow_abbrev is False for sub in subparsers(parser).values())


@pytest.mark.parametrize(
    "args",
    [
        ("register", "--token", "secret-in-a-file-name"),
        ("devices", "list", "--token", "x"),
        ("devices", "prune", "--older", "7d"),
        ("register", "--cl", "http://127.0.0.1:1"),
        ("demo", "--ev", "2"),
        ("--verb", "demo"),
    ],
)
def test_an_abbreviated_option_is_refused(cli_main: CliMain, args: tuple[str, ...]) -> None:
    result = cli_main(*args)
    assert result.returncode == 2
    assert "unrecognized arguments" in result.stderr or "invalid choice" in result.stderr
    assert "cannot read --token-file" not in result.stderr


# -- -v, -vv, -vvv -------------------------------------------------------------------------------


def register_once(emu: Emulator, *flags: str) -> subprocess.CompletedProcess[str]:
    """Register, receive one event, unregister: the CLI runs until Mercury's end (a 4000
    close, as when another connection replaces this one)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "webex_meetings.cli", *flags],
        env=cli_env(emu.issue_token()),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        seen = []
        for line in process.stdout:
            seen.append(line)
            if "registered: " in line:
                emu.control.close_connections(4000, "replaced")
                break
        stdout, stderr = process.communicate(timeout=TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=TIMEOUT)
    return subprocess.CompletedProcess(
        process.args, process.returncode, "".join(seen) + stdout, stderr
    )


@pytest.mark.parametrize("where", ["before", "after"])
def test_v_shows_every_request_before_or_after_the_subcommand(
    running_emulator: Emulator, where: str
) -> None:
    cloud = ("--cloud", running_emulator.base_url)
    flags = ("-v", "register", *cloud) if where == "before" else ("register", "-v", *cloud)
    result = register_once(running_emulator, *flags)
    assert result.returncode == 7, result.stderr
    for step in (r"GET /u2c/api/v1/catalog -> 200", r"POST /wdm/api/v1/devices -> 200"):
        assert re.search(rf"http +{step} \(\d+\.\d ms\)", result.stdout), result.stdout
    assert re.search(r"DELETE /wdm/api/v1/devices/\S+ -> 204", result.stdout)


def test_without_v_successful_requests_are_not_shown(running_emulator: Emulator) -> None:
    result = register_once(running_emulator, "register", "--cloud", running_emulator.base_url)
    assert result.returncode == 7, result.stderr
    assert " http " not in result.stdout
    assert result.stderr == ""


def test_vv_is_the_librarys_debug_log_without_the_drivers_trace(
    running_emulator: Emulator,
) -> None:
    cloud = ("--cloud", running_emulator.base_url)
    debug = register_once(running_emulator, "register", "-vv", *cloud).stderr.splitlines()
    trace = register_once(running_emulator, "-vvv", "register", *cloud).stderr.splitlines()
    line = re.compile(r"^\d\d:\d\d:\d\d\.\d{3} webex-meetings (DEBUG|INFO|WARNING) [\w.]+: ")
    assert debug
    assert all(line.match(record) for record in debug), debug
    assert any("webex_meetings.core" in record for record in debug)
    assert not any("webex_meetings.adapters.driver" in record for record in debug)
    assert sum("webex_meetings.adapters.driver" in record for record in trace) > 20
    assert len(debug) < len(trace) / 5


# -- --version, python -m ------------------------------------------------------------------------


@pytest.mark.parametrize("module", ["webex_meetings", "webex_meetings.cli"])
def test_version(module: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", module, "--version"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 0
    assert result.stdout.strip() == f"webex-meetings {__version__}"


def test_python_m_webex_meetings_runs_the_command_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "webex_meetings", "spec", "--format", "mermaid"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("stateDiagram-v2")


# -- numbers --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "phrase"),
    [
        (("demo", "--events", "-1"), "-1 is out of range (0 to 1000)"),
        (("demo", "--events", "1001"), "1001 is out of range (0 to 1000)"),
        (("demo", "--events", "three"), "not a whole number: 'three'"),
        (("demo", "--events", "1e3"), "not a whole number"),
        (("devices", "prune", "--older-than=-5m"), "a duration cannot be negative"),
        (("devices", "prune", "--older-than", "inf"), "not a duration"),
        (("devices", "prune", "--older-than", "soon"), "not a duration"),
    ],
)
def test_numbers_are_validated(cli_main: CliMain, args: tuple[str, ...], phrase: str) -> None:
    result = cli_main(*args)
    assert result.returncode == 2
    assert phrase in result.stderr


def test_help_documents_the_exit_codes_and_verbosity(cli_main: CliMain) -> None:
    result = cli_main("--help")
    assert result.returncode == 0
    for code in ("0", "1", "2", "3", "4", "5", "6", "7", "130", "141"):
        assert re.search(rf"^ +{code}  \S", result.stdout, re.MULTILINE), code
    assert "-vv" in result.stdout
