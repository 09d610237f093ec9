"""The emulated Webex services, one module each; :data:`ROUTES` is the whole routing table.

Route names are what faults and latency target: :data:`FAULT_ROUTES` (every HTTP route, the
websocket upgrade ``mercury.connect`` and the frames that can be withheld) and
:data:`LATENCY_ROUTES` (those and every frame the emulator sends). :func:`route_reference`
describes each one, for the documentation.
"""

from __future__ import annotations

from typing import Final

from ..layout import MERCURY_MESSAGES_PATH
from ..mercury import FRAME_ROUTES, UPGRADE_ROUTE, WITHHOLDABLE_FRAMES
from ..routing import Route
from .hydra import ROUTES as HYDRA
from .misc import ROUTES as MISC
from .oauth import ROUTES as OAUTH
from .u2c import ROUTES as U2C
from .wdm import ROUTES as WDM

__all__ = ["FAULT_ROUTES", "LATENCY_ROUTES", "ROUTES", "route_reference"]

ROUTES: tuple[Route, ...] = (*U2C, *HYDRA, *OAUTH, *WDM, *MISC)

FAULT_ROUTES: Final = (*(r.name for r in ROUTES), UPGRADE_ROUTE, *WITHHOLDABLE_FRAMES)
LATENCY_ROUTES: Final = tuple(dict.fromkeys((*FAULT_ROUTES, *FRAME_ROUTES)))


def _readable(pattern: str) -> str:
    """A route's regex as a path a person reads (``(?P<device_id>...)`` -> ``<device_id>``)."""
    text = pattern
    while "(?P<" in text:
        start = text.index("(?P<")
        name_end = text.index(">", start)
        depth, end = 0, start
        for end in range(start, len(text)):
            depth += {"(": 1, ")": -1}.get(text[end], 0)
            if depth == 0:
                break
        text = text[:start] + "<" + text[start + 4 : name_end] + ">" + text[end + 1 :]
    return text.replace("(?:", "(").replace("\\", "")


def route_reference() -> list[tuple[str, str]]:
    """Every route name with what it is: ``(name, "METHOD /path")`` or a frame's description."""
    rows = [(r.name, f"{r.method} {_readable(r.pattern.pattern)}") for r in ROUTES]
    upgrade = MERCURY_MESSAGES_PATH.replace("{device_id}", "<device_id>")
    rows.append((UPGRADE_ROUTE, f"GET {upgrade} (websocket upgrade)"))
    rows.extend(FRAME_ROUTES.items())
    return rows
