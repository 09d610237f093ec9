"""Fixtures for adapter tests: every async test runs on three combinations, anyio on
asyncio, anyio on trio, and the native trio runtime on trio (``combo``). The fakes live in
``adapter_fakes.py`` beside this file, made importable here."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from webex_meetings.adapters.runtime import Runtime
from webex_meetings.options import resolve_runtime

sys.path.insert(0, str(Path(__file__).parent))

COMBOS = {
    "asyncio-anyio": ("asyncio", "anyio"),
    "trio-anyio": ("trio", "anyio"),
    "trio-native": ("trio", "trio"),
}


@pytest.fixture(params=list(COMBOS))
def combo(request: pytest.FixtureRequest) -> tuple[str, str]:
    return COMBOS[request.param]


@pytest.fixture
def anyio_backend(combo: tuple[str, str]) -> str:
    return combo[0]


@pytest.fixture
def runtime_name(combo: tuple[str, str]) -> str:
    return combo[1]


@pytest.fixture
def runtime(runtime_name: str) -> Runtime:
    return resolve_runtime(runtime_name)
