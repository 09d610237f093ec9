"""The embedding contract (docs/embedding.md) is enough to write a driver: the standard-library
example registers, receives an event and unregisters against the emulator.

The example runs as a user would run it, in its own process (so nothing of anyio, trio or
httpx is imported by it: checked below), against an emulator in a background thread.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from webex_meetings.core import effects, inputs
from webex_meetings.emulator import Emulator

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "embed_stdlib.py"
TIMEOUT = 30.0


@pytest.fixture
def example(running_emulator: Emulator) -> Iterator[subprocess.Popen[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEBEX_")}
    env |= {
        "WEBEX_CLOUD_URL": running_emulator.base_url,
        "WEBEX_ACCESS_TOKEN": running_emulator.issue_token(),
        "PYTHONUNBUFFERED": "1",
    }
    # Fails the import of anyio, trio and httpx in the example's process: it must not need them.
    code = (
        "import sys, runpy\n"
        "for name in ('anyio', 'trio', 'httpx', 'sniffio'):\n"
        "    sys.modules[name] = None\n"
        f"runpy.run_path({str(EXAMPLE)!r}, run_name='__main__')\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    yield process
    if process.poll() is None:
        process.kill()
    process.wait(timeout=TIMEOUT)
    if process.stdout is not None:
        process.stdout.close()


def _read_line(process: subprocess.Popen[str]) -> str:
    """The next line of output, within the timeout."""
    assert process.stdout is not None
    found: list[str] = []
    reader = threading.Thread(target=lambda: found.append(process.stdout.readline()))  # type: ignore[union-attr]
    reader.start()
    reader.join(TIMEOUT)
    assert found, "no output line in time"
    return found[0].rstrip("\n")


def test_a_stdlib_driver_registers_receives_an_event_and_unregisters(
    running_emulator: Emulator, example: subprocess.Popen[str]
) -> None:
    registered = _read_line(example)
    (device,) = running_emulator.devices
    assert registered == f"registered: {device.url}"
    running_emulator.control.push_event({"eventType": "embed.ping", "n": 1})
    assert _read_line(example) == "event: embed.ping {'eventType': 'embed.ping', 'n': 1}"
    assert _read_line(example) == "unregistered"
    assert example.wait(timeout=TIMEOUT) == 0
    assert running_emulator.devices == []
    assert running_emulator.violations == []


def test_the_example_stays_short() -> None:
    """If a driver needs more than this, the contract is too big."""
    code = [line for line in EXAMPLE.read_text().splitlines() if line.strip()]
    assert len(code) <= 280


DOC = Path(__file__).resolve().parent.parent / "docs" / "embedding.md"


def _documented(heading: str) -> set[str]:
    """The names in the first column of the table under ``## heading``."""
    section = DOC.read_text().split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `(\w+)\(", section, flags=re.MULTILINE))


def _concrete(module: object, base: type) -> set[str]:
    return {
        name
        for name in getattr(module, "__all__")  # noqa: B009
        if isinstance(cls := getattr(module, name), type)
        and issubclass(cls, base)
        and cls is not base
    }


def test_the_contract_documents_every_input_and_effect() -> None:
    assert _documented("Inputs") == _concrete(inputs, inputs.Input)
    assert _documented("Effects") == _concrete(effects, effects.Effect)


def test_the_example_runs_every_effect() -> None:
    spec = importlib.util.spec_from_file_location("embed_stdlib", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert {cls.__name__ for cls in module.RUNNERS} == _concrete(effects, effects.Effect)
