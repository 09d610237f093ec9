"""The websocket client without I/O: what to send, and what the received bytes mean.

Theory of operation. Opening a websocket is at most two request/answer exchanges on one byte
stream, each a small parser with the same shape (:class:`Exchange`): ``data_to_send()`` gives
the request bytes, ``receive(data)`` is fed what arrives until it returns ``True``.

1. :class:`ProxyTunnel` (only with an HTTP proxy): ``CONNECT host:port``, parsed with h11.
2. :class:`WebSocketClientProtocol`: the upgrade request (wsproto builds it: ``Host`` with the
   port when it is not the scheme's default, the URL's path and query, no subprotocol, no
   extension, no other header), then the 101 answer, or a refusal raised as
   :class:`~webex_meetings.core.errors.HandshakeRejectedError`.

After the upgrade the same :class:`WebSocketClientProtocol` turns received bytes into
:data:`~webex_meetings.transports.base.WebSocketMessage` values (:meth:`next_message`); small
text frames, most of a Mercury connection's, are read and written by :mod:`._frames` without
wsproto, which reads every other frame (see there how its state stays what it was): text
fragments are joined, binary messages decoded as UTF-8, pings answered, a close frame answered
and reported, end of stream reported as 1006. A message we refuse fails the connection as a
browser does: a message over ``max_message_size`` is closed with 1009, invalid UTF-8 with 1007,
a broken frame (a 2^63-byte length, say) with 1002, and each is reported as 1006 with a reason
saying we closed it and why ("closed by us with 1009: message too big"): the peer sent no close
frame, and to the session it is a lost connection (reconnect with backoff), not a verdict of
the server. Every answer it owes the peer (pong, close reply) is appended to one
outbox, drained by the stream owner in order, so frames never interleave.

Nothing here touches a socket or a clock; the I/O lives in :mod:`._websocket_stream`.
"""

from __future__ import annotations

import base64
import codecs
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import unquote, urlsplit

import h11
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    RejectConnection,
    Request,
    TextMessage,
)
from wsproto.utilities import LocalProtocolError as WsprotoLocalError
from wsproto.utilities import RemoteProtocolError as WsprotoRemoteError

from ..core.errors import ConfigurationError, HandshakeRejectedError, TransportError
from ..core.http import parse_retry_after
from ._frames import FrameSplitter, encode_text
from .base import WebSocketClosedMessage, WebSocketMessage, WebSocketTextMessage

__all__ = [
    "DEFAULT_MAX_MESSAGE_SIZE",
    "Exchange",
    "HttpProxy",
    "ProxyTunnel",
    "WebSocketClientProtocol",
    "WebSocketTarget",
]

DEFAULT_MAX_MESSAGE_SIZE = 4 * 1024 * 1024
"""Bytes one received message may hold before the connection is closed with 1009."""

MAX_HANDSHAKE_SIZE = 64 * 1024
"""Bytes the answer to ``CONNECT`` or to the upgrade may hold (status line and headers)."""

ABNORMAL_CLOSURE = 1006
INVALID_PAYLOAD = 1007
MESSAGE_TOO_BIG = 1009

_SCHEMES = {"ws": (80, False), "wss": (443, True)}

SMALL_FRAME = 0xFFFF
"""The largest received text frame read by :mod:`._frames` rather than wsproto."""

_BLANK_LINE = re.compile(b"\n\r?\n")
"""The end of an HTTP head, as h11 finds it."""


def _host_port(url: str, default_ports: dict[str, tuple[int, bool]]) -> tuple[str, int, bool]:
    """``(host, port, secure)`` of ``url``, or ``ValueError`` when it cannot be used."""
    parts = urlsplit(url)
    if parts.scheme not in default_ports or not parts.hostname:
        raise ValueError(parts.scheme)
    default_port, secure = default_ports[parts.scheme]
    return parts.hostname, parts.port or default_port, secure


