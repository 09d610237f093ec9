"""Mercury: authorization, buffer_state, ping/pong, acks, redelivery, server closes, shutdown,
and the websocket faults, on asyncio and trio."""

from __future__ import annotations

import httpx
import pytest
from emulator_testkit import Closed, WsClient, bearer, connect_device, register_device

from webex_meetings.emulator import Emulator, Limits, ViolationKind

pytestmark = pytest.mark.anyio


def device_id_of(dto: dict[str, object]) -> str:
    return str(dto["url"]).rsplit("/", 1)[1]


async def test_authorize_gets_buffer_state_first(
    emulator: Emulator, http: httpx.AsyncClient
) -> None:
    _, client, first = await connect_device(emulator, http)
    assert "type" not in first
    assert first["data"]["eventType"] == "mercury.buffer_state"
    assert first["sequenceNumber"] == 1
    assert isinstance(first["id"], str)
    assert first["trackingId"] == "webex-meetings-py_test_auth"
    await client.send_json({"messageId": first["id"], "type": "ack"})
    await client.send_json({"id": "ping-1", "type": "ping"})
    pong = await client.receive()
    assert pong is not None
    assert not isinstance(pong, Closed)
    assert (pong["type"], pong["id"], pong["sequenceNumber"]) == ("pong", "ping-1", 2)
    await client.send_json({"messageId": "ping-1", "type": "ack"})  # the JS SDK acks pongs
    assert await client.close(1000, "Done") == Closed(1000, "Done")
    [conn] = emulator.connections
    assert (conn.authorized, conn.closed_by, conn.close_code, conn.pings) == (
        True,
        "client",
        1000,
        1,
    )
    assert [(a.message_id, a.known) for a in emulator.acks] == [
        (first["id"], True),
        ("ping-1", False),
    ]
    assert emulator.violations == []


async def test_js_sdk_close_code_3050_is_answered_at_once(
    emulator: Emulator, http: httpx.AsyncClient
) -> None:
    _, client, _ = await connect_device(emulator, http)
    assert await client.close(3050, "meetings unregister") == Closed(3050, "meetings unregister")


@pytest.mark.emulator(mercury_auth_deadline=0.2)
async def test_no_authorization_within_the_deadline(
    emulator: Emulator, http: httpx.AsyncClient
) -> None:
    dto = await register_device(http)
    client = await WsClient.connect(dto["webSocketUrl"])
    closed = await client.receive()
    assert isinstance(closed, Closed)
    assert closed.code == 1008
    assert "authentication did not happen within the timeout window" in closed.reason
    assert [v.kind for v in emulator.violations] == [ViolationKind.AUTH_DEADLINE]


async def test_frame_before_authorization(emulator: Emulator, http: httpx.AsyncClient) -> None:
    dto = await register_device(http)
    client = await WsClient.connect(dto["webSocketUrl"])
    await client.send_json({"id": "p", "type": "ping"})
    assert await client.receive() == Closed(4400, "First frame must be authorization")
    assert [v.kind for v in emulator.violations] == [ViolationKind.FRAME_BEFORE_AUTH]


@pytest.mark.parametrize(
    "frame",
    [
        {"id": "a", "type": "authorization", "data": {"token": "no-bearer"}},
        {"id": "a", "type": "authorization"},
        {"type": "authorization", "data": {"token": "Bearer x"}},
        "not json at all",
    ],
)
async def test_malformed_authorization_frame(
    emulator: Emulator, http: httpx.AsyncClient, frame: object
) -> None:
    dto = await register_device(http)
    client = await WsClient.connect(dto["webSocketUrl"])
    if isinstance(frame, str):
        await client.send_text(frame)
    else:
        await client.send_json(frame)
    assert await client.receive() == Closed(4400, "Bad authorization frame")
    assert [v.kind for v in emulator.violations] == [ViolationKind.AUTH_FRAME_MALFORMED]


async def test_invalid_token_closes_4401_without_a_violation(
    emulator: Emulator, http: httpx.AsyncClient
) -> None:
    dto = await register_device(http)
    client = await WsClient.connect(dto["webSocketUrl"])
    await client.send_json({"id": "a", "type": "authorization", "data": {"token": "Bearer bad"}})
    assert await client.receive() == Closed(4401, "Unauthorized")
    assert emulator.violations == []


async def test_token_of_another_user_closes_4403(
    emulator: Emulator, http: httpx.AsyncClient
) -> None:
    dto = await register_device(http)
    client = await WsClient.connect(dto["webSocketUrl"])
    stranger = emulator.issue_token(emulator.add_user())
    frame = {"id": "a", "type": "authorization", "data": {"token": f"Bearer {stranger}"}}
    await client.send_json(frame)
    assert await client.receive() == Closed(4403, "Forbidden")
    assert [v.kind for v in emulator.violations] == [ViolationKind.FOREIGN_DEVICE]


async def test_pushed_events_are_delivered_and_acked(
    emulator: Emulator, http: httpx.AsyncClient
) -> None:
    dto, client, first = await connect_device(emulator, http)
    await client.send_json({"messageId": first["id"], "type": "ack"})
    [event_id] = emulator.control.push_event({"eventType": "locus.difference", "n": 1})
    event = await client.receive()
    assert isinstance(event, dict)
    assert event["id"] == event_id
    assert event["data"] == {"eventType": "locus.difference", "n": 1}
    assert "type" not in event
    assert {"timestamp", "trackingId", "sequenceNumber"} <= set(event)
    await client.send_json({"messageId": event_id, "type": "ack"})
    await client.send_json({"id": "sync", "type": "ping"})  # the ack is processed before this
    assert (await client.receive()) is not None
    assert emulator.control.pending_events(device_id_of(dto)) == []
    await client.close()
    assert emulator.violations == []


async def test_unacked_events_are_violations_and_are_redelivered(
    emulator: Emulator, http: httpx.AsyncClient
) -> None:
    dto, client, first = await connect_device(emulator, http)
    await client.ack(first)
    [event_id] = emulator.control.push_event({"eventType": "conversation.activity"})
    assert (await client.receive())["id"] == event_id  # type: ignore[index]
    await client.close()
    [violation] = emulator.violations
    assert violation.kind == ViolationKind.UNACKED_EVENT
    assert event_id in violation.detail
    again = await WsClient.connect(dto["webSocketUrl"])
    buffer_state = await again.authorize()
    assert buffer_state["data"]["eventType"] == "mercury.buffer_state"
    await again.ack(buffer_state)
    redelivered = await again.receive()
    assert isinstance(redelivered, dict)
    assert redelivered["id"] == event_id
    await again.send_json({"messageId": event_id, "type": "ack"})
    await again.close()
    assert len(emulator.violations) == 1


async def test_events_pushed_while_offline_wait_for_the_next_connection(
    emulator: Emulator, http: httpx.AsyncClient
) -> None:
    dto = await register_device(http)
    ids = emulator.control.push_event({"eventType": "x.y"}, device_id=device_id_of(dto))
    client = await WsClient.connect(dto["webSocketUrl"])
    await client.authorize()
    assert (await client.receive())["id"] == ids[0]  # type: ignore[index]


async def test_push_event_checks_its_input(emulator: Emulator) -> None:
    with pytest.raises(ValueError, match="eventType"):
        emulator.control.push_event({"no": "type"})
    with pytest.raises(KeyError):
        emulator.control.push_event({"eventType": "x"}, device_id="missing")


async def test_server_close_with_a_chosen_code(emulator: Emulator, http: httpx.AsyncClient) -> None:
    dto, client, _ = await connect_device(emulator, http)
    assert emulator.control.close_connections(4000, "replaced", device_id_of(dto)) == 1
    assert await client.receive() == Closed(4000, "replaced")
    assert await client.receive() is None
    [conn] = emulator.connections
    assert (conn.close_code, conn.closed_by) == (4000, "server")


async def test_drop_connections_cuts_without_a_close_frame(
    emulator: Emulator, http: httpx.AsyncClient
) -> None:
    _, client, _ = await connect_device(emulator, http)
    assert emulator.control.drop_connections() == 1
    assert await client.receive() is None
    [conn] = emulator.connections
    assert conn.closed_by == "transport"


async def test_shutdown_frame_then_replacement_closes_the_old_socket_4001(
    emulator: Emulator, http: httpx.AsyncClient
) -> None:
    dto, old, first = await connect_device(emulator, http)
    await old.ack(first)
    assert emulator.control.send_shutdown() == 1
    notice = await old.receive()
    assert isinstance(notice, dict)
    assert notice["type"] == "shutdown"
    await old.send_json({"messageId": notice["id"], "type": "ack"})
    new = await WsClient.connect(dto["webSocketUrl"])
    await new.ack(await new.authorize())
    assert await old.receive() == Closed(4001, "replaced")
    await new.close()
    assert emulator.violations == []


