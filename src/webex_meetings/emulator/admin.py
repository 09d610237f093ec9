"""The admin HTTP API under ``/_emulator/``: the control API as JSON, for non-Python clients.

Theory of operation: :data:`ENDPOINTS` is the whole API as data. Each endpoint names its
method and path, its body fields (each with a type check, a default and one line of
documentation) and what it answers. :class:`Admin` dispatches from that table, refuses unknown
fields, missing fields and wrong types with 400 before anything runs, then calls the Python
control API, whose own checks (NaN, infinity, negatives, unknown route names) also answer 400
with the control error's message. The same table renders the reference in the README and in
``webex-meetings emulator --help`` (:func:`reference_lines`), so the documentation cannot drift
from the code.

``GET`` endpoints observe, ``POST`` endpoints take a JSON object (or no body) and steer. Admin
calls are never recorded as client requests and never count as violations.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from .control import Control
from .inputs import ControlInputError
from .layout import Urls
from .messages import Request, Response, error_response, json_response
from .state import Clock, CloudState, User

__all__ = ["ENDPOINTS", "PREFIX", "Admin", "Endpoint", "Field", "reference_lines"]

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


class Emulator(Protocol):
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


Run = Callable[[Emulator, dict[str, Any], Request], Any]


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


# -- the endpoints -----------------------------------------------------------------------------


def _records(items: Sequence[Any]) -> list[dict[str, Any]]:
    return [dataclasses.asdict(item) for item in items]


def _state(emu: Emulator, body: dict[str, Any], request: Request) -> Any:
    control = emu.control
    return {
        "base_url": emu.urls.for_host(request.header("host")).base,
        "now": emu.clock(),
        "devices": _records(control.devices),
        "connections": _records(control.connections),
        "violations": _records(control.violations),
        "acks": _records(control.acks),
        "request_count": len(control.requests),
    }


def _listing(name: str) -> Run:
    """A GET endpoint answering one of the control API's record lists."""

    def run(emu: Emulator, body: dict[str, Any], request: Request) -> Any:
        return _records(getattr(emu.control, name))

    return run


def _records_all(emu: Emulator, body: dict[str, Any], request: Request) -> Any:
    control = emu.control
    return {
        "now": emu.clock(),
        "requests": _records(control.requests),
        "devices": _records(control.device_history),
        "connections": _records(control.connections),
        "acks": _records(control.acks),
        "violations": _records(control.violations),
    }


def _routes(emu: Emulator, body: dict[str, Any], request: Request) -> Any:
    return {
        "fault_routes": list(emu.control.routes),
        "latency_routes": list(emu.control.latency_routes),
    }


def _issue_token(emu: Emulator, body: dict[str, Any], request: Request) -> Any:
    user = body["user_id"]
    if user is not None and user not in emu.state.users:
        raise KeyError(f"no user {user!r}")
    return {"token": emu.issue_token(user, expires_in=body["expires_in"])}


def _add_user(emu: Emulator, body: dict[str, Any], request: Request) -> Any:
    user = emu.add_user(email=body["email"], display_name=body["display_name"])
    return {"user_id": user.id, "token": emu.issue_token(user, expires_in=body["expires_in"])}


def _restart(emu: Emulator, body: dict[str, Any], request: Request) -> Any:
    emu.control.restart_sparing(request.connection_id, keep_state=body["keep_state"])


def _behaviour(emu: Emulator, body: dict[str, Any], request: Request) -> Any:
    control = emu.control
    known = {"variants": control.variants, "omittable": control.omittable}
    return {**control.behaviour, "device_limit": control.device_limit, "known": known}


def _advance(emu: Emulator, body: dict[str, Any], request: Request) -> Any:
    emu.advance(body["seconds"])
    return {"now": emu.clock()}


def _fail(emu: Emulator, b: dict[str, Any], request: Request) -> Any:
    emu.control.fail_next(b["route"], b["count"], b["status"], b["retry_after"], b["message"])


_ROUTE = Field("route", "string", "a route name or pattern (GET /_emulator/routes lists them)")
_DEVICE = Field("device_id", "string|null", "one device (null: every device)", None)
_COUNT = Field("count", "int|null", "how many matching requests (null: all until cleared)", 1)
_RETRY = Field("retry_after", "number|null", "seconds, sent as a Retry-After header", None)

