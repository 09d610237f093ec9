"""Drivers that pump the sans-IO core: anyio (asyncio and trio), native trio, blocking."""

from __future__ import annotations

from .anyio_runtime import ANYIO
from .driver import CommandTicket, Driver, Session
from .listeners import AsyncEventStream, EventBuffer, Listeners
from .runtime import Runtime, TransportOptions
from .trio_runtime import TRIO

__all__ = [
    "ANYIO",
    "TRIO",
    "AsyncEventStream",
    "CommandTicket",
    "Driver",
    "EventBuffer",
    "Listeners",
    "Runtime",
    "Session",
    "TransportOptions",
]
