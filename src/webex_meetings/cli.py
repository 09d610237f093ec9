"""The ``webex-meetings`` command line: the parser, and ``main`` turning failures into advice.

Subcommands: ``demo`` (the main job: the embedded emulator plus a full lifecycle run),
``register`` (stay registered, printing what happens, until Ctrl-C), ``devices list|prune``,
``emulator`` (serve the emulator standalone), ``conformance`` (run a client through the hard
cases and judge it) and ``spec`` (the lifecycle table or diagram).
The commands live in :mod:`webex_meetings.commands`; everything they print goes through
:mod:`webex_meetings.commands.output`. Also runs as ``python -m webex_meetings``.

Exit codes (also in ``--help``): 0 success; 1 a demo check failed or an unexpected error;
2 usage or configuration error; 3 the token was refused or is missing; 4 the cloud could not
be reached (network, TLS, proxy, rate limit); 5 Webex refused the device; 6 the server broke
the protocol; 7 Mercury closed the connection for good; 130 interrupted; 141 the reader of the
output went away.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from typing import Any, Final

import anyio

from . import __version__
from .commands.advice import (
    EXIT_CODES,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    MissingTokenError,
    advice,
    root_cause,
)
from .commands.conformance import add_arguments as add_conformance_arguments
from .commands.options import add_cloud_options, add_jwt_option, bounded_int, parse_duration
from .commands.output import LogHandler, Output, report_error
from .emulator.command import add_arguments as add_emulator_arguments

__all__ = ["EXIT_CODES", "MissingTokenError", "advice", "build_parser", "main"]

VERBOSITY_HELP: Final = (
    "-v: each request and step, and the library's info log; -vv: the library's debug log "
    "(its decisions: retries, closes, reconnects); -vvv: also the driver's trace of every "
    "input and effect. Secrets are redacted."
)
MAX_DEMO_EVENTS: Final = 1000


def _output(args: argparse.Namespace) -> Output:
    """The run's stdout, text or JSON lines as ``--json`` asks."""
    return Output(sys.stdout, json_lines=bool(getattr(args, "json", False)))


# -- demo, register, devices ----------------------------------------------------------------


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    output = _output(args)

    async def run() -> bool:
        report = await run_demo(events=args.events, output=output)
        return report.ok

    ok = anyio.run(run, backend=args.backend)
    return EXIT_OK if ok else EXIT_FAILED


def _cmd_register(args: argparse.Namespace) -> int:
    from .commands import register

    return register.run(args, _output(args))


def _cmd_devices(args: argparse.Namespace) -> int:
    from .commands import devices

    return devices.run(args, _output(args))


# -- emulator and spec ------------------------------------------------------------------------


def _cmd_emulator(args: argparse.Namespace) -> int:
    from .emulator.command import run

    return run(args)


def _cmd_conformance(args: argparse.Namespace) -> int:
    from .commands.conformance import run

    return run(args)


def _cmd_spec(args: argparse.Namespace) -> int:
    from .core import lifecycle
    from .specs_export import lifecycle_markdown

    if args.format == "mermaid":
        sys.stdout.write(lifecycle.mermaid_diagram())
    elif args.format == "json":
        sys.stdout.write(json.dumps(lifecycle.spec_document(), indent=2) + "\n")
    else:
        sys.stdout.write(lifecycle_markdown())
    return EXIT_OK


# -- the parser --------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """Every parser of the command line refuses abbreviated options: ``--token X`` is an
    error, never ``--token-file X``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)


class _SubcommandParser(_Parser):
    """A subcommand's parser: also takes ``-v`` after the subcommand (``register -v``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_argument(
            "-v",
            "--verbose",
            dest="subcommand_verbose",
            action="count",
            default=0,
            help="more detail, as before the subcommand (-v, -vv, -vvv)",
        )


def build_parser() -> argparse.ArgumentParser:
    """The ``webex-meetings`` parser; every numeric and URL option is validated by it."""
    codes = "\n".join(f"  {code:>3}  {meaning}" for code, meaning in EXIT_CODES.items())
    parser = _Parser(
        prog="webex-meetings",
        description="Webex device registration and Mercury events, with a cloud emulator.",
        epilog=f"exit codes:\n{codes}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"webex-meetings {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help=VERBOSITY_HELP)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_SubcommandParser)

    demo = sub.add_parser("demo", help="run the whole lifecycle against the embedded emulator")
    demo.add_argument("--json", action="store_true", help="JSON lines instead of text")
    demo.add_argument(
        "--events",
        type=bounded_int(0, MAX_DEMO_EVENTS),
        default=3,
        help=f"Mercury events to push, 0 to {MAX_DEMO_EVENTS} (default 3)",
    )
    demo.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")
    demo.set_defaults(func=_cmd_demo)

    register = sub.add_parser(
        "register",
        help="register and print what happens until Ctrl-C (the first rolls back or "
        "unregisters, a second stops waiting)",
    )
    add_cloud_options(register)
    add_jwt_option(register)
    register.set_defaults(func=_cmd_register)

    devices = sub.add_parser("devices", help="list or prune the user's WDM devices")
    devices.add_argument("action", choices=("list", "prune"))
    add_cloud_options(devices)
    devices.add_argument("--name", help="prune: devices with this name (any client's)")
    devices.add_argument(
        "--older-than",
        type=parse_duration,
        metavar="DURATION",
        help="prune: only devices not modified for this long (15m, 12h, 7d)",
    )
    devices.add_argument(
        "--yes", action="store_true", help="prune: do not ask (needed without a terminal)"
    )
    devices.set_defaults(func=_cmd_devices)

    emulator = sub.add_parser("emulator", help="serve the Webex cloud emulator")
    add_emulator_arguments(emulator)
    emulator.set_defaults(func=_cmd_emulator)

    conformance = sub.add_parser(
        "conformance", help="run a client through the cloud's hard cases and judge each run"
    )
    add_conformance_arguments(conformance)
    conformance.set_defaults(func=_cmd_conformance)

    spec = sub.add_parser("spec", help="print the lifecycle table or diagram")
    spec.add_argument("--format", choices=("table", "mermaid", "json"), default="table")
    spec.set_defaults(func=_cmd_spec)
    return parser


_QUIET_AT: Final[dict[int, dict[str, int]]] = {
    2: {"webex_meetings.adapters.driver": logging.INFO},
}
"""Loggers held back at a verbosity: at -vv the driver's per-input trace would flood the
library's decisions; -vvv lets it through."""


def _configure_logging(verbosity: int) -> None:
    """Library log records on stderr: warnings by default, more with ``-v``/``-vv``/``-vvv``."""
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    logger = logging.getLogger("webex_meetings")
    logger.handlers[:] = [LogHandler()]
    logger.setLevel(level)
    logger.propagate = False
    for name in ("webex_meetings.adapters.driver",):
        logging.getLogger(name).setLevel(_QUIET_AT.get(verbosity, {}).get(name, logging.NOTSET))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = build_parser().parse_args(argv)
    args.verbose += args.subcommand_verbose
    _configure_logging(args.verbose)
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BaseException as error:  # every failure becomes advice and an exit code
        if isinstance(error, (SystemExit, GeneratorExit)):
            raise
        cause = root_cause(error)
        if isinstance(cause, KeyboardInterrupt):
            return EXIT_INTERRUPTED
        code, message = advice(cause)
        report_error(message, exit_code=code, error=cause, output=_output(args))
    return code


if __name__ == "__main__":
    sys.exit(main())