ENDPOINTS: Final[tuple[Endpoint, ...]] = (
    Endpoint(
        "GET",
        "state",
        "a summary: base URL, clock, live devices, connections, violations, acks",
        "{base_url, now, devices, connections, violations, acks, request_count}",
        _state,
    ),
    Endpoint(
        "GET",
        "records",
        "every record a judge needs, each with its time `at` on the emulator clock",
        "{now, requests, devices (history), connections, acks, violations}",
        _records_all,
    ),
    Endpoint("GET", "violations", "protocol violations", "[violation]", _listing("violations")),
    Endpoint("GET", "requests", "HTTP requests and upgrades", "[request]", _listing("requests")),
    Endpoint("GET", "acks", "Mercury acks", "[ack]", _listing("acks")),
    Endpoint("GET", "connections", "Mercury connections", "[connection]", _listing("connections")),
    Endpoint("GET", "devices", "live devices", "[device]", _listing("devices")),
    Endpoint(
        "GET",
        "device-history",
        "every device, live or ended",
        "[device]",
        _listing("device_history"),
    ),
    Endpoint(
        "GET",
        "faults",
        "the fault and latency rules in force",
        "{faults, latencies}",
        lambda e, b, r: {"faults": e.control.active_faults, "latencies": e.control.latencies},
    ),
    Endpoint(
        "GET",
        "routes",
        "the route names faults and latency take",
        "{fault_routes, latency_routes}",
        _routes,
    ),
    Endpoint(
        "POST",
        "fail",
        "answer the next matching requests with an error status",
        "{}",
        _fail,
        (
            _ROUTE,
            _COUNT,
            Field("status", "int", "the HTTP error status (400-599)", 500),
            _RETRY,
            Field("message", "string|null", "the error body's message", None),
        ),
    ),
    Endpoint(
        "POST",
        "drop",
        "close the connection instead of answering the next matching requests",
        "{}",
        lambda e, b, r: e.control.drop_next(b["route"], b["count"]),
        (_ROUTE, _COUNT),
    ),
    Endpoint(
        "POST",
        "fail-randomly",
        "fail each matching request with probability rate (seeded)",
        "{}",
        lambda e, b, r: e.control.fail_randomly(
            b["route"], b["rate"], b["status"], b["retry_after"]
        ),
        (
            _ROUTE,
            Field("rate", "number", "probability in [0, 1]"),
            Field("status", "int", "the HTTP error status", 503),
            _RETRY,
        ),
    ),
    Endpoint(
        "POST",
        "latency",
        "delay matching answers and frames (0 removes; route '*' is everything)",
        "{}",
        lambda e, b, r: e.control.set_latency(b["route"], b["seconds"]),
        (
            Field("route", "string", "a route or frame name or pattern", "*"),
            Field("seconds", "number", "the delay, finite and >= 0"),
        ),
    ),
    Endpoint(
        "POST",
        "clear",
        "remove every fault and latency",
        "{}",
        lambda e, b, r: e.control.clear_faults(),
    ),
    Endpoint(
        "POST",
        "tokens",
        "issue an access token",
        "{token}",
        _issue_token,
        (
            Field("user_id", "string|null", "the user (null: the default user)", None),
            Field("expires_in", "number|null", "seconds until it expires (null: never)", None),
        ),
    ),
    Endpoint(
        "POST",
        "tokens/revoke",
        "revoke a token",
        "{revoked: bool}",
        lambda e, b, r: {"revoked": e.control.revoke_token(b["token"])},
        (Field("token", "string", "the token"),),
    ),
    Endpoint(
        "POST",
        "tokens/expire",
        "make a token expire now",
        "{expired: bool}",
        lambda e, b, r: {"expired": e.control.expire_token(b["token"])},
        (Field("token", "string", "the token"),),
    ),
    Endpoint(
        "POST",
        "users",
        "add a user, with an access token",
        "{user_id, token}",
        _add_user,
        (
            Field("email", "string|null", "its email", None),
            Field("display_name", "string|null", "its name", None),
            Field("expires_in", "number|null", "the token's lifetime (null: never)", None),
        ),
    ),
    Endpoint(
        "POST",
        "devices/expire",
        "make a device lapse now, as if its ttl ran out",
        "{expired: bool}",
        lambda e, b, r: {"expired": e.control.expire_device(b["device_id"])},
        (Field("device_id", "string", "the device id"),),
    ),
    Endpoint(
        "POST",
        "events",
        "push a Mercury event (redelivered until acked)",
        "{ids}",
        lambda e, b, r: {"ids": e.control.push_event(b["data"], b["device_id"], b["envelope"])},
        (
            Field("data", "object", "the event's data, with an eventType"),
            _DEVICE,
            Field("envelope", "object|null", "top-level envelope fields to add", None),
        ),
    ),
    Endpoint(
        "POST",
        "close",
        "close live websockets with a close frame",
        "{count}",
        lambda e, b, r: {
            "count": e.control.close_connections(b["code"], b["reason"], b["device_id"])
        },
        (
            Field("code", "int", "the close code (1006: use drop-connections)", 1000),
            Field("reason", "string", "the close reason", ""),
            _DEVICE,
        ),
    ),
    Endpoint(
        "POST",
        "drop-connections",
        "cut live websockets without a close frame (the client sees 1006)",
        "{count}",
        lambda e, b, r: {"count": e.control.drop_connections(b["device_id"])},
        (_DEVICE,),
    ),
    Endpoint(
        "POST",
        "shutdown",
        "send the shutdown frame (the next connection replaces the old with 4001)",
        "{count}",
        lambda e, b, r: {"count": e.control.send_shutdown(b["device_id"])},
        (_DEVICE,),
    ),
    Endpoint(
        "GET",
        "behaviour",
        "the departures in force, the device limit, and every variant and omittable field",
        "{variants, omitted, features, session_rules, device_limit, known}",
        _behaviour,
    ),
    Endpoint(
        "POST",
        "variants",
        "switch a variant on or off (GET behaviour lists them)",
        "{}",
        lambda e, b, r: e.control.set_variant(b["name"], b["enabled"]),
        (
            Field("name", "string", "the variant"),
            Field("enabled", "bool", "on or off", True),
        ),
    ),
    Endpoint(
        "POST",
        "omit",
        "leave a field out of the answers (or put it back)",
        "{}",
        lambda e, b, r: e.control.omit(b["field"], b["omitted"]),
        (
            Field("field", "string", "device.url, device.webSocketUrl, catalog.hostCatalog, ..."),
            Field("omitted", "bool", "left out or not", True),
        ),
    ),
    Endpoint(
        "POST",
        "features",
        "override a WDM feature toggle in device answers (value null removes it)",
        "{}",
        lambda e, b, r: e.control.set_feature(b["key"], b["value"], b["kind"]),
        (
            Field("key", "string", "the toggle, e.g. web-high-availability"),
            Field("value", "bool|string|null", "its value", True),
            Field("kind", "string", "developer, entitlement or user", "developer"),
        ),
    ),
    Endpoint(
        "POST",
        "schedule-close",
        "close the next websockets this long after their session became ready",
        "{}",
        lambda e, b, r: e.control.schedule_close(b["code"], b["reason"], b["after"], b["count"]),
        (
            Field("code", "int", "the close code (1006: cut without a close frame)", 1000),
            Field("reason", "string", "the close reason", ""),
            Field("after", "number", "seconds after the buffer_state", 0),
            Field("count", "int", "how many sockets", 1),
        ),
    ),
    Endpoint(
        "POST",
        "schedule-shutdown",
        "send the shutdown notice on the next websockets this long after they became ready",
        "{}",
        lambda e, b, r: e.control.schedule_shutdown(b["after"], b["count"]),
        (
            Field("after", "number", "seconds after the buffer_state", 0),
            Field("count", "int", "how many sockets", 1),
        ),
    ),
    Endpoint(
        "POST",
        "devices/expire-all",
        "make every live device lapse now",
        "{count}",
        lambda e, b, r: {"count": e.control.expire_devices()},
    ),
    Endpoint(
        "POST",
        "device-limit",
        "how many devices each user may hold (then 403 excessive device registrations)",
        "{}",
        lambda e, b, r: e.control.set_device_limit(b["limit"]),
        (Field("limit", "int", "an integer >= 0"),),
    ),
    Endpoint(
        "POST",
        "advance",
        "move the emulator clock forward (tokens and devices expire)",
        "{now}",
        _advance,
        (Field("seconds", "number", "finite and >= 0"),),
    ),
    Endpoint(
        "POST",
        "restart",
        "cut every connection; forget devices, events and tokens unless keep_state",
        "{}",
        _restart,
        (Field("keep_state", "bool", "keep devices, events and tokens", False),),
    ),
    Endpoint(
        "POST",
        "reset-records",
        "forget violations, requests, acks and finished connections",
        "{}",
        lambda e, b, r: e.control.clear_records(),
    ),
)
"""The admin API, one row an endpoint (see the module docstring)."""


def reference_lines() -> list[str]:
    """The admin API as text, one endpoint per line pair (for ``--help`` and the README)."""
    lines = []
    for endpoint in ENDPOINTS:
        lines.append(f"  {endpoint.signature}")
        lines.append(f"      {endpoint.doc}; answers {endpoint.answer}")
    return lines


# -- dispatch ----------------------------------------------------------------------------------


class Admin:
    """Answers ``/_emulator/...`` requests for one emulator (see the module docstring)."""

    def __init__(self, emulator: Emulator) -> None:
        self._emulator = emulator
        self._table = {(e.method, e.path): e for e in ENDPOINTS}

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
