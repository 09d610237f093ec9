"""``webex-meetings devices list | prune``: see and clean up the user's WDM devices.

``list`` prints one line per device (``*`` marks this library's own) and a total. ``prune``
prints what it would delete, then asks on the terminal; without a terminal it deletes only with
``--yes`` and otherwise stops with a usage error (exit 2) saying so, so a script never believes
it cleaned up when it did not.
"""

from __future__ import annotations

import argparse
import sys

import anyio

from ..core.credentials import Credentials
from ..device_tools import DeviceTools, WdmDevice, select_for_prune
from .advice import EXIT_OK, EXIT_USAGE
from .options import http_transport, read_token, session_config, transport_options
from .output import Output

__all__ = ["run"]


def _list(devices: list[WdmDevice], out: Output) -> int:
    for d in devices:
        out.line(
            "device",
            f"{'*' if d.ours else ' '} {d.modification_time or '?':<25} "
            f"{d.device_type or '?':<8} {d.name or '?'}  {d.url}",
            url=d.url,
            name=d.name,
            device_type=d.device_type,
            ours=d.ours,
            modification_time=d.modification_time,
        )
    ours = sum(d.ours for d in devices)
    text = f"{len(devices)} devices ({ours} made by webex-meetings, marked *)"
    out.line("total", text, count=len(devices), ours=ours)
    return EXIT_OK


async def _prune(args: argparse.Namespace, tools: DeviceTools, out: Output) -> int:
    chosen = select_for_prune(await tools.list(), name=args.name, older_than=args.older_than)
    if not chosen:
        out.line("pruned", "nothing to prune", deleted=0)
        return EXIT_OK
    for d in chosen:
        out.line("candidate", f"will delete {d.name} {d.url}", url=d.url, name=d.name)
    if not args.yes:
        if not sys.stdin.isatty():
            text = (
                f"nothing deleted: no terminal to ask on; pass --yes to delete these "
                f"{len(chosen)} devices"
            )
            out.line("refused", text, deleted=0)
            return EXIT_USAGE
        if not _confirm(f"Delete these {len(chosen)} devices? [y/N] "):
            out.line("pruned", "nothing deleted", deleted=0)
            return EXIT_OK
    for d in chosen:
        await tools.delete(d)
    out.line("pruned", f"deleted {len(chosen)} devices", deleted=len(chosen))
    return EXIT_OK


def _confirm(prompt: str) -> bool:
    return input(prompt).strip().lower() in ("y", "yes")


async def _devices(args: argparse.Namespace, out: Output) -> int:
    credentials = Credentials(read_token(args))
    config = session_config(args)
    options = transport_options(args, config)
    async with http_transport(options) as http:
        tools = DeviceTools(config, credentials, http)
        if args.action == "list":
            return _list(await tools.list(), out)
        return await _prune(args, tools, out)


def run(args: argparse.Namespace, out: Output) -> int:
    """Run ``devices list`` or ``devices prune``; returns the exit code.

    :raises WebexError: listing or deleting failed (the caller turns it into advice).
    """
    code: int = anyio.run(_devices, args, out)
    return code
