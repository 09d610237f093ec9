"""pytest plugin (the ``pytest11`` entry point): fixtures giving tests a running emulator.

* ``emulator``: an :class:`~webex_meetings.emulator.Emulator` running in the test's own event
  loop, for ``@pytest.mark.anyio`` tests (asyncio or trio, whichever ``anyio_backend`` says).
* ``running_emulator``: an emulator on its own loop in a background thread, for blocking tests
  and for clients in subprocesses; its control API is safe to call from the test.

Options for both come from the ``emulator`` marker, e.g.
``@pytest.mark.emulator(seed=3, device_limit=2, mercury_auth_deadline=0.5)``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from .emulator import Emulator, EmulatorThread

__all__ = ["emulator", "running_emulator"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "emulator(**options): keyword options for the emulator fixtures"
    )


def _options(request: pytest.FixtureRequest) -> dict[str, Any]:
    marker = request.node.get_closest_marker("emulator")
    return dict(marker.kwargs) if marker is not None else {}


@pytest.fixture
async def emulator(request: pytest.FixtureRequest, anyio_backend: Any) -> AsyncIterator[Emulator]:
    """A running emulator in the test's event loop (``@pytest.mark.anyio`` tests)."""
    async with Emulator(**_options(request)) as running:
        yield running


@pytest.fixture
def running_emulator(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    """A running emulator in a background thread (blocking tests, subprocess clients)."""
    with EmulatorThread(**_options(request)) as running:
        yield running
