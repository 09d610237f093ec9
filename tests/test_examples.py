"""Every script in ``examples/`` runs, as a user would run it, against the emulator.

Each script is started as a subprocess as its docstring says, with the emulator's base URL as
its argument and the token in ``WEBEX_ACCESS_TOKEN`` (the variable the library reads), against
an emulator in a background thread; once it prints ``registered:``, the test
pushes Mercury events and expects the script to print them, unregister and exit 0, leaving no
device behind. The pytest example runs under its own pytest. Every wait has a timeout.
"""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from webex_meetings.emulator import Emulator
from webex_meetings.webex import TOKEN_ENVIRONMENT_VARIABLE

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
TIMEOUT = 30.0
REGISTERING_SCRIPTS = (
    "asyncio_register.py",
    "trio_register.py",
    "blocking_register.py",
    "event_listener.py",
)
PYTEST_EXAMPLE = "test_my_bot.py"
EMBEDDING_EXAMPLE = "embed_stdlib.py"  # run by tests/test_embedding.py


class Script:
    """A running example whose stdout lines are read as they come."""

    def __init__(self, name: str, emu: Emulator) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(EXAMPLES / name), emu.base_url],
            env=example_env(emu),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.output: list[str] = []
        self._reader = threading.Thread(target=self._pump, daemon=True)
        self._reader.start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_for(self, prefix: str) -> str:
        while True:
            try:
                line = self.lines.get(timeout=TIMEOUT)
            except queue.Empty:
                raise AssertionError(f"no {prefix!r} line; output: {self.output}") from None
            if line is None:
                raise AssertionError(f"ended before {prefix!r}; output: {self.output}")
            self.output.append(line)
            if line.startswith(prefix):
                return line

    def finish(self) -> int:
        """Wait for the exit; every output line is then in ``output``."""
        code = self.process.wait(timeout=TIMEOUT)
        self._reader.join(timeout=TIMEOUT)
        while (line := self.lines.get_nowait()) is not None:
            self.output.append(line)
        return code

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=TIMEOUT)
        self._reader.join(timeout=TIMEOUT)
        if self.process.stdout is not None:
            self.process.stdout.close()


@pytest.fixture
def scripts() -> Iterator[list[Script]]:
    started: list[Script] = []
    yield started
    for script in started:
        script.close()


def example_env(emu: Emulator) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEBEX_")}
    env["WEBEX_ACCESS_TOKEN"] = emu.issue_token()
    env["PYTHONUNBUFFERED"] = "1"  # print() reaches the pipe at once, as on a terminal
    return env


def test_every_example_is_exercised() -> None:
    found = {path.name for path in EXAMPLES.glob("*.py")}
    assert found == {*REGISTERING_SCRIPTS, PYTEST_EXAMPLE, EMBEDDING_EXAMPLE}


@pytest.mark.parametrize("name", REGISTERING_SCRIPTS)
def test_example_registers_prints_events_and_unregisters(
    name: str, running_emulator: Emulator, scripts: list[Script]
) -> None:
    emu = running_emulator
    script = Script(name, emu)
    scripts.append(script)
    registered = script.wait_for("registered:")
    (device,) = emu.devices
    assert registered == f"registered: {device.url}"
    for n in range(3):
        emu.control.push_event({"eventType": "example.ping", "n": n})

    assert script.finish() == 0, script.output
    events = [line for line in script.output if line.startswith("event:")]
    assert events == [
        f"event: example.ping {{'eventType': 'example.ping', 'n': {n}}}" for n in range(3)
    ]
    assert emu.devices == []
    assert emu.violations == []


def test_event_listener_reports_the_lifecycle(
    running_emulator: Emulator, scripts: list[Script]
) -> None:
    script = Script("event_listener.py", running_emulator)
    scripts.append(script)
    script.wait_for("registered:")
    for n in range(4):  # one more than it waits for: off() stops the callback
        running_emulator.control.push_event({"eventType": "example.ping", "n": n})
    assert script.finish() == 0, script.output
    lifecycle = [line for line in script.output if line.startswith("lifecycle:")]
    assert lifecycle == [
        "lifecycle: meetings:ready",
        "lifecycle: meetings:registered",
        "lifecycle: meetings:unregistered",
    ]
    assert sum(line.startswith("event:") for line in script.output) == 3


ENVIRONMENT_READ = re.compile(r"os\.environ|os\.getenv|getenv\(|environ\[")
VARIABLE_NAMED = re.compile(r"\b(WEBEX_[A-Z_]+)\b")


@pytest.mark.parametrize("name", sorted({*REGISTERING_SCRIPTS, PYTEST_EXAMPLE}))
def test_examples_name_only_the_environment_the_library_reads(name: str) -> None:
    """An example must not suggest that the library reads a variable it ignores."""
    source = (EXAMPLES / name).read_text(encoding="utf-8")
    assert not ENVIRONMENT_READ.search(source), "the library reads the environment, not us"
    assert set(VARIABLE_NAMED.findall(source)) <= {TOKEN_ENVIRONMENT_VARIABLE}


def test_the_pytest_example_passes() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", str(EXAMPLES / PYTEST_EXAMPLE)],
        cwd=EXAMPLES.parent,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=2 * TIMEOUT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout
