"""The official Webex JavaScript SDK registers and unregisters against the emulator.

Runs the interop client ``register.mjs`` the package ships
(``src/webex_meetings/conformance/interop/``; installed with the pinned ``webex`` into the
git-ignored ``.cache/interop/`` by ``conformance.clients.install_js_sdk``, once) with
``STUB_BASE`` pointing at an emulator in a background thread, and checks both sides: the
script's JSON verdict and the emulator's record of violations. Skips only when Node.js or npm
is missing.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from webex_meetings.conformance.clients import NodeMissingError, install_js_sdk
from webex_meetings.emulator import EmulatorThread

pytestmark = pytest.mark.interop

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".cache" / "interop"


@pytest.fixture(scope="module")
def interop_client() -> Path:
    """The interop folder with the pinned SDK installed."""
    try:
        return install_js_sdk(CACHE)
    except NodeMissingError:
        pytest.skip("Node.js and npm are needed to run the official JS SDK (not installed)")


def _run(folder: Path, base_url: str, hold_ms: int) -> tuple[int, dict[str, Any], str]:
    env = dict(os.environ, STUB_BASE=base_url, HOLD_MS=str(hold_ms), POST_WAIT_MS="1500")
    env.pop("WEBEX_TOKEN", None)
    done = subprocess.run(
        ["node", "register.mjs"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120 + hold_ms / 1000,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    verdict = json.loads(lines[-1]) if lines else {}
    return done.returncode, verdict, done.stderr[-4000:]


@pytest.mark.parametrize(
    ("host", "hold_ms"),
    [("127.0.0.1", 0), ("127.0.0.1", 20000), ("localhost", 0)],
    ids=["immediate", "hold-20s", "via-localhost"],
)
def test_official_js_sdk_registers_and_unregisters(
    interop_client: Path, host: str, hold_ms: int
) -> None:
    with EmulatorThread(seed=0) as emulator:
        base_url = emulator.base_url.replace("127.0.0.1", host)
        code, verdict, stderr = _run(interop_client, base_url, hold_ms)
        violations = emulator.violations
        requests = emulator.requests
        connections = emulator.connections

    assert code == 0, f"register.mjs exited {code}: {verdict.get('errors')}\n{stderr}"
    assert verdict["ok"] is True
    assert verdict["registered"] is True
    assert verdict["unregistered"] is True
    assert verdict["blocked_non_local_connects"] == []
    assert verdict["non_local_http_requests"] == []
    assert verdict["non_local_dns_lookups"] == []
    assert violations == []

    routes = [r.route for r in requests]
    assert None not in routes, [r.path for r in requests if r.route is None]
    for expected in ("u2c.limited_catalog", "u2c.catalog", "hydra.people_me", "wdm.register"):
        assert expected in routes
    assert routes.index("wdm.register") < routes.index("mercury.connect")
    assert routes.index("mercury.connect") < routes.index("wdm.delete")
    assert all(r.status < 400 for r in requests)
    assert {r.host.rsplit(":", 1)[0] for r in requests} == {host}  # every URL kept its host

    [socket] = connections
    assert socket.authorized
    assert (socket.close_code, socket.closed_by) == (3050, "client")
    if hold_ms >= 15000:
        # The SDK pings right after buffer_state and again 15 s after the first pong.
        assert socket.pings >= 2
