"""Tests for the sans-IO Mercury protocol object (core/mercury.py)."""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from webex_meetings.core.config import BackoffConfig, MercuryConfig
from webex_meetings.core.errors import LocalProtocolError
from webex_meetings.core.events import MercuryEvent
from webex_meetings.core.mercury import (
    AbortSocket,
    ArmTimer,
    CloseAction,
    Closed,
    CloseSocket,
    Deliver,
    DisarmTimer,
    MercuryAction,
    MercuryProtocol,
    MercuryState,
    MercuryTimer,
    Online,
    PongReceived,
    ProtocolViolation,
    SendText,
    SequenceMismatch,
    attempts_exhausted,
    backoff_delay,
    classify_close,
    mercury_url,
)

TRACE = Path(__file__).resolve().parents[1] / "data" / "js-sdk-3.12-register-trace.jsonl"
TOKEN = "MERCURYTESTTOKEN_c2VjcmV0LXRva2Vu_PF84_0f0e0d0c"
AUTHORIZATION = f"Bearer {TOKEN}"
TRACKING_ID = "webex-meetings-py_5b6f0c2e-1111-4222-8333-944455556666_1795648209830"
CONFIG = MercuryConfig()

ACTION_TYPES = (
    SendText,
    ArmTimer,
    DisarmTimer,
    CloseSocket,
    AbortSocket,
    Online,
    Deliver,
    PongReceived,
    Closed,
    ProtocolViolation,
    SequenceMismatch,
)


def _trace() -> list[dict[str, Any]]:
    if not TRACE.exists():  # pragma: no cover - the reference ships with the project docs
        pytest.skip("reference trace not available")
    return [json.loads(line) for line in TRACE.read_text().splitlines() if line.strip()]


def _trace_entry(kind: str, **match: Any) -> dict[str, Any]:
    for entry in _trace():
        if entry["kind"] == kind and all(entry.get(k) == v for k, v in match.items()):
            return entry
    raise AssertionError(f"no {kind} entry in the trace")


def counter_ids(prefix: str = "id") -> Any:
    counter = itertools.count(1)
    return lambda: f"{prefix}-{next(counter)}"


def make(new_id: Any = None, config: MercuryConfig = CONFIG) -> MercuryProtocol:
    return MercuryProtocol(
        config,
        authorization=AUTHORIZATION,
        tracking_id=TRACKING_ID,
        new_id=new_id or counter_ids(),
    )


def frame(**fields: Any) -> str:
    return json.dumps(fields)


def buffer_state(frame_id: str = "srv-0", **extra: Any) -> str:
    data = {"eventType": "mercury.buffer_state", "buffer_state": {"locus": "UNKNOWN"}}
    return frame(id=frame_id, data=data, **extra)


def event(frame_id: str, event_type: str = "locus.difference", **extra: Any) -> str:
    return frame(id=frame_id, data={"eventType": event_type, "n": 1}, **extra)


def ack(frame_id: object) -> SendText:
    return SendText(json.dumps({"messageId": frame_id, "type": "ack"}, separators=(",", ":")))


def sent_frames(actions: list[MercuryAction]) -> list[dict[str, Any]]:
    return [json.loads(a.text) for a in actions if isinstance(a, SendText)]


def online(new_id: Any = None) -> MercuryProtocol:
    """A protocol that went through opened() and buffer_state (ping id-2 outstanding)."""
    protocol = make(new_id)
    protocol.opened()
    protocol.received(buffer_state(), now=0.0)
    assert protocol.state is MercuryState.ONLINE
    return protocol


class Harness:
    """Drives a protocol with simulated time, applying timer actions like a real driver."""

    def __init__(self, protocol: MercuryProtocol) -> None:
        self.protocol = protocol
        self.now = 0.0
        self.deadlines: dict[MercuryTimer, float] = {}
        self.log: list[tuple[float, MercuryAction]] = []

    def apply(self, actions: list[MercuryAction]) -> list[MercuryAction]:
        for action in actions:
            self.log.append((self.now, action))
            if isinstance(action, ArmTimer):
                assert action.timer not in self.deadlines
                self.deadlines[action.timer] = self.now + action.delay
            elif isinstance(action, DisarmTimer):
                del self.deadlines[action.timer]
        return actions

    @classmethod
    def online(cls) -> Harness:
        harness = cls(make())
        harness.opened()
        harness.receive(buffer_state())
        return harness

    def opened(self) -> list[MercuryAction]:
        return self.apply(self.protocol.opened())

    def receive(self, text: str) -> list[MercuryAction]:
        return self.apply(self.protocol.received(text, now=self.now))

    def advance(self, until: float) -> list[MercuryAction]:
        fired: list[MercuryAction] = []
        while self.deadlines and min(self.deadlines.values()) <= until:
            timer, when = min(self.deadlines.items(), key=lambda item: item[1])
            del self.deadlines[timer]
            self.now = when
            fired += self.apply(self.protocol.timer_fired(timer, now=when))
        self.now = until
        return fired


# -- URL ------------------------------------------------------------------------------------


def test_url_matches_the_js_sdk_trace() -> None:
    upgrade = _trace_entry("ws-upgrade")
    base = "ws://127.0.0.1:42237" + upgrade["path"]
    timestamp = int(upgrade["query"]["clientTimestamp"])
    url = mercury_url(base, now_ms=timestamp, ephemeral=False)
    assert url == "ws://127.0.0.1:42237" + upgrade["url"]


