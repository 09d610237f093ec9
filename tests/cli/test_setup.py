"""The first minutes: ``make demo`` says it installs before it does, the install prints no
license deprecation, and the package's metadata is the modern kind."""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_the_first_make_demo_says_it_installs_first(tmp_path: Path) -> None:
    outer_make = ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES")  # when run by `make test`
    env = {k: v for k, v in os.environ.items() if k not in outer_make}
    dry_run = subprocess.run(
        ["make", "-n", "--no-print-directory", "demo", f"VENV={tmp_path / 'fresh-venv'}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert dry_run.returncode == 0, dry_run.stderr
    commands = dry_run.stdout.splitlines()
    assert re.match(r"echo .*installing webex-meetings .*first", commands[0]), commands
    assert "-m venv" in commands[1]
    assert commands[-1].endswith("webex-meetings demo")


def test_the_license_is_an_spdx_expression() -> None:
    """setuptools >= 77 deprecates the ``license = {text = ...}`` table (it printed a warning
    box three times per install); an SPDX expression is what it wants."""
    metadata = importlib.metadata.metadata("webex-meetings")
    assert metadata.get("License-Expression") == "MIT"
    assert metadata.get("License") is None
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'^license = "MIT"$', pyproject, re.MULTILINE)
    assert re.search(r'requires = \["setuptools>=(\d+)"\]', pyproject)
    (minimum,) = re.findall(r'requires = \["setuptools>=(\d+)"\]', pyproject)
    assert int(minimum) >= 77  # the first setuptools that reads an SPDX license string
