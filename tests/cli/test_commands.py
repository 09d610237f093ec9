"""The ``webex-meetings`` commands, run as subprocesses against the emulator: what they do and
what they print (the helpers are in ``cli_harness``)."""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_harness import (
    OUR_NAME,
    TEXT_LINE,
    LiveCli,
    device_urls,
    json_lines,
    make_device,
    run_cli,
    text_of,
)

from webex_meetings.emulator import Emulator

STATES = ("uninitialized", "ready", "registering", "registered", "unregistering", "unregistered")
SIGINT_EXIT = 130
StartCli = Callable[..., LiveCli]


# -- demo ------------------------------------------------------------------------------------


def test_demo_shows_every_step_and_passes() -> None:
    result = run_cli("demo")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert all(TEXT_LINE.match(line) for line in lines), lines
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


def test_demo_ends_with_the_next_step() -> None:
    result = run_cli("demo", "--events", "0")
    assert result.returncode == 0, result.stderr
    *_, summary, last = result.stdout.splitlines()
    assert "PASSED" in summary
    assert text_of(last).startswith("next: `webex-meetings emulator`")
    assert "webex-meetings register" in last
    assert "examples/" in last


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_demo_json_lines(backend: str) -> None:
    result = run_cli("demo", "--json", "--events", "2", "--backend", backend)
    assert result.returncode == 0, result.stderr
    records = json_lines(result.stdout)
    kinds = {record["kind"] for record in records}
    assert {"emulator", "state", "http", "ws.open", "ws.send", "ws.receive", "check"} <= kinds
    assert all(isinstance(r["fields"]["elapsed_ms"], float | int) for r in records)
    changes = [r["fields"] for r in records if r["kind"] == "state"]
    states = {change[end] for change in changes for end in ("source", "dest")}
    assert set(STATES) <= states
    assert sum(r["fields"].get("event") == "event" for r in records) == 2
    assert all(r["fields"]["passed"] for r in records if r["kind"] == "check")
    summary, last = records[-2:]
    assert summary["kind"] == "summary"
    assert summary["fields"]["ok"] is True
    assert summary["fields"]["device_url"].startswith("http://127.0.0.1:")
    assert set(summary["fields"]["timings_ms"]) == {"init", "register", "unregister"}
    assert last["kind"] == "next"


# -- register --------------------------------------------------------------------------------


def test_register_prints_events_until_ctrl_c_then_unregisters(
    running_emulator: Emulator, token: str, start_cli: StartCli
) -> None:
    emu = running_emulator
    cli = start_cli("register", "--cloud", emu.base_url, token=token)
    registered = cli.expect(r"registered +registered: ")
    (device,) = emu.devices
    assert device.url in registered
    emu.control.push_event({"eventType": "cli.test", "n": 1})
    cli.expect(r"event +cli\.test id=")
    cli.interrupt()
    cli.expect(r"interrupted +interrupted: unregistering")
    cli.expect(r"unregistered +unregistered: the device is deleted")
    assert cli.wait() == SIGINT_EXIT
    assert all(TEXT_LINE.match(line) for line in cli.seen), cli.seen
    assert not any("\r" in line or "\x1b" in line for line in cli.seen)  # no progress: a pipe
    assert emu.devices == []
    assert emu.violations == []


def test_register_json_lines(running_emulator: Emulator, token: str, start_cli: StartCli) -> None:
    emu = running_emulator
    cli = start_cli("register", "--json", "--cloud", emu.base_url, token=token)
    registered = json.loads(cli.expect(r'"kind": "registered"'))
    assert registered["fields"]["device_url"] == emu.devices[0].url
    emu.control.push_event({"eventType": "cli.json", "answer": 42})
    event = json.loads(cli.expect(r'"event_type": "cli\.json"'))
    assert event["fields"]["data"] == {"eventType": "cli.json", "answer": 42}
    cli.interrupt()
    assert cli.wait() == SIGINT_EXIT
    assert all(json.loads(line) for line in cli.seen)
    assert emu.devices == []


