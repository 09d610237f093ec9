"""Running the ``webex-meetings`` command line as a user would: a subprocess, its own
environment, its output read line by line as it comes. Imported by the tests as
``cli_harness`` (``conftest.py`` puts this folder on ``sys.path``).

Every command runs as ``python -m webex_meetings.cli`` with the token in
``WEBEX_ACCESS_TOKEN`` and talks only to emulators on 127.0.0.1. The emulator runs in a
background thread (the ``running_emulator`` fixture of the project's pytest plugin), so tests can
steer it (push events, add latency, close connections) while the CLI runs, and check what it
holds afterwards. Every wait has a timeout, so nothing here can hang CI; a started CLI is killed
at the end of its test whatever happened (the ``start_cli`` fixture).
"""

from __future__ import annotations

import json
import os
import pty
import queue
import re
import select
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import IO, Any

import httpx

from webex_meetings.emulator import Emulator

CLI = [sys.executable, "-m", "webex_meetings.cli"]
TIMEOUT = 30.0
OUR_NAME, OUR_TYPE = "webex-meetings-python", "WEB"
TEXT_LINE = re.compile(r"^\d\d:\d\d:\d\d\.\d{3} (\S+) +(.*)$")
"""A text line: its time, kind and text."""


def cli_env(token: str | None, **extra: str) -> dict[str, str]:
    """The environment for a CLI run; output is buffered as in a real pipe (the CLI flushes
    each line itself)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEBEX_")}
    env.pop("PYTHONUNBUFFERED", None)
    env.pop("SSL_CERT_FILE", None)
    if token is not None:
        env["WEBEX_ACCESS_TOKEN"] = token
    env.update(extra)
    return env


def run_cli(
    *args: str, token: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the CLI to completion (stdin is not a terminal)."""
    return subprocess.run(
        [*CLI, *args],
        env=env if env is not None else cli_env(token),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def text_of(line: str) -> str:
    """The text of a text line (after its time and kind)."""
    match = TEXT_LINE.match(line)
    assert match, f"not a timestamped line: {line!r}"
    return match.group(2)


class LiveCli:
    """A running CLI whose output lines are read as they come.

    With ``terminal=True`` its stdout is a pseudo-terminal: what it writes is read raw (progress
    indicator included) into :attr:`screen`.
    """

    def __init__(self, *args: str, env: dict[str, str], terminal: bool = False) -> None:
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self.stderr: list[str] = []
        self.screen = ""
        self._screen_changed = threading.Condition()
        self._terminal: int | None = None
        stdout: Any = subprocess.PIPE
        if terminal:
            self._terminal, stdout = pty.openpty()
        self.process = subprocess.Popen(
            [*CLI, *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stderr is not None
        readers: list[tuple[Callable[..., None], tuple[Any, ...]]] = [
            (self.stderr.extend, (self.process.stderr,))
        ]
        if self._terminal is not None:
            os.close(stdout)
            readers.append((self._pump_terminal, (self._terminal,)))
        else:
            readers.append((self._pump, (self.process.stdout,)))
        self._readers = [threading.Thread(target=t, args=a, daemon=True) for t, a in readers]
        for reader in self._readers:
            reader.start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def _pump_terminal(self, fd: int) -> None:
        pending = ""
        while True:
            try:
                chunk = os.read(fd, 4096).decode("utf-8", "replace")
            except OSError:  # the other side closed
                break
            if not chunk:
                break
            with self._screen_changed:
                self.screen += chunk
                self._screen_changed.notify_all()
            pending += chunk
            *complete, pending = pending.split("\n")
            for line in complete:
                self.lines.put(line.rstrip("\r").rpartition("\x1b[K")[2])
        self.lines.put(None)

    def expect(self, pattern: str, timeout: float = TIMEOUT) -> str:
        """The next output line matching ``pattern`` (a regex), skipping others."""
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"no line matching {pattern!r}; saw {self.seen}") from None
            if line is None:
                raise AssertionError(
                    f"output ended before {pattern!r}; saw {self.seen}; stderr {self.stderr}"
                )
            self.seen.append(line)
            if re.search(pattern, line):
                return line

    def wait_for_screen(self, pattern: str, timeout: float = TIMEOUT) -> str:
        """The first match of ``pattern`` in what a terminal CLI wrote (lines or not)."""
        with self._screen_changed:
            found = self._screen_changed.wait_for(
                lambda: re.search(pattern, self.screen), timeout=timeout
            )
        if not found:
            raise AssertionError(f"{pattern!r} never appeared; screen: {self.screen[-2000:]!r}")
        return found.group(0)

    def rest(self) -> list[str]:
        """Every line still to come, once the process has exited."""
        self.wait()
        lines = []
        while (line := self.lines.get(timeout=TIMEOUT)) is not None:
            lines.append(line)
        self.seen.extend(lines)
        self.lines.put(None)
        return lines

    def interrupt(self) -> None:
        self.process.send_signal(signal.SIGINT)

    def wait(self, timeout: float = TIMEOUT) -> int:
        return self.process.wait(timeout=timeout)

    def close(self) -> None:
        """Kill the process if it still runs, and release its pipes."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=TIMEOUT)
        for reader in self._readers:
            reader.join(timeout=TIMEOUT)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
        if self._terminal is not None:
            os.close(self._terminal)


def make_device(
    emu: Emulator, token: str, name: str = OUR_NAME, device_type: str = OUR_TYPE
) -> str:
    """Register a (persistent) device straight through WDM; returns its URL."""
    body = {"name": name, "deviceType": device_type, "model": name, "systemName": name}
    response = httpx.post(
        f"{emu.base_url}/wdm/api/v1/devices",
        json=body,
        headers={"Authorization": f"Bearer {token}", "trackingid": "cli-test_1"},
        timeout=TIMEOUT,
    )
    response.raise_for_status()
    url: str = response.json()["url"]
    return url


def device_urls(emu: Emulator) -> set[str]:
    return {device.url for device in emu.devices}


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def read_line(stream: IO[bytes], timeout: float = TIMEOUT) -> str:
    """One line from an unbuffered pipe (``bufsize=0``, which reads no further than the line),
    or an AssertionError after ``timeout`` seconds without one."""
    ready, _, _ = select.select([stream], [], [], timeout)
    assert ready, f"no output within {timeout} s"
    return stream.readline().decode()


def free_port() -> int:
    """A 127.0.0.1 port with nothing listening on it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
