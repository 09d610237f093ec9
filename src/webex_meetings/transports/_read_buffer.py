"""One receive buffer per thread, shared by every callback-driven connection of that thread.

Why: asyncio's plain :class:`asyncio.Protocol` is fed by ``sock.recv(256 KiB)``, a new
256 KiB object per read that is then shrunk to what arrived. Over thousands of connections
and hours of reads, glibc keeps the freed pieces of its heap, and the process's resident size
grows long after the data is gone (``bench/README.md`` §5). An :class:`asyncio.BufferedProtocol`
names the buffer the socket reads into instead; every connection of a thread can name the
same one, because asyncio calls ``get_buffer``, reads, and calls ``buffer_updated`` in one
step on the loop's thread, and the connection copies out (or parses) what arrived before that
step returns. Per read, nothing is allocated beyond the bytes that arrived.

Usage, in a protocol::

    def get_buffer(self, sizehint: int) -> bytearray:
        return shared_read_buffer()

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(received_bytes(nbytes))

A thread of its own per event loop (the blocking face runs one) gets its own buffer.
"""

from __future__ import annotations

import threading

__all__ = ["READ_BUFFER_SIZE", "received_bytes", "shared_read_buffer"]

READ_BUFFER_SIZE = 64 * 1024
"""Bytes one read may take; a larger arrival is read in several steps."""


class _ThreadBuffer(threading.local):
    """This thread's buffer and a view of it (a view slices without copying)."""

    def __init__(self) -> None:
        self.buffer = bytearray(READ_BUFFER_SIZE)
        self.view = memoryview(self.buffer)


_THREAD_BUFFER = _ThreadBuffer()


def shared_read_buffer() -> bytearray:
    """The calling thread's read buffer: what ``get_buffer`` returns."""
    return _THREAD_BUFFER.buffer


def received_bytes(nbytes: int) -> bytes:
    """A copy of the first ``nbytes`` of the calling thread's buffer: what ``buffer_updated``
    hands on (the buffer is overwritten by the next read)."""
    return _THREAD_BUFFER.view[:nbytes].tobytes()