async def test_a_second_socket_replaces_the_first_unless_multiple_connections(
    emulator: Emulator, http: httpx.AsyncClient
) -> None:
    dto, first, _ = await connect_device(emulator, http)
    second = await WsClient.connect(dto["webSocketUrl"])
    await second.authorize()
    assert await first.receive() == Closed(4000, "replaced")
    multiple = "outboundWireFormat=text&multipleConnections=true"
    third = await WsClient.connect(dto["webSocketUrl"], query=multiple)
    await third.authorize()
    await second.send_json({"id": "still-there", "type": "ping"})
    assert (await second.receive())["id"] == "still-there"  # type: ignore[index]


async def test_upgrade_refusals(emulator: Emulator, http: httpx.AsyncClient) -> None:
    dto = await register_device(http)
    unknown = dto["webSocketUrl"].replace(device_id_of(dto), "00000000-0000-4000-8000-000000000000")
    client, (status, _) = await WsClient.open(unknown)
    assert (client, status) == (None, 404)
    emulator.control.fail_next("mercury.connect", status=503, retry_after=2)
    client, (status, body) = await WsClient.open(dto["webSocketUrl"])
    assert (client, status) == (None, 503)
    assert b"Service unavailable" in body
    client, (status, _) = await WsClient.open(dto["webSocketUrl"].replace("/messages", "/other"))
    assert status == 404
    assert emulator.violations == []
    assert (await WsClient.connect(dto["webSocketUrl"])) is not None


async def test_bad_websocket_version_is_426(emulator: Emulator, http: httpx.AsyncClient) -> None:
    dto = await register_device(http)
    path = dto["webSocketUrl"].split(str(emulator.port), 1)[1]
    headers = {
        "upgrade": "websocket",
        "connection": "Upgrade",
        "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
        "sec-websocket-version": "8",
    }
    response = await http.get(path, headers=headers)
    assert response.status_code == 426
    assert response.headers["sec-websocket-version"] == "13"
    assert [v.kind for v in emulator.violations] == [ViolationKind.BAD_UPGRADE]


async def test_withheld_and_delayed_pongs(emulator: Emulator, http: httpx.AsyncClient) -> None:
    _, client, _ = await connect_device(emulator, http)
    emulator.control.fail_next("mercury.pong")
    await client.send_json({"id": "lost", "type": "ping"})
    await client.send_json({"id": "answered", "type": "ping"})
    assert (await client.receive())["id"] == "answered"  # type: ignore[index]
    emulator.control.set_latency("mercury.pong", 0.05)
    await client.send_json({"id": "late", "type": "ping"})
    [event_id] = emulator.control.push_event({"eventType": "overtakes.the.pong"})
    assert (await client.receive())["id"] == event_id  # type: ignore[index]
    assert (await client.receive())["id"] == "late"  # type: ignore[index]


async def test_malformed_frames_after_auth_are_violations_and_survivable(
    emulator: Emulator, http: httpx.AsyncClient
) -> None:
    _, client, _ = await connect_device(emulator, http)
    await client.send_text("{not json")
    await client.send_bytes(b"\x00\x01")
    await client.send_json({"type": "ack"})
    await client.send_json({"type": "ping"})
    await client.send_json({"id": "x", "type": "authorization", "data": {"token": "Bearer y"}})
    await client.send_json({"id": "alive", "type": "ping"})
    assert (await client.receive())["id"] == "alive"  # type: ignore[index]
    kinds = [v.kind for v in emulator.violations]
    assert kinds == [
        ViolationKind.MALFORMED_FRAME,
        ViolationKind.BINARY_FRAME,
        ViolationKind.MALFORMED_FRAME,
        ViolationKind.MALFORMED_FRAME,
        ViolationKind.DUPLICATE_AUTH,
    ]


@pytest.mark.emulator(limits=Limits(max_ws_message_bytes=1024))
async def test_oversized_message_closes_1009(emulator: Emulator, http: httpx.AsyncClient) -> None:
    _, client, _ = await connect_device(emulator, http)
    await client.send_text("x" * 5000)
    assert await client.receive() == Closed(1009, "Message too big")
    assert [v.kind for v in emulator.violations] == [ViolationKind.OVERSIZED]
    assert (await http.get("/hydra/v1/people/me", headers=bearer())).status_code == 200


async def test_unparsable_frame_closes_with_a_protocol_error(
    emulator: Emulator, http: httpx.AsyncClient
) -> None:
    _, client, _ = await connect_device(emulator, http)
    await client.stream.send(b"\x8f\x80\x00\x00\x00\x00")  # reserved opcode 0xF, masked
    closed = await client.receive()
    assert isinstance(closed, Closed)
    assert closed.code == 1002
    assert [v.kind for v in emulator.violations] == [ViolationKind.MALFORMED_FRAME]
    assert (await http.get("/hydra/v1/people/me", headers=bearer())).status_code == 200
