"""The judge: a verdict for one run, from the emulator's records only.

Theory of operation: the judge never hears from the client. It reads what the emulator
recorded (requests, the user's devices, their Mercury connections, violations; see
:mod:`.observed`) and two facts the runner observed from outside the client: when the client
started and whether (and when) its process ended within the timeout. Each rule of
:data:`RULES` turns that into findings, each with a severity:

* an ``error`` fails the run (the client broke the protocol or missed the scenario's
  expectation);
* a ``warning`` is shown beside the verdict (something the real service tolerates, such as a
  missing ack).

The verdict is ``hang`` when the process did not end within the timeout (it was killed, then
judged: its other findings are listed too), else ``fail`` when any finding is an error, else
``pass``. Every verdict has a one-line reason and names the rules it violated.

The rules: the scenario's expectation (registers or fails cleanly, recovers after a
disruption, what may be left behind), one device at a time, every emulator violation with its
own severity, ``Retry-After`` honoured, reconnect backoff (no storm, delays that grow), no
request storm on a lifecycle route, and the token only on requests that require it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, Final

from .observed import Observed, Request, observe
from .scenarios import Expectation, Leftover

__all__ = [
    "REFERENCES",
    "RULES",
    "Finding",
    "Outcome",
    "RunFacts",
    "Severity",
    "Verdict",
    "judge",
]


class Outcome:
    """A run's verdict (plain strings, for JSON)."""

    PASS: Final = "pass"
    FAIL: Final = "fail"
    HANG: Final = "hang"


class Severity:
    ERROR: Final = "error"
    WARNING: Final = "warning"


@dataclass(frozen=True, slots=True)
class RunFacts:
    """What the runner saw from outside the client, on the emulator's clock (seconds)."""

    scenario: str
    user_id: str
    """The run's own user: its devices are the run's devices."""
    started_at: float
    """When the client process was started."""
    ended_at: float | None
    """When the client process ended; ``None``: it did not end within ``timeout``."""
    timeout: float


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing a rule found: its rule, severity, what happened, and where the rule is
    written down."""

    rule: str
    severity: str
    message: str
    reference: str = ""


@dataclass(frozen=True, slots=True)
class Verdict:
    """The judgement of one run."""

    scenario: str
    outcome: str
    reason: str
    seconds: float
    """Time to settle (start to the process's end), or the timeout for a hang."""
    findings: tuple[Finding, ...] = ()
    registered: bool = False
    devices_left: int = 0
    sessions: int = 0
    """Mercury sessions that reached ready."""

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == Severity.ERROR)

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == Severity.WARNING)

    @property
    def rules_violated(self) -> tuple[str, ...]:
        """The rules with an error, each once, in the order found."""
        return tuple(dict.fromkeys(f.rule for f in self.errors))

    def to_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "verdict": self.outcome,
            "reason": self.reason,
            "seconds": round(self.seconds, 2),
            "registered": self.registered,
            "devices_left": self.devices_left,
            "sessions": self.sessions,
            "rules_violated": list(self.rules_violated),
            "findings": [
                {
                    "rule": f.rule,
                    "severity": f.severity,
                    "message": f.message,
                    "reference": f.reference or REFERENCES.get(f.rule, ""),
                }
                for f in self.findings
            ],
        }


# -- thresholds -----------------------------------------------------------------------------------

STORM_WINDOW: Final = 2.0
"""Seconds of the sliding window a storm is counted in."""
STORM_UPGRADES: Final = 5
"""More websocket upgrades than this within the window is a reconnect storm."""
STORM_REQUESTS: Final = 8
"""More requests than this on one lifecycle route within the window is a request storm."""
RETRY_AFTER_SLACK: Final = 0.05
"""Seconds a retry may come early (clock granularity) and still honour ``Retry-After``."""
SHRINK_FACTOR: Final = 0.75
"""A reconnect delay below this fraction of the one before it (minus the slack) shrank."""
BACKOFF_CAP: Final = 30.0
"""Delays at or above this many seconds may stay flat (the backoff's cap)."""
LIFECYCLE_ROUTE_PREFIXES: Final = ("u2c.", "hydra.people_me", "wdm.")
UPGRADE_ROUTE: Final = "mercury.connect"


@dataclass(frozen=True, slots=True)
class _Context:
    observed: Observed
    facts: RunFacts
    expect: Expectation


Rule = Callable[[_Context], Iterator[Finding]]


# -- the rules ----------------------------------------------------------------------------------


def _settles(ctx: _Context) -> Iterator[Finding]:
    if ctx.facts.ended_at is None:
        yield Finding(
            "settles", Severity.ERROR, f"did not end within {ctx.facts.timeout:g} s: killed"
        )


def _readable(ctx: _Context) -> Iterator[Finding]:
    observed = ctx.observed
    if observed.unreadable:
        yield Finding("records", Severity.ERROR, "the emulator's records are unreadable")
    elif observed.malformed:
        yield Finding(
            "records", Severity.WARNING, f"{observed.malformed} malformed record(s) ignored"
        )


def _registers(ctx: _Context) -> Iterator[Finding]:
    wanted, observed = ctx.expect.registers, ctx.observed
    if wanted is True and not observed.registered:
        yield Finding("registers", Severity.ERROR, f"never registered: {_why_not(observed)}")
    elif wanted is False and observed.registered:
        yield Finding("registers", Severity.ERROR, "registered although the scenario forbids it")


def _reaches(ctx: _Context) -> Iterator[Finding]:
    route = ctx.expect.reaches
    if route is not None and not any(r.route == route for r in ctx.observed.requests):
        yield Finding(
            "reaches",
            Severity.WARNING,
            f"never requested {route}: the run did not meet the scenario's fault",
        )


def _recovers(ctx: _Context) -> Iterator[Finding]:
    sessions = ctx.observed.ready_connections
    if ctx.expect.recovers and len(sessions) == 1:
        yield Finding(
            "recovers",
            Severity.ERROR,
            "no new Mercury session after the disruption (only one reached ready)",
        )


def _nothing_left(ctx: _Context) -> Iterator[Finding]:
    live = ctx.observed.live_devices
    allowed = ctx.expect.leftover
    if allowed == Leftover.ANY or not live:
        return
    if allowed == Leftover.EPHEMERAL:
        live = tuple(d for d in live if d.ttl is None)
        if live:
            yield Finding(
                "nothing-left",
                Severity.ERROR,
                f"left {_devices(len(live))} without a ttl (it never lapses)",
            )
        return
    yield Finding("nothing-left", Severity.ERROR, f"left {_devices(len(live))} live at the end")


def _one_device_at_a_time(ctx: _Context) -> Iterator[Finding]:
    devices = ctx.observed.devices
    for earlier, later in pairwise(devices):
        if earlier.ended_at is None or later.created < earlier.ended_at:
            yield Finding(
                "one-device",
                Severity.ERROR,
                f"two devices live at once ({len(devices)} created)",
            )
            return


def _emulator_violations(ctx: _Context) -> Iterator[Finding]:
    counts: Counter[tuple[str, str, str]] = Counter()
    first: dict[tuple[str, str, str], str] = {}
    for v in ctx.observed.violations:
        severity = v.severity
        if ctx.expect.require_acks and v.kind == "unacked_event":
            severity = Severity.ERROR
        key = (v.kind, severity, v.rule)
        counts[key] += 1
        first.setdefault(key, v.detail)
    for (kind, severity, rule), count in counts.items():
        times = f" (x{count})" if count > 1 else ""
        yield Finding(f"emulator:{kind}", severity, f"{first[(kind, severity, rule)]}{times}", rule)


def _retry_after(ctx: _Context) -> Iterator[Finding]:
    requests = ctx.observed.requests
    for index, request in enumerate(requests):
        wait = request.retry_after
        if wait is None or request.status < 400:
            continue
        following = _next_on_route(requests, index)
        if following is None:
            continue
        gap = following.at - request.at
        if gap + RETRY_AFTER_SLACK < wait:
            yield Finding(
                "retry-after",
                Severity.ERROR,
                f"retried {request.route} {gap:.2f} s after a {request.status} asking "
                f"Retry-After {wait:g} s",
            )


def _next_on_route(requests: tuple[Request, ...], index: int) -> Request | None:
    request = requests[index]
    for later in requests[index + 1 :]:
        if later.route == request.route and later.method == request.method:
            return later
    return None


def _backoff(ctx: _Context) -> Iterator[Finding]:
    upgrades = [r for r in ctx.observed.requests if r.route == UPGRADE_ROUTE]
    crowded = _most_in_window([r.at for r in upgrades])
    if crowded > STORM_UPGRADES:
        yield Finding(
            "backoff",
            Severity.ERROR,
            f"reconnect storm: {crowded} websocket upgrades within {STORM_WINDOW:g} s",
        )
        return
    ready = {c.id for c in ctx.observed.connections if c.ready_at is not None}
    shrunk = _shrinking_delay(upgrades, ready)
    if shrunk is not None:
        before, after = shrunk
        yield Finding(
            "backoff",
            Severity.ERROR,
            f"reconnect delays shrink while failing: {before:.2f} s, then {after:.2f} s",
        )


def _shrinking_delay(upgrades: list[Request], ready: set[int | None]) -> tuple[float, float] | None:
    """The first pair of delays between failed attempts where the later one shrank."""
    previous_gap: float | None = None
    for attempt, following in pairwise(upgrades):
        if attempt.status == 101 and attempt.connection_id in ready:
            previous_gap = None  # a session came up: the backoff starts over
            continue
        gap = following.at - attempt.at
        if (
            previous_gap is not None
            and previous_gap < BACKOFF_CAP
            and gap < previous_gap * SHRINK_FACTOR - RETRY_AFTER_SLACK
        ):
            return previous_gap, gap
        previous_gap = gap
    return None


def _request_storm(ctx: _Context) -> Iterator[Finding]:
    by_route: dict[str, list[float]] = {}
    for r in ctx.observed.requests:
        if r.route.startswith(LIFECYCLE_ROUTE_PREFIXES):
            by_route.setdefault(f"{r.method} {r.route}", []).append(r.at)
    for route, times in by_route.items():
        crowded = _most_in_window(times)
        if crowded > STORM_REQUESTS:
            yield Finding(
                "request-storm",
                Severity.ERROR,
                f"{crowded} requests on {route} within {STORM_WINDOW:g} s",
            )


def _token_scope(ctx: _Context) -> Iterator[Finding]:
    needless = Counter(
        r.route or "an unknown path"
        for r in ctx.observed.requests
        if r.authorized and not r.token_required
    )
    for route, count in needless.items():
        times = f" ({count}x)" if count > 1 else ""
        yield Finding(
            "token-scope", Severity.ERROR, f"sent its token on {route}, which takes none{times}"
        )


def _most_in_window(times: list[float]) -> int:
    """The most timestamps within any window of :data:`STORM_WINDOW` seconds."""
    ordered = sorted(times)
    most, start = 0, 0
    for end, moment in enumerate(ordered):
        while moment - ordered[start] > STORM_WINDOW:
            start += 1
        most = max(most, end - start + 1)
    return most


RULES: Final[tuple[tuple[str, str, Rule], ...]] = (
    ("settles", "the client process ends within the timeout", _settles),
    ("records", "the emulator's records can be read", _readable),
    ("registers", "registers, or fails cleanly, as the scenario expects", _registers),
    ("recovers", "a new Mercury session after a mid-session disruption", _recovers),
    ("reaches", "the run met the scenario's fault (a warning when not)", _reaches),
    ("nothing-left", "no device of the run is live at the end (unless allowed)", _nothing_left),
    ("one-device", "never two devices of the run live at once", _one_device_at_a_time),
    (
        "emulator:*",
        "every violation the emulator recorded, with its severity",
        _emulator_violations,
    ),
    ("retry-after", "no new attempt on a route before its Retry-After elapsed", _retry_after),
    ("backoff", "no reconnect storm; delays between failed attempts grow", _backoff),
    ("request-storm", "no burst of requests on a lifecycle route", _request_storm),
    ("token-scope", "the token only on requests that require it", _token_scope),
)
"""(name, what it checks, the check), in the order findings are listed."""