def test_url_ephemeral_adds_multiple_connections_before_the_timestamp() -> None:
    url = mercury_url("wss://mercury.example/v1/messages", now_ms=17, ephemeral=True)
    assert urlsplit(url).query == (
        "outboundWireFormat=text&bufferStates=true&aliasHttpStatus=true"
        "&multipleConnections=true&clientTimestamp=17"
    )


def test_url_keeps_existing_params_in_place() -> None:
    url = mercury_url(
        "wss://m.example/v1/messages?a=b%20c&outboundWireFormat=binary&z=",
        now_ms=1,
        ephemeral=False,
    )
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("wss", "m.example", "/v1/messages")
    assert parse_qsl(parts.query, keep_blank_values=True) == [
        ("a", "b c"),
        ("outboundWireFormat", "text"),
        ("z", ""),
        ("bufferStates", "true"),
        ("aliasHttpStatus", "true"),
        ("clientTimestamp", "1"),
    ]


# -- authorization --------------------------------------------------------------------------


def test_auth_frame_is_byte_for_byte_the_js_sdk_shape() -> None:
    entry = _trace_entry("ws-in", seq=9)
    expected = entry["frame"]
    protocol = MercuryProtocol(
        CONFIG,
        authorization=expected["data"]["token"],
        tracking_id=expected["trackingId"],
        new_id=lambda: expected["id"],
    )
    actions = protocol.opened()
    assert actions == [
        SendText(json.dumps(expected, separators=(",", ":"))),
        ArmTimer(MercuryTimer.AUTHORIZATION, CONFIG.authorization_timeout),
    ]
    text = actions[0].text  # type: ignore[attr-defined]
    assert len(text.encode()) == entry["bytes"]
    assert list(json.loads(text)) == ["id", "type", "data", "trackingId"]
    assert protocol.state is MercuryState.AUTHORIZING
    assert not protocol.authorized


def test_auth_frame_uses_our_arguments() -> None:
    protocol = make(counter_ids("uuid"))
    [auth] = sent_frames(protocol.opened())
    assert auth == {
        "id": "uuid-1",
        "type": "authorization",
        "data": {"token": AUTHORIZATION},
        "trackingId": TRACKING_ID,
    }


def test_opened_twice_is_a_local_error_and_received_before_opened_too() -> None:
    protocol = make()
    with pytest.raises(LocalProtocolError):
        protocol.received(buffer_state(), now=0.0)
    protocol.opened()
    with pytest.raises(LocalProtocolError):
        protocol.opened()


@pytest.mark.parametrize("event_type", ["mercury.buffer_state", "mercury.registration_status"])
def test_unlocking_frame_goes_online_and_pings(event_type: str) -> None:
    protocol = make()
    protocol.opened()
    envelope = {"id": "srv-1", "data": {"eventType": event_type}, "sequenceNumber": 1}
    actions = protocol.received(json.dumps(envelope), now=3.0)
    assert actions == [
        ack("srv-1"),
        DisarmTimer(MercuryTimer.AUTHORIZATION),
        Online(event_type, envelope),
        SendText('{"id":"id-2","type":"ping"}'),
        ArmTimer(MercuryTimer.PONG, CONFIG.pong_timeout),
    ]
    assert actions[2].envelope == envelope  # type: ignore[attr-defined]
    assert protocol.state is MercuryState.ONLINE
    assert protocol.authorized
    assert protocol.outstanding_ping == "id-2"
    assert protocol.armed_timers == {MercuryTimer.PONG}


NOT_UNLOCKING = [
    pytest.param(
        {"id": "x", "type": "event", "data": {"eventType": "mercury.buffer_state"}}, id="has-type"
    ),
    pytest.param({"id": "x", "data": {"eventType": 7}}, id="eventType-not-str"),
    pytest.param({"id": "x", "data": "mercury.buffer_state"}, id="data-not-object"),
    pytest.param({"id": "x"}, id="no-data"),
    pytest.param({"id": "x", "type": "pong"}, id="pong"),
    pytest.param({"id": "x", "eventType": "mercury.buffer_state"}, id="top-level-eventType"),
]


@pytest.mark.parametrize("first", NOT_UNLOCKING)
def test_other_first_frames_do_not_unlock(first: dict[str, Any]) -> None:
    protocol = make()
    protocol.opened()
    actions = protocol.received(json.dumps(first), now=1.0)
    assert actions[0] == ack("x")
    assert len(actions) == 2
    assert isinstance(actions[1], ProtocolViolation)
    assert protocol.state is MercuryState.AUTHORIZING
    assert protocol.armed_timers == {MercuryTimer.AUTHORIZATION}
    # ... and buffer_state still unlocks afterwards.
    protocol.received(buffer_state("later"), now=2.0)
    assert protocol.state is MercuryState.ONLINE


def test_authorization_timeout_closes_and_reconnects() -> None:
    harness = Harness(make())
    harness.opened()
    assert harness.advance(29.9) == []
    assert harness.advance(30.0) == [  # the timer that fired is no longer armed
        CloseSocket(1000, "Authorization timed out"),
        ArmTimer(MercuryTimer.FORCE_CLOSE, CONFIG.force_close_delay),
    ]
    assert harness.protocol.state is MercuryState.CLOSING
    closed = harness.apply(harness.protocol.closed(1000, "Authorization timed out"))
    assert closed == [
        DisarmTimer(MercuryTimer.FORCE_CLOSE),
        Closed(1000, "Authorization timed out", CloseAction.RECONNECT, False, by_us=True),
    ]
    assert harness.deadlines == {}


