"""What every HTTP transport does to an answer the same way: its bounds and its decoding.

Shared by :mod:`.httpx_transport` and :mod:`.http_asyncio`, so both cap a body at the same
size with the same error, inflate the same encodings under the same cap, and name a failed
request the same way in an error message (without its query or headers).
"""

from __future__ import annotations

import zlib
from urllib.parse import urlsplit

from ..core.errors import ResponseTooLargeError
from ..core.http import HttpRequest
from ..core.redaction import redact

__all__ = [
    "DEFAULT_HTTP_TIMEOUT",
    "DEFAULT_MAX_RESPONSE_SIZE",
    "declared_length",
    "inflate",
    "too_large",
    "where",
]

DEFAULT_HTTP_TIMEOUT = 30.0
"""Seconds allowed for one request when it names no timeout of its own."""

DEFAULT_MAX_RESPONSE_SIZE = 16 * 1024 * 1024
"""Bytes a response body may hold (16 MiB; Webex's answers are a few KiB, a long device list
some hundreds)."""

_INFLATE_WBITS = {
    "gzip": 16 + zlib.MAX_WBITS,
    "x-gzip": 16 + zlib.MAX_WBITS,
    "deflate": zlib.MAX_WBITS,
}
"""``Content-Encoding`` -> zlib's ``wbits`` for it."""

_MAX_LENGTH_DIGITS = 20


def where(request: HttpRequest) -> str:
    """``POST https://host/path``: the request named without query or headers. Built only
    for an error message (redaction is not free)."""
    parts = urlsplit(request.url)
    return redact(
        f"{request.method} {parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"
    )


def too_large(request: HttpRequest, limit: int) -> ResponseTooLargeError:
    """The error for an answer whose body exceeds ``limit`` bytes."""
    return ResponseTooLargeError(f"{where(request)}: the answer is larger than {limit} bytes")


def declared_length(value: str | bytes | None) -> int | None:
    """A ``Content-Length`` value as a number, or ``None`` when absent or not a number."""
    try:
        return int(value) if value is not None and len(value) <= _MAX_LENGTH_DIGITS else None
    except ValueError:
        return None


def inflate(body: bytes, encoding: str | None, request: HttpRequest, limit: int) -> bytes:
    """``body`` decoded per ``Content-Encoding`` (gzip, deflate), never beyond ``limit``.

    :raises ResponseTooLargeError: the decoded body exceeds ``limit``.
    :raises zlib.error: the body is not what its encoding says.
    """
    wbits = _INFLATE_WBITS.get((encoding or "").strip().lower())
    if wbits is None or not body:
        return body
    data = zlib.decompressobj(wbits).decompress(body, limit + 1)
    if len(data) > limit:
        raise too_large(request, limit)
    return data
