"""Keeping secrets out of every string we produce.

Tokens, refresh tokens and client secrets must never reach a log record, a ``repr``, an
exception message or test output. Two layers do it:

* :class:`Secret` wraps a secret value; its ``repr`` and ``str`` never show the value, only
  ``reveal()`` does, and only the code that puts it on the wire calls that.
* :func:`redact` scrubs free text (server messages, URLs, frames) of anything shaped like a
  credential: ``Bearer <x>``, ``"token": "<x>"`` (or ``'token': '<x>'`` in a Python repr),
  ``access_token=<x>``, ``client_secret=<x>``,
  HTTP Basic credentials, and any value held by a live :class:`Secret` (every ``Secret``
  registers itself), wherever it appears.

The registry of live values is indexed by prefix, so :func:`redact` costs one pass over its
text however many sessions (and secrets) the process holds. A value is forgotten when the last
``Secret`` holding it is collected; :class:`~.credentials.Credentials` keeps its predecessors'
secrets alive, so a superseded token stays masked for the life of its session.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from typing import Final

__all__ = ["REDACTED", "Secret", "redact", "register_secret"]

REDACTED: Final = "<redacted>"

_KEYS = r"(?:access_token|refresh_token|client_secret|id_token|token|code|assertion|password)"
_PATTERNS: Final = (
    # Authorization header values, in any text; a doubled scheme ("Bearer Bearer x") included.
    re.compile(r"(?i)\b(Bearer|Basic)(\s+(?:(?:Bearer|Basic)\s+)*)[A-Za-z0-9._~+/=\-]+"),
    # JSON fields: "token": "...", "access_token":"...", and Python reprs: {'token': '...'}
    re.compile(r"""(?i)((["'])""" + _KEYS + r"""\2\s*:\s*(["']))((?:(?!\3)[^\\]|\\.)*)(\3)"""),
    # form or query fields: access_token=...& (a value starts with a token character, so our
    # own prose such as "pass access_token=, or ..." is left alone)
    re.compile(r"(?i)(?<![A-Za-z0-9_])(" + _KEYS + r")(=)([A-Za-z0-9._~+/=%\-][^&\s\"']*)"),
)

_MIN_LENGTH: Final = 8
"""Registered values shorter than this are not masked by value (they would mangle ordinary
text); the patterns above still catch them in credential-shaped places."""

_lock = threading.Lock()
_live: dict[str, int] = {}
"""Each registered value and how many live :class:`Secret` objects hold it."""
_by_prefix: dict[str, tuple[str, ...]] = {}
"""Registered values by their first :data:`_MIN_LENGTH` characters, longest first. Written
under the lock one key at a time (each bucket an immutable tuple), so :func:`redact` reads it
without the lock from any thread."""


def _masked_field(match: re.Match[str]) -> str:
    key, value = match.group(1), match.group(3)
    if key.lower() == "code" and value.rstrip(",)").isdigit():
        return match.group(0)  # a close or status code (code=4400), not an OAuth code
    return f"{key}={REDACTED}"


def _scrub_patterns(text: str) -> str:
    text = _PATTERNS[0].sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    text = _PATTERNS[1].sub(lambda m: f"{m.group(1)}{REDACTED}{m.group(5)}", text)
    text = _PATTERNS[2].sub(_masked_field, text)
    return text


def _mask_registered(text: str) -> str:
    """``text`` with every registered value masked, wherever it stands (even glued to other
    characters). One pass over the text, a dictionary lookup per position: the cost does not
    grow with the number of secrets the process holds."""
    index = _by_prefix
    end = len(text) - _MIN_LENGTH
    if not index or end < 0:
        return text
    pieces: list[str] = []
    done = position = 0
    while position <= end:
        candidates = index.get(text[position : position + _MIN_LENGTH])
        value = (
            next((v for v in candidates if text.startswith(v, position)), None)
            if candidates
            else None
        )
        if value is None:
            position += 1
            continue
        pieces += (text[done:position], REDACTED)
        position = done = position + len(value)
    return "".join(pieces) + text[done:] if pieces else text


def redact(text: str) -> str:
    """Return ``text`` with every credential-shaped substring replaced by ``<redacted>``."""
    if not text:
        return text
    if _collected:
        with _lock:
            _forget_collected()
    return _scrub_patterns(_mask_registered(text))


class Secret:
    """A secret string that never shows itself by accident.

    >>> s = Secret("abc")
    >>> s
    Secret('<redacted>')
    >>> s.reveal()
    'abc'
    """

    __slots__ = ("_registered", "_value")

    def __init__(self, value: str) -> None:
        self._registered = False
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

    def __del__(self) -> None:
        # Collected: forget the value later, under the lock (the collector may run inside
        # a locked section, so only the atomic, lock-free append happens here).
        if self._registered:
            _collected.append(self._value)


def register_secret(secret: Secret) -> None:
    """Make :func:`redact` mask this exact value wherever it appears, for as long as some
    :class:`Secret` holding it lives. Registering the same object twice is harmless."""
    value = secret._value
    with _lock:
        if secret._registered or len(value) < _MIN_LENGTH:
            return
        secret._registered = True
        count = _live.get(value, 0) + 1
        _live[value] = count
        if count == 1:
            _reindex(value, add=True)
        if _collected:  # after counting this one: a value collected and held again stays
            _forget_collected()


_collected: deque[str] = deque()
"""Values whose :class:`Secret` was collected, to forget under the lock later. The collector
may run inside a locked section, so its callback only appends (atomic, lock-free)."""


def _forget_collected() -> None:
    """Forget the values of collected secrets (called under the lock)."""
    while _collected:
        value = _collected.popleft()
        _live[value] -= 1
        if _live[value] == 0:
            del _live[value]
            _reindex(value, add=False)


def _reindex(value: str, *, add: bool) -> None:
    """Add ``value`` to, or drop it from, its prefix's bucket (called under the lock)."""
    prefix = value[:_MIN_LENGTH]
    bucket = _by_prefix.get(prefix)
    if bucket is None or bucket == (value,):  # the usual case: no other value shares it
        if add:
            _by_prefix[prefix] = (value,)
        else:
            del _by_prefix[prefix]
        return
    others = tuple(v for v in bucket if v != value)
    bucket = tuple(sorted((*others, value), key=len, reverse=True)) if add else others
    if bucket:
        _by_prefix[prefix] = bucket
    else:
        del _by_prefix[prefix]
