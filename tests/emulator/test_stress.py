"""The emulator under stress: idle and slow connections time out, connection limits answer
503 and say so, the accept loop survives EMFILE, and hostile websocket frames and JSON are
refused cleanly."""

from __future__ import annotations

import errno
import logging
import socket
import struct
import subprocess
import sys
from collections.abc import Callable

import anyio
import anyio.abc
import httpx
import pytest
from emulator_testkit import (
    TIMEOUT,
    Closed,
    WsClient,
    bearer,
    connect_device,
    lines_until,
    register_device,
)

from webex_meetings.emulator import Emulator, Limits, ViolationKind
from webex_meetings.emulator.server import Server

pytestmark = pytest.mark.anyio

SHORT = 0.2
REGION = b"GET /sqdiscovery/v1/region HTTP/1.1\r\nhost: x\r\n\r\n"


async def _until_closed(stream: anyio.abc.ByteStream) -> bytes:
    """Everything the server sends until it closes the connection."""
    received = b""
    with anyio.fail_after(TIMEOUT):
        while True:
            try:
                received += await stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                return received


async def _connect(emulator: Emulator) -> anyio.abc.SocketStream:
    return await anyio.connect_tcp("127.0.0.1", emulator.port)


# -- deadlines -----------------------------------------------------------------------------


@pytest.mark.emulator(limits=Limits(keep_alive_timeout=SHORT))
async def test_an_idle_keep_alive_connection_is_closed_quietly(emulator: Emulator) -> None:
    async with await _connect(emulator) as stream:
        await stream.send(REGION)
        answer = await _until_closed(stream)
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert answer.count(b"HTTP/1.1") == 1  # closed without another answer
    assert emulator.violations == []


@pytest.mark.emulator(limits=Limits(header_timeout=SHORT))
async def test_a_connection_that_never_speaks_is_closed(emulator: Emulator) -> None:
    async with await _connect(emulator) as stream:
        assert await _until_closed(stream) == b""


@pytest.mark.emulator(limits=Limits(header_timeout=SHORT))
async def test_a_trickled_request_head_gets_408(emulator: Emulator) -> None:
    async with await _connect(emulator) as stream:
        await stream.send(b"GET /sqdiscovery/v1/region HTTP/1.1\r\nhost: x\r\nx-slow: ")
        answer = await _until_closed(stream)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert emulator.server is not None
    assert emulator.server.stats.timed_out == 1


@pytest.mark.emulator(limits=Limits(body_timeout=SHORT))
async def test_a_slow_body_gets_408(emulator: Emulator) -> None:
    async with await _connect(emulator) as stream:
        head = b"POST /wdm/api/v1/devices HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n"
        await stream.send(head + b"{" * 10)
        answer = await _until_closed(stream)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert emulator.devices == []


# -- connection limits ---------------------------------------------------------------------


@pytest.mark.emulator(limits=Limits(max_connections=20))
async def test_connections_over_the_limit_get_503_and_a_log_line(
    emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="webex_meetings.emulator")
    held = [await _connect(emulator) for _ in range(20)]
    try:
        await _eventually(lambda: _open_connections(emulator) == 20)
        async with await _connect(emulator) as extra:
            await extra.send(REGION)
            answer = await _until_closed(extra)
        assert answer.startswith(b"HTTP/1.1 503 ")
        assert b"retry-after: 1" in answer.lower()
        assert b"connection limit" in answer
        dto_path = b"/mercury/v1/apps/wx2/registrations/00000000-0000-4000-8000-000000000000"
        async with await _connect(emulator) as upgrade:
            await upgrade.send(
                b"GET " + dto_path + b"/messages HTTP/1.1\r\nhost: x\r\nupgrade: websocket\r\n"
                b"connection: Upgrade\r\nsec-websocket-version: 13\r\n"
                b"sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
            )
            assert (await _until_closed(upgrade)).startswith(b"HTTP/1.1 503 ")
    finally:
        for stream in held:
            await stream.aclose()
    assert any("connection limit reached" in r.getMessage() for r in caplog.records)
    await _eventually(lambda: _open_connections(emulator) == 0)
    async with httpx.AsyncClient() as client:
        assert (await client.get(emulator.base_url + "/sqdiscovery/v1/region")).status_code == 200
    assert emulator.server is not None
    assert emulator.server.stats.refused_connections == 2


@pytest.mark.emulator(limits=Limits(max_websockets=2))
async def test_websockets_over_the_limit_get_503(
    emulator: Emulator, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="webex_meetings.emulator")
    dto = await register_device(http)
    first = await WsClient.connect(dto["webSocketUrl"])
    second = await WsClient.connect(dto["webSocketUrl"])
    client, (status, body) = await WsClient.open(dto["webSocketUrl"])
    assert (client, status) == (None, 503)
    assert b"websocket limit" in body
    assert any("websocket limit reached" in r.getMessage() for r in caplog.records)
    await first.close()
    await _eventually(lambda: len([c for c in emulator.connections if c.open]) == 1)
    third = await WsClient.connect(dto["webSocketUrl"])
    await third.authorize()
    await second.aclose()