# -- acks -----------------------------------------------------------------------------------


ID_BEARING = [
    buffer_state("a-1"),
    event("a-2"),
    frame(id="a-3", type="pong"),
    frame(id="a-4", type="whatever"),
    frame(id="a-5"),
    frame(id="a-6", type="shutdown"),
]


@pytest.mark.parametrize("stage", ["authorizing", "online"])
@pytest.mark.parametrize("text", ID_BEARING)
def test_every_id_bearing_frame_is_acked_first(stage: str, text: str) -> None:
    protocol = make()
    protocol.opened()
    if stage != "authorizing":
        protocol.received(buffer_state(), now=0.0)
    actions = protocol.received(text, now=1.0)
    assert actions[0] == ack(json.loads(text)["id"])
    assert sum(isinstance(a, SendText) and '"ack"' in a.text for a in actions) == 1


@pytest.mark.parametrize("text", ID_BEARING)
def test_nothing_is_sent_after_our_close_frame(text: str) -> None:
    """RFC 6455 5.5.1: after sending a close frame an endpoint sends no data frame, acks
    included (wsproto refuses them)."""
    protocol = online()
    protocol.close()
    assert protocol.received(text, now=1.0) == []


def test_pong_is_acked_before_it_is_matched() -> None:
    protocol = online()
    actions = protocol.received(frame(id="id-2", type="pong"), now=1.0)
    assert actions[0] == ack("id-2")
    assert actions[1:] == [
        DisarmTimer(MercuryTimer.PONG),
        PongReceived("id-2", 1.0),
        ArmTimer(MercuryTimer.PING, CONFIG.ping_interval),
    ]


def test_acks_echo_any_json_id() -> None:
    protocol = online()
    for value in [7, None, ["a"], {"k": "é"}]:
        text = json.dumps({"id": value, "data": {"eventType": "x.y"}})
        actions = protocol.received(text, now=0.0)
        assert json.loads(actions[0].text) == {"messageId": value, "type": "ack"}  # type: ignore[attr-defined]


def test_frame_without_id_is_a_violation_but_still_processed() -> None:
    protocol = make()
    protocol.opened()
    text = json.dumps({"data": {"eventType": "mercury.buffer_state"}})
    actions = protocol.received(text, now=0.0)
    assert isinstance(actions[0], ProtocolViolation)
    assert not any(isinstance(a, SendText) and "ack" in a.text for a in actions)
    assert protocol.state is MercuryState.ONLINE
    actions = protocol.received(json.dumps({"data": {"eventType": "locus.x"}}), now=1.0)
    assert isinstance(actions[0], ProtocolViolation)
    assert isinstance(actions[1], Deliver)


@pytest.mark.parametrize(
    "text", ["", "{", "[1, 2]", '"str"', "42", "null", "NaN", '{"id": NaN}', '{"id": 1e999}']
)
def test_unparsable_or_non_object_frames_change_nothing(text: str) -> None:
    protocol = online()
    armed = protocol.armed_timers
    assert protocol.received(text, now=1.0) == [ProtocolViolation("frame is not a JSON object")]
    assert protocol.state is MercuryState.ONLINE
    assert protocol.armed_timers == armed
    assert protocol.outstanding_ping == "id-2"


# -- events ---------------------------------------------------------------------------------


def test_events_are_delivered_with_their_envelope() -> None:
    protocol = online()
    envelope = {
        "id": "e-1",
        "data": {"eventType": "locus.difference", "locus": {"url": "u"}},
        "sequenceNumber": 2,
        "trackingId": "t",
    }
    actions = protocol.received(json.dumps(envelope), now=1.0)
    assert actions[0] == ack("e-1")
    [deliver] = actions[1:]
    assert isinstance(deliver, Deliver)
    assert deliver.event == MercuryEvent("e-1", "locus.difference", {}, {}, 2)
    assert deliver.event.data == envelope["data"]
    assert deliver.event.envelope == envelope
    assert deliver.event.namespace == "locus"


def test_online_frames_without_event_type_are_violations() -> None:
    protocol = online()
    actions = protocol.received(frame(id="q", type="other"), now=1.0)
    assert actions[0] == ack("q")
    assert [type(a) for a in actions[1:]] == [ProtocolViolation]


def test_sequence_gaps_are_reported_like_the_js_sdk() -> None:
    protocol = make()
    protocol.opened()
    mismatches: list[SequenceMismatch] = []
    for number in [1, 2, 3, 5, None, 9, 10, "11", 13]:
        extra = {} if number is None else {"sequenceNumber": number}
        text = buffer_state("b", **extra) if number == 1 else event(f"e{number}", **extra)
        actions = protocol.received(text, now=1.0)
        mismatches += [a for a in actions if isinstance(a, SequenceMismatch)]
    assert mismatches == [SequenceMismatch(4, 5), SequenceMismatch(12, 13)]


