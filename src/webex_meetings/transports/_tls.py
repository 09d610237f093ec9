"""TLS without I/O for a callback-driven connection: ciphertext in, plaintext out.

Theory of operation. :class:`ssl.SSLObject` runs TLS between two :class:`ssl.MemoryBIO`
buffers: what the peer sent is written into the incoming one, and what must go to the peer is
read from the outgoing one. :class:`TlsClient` drives that for
:mod:`.websocket_asyncio`: :meth:`~TlsClient.start` queues the ClientHello,
:meth:`~TlsClient.receive` is fed every received chunk (it advances the handshake, then returns
the plaintext now readable), :meth:`~TlsClient.send` encrypts, and
:meth:`~TlsClient.data_to_send` is what to write, after each of those calls.

Why not asyncio's own ``loop.start_tls``: its SSL protocol keeps a 256 KiB read buffer per
connection (CPython 3.11 and later), more than everything else a registered session holds.
Here plaintext is read one record (at most 16 KiB) at a time and nothing stays allocated
between chunks.
"""

from __future__ import annotations

import ssl

__all__ = ["TlsClient"]

RECORD_SIZE = 16 * 1024
"""The largest plaintext one TLS record carries: what one read asks for."""


class TlsClient:
    """The client side of one TLS connection over memory buffers (see the module docstring).

    Its methods raise :class:`ssl.SSLError` (:class:`ssl.SSLCertVerificationError` for an
    untrusted certificate) when the handshake or a record fails.
    """

    __slots__ = ("_incoming", "_object", "_outgoing", "handshake_done")

    def __init__(self, context: ssl.SSLContext, hostname: str) -> None:
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._object = context.wrap_bio(
            self._incoming, self._outgoing, server_side=False, server_hostname=hostname
        )
        self.handshake_done = False
        """True once the handshake completed: :meth:`send` may be used."""

    def start(self) -> None:
        """Begin the handshake (the ClientHello goes to :meth:`data_to_send`)."""
        self._handshake()

    def data_to_send(self) -> bytes:
        """Ciphertext owed to the peer; empty when there is none."""
        return self._outgoing.read()

    def receive(self, data: bytes) -> bytes:
        """Feed received ciphertext; return the plaintext it completes (empty while the
        handshake runs, or when a record is still partial)."""
        self._incoming.write(data)
        if not self.handshake_done and not self._handshake():
            return b""
        chunks: list[bytes] = []
        while True:
            try:
                chunk = self._object.read(RECORD_SIZE)
            except (ssl.SSLWantReadError, ssl.SSLZeroReturnError):
                break
            if not chunk:
                break
            chunks.append(chunk)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def send(self, plaintext: bytes) -> None:
        """Encrypt ``plaintext`` (after the handshake); the records go to :meth:`data_to_send`."""
        self._object.write(plaintext)

    def _handshake(self) -> bool:
        try:
            self._object.do_handshake()
        except ssl.SSLWantReadError:
            return False
        self.handshake_done = True
        return True
