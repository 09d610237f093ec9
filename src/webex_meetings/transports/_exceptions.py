"""Translating foreign exceptions into ours, at the transport boundary.

Each transport declares one table, :data:`ExceptionMap`: which foreign exception class becomes
which of our errors, with a few words saying what went wrong. :func:`map_exceptions` applies
it; the first row that matches wins, so narrower classes go first (``ssl.SSLError`` and the
builtin ``TimeoutError`` before ``OSError``).

The message is built from our words, the foreign class name and, where there is one, the
symbolic ``errno`` (``ECONNREFUSED``) or OpenSSL reason (``CERTIFICATE_VERIFY_FAILED``). The
foreign message itself is never used and the foreign exception is not chained: h11 quotes
header values in its messages, and headers carry tokens.

One case comes before every table: a failed certificate verification
(:class:`ssl.SSLCertVerificationError` anywhere in the exception's causes, however the library
wrapped it) is always :class:`~webex_meetings.core.errors.CertificateError`, which the core
never retries.

The context (``"POST https://host/path"``) is passed as a callable and built only when an
exception is actually translated: building it costs a redaction, and the success path should
not pay for it.
"""

from __future__ import annotations

import errno
import ssl
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from ..core.errors import CertificateError, TransportError, WebexError

if sys.version_info < (3, 11):  # pragma: no cover - anyio brings the backport there
    from exceptiongroup import BaseExceptionGroup

__all__ = ["ExceptionMap", "describe", "is_certificate_failure", "map_exceptions"]

ExceptionMap = Sequence[tuple[type[BaseException], type[TransportError], str]]
"""Rows of ``(foreign class, our class, what went wrong in a few words)``."""

_CAUSE_DEPTH = 4


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and the exceptions it was raised from, nearest first (a few levels)."""
    seen: BaseException | None = exc
    for _ in range(_CAUSE_DEPTH):
        if seen is None:
            return
        yield seen
        seen = seen.__cause__ or seen.__context__


def _detail(exc: BaseException) -> str | None:
    """A symbolic errno or OpenSSL reason found on ``exc`` or its causes, else ``None``."""
    for seen in _causes(exc):
        if isinstance(seen, ssl.SSLError) and seen.reason:
            return str(seen.reason)
        if isinstance(seen, OSError) and seen.errno is not None:
            return errno.errorcode.get(seen.errno)
    return None


def is_certificate_failure(exc: BaseException) -> bool:
    """True when ``exc`` or one of its causes is a failed certificate verification."""
    return any(isinstance(seen, ssl.SSLCertVerificationError) for seen in _causes(exc))


def describe(exc: BaseException) -> str:
    """``ConnectError, ECONNREFUSED``: the class name and the safe detail of ``exc``."""
    detail = _detail(exc)
    return f"{type(exc).__name__}, {detail}" if detail else type(exc).__name__


def _single_failure(exc: Exception) -> Exception:
    """The one exception inside a group of one (a library's task group, such as httpcore's
    connect under anyio, wraps it), else ``exc`` itself."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        inner = exc.exceptions[0]
        if not isinstance(inner, Exception):
            break
        exc = inner
    return exc


@contextmanager
def map_exceptions(table: ExceptionMap, context: Callable[[], str]) -> Iterator[None]:
    """Re-raise a foreign exception matching a row of ``table`` as our error.

    ``context()`` says what was being done (``"POST https://host/path"``); it is called only
    when there is something to translate and must not return a secret. Our own errors and
    unmatched exceptions (including cancellation) pass through.
    """
    try:
        yield
    except WebexError:
        raise
    except Exception as raised:
        exc = _single_failure(raised)
        if isinstance(exc, WebexError):
            raise exc from None
        if is_certificate_failure(exc):
            raise CertificateError(
                f"{context()}: the server's certificate is not trusted ({describe(exc)})"
            ) from None
        for foreign, ours, words in table:
            if isinstance(exc, foreign):
                raise ours(f"{context()}: {words} ({describe(exc)})") from None
        raise