@pytest.mark.parametrize("odd", ["²", "٣", " 7 ", "7x", "9" * 5000, True, 1.5, None, [1]])
def test_odd_sequence_numbers_never_raise(odd: object) -> None:
    protocol = online()
    protocol.received(event("a", sequenceNumber=1), now=1.0)
    actions = protocol.received(event("b", sequenceNumber=odd), now=1.0)
    assert [type(a) for a in actions] in (
        [SendText, Deliver],
        [SendText, SequenceMismatch, Deliver],
    )


# -- ping and pong --------------------------------------------------------------------------


def test_ping_pong_cycle_with_simulated_time() -> None:
    harness = Harness(make())
    harness.opened()
    harness.now = 1.0
    actions = harness.receive(buffer_state())
    assert sent_frames(actions)[-1] == {"id": "id-2", "type": "ping"}
    assert harness.deadlines == {MercuryTimer.PONG: 15.0}

    harness.now = 1.5
    harness.receive(frame(id="id-2", type="pong"))
    assert harness.deadlines == {MercuryTimer.PING: 16.5}  # 15 s after the pong

    assert harness.advance(16.4) == []
    actions = harness.advance(16.5)
    assert actions == [
        SendText('{"id":"id-3","type":"ping"}'),
        ArmTimer(MercuryTimer.PONG, 14.0),
    ]
    assert harness.deadlines == {MercuryTimer.PONG: 30.5}

    harness.now = 20.0
    pong = harness.receive(frame(id="id-3", type="pong"))
    assert PongReceived("id-3", 3.5) in pong
    assert harness.deadlines == {MercuryTimer.PING: 35.0}

    harness.advance(35.0)  # ping id-4 goes out, and no pong comes back
    assert harness.protocol.outstanding_ping == "id-4"
    assert harness.advance(48.9) == []
    assert harness.advance(49.0) == [
        CloseSocket(1000, "Pong not received"),
        ArmTimer(MercuryTimer.FORCE_CLOSE, 2.0),
    ]
    assert harness.apply(harness.protocol.closed(1000, "Pong not received"))[-1] == Closed(
        1000, "Pong not received", CloseAction.RECONNECT, True, by_us=True
    )


@pytest.mark.parametrize("wrong", [{"id": "nope"}, {}, {"id": None}, {"id": 2}])
def test_pong_mismatch_closes_and_reconnects(wrong: dict[str, Any]) -> None:
    protocol = online()
    actions = protocol.received(json.dumps({"type": "pong", **wrong}), now=1.0)
    assert actions[-3:] == [
        DisarmTimer(MercuryTimer.PONG),
        CloseSocket(1000, "Pong mismatch"),
        ArmTimer(MercuryTimer.FORCE_CLOSE, 2.0),
    ]
    # whatever code the server answers with, our reason decides
    assert protocol.closed(1006, "") == [
        DisarmTimer(MercuryTimer.FORCE_CLOSE),
        Closed(1006, "", CloseAction.RECONNECT, True, by_us=True),
    ]


def test_unsolicited_pong_is_only_a_violation() -> None:
    protocol = online()
    protocol.received(frame(id="id-2", type="pong"), now=1.0)
    actions = protocol.received(frame(id="id-2", type="pong"), now=2.0)
    assert actions[0] == ack("id-2")
    assert [type(a) for a in actions[1:]] == [ProtocolViolation]
    assert protocol.state is MercuryState.ONLINE
    assert protocol.armed_timers == {MercuryTimer.PING}


def test_stale_timers_are_ignored() -> None:
    protocol = online()
    for timer in [MercuryTimer.AUTHORIZATION, MercuryTimer.PING, MercuryTimer.FORCE_CLOSE]:
        assert protocol.timer_fired(timer, now=5.0) == []
    assert protocol.armed_timers == {MercuryTimer.PONG}


# -- closing --------------------------------------------------------------------------------


def test_server_shutdown_is_a_transient_close() -> None:
    harness = Harness.online()
    harness.now = 2.0
    actions = harness.receive(frame(id="s-1", type="shutdown"))
    assert actions == [
        ack("s-1"),
        DisarmTimer(MercuryTimer.PONG),
        CloseSocket(1000, "Shutdown"),
        ArmTimer(MercuryTimer.FORCE_CLOSE, 2.0),
    ]
    assert harness.advance(4.0) == [
        AbortSocket(),
        Closed(1000, "Done (forced)", CloseAction.RECONNECT, True, by_us=True),
    ]
    assert harness.protocol.state is MercuryState.CLOSED
    assert harness.deadlines == {}


@pytest.mark.parametrize(
    ("code", "reason", "action"),
    [
        (1000, "Done", CloseAction.PERMANENT),
        (3050, "meetings unregister", CloseAction.PERMANENT),
        (1000, "idle", CloseAction.RECONNECT),
        (4321, "custom", CloseAction.PERMANENT),
    ],
)
@pytest.mark.parametrize("how", ["server-answers", "forced"])
def test_our_close_decides_the_action(
    code: int, reason: str, action: CloseAction, how: str
) -> None:
    harness = Harness.online()
    harness.receive(frame(id="id-2", type="pong"))
    actions = harness.apply(harness.protocol.close(code, reason))
    assert actions == [
        DisarmTimer(MercuryTimer.PING),
        CloseSocket(code, reason),
        ArmTimer(MercuryTimer.FORCE_CLOSE, CONFIG.force_close_delay),
    ]
    assert harness.protocol.close() == []  # idempotent
    assert harness.protocol.state is MercuryState.CLOSING
    # our close frame is out: nothing more is sent (no ack), delivered or matched
    assert harness.receive(event("late")) == []
    assert harness.receive(frame(id="p", type="pong")) == []
    if how == "forced":
        final = harness.advance(10.0)
        assert final == [AbortSocket(), Closed(1000, "Done (forced)", action, True, by_us=True)]
    else:
        final = harness.apply(harness.protocol.closed(code, reason))
        closed = Closed(code, reason, action, True, by_us=True)
        assert final == [DisarmTimer(MercuryTimer.FORCE_CLOSE), closed]
    assert harness.deadlines == {}


