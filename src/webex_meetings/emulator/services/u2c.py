"""U2C, the service catalog: ``limited/catalog`` (pre-auth) and ``catalog`` (post-auth).

Both answer ``{serviceLinks, hostCatalog, format, timestamp, orgId}``. ``hostCatalog`` is keyed
by the links' ``host:port``; its entries name a host **without** port (the JS SDK re-appends the
link's port), a priority above 0 and an id ``urn:TEAM:<cluster>:<service>``.
"""

from __future__ import annotations

from typing import Any

from ..behaviour import Behaviour
from ..layout import LIMITED_SERVICES, SERVICE_PATHS, Urls
from ..messages import Response, json_response
from ..records import ViolationKind
from ..routing import Call, route
from ..state import DEFAULT_ORG_ID

__all__ = ["ROUTES", "catalog_body"]

CLUSTER = "us-east-2_a"
LIMITED_KEYS = ("orgId", "email", "emailhash", "userId", "mode")
LIMITED_QUERY_ERROR = "a query param of email, emailhash, userId, orgId, or mode is required"


def catalog_body(
    urls: Urls,
    services: tuple[str, ...],
    org_id: str,
    now: float,
    behaviour: Behaviour | None = None,
) -> dict[str, Any]:
    """A hostmap catalog listing ``services``, with the departures ``behaviour`` asks for
    (omitted fields, hosts carrying a port)."""
    omitted = behaviour.omitted if behaviour is not None else set()
    with_port = behaviour is not None and "catalog.host_with_port" in behaviour.variants
    host = urls.netloc if with_port else urls.host
    entries = [
        {"host": host, "ttl": -1, "priority": 5, "id": f"urn:TEAM:{CLUSTER}:{name}"}
        for name in services
    ]
    body: dict[str, Any] = {
        "serviceLinks": {name: urls.service(name) for name in services},
        "hostCatalog": {urls.netloc: entries},
        "format": "hostmap",
        "timestamp": str(int(now)),
        "orgId": org_id,
    }
    for field in ("serviceLinks", "hostCatalog"):
        if f"catalog.{field}" in omitted:
            del body[field]
    return body


def limited_catalog(call: Call) -> Response:
    query = call.request.query
    if not any(query.get(key) for key in LIMITED_KEYS):
        call.violate(ViolationKind.INVALID_QUERY, LIMITED_QUERY_ERROR)
        return call.error(400, LIMITED_QUERY_ERROR)
    org_id = query.get("orgId") or DEFAULT_ORG_ID
    now = call.state.clock()
    body = catalog_body(call.urls, LIMITED_SERVICES, org_id, now, call.behaviour)
    return json_response(200, body)


def catalog(call: Call) -> Response:
    services = tuple(SERVICE_PATHS)
    if "catalog.wdm" in call.behaviour.omitted:
        services = tuple(name for name in services if name != "wdm")
    org_id = call.authed_user.org_id
    body = catalog_body(call.urls, services, org_id, call.state.clock(), call.behaviour)
    return json_response(200, body)


ROUTES = (
    route(
        "u2c.limited_catalog", "GET", r"/u2c/api/v1/limited/catalog", limited_catalog, auth=False
    ),
    route("u2c.catalog", "GET", r"/u2c/api/v1/catalog", catalog),
)
