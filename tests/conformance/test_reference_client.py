"""Our reference client reads the kit's environment contract, and refuses a bad one."""

from __future__ import annotations

import pytest

from webex_meetings.conformance.reference_client import UsageError, client_config, main

BASE = {"STUB_BASE": "http://127.0.0.1:8765", "WEBEX_ACCESS_TOKEN": "t"}


def test_the_emulator_base_url_gets_every_service_and_the_token() -> None:
    config = client_config(BASE)
    assert config.discovery.u2c == "http://127.0.0.1:8765/u2c/api/v1"
    assert "127.0.0.1:8765" in config.extra_authorized_hosts


def test_mercury_settings_come_from_the_environment() -> None:
    env = {
        **BASE,
        "MERCURY_PING_INTERVAL": "1000",
        "MERCURY_PONG_TIMEOUT": "500",
        "MERCURY_AUTHORIZATION_TIMEOUT": "2000",
        "MERCURY_CONNECT_ATTEMPTS": "3",
    }
    mercury = client_config(env).mercury
    assert (mercury.ping_interval, mercury.pong_timeout) == (1.0, 0.5)
    assert mercury.authorization_timeout == 2.0
    assert mercury.initial_backoff.max_attempts == 3
    assert mercury.reconnect_backoff == client_config(BASE).mercury.reconnect_backoff


def test_unset_settings_keep_the_library_defaults() -> None:
    mercury = client_config(BASE).mercury
    assert (mercury.ping_interval, mercury.pong_timeout) == (15.0, 14.0)
    assert mercury.initial_backoff.max_attempts == 6


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MERCURY_PING_INTERVAL", "soon"),
        ("MERCURY_PONG_TIMEOUT", "-1"),
        ("MERCURY_AUTHORIZATION_TIMEOUT", "nan"),
        ("MERCURY_CONNECT_ATTEMPTS", "0"),
        ("MERCURY_CONNECT_ATTEMPTS", "two"),
        ("HOLD_MS", "inf"),
    ],
)
def test_a_bad_value_is_a_usage_error(
    name: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main({**BASE, name: value}) == 2
    assert name in capsys.readouterr().err


@pytest.mark.parametrize("missing", ["STUB_BASE", "WEBEX_ACCESS_TOKEN"])
def test_a_missing_variable_is_a_usage_error(
    missing: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main({k: v for k, v in BASE.items() if k != missing}) == 2
    assert missing in capsys.readouterr().err


def test_client_config_raises_a_typed_error() -> None:
    with pytest.raises(UsageError, match="STUB_BASE"):
        client_config({})