def test_close_while_authorizing() -> None:
    protocol = make()
    protocol.opened()
    assert protocol.close() == [
        DisarmTimer(MercuryTimer.AUTHORIZATION),
        CloseSocket(1000, "Done"),
        ArmTimer(MercuryTimer.FORCE_CLOSE, 2.0),
    ]
    assert protocol.received(buffer_state(), now=1.0) == []  # nothing after our close frame
    closed = Closed(1000, "Done", CloseAction.PERMANENT, False, by_us=True)
    assert protocol.closed(1000, "Done")[-1] == closed


def test_close_before_opened_drops_the_attempt() -> None:
    protocol = make()
    assert protocol.close(3050, "meetings unregister") == [
        AbortSocket(),
        Closed(3050, "meetings unregister", CloseAction.PERMANENT, False, by_us=True),
    ]
    assert protocol.opened() == []
    assert protocol.closed(1006, "") == []


@pytest.mark.parametrize("code", [999, 1001, 1005, 1050, 2999, 5000])
def test_close_rejects_codes_a_client_may_not_send(code: int) -> None:
    protocol = online()
    with pytest.raises(LocalProtocolError):
        protocol.close(code, "x")
    assert protocol.state is MercuryState.ONLINE


@pytest.mark.parametrize(
    ("code", "reason", "action"),
    [
        (4401, "Unauthorized", CloseAction.REFRESH_TOKEN_THEN_RECONNECT),
        (4403, "Forbidden", CloseAction.ABORT),
        (1006, "", CloseAction.RECONNECT),
        (1005, "", CloseAction.REFRESH_DEVICE_THEN_RECONNECT),
    ],
)
def test_closed_before_opened_is_classified_unauthorized(
    code: int, reason: str, action: CloseAction
) -> None:
    protocol = make()
    assert protocol.closed(code, reason) == [Closed(code, reason, action, False)]
    assert protocol.state is MercuryState.CLOSED


def test_server_close_while_online_is_classified_authorized() -> None:
    protocol = online()
    assert protocol.closed(4000, "Replaced") == [
        DisarmTimer(MercuryTimer.PONG),
        Closed(4000, "Replaced", CloseAction.REPLACED, True),
    ]


def test_nothing_happens_after_closed() -> None:
    protocol = online()
    protocol.closed(1006, "")
    assert protocol.received(event("e"), now=1.0) == []
    assert protocol.received("garbage", now=1.0) == []
    for timer in MercuryTimer:
        assert protocol.timer_fired(timer, now=99.0) == []
    assert protocol.close() == []
    assert protocol.closed(1000, "again") == []
    assert protocol.opened() == []


# -- the close-code table -------------------------------------------------------------------

R, RT, RD = (
    CloseAction.RECONNECT,
    CloseAction.REFRESH_TOKEN_THEN_RECONNECT,
    CloseAction.REFRESH_DEVICE_THEN_RECONNECT,
)
REP, AB, PERM = CloseAction.REPLACED, CloseAction.ABORT, CloseAction.PERMANENT

CLOSE_TABLE = [
    # code, reason, before authorization, after authorization
    (1000, "Done", R, PERM),
    (1000, "", R, PERM),
    (1000, "idle", R, R),
    (1000, "Idle", R, R),
    (1000, "Done (forced)", R, R),
    (1000, "Pong not received", R, R),
    (1000, "PONG MISMATCH", R, R),
    (1050, "done (forced)", R, R),
    (1050, "logout", R, PERM),
    (1001, "going away", R, R),
    (1003, "unsupported", R, PERM),
    (1005, "", RD, R),
    (1005, "something else", RD, R),
    (1005, "replaced", R, REP),  # _fixCloseCode: 4000
    (1005, "Replaced", R, REP),
    (1005, "authentication failed", R, PERM),  # _fixCloseCode: 1008
    (
        1005,
        "Authentication did not happen within the timeout window of 30000 seconds.",
        R,
        PERM,
    ),
    (1006, "", R, R),
    (1007, "invalid frame payload data", R, R),  # one bad frame: reconnect (not the JS SDK)
    (1008, "policy", R, PERM),
    (1009, "message too big", R, R),  # likewise
    (1011, "server error", R, R),
    (1015, "connect failed: certificate not trusted", AB, PERM),  # from the transport
    (3050, "meetings unregister", PERM, PERM),
    (4000, "Replaced", R, REP),
    (4000, "other", R, REP),
    (4001, "", R, PERM),
    (4400, "Bad Request", AB, PERM),
    (4401, "Unauthorized", RT, PERM),
    (4403, "Forbidden", AB, PERM),
    (4404, "Not Found", R, PERM),  # commented out in the JS SDK: a plain ConnectionError
    (4406, "", R, PERM),
    (4999, "", R, PERM),
]


