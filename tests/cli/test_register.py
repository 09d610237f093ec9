"""``webex-meetings register``: how a run ends, and that it says what really happens.

Ctrl-C cancels and rolls back at every step of a registration (the emulator's latency holds
the run at the step), a second Ctrl-C stops waiting, a closed stdout ends the run, and a
permanent close from Mercury ends it with its own exit code; every line on the way carries what
the library knows (close codes, reconnect attempts, errors and delays).
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable

import pytest
from cli_harness import CLI, TIMEOUT, LiveCli, cli_env, free_port, read_line, text_of

from webex_meetings.emulator import Emulator

SIGINT_EXIT, DISCONNECTED_EXIT, OUTPUT_CLOSED_EXIT = 130, 7, 141
SLOW = 2.0
"""Seconds the emulator holds the step a test interrupts: the run must not get past it before
the test's Ctrl-C, and the rollback waits for it to finish."""
StartCli = Callable[..., LiveCli]


def expect_all(cli: LiveCli, *patterns: str) -> None:
    """Wait until every pattern has matched a line, in any order."""
    missing = set(patterns)
    while missing:
        line = cli.expect("|".join(f"(?:{p})" for p in missing))
        missing = {p for p in missing if not re.search(p, line)}


def test_ctrl_c_while_the_cloud_is_unreachable_cancels(start_cli: StartCli) -> None:
    cli = start_cli("register", "--cloud", f"http://127.0.0.1:{free_port()}", token="any")
    cli.expect(r"http +GET http://127\.0\.0\.1:\d+/u2c/api/v1/catalog: could not connect")
    cli.interrupt()
    cli.expect(r"cancelled +cancelled: stopping the registration")
    rest = cli.rest()
    assert cli.wait() == SIGINT_EXIT
    assert text_of(rest[-1]) == "cancelled: the registration was rolled back; no device is left"
    assert not any("printing events" in line for line in cli.seen)
    assert not any("Could not reach" in line for line in cli.stderr)  # not reported as failed


@pytest.mark.parametrize(
    ("slow_route", "reached"),
    [
        ("u2c.catalog", [r"state +ready -> registering"]),
        ("wdm.register", [r"GET /u2c/api/v1/catalog -> 200", r"GET /hydra/v1/people/me -> 200"]),
        ("mercury.connect", [r"POST /wdm/api/v1/devices -> 200"]),
    ],
    ids=["catalog", "device", "mercury"],
)
def test_ctrl_c_at_every_step_rolls_back(
    running_emulator: Emulator,
    token: str,
    start_cli: StartCli,
    slow_route: str,
    reached: list[str],
) -> None:
    emu = running_emulator
    emu.control.set_latency(slow_route, SLOW)
    cli = start_cli("register", "-v", "--cloud", emu.base_url, token=token)
    expect_all(cli, *reached)
    cli.interrupt()
    cli.expect(r"cancelled +cancelled: stopping the registration")
    last = text_of(cli.rest()[-1])
    assert cli.wait() == SIGINT_EXIT
    assert last == "cancelled: the registration was rolled back; no device is left"
    assert not any("printing events" in line for line in cli.seen), cli.seen
    assert emu.devices == []


@pytest.mark.parametrize(
    ("slow_route", "left"),
    [
        ("wdm.register", r"a device may have been created; check with `webex-meetings devices"),
        ("wdm.delete", r"the device http://\S+ may still be registered; .* devices prune --yes"),
    ],
    ids=["registering", "unregistering"],
)
def test_a_second_ctrl_c_stops_waiting_and_says_what_may_be_left(
    running_emulator: Emulator, token: str, start_cli: StartCli, slow_route: str, left: str
) -> None:
    emu = running_emulator
    emu.control.set_latency(slow_route, 10 * TIMEOUT)  # never answered while the test runs
    cli = start_cli("register", "-v", "--cloud", emu.base_url, token=token)
    if slow_route == "wdm.register":
        expect_all(cli, r"GET /u2c/api/v1/catalog -> 200", r"GET /hydra/v1/people/me -> 200")
    else:
        cli.expect(r"registered: ")
    cli.interrupt()
    cli.expect(r"(cancelled|interrupted) +.*Ctrl-C again to stop waiting")
    cli.interrupt()
    stopped = cli.expect(r"stopped +stopped waiting: ")
    assert cli.wait(timeout=5) == SIGINT_EXIT  # at once, not after the delete's 300 s
    assert re.search(left, stopped), stopped


