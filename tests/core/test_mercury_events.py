"""Mercury events through the session: every frame with an id acked once, first, in arrival
order; each event delivered once, in order, with its sequence number; redeliveries dropped
within a bounded memory of delivered ids."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from session_harness import FakeCloud, Pump, make_session

from webex_meetings.core.config import MercuryConfig
from webex_meetings.core.effects import EmitEvent, SendWebSocketText
from webex_meetings.core.events import MercuryEvent
from webex_meetings.core.mercury import Deliver, MercuryProtocol, SequenceMismatch
from webex_meetings.core.mercury_link import RECENT_EVENT_IDS


def registered() -> Pump:
    pump = Pump(make_session(), FakeCloud())
    pump.init()
    assert pump.result(pump.register()) is None
    return pump


def event_frame(event_id: str, n: int = 0, **extra: Any) -> dict[str, Any]:
    return {"id": event_id, "data": {"eventType": "locus.difference", "n": n}, **extra}


def delivered(pump: Pump) -> list[str | None]:
    return [event.id for event in pump.events if isinstance(event, MercuryEvent)]


def acked(pump: Pump) -> list[str]:
    return [f["messageId"] for f in pump.cloud.frames if f.get("type") == "ack"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "c", "d", "e"]), max_size=30))
def test_each_frame_is_acked_and_each_event_delivered_once_in_order(ids: list[str]) -> None:
    pump = registered()
    acks_before = len(acked(pump))
    for n, event_id in enumerate(ids):
        pump.server_send(event_frame(event_id, n))
    assert acked(pump)[acks_before:] == ids  # every frame, redeliveries too
    assert delivered(pump) == list(dict.fromkeys(ids))  # first arrivals, in order


def test_a_frames_ack_goes_out_before_its_event_is_emitted() -> None:
    pump = registered()
    session, socket_id = pump.session, next(iter(pump.sockets))
    from webex_meetings.core.inputs import WebSocketTextReceived

    effects = session.handle(
        WebSocketTextReceived(socket_id, json.dumps(event_frame("x"))), now=pump.now
    )
    assert [type(effect) for effect in effects] == [SendWebSocketText, EmitEvent]
    assert json.loads(effects[0].text) == {"messageId": "x", "type": "ack"}  # type: ignore[attr-defined]


def test_redeliveries_are_dropped_within_the_memory_and_the_memory_is_bounded() -> None:
    pump = registered()
    ids = [f"e{n}" for n in range(2 * RECENT_EVENT_IDS + 1)]
    for event_id in ids[:RECENT_EVENT_IDS]:
        pump.server_send(event_frame(event_id))
    for event_id in ids[:RECENT_EVENT_IDS]:  # all of the last RECENT_EVENT_IDS: dropped
        pump.server_send(event_frame(event_id))
    assert delivered(pump) == ids[:RECENT_EVENT_IDS]
    for event_id in ids[RECENT_EVENT_IDS:]:
        pump.server_send(event_frame(event_id))
    pump.server_send(event_frame(ids[0]))  # 2 * RECENT_EVENT_IDS + 1 ids ago: forgotten
    pump.server_send(event_frame(ids[-1]))  # the newest: remembered
    pump.server_send(event_frame(ids[RECENT_EVENT_IDS + 1]))  # RECENT_EVENT_IDS ago: too
    assert delivered(pump) == [*ids, ids[0]]


def protocol() -> MercuryProtocol:
    made = MercuryProtocol(
        MercuryConfig(), authorization="Bearer t", tracking_id="t_1", new_id=lambda: "u"
    )
    made.opened()
    return made


def test_events_carry_their_sequence_numbers_early_or_online() -> None:
    mercury = protocol()
    mercury.received(json.dumps(event_frame("early", sequenceNumber=1)), now=0.0)
    buffer_state = {"id": "b", "data": {"eventType": "mercury.buffer_state"}, "sequenceNumber": 2}
    actions = mercury.received(json.dumps(buffer_state), now=0.0)
    actions += mercury.received(json.dumps(event_frame("late", sequenceNumber="3")), now=0.0)
    actions += mercury.received(json.dumps(event_frame("gap", sequenceNumber=5)), now=0.0)
    events = [(a.event.id, a.event.sequence_number) for a in actions if isinstance(a, Deliver)]
    assert events == [("early", 1), ("late", 3), ("gap", 5)]
    assert [a for a in actions if isinstance(a, SequenceMismatch)] == [SequenceMismatch(4, 5)]