@pytest.mark.parametrize(("code", "reason", "before", "after"), CLOSE_TABLE)
def test_close_code_table(code: int, reason: str, before: CloseAction, after: CloseAction) -> None:
    assert classify_close(code, reason, authorized=False) is before
    assert classify_close(code, reason, authorized=True) is after


@given(st.integers(min_value=-(2**31), max_value=2**31), st.text(max_size=40), st.booleans())
def test_classify_close_never_raises(code: int, reason: str, authorized: bool) -> None:
    assert isinstance(classify_close(code, reason, authorized=authorized), CloseAction)


# -- backoff --------------------------------------------------------------------------------


def test_backoff_schedule_is_the_js_sdk_one() -> None:
    rng = random.Random(1)
    state = rng.getstate()
    delays = [backoff_delay(BackoffConfig(), n, rng) for n in range(1, 9)]
    assert delays == [0, 1, 2, 4, 8, 16, 32, 32]
    assert rng.getstate() == state  # no jitter: randomness untouched


@given(
    attempt=st.integers(min_value=1, max_value=40),
    jitter=st.floats(min_value=0.0, max_value=1.0),
    seed=st.integers(),
)
def test_backoff_jitter_bounds(attempt: int, jitter: float, seed: int) -> None:
    config = BackoffConfig(jitter=jitter)
    base = config.delay(attempt)
    delay = backoff_delay(config, attempt, random.Random(seed))
    assert base * (1 - jitter) - 1e-9 <= delay <= base * (1 + jitter) + 1e-9
    if attempt == 1:
        assert delay == 0.0


def test_backoff_jitter_spreads() -> None:
    config = BackoffConfig(jitter=0.5)
    rng = random.Random(7)
    delays = {backoff_delay(config, 4, rng) for _ in range(50)}
    assert len(delays) > 40
    assert min(delays) < 4.0 < max(delays)


def test_attempts_exhausted() -> None:
    limited = BackoffConfig(max_attempts=6)
    assert [attempts_exhausted(limited, n) for n in range(1, 8)] == [False] * 5 + [True] * 2
    assert not any(attempts_exhausted(BackoffConfig(), n) for n in range(1, 1000))


# -- secrets --------------------------------------------------------------------------------


def test_the_token_shows_only_inside_the_auth_frame_text() -> None:
    harness = Harness(make())
    harness.opened()
    harness.receive(buffer_state())
    harness.receive(event("e-1"))
    harness.receive(frame(id="id-2", type="pong"))
    harness.advance(100.0)
    harness.apply(harness.protocol.close(3050, "meetings unregister"))
    harness.apply(harness.protocol.closed(3050, "meetings unregister"))
    actions = [action for _, action in harness.log]
    with_token = [a for a in actions if isinstance(a, SendText) and TOKEN in a.text]
    assert len(with_token) == 1
    assert json.loads(with_token[0].text)["type"] == "authorization"
    for action in actions:
        assert TOKEN not in repr(action)
        assert TOKEN not in str(action)
    assert TOKEN not in repr(harness.protocol)
    protocol = harness.protocol
    held = {name: getattr(protocol, name) for name in type(protocol).__slots__}
    assert TOKEN not in repr(held)


# -- fuzzing --------------------------------------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
frame_keys = st.sampled_from(["id", "type", "data", "sequenceNumber", "eventType", "headers"])
frame_like = st.dictionaries(
    frame_keys,
    json_values
    | st.sampled_from(["pong", "shutdown", "ping", "id-2", 3, "²", "12", "9" * 5000])
    | st.fixed_dictionaries(
        {"eventType": st.sampled_from(["mercury.buffer_state", "locus.difference", ""])}
    ),
    max_size=5,
)
any_text = (
    st.text()
    | json_values.map(json.dumps)
    | frame_like.map(json.dumps)
    | st.sampled_from(["NaN", "[" * 5000, '{"id": 1e999}', "1" * 5000])
)


def _reject(value: str) -> Any:
    raise ValueError(value)


def _strict_json_object(text: str) -> dict[str, Any] | None:
    """The frame as JSON.parse would read it (no NaN/Infinity, finite numbers), if an object."""
    try:
        value = json.loads(text, parse_constant=_reject, parse_float=_finite)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _finite(text: str) -> float:
    number = float(text)
    if number in (float("inf"), float("-inf")):
        raise ValueError(text)
    return number


def _check_fuzzed(protocol: MercuryProtocol, text: str) -> None:
    closing = protocol.state in (MercuryState.CLOSING, MercuryState.CLOSED)
    actions = protocol.received(text, now=1.0)
    if closing:  # e.g. after a fuzzed shutdown frame: nothing is sent any more
        assert actions == []
        return
    assert all(isinstance(action, ACTION_TYPES) for action in actions)
    for action in actions:
        repr(action)
        if isinstance(action, SendText):
            json.loads(action.text)
            action.text.encode("utf-8")
    parsed = _strict_json_object(text)
    if parsed is None:
        assert actions == [ProtocolViolation("frame is not a JSON object")]
    elif "id" in parsed:
        assert actions[0] == ack(parsed["id"])
    else:
        assert isinstance(actions[0], ProtocolViolation)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(texts=st.lists(any_text, min_size=1, max_size=4), stage=st.sampled_from(["auth", "online"]))
