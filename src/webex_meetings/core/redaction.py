"""Keeping secrets out of every string we produce.

Tokens, refresh tokens and client secrets must never reach a log record, a ``repr``, an
exception message or test output. Two layers do it:

* :class:`Secret` wraps a secret value; its ``repr`` and ``str`` never show the value, only
  ``reveal()`` does, and only the code that puts it on the wire calls that.
* :func:`redact` scrubs free text (server messages, URLs, frames) of anything shaped like a
  credential: ``Bearer <x>``, ``"token": "<x>"`` (or ``'token': '<x>'`` in a Python repr),
  ``access_token=<x>``, ``client_secret=<x>``,
  HTTP Basic credentials, and any value registered with :func:`register_secret`.
"""

from __future__ import annotations

import re
import threading
import weakref
from typing import Final

__all__ = ["REDACTED", "Secret", "redact", "register_secret"]

REDACTED: Final = "<redacted>"

_KEYS = r"(?:access_token|refresh_token|client_secret|id_token|token|code|assertion|password)"
_PATTERNS: Final = (
    # Authorization header values, in any text; a doubled scheme ("Bearer Bearer x") included.
    re.compile(r"(?i)\b(Bearer|Basic)(\s+(?:(?:Bearer|Basic)\s+)*)[A-Za-z0-9._~+/=\-]+"),
    # JSON fields: "token": "...", "access_token":"...", and Python reprs: {'token': '...'}
    re.compile(r"""(?i)((["'])""" + _KEYS + r"""\2\s*:\s*(["']))((?:(?!\3)[^\\]|\\.)*)(\3)"""),
    # form or query fields: access_token=...&
    re.compile(r"(?i)(?<![A-Za-z0-9_])(" + _KEYS + r")(=)([^&\s\"']+)"),
)

_lock = threading.Lock()
_registered: weakref.WeakSet[Secret] = weakref.WeakSet()


def _scrub_patterns(text: str) -> str:
    text = _PATTERNS[0].sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    text = _PATTERNS[1].sub(lambda m: f"{m.group(1)}{REDACTED}{m.group(5)}", text)
    text = _PATTERNS[2].sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    return text


def redact(text: str) -> str:
    """Return ``text`` with every credential-shaped substring replaced by ``<redacted>``."""
    if not text:
        return text
    with _lock:
        known = [s._value for s in _registered if len(s._value) >= 8]
    for value in sorted(known, key=len, reverse=True):
        if value in text:
            text = text.replace(value, REDACTED)
    return _scrub_patterns(text)


class Secret:
    """A secret string that never shows itself by accident.

    >>> s = Secret("abc")
    >>> s
    Secret('<redacted>')
    >>> s.reveal()
    'abc'
    """

    __slots__ = ("__weakref__", "_value")

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("a secret must be a str")
        self._value = value
        register_secret(self)

    def reveal(self) -> str:
        """The secret value itself; call only where it goes on the wire."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({REDACTED!r})"

    def __str__(self) -> str:
        return REDACTED

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("secrets are not picklable")


def register_secret(secret: Secret) -> None:
    """Make :func:`redact` mask this exact value wherever it appears, for as long as it lives."""
    with _lock:
        _registered.add(secret)
