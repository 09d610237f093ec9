"""The CLI's small parsers, in process: durations, and the server's clock for device ages."""

from __future__ import annotations

import argparse

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webex_meetings.commands.advice import EXIT_AUTH, EXIT_DEVICE, MissingTokenError, advice
from webex_meetings.commands.options import parse_duration
from webex_meetings.core.errors import DeviceLimitError
from webex_meetings.core.http import HttpResponse
from webex_meetings.device_tools import WdmDevice, _server_time, select_for_prune


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("90s", 90), ("15m", 900), ("12h", 43200), ("7d", 604800), ("2W", 1209600)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@given(st.text(max_size=12))
def test_a_duration_is_a_number_or_a_usage_error(text: str) -> None:
    try:
        value = parse_duration(text)
    except argparse.ArgumentTypeError:
        return
    assert value >= 0


@given(st.text(max_size=40))
def test_any_date_header_gives_a_time_or_none(value: str) -> None:
    response = HttpResponse(200, (("date", value),))
    assert _server_time(response) is None or isinstance(_server_time(response), float)


def device(modified: str, listed_at: float | None, *, ours: bool = True) -> WdmDevice:
    return WdmDevice("u", "n", "WEB", None, modified, ours, listed_at)


def test_ages_are_measured_on_the_servers_clock() -> None:
    date = HttpResponse(200, (("Date", "Mon, 01 Jan 2024 01:00:00 GMT"),))
    listed_at = _server_time(date)
    assert listed_at == 1704070800.0
    assert device("2024-01-01T00:30:00.000Z", listed_at).age_seconds == 1800
    assert device("2024-01-01T00:30:00", listed_at).age_seconds == 1800  # naive means UTC
    assert device("2024-01-01T02:00:00.000Z", listed_at).age_seconds == 0  # never negative
    assert device("not a time", listed_at).age_seconds is None


def test_prune_selection() -> None:
    listed_at = 1704067200.0 + 7200  # 2024-01-01T02:00:00Z
    old = device("2024-01-01T00:00:00Z", listed_at)
    new = device("2024-01-01T01:59:00Z", listed_at)
    foreign = device("2024-01-01T00:00:00Z", listed_at, ours=False)
    assert select_for_prune([old, new, foreign], older_than=3600) == [old]
    assert select_for_prune([old, new, foreign]) == [old, new]
    assert select_for_prune([old, new, foreign], name="n", older_than=3600) == [old, foreign]


def test_advice_for_a_missing_token_and_a_full_device_list() -> None:
    code, text = advice(MissingTokenError("no token"))
    assert code == EXIT_AUTH
    assert "WEBEX_ACCESS_TOKEN" in text
    error = DeviceLimitError(
        403, method="POST", url="http://127.0.0.1:1/wdm/api/v1/devices", step="device.register"
    )
    code, text = advice(error)
    assert code == EXIT_DEVICE
    assert "devices prune" in text


def test_advice_for_a_withheld_token_names_the_host_not_the_token() -> None:
    from webex_meetings.commands.advice import EXIT_USAGE
    from webex_meetings.core.errors import TokenWithheldError
    from webex_meetings.core.token_rule import TOKEN_RULE

    error = TokenWithheldError(
        "ws://evil.example:80/mercury", "evil.example is neither ...", rule=TOKEN_RULE
    )
    code, text = advice(error)
    assert code == EXIT_USAGE
    assert "ws://evil.example:80" in text
    assert "--cloud" in text
    assert "expired" not in text  # the token is not blamed
    assert "revoked" not in text


def test_advice_for_an_error_status_outside_the_device_steps() -> None:
    from webex_meetings.commands.advice import EXIT_PROTOCOL
    from webex_meetings.core.errors import HttpStatusError

    error = HttpStatusError(500, method="GET", url="http://127.0.0.1:1/u2c", step="catalog")
    code, text = advice(error)
    assert code == EXIT_PROTOCOL
    assert "HTTP 500" in text
    assert "step: catalog" in text