def test_fuzz_received_only_returns_documented_actions(texts: list[str], stage: str) -> None:
    protocol = make() if stage == "auth" else online()
    if stage == "auth":
        protocol.opened()
    for text in texts:
        _check_fuzzed(protocol, text)


# -- state machine --------------------------------------------------------------------------


TERMINAL_TIMERS = (MercuryTimer.AUTHORIZATION, MercuryTimer.FORCE_CLOSE)


class MercuryMachine(RuleBasedStateMachine):
    """Random interleavings of every input, checked against a model of the driver."""

    @initialize()
    def setup(self) -> None:
        self.protocol = make()
        self.now = 0.0
        self.armed: set[MercuryTimer] = set()
        self.pings: list[str] = []
        self.answered: set[str] = set()
        self.closed_count = 0
        self.went_online = False
        self.frame_counter = itertools.count()

    # -- applying actions to the model ---------------------------------------------------

    def _apply(self, actions: list[MercuryAction]) -> list[MercuryAction]:
        assert all(isinstance(a, ACTION_TYPES) for a in actions)
        for action in actions:
            assert self.closed_count == 0, "action after Closed"
            if isinstance(action, ArmTimer):
                assert action.timer not in self.armed
                assert action.delay > 0
                self.armed.add(action.timer)
            elif isinstance(action, DisarmTimer):
                assert action.timer in self.armed
                self.armed.discard(action.timer)
            elif isinstance(action, SendText):
                sent = json.loads(action.text)
                if sent.get("type") == "ping":
                    assert all(p in self.answered for p in self.pings), "two pings outstanding"
                    assert self.protocol.outstanding_ping == sent["id"]
                    self.pings.append(sent["id"])
            elif isinstance(action, PongReceived):
                self.answered.add(action.ping_id)
            elif isinstance(action, Online):
                self.went_online = True
            elif isinstance(action, Closed):
                assert action.authorized == self.went_online
                self.closed_count += 1
        return actions

    def _receive(self, payload: dict[str, Any] | str) -> None:
        text = payload if isinstance(payload, str) else json.dumps(payload)
        parsed = _strict_json_object(text)
        was_closed = self.protocol.state in (MercuryState.CLOSING, MercuryState.CLOSED)
        actions = self._apply(self.protocol.received(text, now=self.now))
        if was_closed:
            assert actions == []  # nothing is sent after our close frame
            return
        acks = [a for a in actions if isinstance(a, SendText) and '"ack"' in a.text]
        if parsed is not None and "id" in parsed:
            assert actions[0] == ack(parsed["id"])
            assert len(acks) == 1
        else:
            assert acks == []

    # -- rules ---------------------------------------------------------------------------

    @precondition(lambda self: self.protocol.state is MercuryState.CONNECTING)
    @rule()
    def opened(self) -> None:
        self._apply(self.protocol.opened())

    @precondition(lambda self: self.protocol.state is not MercuryState.CONNECTING)
    @rule(
        event_type=st.sampled_from(["mercury.buffer_state", "mercury.registration_status"]),
        with_id=st.booleans(),
    )
    def receive_buffer_state(self, event_type: str, with_id: bool) -> None:
        payload: dict[str, Any] = {"data": {"eventType": event_type}}
        if with_id:
            payload["id"] = f"b-{next(self.frame_counter)}"
        self._receive(payload)

    @precondition(lambda self: self.protocol.outstanding_ping is not None)
    @rule(seq=st.none() | st.integers(0, 3))
    def receive_right_pong(self, seq: int | None) -> None:
        payload: dict[str, Any] = {"type": "pong", "id": self.protocol.outstanding_ping}
        if seq is not None:
            payload["sequenceNumber"] = seq
        self._receive(payload)

    @precondition(lambda self: self.protocol.state is not MercuryState.CONNECTING)
    @rule(pong_id=st.sampled_from(["wrong", None, 1, "absent"]))
    def receive_wrong_pong(self, pong_id: object) -> None:
        payload: dict[str, Any] = {"type": "pong"}
        if pong_id != "absent":
            payload["id"] = pong_id
        self._receive(payload)

    @precondition(lambda self: self.protocol.state is not MercuryState.CONNECTING)
    @rule(payload=frame_like | any_text)
    def receive_other(self, payload: dict[str, Any] | str) -> None:
        self._receive(payload)

    @precondition(lambda self: bool(self.armed))
    @rule(data=st.data(), delta=st.floats(0, 20))
    def armed_timer_fired(self, data: st.DataObject, delta: float) -> None:
        timer = data.draw(st.sampled_from(sorted(self.armed, key=lambda t: t.value)))
        if timer in TERMINAL_TIMERS and data.draw(st.integers(0, 3)):
            return  # these end the connection: fire them less often than the rest
        self.now += delta
        self.armed.discard(timer)
        actions = self._apply(self.protocol.timer_fired(timer, now=self.now))
        assert actions  # every armed timer does something

    @rule(timer=st.sampled_from(list(MercuryTimer)))
    def stale_timer_fired(self, timer: MercuryTimer) -> None:
        if timer not in self.armed:
            assert self.protocol.timer_fired(timer, now=self.now) == []

    @rule(
        code_reason=st.sampled_from(
            [(1000, "Done"), (3050, "meetings unregister"), (1000, "idle"), (4000, "x")]
        ),
        now=st.integers(0, 3),
    )
    def close(self, code_reason: tuple[int, str], now: int) -> None:
        if now:  # closing ends the run: do it less often than the rest
            return
        before = self.protocol.state
        actions = self._apply(self.protocol.close(*code_reason))
        if before in (MercuryState.CLOSING, MercuryState.CLOSED):
            assert actions == []

    @rule(
        code=st.sampled_from([1000, 1005, 1006, 3050, 4000, 4401, 4403]),
        reason=st.text(max_size=5),
        now=st.integers(0, 3),
    )
    def closed(self, code: int, reason: str, now: int) -> None:
        if now:
            return
        before = self.protocol.state
        actions = self._apply(self.protocol.closed(code, reason))
        if before is MercuryState.CLOSED:
            assert actions == []
        else:
            assert isinstance(actions[-1], Closed)

    # -- invariants ----------------------------------------------------------------------

    @invariant()
    def model_agrees(self) -> None:
        protocol = self.protocol
        assert protocol.armed_timers == self.armed
        outstanding = [p for p in self.pings if p not in self.answered]
        if protocol.outstanding_ping is not None:
            assert outstanding[-1:] == [protocol.outstanding_ping]
        assert self.closed_count == (1 if protocol.state is MercuryState.CLOSED else 0)
        expected_timers = {
            MercuryState.CONNECTING: [set()],
            MercuryState.AUTHORIZING: [{MercuryTimer.AUTHORIZATION}],
            MercuryState.ONLINE: [{MercuryTimer.PING}, {MercuryTimer.PONG}],
            MercuryState.CLOSING: [{MercuryTimer.FORCE_CLOSE}],
            MercuryState.CLOSED: [set()],
        }[protocol.state]
        assert self.armed in expected_timers
        if protocol.state is MercuryState.ONLINE:
            assert (protocol.outstanding_ping is not None) == (MercuryTimer.PONG in self.armed)
        else:
            assert protocol.outstanding_ping is None
        assert protocol.authorized == self.went_online


