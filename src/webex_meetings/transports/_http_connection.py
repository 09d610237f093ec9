"""One HTTP/1.1 client connection as an asyncio protocol: h11 both ways, TLS over memory.

Theory of operation. A :class:`HttpConnection` is the protocol object asyncio feeds: received
bytes land in the thread's shared read buffer (:mod:`._read_buffer`), go through TLS when
there is TLS (:class:`~._tls.TlsClient`, for the same reason as the websockets: no 256 KiB
buffer per connection), then into h11, all inside the loop's callback. A request is written
whole, in one ``transport.write`` (asyncio buffers it), by :meth:`~HttpConnection.start`,
which returns a future; the callbacks resolve it once, with the complete :class:`Answer` or
with the reason there is none. The task that sent the request awaits that one future: no
task per connection, no wake-up per chunk.

Where a failure lands (the future's exception):

===================================  ===========================================================
the connection ends before any       :class:`ServerDisconnected` (from the reset, when there
byte of the answer                   was one): the request may never have been read, see
                                     :attr:`HttpConnection.answered`
it ends, or is reset, mid-answer     :class:`ReadError` from the reset, or h11's
                                     ``RemoteProtocolError`` for an answer cut short
a malformed answer                   h11's ``RemoteProtocolError`` (headers bounded by
                                     :data:`MAX_HEAD_SIZE`)
a body beyond the limit              :class:`BodyTooLarge` (the declared length is checked
                                     before any byte of the body is read)
TLS fails                            :class:`ssl.SSLError`
===================================  ===========================================================

A connection is :attr:`~HttpConnection.reusable` only after a complete answer that leaves
both sides of h11 in ``DONE`` with nothing unread (no ``Connection: close``, no
close-delimited body, no stray bytes); anything else, a cancelled or timed-out exchange
included, leaves it not reusable, and its owner (the pool) drops it. While it waits in the
pool, anything from the server (its end of stream, a late ``408``) ends it, and
:attr:`~HttpConnection.on_idle_lost` tells the pool at once: nothing is polled per request.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from typing import Any, NamedTuple

import h11

from ._read_buffer import received_bytes, shared_read_buffer
from ._tls import TlsClient, encrypted

__all__ = [
    "MAX_HEAD_SIZE",
    "Answer",
    "BodyTooLarge",
    "ConnectError",
    "HttpConnection",
    "Origin",
    "ReadError",
    "ServerDisconnected",
]

MAX_HEAD_SIZE = 100 * 1024
"""Bytes a response's status line and headers may take (httpcore's bound too)."""


class Origin(NamedTuple):
    """Where a connection goes: what the pool keys its connections by."""

    scheme: str
    """``"http"`` or ``"https"``."""
    host: str
    port: int


class Answer(NamedTuple):
    """A complete response: h11's head and the body (as received, not decoded)."""

    head: h11.Response
    body: bytes


class ConnectError(Exception):
    """The connection could not be made (the ``OSError`` is its cause)."""


class ReadError(Exception):
    """The connection broke while the answer was arriving (the ``OSError`` is its cause)."""


class ServerDisconnected(Exception):
    """The connection ended before any byte of the answer arrived."""


class BodyTooLarge(Exception):
    """The answer's body is (or declares itself) larger than the limit."""


