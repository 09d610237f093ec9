"""A guard that keeps the test process on loopback: no test may reach a real Webex host.

Installed by ``tests/conftest.py`` for the whole run: name resolution and socket connects to
anything but loopback (127.0.0.0/8, ::1, localhost) fail at once with an ``OSError`` naming
the host, before any packet leaves. asyncio, trio, anyio and httpx all resolve through
``socket.getaddrinfo`` and connect through ``socket.socket``, so one guard covers them all.
(Subprocess clients are pointed at the emulator explicitly; the JS SDK script has its own.)
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

_real_getaddrinfo = socket.getaddrinfo
_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.", ""})


def is_loopback(host: object) -> bool:
    """True for ``None``, loopback names and loopback addresses (v4 and v6)."""
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


class NotLoopbackError(OSError):
    """A test tried to leave the machine."""


def _refuse(host: object) -> NotLoopbackError:
    return NotLoopbackError(f"tests may only reach loopback; refused {host!r}")


def _getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    if not is_loopback(host):
        raise _refuse(host)
    return _real_getaddrinfo(host, *args, **kwargs)


def _target(address: Any) -> object:
    return address[0] if isinstance(address, tuple) and address else None


def _connect(self: socket.socket, address: Any) -> None:
    if self.family in (socket.AF_INET, socket.AF_INET6) and not is_loopback(_target(address)):
        raise _refuse(_target(address))
    _real_connect(self, address)


def _connect_ex(self: socket.socket, address: Any) -> int:
    if self.family in (socket.AF_INET, socket.AF_INET6) and not is_loopback(_target(address)):
        raise _refuse(_target(address))
    return _real_connect_ex(self, address)


def install() -> None:
    """Put the guard in place (idempotent)."""
    socket.getaddrinfo = _getaddrinfo  # type: ignore[assignment]
    socket.socket.connect = _connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _connect_ex  # type: ignore[method-assign]
