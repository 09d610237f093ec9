"""pytest plugin (``pytest11`` entry point) giving tests a running Webex cloud emulator."""

from __future__ import annotations
