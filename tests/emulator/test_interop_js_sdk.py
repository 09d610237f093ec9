"""The official Webex JavaScript SDK registers and unregisters against the emulator.

Runs the shared interop client ``register.mjs`` (a copy lives in ``tests/emulator/interop/``;
it is copied with its ``package.json`` into the
git-ignored ``.cache/interop/``; ``npm install`` of the pinned ``webex`` happens once) with
``STUB_BASE`` pointing at an emulator in a background thread, and checks both sides: the
script's JSON verdict and the emulator's record of violations. Skips only when Node.js or npm
is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from webex_meetings.emulator import EmulatorThread

pytestmark = pytest.mark.interop

REPO = Path(__file__).resolve().parents[2]
SOURCE_CANDIDATES = (Path(__file__).parent / "interop", REPO.parent / "shared" / "interop")
CACHE = REPO / ".cache" / "interop"
PINNED = "3.12.0"


def _source() -> Path:
    for folder in SOURCE_CANDIDATES:
        if (folder / "register.mjs").is_file() and (folder / "package.json").is_file():
            return folder
    pytest.fail("the interop client (register.mjs, package.json) was not found")


def _installed_version() -> str | None:
    manifest = CACHE / "node_modules" / "webex" / "package.json"
    try:
        return str(json.loads(manifest.read_text())["version"])
    except (OSError, ValueError, KeyError):
        return None


@pytest.fixture(scope="module")
def interop_client() -> Path:
    """The interop folder with the pinned SDK installed."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("Node.js and npm are needed to run the official JS SDK (not installed)")
    CACHE.mkdir(parents=True, exist_ok=True)
    source = _source()
    for name in ("package.json", "register.mjs"):
        target = CACHE / name
        target.unlink(missing_ok=True)
        shutil.copyfile(source / name, target)
    if _installed_version() != PINNED:
        subprocess.run(
            [npm, "install", "--no-audit", "--no-fund"],
            cwd=CACHE,
            check=True,
            capture_output=True,
            timeout=900,
        )
    assert _installed_version() == PINNED
    return CACHE


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
