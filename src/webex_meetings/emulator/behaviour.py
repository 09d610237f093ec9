"""How the emulated cloud departs from its default answers: variants, omitted fields, feature
toggles and scheduled websocket closes. The conformance scenarios are built from these.

Theory of operation: :class:`Behaviour` holds the departures the control API switched on;
the service handlers and the Mercury connections read it when they answer. Each name is
declared once, with one line of documentation, in :data:`VARIANTS`, :data:`OMITTABLE` and
:data:`FEATURE_KINDS`, so an unknown name is refused with the valid ones and the
documentation is generated from the same tables.

Scheduled closes are rules for the *next* sockets that become ready (their first frame sent):
each such socket is closed (or cut, for 1006, or sent the ``shutdown`` notice) ``after``
seconds later, so a scenario can say "close the session with 4401 mid-session" without
polling for the moment the client connected.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from .inputs import UnknownNameError

__all__ = ["FEATURE_KINDS", "OMITTABLE", "VARIANTS", "Behaviour", "SessionRule"]

VARIANTS: Final = {
    "mercury.registration_status": (
        "answer the authorization frame with mercury.registration_status instead of "
        "mercury.buffer_state (as for clients sending mercuryRegistrationStatus=true)"
    ),
    "mercury.event_before_buffer_state": (
        "send an event before the buffer_state (the device's queued events, or a new "
        "conversation.activity event); the JS SDK then never resolves connect()"
    ),
    "catalog.host_with_port": (
        "catalog hostCatalog entries name host:port (the JS SDK then builds host:port:port)"
    ),
}
"""Variant name -> what it changes."""

OMITTABLE: Final = {
    "device.url": "the device's url in WDM answers",
    "device.webSocketUrl": "the device's webSocketUrl in WDM answers",
    "catalog.hostCatalog": "hostCatalog in both catalogs",
    "catalog.serviceLinks": "serviceLinks in both catalogs",
    "catalog.wdm": "the wdm service (link and host entry) in the post-auth catalog",
}
"""Field name -> where it is left out."""

FEATURE_KINDS: Final = ("developer", "entitlement", "user")
"""The WDM feature lists a toggle can go in (the JS SDK reads developer toggles such as
web-high-availability and web-shared-mercury)."""


@dataclass(slots=True)
class SessionRule:
    """Close (``code``; 1006 cuts without a close frame) or notify ``shutdown`` the next
    ``remaining`` sockets, ``after`` seconds after they became ready."""

    action: str
    """``close`` or ``shutdown``."""
    after: float
    remaining: int
    code: int = 1000
    reason: str = ""


class Behaviour:
    """The departures in force (see the module docstring)."""

    def __init__(self) -> None:
        self.variants: set[str] = set()
        self.omitted: set[str] = set()
        self.features: dict[tuple[str, str], bool | str] = {}
        self.session_rules: list[SessionRule] = []

    def set_variant(self, name: str, enabled: bool) -> None:
        """:raises UnknownNameError: not a variant."""
        _known("variant", name, VARIANTS)
        (self.variants.add if enabled else self.variants.discard)(name)

    def set_omitted(self, field: str, omitted: bool) -> None:
        """:raises UnknownNameError: not an omittable field."""
        _known("field", field, OMITTABLE)
        (self.omitted.add if omitted else self.omitted.discard)(field)

    def set_feature(self, kind: str, key: str, value: bool | str | None) -> None:
        """Override a feature toggle (``None`` removes the override).

        :raises UnknownNameError: ``kind`` is not a feature list.
        """
        _known("feature kind", kind, FEATURE_KINDS)
        if value is None:
            self.features.pop((kind, key), None)
        else:
            self.features[(kind, key)] = value

    def take_session_rule(self) -> SessionRule | None:
        """The rule for a socket that just became ready, consuming one use of it."""
        if not self.session_rules:
            return None
        rule = self.session_rules[0]
        rule.remaining -= 1
        if rule.remaining <= 0:
            self.session_rules.pop(0)
        return rule

    def clear(self) -> None:
        self.variants.clear()
        self.omitted.clear()
        self.features.clear()
        self.session_rules.clear()

    def snapshot(self) -> dict[str, Any]:
        """The departures in force, as JSON-ready data."""
        return {
            "variants": sorted(self.variants),
            "omitted": sorted(self.omitted),
            "features": [
                {"kind": kind, "key": key, "value": value}
                for (kind, key), value in sorted(self.features.items())
            ],
            "session_rules": [
                {
                    "action": r.action,
                    "after": r.after,
                    "remaining": r.remaining,
                    "code": r.code,
                    "reason": r.reason,
                }
                for r in self.session_rules
            ],
        }


def _known(what: str, name: str, valid: Any) -> None:
    if not isinstance(name, str) or name not in valid:
        raise UnknownNameError(what, str(name), valid)
