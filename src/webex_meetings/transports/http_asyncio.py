"""HTTP/1.1 on asyncio's own transports: h11 over a small keep-alive pool, no task of its own.

Theory of operation
-------------------
:class:`AsyncioHttpTransport` does per request what the core needs and nothing more:

1. **Prepare** (no I/O): the URL gives the origin (scheme, host, port) and the request
   target; h11 validates the request line and the headers. The request goes out as the core
   built it, with only what HTTP/1.1 needs added, as :class:`~.httpx_transport.HttpxTransport`
   sends it: ``Host`` first (port only when not the scheme's default), then the core's
   headers in their order and casing, then ``Content-Length`` for a body, or
   ``Content-Length: 0`` right after ``Host`` for a body-less POST, PUT or PATCH. No
   ``User-Agent``, ``Accept``, ``Accept-Encoding`` or ``Connection`` of its own. The target
   is the URL's path and query as given (the core percent-encodes; h11 refuses a target
   with spaces or controls, where httpx would have encoded them).
2. **Acquire** a connection from the pool (:mod:`._http_pool`): an idle one to the origin,
   a new one, or a place in the queue when ``max_connections`` are busy.
3. **Exchange** on the connection (:mod:`._http_connection`, an asyncio protocol): the
   request is written in one go, the answer parsed by h11 inside the loop's callbacks; the
   task awaits one future.
4. **Give back** the connection: parked for the next request when the exchange ended
   cleanly, closed otherwise (an error, a timeout, a cancellation, ``Connection: close``).

One deadline, ``request.timeout`` (or the transport's default) from the start, bounds the
whole of it: the wait for a connection, connecting (also bounded by ``connect_timeout``), and
every byte of the answer, so a server trickling its answer (slowloris) cannot hold a request
longer. Each wait is one loop timer on a future of ours, not a cancel scope; only connecting
(``loop.create_connection`` and the TLS handshake, once per new connection) runs in an anyio
deadline scope.

A request that fails on a *reused* connection before any byte of its answer arrived (the
server closed a keep-alive connection as we reused it: httpx narrows that race by polling the
socket before each reuse, we let the close arrive as a callback and pay for the rare race
instead) is sent once more on a new connection,
for idempotent methods only (GET, HEAD, PUT, DELETE, OPTIONS): a POST may have been acted on
(a device created), so it fails with :class:`~webex_meetings.core.errors.TransportError` and
the core's clean-up decides.

Bounds and errors are those of the httpx transport (:mod:`._http_answer` is shared): a
declared ``Content-Length`` over ``max_response_size`` is refused before the body is read, a
streamed body is cut at the cap, and ``gzip``/``deflate`` bodies are inflated under it
(:class:`~webex_meetings.core.errors.ResponseTooLargeError`); the status line and headers
may take 100 KiB; a certificate that fails verification is
:class:`~webex_meetings.core.errors.CertificateError`; every other failure is a
:class:`~webex_meetings.core.errors.TransportError` (or ``TimeoutError``) naming the method,
host and path, never a header, the query or the body. Redirects are never followed, cookies
neither kept nor sent, no proxy is used (:mod:`..adapters.runtime` picks the httpx transport
when there is one, and on trio).
"""

from __future__ import annotations

import asyncio
import builtins
import functools
import ssl
import zlib
from urllib.parse import urlsplit

import h11

from ..core.errors import ConfigurationError, TimeoutError, TransportError
from ..core.http import HttpRequest, HttpResponse, header_value
from ._closing import AsyncClosing
from ._exceptions import ExceptionMap, map_exceptions
from ._http_answer import DEFAULT_HTTP_TIMEOUT, DEFAULT_MAX_RESPONSE_SIZE, inflate, too_large, where
from ._http_connection import (
    Answer,
    BodyTooLarge,
    ConnectError,
    HttpConnection,
    Origin,
    ReadError,
    ServerDisconnected,
)
from ._http_pool import ConnectionPool, ConnectTimeout, PoolClosed, PoolTimeout, wait_until
from .shared import SHARED_POOL_CONNECTIONS, SHARED_POOL_KEEPALIVE
from .tls import Verify, ssl_context_for

__all__ = ["DEFAULT_KEEPALIVE_EXPIRY", "AsyncioHttpTransport"]

DEFAULT_KEEPALIVE_EXPIRY = 5.0
"""Seconds an idle connection is kept (httpx's default): shorter than servers keep theirs
(the emulator 10 s, common servers 60 s or more), so the server rarely closes one first."""


