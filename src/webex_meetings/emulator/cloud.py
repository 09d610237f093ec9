"""From a parsed request to an answer: routing, injected faults and latency, authorization.

Theory of operation: for each request :class:`Cloud` finds the route (404 for unknown paths,
405 for a known path with another method), waits the injected latency, applies the next
injected fault if one matches, checks ``Authorization: Bearer <token>`` on authorized routes,
then runs the route's handler. Every answer echoes the client's ``trackingid`` and is logged.
Websocket upgrades go through the same steps and, when accepted, yield a
:class:`~webex_meetings.emulator.mercury.MercuryConnection` for the server to run.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Final

import anyio

from .control import Control, Fault
from .layout import MERCURY_MESSAGES_PATH, Urls
from .mercury import MercuryConnection
from .messages import Request, Response, error_response
from .records import RequestRecord, Violation, ViolationKind
from .routing import Call, CloudConfig, Route
from .services import ROUTES
from .state import CloudState, User

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = ["Cloud"]

log = logging.getLogger(__name__)

MERCURY_PATH: Final = re.compile(
    re.escape(MERCURY_MESSAGES_PATH).replace(r"\{device_id\}", r"(?P<device_id>[0-9a-fA-F-]{36})")
)
MERCURY_ROUTE: Final = "mercury.connect"
UNAUTHORIZED: Final = (
    "The request requires a valid access token set in the Authorization request header."
)
FAULT_MESSAGES: Final = {
    400: "Bad request",
    401: UNAUTHORIZED,
    403: "Forbidden",
    404: "Not found",
    409: "Conflict",
    429: "Too many requests",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Gateway timeout",
}


class Cloud:
    """The emulated services behind one listener (see the module docstring)."""

    def __init__(
        self,
        *,
        state: CloudState,
        control: Control,
        urls: Urls,
        config: CloudConfig,
        admin: Callable[[Cloud, Request], Awaitable[Response]] | None = None,
    ) -> None:
        self.state = state
        self.control = control
        self.urls = urls
        self.config = config
        self._admin = admin
        self.routes: tuple[Route, ...] = ROUTES

    # -- HTTP --------------------------------------------------------------------------------

    async def handle_http(self, request: Request) -> Response:
        """Answer one request; never raises (a handler bug answers 500)."""
        if self._admin is not None and request.path.startswith("/_emulator/"):
            return await self._admin(self, request)
        route, params, miss = self._match(request)
        if route is None:
            self._log(request, None, miss.status, None)
            return miss
        delay = self.control.latency_for(route.name)
        if delay > 0:
            await anyio.sleep(delay)
        response, fault = self._answer(route, params, request)
        self._log(request, route.name, response.status, fault)
        return _with_tracking_id(response, request)

    def _match(self, request: Request) -> tuple[Route | None, dict[str, str], Response]:
        allowed = []
        for route in self.routes:
            match = route.pattern.fullmatch(request.path)
            if match is None:
                continue
            if route.method == request.method:
                return route, match.groupdict(), Response(0)
            allowed.append(route.method)
        tid = request.tracking_id
        if allowed:
            allow = (("allow", ", ".join(sorted(set(allowed)))),)
            return (
                None,
                {},
                error_response(405, "Method not allowed", tracking_id=tid, headers=allow),
            )
        return None, {}, error_response(404, "Not found", tracking_id=tid)

    def _answer(
        self, route: Route, params: dict[str, str], request: Request
    ) -> tuple[Response, str | None]:
        fault = self.control.take_fault(route.name)
        if fault is not None:
            return fault_response(fault, request), _fault_label(fault)
        user = None
        if route.auth:
            user, failure = self._authenticate(request, route.name)
            if failure is not None:
                return failure, None
        call = Call(
            request, params, route.name, self.state, self.control, self.urls, self.config, user
        )
        try:
            return route.handler(call), None
        except Exception:
            log.exception("emulator handler %s failed", route.name)
            return call.error(500, "Internal emulator error"), None

    def _authenticate(self, request: Request, route: str) -> tuple[User | None, Response | None]:
        header = request.header("authorization")
        if header is None:
            return None, self._auth_failure(request, route, ViolationKind.MISSING_AUTHORIZATION)
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None, self._auth_failure(request, route, ViolationKind.MALFORMED_AUTHORIZATION)
        check = self.state.check_token(token.strip())
        if check.user is None:
            return None, error_response(401, UNAUTHORIZED, tracking_id=request.tracking_id)
        return check.user, None

    def _auth_failure(self, request: Request, route: str, kind: str) -> Response:
        detail = f"{request.method} {request.path} needs 'Authorization: Bearer <token>'"
        self.violate(kind, detail, route, request.tracking_id)
        return error_response(401, UNAUTHORIZED, tracking_id=request.tracking_id)

    def violate(self, kind: str, detail: str, route: str | None, client: str) -> None:
        """Record a violation not tied to a route handler (framing, upgrades)."""
        violation = Violation(kind, detail, route, client, None, self.state.clock())
        self.control.record_violation(violation)

    def _log(self, request: Request, route: str | None, status: int, fault: str | None) -> None:
        record = RequestRecord(
            at=self.state.clock(),
            method=request.method,
            path=request.path,
            query=tuple(request.query.items()),
            route=route,
            status=status,
            tracking_id=request.tracking_id,
            user_agent=request.header("spark-user-agent") or request.header("user-agent") or "",
            authorized=request.header("authorization") is not None,
            connection_id=request.connection_id,
            fault=fault,
        )
        self.control.record_request(record)

    # -- websocket upgrade -------------------------------------------------------------------

    async def open_websocket(self, request: Request) -> Response | MercuryConnection:
        """Accept a Mercury upgrade (a connection to run) or refuse it (an HTTP answer)."""
        match = MERCURY_PATH.fullmatch(request.path)
        if match is None or request.method != "GET":
            self._log(request, None, 404, None)
            return error_response(404, "Not found", tracking_id=request.tracking_id)
        refusal = _handshake_refusal(request)
        if refusal is not None:
            self.violate(ViolationKind.BAD_UPGRADE, refusal[1], MERCURY_ROUTE, request.tracking_id)
            self._log(request, MERCURY_ROUTE, refusal[0].status, None)
            return refusal[0]
        delay = self.control.latency_for(MERCURY_ROUTE)
        if delay > 0:
            await anyio.sleep(delay)
        result = self._accept(request, match.group("device_id"))
        status = result.status if isinstance(result, Response) else 101
        self._log(request, MERCURY_ROUTE, status, None)
        return result

    def _accept(self, request: Request, device_id: str) -> Response | MercuryConnection:
        fault = self.control.take_fault(MERCURY_ROUTE)
        if fault is not None:
            return fault_response(fault, request)
        device = self.state.device(device_id)
        if device is None:
            return error_response(404, "Device not found", tracking_id=request.tracking_id)
        conn = MercuryConnection(
            connection_id=request.connection_id,
            device_id=device.id,
            user_id=device.user_id,
            query=request.query,
            state=self.state,
            control=self.control,
            auth_deadline=self.config.mercury_auth_deadline,
        )
        self.control.register_connection(conn)
        return conn


def _handshake_refusal(request: Request) -> tuple[Response, str] | None:
    """The answer to an unusable websocket handshake, with the reason; ``None`` if fine."""
    tid = request.tracking_id
    if request.header("sec-websocket-version") != "13":
        headers = (("sec-websocket-version", "13"),)
        response = error_response(426, "Upgrade Required", tracking_id=tid, headers=headers)
        return response, "Sec-WebSocket-Version must be 13"
    if not request.header("sec-websocket-key"):
        return error_response(400, "Bad websocket handshake", tracking_id=tid), "no key"
    return None


def fault_response(fault: Fault, request: Request) -> Response:
    """The answer an injected fault gives."""
    if fault.drop:
        return Response(0, drop=True)
    headers: tuple[tuple[str, str], ...] = ()
    if fault.retry_after is not None:
        headers = (("retry-after", f"{fault.retry_after:g}"),)
    message = fault.message or FAULT_MESSAGES.get(fault.status, "Injected failure")
    return error_response(fault.status, message, tracking_id=request.tracking_id, headers=headers)


def _fault_label(fault: Fault) -> str:
    if fault.drop:
        return "drop"
    return "random" if fault.rate is not None else "fail"


def _with_tracking_id(response: Response, request: Request) -> Response:
    if response.drop or not request.tracking_id:
        return response
    headers = (*response.headers, ("trackingid", request.tracking_id))
    return Response(response.status, response.body, headers)
