"""The control API: fault injection, observation, and commands to live connections.

Theory of operation: the control object is the only way tests (and the admin HTTP API) steer
the emulator. Faults are rules keyed by route-name patterns (``fnmatch``: ``"wdm.*"``,
``"u2c.catalog"``, ``"mercury.connect"``, ``"mercury.pong"``); each request asks
:meth:`Control.take_fault` once, so ``fail_next(route, count=2)`` fails exactly the next two
matching requests. Random faults draw from the emulator's seeded ``random.Random``: the same
seed and the same request order give the same failures.

Every public method runs on the emulator's event loop. When the emulator lives in another
thread (:class:`~webex_meetings.emulator.EmulatorThread`) the call is carried there through an
anyio blocking portal and the caller waits for the result, so the API is safe from any thread.
Commands for live websockets are queued on each connection's outbox; its task sends them.
"""

from __future__ import annotations

import fnmatch
import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, Protocol, TypeVar

from .records import AckRecord, ConnectionInfo, RequestRecord, Violation
from .state import CloudState, device_json

if TYPE_CHECKING:
    import anyio.from_thread

    from .mercury import MercuryConnection

__all__ = ["Control", "DeviceInfo", "Fault", "LoopGate", "on_loop"]

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(slots=True)
class Fault:
    """A rule answering matching requests with ``status`` (or dropping them)."""

    route: str
    remaining: int
    status: int = 500
    retry_after: float | None = None
    message: str | None = None
    drop: bool = False
    rate: float | None = None
    """For random faults: the probability of failing each matching request."""

    def matches(self, route: str) -> bool:
        return fnmatch.fnmatchcase(route, self.route)


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """A snapshot of one registered device."""

    id: str
    user_id: str
    url: str
    web_socket_url: str
    ttl: int | None
    created: float
    modified: float
    expires_at: float | None
    dto: dict[str, Any] = field(compare=False)
    """The JSON the emulator answers for this device."""


class LoopGate:
    """Carries calls onto the emulator's event-loop thread (a no-op on that thread)."""

    def __init__(self) -> None:
        self.portal: anyio.from_thread.BlockingPortal | None = None
        self.loop_thread: int | None = None

    def bind(self, portal: anyio.from_thread.BlockingPortal, loop_thread: int) -> None:
        """From now on, calls from other threads go through ``portal``."""
        self.portal = portal
        self.loop_thread = loop_thread

    def unbind(self) -> None:
        self.portal = None
        self.loop_thread = None

    def call(self, fn: Callable[[], R]) -> R:
        """Run ``fn`` on the loop thread and return its result."""
        portal = self.portal
        if portal is None or threading.get_ident() == self.loop_thread:
            return fn()
        return portal.call(fn)


class HasGate(Protocol):
    _gate: LoopGate


S = TypeVar("S", bound=HasGate)


