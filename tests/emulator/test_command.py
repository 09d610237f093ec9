"""``webex-meetings emulator``: options with help text, the reference in ``--help``, the
banner listing the admin endpoints, and advice when the port is taken."""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from emulator_testkit import lines_until

from webex_meetings.emulator import Emulator
from webex_meetings.emulator.admin_endpoints import ENDPOINTS
from webex_meetings.emulator.behaviour import OMITTABLE, VARIANTS
from webex_meetings.emulator.command import add_arguments
from webex_meetings.emulator.reference import BEGIN, END, markdown
from webex_meetings.emulator.services import LATENCY_ROUTES

README = Path(__file__).resolve().parents[2] / "README.md"
RUN = (
    "import argparse, sys\n"
    "from webex_meetings.emulator.command import add_arguments, run\n"
    "parser = argparse.ArgumentParser()\n"
    "add_arguments(parser)\n"
    "sys.exit(run(parser.parse_args(sys.argv[1:])))\n"
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="webex-meetings emulator")
    add_arguments(parser)
    return parser


def test_options_parse_and_have_help() -> None:
    options = (
        "--port 0 --device-limit 2 --users 3 --latency 0.05 --seed 7 "
        "--variant mercury.registration_status --omit catalog.wdm "
        "--feature web-high-availability --feature web-shared-mercury=false "
        "--max-connections 20"
    )
    args = _parser().parse_args(options.split(" "))
    assert (args.port, args.device_limit, args.users, args.latency, args.seed) == (0, 2, 3, 0.05, 7)
    assert args.variant == ["mercury.registration_status"]
    assert args.feature == [("web-high-availability", True), ("web-shared-mercury", False)]
    assert args.max_connections == 20
    help_text = _parser().format_help()
    for option in ("--device-limit", "--users", "--latency", "--seed", "--port", "--tls"):
        assert option in help_text


@pytest.mark.parametrize(
    "bad",
    [
        "--latency nan",
        "--latency -1",
        "--latency inf",
        "--port 99999",
        "--device-limit -1",
        "--users x",
        "--variant mercury.nothing",
        "--omit device.name",
        "--max-connections 0",
    ],
)
def test_bad_options_are_usage_errors(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        _parser().parse_args(bad.split())
    assert caught.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_help_documents_every_endpoint_route_variant_and_field() -> None:
    text = _parser().format_help()
    for endpoint in ENDPOINTS:
        assert f"{endpoint.method} /_emulator/{endpoint.path}" in text
    for name in [*LATENCY_ROUTES, *VARIANTS, *OMITTABLE]:
        assert name in text


def test_the_readme_holds_the_generated_reference() -> None:
    text = README.read_text(encoding="utf-8")
    assert BEGIN in text
    assert END in text
    block = text[text.index(BEGIN) + len(BEGIN) : text.index(END)]
    assert block.strip() == markdown().strip(), (
        "the README's emulator reference drifted: "
        "python -m webex_meetings.emulator.reference --write README.md"
    )


def _serve(*options: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", RUN, *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_the_command_serves_with_its_options_and_lists_the_admin_api() -> None:
    options = (
        "--port 0 --users 2 --device-limit 1 --latency 0.01 --variant "
        "mercury.registration_status --omit catalog.wdm --feature web-high-availability"
    )
    with _serve(*options.split()) as process:
        try:
            assert process.stdout is not None
            banner = lines_until(process.stdout, "departures")
            assert banner[0].startswith("Webex cloud emulator on http://127.0.0.1:")
            base = banner[0].rsplit(" ", 1)[1].strip()
            text = "".join(banner)
            for endpoint in ("state", "records", "fail", "latency", "schedule-close"):
                assert f" {endpoint}" in text
            users = [line for line in banner if line.strip().startswith("user ")]
            assert len(users) == 2
            token = users[0].rsplit(" ", 1)[1].strip()
            with httpx.Client(base_url=base, timeout=10) as client:
                behaviour = client.get("/_emulator/behaviour").json()
                assert behaviour["variants"] == ["mercury.registration_status"]
                assert behaviour["omitted"] == ["catalog.wdm"]
                assert behaviour["device_limit"] == 1
                assert client.get("/_emulator/faults").json()["latencies"] == {"*": 0.01}
                me = client.get("/hydra/v1/people/me", headers={"authorization": f"Bearer {token}"})
                assert me.status_code == 200
        finally:
            process.terminate()
            process.wait(timeout=10)
    assert process.returncode == 0


def test_a_taken_port_is_advice_and_exit_2() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with _serve("--port", str(port)) as process:
            _, err = process.communicate(timeout=30)
    assert process.returncode == 2
    assert f"cannot serve on 127.0.0.1:{port}" in err
    assert "--port" in err


@pytest.mark.anyio
async def test_the_banner_lists_every_admin_endpoint(emulator: Emulator) -> None:
    banner = emulator.describe()
    for endpoint in ENDPOINTS:
        assert endpoint.path in banner
    assert "connections" in banner.splitlines()[-1]


def test_the_cli_delegates_to_the_emulator_command(capsys: pytest.CaptureFixture[str]) -> None:
    from webex_meetings.cli import main

    with pytest.raises(SystemExit) as caught:
        main(["emulator", "--help"])
    assert caught.value.code == 0
    out = capsys.readouterr().out
    assert "--device-limit" in out
    assert "POST /_emulator/schedule-close" in out
    assert "mercury.connect" in out
    with pytest.raises(SystemExit):
        main(["emulator", "--latency", "nan"])
