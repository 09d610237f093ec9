"""The emulated Webex services, one module each; :data:`ROUTES` is the whole routing table."""

from __future__ import annotations

from ..routing import Route
from .hydra import ROUTES as HYDRA
from .misc import ROUTES as MISC
from .oauth import ROUTES as OAUTH
from .u2c import ROUTES as U2C
from .wdm import ROUTES as WDM

__all__ = ["ROUTES"]

ROUTES: tuple[Route, ...] = (*U2C, *HYDRA, *OAUTH, *WDM, *MISC)