def on_loop(method: Callable[Concatenate[S, P], R]) -> Callable[Concatenate[S, P], R]:
    """Decorator: run a method on the emulator's loop thread, whatever thread calls it."""

    def wrapper(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return self._gate.call(functools.partial(method, self, *args, **kwargs))

    functools.update_wrapper(wrapper, method)
    return wrapper


class Control:
    """Fault injection and observation for one emulator (see the module docstring)."""

    def __init__(self, state: CloudState, gate: LoopGate) -> None:
        self._state = state
        self._faults: list[Fault] = []
        self._latency: dict[str, float] = {}
        self._violations: list[Violation] = []
        self._requests: list[RequestRecord] = []
        self._acks: list[AckRecord] = []
        self.live: dict[int, MercuryConnection] = {}
        self.finished: list[ConnectionInfo] = []
        self.http_cancellers: dict[int, Callable[[], None]] = {}
        self._gate = gate

    # -- faults ------------------------------------------------------------------------------

    @on_loop
    def fail_next(
        self,
        route: str,
        count: int = 1,
        status: int = 500,
        retry_after: float | None = None,
        message: str | None = None,
    ) -> None:
        """Answer the next ``count`` requests matching ``route`` with ``status``.

        ``retry_after`` (seconds) adds a ``Retry-After`` header (use it with 429 and 503).
        For ``mercury.connect`` the upgrade is refused with that status; for ``mercury.pong``
        the next pongs are withheld.

        :raises ValueError: ``count`` is below 1 or ``status`` is not an HTTP error status.
        """
        if count < 1 or not 400 <= status <= 599:
            raise ValueError("fail_next needs count >= 1 and a 4xx/5xx status")
        self._faults.append(Fault(route, count, status, retry_after, message))

    @on_loop
    def drop_next(self, route: str, count: int = 1) -> None:
        """Close the connection instead of answering the next ``count`` matching requests."""
        self._faults.append(Fault(route, count, drop=True))

    @on_loop
    def fail_randomly(
        self, route: str, rate: float, status: int = 503, retry_after: float | None = None
    ) -> None:
        """Fail each matching request with probability ``rate``, drawn from the seeded RNG."""
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate must be within [0, 1]")
        self._faults.append(Fault(route, -1, status, retry_after, rate=rate))

    @on_loop
    def set_latency(self, route: str, seconds: float) -> None:
        """Delay answers of routes matching ``route`` by ``seconds`` (0 removes the delay)."""
        if seconds <= 0:
            self._latency.pop(route, None)
        else:
            self._latency[route] = seconds

    @on_loop
    def clear_faults(self) -> None:
        """Remove every fault rule and latency."""
        self._faults.clear()
        self._latency.clear()

    def take_fault(self, route: str) -> Fault | None:
        """The fault that applies to this request, consuming one use of it (loop only)."""
        for fault in self._faults:
            if not fault.matches(route):
                continue
            if fault.rate is not None:
                if self._state.rng.random() < fault.rate:
                    return fault
                continue
            fault.remaining -= 1
            if fault.remaining <= 0:
                self._faults.remove(fault)
            return fault
        return None

    def latency_for(self, route: str) -> float:
        """The injected delay for a route, in seconds (loop only)."""
        delays = [s for pattern, s in self._latency.items() if fnmatch.fnmatchcase(route, pattern)]
        return max(delays, default=0.0)

    # -- tokens and devices ------------------------------------------------------------------

    @on_loop
    def revoke_token(self, token: str) -> bool:
        """Revoke an access or refresh token; ``False`` if the emulator never issued it."""
        return self._state.revoke_token(token)

    @on_loop
    def expire_token(self, token: str) -> bool:
        """Make a token expire now; ``False`` if the emulator never issued it."""
        return self._state.expire_token(token)

    @on_loop
    def expire_device(self, device_id: str) -> bool:
        """Make a device lapse now, as if its ttl ran out; ``False`` if it is not live."""
        return self._state.lapse_device(device_id)

    # -- Mercury -----------------------------------------------------------------------------

    @on_loop
    def push_event(
        self,
        data: dict[str, Any],
        device_id: str | None = None,
        envelope: dict[str, Any] | None = None,
    ) -> list[str]:
        """Queue an event (``data`` must hold ``eventType``) for one device, or every device.

        It is delivered at once on live authorized connections, otherwise on the device's
        next connection, and redelivered there until acked. ``envelope`` adds or overrides
        top-level envelope fields. Returns the event ids.

        :raises ValueError: ``data`` has no ``eventType``.
        :raises KeyError: ``device_id`` is not a live device.
        """
        if "eventType" not in data:
            raise ValueError("an event's data needs an eventType")
        if device_id is not None and self._state.device(device_id) is None:
            raise KeyError(device_id)
        targets = [device_id] if device_id else list(self._state.devices)
        ids = []
        for target in targets:
            event = self._state.enqueue_event(target, dict(data), **(envelope or {}))
            ids.append(event.id)
            for conn in self._connections_of(target):
                conn.deliver_later(event)
        return ids

    @on_loop
    def close_connections(
        self, code: int = 1000, reason: str = "", device_id: str | None = None
    ) -> int:
        """Close live websockets (of one device, or all) with a close frame; returns how many."""
        conns = self._connections_of(device_id)
        for conn in conns:
            conn.close_later(code, reason)
        return len(conns)

    @on_loop
    def drop_connections(self, device_id: str | None = None) -> int:
        """Cut live websockets without a close frame (the client sees 1006)."""
        conns = self._connections_of(device_id)
        for conn in conns:
            conn.drop()
        return len(conns)

    @on_loop
    def send_shutdown(self, device_id: str | None = None) -> int:
        """Send the server ``{"type": "shutdown"}`` frame; the device's next connection then
        replaces the old one, which is closed with 4001 ``replaced``. Returns how many."""
        conns = self._connections_of(device_id)
        for conn in conns:
            conn.shutdown_later()
        return len(conns)

    def register_connection(self, conn: MercuryConnection) -> None:
        """A websocket was accepted (loop only)."""
        self.live[conn.id] = conn

    def connection_finished(self, conn: MercuryConnection) -> None:
        """A websocket ended (loop only)."""
        if self.live.pop(conn.id, None) is not None:
            self.finished.append(conn.info())

    def connection_authorized(self, conn: MercuryConnection) -> None:
        """A websocket authorized: older sockets of the device are replaced (loop only).

        Sockets told about a shutdown are closed with 4001; without ``multipleConnections``
        on the new socket, the others are closed with 4000 (both with reason ``replaced``).
        """
        for other in self._connections_of(conn.device_id):
            if other is conn or not other.authorized:
                continue
            if other.shutdown_notified:
                other.close_later(4001, "replaced")
            elif not conn.multiple_connections:
                other.close_later(4000, "replaced")

    def _connections_of(self, device_id: str | None) -> list[MercuryConnection]:
        return [c for c in self.live.values() if device_id is None or c.device_id == device_id]

    @on_loop
    def restart(self, keep_state: bool = False) -> None:
        """Simulate a restart: cut every connection (HTTP and websocket) and, unless
        ``keep_state``, forget devices, events and issued tokens."""
        self._restart(keep_state=keep_state, spare_connection=None)

    def _restart(self, *, keep_state: bool, spare_connection: int | None) -> None:
        for conn in list(self.live.values()):
            conn.drop()
        for conn_id, cancel in list(self.http_cancellers.items()):
            if conn_id != spare_connection:
                cancel()
        if not keep_state:
            self._state.forget_everything()

    # -- observation -------------------------------------------------------------------------

    def record_violation(self, violation: Violation) -> None:
        """Log a protocol violation (loop only)."""
        self._violations.append(violation)

    def record_request(self, record: RequestRecord) -> None:
        """Log an answered request (loop only)."""
        self._requests.append(record)

    def record_ack(self, record: AckRecord) -> None:
        """Log a Mercury ack (loop only)."""
        self._acks.append(record)

    @property
    @on_loop
    def violations(self) -> list[Violation]:
        """Every protocol violation recorded so far, oldest first."""
        return list(self._violations)

    @property
    @on_loop
    def requests(self) -> list[RequestRecord]:
        """Every HTTP request answered so far (admin API calls excluded)."""
        return list(self._requests)

    @property
    @on_loop
    def acks(self) -> list[AckRecord]:
        """Every Mercury ack received so far."""
        return list(self._acks)

    @property
    @on_loop
    def connections(self) -> list[ConnectionInfo]:
        """Snapshots of every Mercury connection, finished ones first."""
        return [*self.finished, *(c.info() for c in self.live.values())]

    @property
    @on_loop
    def devices(self) -> list[DeviceInfo]:
        """The live devices, oldest first."""
        result = []
        for device in self._state.devices_of_all():
            org_id = self._state.users[device.user_id].org_id
            result.append(
                DeviceInfo(
                    device.id,
                    device.user_id,
                    device.url,
                    device.web_socket_url,
                    device.ttl,
                    device.created,
                    device.modified,
                    device.expires_at,
                    device_json(device, org_id=org_id),
                )
            )
        return result

    @on_loop
    def pending_events(self, device_id: str) -> list[dict[str, Any]]:
        """Envelopes queued for a device and not yet acked."""
        return [dict(e.envelope) for e in self._state.pending_events(device_id)]

    @on_loop
    def clear_records(self) -> None:
        """Forget recorded violations, requests, acks and finished connections."""
        self._violations.clear()
        self._requests.clear()
        self._acks.clear()
        self.finished.clear()
