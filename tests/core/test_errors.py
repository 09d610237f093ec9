"""The error hierarchy: each ``except`` clause means what it says, and the README shows it."""

from __future__ import annotations

import builtins
import re
from pathlib import Path

import pytest

import webex_meetings
from webex_meetings.core import errors
from webex_meetings.core.errors import (
    AuthorizationError,
    DeviceLimitError,
    HttpStatusError,
    MercuryClosedError,
    RateLimitedError,
    RemoteProtocolError,
    TimeoutError,
    TransportError,
    WebexError,
)

README = Path(__file__).resolve().parents[2] / "README.md"


def test_a_library_timeout_is_caught_by_the_builtin_timeout_error() -> None:
    with pytest.raises(builtins.TimeoutError):
        raise TimeoutError("no outcome within 5 s", step="register")
    error = TimeoutError("no outcome within 5 s", step="register")
    assert isinstance(error, TransportError)
    assert isinstance(error, WebexError)
    assert str(error) == "no outcome within 5 s (step: register)"
    assert webex_meetings.TimeoutError is TimeoutError


@pytest.mark.parametrize(
    ("status", "cls"),
    [(401, AuthorizationError), (429, RateLimitedError), (500, HttpStatusError)],
)
def test_a_refusal_is_not_a_protocol_break(status: int, cls: type[HttpStatusError]) -> None:
    error = cls(status, method="GET", url="https://x.webex.com/a")
    with pytest.raises(HttpStatusError):
        raise error
    assert not isinstance(error, RemoteProtocolError)
    assert not isinstance(error, TransportError)


def test_a_closed_websocket_is_neither_a_protocol_break_nor_a_refusal() -> None:
    error = MercuryClosedError(4000, "replaced")
    assert not isinstance(error, (RemoteProtocolError, HttpStatusError))


def _readme_tree() -> dict[str, str]:
    """``{class name: parent name}`` from the README's errors tree."""
    [block] = re.findall(r"## Errors\n.*?```text\n(.*?)```", README.read_text(), re.DOTALL)
    parents: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    for line in block.splitlines():
        match = re.match(r"^([\s│├└─]*)(\w+)", line)
        assert match is not None, line
        depth, name = len(match.group(1)), match.group(2)
        while stack and stack[-1][0] >= depth:
            stack.pop()
        if stack:
            parents[name] = stack[-1][1]
        stack.append((depth, name))
    return parents


def test_the_readme_shows_the_hierarchy_of_the_code() -> None:
    documented = _readme_tree()
    classes = {
        name: cls
        for name, cls in vars(errors).items()
        if isinstance(cls, type) and issubclass(cls, WebexError) and cls is not WebexError
    }
    assert set(documented) == set(classes)
    for name, cls in classes.items():
        parent = next(base for base in cls.__bases__ if issubclass(base, WebexError))
        assert documented[name] == parent.__name__, name
    assert DeviceLimitError.__mro__[1] is HttpStatusError
