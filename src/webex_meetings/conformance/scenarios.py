"""The scenarios: the cloud's hard cases, as a table.

Each :class:`Scenario` has a name, one line saying what it checks and how it is arranged, the
steps that arrange it (:mod:`.steps`), and what a conforming client must achieve
(:class:`Expectation`). The judge (:mod:`.judge`) applies the same rules to every run; the
expectation only says which outcome this scenario calls for: must the client register (or
must it fail cleanly, or is either fine), must it recover a working Mercury session after a
mid-session disruption, which devices may it leave behind, must it ack every event.

The fault matrix (six steps x six statuses) is generated from two small tables below: where
each step is (:data:`FAULT_STEPS`) and what each status means there (:data:`FAULT_OUTCOMES`).
401, 403 and 404 are answered every time (the real service answers the same request the same
way), 429 (with ``Retry-After: 1``), 500 and 503 once (transient). The websocket upgrade is
refused every time whatever the status: the question there is whether ``register()`` gives up
on a Mercury that keeps refusing (``MERCURY_CONNECT_ATTEMPTS=3`` lets a client that bounds its
attempts give up in seconds) or waits forever.

Steps a short run does not reach on its own are arranged to be reached: the device refresh
PUT (due every ``ttl/2 + 60`` s) by expiring the device server-side and cutting the websocket
a moment after the session became ready, so the reconnect's upgrade answers 404 (the device is
gone) and a client that follows the JS SDK's rule refreshes (PUT, 404: re-create); missing
pongs, a withheld buffer_state and refused upgrades by short Mercury settings in the client's
environment (``MERCURY_PING_INTERVAL``, ``MERCURY_PONG_TIMEOUT``,
``MERCURY_AUTHORIZATION_TIMEOUT``, ``MERCURY_CONNECT_ATTEMPTS``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Final

from .steps import (
    CloseSessions,
    DeviceLimit,
    DropConnections,
    ExpireDevices,
    ExpireToken,
    Fail,
    Feature,
    Latency,
    Omit,
    ShutdownSessions,
    Step,
    Variant,
)

__all__ = [
    "QUICK",
    "SCENARIOS",
    "Expectation",
    "Leftover",
    "Scenario",
    "UnknownScenarioError",
    "scenario_named",
    "select",
]


class Leftover:
    """Which of the run's devices may still be live when the run ends (plain strings)."""

    NONE: Final = "none"
    """Every device the client created is gone (deleted, or lapsed on the server)."""
    EPHEMERAL: Final = "ephemeral"
    """Devices may stay when the client could not delete them, if they carry a ttl (they
    lapse by themselves)."""
    ANY: Final = "any"
    """The emulator kept a device while telling the client it was gone: not held against it."""


@dataclass(frozen=True, slots=True)
class Expectation:
    """What a conforming client achieves in a scenario.

    ``registers``: ``True`` it must register (a device and a Mercury session that reached
    ready), ``False`` it must not (and fail cleanly), ``None`` either. ``recovers``: a second
    Mercury session reaches ready after the first was disrupted. ``leftover``: see
    :class:`Leftover`. ``require_acks``: an unacked frame is an error here, not a warning.
    ``reaches``: the route the scenario's fault is on; a run that never requests it did not
    meet the fault (a warning: the scenario did not test what it arranges).
    """

    registers: bool | None = True
    recovers: bool = False
    leftover: str = Leftover.NONE
    require_acks: bool = False
    reaches: str | None = None

    def describe(self) -> str:
        """One phrase: ``registers, recovers, nothing left``."""
        parts = [
            {True: "registers", False: "fails cleanly", None: "registers or fails"}[self.registers]
        ]
        if self.recovers:
            parts.append("recovers")
        if self.require_acks:
            parts.append("acks every frame")
        parts.append(
            {
                Leftover.NONE: "nothing left",
                Leftover.EPHEMERAL: "at most an ephemeral device left",
                Leftover.ANY: "leftover not judged",
            }[self.leftover]
        )
        return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class Scenario:
    """One hard case (see the module docstring)."""

    name: str
    description: str
    expect: Expectation = field(default_factory=Expectation)
    arrange: tuple[Step, ...] = ()
    mid_session: tuple[Step, ...] = ()
    """Applied once, ``mid_session_after`` seconds after the first session became ready."""
    mid_session_after: float = 0.3
    hold_ms: int = 1500
    """How long the client stays registered before it unregisters (``HOLD_MS``)."""
    env: tuple[tuple[str, str], ...] = ()
    """More environment for the client (short Mercury timings)."""

    def arrangement(self) -> str:
        """The steps, in words."""
        steps = [s.describe() for s in self.arrange]
        if self.mid_session:
            mid = ", ".join(s.describe() for s in self.mid_session)
            steps.append(f"{self.mid_session_after:g} s after ready: {mid}")
        steps += [f"{name}={value}" for name, value in self.env]
        return "; ".join(steps) or "nothing"


class UnknownScenarioError(ValueError):
    """A scenario name that is not in the table (the message lists close matches)."""


# -- the fault matrix ---------------------------------------------------------------------------

_EXPIRE_AND_CUT: Final = (ExpireDevices(), DropConnections())


@dataclass(frozen=True, slots=True)
class _FaultStep:
    name: str
    route: str
    where: str
    mid_session: tuple[Step, ...] = ()
    hold_ms: int = 1500
    always: bool = False
    """Refuse every attempt whatever the status (else 401/403/404 always, the rest once)."""
    env: tuple[tuple[str, str], ...] = ()


FAULT_STEPS: Final = (
    _FaultStep("catalog", "u2c.catalog", "the U2C catalog"),
    _FaultStep("people-me", "hydra.people_me", "people/me"),
    _FaultStep("device-post", "wdm.register", "the device POST"),
    _FaultStep(
        "refresh-put",
        "wdm.refresh",
        "the device refresh PUT (reached by expiring the device and cutting the websocket "
        "0.3 s after ready: the reconnect's upgrade answers 404, and the client refreshes)",
        _EXPIRE_AND_CUT,
        4000,
    ),
    _FaultStep("delete", "wdm.delete", "the device DELETE at unregister"),
    _FaultStep(
        "upgrade",
        "mercury.connect",
        "every websocket upgrade (MERCURY_CONNECT_ATTEMPTS=3)",
        always=True,
        env=(("MERCURY_CONNECT_ATTEMPTS", "3"),),
    ),
)
"""Where each fault of the matrix is injected."""

_PERSISTENT: Final = frozenset({401, 403, 404})
_STATUSES: Final = (401, 403, 404, 429, 500, 503)
_TRANSIENT_RETRY_AFTER: Final = 1.0

_E = Expectation
_FAILS: Final = _E(registers=False)
_EITHER: Final = _E(registers=None)
_RECOVERS: Final = _E(recovers=True)

FAULT_OUTCOMES: Final[dict[tuple[str, int], tuple[Expectation, str]]] = {
    **{("catalog", s): (_FAILS, "register fails cleanly") for s in (401, 403, 404)},
    **{("catalog", s): (_EITHER, "retried or failed cleanly") for s in (429, 500, 503)},
    **{
        ("people-me", s): (_E(), "registers anyway (people/me is advisory; WDM judges the token)")
        for s in (401, 403)
    },
    **{("people-me", s): (_EITHER, "registers or fails cleanly") for s in (404, 429, 500, 503)},
    **{("device-post", s): (_FAILS, "register fails cleanly") for s in (401, 403, 404)},
    **{
        ("device-post", s): (_EITHER, "retried or failed cleanly, never two devices")
        for s in (429, 500, 503)
    },
    **{("refresh-put", s): (_E(), "settles without a storm") for s in (401, 403)},
    **{
        ("refresh-put", s): (_RECOVERS, "re-creates the device and reconnects")
        for s in (404, 429, 500, 503)
    },
    **{
        ("delete", s): (_E(leftover=Leftover.EPHEMERAL), "at most an ephemeral device left")
        for s in (401, 403)
    },
    ("delete", 404): (_E(leftover=Leftover.ANY), "takes 404 as done, no retry loop"),
    **{("delete", s): (_E(), "retried: the device is deleted") for s in (429, 500, 503)},
    **{("upgrade", s): (_FAILS, "register gives up cleanly, never hangs") for s in _STATUSES},
}
"""(step, status) -> what a conforming client achieves, and that in words."""


def _fault_scenario(step: _FaultStep, status: int) -> Scenario:
    expect, outcome = FAULT_OUTCOMES[(step.name, status)]
    persistent = step.always or status in _PERSISTENT
    retry_after = _TRANSIENT_RETRY_AFTER if status == 429 else None
    fault = Fail(step.route, status, None if persistent else 1, retry_after)
    times = "every time" if persistent else "once"
    wait = " with Retry-After: 1" if retry_after else ""
    return Scenario(
        f"{step.name}-{status}",
        f"{step.where} answers {status}{wait} ({times}): {outcome}",
        replace(expect, reaches=step.route),
        arrange=(fault,),
        mid_session=step.mid_session,
        hold_ms=step.hold_ms,
        env=step.env,
    )


# -- everything else -----------------------------------------------------------------------------

_AFTER_CLOSE: Final = {
    1000: (_E(), "no reason given: reconnecting or not, still unregisters cleanly"),
    1001: (_RECOVERS, "going away: reconnects, then unregisters cleanly"),
    1006: (_RECOVERS, "cut without a close frame: reconnects, then unregisters cleanly"),
    3050: (_E(), "reconnecting or not, still unregisters cleanly"),
    4000: (_E(), "'replaced': may stand down, still unregisters cleanly"),
    4001: (_E(), "'replaced' after a shutdown: still unregisters cleanly"),
    4400: (_E(), "every session closed so: no reconnect storm, unregisters cleanly"),
    4401: (_E(), "every session closed so: no reconnect storm, unregisters cleanly"),
    4403: (_E(), "every session closed so: no reconnect storm, unregisters cleanly"),
}
"""Close code mid-session -> what a conforming client does."""

_REPEATED_CLOSES: Final = frozenset({4400, 4401, 4403})


def _close_scenario(code: int) -> Scenario:
    expect, outcome = _AFTER_CLOSE[code]
    repeated = code in _REPEATED_CLOSES
    reason = "replaced" if code in (4000, 4001) else ""
    close = CloseSessions(code, reason, after=0.3, count=10 if repeated else 1)
    which = "every session" if repeated else "the session"
    how = "cut" if code == 1006 else f"closed with {code}"
    return Scenario(
        f"close-{code}",
        f"{which} {how} 0.3 s after ready: {outcome}",
        expect,
        arrange=(close,),
        hold_ms=4000,
    )


_OMITTED: Final = (
    ("omit-websocket-url", "device.webSocketUrl", _FAILS, "fails cleanly, deletes the device"),
    (
        "omit-device-url",
        "device.url",
        _E(registers=None, leftover=Leftover.EPHEMERAL),
        "cannot delete what has no URL: at most an ephemeral device left",
    ),
    ("omit-host-catalog", "catalog.hostCatalog", _EITHER, "registers or fails cleanly"),
    ("omit-service-links", "catalog.serviceLinks", _EITHER, "registers or fails cleanly"),
    ("omit-wdm", "catalog.wdm", _FAILS, "no WDM service: fails cleanly"),
)


def _omit_scenario(name: str, omitted: str, expect: Expectation, outcome: str) -> Scenario:
    return Scenario(name, f"{omitted} left out of the answers: {outcome}", expect, (Omit(omitted),))


_SHORT_PINGS: Final = (("MERCURY_PING_INTERVAL", "1000"), ("MERCURY_PONG_TIMEOUT", "1000"))

_OTHERS: Final = (
    Scenario("baseline", "the plain path: registers, holds, unregisters, nothing left"),
    Scenario(
        "event-before-buffer-state",
        "an event arrives before mercury.buffer_state: registers and acks the event",
        _E(require_acks=True),
        (Variant("mercury.event_before_buffer_state"),),
    ),
    Scenario(
        "registration-status",
        "mercury.registration_status unlocks the session instead of buffer_state: registers",
        arrange=(Variant("mercury.registration_status"),),
    ),
    Scenario(
        "buffer-state-withheld",
        "the first session never gets its buffer_state (MERCURY_AUTHORIZATION_TIMEOUT=2000): "
        "retries or fails cleanly, never hangs",
        _EITHER,
        (Fail("mercury.buffer_state", 503, 1),),
        env=(("MERCURY_AUTHORIZATION_TIMEOUT", "2000"),),
        hold_ms=1500,
    ),
    Scenario(
        "catalog-host-port",
        "catalog hosts carry a port (host:port): registers",
        arrange=(Variant("catalog.host_with_port"),),
    ),
    Scenario(
        "feature-high-availability",
        "the web-high-availability toggle is on: registers and unregisters cleanly",
        arrange=(Feature("web-high-availability"),),
    ),
    Scenario(
        "missing-pong",
        "the first pong never comes (pings every 1 s, 1 s pong timeout): the client closes "
        "that session and reconnects",
        _RECOVERS,
        (Fail("mercury.pong", 503, 1),),
        env=_SHORT_PINGS,
        hold_ms=5000,
    ),
    Scenario(
        "shutdown",
        "the server sends the shutdown frame 0.3 s after ready: moves to a new session",
        _RECOVERS,
        (ShutdownSessions(0.3),),
        hold_ms=4000,
    ),
    Scenario(
        "device-expired",
        "the device expires server-side 0.3 s after ready (its websocket stays open): the "
        "DELETE's 404 counts as done, nothing left",
        mid_session=(ExpireDevices(),),
    ),
    Scenario(
        "excessive-devices",
        "WDM refuses every device: 'User has excessive device registrations' (403): fails "
        "cleanly, no POST storm",
        _FAILS,
        (DeviceLimit(0),),
    ),
    Scenario(
        "token-expired",
        "the access token expires 0.3 s after ready: settles, at most an ephemeral device "
        "left (it cannot be deleted without a valid token)",
        _E(leftover=Leftover.EPHEMERAL),
        mid_session=(ExpireToken(),),
    ),
    Scenario(
        "latency",
        "0.2 s latency on every answer, upgrade and frame: registers and unregisters cleanly",
        arrange=(Latency(0.2),),
        hold_ms=2000,
    ),
)

SCENARIOS: Final[tuple[Scenario, ...]] = (
    _OTHERS[0],
    *(_fault_scenario(step, status) for step in FAULT_STEPS for status in _STATUSES),
    *_OTHERS[1:],
    *(_omit_scenario(*row) for row in _OMITTED),
    *(_close_scenario(code) for code in _AFTER_CLOSE),
)
"""Every scenario, in the order the kit runs them."""

QUICK: Final = (
    "baseline",
    "catalog-401",
    "device-post-503",
    "refresh-put-404",
    "delete-503",
    "upgrade-503",
    "event-before-buffer-state",
    "omit-websocket-url",
    "close-1006",
)
"""A representative subset: one of each kind of step (fault, variant, omission, close)."""

_BY_NAME: Final = {s.name: s for s in SCENARIOS}


def scenario_named(name: str) -> Scenario:
    """The scenario called ``name``.

    :raises UnknownScenarioError: no such scenario (the message suggests close names).
    """
    try:
        return _BY_NAME[name]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(name, _BY_NAME, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UnknownScenarioError(
            f"no scenario {name!r}{hint} (`webex-meetings conformance --list` lists them)"
        ) from None


def select(names: list[str] | tuple[str, ...] = ()) -> tuple[Scenario, ...]:
    """The scenarios named (each once, in table order), or all of them.

    :raises UnknownScenarioError: a name is not in the table.
    """
    if not names:
        return SCENARIOS
    wanted = {scenario_named(name).name for name in names}
    return tuple(s for s in SCENARIOS if s.name in wanted)
