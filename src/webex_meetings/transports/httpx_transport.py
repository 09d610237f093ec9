"""The HTTP transport over httpx's connection pool (``httpx.AsyncHTTPTransport``).

One connection pool per transport instance, so connections are kept alive across requests
(HTTP/1.1). Requests go straight to httpx's pool (``httpx.AsyncHTTPTransport``), not through
an ``httpx.AsyncClient``: a client's layers (auth flow, redirect loop, event hooks, the cookie
jar, its log line) would do nothing here but cost CPU on every request. Only with
``trust_env=True`` does a client sit in front (it reads the environment's proxies), used the
same way. The request goes out as the core built it: this transport adds no header of its
own, and httpx's client defaults (``User-Agent: python-httpx``, ``Accept``,
``Accept-Encoding``, ``Connection``) are never added; only what HTTP/1.1 itself needs is
(``Host``, and ``Content-Length`` for a body, or ``Content-Length: 0`` on a body-less
POST/PUT/PATCH). A request without a ``user-agent`` header therefore goes out without one.
Redirects are never followed, cookies are neither kept nor sent.

``request.timeout`` (or the transport's default) bounds the whole exchange, body included:
each httpx phase (connect, write, read, pool) gets that budget and a deadline around the call
caps the total, so a server trickling its answer (slowloris) cannot hold a request longer.
The body is streamed and cut at ``max_response_size`` bytes with
:class:`~webex_meetings.core.errors.ResponseTooLargeError`: a larger ``Content-Length`` is
refused before reading, and a never-ending chunked answer never grows the process past the cap
(plus one read, 64 KiB). A ``gzip`` or ``deflate`` body (we never ask for one) is inflated
under the same cap. Headers are bounded by h11 itself. A certificate that fails verification
is :class:`~webex_meetings.core.errors.CertificateError`, which the core never retries.
httpx runs on asyncio and on trio (through httpcore's backends), so this transport does too.
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import ssl
import zlib
from typing import Any

import anyio
import h11
import httpx

from ..core.errors import TimeoutError, TransportError
from ..core.http import HttpRequest, HttpResponse
from ._closing import AsyncClosing
from ._exceptions import ExceptionMap, map_exceptions
from ._http_answer import (
    DEFAULT_HTTP_TIMEOUT,
    DEFAULT_MAX_RESPONSE_SIZE,
    declared_length,
    inflate,
    too_large,
    where,
)

__all__ = ["DEFAULT_HTTP_TIMEOUT", "DEFAULT_MAX_RESPONSE_SIZE", "HttpxTransport"]

_HTTPX_ERRORS: ExceptionMap = (
    (httpx.ConnectTimeout, TimeoutError, "timed out connecting"),
    (httpx.WriteTimeout, TimeoutError, "timed out sending the request"),
    (httpx.ReadTimeout, TimeoutError, "timed out waiting for the response"),
    (httpx.PoolTimeout, TimeoutError, "timed out waiting for a free connection"),
    (builtins.TimeoutError, TimeoutError, "timed out"),
    (httpx.ProxyError, TransportError, "the proxy failed"),
    (httpx.ConnectError, TransportError, "could not connect"),
    (httpx.ReadError, TransportError, "the connection broke while reading"),
    (httpx.WriteError, TransportError, "the connection broke while sending"),
    (httpx.RemoteProtocolError, TransportError, "the server broke the HTTP protocol"),
    (httpx.LocalProtocolError, TransportError, "the request could not be encoded"),
    (httpx.UnsupportedProtocol, TransportError, "unsupported URL scheme"),
    (httpx.InvalidURL, TransportError, "invalid URL"),
    (httpx.DecodingError, TransportError, "the response body could not be decoded"),
    (httpx.HTTPError, TransportError, "the request failed"),
    (h11.ProtocolError, TransportError, "the HTTP exchange failed"),
    (zlib.error, TransportError, "the compressed response body is corrupt"),
    (ssl.SSLError, TransportError, "TLS failed"),
    (OSError, TransportError, "network error"),
    (OverflowError, TransportError, "the port is out of range"),
    (ValueError, TransportError, "the request could not be built"),
)


@functools.lru_cache(maxsize=32)
def _phase_timeouts(seconds: float) -> dict[str, float | None]:
    """httpx's per-phase timeout extension for a budget (shared, never mutated)."""
    return httpx.Timeout(seconds).as_dict()


