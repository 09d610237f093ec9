"""The clients the kit can run: ours, the official JS SDK, or any command.

A :class:`Client` is a command line, a working folder and the environment it needs beyond the
kit's own (see :data:`webex_meetings.conformance.ENVIRONMENT`):

* ``python``: :mod:`.reference_client`, our library through its public async face, run with
  this interpreter;
* ``js``: the official Webex JavaScript SDK (npm ``webex``, pinned) through the interop script
  the test suite also runs (``register.mjs``, shipped in this package). The script and its
  ``package.json`` are copied into a cache folder and ``npm install`` runs there once. The
  script's own step watchdog (``STEP_TIMEOUT_MS``) is set beyond the kit's timeout, so a step
  the SDK never finishes shows as the hang it is, and ``POST_WAIT_MS=0`` (no lingering for
  telemetry after unregister);
* a command: anything else, run as given.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Final

__all__ = [
    "JS_SDK_VERSION",
    "Client",
    "ClientSetupError",
    "NodeMissingError",
    "command_client",
    "default_js_folder",
    "install_js_sdk",
    "js_client",
    "python_client",
]

JS_SDK_VERSION: Final = "3.12.0"
"""The ``webex`` npm package the interop script pins."""
INTEROP_FILES: Final = ("package.json", "register.mjs")
NPM_INSTALL_TIMEOUT: Final = 900.0
STEP_TIMEOUT_MARGIN: Final = 60.0
"""Seconds the interop script's own step watchdog waits beyond the kit's timeout."""


class ClientSetupError(Exception):
    """The client cannot be made ready to run (the message says why and what to do)."""


class NodeMissingError(ClientSetupError):
    """Node.js or npm is not installed."""


@dataclass(frozen=True, slots=True)
class Client:
    """How to start one client run."""

    name: str
    argv: tuple[str, ...]
    cwd: Path | None = None
    env: tuple[tuple[str, str], ...] = ()
    """Client-specific environment, added to the kit's."""
    timeout_env: tuple[str, ...] = field(default=())
    """Variables set to the kit's timeout plus a margin, in milliseconds (watchdogs the
    client has of its own, pushed out of the way so a hang shows)."""

    def environment(self, base: dict[str, str], timeout: float) -> dict[str, str]:
        """``base`` (the kit's variables over this process's environment) plus the client's."""
        env = dict(base)
        env.update(self.env)
        for name in self.timeout_env:
            env[name] = str(int((timeout + STEP_TIMEOUT_MARGIN) * 1000))
        return env


def python_client() -> Client:
    """Our own library, through :mod:`.reference_client`."""
    return Client("python", (sys.executable, "-m", "webex_meetings.conformance.reference_client"))


def command_client(argv: list[str] | tuple[str, ...]) -> Client:
    """Any command, run as given from the current folder.

    :raises ClientSetupError: the command is empty or not found.
    """
    if not argv:
        raise ClientSetupError("no command given after --")
    if shutil.which(argv[0]) is None and not Path(argv[0]).is_file():
        raise ClientSetupError(f"command not found: {argv[0]}")
    return Client(Path(argv[0]).name, tuple(argv))


def default_js_folder() -> Path:
    """Where the JS SDK is installed by default: ``$XDG_CACHE_HOME`` (or ``~/.cache``)
    ``/webex-meetings/interop-<version>``."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "webex-meetings" / f"interop-{JS_SDK_VERSION}"


def install_js_sdk(folder: Path | None = None, *, log: Callable[[str], None] | None = None) -> Path:
    """The interop script with the pinned official JS SDK, ready to run in ``folder`` (the
    default: :func:`default_js_folder`); the npm install happens once. The one place the kit,
    the tests and the benchmarks get the official SDK from.

    ``log`` takes one line of progress (the npm install, which takes a minute).

    :raises NodeMissingError: ``node`` or ``npm`` is not on the PATH.
    :raises ClientSetupError: ``npm install`` failed.
    """
    _, npm = _node_and_npm()
    target = folder or default_js_folder()
    _copy_interop_files(target)
    if installed_js_version(target) != JS_SDK_VERSION:
        if log is not None:
            log(f"installing the JS SDK (npm webex {JS_SDK_VERSION}) into {target}, once ...")
        _npm_install(npm, target)
    return target


def js_client(folder: Path | None = None, *, log: Callable[[str], None] | None = None) -> Client:
    """The official JS SDK through the interop script (see :func:`install_js_sdk`).

    :raises NodeMissingError: ``node`` or ``npm`` is not on the PATH.
    :raises ClientSetupError: ``npm install`` failed.
    """
    target = install_js_sdk(folder, log=log)
    node, _ = _node_and_npm()
    return Client(
        "js",
        (node, "register.mjs"),
        cwd=target,
        env=(("POST_WAIT_MS", "0"),),
        timeout_env=("STEP_TIMEOUT_MS",),
    )


def _node_and_npm() -> tuple[str, str]:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        missing = " and ".join(n for n, p in (("node", node), ("npm", npm)) if p is None)
        raise NodeMissingError(
            f"the official JS SDK needs Node.js and npm ({missing} not found on PATH): "
            "install Node.js 18 or later (it brings npm), or run --client python"
        )
    return node, npm


def installed_js_version(folder: Path) -> str | None:
    """The version of ``webex`` installed in ``folder``, or ``None``."""
    manifest = folder / "node_modules" / "webex" / "package.json"
    try:
        version = json.loads(manifest.read_text())["version"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return version if isinstance(version, str) else None


def _copy_interop_files(target: Path) -> None:
    try:
        target.mkdir(parents=True, exist_ok=True)
        source = resources.files("webex_meetings.conformance") / "interop"
        for name in INTEROP_FILES:
            data = (source / name).read_bytes()
            path = target / name
            if not path.is_file() or path.read_bytes() != data:
                path.write_bytes(data)
    except OSError as error:
        raise ClientSetupError(f"cannot prepare the JS client in {target}: {error}") from None


def _npm_install(npm: str, target: Path) -> None:
    try:
        subprocess.run(
            [npm, "install", "--no-audit", "--no-fund"],
            cwd=target,
            check=True,
            capture_output=True,
            timeout=NPM_INSTALL_TIMEOUT,
        )
    except subprocess.CalledProcessError as error:
        tail = error.stderr.decode(errors="replace")[-800:] if error.stderr else ""
        raise ClientSetupError(f"npm install failed in {target}:\n{tail}") from None
    except subprocess.TimeoutExpired:
        raise ClientSetupError(
            f"npm install did not finish within {NPM_INSTALL_TIMEOUT:g} s in {target}"
        ) from None
    if installed_js_version(target) != JS_SDK_VERSION:
        raise ClientSetupError(f"npm install in {target} did not install webex {JS_SDK_VERSION}")
