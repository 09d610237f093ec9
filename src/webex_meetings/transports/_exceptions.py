"""Translating foreign exceptions into ours, at the transport boundary.

Each transport declares one table, :data:`ExceptionMap`: which foreign exception class becomes
which of our errors, with a few words saying what went wrong. :func:`map_exceptions` applies
it; the first row that matches wins, so narrower classes go first (``ssl.SSLError`` and the
builtin ``TimeoutError`` before ``OSError``).

The message is built from our words, the foreign class name and, where there is one, the
symbolic ``errno`` (``ECONNREFUSED``) or OpenSSL reason (``CERTIFICATE_VERIFY_FAILED``). The
foreign message itself is never used and the foreign exception is not chained: h11 quotes
header values in its messages, and headers carry tokens.
"""

from __future__ import annotations

import errno
import ssl
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from ..core.errors import TransportError, WebexError

__all__ = ["ExceptionMap", "describe", "map_exceptions"]

ExceptionMap = Sequence[tuple[type[BaseException], type[TransportError], str]]
"""Rows of ``(foreign class, our class, what went wrong in a few words)``."""

_CAUSE_DEPTH = 4


def _detail(exc: BaseException) -> str | None:
    """A symbolic errno or OpenSSL reason found on ``exc`` or its causes, else ``None``."""
    seen: BaseException | None = exc
    for _ in range(_CAUSE_DEPTH):
        if seen is None:
            return None
        if isinstance(seen, ssl.SSLError) and seen.reason:
            return str(seen.reason)
        if isinstance(seen, OSError) and seen.errno is not None:
            return errno.errorcode.get(seen.errno)
        seen = seen.__cause__ or seen.__context__
    return None


def describe(exc: BaseException) -> str:
    """``ConnectError, ECONNREFUSED``: the class name and the safe detail of ``exc``."""
    detail = _detail(exc)
    return f"{type(exc).__name__}, {detail}" if detail else type(exc).__name__


@contextmanager
def map_exceptions(table: ExceptionMap, context: str) -> Iterator[None]:
    """Re-raise a foreign exception matching a row of ``table`` as our error.

    ``context`` says what was being done (``"POST https://host/path"``); it must not hold a
    secret. Our own errors and unmatched exceptions (including cancellation) pass through.
    """
    try:
        yield
    except WebexError:
        raise
    except Exception as exc:
        for foreign, ours, words in table:
            if isinstance(exc, foreign):
                raise ours(f"{context}: {words} ({describe(exc)})") from None
        raise
