"""The control API: fault injection, observation, and commands to live connections.

Theory of operation: :class:`Control` is the only way tests (and the admin HTTP API) steer the
emulator. It owns no state of its own: it checks its input (:mod:`.inputs`), then writes to
the parts that own each piece of state: the fault book (faults and latency), the cloud state
(tokens, devices, events), the registry (live connections, through commands each socket's
task performs) and reads the recorder (what clients did). Every public method runs on the
emulator's event loop (:mod:`.loop_gate`), so it is safe from any thread.

Route names (``wdm.register``, ``u2c.catalog``, ``mercury.connect``, ``mercury.pong``, ...)
are listed by :attr:`Control.routes`; a pattern matching none of them raises
:class:`~webex_meetings.emulator.UnknownRouteError` naming the valid ones.
"""

from __future__ import annotations

from typing import Any

from .behaviour import OMITTABLE, VARIANTS, Behaviour, SessionRule
from .faults import Fault, FaultBook
from .inputs import (
    ControlInputError,
    check_close_code,
    check_count,
    check_optional_count,
    check_optional_seconds,
    check_probability,
    check_seconds,
    check_status,
)
from .loop_gate import LoopGate, on_loop
from .mercury import CloseCommand, DeliverCommand, ShutdownCommand
from .recorder import Recorder
from .records import AckRecord, ConnectionInfo, DeviceRecord, RequestRecord, Violation
from .registry import Registry
from .state import CloudState, Device, device_json

__all__ = ["Control"]