def test_a_permanent_close_ends_the_run_with_the_code_and_reason(
    running_emulator: Emulator, token: str, start_cli: StartCli
) -> None:
    emu = running_emulator
    cli = start_cli("register", "--cloud", emu.base_url, token=token)
    cli.expect(r"registered: ")
    emu.control.close_connections(4400, "not allowed here")
    closed = cli.expect(r"network +network:disconnected")
    assert text_of(closed) == (
        "network:disconnected: Mercury closed with 4400 'not allowed here'; not reconnecting"
    )
    cli.expect(r"ended +Mercury closed the connection for good; deleting the device")
    cli.expect(r"unregistered: the device is deleted")
    assert cli.wait() == DISCONNECTED_EXIT
    assert emu.devices == []


def test_reconnects_show_attempt_error_and_delay(
    running_emulator: Emulator, token: str, start_cli: StartCli
) -> None:
    emu = running_emulator
    cli = start_cli("register", "--json", "--cloud", emu.base_url, token=token)
    cli.expect(r'"kind": "registered"')
    emu.control.fail_next("mercury.connect", status=503)
    emu.control.drop_connections()
    dropped = json.loads(cli.expect(r'"kind": "network"'))
    assert dropped["fields"] == {
        "event": "network:disconnected",
        "code": 1006,
        "reason": dropped["fields"]["reason"],
        "will_reconnect": True,
    }
    failed = json.loads(cli.expect(r'"kind": "reconnect"'))
    assert failed["fields"]["attempt"] == 1
    assert "503" in failed["fields"]["error"]
    assert failed["fields"]["retry_in"] > 0
    assert failed["text"].endswith(f"retrying in {failed['fields']['retry_in']:.1f} s")
    assert "503" in failed["text"]
    cli.expect(r"network:connected: Mercury is online again")
    cli.interrupt()
    assert cli.wait() == SIGINT_EXIT
    assert emu.devices == []


@pytest.mark.parametrize("leave_after", ["the first line", "registration"])
def test_the_reader_leaving_ends_the_run_and_deletes_the_device(
    running_emulator: Emulator, token: str, leave_after: str
) -> None:
    emu = running_emulator
    process = subprocess.Popen(
        [*CLI, "register", "--cloud", emu.base_url],
        env=cli_env(token),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,
    )
    try:
        assert process.stdout is not None
        line = read_line(process.stdout)
        while leave_after == "registration" and "registered:" not in line:
            line = read_line(process.stdout)
        process.stdout.close()  # `| head -1` has what it wanted and exits
        assert process.wait(timeout=TIMEOUT) == OUTPUT_CLOSED_EXIT
        assert process.stderr is not None
        assert b"Error" not in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=TIMEOUT)
        if process.stderr is not None:
            process.stderr.close()
    assert emu.devices == []


def test_a_terminal_shows_what_the_run_waits_for(
    running_emulator: Emulator, token: str, start_cli: StartCli
) -> None:
    emu = running_emulator
    cli = start_cli("register", "--cloud", emu.base_url, token=token, terminal=True)
    cli.expect(r"registered: ")
    cli.wait_for_screen(r"\r\x1b\[K[|/\\-] registered; waiting for events \(Ctrl-C to stop\)")
    cli.interrupt()
    cli.expect(r"unregistered: the device is deleted")  # the indicator was erased before it
    assert cli.wait() == SIGINT_EXIT
    assert emu.devices == []


def test_json_lines_on_a_terminal_get_no_progress_indicator(
    running_emulator: Emulator, token: str, start_cli: StartCli
) -> None:
    cli = start_cli(
        "register", "--json", "--cloud", running_emulator.base_url, token=token, terminal=True
    )
    cli.expect(r'"kind": "registered"')
    running_emulator.control.push_event({"eventType": "cli.json"})
    cli.expect(r'"event_type": "cli\.json"')
    cli.interrupt()
    assert cli.wait() == SIGINT_EXIT
    assert "\r\x1b[K" not in cli.screen.replace("\r\n", "\n")