class ReadTimeout(builtins.TimeoutError):
    """The answer was not complete by the request's deadline."""


class UnsupportedScheme(ValueError):
    """The URL is neither ``http`` nor ``https``."""


class InvalidURL(ValueError):
    """The URL names no host, or a port out of range."""


_ERRORS: ExceptionMap = (
    (ConnectTimeout, TimeoutError, "timed out connecting"),
    (PoolTimeout, TimeoutError, "timed out waiting for a free connection"),
    (ReadTimeout, TimeoutError, "timed out waiting for the response"),
    (builtins.TimeoutError, TimeoutError, "timed out"),
    (PoolClosed, TransportError, "the transport is closed"),
    (ConnectError, TransportError, "could not connect"),
    (ServerDisconnected, TransportError, "the server closed the connection without answering"),
    (ReadError, TransportError, "the connection broke while reading"),
    (h11.RemoteProtocolError, TransportError, "the server broke the HTTP protocol"),
    (h11.LocalProtocolError, TransportError, "the request could not be encoded"),
    (UnsupportedScheme, TransportError, "unsupported URL scheme"),
    (InvalidURL, TransportError, "invalid URL"),
    (zlib.error, TransportError, "the compressed response body is corrupt"),
    (ssl.SSLError, TransportError, "TLS failed"),
    (OSError, TransportError, "network error"),
    (ValueError, TransportError, "the request could not be built"),
)

_DEFAULT_PORTS = {"http": 80, "https": 443}
_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
"""Methods sent again after a reused connection closed without answering."""
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
"""Methods that get ``Content-Length: 0`` when they have no body (as httpx sends them)."""
_FRAMING = frozenset({"content-length", "transfer-encoding"})
_HTTP_VERSIONS = {b"1.1": "HTTP/1.1", b"1.0": "HTTP/1.0"}


@functools.lru_cache(maxsize=256)
def _origin(scheme: str, netloc: str) -> tuple[Origin, str]:
    """The origin and the ``Host`` value for a URL's scheme and ``netloc``.

    :raises UnsupportedScheme: not ``http`` or ``https``.
    :raises InvalidURL: no host, or a bad port.
    """
    scheme = scheme.lower()
    default_port = _DEFAULT_PORTS.get(scheme)
    if default_port is None:
        raise UnsupportedScheme
    parts = urlsplit(f"//{netloc.rpartition('@')[2]}")
    try:
        host, port = parts.hostname, parts.port or default_port
    except ValueError:
        raise InvalidURL from None
    if not host:
        raise InvalidURL
    shown = f"[{host}]" if ":" in host else host
    return Origin(scheme, host, port), shown if port == default_port else f"{shown}:{port}"


def _prepare(request: HttpRequest) -> tuple[Origin, h11.Request]:
    """The request's origin and its h11 head (see the module docstring, step 1)."""
    parts = urlsplit(request.url)
    origin, host = _origin(parts.scheme, parts.netloc)
    target = parts.path or "/"
    if parts.query:
        target = f"{target}?{parts.query}"
    headers = list(request.headers)
    names = {name.lower() for name, _ in headers}
    if names.isdisjoint(_FRAMING):
        if request.body:
            headers.append(("Content-Length", str(len(request.body))))
        elif request.method in _BODY_METHODS:
            headers.insert(0, ("Content-Length", "0"))
    if "host" not in names:
        headers.insert(0, ("Host", host))
    return origin, h11.Request(method=request.method, target=target, headers=headers)


def _response(answer: Answer, request: HttpRequest, limit: int) -> HttpResponse:
    head = answer.head
    headers = tuple(
        (name.decode("latin-1"), value.decode("latin-1"))
        for name, value in head.headers.raw_items()
    )
    version = head.http_version
    return HttpResponse(
        status=head.status_code,
        headers=headers,
        body=inflate(answer.body, header_value(headers, "content-encoding"), request, limit),
        extensions={"http_version": _HTTP_VERSIONS.get(version) or f"HTTP/{version.decode()}"},
    )


