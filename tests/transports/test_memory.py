"""MemoryHttpTransport: the handler's answers, the record of requests, timeouts, closing.
(The memory websocket connector runs the conformance scenarios in test_websocket.py.)"""

from __future__ import annotations

import anyio
import pytest

from webex_meetings.core.errors import TimeoutError, TransportError
from webex_meetings.core.http import HttpRequest, HttpResponse
from webex_meetings.transports import HttpTransport, MemoryHttpTransport

pytestmark = pytest.mark.anyio

SECRET = "SECRETTOKEN0123456789"


async def answer_with_path(request: HttpRequest) -> HttpResponse:
    return HttpResponse(200, (("x-path", request.url),), request.body or b"")


async def never_answer(request: HttpRequest) -> HttpResponse:
    await anyio.Event().wait()
    raise AssertionError("unreachable")


async def test_answers_with_the_handler_and_records_requests() -> None:
    async with MemoryHttpTransport(answer_with_path) as transport:
        assert isinstance(transport, HttpTransport)
        first = HttpRequest("POST", "https://wdm.test/devices", body=b"{}", step="device.register")
        second = HttpRequest("GET", "https://u2c.test/catalog")
        assert await transport.send(first) == HttpResponse(
            200, (("x-path", "https://wdm.test/devices"),), b"{}"
        )
        await transport.send(second)
    assert transport.requests == [first, second]


async def test_handler_errors_propagate_unchanged() -> None:
    async def refuse(request: HttpRequest) -> HttpResponse:
        raise TransportError("simulated refusal")

    transport = MemoryHttpTransport(refuse)
    with pytest.raises(TransportError, match="simulated refusal"):
        await transport.send(HttpRequest("GET", "https://u2c.test/"))
    assert len(transport.requests) == 1


@pytest.mark.parametrize(("request_timeout", "default"), [(0.05, 30.0), (None, 0.05)])
async def test_slow_handler_times_out_without_the_token(
    request_timeout: float | None, default: float
) -> None:
    transport = MemoryHttpTransport(never_answer, timeout=default)
    request = HttpRequest(
        "GET",
        "https://u2c.test/",
        headers=(("authorization", f"Bearer {SECRET}"),),
        timeout=request_timeout,
    )
    with pytest.raises(TimeoutError) as caught:
        await transport.send(request)
    assert SECRET not in str(caught.value) + repr(caught.value)


async def test_closed_transport_refuses_and_records_nothing() -> None:
    transport = MemoryHttpTransport(answer_with_path)
    await transport.aclose()
    await transport.aclose()
    with pytest.raises(TransportError, match="closed"):
        await transport.send(HttpRequest("GET", "https://u2c.test/"))
    assert transport.requests == []
