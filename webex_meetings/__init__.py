"""webex-meetings: Webex device registration and Mercury events for asyncio, trio and
blocking Python, with a faithful Webex cloud emulator for tests.

The packages under this name are ``core`` (sans-IO protocol and lifecycle), ``transports``
(byte movers), ``adapters`` (drivers for asyncio/trio/blocking code) and ``emulator``.
"""

from __future__ import annotations

from .core.config import VERSION

__version__ = VERSION
__all__ = ["__version__"]
