"""The live connections of one emulator: every TCP connection, and the Mercury websockets by
id and by device.

The server adds and removes entries as connections come and go (on the event loop's thread);
the control API looks sockets up by device to push events and close them. Every look-up is a
dict access, so nothing costs time in the number of connections except reporting them all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from .mercury import Command, MercuryConnection

__all__ = ["LiveSocket", "Registry"]


class LiveSocket(Protocol):
    """What the registry needs of a running websocket (the I/O session implements it)."""

    @property
    def mercury(self) -> MercuryConnection:
        """The sans-IO connection it runs."""
        ...

    def command(self, command: Command) -> None:
        """Queue a control command; the socket's task performs it (never blocks)."""
        ...

    def drop(self) -> None:
        """Cut the TCP connection without a close frame."""
        ...


class Registry:
    """Live TCP connections and websockets (see the module docstring)."""

    def __init__(self) -> None:
        self._cancellers: dict[int, Callable[[], None]] = {}
        self._sockets: dict[int, LiveSocket] = {}
        self._by_device: dict[str, dict[int, LiveSocket]] = {}

    # -- TCP connections ---------------------------------------------------------------------

    def connection_opened(self, conn_id: int, cancel: Callable[[], None]) -> None:
        self._cancellers[conn_id] = cancel

    def connection_closed(self, conn_id: int) -> None:
        self._cancellers.pop(conn_id, None)

    @property
    def connection_count(self) -> int:
        """Open TCP connections (HTTP and websocket)."""
        return len(self._cancellers)

    def cut_connections(self, *, spare: int | None = None) -> None:
        """Cut every TCP connection but ``spare`` (the caller's own)."""
        for conn_id, cancel in list(self._cancellers.items()):
            if conn_id != spare:
                cancel()

    # -- websockets --------------------------------------------------------------------------

    def add_socket(self, socket: LiveSocket) -> None:
        mercury = socket.mercury
        self._sockets[mercury.id] = socket
        self._by_device.setdefault(mercury.device_id, {})[mercury.id] = socket

    def remove_socket(self, socket: LiveSocket) -> bool:
        """Forget a socket; ``False`` if it was not registered."""
        mercury = socket.mercury
        if self._sockets.pop(mercury.id, None) is None:
            return False
        of_device = self._by_device.get(mercury.device_id, {})
        of_device.pop(mercury.id, None)
        if not of_device:
            self._by_device.pop(mercury.device_id, None)
        return True

    def sockets(self, device_id: str | None = None) -> list[LiveSocket]:
        """The live sockets of one device (or all), oldest first."""
        if device_id is None:
            return list(self._sockets.values())
        return list(self._by_device.get(device_id, {}).values())

    @property
    def socket_count(self) -> int:
        return len(self._sockets)
