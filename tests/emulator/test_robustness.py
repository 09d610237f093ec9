"""Bad input never kills the server: garbage HTTP, oversized headers and bodies, unknown routes,
and random bytes (hypothesis); keep-alive keeps working."""

from __future__ import annotations

import socket

import httpx
import pytest
from emulator_testkit import bearer, raw_exchange
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from webex_meetings.emulator import Emulator, Limits, ViolationKind

pytestmark = pytest.mark.anyio


async def test_garbage_gets_400_and_the_server_keeps_serving(
    emulator: Emulator, http: httpx.AsyncClient
) -> None:
    answer = await raw_exchange(emulator, b"\x16\x03\x01 this is not HTTP\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b'"message":"Bad Request"' in answer
    assert (await http.get("/sqdiscovery/v1/region")).status_code == 200
    assert [v.kind for v in emulator.violations] == [ViolationKind.MALFORMED_HTTP]


async def test_oversized_headers_get_431(emulator: Emulator, http: httpx.AsyncClient) -> None:
    request = b"GET / HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * 40000 + b"\r\n\r\n"
    answer = await raw_exchange(emulator, request)
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert [v.kind for v in emulator.violations] == [ViolationKind.OVERSIZED]
    assert (await http.get("/sqdiscovery/v1/region")).status_code == 200


@pytest.mark.emulator(limits=Limits(max_body_bytes=1000))
async def test_oversized_bodies_get_413(emulator: Emulator, http: httpx.AsyncClient) -> None:
    declared = await http.post("/wdm/api/v1/devices", content=b"x" * 2000, headers=bearer())
    assert declared.status_code == 413
    chunked = (
        b"POST /wdm/api/v1/devices HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n"
        + b"400\r\n" + b"y" * 1024 + b"\r\n" + b"400\r\n" + b"y" * 1024 + b"\r\n0\r\n\r\n"
    )  # fmt: skip
    assert (await raw_exchange(emulator, chunked)).startswith(b"HTTP/1.1 413 ")
    assert (await http.get("/sqdiscovery/v1/region")).status_code == 200


async def test_keep_alive_serves_many_requests_on_one_connection(
    emulator: Emulator,
) -> None:
    request = b"GET /sqdiscovery/v1/region HTTP/1.1\r\nhost: x\r\n\r\n"
    closing = b"GET /nothing HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
    answer = await raw_exchange(emulator, request * 3 + closing)
    assert answer.count(b"HTTP/1.1 200 ") == 3
    assert answer.count(b"HTTP/1.1 404 ") == 1
    assert len({r.connection_id for r in emulator.requests}) == 1


async def test_half_a_request_then_eof(emulator: Emulator, http: httpx.AsyncClient) -> None:
    assert (await raw_exchange(emulator, b"GET /sqdiscovery/v1/re")).startswith(b"HTTP/1.1 400 ")
    assert (await http.get("/sqdiscovery/v1/region")).status_code == 200


def _exchange(port: int, payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.fixture(scope="module")
def fuzz_target() -> object:
    from webex_meetings.emulator import EmulatorThread

    with EmulatorThread(seed=0) as emulator:
        yield emulator


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    payload=st.one_of(
        st.binary(max_size=300),
        st.builds(
            lambda method, path, junk: method + b" " + path + b" HTTP/1.1\r\n" + junk + b"\r\n\r\n",
            st.sampled_from([b"GET", b"POST", b"PUT", b"DELETE", b"BREW"]),
            st.sampled_from([b"/", b"/wdm/api/v1/devices", b"/u2c/api/v1/catalog", b"/%00"]),
            st.binary(max_size=80),
        ),
    )
)
def test_random_bytes_get_an_http_answer_or_a_close(fuzz_target: Emulator, payload: bytes) -> None:
    answer = _exchange(fuzz_target.port, payload)
    assert answer == b"" or answer.startswith(b"HTTP/1.1 ")
    status = int(answer[9:12]) if answer else 0
    assert answer == b"" or 100 <= status < 600
    assert (
        _exchange(fuzz_target.port, b"GET /sqdiscovery/v1/region HTTP/1.1\r\nhost: x\r\n\r\n")[:12]
        == b"HTTP/1.1 200"
    )
