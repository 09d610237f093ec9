"""HTTP requests and responses of the emulator as plain values, and the Webex error shapes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

__all__ = ["Request", "Response", "error_response", "json_response"]

Headers = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Request:
    """One parsed HTTP request. Header names are lower-cased."""

    method: str
    target: str
    headers: Headers
    body: bytes = b""
    connection_id: int = 0

    @property
    def path(self) -> str:
        """The target without its query string."""
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, str]:
        """Query parameters (the first value of each name)."""
        pairs = parse_qsl(urlsplit(self.target).query, keep_blank_values=True)
        result: dict[str, str] = {}
        for key, value in pairs:
            result.setdefault(key, value)
        return result

    def header(self, name: str) -> str | None:
        """The first value of a header, or ``None``."""
        lowered = name.lower()
        for key, value in self.headers:
            if key == lowered:
                return value
        return None

    @property
    def tracking_id(self) -> str:
        """The client's ``trackingid`` header, or ``""``."""
        return self.header("trackingid") or ""

    def json(self) -> Any:
        """The body parsed as JSON.

        :raises ValueError: the body is not UTF-8 JSON, or nests too deeply to parse.
        """
        try:
            return json.loads(self.body.decode("utf-8"))
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None

    def __repr__(self) -> str:
        return f"Request({self.method} {self.path!r}, {len(self.body)} body bytes)"


@dataclass(frozen=True, slots=True)
class Response:
    """One HTTP response to send. ``drop`` means: close the connection without answering."""

    status: int
    body: bytes = b""
    headers: Headers = ()
    drop: bool = False


def json_response(status: int, payload: Any, headers: Headers = ()) -> Response:
    """A JSON response (``application/json;charset=UTF-8``)."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    return Response(status, body, (("content-type", "application/json;charset=UTF-8"), *headers))


def error_response(
    status: int, message: str, *, tracking_id: str = "", headers: Headers = ()
) -> Response:
    """A Webex-shaped error: ``{message, errors: [{description}], trackingId}``."""
    payload = {
        "message": message,
        "errors": [{"description": message}],
        "trackingId": tracking_id,
    }
    return json_response(status, payload, headers)
