"""The baseline client: the official Webex JS SDK 3.12.0 driven by the shared ``register.mjs``.

The package's interop client is installed into the git-ignored ``.cache/interop/`` by
``webex_meetings.conformance.clients.install_js_sdk`` (the interop test uses the same folder,
so an SDK it installed is reused; ``npm install`` runs only when the pinned version is not
installed yet). Each run is one fresh ``node`` process; its own step
timestamps give register/unregister/total, and the wall time from spawn to exit is measured
here. ``POST_WAIT_MS=0`` makes it exit right after ``unregister()`` resolves.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from webex_meetings.conformance.clients import (
    ClientSetupError,
    NodeMissingError,
    install_js_sdk,
    installed_js_version,
)

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / ".cache" / "interop"
RUN_TIMEOUT = 90.0


@dataclass(frozen=True, slots=True)
class JsRun:
    """One ``node register.mjs`` run, in milliseconds."""

    register: float
    unregister: float
    total: float
    wall: float


def installed_version() -> str | None:
    """The JS SDK version installed in ``.cache/interop``, or ``None``."""
    return installed_js_version(CACHE)


def prepare() -> str | None:
    """Make ``.cache/interop`` runnable; returns why it cannot be, or ``None`` when ready."""
    try:
        install_js_sdk(CACHE, log=lambda line: print(line, flush=True))
    except (NodeMissingError, ClientSetupError) as error:
        return f"{error}: the JS SDK baseline is skipped"
    return None


def run_once(base_url: str) -> JsRun:
    """One cold ``node register.mjs`` against ``base_url``.

    :raises RuntimeError: the script did not register and unregister.
    """
    env = dict(os.environ, STUB_BASE=base_url, POST_WAIT_MS="0", HOLD_MS="0")
    env.pop("WEBEX_TOKEN", None)
    started = time.perf_counter()
    done = subprocess.run(
        ["node", "register.mjs"],
        cwd=CACHE,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    wall = (time.perf_counter() - started) * 1000
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    verdict = json.loads(lines[-1]) if lines else {}
    if done.returncode != 0 or verdict.get("ok") is not True:
        errors = verdict.get("errors") or done.stderr[-2000:]
        raise RuntimeError(f"register.mjs exited {done.returncode}: {errors}")
    durations = verdict["durations_ms"]
    return JsRun(
        register=durations["register"],
        unregister=durations["unregister"],
        total=durations["total_init_register_unregister"],
        wall=wall,
    )