@dataclass(frozen=True, slots=True)
class WebSocketTarget:
    """Where a ``ws://`` or ``wss://`` URL points: host, port, TLS or not, and resource."""

    host: str
    port: int
    secure: bool
    resource: str
    """Path and query, as sent in the request line."""

    @classmethod
    def from_url(cls, url: str) -> WebSocketTarget:
        """Parse ``url``.

        :raises TransportError: not a ``ws://`` or ``wss://`` URL with a host.
        """
        try:
            host, port, secure = _host_port(url, _SCHEMES)
        except ValueError:
            raise TransportError("not a ws:// or wss:// URL") from None
        parts = urlsplit(url)
        resource = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return cls(host=host, port=port, secure=secure, resource=resource)

    @property
    def authority(self) -> str:
        """``host:port`` as in a ``CONNECT`` request line (IPv6 in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def host_header(self) -> str:
        """The ``Host`` header: the port only when it is not the scheme's default."""
        default_port = 443 if self.secure else 80
        if self.port == default_port:
            return f"[{self.host}]" if ":" in self.host else self.host
        return self.authority

    @property
    def origin(self) -> str:
        """``wss://host:port``, for messages."""
        return f"{'wss' if self.secure else 'ws'}://{self.authority}"


@dataclass(frozen=True, slots=True)
class HttpProxy:
    """An HTTP proxy reached with ``CONNECT``: ``http://[user:password@]host:port``."""

    host: str
    port: int
    authorization: str | None = field(default=None, repr=False)
    """The ``Proxy-Authorization`` value when the URL carries credentials."""

    @classmethod
    def from_url(cls, url: str) -> HttpProxy:
        """Parse ``url``.

        :raises ConfigurationError: not an ``http://host[:port]`` URL.
        """
        try:
            host, port, _ = _host_port(url, {"http": (80, False)})
        except ValueError:
            raise ConfigurationError("the proxy must be an http://host:port URL") from None
        parts = urlsplit(url)
        if parts.username is None:
            return cls(host=host, port=port)
        userinfo = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        basic = base64.b64encode(userinfo.encode("utf-8")).decode("ascii")
        return cls(host=host, port=port, authorization=f"Basic {basic}")


class Exchange(Protocol):
    """One request and its answer on a byte stream, without I/O."""

    def data_to_send(self) -> bytes:
        """Bytes owed to the peer, in order; empty when there are none."""
        ...

    def receive(self, data: bytes) -> bool:
        """Feed received bytes (``b""`` at end of stream); ``True`` once the answer is in.

        :raises TransportError: the answer is a refusal or not understood.
        """
        ...


class ProxyTunnel:
    """``CONNECT`` through an HTTP proxy: :class:`Exchange` for the tunnel to ``target``."""

    def __init__(self, proxy: HttpProxy, target: WebSocketTarget) -> None:
        self._h11 = h11.Connection(h11.CLIENT)
        headers = [("Host", target.authority)]
        if proxy.authorization is not None:
            headers.append(("Proxy-Authorization", proxy.authorization))
        request = h11.Request(method="CONNECT", target=target.authority, headers=headers)
        self._outbox = self._h11.send(request) + (self._h11.send(h11.EndOfMessage()) or b"")

    def data_to_send(self) -> bytes:
        data, self._outbox = self._outbox, b""
        return data

    def receive(self, data: bytes) -> bool:
        if not data:
            raise TransportError("the proxy closed the connection before answering CONNECT")
        self._h11.receive_data(data)
        try:
            event = self._h11.next_event()
        except h11.ProtocolError:
            raise TransportError("the proxy's answer to CONNECT is not HTTP") from None
        if event is h11.NEED_DATA:
            return False
        if isinstance(event, h11.Response) and 200 <= event.status_code < 300:
            return True
        status = getattr(event, "status_code", "no status")
        raise TransportError(f"the proxy refused the tunnel (HTTP {status})")