REFERENCES: Final = {
    "settles": "the kit's --timeout",
    "registers": "the scenario's expectation",
    "recovers": "protocol-notes.md §3.6 (reconnect after a transient close)",
    "reaches": "the scenario's arrangement",
    "nothing-left": "protocol-notes.md §1.2 (unregister deletes the device)",
    "one-device": "protocol-notes.md §2.2",
    "retry-after": "RFC 9110 §10.2.3",
    "backoff": "protocol-notes.md §3.7",
    "request-storm": "protocol-notes.md §2.4",
    "token-scope": "protocol-notes.md §5.5",
}


# -- the verdict --------------------------------------------------------------------------------


def judge(records: object, facts: RunFacts, expect: Expectation) -> Verdict:
    """The verdict on one run, from the emulator's ``records`` (JSON-shaped, as
    ``GET /_emulator/records`` returns them) and the runner's ``facts``. Never raises: records
    that cannot be read are themselves a finding."""
    observed = observe(records, facts.user_id)
    ctx = _Context(observed, facts, expect)
    findings = tuple(finding for _, _, rule in RULES for finding in rule(ctx))
    errors = [f for f in findings if f.severity == Severity.ERROR]
    if facts.ended_at is None:
        outcome, reason = Outcome.HANG, _hang_reason(observed, facts)
        seconds = facts.timeout
    else:
        outcome = Outcome.FAIL if errors else Outcome.PASS
        reason = _fail_reason(errors) if errors else _pass_reason(observed, expect)
        seconds = max(0.0, facts.ended_at - facts.started_at)
    return Verdict(
        facts.scenario,
        outcome,
        reason,
        seconds,
        findings,
        observed.registered,
        len(observed.live_devices),
        len(observed.ready_connections),
    )


def _fail_reason(errors: list[Finding]) -> str:
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{errors[0].message}{more}"


def _hang_reason(observed: Observed, facts: RunFacts) -> str:
    return f"did not end within {facts.timeout:g} s; {_stage(observed)}"


def _stage(observed: Observed) -> str:
    """How far the records show the run got."""
    if observed.registered:
        left = len(observed.live_devices)
        return (
            f"a session reached ready; {_devices(left)} still live"
            if left
            else ("a session reached ready; nothing left")
        )
    return f"never registered: {_why_not(observed)}"


def _pass_reason(observed: Observed, expect: Expectation) -> str:
    if not observed.registered:
        left = len(observed.live_devices)
        tail = f"; {_devices(left)} left (allowed)" if left else "; nothing left"
        return f"failed cleanly: {_why_not(observed)}{tail}"
    sessions = len(observed.ready_connections)
    parts = ["registered"]
    if sessions > 1:
        parts.append(f"{sessions} sessions")
    left = len(observed.live_devices)
    parts.append(f"{_devices(left)} left (allowed)" if left else _how_ended(observed))
    return ", ".join(parts)


def _how_ended(observed: Observed) -> str:
    """``device deleted``, or how the run's devices ended when not all by a DELETE."""
    endings = Counter(d.ended_by or "ended" for d in observed.devices)
    if set(endings) == {"deleted"} and endings["deleted"] == 1:
        return "device deleted"
    return "nothing left (" + ", ".join(f"{n} {how}" for how, n in sorted(endings.items())) + ")"


def _why_not(observed: Observed) -> str:
    """Why the run did not register, from the records: the first refusal, or the step that
    never happened."""
    refused = next(
        (r for r in observed.requests if r.status >= 400 and r.route.startswith(_STEPS)), None
    )
    if not observed.devices:
        return _refusal(refused) if refused else "no device was created"
    if not observed.connections:
        return _refusal(refused) if refused else "no Mercury websocket was opened"
    return "no Mercury session reached ready"


_STEPS: Final = (*LIFECYCLE_ROUTE_PREFIXES, UPGRADE_ROUTE)


def _refusal(request: Request) -> str:
    return f"{request.route} answered {request.status}"


def _devices(count: int) -> str:
    return "1 device" if count == 1 else f"{count} devices"
