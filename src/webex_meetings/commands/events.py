"""How the library's events read as output lines: one table, shared by every command.

Each event becomes a kind (``state``, ``event``, ``network``, ``reconnect``, ``lifecycle``), a
text with everything the event carries (close codes and reasons, attempts, errors and retry
delays) and the same details as fields; every line's fields name the event.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from ..core.events import (
    ConnectionFailed,
    Event,
    MeetingsRegistered,
    MercuryEvent,
    NetworkConnected,
    NetworkDisconnected,
    StateChanged,
    TokenRefreshed,
)

__all__ = ["Line", "describe_event"]

Line = tuple[str, str, dict[str, Any]]
"""A line to print: kind, text, fields."""


def _state_changed(event: StateChanged) -> Line:
    fields = {"source": event.source, "dest": event.dest, "trigger": event.trigger}
    return "state", f"{event.source} -> {event.dest} ({event.trigger})", fields


def _mercury_event(event: MercuryEvent) -> Line:
    fields = {"id": event.id, "event_type": event.event_type, "data": event.data}
    return "event", f"{event.event_type} id={event.id}", fields


def _disconnected(event: NetworkDisconnected) -> Line:
    then = "reconnecting" if event.will_reconnect else "not reconnecting"
    text = f"{event.name}: Mercury closed with {event.code} {event.reason!r}; {then}"
    fields = {"code": event.code, "reason": event.reason, "will_reconnect": event.will_reconnect}
    return "network", text, fields


def _connected(event: NetworkConnected) -> Line:
    return "network", f"{event.name}: Mercury is online again", {}


def _connection_failed(event: ConnectionFailed) -> Line:
    then = "giving up" if event.retry_in is None else f"retrying in {event.retry_in:.1f} s"
    text = f"Mercury connection attempt {event.attempt} failed: {event.error}; {then}"
    fields = {"attempt": event.attempt, "error": event.error, "retry_in": event.retry_in}
    return "reconnect", text, fields


def _registered(event: MeetingsRegistered) -> Line:
    return "lifecycle", f"{event.name}: device {event.device.url}", {"device_url": event.device.url}


def _token_refreshed(event: TokenRefreshed) -> Line:
    life = "" if event.expires_in is None else f" (valid for {event.expires_in:.0f} s)"
    return "lifecycle", f"{event.name}: a new access token{life}", {"expires_in": event.expires_in}


_DESCRIBE: Final[dict[type[Event], Callable[[Any], Line]]] = {
    StateChanged: _state_changed,
    MercuryEvent: _mercury_event,
    NetworkDisconnected: _disconnected,
    NetworkConnected: _connected,
    ConnectionFailed: _connection_failed,
    MeetingsRegistered: _registered,
    TokenRefreshed: _token_refreshed,
}


def describe_event(event: Event) -> Line:
    """The line for one library event; every line's fields also name the event."""
    describe = _DESCRIBE.get(type(event))
    kind, text, fields = describe(event) if describe else ("lifecycle", event.name, {})
    return kind, text, {"event": event.name, **fields}
