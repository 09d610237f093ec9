"""Fixtures for the command-line tests; the helpers live in ``cli_harness`` beside this file,
made importable here."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from webex_meetings.cli import main
from webex_meetings.emulator import Emulator

sys.path.insert(0, str(Path(__file__).parent))

from cli_harness import LiveCli, cli_env

LOGGERS_MAIN_CONFIGURES = ("webex_meetings", "webex_meetings.adapters.driver")


@pytest.fixture
def start_cli() -> Iterator[Callable[..., LiveCli]]:
    """``start_cli(*args, token=..., terminal=False, **env)``: a started CLI, killed at the end
    of the test whatever happened."""
    started: list[LiveCli] = []

    def start(*args: str, token: str | None, terminal: bool = False, **env: str) -> LiveCli:
        cli = LiveCli(*args, env=cli_env(token, **env), terminal=terminal)
        started.append(cli)
        return cli

    yield start
    for cli in started:
        cli.close()


@pytest.fixture
def token(running_emulator: Emulator) -> str:
    return running_emulator.issue_token()


@pytest.fixture
def cli_main(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., subprocess.CompletedProcess[str]]]:
    """``cli_main(*args)``: the command line's ``main`` run in this process, for what ends
    before any I/O (usage errors, ``--help``); stdout, stderr and the exit code as a
    subprocess would give them. The logging ``main`` configures is put back afterwards."""
    loggers = [logging.getLogger(name) for name in LOGGERS_MAIN_CONFIGURES]
    saved = [(lg, list(lg.handlers), lg.level, lg.propagate) for lg in loggers]

    def run(*args: str, token: str = "unused") -> subprocess.CompletedProcess[str]:
        monkeypatch.setenv("WEBEX_ACCESS_TOKEN", token)
        monkeypatch.delenv("SSL_CERT_FILE", raising=False)
        try:
            code = main(list(args))
        except SystemExit as stop:  # argparse's usage errors and --help
            code = stop.code if isinstance(stop.code, int) else 2
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out, err)

    yield run
    for logger, handlers, level, propagate in saved:
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate
