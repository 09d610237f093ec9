"""From a parsed request to an answer: routing, injected faults and latency, authorization.

Theory of operation: for each request :class:`Cloud` finds the route (404 for unknown paths,
405 for a known path with another method), waits the injected latency, applies the next
injected fault if one matches, checks ``Authorization: Bearer <token>`` on authorized routes,
then runs the route's handler. Every URL a handler hands out (catalog links, a device's
``url`` and ``webSocketUrl``) names the scheme, host and port the client used (its ``Host``
header, see :meth:`~webex_meetings.emulator.layout.Urls.for_host`). Every answer echoes the
client's ``trackingid`` and is recorded. Websocket upgrades go through the same steps and,
when accepted, yield a :class:`~webex_meetings.emulator.mercury.MercuryConnection` for the
server to run.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

import anyio

from .behaviour import Behaviour
from .faults import Fault, FaultBook
from .layout import MERCURY_MESSAGES_PATH, Urls
from .mercury import UPGRADE_ROUTE as MERCURY_ROUTE
from .mercury import MercuryConnection
from .messages import Request, Response, error_response
from .recorder import Recorder
from .records import RequestRecord, Violation, ViolationKind
from .routing import Call, CloudConfig, Route
from .services import ROUTES
from .state import CloudState, User

__all__ = ["MERCURY_ROUTE", "AdminHandler", "Cloud", "fault_response"]

log = logging.getLogger(__name__)

MERCURY_PATH: Final = re.compile(
    re.escape(MERCURY_MESSAGES_PATH).replace(r"\{device_id\}", r"(?P<device_id>[0-9a-fA-F-]{36})")
)
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

AdminHandler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class Answer:
    """A route's answer and how it came about (for the request record)."""

    response: Response
    fault: str | None = None
    token_valid: bool | None = None


class Cloud:
    """The emulated services behind one listener (see the module docstring)."""

    def __init__(
        self,
        *,
        state: CloudState,
        faults: FaultBook,
        recorder: Recorder,
        behaviour: Behaviour,
        urls: Urls,
        config: CloudConfig,
        admin: AdminHandler | None = None,
        follow_host: bool = True,
    ) -> None:
        self.state = state
        self.faults = faults
        self.recorder = recorder
        self.behaviour = behaviour
        self.urls = urls
        self._follow_host = follow_host
        self.config = config
        self._admin = admin
        self.routes: tuple[Route, ...] = ROUTES

    # -- HTTP --------------------------------------------------------------------------------

    async def handle_http(self, request: Request) -> Response:
        """Answer one request; never raises (a handler bug answers 500)."""
        if self._admin is not None and request.path.startswith("/_emulator/"):
            return await self._admin(request)
        route, params, miss = self._match(request)
        if route is None:
            self._log(request, None, False, Answer(miss))
            return miss
        delay = self.faults.latency_for(route.name)
        if delay > 0:
            await anyio.sleep(delay)
        answer = self._answer(route, params, request)
        self._log(request, route.name, route.auth, answer, delay)
        return _with_tracking_id(answer.response, request)

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
            refusal = error_response(405, "Method not allowed", tracking_id=tid, headers=allow)
            return None, {}, refusal
        return None, {}, error_response(404, "Not found", tracking_id=tid)

    def _answer(self, route: Route, params: dict[str, str], request: Request) -> Answer:
        fault = self.faults.take(route.name)
        if fault is not None:
            return Answer(fault_response(fault, request), fault.label)
        user = None
        if route.auth:
            user, refusal = self._authenticate(request, route.name)
            if refusal is not None:
                return refusal
        call = Call(
            request=request,
            params=params,
            route=route.name,
            state=self.state,
            recorder=self.recorder,
            urls=self.urls_for(request),
            config=self.config,
            behaviour=self.behaviour,
            user=user,
        )
        token_valid = True if route.auth else None
        try:
            return Answer(route.handler(call), token_valid=token_valid)
        except Exception:
            log.exception("emulator handler %s failed", route.name)
            return Answer(call.error(500, "Internal emulator error"), token_valid=token_valid)

    def _authenticate(self, request: Request, route: str) -> tuple[User | None, Answer | None]:
        """The caller, or the refusal (``token_valid`` False when a bearer token was refused)."""
        if request.header("authorization") is None:
            kind = ViolationKind.MISSING_AUTHORIZATION
            return None, Answer(self._auth_failure(request, route, kind))
        token = _bearer(request)
        if token is None:
            kind = ViolationKind.MALFORMED_AUTHORIZATION
            return None, Answer(self._auth_failure(request, route, kind))
        check = self.state.check_token(token)
        if check.user is None:
            refusal = error_response(401, UNAUTHORIZED, tracking_id=request.tracking_id)
            return None, Answer(refusal, token_valid=False)
        return check.user, None

    def _auth_failure(self, request: Request, route: str, kind: str) -> Response:
        detail = f"{request.method} {request.path} needs 'Authorization: Bearer <token>'"
        self.violate(kind, detail, route, request.tracking_id)
        return error_response(401, UNAUTHORIZED, tracking_id=request.tracking_id)

    def urls_for(self, request: Request) -> Urls:
        """The URLs to hand this client: on the host it used (its ``Host`` header), as a
        reverse proxy would, unless the emulator was given a fixed advertised host."""
        if not self._follow_host:
            return self.urls
        return self.urls.for_host(request.header("host"))

    def violate(self, kind: str, detail: str, route: str | None, client: str) -> None:
        """Record a violation not tied to a route handler (framing, upgrades)."""
        violation = Violation.of(kind, detail, at=self.state.clock(), route=route, client=client)
        self.recorder.violations.append(violation)

    def _log(
        self,
        request: Request,
        route: str | None,
        token_required: bool,
        answer: Answer,
        delay: float = 0.0,
    ) -> None:
        """Record an answered request (the upgrade takes no token: it authorizes by frame)."""
        response = answer.response
        record = RequestRecord(
            at=self.state.clock(),
            method=request.method,
            path=request.path,
            query=tuple(request.query.items()),
            route=route,
            status=response.status,
            tracking_id=request.tracking_id,
            user_agent=request.header("spark-user-agent") or request.header("user-agent") or "",
            authorized=request.header("authorization") is not None,
            connection_id=request.connection_id,
            fault=answer.fault,
            token_required=token_required,
            token_valid=answer.token_valid,
            retry_after=_retry_after(response),
            latency=delay,
            host=request.header("host") or "",
        )
        self.recorder.requests.append(record)

    # -- websocket upgrade -------------------------------------------------------------------

    async def open_websocket(self, request: Request) -> Response | MercuryConnection:
        """Accept a Mercury upgrade (a connection to run) or refuse it (an HTTP answer)."""
        match = MERCURY_PATH.fullmatch(request.path)
        if match is None or request.method != "GET":
            refusal = error_response(404, "Not found", tracking_id=request.tracking_id)
            self._log(request, None, False, Answer(refusal))
            return refusal
        refusal_and_reason = _handshake_refusal(request)
        if refusal_and_reason is not None:
            refusal, reason = refusal_and_reason
            self.violate(ViolationKind.BAD_UPGRADE, reason, MERCURY_ROUTE, request.tracking_id)
            self._log(request, MERCURY_ROUTE, False, Answer(refusal))
            return refusal
        delay = self.faults.latency_for(MERCURY_ROUTE)
        if delay > 0:
            await anyio.sleep(delay)
        result, fault = self._accept(request, match.group("device_id"))
        status = result.status if isinstance(result, Response) else 101
        answer = Answer(result if isinstance(result, Response) else Response(status), fault)
        self._log(request, MERCURY_ROUTE, False, answer, delay)
        return result

    def _accept(
        self, request: Request, device_id: str
    ) -> tuple[Response | MercuryConnection, str | None]:
        fault = self.faults.take(MERCURY_ROUTE)
        if fault is not None:
            return fault_response(fault, request), fault.label
        device = self.state.device(device_id)
        if device is None:
            return error_response(404, "Device not found", tracking_id=request.tracking_id), None
        conn = MercuryConnection(
            connection_id=request.connection_id,
            device_id=device.id,
            user_id=device.user_id,
            query=request.query,
            state=self.state,
            recorder=self.recorder,
            faults=self.faults,
            behaviour=self.behaviour,
            urls=self.urls_for(request),
            auth_deadline=self.config.mercury_auth_deadline,
        )
        return conn, None


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


def _bearer(request: Request) -> str | None:
    """The bearer token of the Authorization header, or ``None``."""
    scheme, _, token = (request.header("authorization") or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _retry_after(response: Response) -> float | None:
    for name, value in response.headers:
        if name == "retry-after":
            try:
                return float(value)
            except ValueError:
                return None
    return None


def _with_tracking_id(response: Response, request: Request) -> Response:
    if response.drop or not request.tracking_id:
        return response
    headers = (*response.headers, ("trackingid", request.tracking_id))
    return Response(response.status, response.body, headers)
