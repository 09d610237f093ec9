"""The admin HTTP API under ``/_emulator/``: the control API as JSON, for non-Python clients.

``GET`` routes observe (``state``, ``violations``, ``devices``, ``connections``, ``acks``,
``requests``); ``POST`` routes take a JSON object and steer:

=====================  ==================================================================
``fail``               ``{route, count=1, status=500, retry_after=null, message=null}``
``drop``               ``{route, count=1}``: close instead of answering
``latency``            ``{route, seconds}``
``clear``              remove faults and latencies
``tokens``             ``{user_id=null, expires_in=null}`` -> ``{token}``
``tokens/revoke``      ``{token}``
``tokens/expire``      ``{token}``
``devices/expire``     ``{device_id}``
``events``             ``{data: {eventType, ...}, device_id=null}`` -> ``{ids}``
``close``              ``{code=1000, reason="", device_id=null}`` -> ``{count}``
``drop-connections``   ``{device_id=null}`` -> ``{count}``
``shutdown``           ``{device_id=null}`` -> ``{count}``
``advance``            ``{seconds}``
``restart``            ``{keep_state=false}``
``reset-records``      forget violations, requests, acks, finished connections
=====================  ==================================================================

Bad input answers 400 ``{message}``; unknown admin paths 404. Admin calls are not logged as
client requests and never count as violations.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .messages import Request, Response, error_response, json_response
from .state import device_json

if TYPE_CHECKING:
    from .cloud import Cloud

__all__ = ["handle_admin"]

PREFIX = "/_emulator/"
Body = dict[str, Any]
Action = Callable[["Cloud", Body, Request], Any]


def _records(items: list[Any]) -> list[dict[str, Any]]:
    return [dataclasses.asdict(item) for item in items]


def _state(cloud: Cloud, body: Body, request: Request) -> Any:
    return {
        "base_url": cloud.urls.base,
        "devices": _devices(cloud, body, request),
        "connections": _records(cloud.control.connections),
        "violations": _records(cloud.control.violations),
        "acks": _records(cloud.control.acks),
        "request_count": len(cloud.control.requests),
    }


def _devices(cloud: Cloud, body: Body, request: Request) -> Any:
    return [
        device_json(d, org_id=cloud.state.users[d.user_id].org_id)
        | {"id": d.id, "expiresAt": d.expires_at}
        for d in cloud.state.devices_of_all()
    ]


def _fail(cloud: Cloud, body: Body, request: Request) -> Any:
    cloud.control.fail_next(
        str(body["route"]),
        int(body.get("count", 1)),
        int(body.get("status", 500)),
        _optional_float(body.get("retry_after")),
        body.get("message"),
    )
    return {}


def _issue_token(cloud: Cloud, body: Body, request: Request) -> Any:
    user_id = body.get("user_id") or next(iter(cloud.state.users))
    token = cloud.state.issue_token(user_id, expires_in=_optional_float(body.get("expires_in")))
    return {"token": token}


def _restart(cloud: Cloud, body: Body, request: Request) -> Any:
    keep = bool(body.get("keep_state", False))
    cloud.control._restart(keep_state=keep, spare_connection=request.connection_id)
    return {}


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _device(body: Body) -> str | None:
    value = body.get("device_id")
    return None if value is None else str(value)


GETS: dict[str, Action] = {
    "state": _state,
    "violations": lambda c, b, r: _records(c.control.violations),
    "devices": _devices,
    "connections": lambda c, b, r: _records(c.control.connections),
    "acks": lambda c, b, r: _records(c.control.acks),
    "requests": lambda c, b, r: _records(c.control.requests),
}

POSTS: dict[str, Action] = {
    "fail": _fail,
    "drop": lambda c, b, r: c.control.drop_next(str(b["route"]), int(b.get("count", 1))),
    "latency": lambda c, b, r: c.control.set_latency(str(b["route"]), float(b["seconds"])),
    "clear": lambda c, b, r: c.control.clear_faults(),
    "tokens": _issue_token,
    "tokens/revoke": lambda c, b, r: {"revoked": c.control.revoke_token(str(b["token"]))},
    "tokens/expire": lambda c, b, r: {"expired": c.control.expire_token(str(b["token"]))},
    "devices/expire": lambda c, b, r: {"expired": c.control.expire_device(str(b["device_id"]))},
    "events": lambda c, b, r: {"ids": c.control.push_event(dict(b["data"]), _device(b))},
    "close": lambda c, b, r: {
        "count": c.control.close_connections(
            int(b.get("code", 1000)), str(b.get("reason", "")), _device(b)
        )
    },
    "drop-connections": lambda c, b, r: {"count": c.control.drop_connections(_device(b))},
    "shutdown": lambda c, b, r: {"count": c.control.send_shutdown(_device(b))},
    "advance": lambda c, b, r: c.state.clock.advance(float(b["seconds"])),
    "restart": _restart,
    "reset-records": lambda c, b, r: c.control.clear_records(),
}


async def handle_admin(cloud: Cloud, request: Request) -> Response:
    """Answer one ``/_emulator/...`` request; never raises."""
    name = request.path[len(PREFIX) :].strip("/")
    table = {"GET": GETS, "POST": POSTS}.get(request.method, {})
    action = table.get(name)
    if action is None:
        return error_response(404, f"no admin route {request.method} {request.path}")
    body = _body(request)
    if body is None:
        return error_response(400, "the admin API takes a JSON object body")
    try:
        result = action(cloud, body, request)
    except (KeyError, TypeError, ValueError) as exc:
        return error_response(400, f"bad admin request: {type(exc).__name__} {exc}")
    return json_response(200, {} if result is None else result)


def _body(request: Request) -> Body | None:
    if not request.body:
        return {}
    try:
        value = request.json()
    except (UnicodeDecodeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


_: Callable[[Cloud, Request], Awaitable[Response]] = handle_admin