class WebSocketClientProtocol:
    """The client side of one websocket: :class:`Exchange` for the upgrade, then messages.

    :param max_message_size: bytes a received message may hold; more closes with 1009.
    """

    def __init__(
        self, target: WebSocketTarget, *, max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    ) -> None:
        self._ws = WSConnection(ConnectionType.CLIENT)
        self._max_message_size = max_message_size
        self._outbox = bytearray(
            self._ws.send(Request(host=target.host_header, target=target.resource))
        )
        self._fragments: list[str] = []
        self._size = 0
        self._binary = codecs.getincrementaldecoder("utf-8")("strict")
        self._closed: WebSocketClosedMessage | None = None
        self._frames = FrameSplitter(min(max_message_size, SMALL_FRAME))
        self._head_tail = b""
        """The last bytes of the upgrade answer fed so far (a blank line may span reads)."""
        self._wsproto_fed = True
        """wsproto may have events to give (it got bytes since it last had none)."""

    # -- the upgrade -----------------------------------------------------------------------

    @property
    def has_data_to_send(self) -> bool:
        """True when :meth:`data_to_send` would return bytes."""
        return bool(self._outbox)

    def data_to_send(self) -> bytes:
        data = bytes(self._outbox)
        self._outbox.clear()
        return data

    def receive(self, data: bytes) -> bool:
        """Feed the upgrade answer; ``True`` once the websocket is open.

        :raises HandshakeRejectedError: the server answered with another status than 101.
        :raises TransportError: the stream ended or the answer is not a valid upgrade.
        """
        if not data:
            raise TransportError("the server closed the connection during the websocket upgrade")
        end = self._head_end(data)
        head, frames = (data, b"") if end is None else (data[:end], data[end:])
        try:
            if self._upgrade_answered(head):
                if end is None:  # h11 found an end we did not: wsproto may hold frames
                    self._frames.hand_over_all()
                self._frames.feed(frames)
                return True
            if not frames:
                return False
            self._frames.hand_over_all()  # not the answer's end after all: all wsproto's
            return self._upgrade_answered(frames)
        except (WsprotoLocalError, WsprotoRemoteError):
            raise TransportError("the server's websocket upgrade answer is invalid") from None

    def _head_end(self, data: bytes) -> int | None:
        """Where in ``data`` the answer's head ends (after its first blank line), if it does;
        the first frames may follow in the same read."""
        tail = self._head_tail
        for match in _BLANK_LINE.finditer(tail + data):
            if match.end() > len(tail):
                return match.end() - len(tail)
        self._head_tail = (tail + data)[-2:]
        return None

    def _upgrade_answered(self, data: bytes) -> bool:
        self._ws.receive_data(data)
        for event in self._ws.events():
            if isinstance(event, AcceptConnection):
                return True
            if isinstance(event, RejectConnection):
                raise _rejection(event)
        return False

    # -- messages --------------------------------------------------------------------------

    @property
    def closed(self) -> WebSocketClosedMessage | None:
        """How the connection ended, once it has."""
        return self._closed

    def receive_data(self, data: bytes) -> None:
        """Feed bytes received after the upgrade; ``b""`` means the stream ended."""
        if self._closed is not None or self._ws.state is ConnectionState.CLOSED:
            return
        if data:
            self._frames.feed(data)
            return
        self._to_wsproto(self._frames.hand_over_all())
        self._ws.receive_data(None)
        self._wsproto_fed = True

    def next_message(self) -> WebSocketMessage | None:
        """The next complete message, or ``None`` when more bytes are needed.

        Once closed, the :class:`WebSocketClosedMessage` again and again. Small text frames
        are read by :mod:`._frames`, everything else by wsproto, in the order received.
        """
        if self._closed is not None:
            return self._closed
        while True:
            if self._wsproto_fed:
                for event in self._ws.events():
                    handler = _EVENT_HANDLERS.get(type(event))
                    message = handler(self, event) if handler is not None else None
                    if message is not None:
                        return message
                self._wsproto_fed = False
            if self._ws.state is ConnectionState.OPEN:
                item = self._frames.next_item()
            else:  # closing: wsproto reads the rest (and says when it is over)
                item = self._frames.hand_over_all() or None
            if item is None or isinstance(item, str):
                return None if item is None else WebSocketTextMessage(item)
            self._to_wsproto(item)

    def _to_wsproto(self, data: bytes) -> None:
        """Bytes for wsproto, unless it has closed (then it would read nothing more)."""
        if data and self._ws.state is not ConnectionState.CLOSED:
            self._ws.receive_data(data)
            self._wsproto_fed = True

    def send_text(self, text: str) -> None:
        """Queue one text message.

        :raises TransportError: the connection is closing or closed.
        """
        if self._closed is not None or self._ws.state is not ConnectionState.OPEN:
            raise TransportError("the websocket is closed")
        self._outbox += encode_text(text)

    def close(self, code: int, reason: str) -> None:
        """Queue a close frame, unless one was sent or the connection is closed."""
        if self._closed is None and self._ws.state is ConnectionState.OPEN:
            self._outbox += self._ws.send(CloseConnection(code=code, reason=reason))

    def abort(self) -> WebSocketClosedMessage:
        """The stream is gone: closed with 1006 unless already closed."""
        if self._closed is None:
            self._closed = WebSocketClosedMessage(ABNORMAL_CLOSURE)
        return self._closed

    # -- event handlers: each returns the message to report, or None --------------------------

    def _on_text(self, event: Event) -> WebSocketMessage | None:
        assert isinstance(event, TextMessage)
        return self._add_fragment(event.data, _utf8_size(event.data, self._room()), event)

    def _on_bytes(self, event: Event) -> WebSocketMessage | None:
        assert isinstance(event, BytesMessage)
        try:
            text = self._binary.decode(event.data, final=event.message_finished)
        except UnicodeDecodeError:
            return self._fail(INVALID_PAYLOAD, "binary message is not UTF-8")
        return self._add_fragment(text, len(event.data), event)

    def _room(self) -> int:
        return self._max_message_size - self._size

    def _add_fragment(
        self, text: str, size: int, event: TextMessage | BytesMessage
    ) -> WebSocketMessage | None:
        self._size += size
        if self._size > self._max_message_size:
            return self._fail(MESSAGE_TOO_BIG, "message too big")
        self._fragments.append(text)
        if not event.message_finished:
            return None
        message = WebSocketTextMessage("".join(self._fragments))
        self._fragments.clear()
        self._size = 0
        return message

    def _on_ping(self, event: Event) -> None:
        assert isinstance(event, Ping)
        if self._ws.state is ConnectionState.OPEN:  # after our close frame, no pong
            self._outbox += self._ws.send(event.response())

    def _on_close(self, event: Event) -> WebSocketMessage:
        assert isinstance(event, CloseConnection)
        if self._ws.state is ConnectionState.REMOTE_CLOSING:
            self._outbox += self._ws.send(event.response())
        elif self._ws.state is ConnectionState.OPEN:  # wsproto could not parse a frame
            return self._fail(int(event.code), event.reason or "invalid frame")
        self._closed = WebSocketClosedMessage(int(event.code), event.reason or "")
        return self._closed

    def _fail(self, code: int, reason: str) -> WebSocketClosedMessage:
        """Fail the connection: our close frame goes out, the session sees a lost one."""
        self.close(code, reason)
        self._fragments.clear()
        self._closed = WebSocketClosedMessage(
            ABNORMAL_CLOSURE, f"closed by us with {code}: {reason}"
        )
        return self._closed


def _utf8_size(text: str, room: int) -> int:
    """The UTF-8 size of ``text``, exactly when it could matter: a text whose worst case
    (4 bytes a character) still fits in ``room`` counts as its length, skipping the copy."""
    return len(text) if len(text) * 4 <= room else len(text.encode("utf-8"))


_EVENT_HANDLERS: dict[
    type[Event], Callable[[WebSocketClientProtocol, Event], WebSocketMessage | None]
] = {
    TextMessage: WebSocketClientProtocol._on_text,
    BytesMessage: WebSocketClientProtocol._on_bytes,
    Ping: WebSocketClientProtocol._on_ping,
    CloseConnection: WebSocketClientProtocol._on_close,
}
"""What each wsproto event means; Pong and anything else is ignored."""


def _rejection(event: RejectConnection) -> HandshakeRejectedError:
    retry_after = None
    for name, value in event.headers:
        if name.lower() == b"retry-after":
            retry_after = parse_retry_after(value.decode("latin-1"))
    return HandshakeRejectedError(event.status_code, retry_after=retry_after)
