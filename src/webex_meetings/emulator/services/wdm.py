"""WDM, the device registry: register (POST), list, get, refresh (PUT) and delete devices.

Theory of operation: a device belongs to the user whose token registered it. ``POST`` checks
the body (a JSON object whose descriptive fields, when present, are strings; ``name``,
``deviceType``, ``model`` and ``systemName`` are required; ``ttl`` a positive integer), enforces
the per-user cap with the real ``403 "User has excessive device registrations"`` answer, and
answers the device DTO with an ``ETag``. A device with a ``ttl`` lapses ``ttl`` seconds after its
last POST or PUT.

``PUT`` with ``If-None-Match``: the emulator always answers **200 with the full body** and the
device's ETag (which stays the same while its features do). The JS SDK expects exactly that: on
an unchanged ETag it drops ``features`` from the body but still reads ``features.user`` and
``features.entitlement``, so a bodiless 304 would break it.

A PUT or DELETE of a device that lapsed answers 404 (a normal event). Of a device this client
deleted, never registered, or that belongs to another user: 404 and a violation.
"""

from __future__ import annotations

from email.utils import formatdate
from typing import Any

from ..messages import Response, json_response
from ..records import ViolationKind
from ..routing import Call, route
from ..state import (
    DEVICE_LIMIT_MESSAGE,
    Device,
    DeviceLimitReached,
    device_json,
    feature_toggle,
)

__all__ = ["ROUTES"]

REQUIRED = ("name", "deviceType", "model", "systemName")
TEXT_FIELDS = (*REQUIRED, "localizedModel", "systemVersion")
MAX_TTL = 30 * 86400
DEVICE_PATH = r"/wdm/api/v1/devices/(?P<device_id>[0-9a-fA-F-]{36})"


def _body_problem(body: Any, *, partial: bool) -> str | None:
    """Why a device body is invalid, or ``None``."""
    if not isinstance(body, dict):
        return "the device body must be a JSON object"
    missing = [name for name in REQUIRED if name not in body]
    if missing and not partial:
        return f"missing required fields: {', '.join(missing)}"
    wrong = [n for n in TEXT_FIELDS if n in body and not isinstance(body[n], str)]
    if wrong:
        return f"fields must be strings: {', '.join(wrong)}"
    ttl = body.get("ttl")
    if ttl is not None and (type(ttl) is not int or not 0 < ttl <= MAX_TTL):
        return f"ttl must be an integer in 1..{MAX_TTL}"
    return None


def _parsed_body(call: Call, *, partial: bool) -> dict[str, Any] | Response:
    try:
        body = call.request.json()
    except (UnicodeDecodeError, ValueError):
        body = None
    problem = _body_problem(body, partial=partial)
    if problem is not None or not isinstance(body, dict):
        detail = problem or "invalid body"
        call.violate(ViolationKind.INVALID_BODY, detail)
        return call.error(400, detail)
    return body


def _dto(call: Call, device: Device) -> dict[str, Any]:
    """The device as this client is shown it: its URLs on the client's host, with the
    feature overrides and omitted fields the control API asked for."""
    dto = device_json(device, org_id=call.authed_user.org_id, urls_for=call.urls.device)
    features = dto["features"]
    for (kind, key), value in call.behaviour.features.items():
        toggles = [t for t in features.setdefault(kind, []) if t["key"] != key]
        toggles.append(feature_toggle(key, value, True, dto["modificationTime"]))
        features[kind] = toggles
    for field in ("url", "webSocketUrl"):
        if f"device.{field}" in call.behaviour.omitted:
            dto.pop(field, None)
    return dto


def _answer(call: Call, device: Device, status: int = 200) -> Response:
    overrides = repr(sorted(call.behaviour.features.items()))
    return json_response(status, _dto(call, device), (("etag", device.etag_with(overrides)),))


def register(call: Call) -> Response:
    body = _parsed_body(call, partial=False)
    if isinstance(body, Response):
        return body
    try:
        device = call.state.create_device(
            call.authed_user.id, body, ttl=body.get("ttl"), url_for=call.urls.device
        )
    except DeviceLimitReached:
        return call.error(403, DEVICE_LIMIT_MESSAGE)
    return _answer(call, device)


def list_devices(call: Call) -> Response:
    devices = [_dto(call, d) for d in call.state.devices_of(call.authed_user.id)]
    date = formatdate(call.state.clock(), usegmt=True)  # clients age devices on our clock
    return json_response(200, {"devices": devices}, (("date", date),))


def _owned(call: Call, *, strict: bool) -> Device | Response:
    """The caller's device named in the path, or the 404 answer (with a violation if
    ``strict`` and the client had no business asking)."""
    device_id = call.params["device_id"]
    device = call.state.device(device_id)
    if device is not None and device.user_id == call.authed_user.id:
        return device
    if device is not None:
        call.violate(ViolationKind.FOREIGN_DEVICE, "device of another user", device_id)
    elif strict and not call.state.lapsed(device_id):
        call.violate(
            ViolationKind.UNKNOWN_DEVICE, "no such device (deleted or never registered)", device_id
        )
    return call.error(404, "Device not found")


def get_device(call: Call) -> Response:
    device = _owned(call, strict=False)
    return device if isinstance(device, Response) else _answer(call, device)


def refresh(call: Call) -> Response:
    device = _owned(call, strict=True)
    if isinstance(device, Response):
        return device
    body = _parsed_body(call, partial=True)
    if isinstance(body, Response):
        return body
    fields = {k: v for k, v in body.items() if k in TEXT_FIELDS}
    call.state.refresh_device(device, fields, body.get("ttl"))
    return _answer(call, device)


def delete(call: Call) -> Response:
    device = _owned(call, strict=True)
    if isinstance(device, Response):
        return device
    call.state.delete_device(device.id)
    return Response(204)


ROUTES = (
    route("wdm.register", "POST", r"/wdm/api/v1/devices", register),
    route("wdm.list", "GET", r"/wdm/api/v1/devices", list_devices),
    route("wdm.get", "GET", DEVICE_PATH, get_device),
    route("wdm.refresh", "PUT", DEVICE_PATH, refresh),
    route("wdm.delete", "DELETE", DEVICE_PATH, delete),
)
