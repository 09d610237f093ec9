"""The HTTP transport over ``httpx.AsyncClient``.

One client per transport instance, so connections are kept alive across requests (HTTP/1.1).
The request goes out as the core built it: this transport adds no header of its own. httpx's
client defaults (``User-Agent: python-httpx``, ``Accept``, ``Accept-Encoding``,
``Connection``) are skipped by building the :class:`httpx.Request` directly instead of through
the client; only what HTTP/1.1 itself needs is added (``Host``, and ``Content-Length`` for a
body, or ``Content-Length: 0`` on a body-less POST/PUT/PATCH). A request without a
``user-agent`` header therefore goes out without one. Redirects are never followed, cookies
are never sent (the client's jar may collect them, but requests are not built from it).

``request.timeout`` (or the transport's default) bounds the whole exchange: each httpx phase
(connect, write, read, pool) gets that budget and a deadline around the call caps the total.
httpx runs on asyncio and on trio (through httpcore's backends), so this transport does too.
"""

from __future__ import annotations

import builtins
import contextlib
import ssl
from urllib.parse import urlsplit

import anyio
import h11
import httpx

from ..core.errors import TimeoutError, TransportError
from ..core.http import HttpRequest, HttpResponse
from ..core.redaction import redact
from ._closing import AsyncClosing
from ._exceptions import ExceptionMap, map_exceptions

__all__ = ["DEFAULT_HTTP_TIMEOUT", "HttpxTransport"]

DEFAULT_HTTP_TIMEOUT = 30.0
"""Seconds allowed for one request when it names no timeout of its own."""

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
    (ssl.SSLError, TransportError, "TLS failed"),
    (OSError, TransportError, "network error"),
    (ValueError, TransportError, "the request could not be built"),
)


def _where(request: HttpRequest) -> str:
    """``POST https://host/path``: the request named without query or headers."""
    parts = urlsplit(request.url)
    return redact(
        f"{request.method} {parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"
    )


class HttpxTransport(AsyncClosing):
    """:class:`~webex_meetings.transports.base.HttpTransport` over one ``httpx.AsyncClient``.

    :param timeout: seconds for a request that names no timeout of its own.
    :param proxy: an ``http://host:port`` proxy URL for every request, or ``None``.
    :param verify: ``True`` (system CAs), ``False`` (no verification) or an ``SSLContext``.
    :param trust_env: read ``HTTP(S)_PROXY``, ``SSL_CERT_FILE`` and friends from the
        environment; off by default so that nothing changes behind the caller's back.

    Use it as ``async with HttpxTransport() as transport:`` or call :meth:`aclose`.
    """

    def __init__(
        self,
        *,
        timeout: float = DEFAULT_HTTP_TIMEOUT,
        proxy: str | None = None,
        verify: bool | ssl.SSLContext = True,
        trust_env: bool = False,
    ) -> None:
        self._timeout = timeout
        self._client = httpx.AsyncClient(
            proxy=proxy,
            verify=verify,
            trust_env=trust_env,
            follow_redirects=False,
            timeout=timeout,
            http1=True,
            http2=False,
        )

    async def send(self, request: HttpRequest) -> HttpResponse:
        """Send ``request`` exactly as built and return the response, whatever its status.

        :raises TimeoutError: the request's timeout (or the default) ran out.
        :raises TransportError: no response (refused, reset, TLS or proxy failure, closed
            transport). The message names the method, host and path, never a header.
        """
        timeout = self._timeout if request.timeout is None else request.timeout
        with map_exceptions(_HTTPX_ERRORS, _where(request)):
            if self._client.is_closed:
                raise TransportError(f"{_where(request)}: the transport is closed")
            outgoing = httpx.Request(
                request.method,
                request.url,
                headers=list(request.headers),
                content=request.body,
                extensions={"timeout": httpx.Timeout(timeout).as_dict()},
            )
            with anyio.fail_after(timeout):
                response = await self._client.send(outgoing, follow_redirects=False)
        raw_headers = response.headers.raw
        return HttpResponse(
            status=response.status_code,
            headers=tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in raw_headers),
            body=response.content,
            extensions={"http_version": response.http_version},
        )

    async def aclose(self) -> None:
        """Close every pooled connection. Idempotent; never raises."""
        if self._client.is_closed:
            return
        with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
            await self._client.aclose()
