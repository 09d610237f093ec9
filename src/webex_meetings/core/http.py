"""HTTP messages as plain data: what the core asks to send and what it is handed back.

The core never opens a connection. It builds :class:`HttpRequest` values and is given
:class:`HttpResponse` values; a transport (``webex_meetings.transports``) moves the bytes.
Both are immutable and their ``repr`` never shows a credential.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

from .errors import (
    AuthorizationError,
    DeviceLimitError,
    HttpStatusError,
    RateLimitedError,
    RemoteProtocolError,
)
from .fast_init import fast_init
from .redaction import REDACTED, redact

__all__ = [
    "Headers",
    "HttpRequest",
    "HttpResponse",
    "decode_json",
    "error_for_status",
    "header_value",
    "parse_retry_after",
]

Headers = tuple[tuple[str, str], ...]
"""Header pairs in wire order; names are compared case-insensitively."""

_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
EXCESSIVE_DEVICES_MESSAGE = "User has excessive device registrations"


def header_value(headers: Headers, name: str) -> str | None:
    """The first value of header ``name`` (case-insensitive), or ``None``."""
    lowered = name.lower()
    for key, value in headers:
        if key.lower() == lowered:
            return value
    return None


def _redacted_headers(headers: Headers) -> Headers:
    return tuple((k, REDACTED if k.lower() in _SECRET_HEADERS else redact(v)) for k, v in headers)


@fast_init
@dataclass(frozen=True, slots=True)
class HttpRequest:
    """One HTTP request the core wants sent.

    ``body`` is the exact bytes to send (already JSON- or form-encoded, with a matching
    ``content-type`` header) or ``None`` for no body. ``timeout`` is in seconds; ``None``
    means the transport's default. ``step`` names the protocol step, for errors and logs.
    """

    method: str
    url: str
    headers: Headers = ()
    body: bytes | None = None
    timeout: float | None = None
    step: str = ""

    def header(self, name: str) -> str | None:
        """The first value of header ``name``, case-insensitive."""
        return header_value(self.headers, name)

    def json(self) -> Any:
        """The body parsed as JSON (for tests and emulators)."""
        return json.loads(self.body or b"null")

    @property
    def host(self) -> str:
        """``host[:port]`` of the URL."""
        return urlsplit(self.url).netloc

    def __repr__(self) -> str:
        body = None if self.body is None else redact(self.body.decode("utf-8", "replace"))
        return (
            f"HttpRequest(method={self.method!r}, url={redact(self.url)!r}, "
            f"headers={_redacted_headers(self.headers)!r}, body={body!r}, step={self.step!r})"
        )


@fast_init
@dataclass(frozen=True, slots=True)
class HttpResponse:
    """One HTTP response, as the transport received it."""

    status: int
    headers: Headers = ()
    body: bytes = b""
    extensions: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def header(self, name: str) -> str | None:
        """The first value of header ``name``, case-insensitive."""
        return header_value(self.headers, name)

    def json(self, *, step: str = "") -> Any:
        """The body parsed as JSON.

        :raises RemoteProtocolError: the body is not valid UTF-8 JSON.
        """
        try:
            return decode_json(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # too deeply nested
            raise RemoteProtocolError(
                f"the server's answer is not valid JSON ({type(exc).__name__})", step=step
            ) from None

    def json_object(self, *, step: str = "") -> dict[str, Any]:
        """The body parsed as a JSON object.

        :raises RemoteProtocolError: the body is not a JSON object.
        """
        value = self.json(step=step)
        if not isinstance(value, dict):
            raise RemoteProtocolError(
                f"expected a JSON object, got {type(value).__name__}", step=step
            )
        return value

    @property
    def ok(self) -> bool:
        """True for a 2xx status."""
        return 200 <= self.status < 300

    def __repr__(self) -> str:
        body = redact(self.body.decode("utf-8", "replace"))[:200]  # cut after: no half token
        return (
            f"HttpResponse(status={self.status}, headers={_redacted_headers(self.headers)!r}, "
            f"body={body!r})"
        )


_DECODER: Final = json.JSONDecoder()
_SCAN: Final = _DECODER.scan_once  # type: ignore[attr-defined]


def decode_json(text: str) -> Any:
    """``json.loads(text)``, through the decoder's scanner directly when the text has no
    surrounding whitespace (the usual case: two Python frames and two regex matches less).

    :raises ValueError: ``text`` is not JSON.
    :raises RecursionError: it is nested too deeply.
    """
    try:
        value, end = _SCAN(text, 0)
    except StopIteration:
        return _DECODER.decode(text)  # leading whitespace, or nothing: the full rules
    if end != len(text):
        return _DECODER.decode(text)
    return value


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds: a number of seconds, or ``None`` when absent or unusable.

    HTTP-date values are not converted (that would need the clock); they read as ``None``.
    """
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    if seconds != seconds or seconds < 0 or seconds == float("inf"):  # NaN, negative, inf
        return None
    return seconds


_MESSAGE_KEYS = ("message", "error", "errorString", "response", "errorResponse", "msg")


def _server_message(body: Any, depth: int = 0) -> str | None:
    """The first message-like field of an error body, searched as the JS SDK does."""
    if depth > 4:
        return None
    if isinstance(body, str):
        return redact(body)[:300] or None  # redact first: a cut must not split a token
    if isinstance(body, dict):
        for key in _MESSAGE_KEYS:
            if key in body:
                found = _server_message(body[key], depth + 1)
                if found:
                    return found
        for value in body.values():
            if isinstance(value, (dict, list)):
                found = _server_message(value, depth + 1)
                if found:
                    return found
    if isinstance(body, list):
        for item in body[:5]:
            found = _server_message(item, depth + 1)
            if found:
                return found
    return None


def error_for_status(request: HttpRequest, response: HttpResponse) -> HttpStatusError:
    """The typed error for an unsuccessful ``response`` to ``request``."""
    try:
        body: Any = json.loads(response.body.decode("utf-8")) if response.body else None
    except (UnicodeDecodeError, ValueError, RecursionError):
        body = response.body.decode("utf-8", "replace") or None
    message = _server_message(body)
    kwargs: dict[str, Any] = {
        "method": request.method,
        "url": redact(request.url),
        "step": request.step or None,
        "server_message": message,
        "tracking_id": request.header("trackingid"),
        "retry_after": parse_retry_after(response.header("retry-after")),
    }
    cls: type[HttpStatusError] = HttpStatusError
    if response.status in (401, 403):
        cls = AuthorizationError
        if message and EXCESSIVE_DEVICES_MESSAGE.lower() in message.lower():
            cls = DeviceLimitError
    elif response.status == 429:
        cls = RateLimitedError
    elif message and EXCESSIVE_DEVICES_MESSAGE.lower() in message.lower():
        cls = DeviceLimitError
    return cls(response.status, **kwargs)