MercuryMachine.TestCase.settings = settings(max_examples=250, stateful_step_count=40, deadline=None)
test_mercury_state_machine = MercuryMachine.TestCase


def test_events_before_buffer_state_are_acked_kept_and_delivered_once_online() -> None:
    protocol = make()
    protocol.opened()
    first = protocol.received(event("early-1"), now=1.0)
    second = protocol.received(event("early-2"), now=1.0)
    assert first == [ack("early-1")]  # acked, nothing delivered yet
    assert second == [ack("early-2")]
    actions = protocol.received(buffer_state(), now=2.0)
    kinds = [type(a).__name__ for a in actions]
    assert kinds.index("Online") < kinds.index("Deliver")
    delivered = [a.event.id for a in actions if isinstance(a, Deliver)]
    assert delivered == ["early-1", "early-2"]


def _reference_url(web_socket_url: str, *, now_ms: int, ephemeral: bool) -> str:
    """``Mercury._prepareUrl`` written the plain way (no caching): the reference."""
    from urllib.parse import quote, unquote, urlunsplit

    parts = urlsplit(web_socket_url)
    query = []
    for item in parts.query.split("&"):
        if item:
            key, _, value = item.partition("=")
            query.append((unquote(key.replace("+", " ")), unquote(value.replace("+", " "))))
    ours = [("outboundWireFormat", "text"), ("bufferStates", "true"), ("aliasHttpStatus", "true")]
    if ephemeral:
        ours.append(("multipleConnections", "true"))
    ours.append(("clientTimestamp", str(now_ms)))
    for key, value in ours:
        if all(existing != key for existing, _ in query):
            query.append((key, value))
            continue
        kept: list[tuple[str, str]] = []
        for existing, old in query:
            if existing != key:
                kept.append((existing, old))
            elif all(k != key for k, _ in kept):
                kept.append((key, value))
        query = kept
    safe = "!~*'()"
    text = "&".join(f"{quote(k, safe=safe)}={quote(v, safe=safe)}" for k, v in query)
    return urlunsplit(parts._replace(query=text))


_PARAM_NAMES = st.sampled_from(
    ["clientTimestamp", "bufferStates", "a", "multipleConnections", "z z", "outboundWireFormat"]
)


@given(
    params=st.lists(st.tuples(_PARAM_NAMES, st.text(max_size=5)), max_size=6),
    fragment=st.sampled_from(["", "frag", "x=1&y"]),
    now_ms=st.integers(min_value=0, max_value=2**45),
    ephemeral=st.booleans(),
)
def test_the_url_is_the_reference_url_whatever_the_device_url_holds(
    params: list[tuple[str, str]], fragment: str, now_ms: int, ephemeral: bool
) -> None:
    from urllib.parse import quote

    query = "&".join(f"{quote(k)}={quote(v)}" for k, v in params)
    url = "wss://m.example:443/v1/messages" + (f"?{query}" if query else "")
    url += f"#{fragment}" if fragment else ""
    expected = _reference_url(url, now_ms=now_ms, ephemeral=ephemeral)
    assert mercury_url(url, now_ms=now_ms, ephemeral=ephemeral) == expected
    # and again, from what was remembered of the first call
    assert mercury_url(url, now_ms=now_ms + 1, ephemeral=ephemeral) == _reference_url(
        url, now_ms=now_ms + 1, ephemeral=ephemeral
    )