@pytest.mark.emulator(limits=Limits(max_connections=20))
async def test_a_server_flapping_at_its_limit_logs_one_episode(
    emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="webex_meetings.emulator")
    held = [await _connect(emulator) for _ in range(20)]
    try:
        await _eventually(lambda: _open_connections(emulator) == 20)
        for _ in range(3):  # refused, one closes, its place taken: still the same episode
            async with await _connect(emulator) as extra:
                await extra.send(REGION)
                assert (await _until_closed(extra)).startswith(b"HTTP/1.1 503 ")
            await held.pop().aclose()
            await _eventually(lambda: _open_connections(emulator) == 19)
            held.append(await _connect(emulator))
            await _eventually(lambda: _open_connections(emulator) == 20)
    finally:
        for stream in held:
            await stream.aclose()
    await _eventually(lambda: _open_connections(emulator) == 0)
    async with httpx.AsyncClient() as client:  # the episode ends with the next connection
        assert (await client.get(emulator.base_url + "/sqdiscovery/v1/region")).status_code == 200
    messages = [r.getMessage() for r in caplog.records]
    assert sum("connection limit reached" in m for m in messages) == 1
    assert [m for m in messages if "below the connection limit" in m] == [
        "emulator: below the connection limit again (3 refused so far)"
    ]


def _open_connections(emulator: Emulator) -> int:
    assert emulator.server is not None
    return emulator.server.registry.connection_count


async def _eventually(condition: Callable[[], bool]) -> None:
    with anyio.fail_after(TIMEOUT):
        while not condition():
            await anyio.sleep(0.005)


# -- the accept loop -----------------------------------------------------------------------


class _FailingListener:
    """A listener whose accept fails for lack of descriptors, then closes."""

    def __init__(self, failures: list[int]) -> None:
        self.failures = failures

    async def accept(self) -> anyio.abc.SocketStream:
        if self.failures:
            code = self.failures.pop(0)
            raise OSError(code, "simulated")
        raise anyio.ClosedResourceError


async def test_the_accept_loop_backs_off_on_emfile_and_keeps_going(
    emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="webex_meetings.emulator")
    assert emulator.server is not None
    server: Server = emulator.server
    listener = _FailingListener([errno.EMFILE, errno.ENFILE, errno.ECONNABORTED])
    await server.serve([listener])  # type: ignore[list-item]
    assert server.stats.accept_errors == 3
    messages = [r.getMessage() for r in caplog.records]
    assert sum("cannot accept a connection (EMFILE" in m for m in messages) == 1
    assert sum("cannot accept a connection (ENFILE" in m for m in messages) == 1


# -- hostile input -------------------------------------------------------------------------

NESTED = "[" * 100_000 + "]" * 100_000


async def test_deeply_nested_json_in_an_http_body_is_a_400(
    emulator: Emulator, http: httpx.AsyncClient
) -> None:
    response = await http.post("/wdm/api/v1/devices", content=NESTED, headers=bearer())
    assert response.status_code == 400
    admin = await http.post("/_emulator/events", content=NESTED)
    assert admin.status_code == 400
    assert "nested too deeply" in admin.json()["message"]
    assert (await http.get("/sqdiscovery/v1/region")).status_code == 200


@pytest.mark.parametrize("authorized", [False, True])
async def test_a_deeply_nested_frame_closes_1007(
    emulator: Emulator, http: httpx.AsyncClient, authorized: bool
) -> None:
    dto = await register_device(http)
    client = await WsClient.connect(dto["webSocketUrl"])
    if authorized:
        await client.authorize()
    await client.send_text(NESTED)
    assert await client.receive() == Closed(1007, "Frame nested too deeply")
    assert ViolationKind.MALFORMED_FRAME in [v.kind for v in emulator.violations]


@pytest.mark.parametrize("announced", [2**63, 2**63 - 1, 2**20 + 1])
async def test_a_frame_announcing_a_huge_payload_closes_1009_at_once(
    emulator: Emulator, http: httpx.AsyncClient, announced: int
) -> None:
    _, client, first = await connect_device(emulator, http)
    await client.ack(first)
    header = bytes([0x81, 0x80 | 127]) + struct.pack(">Q", announced) + b"\x00\x00\x00\x00"
    await client.stream.send(header)  # no payload follows
    assert await client.receive() == Closed(1009, "Message too big")
    assert await client.receive() is None
    assert [v.kind for v in emulator.violations] == [ViolationKind.OVERSIZED]
    assert (await http.get("/sqdiscovery/v1/region")).status_code == 200


@pytest.mark.skipif(sys.platform == "win32", reason="needs RLIMIT_NOFILE")
def test_the_emulator_survives_running_out_of_descriptors() -> None:
    """A real EMFILE: an emulator process with a 64-descriptor limit and no connection cap
    gets 150 connections, says so on stderr, and serves again once they are gone."""
    script = (
        "import resource, logging, anyio\n"
        "from webex_meetings.emulator import Emulator, Limits\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (64, resource.getrlimit("
        "resource.RLIMIT_NOFILE)[1]))\n"
        "logging.basicConfig(level=logging.WARNING)\n"
        "async def main():\n"
        "    async with Emulator(limits=Limits(max_connections=10_000)) as emu:\n"
        "        print(emu.port, flush=True)\n"
        "        await anyio.sleep(60)\n"
        "anyio.run(main)\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        try:
            _exhaust_descriptors_then_serve(process)
        finally:
            process.kill()


def _exhaust_descriptors_then_serve(process: subprocess.Popen[str]) -> None:
    assert process.stdout is not None
    assert process.stderr is not None
    port = int(process.stdout.readline())
    held = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(150)]
    lines_until(process.stderr, "cannot accept a connection (EMFILE")
    for sock in held:
        sock.close()
    with httpx.Client(timeout=TIMEOUT) as client:
        url = f"http://127.0.0.1:{port}/sqdiscovery/v1/region"
        assert client.get(url).status_code == 200
    assert process.poll() is None
