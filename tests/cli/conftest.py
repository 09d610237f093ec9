"""Fixtures for the command-line tests; the helpers live in ``cli_harness`` beside this file,
made importable here."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from webex_meetings.emulator import Emulator

sys.path.insert(0, str(Path(__file__).parent))

from cli_harness import LiveCli, cli_env


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
