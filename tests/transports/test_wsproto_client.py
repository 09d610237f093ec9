"""The sans-IO websocket client: URL parsing, the proxy exchange, the upgrade and framing,
with hypothesis feeding arbitrary bytes (only our documented errors may escape)."""

from __future__ import annotations

import base64
import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from websocket_upgrade import switching_protocols, upgrade_key

from webex_meetings.core.errors import ConfigurationError, HandshakeRejectedError, TransportError
from webex_meetings.transports._wsproto_client import (
    HttpProxy,
    ProxyTunnel,
    WebSocketClientProtocol,
    WebSocketTarget,
)
from webex_meetings.transports.base import WebSocketClosedMessage, WebSocketTextMessage


@pytest.mark.parametrize(
    ("url", "host", "port", "secure", "resource", "host_header"),
    [
        ("ws://h.test", "h.test", 80, False, "/", "h.test"),
        ("wss://h.test/", "h.test", 443, True, "/", "h.test"),
        ("wss://h.test:443/a?b=c", "h.test", 443, True, "/a?b=c", "h.test"),
        ("wss://h.test:8443/a/b?c=d&e", "h.test", 8443, True, "/a/b?c=d&e", "h.test:8443"),
        ("ws://[::1]:9000/x#frag", "::1", 9000, False, "/x", "[::1]:9000"),
        ("ws://[::1]/x", "::1", 80, False, "/x", "[::1]"),
    ],
)
def test_target_from_url(
    url: str, host: str, port: int, secure: bool, resource: str, host_header: str
) -> None:
    target = WebSocketTarget.from_url(url)
    assert (target.host, target.port, target.secure, target.resource) == (
        host,
        port,
        secure,
        resource,
    )
    assert target.host_header == host_header


@given(st.text())
def test_target_parser_raises_only_transport_error(url: str) -> None:
    with contextlib.suppress(TransportError):
        WebSocketTarget.from_url(url)


@given(st.text())
def test_proxy_parser_raises_only_configuration_error(url: str) -> None:
    with contextlib.suppress(ConfigurationError):
        HttpProxy.from_url(url)


def test_proxy_credentials_are_never_shown() -> None:
    proxy = HttpProxy.from_url("http://me:hunter2%21@proxy.test:3128")
    assert (proxy.host, proxy.port) == ("proxy.test", 3128)
    assert proxy.authorization == "Basic " + base64.b64encode(b"me:hunter2!").decode()
    assert "hunter2" not in repr(proxy)


@given(st.lists(st.binary(min_size=1), max_size=5))
def test_proxy_answer_raises_only_transport_error(chunks: list[bytes]) -> None:
    tunnel = ProxyTunnel(HttpProxy("p.test", 8080), WebSocketTarget.from_url("wss://h.test/"))
    assert tunnel.data_to_send().startswith(b"CONNECT h.test:443 HTTP/1.1\r\n")
    try:
        for chunk in chunks:
            if tunnel.receive(chunk):
                break
    except TransportError:
        pass


def _accepted() -> WebSocketClientProtocol:
    protocol = WebSocketClientProtocol(
        WebSocketTarget.from_url("ws://h.test/"), max_message_size=64
    )
    answer = switching_protocols(upgrade_key(protocol.data_to_send()))
    assert protocol.receive(answer + b"\x81\x02hi")  # a frame right behind the 101
    return protocol


def test_frame_arriving_with_the_101_is_kept() -> None:
    protocol = _accepted()
    assert protocol.next_message() == WebSocketTextMessage("hi")
    assert protocol.next_message() is None
    protocol.receive_data(b"")
    assert protocol.next_message() == WebSocketClosedMessage(1006)


@given(st.lists(st.binary(min_size=1), max_size=5))
def test_upgrade_answer_raises_only_our_errors(chunks: list[bytes]) -> None:
    protocol = WebSocketClientProtocol(WebSocketTarget.from_url("ws://h.test/"))
    try:
        for chunk in chunks:
            if protocol.receive(chunk):
                break
    except (TransportError, HandshakeRejectedError):
        pass


@given(st.lists(st.binary(), max_size=8))
def test_arbitrary_frames_never_raise(chunks: list[bytes]) -> None:
    protocol = _accepted()
    for chunk in [*chunks, b""]:
        protocol.receive_data(chunk)
        while (message := protocol.next_message()) is not None:
            assert isinstance(message, WebSocketTextMessage | WebSocketClosedMessage)
            if isinstance(message, WebSocketClosedMessage):
                break
    assert isinstance(protocol.next_message(), WebSocketClosedMessage)
    protocol.data_to_send()


def test_a_ping_after_our_close_is_not_answered() -> None:
    """wsproto sends nothing after our close frame: the ping is read, not answered."""
    protocol = _accepted()
    assert protocol.next_message() == WebSocketTextMessage("hi")
    protocol.close(1000, "bye")
    assert protocol.data_to_send().startswith(b"\x88")
    protocol.receive_data(b"\x89\x00" + b"\x88\x02\x03\xe8")  # a ping, then the close reply
    assert protocol.next_message() == WebSocketClosedMessage(1000)
    assert protocol.data_to_send() == b""
