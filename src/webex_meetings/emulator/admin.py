"""The admin HTTP API under ``/_emulator/``: the control API as JSON, for non-Python clients.

Theory of operation: the API is data, a table of :class:`Endpoint` rows
(:data:`~webex_meetings.emulator.admin_endpoints.ENDPOINTS`). Each endpoint names its method
and path, its body fields (each with a JSON type, a default and one line of documentation) and
what it answers. :class:`Admin` dispatches from that table, refuses unknown fields, missing
fields and wrong types with 400 before anything runs, then calls the Python control API,
whose own checks (NaN, infinity, negatives, unknown route names) also answer 400 with the
control error's message; an unknown device or user answers 404. The same table renders the
reference in the README and in ``webex-meetings emulator --help``
(:mod:`~webex_meetings.emulator.reference`), so the documentation cannot drift from the code.

``GET`` endpoints observe, ``POST`` endpoints take a JSON object (or no body) and steer. Admin
calls are never recorded as client requests and never count as violations.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from .control import Control
from .inputs import ControlInputError
from .layout import Urls
from .messages import Request, Response, error_response, json_response
from .state import Clock, CloudState, User

__all__ = ["PREFIX", "Admin", "AdminTarget", "Endpoint", "Field"]

PREFIX: Final = "/_emulator/"
_REQUIRED: Final = object()

Check = Callable[[Any], bool]


@dataclass(frozen=True, slots=True)
class Field:
    """One body field: its JSON type (as documented), its default, and what it means."""

    name: str
    type: str
    doc: str
    default: Any = _REQUIRED

    @property
    def required(self) -> bool:
        return self.default is _REQUIRED

    def accepts(self, value: Any) -> bool:
        """Whether ``value`` has this field's JSON type (values are checked by the control)."""
        if value is None:
            return "null" in self.type or self.default is None
        return any(_TYPES[name](value) for name in self.type.split("|") if name in _TYPES)

    def describe(self) -> str:
        if self.required:
            return self.name
        return f"{self.name}={json.dumps(self.default)}"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_TYPES: Final[dict[str, Check]] = {
    "string": lambda v: isinstance(v, str),
    "int": _is_int,
    "number": lambda v: _is_int(v) or isinstance(v, float),
    "bool": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "null": lambda v: v is None,
}


class AdminTarget(Protocol):
    """What the admin API drives (the :class:`~webex_meetings.emulator.Emulator`)."""

    control: Control
    state: CloudState
    clock: Clock

    @property
    def urls(self) -> Urls: ...

    def issue_token(
        self, user: User | str | None = None, *, expires_in: float | None = None
    ) -> str: ...

    def add_user(self, *, email: str | None = None, display_name: str | None = None) -> User: ...

    def advance(self, seconds: float) -> None: ...


Run = Callable[[AdminTarget, dict[str, Any], Request], Any]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One admin endpoint: ``method /_emulator/path``, its body fields and its answer."""

    method: str
    path: str
    doc: str
    answer: str
    run: Run
    fields: tuple[Field, ...] = ()

    @property
    def signature(self) -> str:
        body = ", ".join(f.describe() for f in self.fields)
        return f"{self.method} {PREFIX}{self.path}" + (f" {{{body}}}" if body else "")


# -- dispatch ----------------------------------------------------------------------------------


class Admin:
    """Answers ``/_emulator/...`` requests for one emulator (see the module docstring)."""

    def __init__(self, emulator: AdminTarget, endpoints: Sequence[Endpoint]) -> None:
        self._emulator = emulator
        self._table = {(e.method, e.path): e for e in endpoints}

    async def __call__(self, request: Request) -> Response:
        """Answer one admin request; never raises."""
        name = request.path[len(PREFIX) :].strip("/")
        endpoint = self._table.get((request.method, name))
        if endpoint is None:
            return error_response(404, f"no admin endpoint {request.method} {request.path}")
        body = _body(request, endpoint) if endpoint.method == "POST" else {}
        if isinstance(body, str):
            return error_response(400, f"{endpoint.signature}: {body}")
        try:
            result = endpoint.run(self._emulator, body, request)
        except ControlInputError as exc:
            return error_response(400, f"{endpoint.signature}: {exc}")
        except KeyError as exc:
            return error_response(404, f"{endpoint.signature}: not found: {exc.args[0]}")
        return json_response(200, {} if result is None else result)


def _body(request: Request, endpoint: Endpoint) -> dict[str, Any] | str:
    """The checked body with defaults filled in, or why it is refused."""
    raw = _json_object(request)
    if isinstance(raw, str):
        return raw
    known = {f.name for f in endpoint.fields}
    unknown = sorted(set(raw) - known)
    if unknown:
        accepted = ", ".join(sorted(known)) or "none"
        return f"unknown field(s) {', '.join(unknown)}; accepted: {accepted}"
    body: dict[str, Any] = {}
    for field in endpoint.fields:
        if field.name not in raw:
            if field.required:
                return f"the field {field.name!r} ({field.type}) is required"
            body[field.name] = field.default
            continue
        value = raw[field.name]
        if not field.accepts(value):
            return f"{field.name} must be {field.type}, not {json.dumps(value)[:80]}"
        body[field.name] = value
    return body


def _json_object(request: Request) -> dict[str, Any] | str:
    if not request.body.strip():
        return {}
    try:
        value = request.json()
    except ValueError as exc:
        return f"the body is not JSON ({exc})"
    if not isinstance(value, dict):
        return "the body must be a JSON object"
    return value
