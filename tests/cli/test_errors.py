"""Every failure a user can meet reads as advice with its exit code, never "Unexpected error":
a refused or missing token, an unreachable cloud, a port in use or out of range, a bad proxy,
an untrusted certificate (and the ``--ca-file`` way out)."""

from __future__ import annotations

import errno
import json
import re
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import pytest
from cli_harness import LiveCli, free_port, json_lines, run_cli, text_of

from webex_meetings.commands.advice import (
    EXIT_FAILED,
    EXIT_NETWORK,
    EXIT_USAGE,
    advice,
)
from webex_meetings.core.errors import CertificateError, WebexError
from webex_meetings.core.http import HttpRequest
from webex_meetings.emulator import Emulator
from webex_meetings.transports.httpx_transport import HttpxTransport

CliMain = Callable[..., subprocess.CompletedProcess[str]]


def assert_advice(result: object, code: int, *phrases: str) -> None:
    assert getattr(result, "returncode") == code, getattr(result, "stderr")  # noqa: B009
    stderr: str = getattr(result, "stderr")  # noqa: B009
    assert "Unexpected error" not in stderr
    assert "Traceback" not in stderr
    for phrase in phrases:
        assert phrase in stderr, stderr


# -- the token -------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [("register",), ("devices", "list")])
def test_refused_token_says_what_to_do(
    running_emulator: Emulator, command: tuple[str, ...]
) -> None:
    secret = "not-a-real-token-Zq8"
    result = run_cli(*command, "--cloud", running_emulator.base_url, token=secret)
    assert_advice(result, 3, "access token was refused", "WEBEX_ACCESS_TOKEN")
    assert secret not in result.stdout + result.stderr
    assert running_emulator.devices == []


def test_missing_token_says_how_to_get_one(running_emulator: Emulator) -> None:
    result = run_cli("devices", "list", "--cloud", running_emulator.base_url, token=None)
    assert_advice(result, 3, "No access token was given", "developer.webex.com")


def test_missing_scope_says_so(running_emulator: Emulator, token: str) -> None:
    running_emulator.control.fail_next("u2c.catalog", status=403)
    result = run_cli("devices", "list", "--cloud", running_emulator.base_url, token=token)
    assert_advice(result, 3, "lacks a scope")


def test_unreadable_token_file_is_a_usage_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    result = run_cli(
        "devices", "list", "--cloud", "http://127.0.0.1:9", "--token-file", str(missing)
    )
    assert_advice(result, 2, "cannot read --token-file")


@pytest.mark.emulator(device_limit=0)
def test_refused_device_points_to_prune(running_emulator: Emulator, token: str) -> None:
    result = run_cli("register", "--cloud", running_emulator.base_url, token=token)
    assert_advice(result, 5, "too many registered devices", "webex-meetings devices prune --yes")


# -- reaching the cloud --------------------------------------------------------------------------


@pytest.mark.parametrize("command", [("register",), ("devices", "list")])
def test_unreachable_cloud_says_what_to_check(command: tuple[str, ...]) -> None:
    cloud = f"http://127.0.0.1:{free_port()}"
    result = run_cli(*command, "--cloud", cloud, token="any-token")
    assert_advice(result, 4, "Could not reach the cloud", "--cloud URL")
    if command == ("register",):  # never silent: each failed attempt is a line, numbered
        assert_each_attempt_was_shown(result.stdout)


def assert_each_attempt_was_shown(stdout: str) -> None:
    attempts = [text_of(line) for line in stdout.splitlines() if "/u2c/api/v1/catalog" in line]
    assert len(attempts) >= 2
    assert all("could not connect" in attempt for attempt in attempts)
    assert "attempt 2" in attempts[1]


@pytest.mark.parametrize(
    ("cloud", "phrase"),
    [
        ("http://127.0.0.1:99999", "has no valid port (a port is a number from 0 to 65535)"),
        ("http://127.0.0.1:port", "has no valid port"),
        ("ftp://127.0.0.1:21", "not an http(s) URL"),
        ("127.0.0.1:8765", "not an http(s) URL"),
    ],
)
def test_a_cloud_url_that_cannot_work_is_a_usage_error(
    cli_main: CliMain, cloud: str, phrase: str
) -> None:
    result = cli_main("register", "--cloud", cloud)
    assert_advice(result, 2, "argument --cloud", phrase)
    assert "a transport raised" not in result.stderr


@pytest.mark.parametrize(
    ("proxy", "phrase"),
    [
        ("nonsense", "not a proxy URL: 'nonsense' (use http://host:port)"),
        ("socks5://127.0.0.1:1080", "SOCKS proxies are not supported"),
        ("http://127.0.0.1:70000", "has no valid port"),
    ],
)
@pytest.mark.parametrize("command", [("register",), ("devices", "list")])
def test_a_proxy_that_cannot_work_is_a_usage_error(
    cli_main: CliMain, command: tuple[str, ...], proxy: str, phrase: str
) -> None:
    result = cli_main(*command, "--proxy", proxy)
    assert_advice(result, 2, "argument --proxy", phrase)


# -- serving the emulator -------------------------------------------------------------------------


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_a_busy_port_says_how_to_choose_another(busy_port: int) -> None:
    result = run_cli("emulator", "--port", str(busy_port))
    assert_advice(result, 2, "already listens on that port", "--port 0")