class HttpConnection(asyncio.BufferedProtocol):
    """One keep-alive HTTP/1.1 connection to :attr:`origin`; see the module docstring.

    Life: :meth:`open`, then any number of :meth:`start` (one at a time, each awaited to its
    end), then :meth:`abort` or the server's close. Runs on the loop that opened it.
    """

    __slots__ = (
        "_body",
        "_h11",
        "_handshake",
        "_head",
        "_limit",
        "_loop",
        "_tls",
        "_transport",
        "_waiter",
        "answered",
        "idle_since",
        "on_idle_lost",
        "origin",
        "reusable",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, origin: Origin) -> None:
        self._loop = loop
        self.origin = origin
        self._transport: asyncio.Transport | None = None
        self._tls: TlsClient | None = None
        self._h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD_SIZE)
        self._handshake: asyncio.Future[None] | None = None
        self._waiter: asyncio.Future[Answer] | None = None
        self._head: h11.Response | None = None
        self._body = bytearray()
        self._limit = 0
        self.answered = False
        """Whether any byte of the current exchange's answer has arrived."""
        self.reusable = False
        """Whether the last exchange ended cleanly and the connection may carry another."""
        self.idle_since = 0.0
        """The loop's time when the connection was last parked in the pool."""
        self.on_idle_lost: Callable[[HttpConnection], None] | None = None
        """Set by the pool while the connection waits there: called once if it ends."""

    # -- opening ------------------------------------------------------------------------------

    async def open(self, ssl_context: ssl.SSLContext | None) -> None:
        """Connect, and run the TLS handshake when ``ssl_context`` is given (SNI and the
        certificate check use the origin's host). On failure the connection is dropped.

        :raises ConnectError: no TCP connection, or it ended during the handshake.
        :raises ssl.SSLError: the handshake failed (``SSLCertVerificationError``: untrusted).
        """
        try:
            await self._connect()
            if ssl_context is not None:
                await self._run_handshake(TlsClient(ssl_context, self.origin.host))
        except BaseException:
            self.abort()
            raise

    async def _connect(self) -> None:
        try:
            await self._loop.create_connection(lambda: self, self.origin.host, self.origin.port)
        except OSError as exc:
            raise ConnectError from exc

    async def _run_handshake(self, tls: TlsClient) -> None:
        self._tls = tls
        waiter = self._handshake = self._loop.create_future()
        tls.start()
        self._write_raw(tls.data_to_send())
        try:
            await waiter
        finally:
            self._handshake = None

    def _handshake_failed(self, error: Exception) -> None:
        waiter = self._handshake
        self.abort()
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)

    # -- one exchange -------------------------------------------------------------------------

    def start(self, head: h11.Request, body: bytes | None, limit: int) -> asyncio.Future[Answer]:
        """Send the request (``head``, then ``body`` when there is one) and return the future
        of its answer, whose body may hold at most ``limit`` bytes.

        :raises h11.LocalProtocolError: the request does not fit its own framing headers.
        """
        self.reusable = False  # until this exchange ends cleanly (h11 may refuse the request)
        connection = self._h11
        data = connection.send(head) or b""
        if body:
            data += connection.send(h11.Data(data=body)) or b""
        data += connection.send(h11.EndOfMessage()) or b""
        self.answered = False
        self._limit = limit
        waiter: asyncio.Future[Answer] = self._loop.create_future()
        self._waiter = waiter
        if self._transport is None or self._transport.is_closing():
            self._resolve(ServerDisconnected())
        else:
            self._write(data)
        return waiter

    def _take_events(self) -> None:
        """Every event h11 can make of what arrived, until it needs more or the answer ends.

        :raises h11.RemoteProtocolError: a malformed answer, or an event no answer to our
            requests has (h11's ``PAUSED``, ``ConnectionClosed``).
        :raises BodyTooLarge: the body is over the limit.
        """
        connection = self._h11
        while self._waiter is not None:
            event = connection.next_event()
            if event is h11.NEED_DATA:
                return
            handle = _EVENT_HANDLERS.get(type(event))
            if handle is None:
                raise h11.RemoteProtocolError(f"unexpected {type(event).__name__}")
            handle(self, event)

    def _on_informational(self, event: h11.InformationalResponse) -> None:
        """A 1xx answer: the final one follows."""

    def _on_response(self, head: h11.Response) -> None:
        for name, value in head.headers:
            if name == b"content-length" and int(value) > self._limit:
                raise BodyTooLarge
        self._head = head

    def _on_data(self, event: h11.Data) -> None:
        self._body += event.data
        if len(self._body) > self._limit:
            raise BodyTooLarge

    def _on_end(self, event: h11.EndOfMessage) -> None:
        connection = self._h11
        assert self._head is not None
        answer = Answer(self._head, bytes(self._body))
        self._head, self._body = None, bytearray()
        clean = connection.our_state is h11.DONE and connection.their_state is h11.DONE
        if clean and not connection.trailing_data[0] and self._transport is not None:
            connection.start_next_cycle()
            self.reusable = True
        self._resolve(answer)

    def _resolve(self, outcome: Answer | Exception) -> None:
        """Settle the current exchange (once); a failure also ends the connection."""
        waiter, self._waiter = self._waiter, None
        if isinstance(outcome, Exception):
            self.abort()
            if waiter is not None and not waiter.done():
                waiter.set_exception(outcome)
        elif waiter is not None and not waiter.done():
            waiter.set_result(outcome)

    # -- asyncio's callbacks ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def get_buffer(self, sizehint: int) -> bytearray:
        return shared_read_buffer()

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(received_bytes(nbytes))

    def data_received(self, data: bytes) -> None:
        if self._tls is not None:
            data = self._decrypt(data)
            if not data:
                return
        if self._waiter is None:  # idle: nothing is expected from the server now
            self.abort()
            return
        self.answered = True
        try:
            self._h11.receive_data(data)
            self._take_events()
        except Exception as exc:  # h11's RemoteProtocolError, BodyTooLarge
            self._resolve(exc)

    def _decrypt(self, data: bytes) -> bytes:
        """The plaintext ``data`` completes (after the handshake); settles the handshake."""
        tls = self._tls
        assert tls is not None
        try:
            plaintext = tls.receive(data)
        except ssl.SSLError as exc:
            if self._handshake is not None:
                self._handshake_failed(exc)
            else:
                self._resolve(exc)
            return b""
        self._write_raw(tls.data_to_send())
        waiter = self._handshake
        if waiter is not None and tls.handshake_done:
            self._handshake = None
            if not waiter.done():
                waiter.set_result(None)
        return plaintext

    def eof_received(self) -> bool | None:
        return None  # close the transport: connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self.reusable = False
        if self._handshake is not None:
            error = ConnectError("the server closed the connection during the TLS handshake")
            error.__cause__ = exc
            self._handshake_failed(error)
        elif self._waiter is not None:
            self._lost_mid_exchange(exc)
        elif self.on_idle_lost is not None:
            on_idle_lost, self.on_idle_lost = self.on_idle_lost, None
            on_idle_lost(self)

    def _lost_mid_exchange(self, exc: Exception | None) -> None:
        error: Exception
        if not self.answered:
            error = ServerDisconnected()
        elif exc is not None:
            error = ReadError()
        else:
            try:
                self._h11.receive_data(b"")  # the end of stream may end the answer
                self._take_events()
            except Exception as raised:
                error = raised
            else:
                if self._waiter is None:
                    return
                error = h11.RemoteProtocolError("the answer ended early")
        error.__cause__ = exc
        self._resolve(error)

    # -- writing and dropping -----------------------------------------------------------------

    def _write(self, plaintext: bytes) -> None:
        """Write ``plaintext``, encrypted under TLS; a TLS failure ends the exchange."""
        self._write_raw(encrypted(self._tls, plaintext, self._resolve))

    def _write_raw(self, data: bytes) -> None:
        transport = self._transport
        if data and transport is not None and not transport.is_closing():
            transport.write(data)

    def abort(self) -> None:
        """Drop the connection now (no TLS goodbye). Idempotent; never raises."""
        self.reusable = False
        if self._transport is not None:
            self._transport.abort()

    def __repr__(self) -> str:
        scheme, host, port = self.origin
        return f"<HttpConnection {scheme}://{host}:{port} reusable={self.reusable}>"


_EVENT_HANDLERS: dict[type[object], Callable[[HttpConnection, Any], None]] = {
    h11.Data: HttpConnection._on_data,
    h11.Response: HttpConnection._on_response,
    h11.EndOfMessage: HttpConnection._on_end,
    h11.InformationalResponse: HttpConnection._on_informational,
}
"""What each h11 event of an answer does (``_take_events``)."""
