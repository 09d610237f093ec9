"""TLS without I/O for a callback-driven connection: ciphertext in, plaintext out.

Theory of operation. :class:`ssl.SSLObject` runs TLS between two :class:`ssl.MemoryBIO`
buffers: what the peer sent is written into the incoming one, and what must go to the peer is
read from the outgoing one. :class:`TlsClient` drives that for
:mod:`.websocket_asyncio`: :meth:`~TlsClient.start` queues the ClientHello,
:meth:`~TlsClient.receive` is fed every received chunk (it advances the handshake, then returns
the plaintext now readable), :meth:`~TlsClient.encrypt` returns the records of a plaintext,
and :meth:`~TlsClient.data_to_send` is what to write after the others. Both connections over
it write through :func:`encrypted`, each routing a TLS failure its own way.

Why not asyncio's own ``loop.start_tls``: its SSL protocol keeps a 256 KiB read buffer per
connection (CPython 3.11 and later), more than everything else a registered session holds.
Here plaintext is read one record (at most 16 KiB) at a time and nothing stays allocated
between chunks.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable

__all__ = ["TlsClient", "encrypted"]

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
        """True once the handshake completed: :meth:`encrypt` may be used."""

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

    def encrypt(self, plaintext: bytes) -> bytes:
        """The records that carry ``plaintext`` (after the handshake), with any ciphertext
        still owed to the peer ahead of them: all there is to write."""
        self._object.write(plaintext)
        return self._outgoing.read()

    def _handshake(self) -> bool:
        try:
            self._object.do_handshake()
        except ssl.SSLWantReadError:
            return False
        self.handshake_done = True
        return True


def encrypted(
    tls: TlsClient | None, plaintext: bytes, failed: Callable[[ssl.SSLError], None]
) -> bytes:
    """What to write for ``plaintext``: itself without ``tls``, else the records that carry
    it. When TLS fails, ``failed`` is told and nothing is left to write (``b""``)."""
    if tls is None:
        return plaintext
    try:
        return tls.encrypt(plaintext)
    except ssl.SSLError as exc:
        failed(exc)
        return b""
