"""The kit ships the interop script the test suite runs: the two copies are the same."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

TESTS_COPY = Path(__file__).resolve().parents[1] / "emulator" / "interop"


@pytest.mark.parametrize("name", ["register.mjs", "package.json"])
def test_the_shipped_interop_files_equal_the_tests_copies(name: str) -> None:
    shipped = resources.files("webex_meetings.conformance") / "interop" / name
    assert shipped.read_bytes() == (TESTS_COPY / name).read_bytes()
