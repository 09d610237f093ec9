"""The admin API's endpoints, one row each (see :mod:`webex_meetings.emulator.admin`).

``GET`` endpoints observe; ``POST`` endpoints take a JSON object (or no body) and steer. Every
record carries ``at`` on the emulator clock; ``GET /_emulator/records`` returns them all at
once with ``now``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Final

from .admin import AdminTarget, Endpoint, Field, Run
from .messages import Request

__all__ = ["ENDPOINTS"]

Emulator = AdminTarget


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
        "remove every fault, latency, variant, omission, feature override and scheduled close",
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
