"""The judge on recorded records: table-driven cases, hostile records, and properties.

Each case builds the emulator's records by hand (the shape ``GET /_emulator/records`` gives)
for a run of user ``USER`` that started at ``T0``, and checks the verdict and the rules it
names. The hypothesis properties feed the judge arbitrary JSON, and records whose entries are
arbitrary: it never raises, and its verdict always agrees with its own findings.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webex_meetings.conformance import Expectation, Leftover, Outcome, RunFacts, judge
from webex_meetings.conformance.judge import RULES, STORM_UPGRADES

T0 = 1_800_000_000.0
USER = "user-1"
OTHER = "user-2"


def request(
    at: float,
    route: str,
    status: int = 200,
    *,
    method: str = "GET",
    authorized: bool = True,
    token_required: bool = True,
    retry_after: float | None = None,
    connection_id: int = 1,
) -> dict[str, Any]:
    return {
        "at": T0 + at,
        "method": method,
        "path": "/" + route.replace(".", "/"),
        "query": [],
        "route": route,
        "status": status,
        "tracking_id": "t",
        "user_agent": "ua",
        "authorized": authorized,
        "connection_id": connection_id,
        "fault": None,
        "token_required": token_required,
        "token_valid": True,
        "retry_after": retry_after,
        "latency": 0.0,
        "host": "127.0.0.1",
    }


def upgrade(at: float, status: int = 101, connection_id: int = 5) -> dict[str, Any]:
    return request(
        at,
        "mercury.connect",
        status,
        authorized=False,
        token_required=False,
        connection_id=connection_id,
    )


def device(
    device_id: str = "d1",
    *,
    created: float = 0.3,
    ended_at: float | None = 2.0,
    ended_by: str | None = "deleted",
    ttl: int | None = 1800,
    user_id: str = USER,
) -> dict[str, Any]:
    return {
        "id": device_id,
        "user_id": user_id,
        "url": f"http://127.0.0.1/wdm/api/v1/devices/{device_id}",
        "web_socket_url": "ws://127.0.0.1/mercury",
        "ttl": ttl,
        "created": T0 + created,
        "modified": T0 + created,
        "expires_at": None,
        "ended_at": None if ended_at is None else T0 + ended_at,
        "ended_by": ended_by if ended_at is not None else None,
    }


def connection(
    connection_id: int = 5,
    device_id: str = "d1",
    *,
    opened_at: float = 0.4,
    ready_at: float | None = 0.5,
    closed_at: float | None = 1.9,
    close_code: int | None = 1000,
    closed_by: str | None = "client",
) -> dict[str, Any]:
    return {
        "id": connection_id,
        "device_id": device_id,
        "query": [],
        "opened_at": T0 + opened_at,
        "authorized": ready_at is not None,
        "open": closed_at is None,
        "close_code": close_code,
        "close_reason": "",
        "closed_by": closed_by,
        "frames_in": 3,
        "frames_out": 2,
        "pings": 1,
        "authorized_at": None if ready_at is None else T0 + ready_at,
        "ready_at": None if ready_at is None else T0 + ready_at,
        "first_frame": "mercury.buffer_state",
        "closed_at": None if closed_at is None else T0 + closed_at,
    }


def violation(kind: str, severity: str = "error", detail: str = "it happened") -> dict[str, Any]:
    return {
        "kind": kind,
        "detail": detail,
        "route": "mercury",
        "client": "ws#5",
        "device_id": "d1",
        "at": T0 + 1.0,
        "severity": severity,
        "rule": "protocol-notes.md §3.4",
    }


def records(
    requests: list[dict[str, Any]] | None = None,
    devices: list[dict[str, Any]] | None = None,
    connections: list[dict[str, Any]] | None = None,
    violations: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "requests": requests if requests is not None else BASELINE_REQUESTS,
        "devices": devices if devices is not None else [device()],
        "connections": connections if connections is not None else [connection()],
        "acks": [],
        "violations": violations or [],
    }


BASELINE_REQUESTS = [
    request(0.1, "u2c.catalog"),
    request(0.1, "hydra.people_me"),
    request(0.2, "wdm.register", method="POST"),
    upgrade(0.4),
    request(1.9, "wdm.delete", 204, method="DELETE"),
]

FACTS = RunFacts("case", USER, T0, T0 + 2.5, 10.0)
HUNG = replace(FACTS, ended_at=None)
EXPECT = Expectation()


def failed_cleanly(status: int = 401) -> dict[str, Any]:
    return records([request(0.1, "u2c.catalog", status)], [], [])


def storm_of_upgrades(count: int) -> list[dict[str, Any]]:
    return [upgrade(0.4 + i * 0.1, 503, connection_id=10 + i) for i in range(count)]


CASES: list[tuple[str, dict[str, Any], RunFacts, Expectation, str, tuple[str, ...]]] = [
    ("baseline", records(), FACTS, EXPECT, Outcome.PASS, ()),
    ("hang after unregister", records(), HUNG, EXPECT, Outcome.HANG, ("settles",)),
    (
        "hang holding the device",
        records(devices=[device(ended_at=None)]),
        HUNG,
        EXPECT,
        Outcome.HANG,
        ("settles", "nothing-left"),
    ),
    (
        "device left",
        records(devices=[device(ended_at=None)]),
        FACTS,
        EXPECT,
        Outcome.FAIL,
        ("nothing-left",),
    ),
    (
        "ephemeral device left where allowed",
        records(devices=[device(ended_at=None)]),
        FACTS,
        Expectation(leftover=Leftover.EPHEMERAL),
        Outcome.PASS,
        (),
    ),
    (
        "persistent device left where only ephemeral ones may stay",
        records(devices=[device(ended_at=None, ttl=None)]),
        FACTS,
        Expectation(leftover=Leftover.EPHEMERAL),
        Outcome.FAIL,
        ("nothing-left",),
    ),
    (
        "any device left where the emulator lied",
        records(devices=[device(ended_at=None, ttl=None)]),
        FACTS,
        Expectation(leftover=Leftover.ANY),
        Outcome.PASS,
        (),
    ),
    (
        "no session reached ready",
        records(connections=[connection(ready_at=None)]),
        FACTS,
        EXPECT,
        Outcome.FAIL,
        ("registers",),
    ),
    (
        "registered where it must fail",
        records(),
        FACTS,
        Expectation(registers=False),
        Outcome.FAIL,
        ("registers",),
    ),
    ("failed cleanly", failed_cleanly(), FACTS, Expectation(registers=False), Outcome.PASS, ()),
    (
        "failed where either is fine",
        failed_cleanly(),
        FACTS,
        Expectation(registers=None),
        Outcome.PASS,
        (),
    ),
    (
        "failed where it must register",
        failed_cleanly(),
        FACTS,
        EXPECT,
        Outcome.FAIL,
        ("registers",),
    ),
    (
        "no recovery",
        records(),
        FACTS,
        Expectation(recovers=True),
        Outcome.FAIL,
        ("recovers",),
    ),
    (
        "recovered",
        records(
            [*BASELINE_REQUESTS, upgrade(1.0, connection_id=6)],
            connections=[
                connection(closed_at=0.9, close_code=1006, closed_by="transport"),
                connection(6, opened_at=1.0, ready_at=1.1),
            ],
        ),
        FACTS,
        Expectation(recovers=True),
        Outcome.PASS,
        (),
    ),
    (
        "two devices at once",
        records(devices=[device(), device("d2", created=0.5, ended_at=1.0)]),
        FACTS,
        EXPECT,
        Outcome.FAIL,
        ("one-device",),
    ),
    (
        "a device replaced after it lapsed",
        records(
            devices=[
                device(ended_at=1.0, ended_by="lapsed"),
                device("d2", created=1.2, ended_at=2.0),
            ]
        ),
        FACTS,
        EXPECT,
        Outcome.PASS,
        (),
    ),
    (
        "an emulator error",
        records(violations=[violation("missing_authorization")]),
        FACTS,
        EXPECT,
        Outcome.FAIL,
        ("emulator:missing_authorization",),
    ),
    (
        "a missing ack is a warning",
        records(violations=[violation("unacked_event", "warning")]),
        FACTS,
        EXPECT,
        Outcome.PASS,
        (),
    ),
    (
        "a missing ack where acks are required",
        records(violations=[violation("unacked_event", "warning")]),
        FACTS,
        Expectation(require_acks=True),
        Outcome.FAIL,
        ("emulator:unacked_event",),
    ),
    (
        "Retry-After ignored",
        records(
            [
                request(0.1, "wdm.register", 429, method="POST", retry_after=1.0),
                request(0.3, "wdm.register", method="POST"),
                *BASELINE_REQUESTS[3:],
            ]
        ),
        FACTS,
        EXPECT,
        Outcome.FAIL,
        ("retry-after",),
    ),
    (
        "Retry-After honoured",
        records(
            [
                request(0.1, "wdm.register", 429, method="POST", retry_after=1.0),
                request(1.1, "wdm.register", method="POST"),
                *BASELINE_REQUESTS[3:],
            ]
        ),
        FACTS,
        EXPECT,
        Outcome.PASS,
        (),
    ),
    (
        "reconnect storm",
        records([*BASELINE_REQUESTS, *storm_of_upgrades(STORM_UPGRADES + 1)]),
        FACTS,
        EXPECT,
        Outcome.FAIL,
        ("backoff",),
    ),
    (
        "reconnect delays shrink",
        records(
            [
                *BASELINE_REQUESTS[:3],
                upgrade(0.4, 503, 10),
                upgrade(2.4, 503, 11),
                upgrade(2.9, 503, 12),
                upgrade(3.0, 101, 5),
            ]
        ),
        FACTS,
        Expectation(registers=None),
        Outcome.FAIL,
        ("backoff",),
    ),
    (
        "reconnect delays grow",
        records(
            [
                *BASELINE_REQUESTS[:3],
                upgrade(0.1, 503, 10),
                upgrade(1.1, 503, 11),
                upgrade(3.1, 503, 12),
                upgrade(7.1, 101, 5),
            ],
            connections=[connection(opened_at=7.1, ready_at=7.2, closed_at=7.5)],
        ),
        FACTS,
        EXPECT,
        Outcome.PASS,
        (),
    ),
    (
        "request storm",
        records(
            [request(0.1 + i * 0.1, "wdm.register", 503, method="POST") for i in range(10)],
            [],
            [],
        ),
        FACTS,
        Expectation(registers=False),
        Outcome.FAIL,
        ("request-storm",),
    ),
    (
        "a token where none is taken",
        records([request(0.05, "u2c.limited_catalog", token_required=False), *BASELINE_REQUESTS]),
        FACTS,
        EXPECT,
        Outcome.FAIL,
        ("token-scope",),
    ),
    (
        "another user's device is not the run's",
        records(devices=[device(), device("x", user_id=OTHER, ended_at=None)]),
        FACTS,
        EXPECT,
        Outcome.PASS,
        (),
    ),
    (
        "garbage entries are skipped with a warning",
        {
            **records(),
            "requests": [*BASELINE_REQUESTS, "junk", {"at": "soon"}, {"at": math.nan, "status": 1}],
        },
        FACTS,
        EXPECT,
        Outcome.PASS,
        (),
    ),
    ("unreadable records", [1, 2, 3], FACTS, EXPECT, Outcome.FAIL, ("records", "registers")),  # type: ignore[list-item]
]


@pytest.mark.parametrize(
    ("records_", "facts", "expect", "outcome", "violated"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_verdicts(
    records_: object, facts: RunFacts, expect: Expectation, outcome: str, violated: tuple[str, ...]
) -> None:
    verdict = judge(records_, facts, expect)
    assert verdict.outcome == outcome, verdict
    assert verdict.rules_violated == violated, verdict.findings
    assert verdict.reason
    assert "\n" not in verdict.reason


def test_a_pass_says_what_happened() -> None:
    verdict = judge(records(), FACTS, EXPECT)
    assert verdict.reason == "registered, device deleted"
    assert (verdict.registered, verdict.devices_left, verdict.sessions) == (True, 0, 1)
    assert verdict.seconds == pytest.approx(2.5)


def test_a_clean_failure_names_the_refusal() -> None:
    verdict = judge(failed_cleanly(403), FACTS, Expectation(registers=False))
    assert verdict.reason == "failed cleanly: u2c.catalog answered 403; nothing left"


def test_a_hang_costs_the_timeout_and_says_how_far_it_got() -> None:
    verdict = judge(records(devices=[device(ended_at=None)]), HUNG, EXPECT)
    assert verdict.seconds == HUNG.timeout
    assert verdict.reason == "did not end within 10 s; a session reached ready; 1 device still live"


def test_a_failure_reason_counts_the_other_errors() -> None:
    hostile = records(
        devices=[device(ended_at=None)], violations=[violation("missing_authorization")]
    )
    verdict = judge(hostile, FACTS, EXPECT)
    assert verdict.reason == "left 1 device live at the end (+1 more)"


def test_warnings_stand_beside_a_pass() -> None:
    verdict = judge(records(violations=[violation("unacked_event", "warning")] * 3), FACTS, EXPECT)
    assert verdict.outcome == Outcome.PASS
    [warning] = verdict.warnings
    assert warning.rule == "emulator:unacked_event"
    assert warning.message.endswith("(x3)")
    assert warning.reference == "protocol-notes.md §3.4"


def test_every_finding_in_json_carries_a_reference() -> None:
    hostile = records(devices=[device(ended_at=None)], violations=[violation("binary_frame")])
    document = judge(hostile, HUNG, EXPECT).to_json()
    assert document["verdict"] == "hang"
    assert document["rules_violated"] == ["settles", "nothing-left", "emulator:binary_frame"]
    assert all(f["reference"] for f in document["findings"])


def test_a_fault_never_met_is_a_warning() -> None:
    verdict = judge(records(), FACTS, Expectation(reaches="wdm.refresh"))
    assert verdict.outcome == Outcome.PASS
    [warning] = verdict.warnings
    assert warning.rule == "reaches"
    assert "wdm.refresh" in warning.message
    assert judge(records(), FACTS, Expectation(reaches="wdm.delete")).warnings == ()


def test_every_rule_is_named_once() -> None:
    names = [name for name, _, _ in RULES]
    assert len(names) == len(set(names))


# -- hostile records ----------------------------------------------------------------------------

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
FIELDS = st.sampled_from(
    [
        "at", "route", "status", "method", "authorized", "token_required", "retry_after",
        "connection_id", "id", "user_id", "ttl", "created", "ended_at", "ended_by", "device_id",
        "opened_at", "ready_at", "closed_at", "close_code", "closed_by", "kind", "severity",
    ]
)  # fmt: skip
ENTRY = st.dictionaries(FIELDS, JSON | st.just(USER) | st.just("d1"), max_size=10)
RECORDS = st.fixed_dictionaries(
    {},
    optional={
        key: st.lists(ENTRY, max_size=6) | JSON
        for key in ("requests", "devices", "connections", "violations")
    },
)
FACT_TIMES = st.one_of(st.none(), st.floats(min_value=T0 - 10, max_value=T0 + 100))


def _check_consistent(verdict: Any, ended: float | None) -> None:
    assert verdict.outcome in (Outcome.PASS, Outcome.FAIL, Outcome.HANG)
    if ended is None:
        assert verdict.outcome == Outcome.HANG
    else:
        assert (verdict.outcome == Outcome.PASS) == (not verdict.errors)
    assert verdict.reason
    assert "\n" not in verdict.reason
    assert math.isfinite(verdict.seconds)
    assert verdict.seconds >= 0
    verdict.to_json()


@settings(max_examples=150, deadline=None)
@given(raw=JSON, ended=FACT_TIMES)
def test_any_json_gets_a_verdict(raw: object, ended: float | None) -> None:
    _check_consistent(judge(raw, replace(FACTS, ended_at=ended), EXPECT), ended)


@settings(max_examples=150, deadline=None)
@given(
    raw=RECORDS,
    ended=FACT_TIMES,
    registers=st.sampled_from([True, False, None]),
    leftover=st.sampled_from([Leftover.NONE, Leftover.EPHEMERAL, Leftover.ANY]),
)
def test_hostile_entries_get_a_verdict(
    raw: dict[str, Any], ended: float | None, registers: bool | None, leftover: str
) -> None:
    expect = Expectation(registers=registers, leftover=leftover, recovers=True, require_acks=True)
    _check_consistent(judge(raw, replace(FACTS, ended_at=ended), expect), ended)


@settings(max_examples=100, deadline=None)
@given(junk=st.lists(ENTRY, max_size=5))
def test_junk_beside_good_records_changes_nothing_but_a_warning(junk: list[dict[str, Any]]) -> None:
    good = judge(records(), FACTS, EXPECT)
    polluted = records()
    polluted["connections"] = [*polluted["connections"], *(dict(j, device_id="zz") for j in junk)]
    polluted["requests"] = [*polluted["requests"], *(dict(j, at="never") for j in junk)]
    verdict = judge(polluted, FACTS, EXPECT)
    assert verdict.outcome == good.outcome == Outcome.PASS
    assert verdict.errors == ()
