"""The public faces' types, checked by mypy --strict on a user's file: misspelt event names and
keywords fail type checking on the async and the blocking face; the right ones pass, with the
types ``assert_type`` states.

One mypy run checks the whole snippet below. A line ending in ``# E: text`` must get an error
whose message contains ``text``; every other line must get none.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

SNIPPET = """
from __future__ import annotations

from typing import Any

from typing_extensions import assert_type

from webex_meetings import (
    EventName,
    MeetingsRegistered,
    MercuryEvent,
    SessionConfig,
    Webex,
    WebexOptions,
    mercury_events,
)
from webex_meetings import blocking
from webex_meetings.adapters.listeners import AsyncEventStream
from webex_meetings.blocking import BlockingEventStream

CLOUD = "http://127.0.0.1:8765"


def on_any(event: Any) -> None: ...
def on_mercury(event: MercuryEvent) -> None: ...
def on_registered(event: MeetingsRegistered) -> None: ...


async def async_face() -> None:
    webex = Webex.init(credentials={"access_token": "t"}, config=SessionConfig(), cloud=CLOUD)
    Webex.init("token", runtime="trio", unregister_timeout=2.0, verify=False, proxy=None)
    Webex(access_token="t", cloud=None)
    Webex.init(credentials={"access_token": "t"}, clod=CLOUD)  # E: keyword argument "clod"
    Webex(access_token="t", runtime="curio")  # E: incompatible type "Literal['curio']"
    Webex(access_token="t", unregister_timeout="10")  # E: incompatible type "str"
    Webex.init("t", SessionConfig())  # E: Too many positional arguments

    meetings = webex.meetings
    meetings.on("meetings:ready", on_any)
    meetings.on("meetings:registered", on_any)
    meetings.once("network:disconnected", on_any)
    meetings.on("meetings:registred", on_any)  # E: No overload variant of "on"
    meetings.once("meetings:redy", on_any)  # E: No overload variant of "once"
    meetings.off("meeting:unregistered")  # E: incompatible type "Literal['meeting:unregistered']"
    meetings.events("meetings:registred")  # E: No overload variant of "events"
    meetings.on("event:locus", on_any)  # E: No overload variant of "on"
    meetings.on(mercury_events("locus"), on_mercury)
    meetings.on(MeetingsRegistered, on_registered)
    meetings.on(MeetingsRegistered, on_mercury)  # E: type "Callable[[MercuryEvent], None]"
    assert_type(meetings.events(MercuryEvent), AsyncEventStream[MercuryEvent])
    assert_type(meetings.events(mercury_events("locus")), AsyncEventStream[MercuryEvent])
    assert_type(meetings.ready, bool)
    names: tuple[EventName, ...] = ("meetings:ready", "meetings:registered")
    for name in names:
        meetings.on(name, on_any)


def blocking_face() -> None:
    webex = blocking.Webex.init(credentials={"access_token": "t"}, cloud=CLOUD)
    blocking.Webex(access_token="t", config=SessionConfig(), unregister_timeout=1.0)
    blocking.Webex.init("t", clod=CLOUD)  # E: Unexpected keyword argument "clod"
    blocking.Webex.init("t", runtime="trio")  # E: Unexpected keyword argument "runtime"
    options: WebexOptions = {"cloud": CLOUD, "verify": False}
    blocking.Webex(**options)
    Webex(**options)

    meetings = webex.meetings
    meetings.on("meetings:ready", on_any)
    meetings.on("meetings:registred", on_any)  # E: No overload variant of "on"
    meetings.once("meetings:redy", on_any)  # E: No overload variant of "once"
    meetings.events("meetings:registred")  # E: No overload variant of "events"
    assert_type(meetings.events(MercuryEvent), BlockingEventStream[MercuryEvent])
    assert_type(meetings.events(mercury_events("locus")), BlockingEventStream[MercuryEvent])
    assert_type(meetings.ready, bool)
"""

EXPECTED = re.compile(r"#\s*E:\s*(.+)$")
REPORTED = re.compile(r"^user_app\.py:(\d+): error: (.*)$")


def expected_errors(source: str) -> dict[int, str]:
    found = {}
    for number, line in enumerate(source.splitlines(), start=1):
        match = EXPECTED.search(line)
        if match:
            found[number] = match.group(1).strip()
    return found


def run_mypy(directory: Path, source: str) -> str:
    (directory / "user_app.py").write_text(source)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MYPYPATH")}
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "user_app.py"],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return done.stdout + done.stderr


def test_misspelt_names_and_keywords_fail_type_checking(tmp_path: Path) -> None:
    output = run_mypy(tmp_path, SNIPPET)
    reported: dict[int, list[str]] = {}
    for line in output.splitlines():
        match = REPORTED.match(line)
        if match:
            reported.setdefault(int(match.group(1)), []).append(match.group(2))
    expected = expected_errors(SNIPPET)
    assert len(expected) == 15
    unexpected = {n: m for n, m in reported.items() if n not in expected}
    assert unexpected == {}, output
    for number, text in expected.items():
        messages = reported.get(number, [])
        assert any(text in message for message in messages), (number, text, output)
