"""The ``webex-meetings`` command line, driven as a subprocess against the emulator.

Every command runs as ``python -m webex_meetings.cli`` with its own environment (the token in
``WEBEX_ACCESS_TOKEN``) and talks only to emulators on 127.0.0.1. The emulator runs in a
background thread (the ``running_emulator`` fixture of the project's pytest plugin), so the
tests can steer it (push events, advance its clock, inject faults) while the CLI runs, and
check what it holds afterwards. Every wait has a timeout, so nothing here can hang CI.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from webex_meetings.emulator import Emulator

CLI = [sys.executable, "-m", "webex_meetings.cli"]
TIMEOUT = 30.0
STATES = ("uninitialized", "ready", "registering", "registered", "unregistering", "unregistered")
OUR_NAME, OUR_TYPE = "webex-meetings-python", "WEB"
SIGINT_EXIT = 130


def cli_env(token: str | None) -> dict[str, str]:
    """The environment for a CLI run; output is buffered as in a real pipe (the CLI flushes
    each line itself)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEBEX_")}
    env.pop("PYTHONUNBUFFERED", None)
    if token is not None:
        env["WEBEX_ACCESS_TOKEN"] = token
    return env


def run_cli(*args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the CLI to completion (stdin is not a terminal)."""
    return subprocess.run(
        [*CLI, *args],
        env=cli_env(token),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


class LiveCli:
    """A running CLI whose output lines are read as they come."""

    def __init__(self, *args: str, token: str | None = None) -> None:
        self.process = subprocess.Popen(
            [*CLI, *args],
            env=cli_env(token),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self.stderr: list[str] = []
        assert self.process.stdout is not None
        assert self.process.stderr is not None
        self._readers = [
            threading.Thread(target=self._pump, args=(self.process.stdout,), daemon=True),
            threading.Thread(target=self.stderr.extend, args=(self.process.stderr,), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _pump(self, stream: Any) -> None:
        for line in stream:
            self.lines.put(line.rstrip("\n"))
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

    def interrupt(self) -> None:
        self.process.send_signal(signal.SIGINT)

    def wait(self) -> int:
        return self.process.wait(timeout=TIMEOUT)

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


@pytest.fixture
def live() -> Iterator[list[LiveCli]]:
    """Started CLIs, killed at the end of the test whatever happened."""
    started: list[LiveCli] = []
    yield started
    for cli in started:
        cli.close()


@pytest.fixture
def token(running_emulator: Emulator) -> str:
    return running_emulator.issue_token()


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


def free_port() -> int:
    """A 127.0.0.1 port with nothing listening on it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# -- demo ------------------------------------------------------------------------------------


def test_demo_shows_every_step_and_passes() -> None:
    result = run_cli("demo")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for transition in (
        "uninitialized -> ready",
        "ready -> registering",
        "registering -> registered",
        "registered -> unregistering",
        "unregistering -> unregistered",
    ):
        assert transition in out
    assert re.search(r"POST /wdm/api/v1/devices -> 200 \(\d+\.\d ms\)", out)
    assert re.search(r"DELETE /wdm/api/v1/devices/\S+ -> 204 \(\d+\.\d ms\)", out)
    assert re.search(r"ws\.open +GET /mercury/\S+ \(upgrade\) -> 101", out)
    assert re.search(r"registered device http://127\.0\.0\.1:\d+/wdm/api/v1/devices/\S+", out)
    assert "FAIL" not in out
    assert re.search(r"summary +PASSED: (\d+)/\1 checks", out)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_demo_json_lines(backend: str) -> None:
    result = run_cli("demo", "--json", "--events", "2", "--backend", backend)
    assert result.returncode == 0, result.stderr
    records = json_lines(result.stdout)
    kinds = {record["kind"] for record in records}
    assert {"emulator", "state", "http", "ws.open", "ws.send", "ws.receive", "check"} <= kinds
    assert all(isinstance(record["t_ms"], float | int) for record in records)
    states = {part for r in records if r["kind"] == "state" for part in r["text"].split()}
    assert set(STATES) <= states
    assert sum(r["kind"] == "mercury" for r in records) == 2
    assert all(r["passed"] for r in records if r["kind"] == "check")
    summary = records[-1]
    assert summary["kind"] == "summary"
    assert summary["ok"] is True
    assert summary["device_url"].startswith("http://127.0.0.1:")
    assert set(summary["timings_ms"]) == {"init", "register", "unregister"}


# -- register --------------------------------------------------------------------------------


def test_register_prints_events_until_ctrl_c_then_unregisters(
    running_emulator: Emulator, token: str, live: list[LiveCli]
) -> None:
    emu = running_emulator
    cli = LiveCli("register", "--cloud", emu.base_url, token=token)
    live.append(cli)
    registered = cli.expect(r"^registered: ")
    (device,) = emu.devices
    assert device.url in registered
    emu.control.push_event({"eventType": "cli.test", "n": 1})
    cli.expect(r"^event cli\.test id=")
    cli.interrupt()
    cli.expect(r"^interrupted: unregistering")
    cli.expect(r"^unregistered; the device is deleted")
    assert cli.wait() == SIGINT_EXIT
    assert emu.devices == []
    assert emu.violations == []


def test_register_json_lines(running_emulator: Emulator, token: str, live: list[LiveCli]) -> None:
    emu = running_emulator
    cli = LiveCli("register", "--json", "--cloud", emu.base_url, token=token)
    live.append(cli)
    registered = json.loads(cli.expect(r'"text": "registered: '))
    assert registered["device_url"] == emu.devices[0].url
    emu.control.push_event({"eventType": "cli.json", "answer": 42})
    event = json.loads(cli.expect(r'"event_type": "cli\.json"'))
    assert event["data"] == {"eventType": "cli.json", "answer": 42}
    cli.interrupt()
    assert cli.wait() == SIGINT_EXIT
    assert all(json.loads(line) for line in cli.seen)
    assert emu.devices == []


def test_second_ctrl_c_aborts_but_still_deletes_the_device(
    running_emulator: Emulator, token: str, live: list[LiveCli]
) -> None:
    emu = running_emulator
    cli = LiveCli("register", "--cloud", emu.base_url, token=token)
    live.append(cli)
    cli.expect(r"^registered: ")
    emu.control.set_latency("wdm.delete", 0.5)  # the first unregister is still under way
    cli.interrupt()
    cli.expect(r"^interrupted: unregistering")
    cli.interrupt()
    cli.expect(r"^aborting: deleting the device")
    assert cli.wait() == SIGINT_EXIT
    emu.control.set_latency("wdm.delete", 0)
    assert emu.devices == []


def test_register_with_a_token_file(
    running_emulator: Emulator, token: str, tmp_path: Path, live: list[LiveCli]
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(token + "\n")
    args = ("register", "--cloud", running_emulator.base_url, "--token-file", str(token_file))
    cli = LiveCli(*args, token=None)
    live.append(cli)
    cli.expect(r"^registered: ")
    cli.interrupt()
    assert cli.wait() == SIGINT_EXIT
    assert running_emulator.devices == []


# -- devices ---------------------------------------------------------------------------------


def test_devices_list_marks_ours(running_emulator: Emulator, token: str) -> None:
    emu = running_emulator
    ours = {make_device(emu, token), make_device(emu, token)}
    foreign = make_device(emu, token, name="Jabber", device_type="DESKTOP")
    result = run_cli("devices", "list", "--json", "--cloud", emu.base_url, token=token)
    assert result.returncode == 0, result.stderr
    *listed, total = json_lines(result.stdout)
    assert {d["url"]: d["ours"] for d in listed} == {**dict.fromkeys(ours, True), foreign: False}
    assert all(d["modification_time"].endswith("Z") for d in listed)
    assert total["count"] == 3

    text = run_cli("devices", "list", "--cloud", emu.base_url, token=token).stdout
    marked = {line.split()[-1] for line in text.splitlines() if line.startswith("*")}
    assert marked == ours
    assert "3 devices (2 made by webex-meetings, marked *)" in text


def test_prune_yes_deletes_only_our_devices(running_emulator: Emulator, token: str) -> None:
    emu = running_emulator
    make_device(emu, token)
    make_device(emu, token)
    foreign = make_device(emu, token, name="Jabber", device_type="DESKTOP")
    result = run_cli("devices", "prune", "--yes", "--cloud", emu.base_url, token=token)
    assert result.returncode == 0, result.stderr
    assert "deleted 2 devices" in result.stdout
    assert device_urls(emu) == {foreign}


def test_prune_without_yes_and_without_a_terminal_deletes_nothing(
    running_emulator: Emulator, token: str
) -> None:
    emu = running_emulator
    url = make_device(emu, token)
    result = run_cli("devices", "prune", "--cloud", emu.base_url, token=token)
    assert result.returncode == 0, result.stderr
    assert f"will delete {OUR_NAME} {url}" in result.stdout
    assert "nothing deleted" in result.stdout
    assert device_urls(emu) == {url}


def test_prune_by_name_takes_any_clients_device_of_that_name(
    running_emulator: Emulator, token: str
) -> None:
    emu = running_emulator
    ours = make_device(emu, token)
    make_device(emu, token, name="Jabber", device_type="DESKTOP")
    result = run_cli(
        "devices", "prune", "--name", "Jabber", "--yes", "--json", "--cloud", emu.base_url,
        token=token,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json_lines(result.stdout)[-1]["deleted"] == 1
    assert device_urls(emu) == {ours}


def test_prune_older_than_uses_the_clouds_clock(running_emulator: Emulator, token: str) -> None:
    emu = running_emulator
    old = make_device(emu, token)
    emu.advance(20 * 60)  # the emulator's clock runs ahead of this machine's from now on
    new = make_device(emu, token)
    args = ("devices", "prune", "--yes", "--cloud", emu.base_url)
    result = run_cli(*args, "--older-than", "30m", token=token)
    assert "nothing to prune" in result.stdout
    result = run_cli(*args, "--older-than", "15m", token=token)
    assert result.returncode == 0, result.stderr
    assert "deleted 1 devices" in result.stdout
    assert device_urls(emu) == {new}
    assert f"will delete {OUR_NAME} {old}" in result.stdout


def test_bad_duration_is_a_usage_error() -> None:
    result = run_cli("devices", "prune", "--older-than", "soon", token="unused")
    assert result.returncode == 2
    assert "not a duration" in result.stderr


# -- errors as advice ------------------------------------------------------------------------


@pytest.mark.parametrize("command", [("register",), ("devices", "list")])
def test_refused_token_says_what_to_do(
    running_emulator: Emulator, command: tuple[str, ...]
) -> None:
    secret = "not-a-real-token-Zq8"
    result = run_cli(*command, "--cloud", running_emulator.base_url, token=secret)
    assert result.returncode == 3
    assert "access token was refused" in result.stderr
    assert "WEBEX_ACCESS_TOKEN" in result.stderr
    assert secret not in result.stdout + result.stderr
    assert running_emulator.devices == []


def test_missing_token_says_how_to_get_one(running_emulator: Emulator) -> None:
    result = run_cli("devices", "list", "--cloud", running_emulator.base_url, token=None)
    assert result.returncode == 3
    assert "No access token was given" in result.stderr
    assert "developer.webex.com" in result.stderr


def test_missing_scope_says_so(running_emulator: Emulator, token: str) -> None:
    running_emulator.control.fail_next("u2c.catalog", status=403)
    result = run_cli("devices", "list", "--cloud", running_emulator.base_url, token=token)
    assert result.returncode == 3
    assert "lacks a scope" in result.stderr


def test_unreadable_token_file_is_a_usage_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    result = run_cli(
        "devices", "list", "--cloud", "http://127.0.0.1:9", "--token-file", str(missing)
    )
    assert result.returncode == 2
    assert "cannot read --token-file" in result.stderr


@pytest.mark.parametrize("command", [("register",), ("devices", "list")])
def test_unreachable_cloud_says_what_to_check(command: tuple[str, ...]) -> None:
    cloud = f"http://127.0.0.1:{free_port()}"
    result = run_cli(*command, "--cloud", cloud, token="any-token")
    assert result.returncode == 4
    assert "Could not reach the cloud" in result.stderr
    assert "--cloud URL" in result.stderr


@pytest.mark.emulator(device_limit=0)
def test_refused_device_points_to_prune(running_emulator: Emulator, token: str) -> None:
    result = run_cli("register", "--cloud", running_emulator.base_url, token=token)
    assert result.returncode == 5
    assert "too many registered devices" in result.stderr
    assert "webex-meetings devices prune --yes" in result.stderr


def test_help_documents_the_exit_codes() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for code in ("0", "1", "2", "3", "4", "5", "6", "130"):
        assert re.search(rf"^ +{code}  \S", result.stdout, re.MULTILINE), code


# -- spec and emulator -----------------------------------------------------------------------


def test_spec_formats() -> None:
    mermaid = run_cli("spec", "--format", "mermaid")
    assert mermaid.returncode == 0
    assert mermaid.stdout.startswith("stateDiagram-v2")
    assert "registering --> registered" in mermaid.stdout
    document = json.loads(run_cli("spec", "--format", "json").stdout)
    assert document["initial"] == "uninitialized"
    assert {state["name"] for state in document["states"]} >= set(STATES)
    table = run_cli("spec").stdout
    assert "Initial state: `uninitialized`." in table
    assert all(f"`{state}`" in table for state in STATES)


def test_emulator_command_serves_until_ctrl_c(live: list[LiveCli]) -> None:
    server = LiveCli("emulator", "--port", "0")
    live.append(server)
    base_url = server.expect(r"base URL").split()[-1]
    token = server.expect(r"default access token").split()[-1]
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", base_url)
    result = run_cli("devices", "list", "--json", "--cloud", base_url, token=token)
    assert result.returncode == 0, result.stderr
    assert json_lines(result.stdout) == [
        {"text": "0 devices (0 made by webex-meetings, marked *)", "count": 0}
    ]
    server.interrupt()
    assert server.wait() == 0
