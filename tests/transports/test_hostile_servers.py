"""Hostile servers, each against a client in its own process (``hostile_client.py``): the
client ends with a typed outcome and its peak memory (``VmHWM``) stays bounded, however much
the server sends (up to 512 MiB here, endless in the wild)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("hostile_client.py")
PEAK_LIMIT_KIB = 128 * 1024
"""Well above the ~40 MiB an idle client process takes, far below what any case would reach
unbounded (each server sends up to 512 MiB)."""

CASES = [
    ("endless_chunks", "ResponseTooLargeError"),
    ("huge_length", "ResponseTooLargeError"),
    ("nested_json", "RemoteProtocolError"),
    ("slowloris", "TimeoutError"),
    ("frame_2_63", "closed 1006: closed by us with 1002"),
    ("frame_2_63_minus_1", "closed 1006: closed by us with 1009"),
    ("invalid_utf8", "closed 1006: closed by us with 1007"),
    ("endless_fragments", "closed 1006: closed by us with 1009"),
]


HTTP_CASES = {"endless_chunks", "huge_length", "nested_json", "slowloris"}


def _params() -> list[object]:
    """Each case; the HTTP ones with each HTTP transport (the client runs on asyncio)."""
    params = []
    for case, expected in CASES:
        for transport in ("httpx", "asyncio") if case in HTTP_CASES else ("-",):
            params.append(pytest.param(case, expected, transport, id=f"{case}-{transport}"))
    return params


@pytest.mark.parametrize(("case", "expected", "transport"), _params())
def test_a_hostile_server_gets_a_typed_outcome_in_bounded_memory(
    case: str, expected: str, transport: str
) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), case, transport], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["outcome"].startswith(expected)
    assert report["maxrss_kib"] < PEAK_LIMIT_KIB
