"""The baseline client: the official Webex JS SDK 3.12.0 driven by the shared ``register.mjs``.

The client folder is copied into the git-ignored ``.cache/interop/`` (the interop test uses
the same folder, so an SDK it installed is reused) and ``npm install`` runs there only when the
pinned version is not installed yet. Each run is one fresh ``node`` process; its own step
timestamps give register/unregister/total, and the wall time from spawn to exit is measured
here. ``POST_WAIT_MS=0`` makes it exit right after ``unregister()`` resolves.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / ".cache" / "interop"
SOURCES = (REPO.parent / "shared" / "interop", REPO / "tests" / "emulator" / "interop")
PINNED = "3.12.0"
RUN_TIMEOUT = 90.0
INSTALL_TIMEOUT = 900.0


@dataclass(frozen=True, slots=True)
class JsRun:
    """One ``node register.mjs`` run, in milliseconds."""

    register: float
    unregister: float
    total: float
    wall: float


def installed_version() -> str | None:
    manifest = CACHE / "node_modules" / "webex" / "package.json"
    try:
        return str(json.loads(manifest.read_text())["version"])
    except (OSError, ValueError, KeyError):
        return None


def _source() -> Path | None:
    for folder in SOURCES:
        if (folder / "register.mjs").is_file() and (folder / "package.json").is_file():
            return folder
    return None


def prepare() -> str | None:
    """Make ``.cache/interop`` runnable; returns why it cannot be, or ``None`` when ready."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        return "Node.js/npm not found: the JS SDK baseline is skipped"
    source = _source()
    if source is None:
        return "register.mjs/package.json not found: the JS SDK baseline is skipped"
    CACHE.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "register.mjs"):
        target = CACHE / name
        if not target.is_file() or target.read_bytes() != (source / name).read_bytes():
            shutil.copyfile(source / name, target)
    if installed_version() != PINNED:
        print(f"installing webex {PINNED} into {CACHE} (once)...", flush=True)
        done = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund"],
            cwd=CACHE,
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT,
            check=False,
        )
        if done.returncode != 0 or installed_version() != PINNED:
            return f"npm install failed ({done.returncode}): the JS SDK baseline is skipped"
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