class Control:
    """Fault injection and observation for one emulator (see the module docstring)."""

    def __init__(
        self,
        *,
        state: CloudState,
        faults: FaultBook,
        behaviour: Behaviour,
        recorder: Recorder,
        registry: Registry,
        gate: LoopGate,
    ) -> None:
        self._state = state
        self._faults = faults
        self._behaviour = behaviour
        self._recorder = recorder
        self._registry = registry
        self._gate = gate

    # -- faults ------------------------------------------------------------------------------

    @property
    def routes(self) -> tuple[str, ...]:
        """Every route name faults can target (latency also takes the frame routes,
        :attr:`latency_routes`)."""
        return self._faults.fault_routes

    @property
    def latency_routes(self) -> tuple[str, ...]:
        """Every route name latency can target: the routes and the frames the emulator sends."""
        return self._faults.latency_routes

    @on_loop
    def fail_next(
        self,
        route: str,
        count: int | None = 1,
        status: int = 500,
        retry_after: float | None = None,
        message: str | None = None,
    ) -> None:
        """Answer the next ``count`` requests matching ``route`` with ``status`` (``count``
        ``None``: every matching request until :meth:`clear_faults`).

        ``retry_after`` (seconds) adds a ``Retry-After`` header (use it with 429 and 503).
        For ``mercury.connect`` the upgrade is refused with that status; for ``mercury.pong``
        and ``mercury.buffer_state`` those frames are withheld.

        :raises UnknownRouteError: ``route`` matches no route.
        :raises ControlInputError: ``count`` is below 1, ``status`` is not an HTTP error
            status, or ``retry_after`` is not a finite number >= 0.
        """
        checked = Fault(
            self._faults.check_fault_route(route),
            check_optional_count("count", count),
            check_status(status),
            check_optional_seconds("retry_after", retry_after),
            _optional_text("message", message),
        )
        self._faults.add(checked)

    @on_loop
    def drop_next(self, route: str, count: int | None = 1) -> None:
        """Close the connection instead of answering the next ``count`` matching requests.

        :raises UnknownRouteError: ``route`` matches no route.
        :raises ControlInputError: ``count`` is below 1.
        """
        route = self._faults.check_fault_route(route)
        self._faults.add(Fault(route, check_optional_count("count", count), drop=True))

    @on_loop
    def fail_randomly(
        self, route: str, rate: float, status: int = 503, retry_after: float | None = None
    ) -> None:
        """Fail each matching request with probability ``rate``, drawn from the seeded RNG.

        :raises ControlInputError: ``rate`` is outside [0, 1], or a bad status/retry_after.
        :raises UnknownRouteError: ``route`` matches no route.
        """
        rate = check_probability("rate", rate)
        fault = Fault(
            self._faults.check_fault_route(route),
            None,
            check_status(status),
            check_optional_seconds("retry_after", retry_after),
            rate=rate,
        )
        self._faults.add(fault)

    @on_loop
    def set_latency(self, route: str, seconds: float) -> None:
        """Delay what routes matching ``route`` answer or send by ``seconds`` (0 removes the
        delay). ``"*"`` is every HTTP answer, the websocket upgrade and every frame.

        :raises UnknownRouteError: ``route`` matches no route or frame.
        :raises ControlInputError: ``seconds`` is not a finite number >= 0.
        """
        delay = check_seconds("seconds", seconds)
        self._faults.set_latency(self._faults.check_latency_route(route), delay)

    def latency_for(self, route: str) -> float:
        """The injected delay for a route name, in seconds."""
        return self._gate.call(lambda: self._faults.latency_for(route))

    @property
    @on_loop
    def active_faults(self) -> list[dict[str, Any]]:
        """The fault rules in force (``remaining`` ``None``: until cleared), oldest first."""
        return [
            {
                "route": f.route,
                "remaining": f.remaining,
                "status": f.status,
                "retry_after": f.retry_after,
                "message": f.message,
                "drop": f.drop,
                "rate": f.rate,
            }
            for f in self._faults.faults
        ]

    @property
    @on_loop
    def latencies(self) -> dict[str, float]:
        """The latency rules in force: route pattern -> seconds."""
        return self._faults.latencies

    @on_loop
    def clear_faults(self) -> None:
        """Remove everything injected: fault rules, latency, variants, omitted fields,
        feature overrides and scheduled closes (settings such as the device limit stay)."""
        self._faults.clear()
        self._behaviour.clear()

    # -- departures from the default answers (the conformance scenarios) ---------------------

    @property
    def variants(self) -> dict[str, str]:
        """Every variant name with what it changes (see :meth:`set_variant`)."""
        return dict(VARIANTS)

    @property
    def omittable(self) -> dict[str, str]:
        """Every field :meth:`omit` can leave out, with where."""
        return dict(OMITTABLE)

    @on_loop
    def set_variant(self, name: str, enabled: bool = True) -> None:
        """Switch a variant on (or off): ``mercury.registration_status``,
        ``mercury.event_before_buffer_state``, ``catalog.host_with_port``.

        :raises UnknownNameError: no such variant (the message lists them).
        """
        self._behaviour.set_variant(name, _flag("enabled", enabled))

    @on_loop
    def omit(self, field: str, omitted: bool = True) -> None:
        """Leave a field out of the answers (or put it back): ``device.url``,
        ``device.webSocketUrl``, ``catalog.hostCatalog``, ``catalog.serviceLinks``,
        ``catalog.wdm``.

        :raises UnknownNameError: not an omittable field (the message lists them).
        """
        self._behaviour.set_omitted(field, _flag("omitted", omitted))

    @on_loop
    def set_feature(
        self, key: str, value: bool | str | None = True, kind: str = "developer"
    ) -> None:
        """Override a WDM feature toggle in device answers (``None`` removes the override),
        e.g. ``set_feature("web-high-availability")``. The device's ETag changes with it.

        :raises UnknownNameError: ``kind`` is not developer, entitlement or user.
        :raises ControlInputError: ``key`` is empty or ``value`` not a bool, string or None.
        """
        if not isinstance(key, str) or not key:
            raise ControlInputError(f"a feature key must be a non-empty string, not {key!r}")
        if value is not None and not isinstance(value, (bool, str)):
            raise ControlInputError(f"a feature value is a bool or a string, not {value!r}")
        self._behaviour.set_feature(kind, key, value)

    @on_loop
    def schedule_close(
        self, code: int = 1000, reason: str = "", after: float = 0.0, count: int = 1
    ) -> None:
        """Close each of the next ``count`` websockets ``after`` seconds after its session
        became ready (buffer_state sent) with ``code``; 1006 cuts it without a close frame.

        :raises ControlInputError: an unsendable code, a bad delay or count.
        """
        if code != 1006:
            check_close_code(code)
        rule = SessionRule(
            "close", check_seconds("after", after), check_count("count", count), code, reason
        )
        _text("reason", reason)
        self._behaviour.session_rules.append(rule)

    @on_loop
    def schedule_shutdown(self, after: float = 0.0, count: int = 1) -> None:
        """Send the ``shutdown`` notice on each of the next ``count`` websockets ``after``
        seconds after its session became ready.

        :raises ControlInputError: a bad delay or count.
        """
        rule = SessionRule("shutdown", check_seconds("after", after), check_count("count", count))
        self._behaviour.session_rules.append(rule)

    @property
    @on_loop
    def behaviour(self) -> dict[str, Any]:
        """The departures in force: variants, omitted fields, features, scheduled closes."""
        return self._behaviour.snapshot()

    @on_loop
    def set_device_limit(self, limit: int) -> None:
        """How many devices each user may hold; beyond it WDM answers 403 "User has
        excessive device registrations" (0 refuses every registration).

        :raises ControlInputError: not an integer >= 0.
        """
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
            raise ControlInputError(f"the device limit is an integer >= 0, not {limit!r}")
        self._state.device_limit = limit

    @property
    def device_limit(self) -> int:
        return self._state.device_limit

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
        """Make a device lapse now, as if its ttl ran out; ``False`` if it is not live. Its
        websockets stay open (what the real service does then is not recorded); its next
        refresh PUT gets 404."""
        return self._state.lapse_device(device_id)

    @on_loop
    def expire_devices(self) -> int:
        """:meth:`expire_device` for every live device; returns how many."""
        return sum(self._state.lapse_device(d.id) for d in self._state.devices_of_all())

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

        :raises ControlInputError: ``data`` is not an object with an ``eventType``.
        :raises KeyError: ``device_id`` is not a live device.
        """
        if not isinstance(data, dict) or "eventType" not in data:
            raise ControlInputError("an event's data needs an eventType")
        if envelope is not None and not isinstance(envelope, dict):
            raise ControlInputError("envelope must be an object")
        if device_id is not None and self._state.device(device_id) is None:
            raise KeyError(device_id)
        targets = [device_id] if device_id else list(self._state.devices)
        ids = []
        for target in targets:
            event = self._state.enqueue_event(target, dict(data), **(envelope or {}))
            ids.append(event.id)
            for socket in self._registry.sockets(target):
                socket.command(DeliverCommand(event))
        return ids

    @on_loop
    def close_connections(
        self, code: int = 1000, reason: str = "", device_id: str | None = None
    ) -> int:
        """Close live websockets (of one device, or all) with a close frame; returns how many.

        :raises ControlInputError: ``code`` cannot be sent in a close frame (1006 is
            :meth:`drop_connections`).
        """
        command = CloseCommand(check_close_code(code), _text("reason", reason))
        sockets = self._registry.sockets(device_id)
        for socket in sockets:
            socket.command(command)
        return len(sockets)

    @on_loop
    def drop_connections(self, device_id: str | None = None) -> int:
        """Cut live websockets without a close frame (the client sees 1006)."""
        sockets = self._registry.sockets(device_id)
        for socket in sockets:
            socket.drop()
        return len(sockets)

    @on_loop
    def send_shutdown(self, device_id: str | None = None) -> int:
        """Send the server ``{"type": "shutdown"}`` frame; the device's next connection then
        replaces the old one, which is closed with 4001 ``replaced``. Returns how many."""
        sockets = self._registry.sockets(device_id)
        for socket in sockets:
            socket.command(ShutdownCommand())
        return len(sockets)

    @on_loop
    def restart(self, keep_state: bool = False) -> None:
        """Simulate a restart: cut every connection (HTTP and websocket) and, unless
        ``keep_state``, forget devices, events and issued tokens."""
        self.restart_sparing(None, keep_state=keep_state)

    def restart_sparing(self, connection_id: int | None, *, keep_state: bool) -> None:
        """:meth:`restart`, sparing one TCP connection (the admin API's caller; loop only)."""
        for socket in self._registry.sockets():
            socket.drop()
        self._registry.cut_connections(spare=connection_id)
        if not keep_state:
            self._state.forget_everything()

    # -- observation -------------------------------------------------------------------------

    @property
    @on_loop
    def violations(self) -> list[Violation]:
        """Every protocol violation recorded so far, oldest first."""
        return self._recorder.violations.snapshot()

    @property
    @on_loop
    def requests(self) -> list[RequestRecord]:
        """Every HTTP request and websocket upgrade answered so far (admin API calls
        excluded), oldest first."""
        return self._recorder.requests.snapshot()

    @property
    @on_loop
    def acks(self) -> list[AckRecord]:
        """Every Mercury ack received so far."""
        return self._recorder.acks.snapshot()

    @property
    @on_loop
    def connections(self) -> list[ConnectionInfo]:
        """Snapshots of every Mercury connection, finished ones first."""
        live = [socket.mercury.info() for socket in self._registry.sockets()]
        return [*self._recorder.connections.snapshot(), *live]

    @property
    @on_loop
    def devices(self) -> list[DeviceRecord]:
        """The live devices, oldest first."""
        return [self._record(device) for device in self._state.devices_of_all()]

    @property
    @on_loop
    def device_history(self) -> list[DeviceRecord]:
        """Every device registered (the newest 100,000 ended ones), live or ended, in order
        of creation; ``ended_at``/``ended_by`` say when and how each ended."""
        self._state.devices_of_all()  # ends what lapsed
        devices = [*self._state.ended.values(), *self._state.devices.values()]
        return [self._record(d) for d in sorted(devices, key=lambda d: d.created)]

    def _record(self, device: Device) -> DeviceRecord:
        org_id = self._state.users[device.user_id].org_id
        return DeviceRecord(
            device.id,
            device.user_id,
            device.url,
            device.web_socket_url,
            device.ttl,
            device.created,
            device.modified,
            device.expires_at,
            device_json(device, org_id=org_id),
            device.ended_at,
            device.ended_by,
        )

    @on_loop
    def pending_events(self, device_id: str) -> list[dict[str, Any]]:
        """Envelopes queued for a device and not yet acked."""
        return [dict(e.envelope) for e in self._state.pending_events(device_id)]

    @on_loop
    def clear_records(self) -> None:
        """Forget recorded violations, requests, acks and finished connections."""
        self._recorder.clear()


def _text(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise ControlInputError(f"{name} must be a string, not {value!r}")
    return value


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ControlInputError(f"{name} must be true or false, not {value!r}")
    return value


def _optional_text(name: str, value: object) -> str | None:
    return None if value is None else _text(name, value)