class AsyncioHttpTransport(AsyncClosing):
    """:class:`~webex_meetings.transports.base.HttpTransport` on asyncio's transports
    (asyncio only; see the module docstring). Its pool belongs to the event loop of its first
    request.

    :param timeout: seconds for a request that names no timeout of its own.
    :param connect_timeout: seconds a new connection (TCP and TLS) may take, within the
        request's own timeout; ``None``: only the request's timeout.
    :param verify: ``True`` (the default CAs), ``False`` (no verification), a CA bundle
        path or an ``SSLContext`` (see :mod:`.tls`).
    :param max_response_size: bytes a response body may hold (after decoding).
    :param max_connections: connections open at once, all hosts together; a request
        beyond waits for one, within its timeout.
    :param max_idle_connections: idle connections kept for reuse; more are closed.
    :param keepalive_expiry: seconds an idle connection is kept.

    Use it as ``async with AsyncioHttpTransport() as transport:`` or call :meth:`aclose`.
    """

    def __init__(
        self,
        *,
        timeout: float = DEFAULT_HTTP_TIMEOUT,
        connect_timeout: float | None = None,
        verify: Verify = True,
        max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
        max_connections: int = SHARED_POOL_CONNECTIONS,
        max_idle_connections: int = SHARED_POOL_KEEPALIVE,
        keepalive_expiry: float = DEFAULT_KEEPALIVE_EXPIRY,
    ) -> None:
        self._timeout = timeout
        self._max_response_size = max_response_size
        self._new_pool = functools.partial(
            ConnectionPool,
            ssl_context=ssl_context_for(verify),
            connect_timeout=float("inf") if connect_timeout is None else connect_timeout,
            max_connections=max_connections,
            max_idle=max_idle_connections,
            keepalive_expiry=keepalive_expiry,
        )
        self._pool: ConnectionPool | None = None
        self._closed = False

    @property
    def pool(self) -> ConnectionPool | None:
        """The connection pool, once a request made it (for tests and measurements)."""
        return self._pool

    async def send(self, request: HttpRequest) -> HttpResponse:
        """Send ``request`` as built (plus ``Host`` and framing) and return the response,
        whatever its status.

        :raises TimeoutError: the request's timeout (or the default) ran out.
        :raises CertificateError: the server's certificate failed verification.
        :raises ResponseTooLargeError: the body exceeds ``max_response_size``.
        :raises TransportError: no response (refused, reset, TLS failure, a malformed
            answer, a closed transport). The message names the method, host and path,
            never a header.
        :raises ConfigurationError: not running under asyncio, or under another loop than
            the first request's.
        """
        timeout = self._timeout if request.timeout is None else request.timeout
        with map_exceptions(_ERRORS, functools.partial(where, request)):
            pool = self._pool_here()
            origin, head = _prepare(request)
            deadline = pool.loop.time() + timeout
            try:
                answer = await self._exchange(pool, origin, head, request, deadline)
            except BodyTooLarge:
                raise too_large(request, self._max_response_size) from None
            return _response(answer, request, self._max_response_size)

    def _pool_here(self) -> ConnectionPool:
        if self._closed:
            raise PoolClosed
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise ConfigurationError("the asyncio HTTP transport runs under asyncio") from None
        pool = self._pool
        if pool is None:
            pool = self._pool = self._new_pool(loop)
        elif pool.loop is not loop:
            raise ConfigurationError("this HTTP transport belongs to another event loop")
        return pool

    async def _exchange(
        self,
        pool: ConnectionPool,
        origin: Origin,
        head: h11.Request,
        request: HttpRequest,
        deadline: float,
    ) -> Answer:
        """The answer, sent once more on a new connection when a reused one closed without
        answering an idempotent request (see the module docstring)."""
        connection, reused = await pool.acquire(origin, deadline)
        try:
            return await self._run(pool, connection, head, request.body, deadline)
        except ServerDisconnected:
            if not reused or request.method not in _IDEMPOTENT:
                raise
        connection, _ = await pool.acquire(origin, deadline, fresh=True)
        return await self._run(pool, connection, head, request.body, deadline)

    async def _run(
        self,
        pool: ConnectionPool,
        connection: HttpConnection,
        head: h11.Request,
        body: bytes | None,
        deadline: float,
    ) -> Answer:
        try:
            answer = connection.start(head, body, self._max_response_size)
            return await wait_until(answer, deadline, ReadTimeout)
        finally:
            pool.release(connection)

    async def aclose(self) -> None:
        """Close every connection, idle or busy (their requests fail). Idempotent; never
        raises."""
        self._closed = True
        if self._pool is not None:
            self._pool.close()