def test_register_with_a_private_token_file(
    running_emulator: Emulator, token: str, tmp_path: Path, start_cli: StartCli
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    args = ("register", "--cloud", running_emulator.base_url, "--token-file", str(token_file))
    cli = start_cli(*args, token=None)
    cli.expect(r"registered: ")
    cli.interrupt()
    assert cli.wait() == SIGINT_EXIT
    assert running_emulator.devices == []
    assert not any("other users" in line for line in cli.stderr)


def test_register_as_a_guest_with_a_jwt_file(
    running_emulator: Emulator, tmp_path: Path, start_cli: StartCli
) -> None:
    jwt = running_emulator.make_guest_jwt("cli-guest", expires_in=600)
    jwt_file = tmp_path / "guest.jwt"
    jwt_file.write_text(jwt + "\n")
    jwt_file.chmod(0o600)
    args = ("register", "--cloud", running_emulator.base_url, "--jwt-file", str(jwt_file))
    cli = start_cli(*args, "-vv", token=None)
    cli.expect(r"registered: ")
    cli.interrupt()
    assert cli.wait() == SIGINT_EXIT
    logins = [r for r in running_emulator.control.requests if r.route == "hydra.jwt_login"]
    assert [r.status for r in logins] == [200]
    assert running_emulator.devices == []
    assert not any(jwt in line for line in [*cli.seen, *cli.stderr])


def test_a_refused_jwt_is_advice_with_the_auth_exit_code(
    running_emulator: Emulator, tmp_path: Path
) -> None:
    jwt = running_emulator.make_guest_jwt("cli-guest", expires_in=600)
    forged = jwt[:-4] + ("AAAA" if not jwt.endswith("AAAA") else "BBBB")
    jwt_file = tmp_path / "guest.jwt"
    jwt_file.write_text(forged)
    jwt_file.chmod(0o600)
    args = ("register", "--cloud", running_emulator.base_url, "--jwt-file", str(jwt_file))
    result = run_cli(*args, token=None)
    assert result.returncode == 3, result.stderr
    assert "guest JWT was refused" in result.stderr
    assert forged not in result.stderr + result.stdout
    assert running_emulator.devices == []


def test_a_jwt_file_and_a_token_file_exclude_each_other(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("x.y.z")
    args = ("register", "--jwt-file", str(tmp_path / "a"), "--token-file", str(tmp_path / "a"))
    result = run_cli(*args, token=None)
    assert result.returncode == 2
    assert "--token-file or --jwt-file, not both" in result.stderr


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_a_token_file_others_can_read_is_warned_about(
    running_emulator: Emulator, token: str, tmp_path: Path, mode: int
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(token)
    token_file.chmod(mode)
    args = (
        "devices",
        "list",
        "--cloud",
        running_emulator.base_url,
        "--token-file",
        str(token_file),
    )
    result = run_cli(*args, token=None)
    assert result.returncode == 0, result.stderr
    assert "can be read by other users" in result.stderr
    assert stat.filemode(mode | stat.S_IFREG) in result.stderr
    assert f"chmod 600 {token_file}" in result.stderr
    assert token not in result.stderr + result.stdout


# -- devices ---------------------------------------------------------------------------------


def test_devices_list_marks_ours(running_emulator: Emulator, token: str) -> None:
    emu = running_emulator
    ours = {make_device(emu, token), make_device(emu, token)}
    foreign = make_device(emu, token, name="Jabber", device_type="DESKTOP")
    result = run_cli("devices", "list", "--json", "--cloud", emu.base_url, token=token)
    assert result.returncode == 0, result.stderr
    *listed, total = json_lines(result.stdout)
    fields = [d["fields"] for d in listed]
    assert {d["url"]: d["ours"] for d in fields} == {**dict.fromkeys(ours, True), foreign: False}
    assert all(d["modification_time"].endswith("Z") for d in fields)
    assert total["fields"]["count"] == 3

    text = run_cli("devices", "list", "--cloud", emu.base_url, token=token).stdout
    marked = {line.split()[-1] for line in text.splitlines() if text_of(line).startswith("*")}
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


def test_prune_without_yes_and_without_a_terminal_refuses(
    running_emulator: Emulator, token: str
) -> None:
    emu = running_emulator
    url = make_device(emu, token)
    result = run_cli("devices", "prune", "--cloud", emu.base_url, token=token)
    assert result.returncode == 2
    assert result.stdout.count(f"will delete {OUR_NAME} {url}") == 1
    assert "nothing deleted: no terminal to ask on; pass --yes" in result.stdout
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
    assert json_lines(result.stdout)[-1]["fields"]["deleted"] == 1
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


def test_emulator_command_serves_until_ctrl_c(start_cli: StartCli) -> None:
    server = start_cli("emulator", "--port", "0", token=None)
    base_url = server.expect(r"base URL").split()[-1]
    token = server.expect(r"default access token").split()[-1]
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", base_url)
    result = run_cli("devices", "list", "--json", "--cloud", base_url, token=token)
    assert result.returncode == 0, result.stderr
    (total,) = json_lines(result.stdout)
    assert total["fields"] == {"count": 0, "ours": 0}
    server.interrupt()
    assert server.wait() == 0
