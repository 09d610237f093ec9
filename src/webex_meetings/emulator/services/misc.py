"""The services the JS SDK touches around registration: the geo-hint region, Calliope media
clusters (reachability), client metrics, the conversation ``users`` fallback and Locus ``loci``.

Each answers a plausible minimal body: ``clusters`` always lists one cluster (with none, the JS
SDK's reachability promise never settles and ``register()`` hangs).
"""

from __future__ import annotations

from ..messages import Response, json_response
from ..records import ViolationKind
from ..routing import Call, route

__all__ = ["ROUTES"]


def region(call: Call) -> Response:
    return json_response(200, dict(call.config.region))


def clusters(call: Call) -> Response:
    cluster = {
        "udp": ["udp://127.0.0.1:5004"],
        "tcp": ["tcp://127.0.0.1:5004"],
        "xtls": ["xtls://127.0.0.1:443"],
        "isVideoMesh": False,
    }
    body = {
        "clusters": {"emulator-cluster": cluster},
        "joinCookie": {"anycastEntryPoint": "emulator"},
        "clusterClasses": {"hybridMedia": []},
    }
    return json_response(200, body)


def reachability(call: Call) -> Response:
    return json_response(200, {})


def client_metrics(call: Call) -> Response:
    try:
        body = call.request.json()
    except (UnicodeDecodeError, ValueError):
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("metrics"), list):
        call.violate(ViolationKind.INVALID_BODY, "clientmetrics needs {metrics: [...]}")
        return call.error(400, "metrics must be a list")
    return Response(204)


def conversation_users(call: Call) -> Response:
    items = {"preferredWebExSite": call.config.preferred_site}
    return json_response(200, {"userPreferences": {"userPreferencesItems": items}})


def loci(call: Call) -> Response:
    return json_response(200, {"loci": []})


CALLIOPE = r"/calliope/api/discovery/v1"
METRICS = r"/metrics/api/v1"
ROUTES = (
    route("sqdiscovery.region", "GET", r"/sqdiscovery/v1/region", region, auth=False),
    route("calliope.clusters", "GET", CALLIOPE + r"/clusters", clusters),
    route("calliope.reachability", "POST", CALLIOPE + r"/reachability", reachability),
    route("metrics.clientmetrics", "POST", METRICS + r"/clientmetrics", client_metrics),
    route(
        "metrics.prelogin",
        "POST",
        METRICS + r"/clientmetrics-prelogin",
        client_metrics,
        auth=False,
    ),
    route("conversation.users", "GET", r"/conversation/api/v1/users", conversation_users),
    route("locus.loci", "GET", r"/locus/api/v1/loci", loci),
)
