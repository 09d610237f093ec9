"""Shared test configuration.

* Every async test runs on asyncio and on trio (anyio's ``anyio_backend`` fixture).
* The whole run stays on loopback: ``loopback_only`` refuses to resolve or connect to any
  other host, so no test can reach a real Webex service, whatever its configuration.
"""

from __future__ import annotations

import loopback_only
import pytest

loopback_only.install()


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)