def test_a_port_out_of_range_is_a_usage_error() -> None:
    result = run_cli("emulator", "--port", "99999")
    assert_advice(result, 2, "65535")


# -- advice for what only the machine can raise ------------------------------------------------


@pytest.mark.parametrize(
    ("error", "code", "phrase"),
    [
        (OSError(errno.EADDRINUSE, "Address already in use"), EXIT_USAGE, "--port 0"),
        (OSError(errno.EADDRNOTAVAIL, "Cannot assign"), EXIT_USAGE, "--host 127.0.0.1"),
        (OSError(errno.EACCES, "Permission denied"), EXIT_USAGE, "ports below 1024"),
        (OverflowError("bind(): port must be 0-65535."), EXIT_USAGE, "a port is 0 to 65535"),
        (ImportError("Using SOCKS proxy, but 'socksio' is missing"), EXIT_USAGE, "socksio"),
        (CertificateError("TLS failed (CERTIFICATE_VERIFY_FAILED)"), EXIT_NETWORK, "--ca-file"),
        (RuntimeError("a bug"), EXIT_FAILED, "Unexpected error: RuntimeError: a bug"),
    ],
)
def test_advice_by_error(error: BaseException, code: int, phrase: str) -> None:
    found_code, text = advice(error)
    assert found_code == code
    assert phrase in text


def test_certificate_advice_names_the_way_out() -> None:
    code, text = advice(CertificateError("certificate verify failed", step="catalog"))
    assert code == EXIT_NETWORK
    assert "not trusted (step: catalog)" in text
    assert "--ca-file PATH" in text
    assert "SSL_CERT_FILE" in text


# -- TLS: --ca-file and SSL_CERT_FILE --------------------------------------------------------------


def ca_file_of(emu: Emulator) -> str:
    assert emu.certificate is not None
    return str(emu.certificate.ca_file)


@pytest.mark.emulator(tls=True)
def test_ca_file_trusts_the_emulators_certificate(running_emulator: Emulator, token: str) -> None:
    emu = running_emulator
    result = run_cli(
        "devices", "list", "--json", "--cloud", emu.base_url, "--ca-file", ca_file_of(emu),
        token=token,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json_lines(result.stdout)[-1]["fields"]["count"] == 0


@pytest.mark.emulator(tls=True)
def test_register_over_tls_with_the_ca_file_from_the_environment(
    running_emulator: Emulator, token: str, start_cli: Callable[..., LiveCli]
) -> None:
    emu = running_emulator
    cli = start_cli("register", "--cloud", emu.base_url, token=token, SSL_CERT_FILE=ca_file_of(emu))
    registered = cli.expect(r"registered: https://127\.0\.0\.1:\d+/wdm/")
    assert emu.devices[0].url in registered
    cli.interrupt()
    assert cli.wait() == 130
    assert emu.devices == []


def test_a_ca_file_that_cannot_be_used_is_a_usage_error(cli_main: CliMain, tmp_path: Path) -> None:
    result = cli_main("register", "--ca-file", str(tmp_path / "missing.pem"))
    assert_advice(result, 2, "argument --ca-file", "no such CA file")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    result = cli_main("register", "--ca-file", str(garbage))
    assert_advice(result, 2, "argument --ca-file", "cannot use CA file")


def _library_raises_certificate_error(emu: Emulator) -> bool:
    """Whether this build reports an untrusted certificate as ``CertificateError`` (another
    branch teaches the transports to; until then it is a plain ``TransportError``)."""

    async def probe() -> WebexError | None:
        async with HttpxTransport(timeout=10) as http:
            try:
                await http.send(HttpRequest("GET", f"{emu.base_url}/u2c/api/v1/catalog"))
            except WebexError as error:
                return error
        return None

    return isinstance(anyio.run(probe), CertificateError)


@pytest.mark.emulator(tls=True)
def test_an_untrusted_certificate_says_to_pass_the_ca_file(
    running_emulator: Emulator, token: str
) -> None:
    emu = running_emulator
    if not _library_raises_certificate_error(emu):
        pytest.skip("the library does not raise CertificateError yet (the transports' branch)")
    result = run_cli("register", "--json", "--cloud", emu.base_url, token=token)
    assert_advice(result, 4, "TLS certificate is not trusted", "--ca-file PATH")
    attempts = [line for line in json_lines(result.stdout) if line["kind"] == "http"]
    assert len(attempts) <= 2  # never retried (catalog and people/me go out together)
    error = json_lines(result.stdout)[-1]
    assert error["kind"] == "error"
    assert error["fields"] == {"exit_code": 4, "error": "CertificateError"}


# -- the JSON error line ------------------------------------------------------------------------


def test_json_output_ends_with_the_error_and_its_exit_code() -> None:
    cloud = f"http://127.0.0.1:{free_port()}"
    result = run_cli("devices", "list", "--json", "--cloud", cloud, token="any")
    assert result.returncode == 4
    (error,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert error["kind"] == "error"
    assert error["fields"] == {"exit_code": 4, "error": "TransportError"}
    assert error["text"] in result.stderr
    assert re.match(r"Could not reach the cloud", error["text"])