async def _read_body(response: httpx.Response, request: HttpRequest, limit: int) -> bytes:
    """The raw body, refused as soon as it is known to exceed ``limit``."""
    declared = declared_length(response.headers.get("content-length"))
    if declared is not None and declared > limit:
        raise too_large(request, limit)
    body = bytearray()
    try:
        async for chunk in response.aiter_raw():
            if len(body) > limit:  # already cut: nothing more is kept
                continue
            body += chunk
            if len(body) > limit:
                # Drop the connection and let httpx's stream generators end on the closed
                # stream: breaking out would leave them to the garbage collector.
                await response.aclose()
    except httpx.ReadError:  # what reading the closed stream raises
        if len(body) <= limit:
            raise
    if len(body) > limit:
        raise too_large(request, limit)
    return bytes(body)


class HttpxTransport(AsyncClosing):
    """:class:`~webex_meetings.transports.base.HttpTransport` over one httpx connection pool.

    :param timeout: seconds for a request that names no timeout of its own.
    :param proxy: an ``http://host:port`` proxy URL for every request, or ``None``.
    :param verify: ``True`` (system CAs), ``False`` (no verification) or an ``SSLContext``.
    :param trust_env: read ``HTTP(S)_PROXY``, ``SSL_CERT_FILE`` and friends from the
        environment; off by default so that nothing changes behind the caller's back.
    :param max_response_size: bytes a response body may hold (after decoding).
    :param limits: httpx's connection pool limits (httpx's defaults when ``None``).

    Use it as ``async with HttpxTransport() as transport:`` or call :meth:`aclose`.
    """

    def __init__(
        self,
        *,
        timeout: float = DEFAULT_HTTP_TIMEOUT,
        proxy: str | None = None,
        verify: bool | ssl.SSLContext = True,
        trust_env: bool = False,
        max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
        limits: httpx.Limits | None = None,
    ) -> None:
        self._timeout = timeout
        self._max_response_size = max_response_size
        self._closed = False
        options: dict[str, Any] = {"proxy": proxy, "verify": verify, "trust_env": trust_env}
        if limits is not None:
            options["limits"] = limits
        self._pool: httpx.AsyncBaseTransport = (
            _ClientInFront(httpx.AsyncClient(follow_redirects=False, **options))
            if trust_env
            else httpx.AsyncHTTPTransport(http1=True, http2=False, **options)
        )

    async def send(self, request: HttpRequest) -> HttpResponse:
        """Send ``request`` exactly as built and return the response, whatever its status.

        :raises TimeoutError: the request's timeout (or the default) ran out.
        :raises CertificateError: the server's certificate failed verification.
        :raises ResponseTooLargeError: the body exceeds ``max_response_size``.
        :raises TransportError: no response (refused, reset, TLS or proxy failure, closed
            transport). The message names the method, host and path, never a header.
        """
        timeout = self._timeout if request.timeout is None else request.timeout
        with map_exceptions(_HTTPX_ERRORS, functools.partial(where, request)):
            if self._closed:
                raise TransportError(f"{where(request)}: the transport is closed")
            outgoing = httpx.Request(
                request.method,
                request.url,
                headers=list(request.headers),
                content=request.body,
                extensions={"timeout": _phase_timeouts(timeout)},
            )
            with anyio.fail_after(timeout):
                response = await self._pool.handle_async_request(outgoing)
                try:
                    body = await _read_body(response, request, self._max_response_size)
                finally:
                    await response.aclose()
            encoding = response.headers.get("content-encoding")
            body = inflate(body, encoding, request, self._max_response_size)
        return HttpResponse(
            status=response.status_code,
            headers=tuple(
                (k.decode("latin-1"), v.decode("latin-1")) for k, v in response.headers.raw
            ),
            body=body,
            extensions={"http_version": response.http_version},
        )

    async def aclose(self) -> None:
        """Close every pooled connection. Idempotent; never raises."""
        if self._closed:
            return
        self._closed = True
        with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
            await self._pool.aclose()


class _ClientInFront(httpx.AsyncBaseTransport):
    """An ``httpx.AsyncClient`` used as a transport (for the environment's proxies)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._client.send(request, stream=True, follow_redirects=False)

    async def aclose(self) -> None:
        await self._client.aclose()
