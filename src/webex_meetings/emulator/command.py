"""``webex-meetings emulator``: the emulator's command-line options and its run function.

The CLI module owns the ``webex-meetings`` parser and delegates this subcommand here:
:func:`add_arguments` fills the subcommand's parser (options, description, and the whole admin
API and route-name reference as its ``--help`` epilog), :func:`run` serves until Ctrl-C and
returns the exit code.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from .behaviour import OMITTABLE, VARIANTS
from .limits import Limits, raise_descriptor_limit

if TYPE_CHECKING:
    from .emulator import Emulator

__all__ = ["add_arguments", "run"]

log = logging.getLogger(__name__)

EXIT_OK: Final = 0
EXIT_USAGE: Final = 2

DESCRIPTION: Final = """\
Serve the Webex cloud emulator (U2C, hydra, OAuth, WDM, Mercury) on one base URL, until
Ctrl-C. Point any client at it (STUB_BASE for the JS SDK's interop script, --cloud for
`webex-meetings register`); steer it with the JSON admin API under /_emulator/ (below).
Every URL it hands out names the host the client used (localhost or 127.0.0.1)."""


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"seconds must be finite and >= 0, not {text!r}")
    return value


def _count(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, not {value}")
        return value

    return parse


def _port(text: str) -> int:
    value = _count(0)(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"a port is 0-65535, not {value}")
    return value


def _feature(text: str) -> tuple[str, bool | str]:
    key, sep, raw = text.partition("=")
    if not key:
        raise argparse.ArgumentTypeError(f"a feature is KEY or KEY=VALUE, not {text!r}")
    if not sep:
        return key, True
    return key, {"true": True, "false": False}.get(raw.lower(), raw)


def _with_reference(parser: argparse.ArgumentParser) -> Callable[[], str]:
    """``parser.format_help``, adding the reference epilog only when help is printed (building
    it loads the whole emulator, which other subcommands need not pay for)."""
    plain = parser.format_help

    def format_help() -> str:
        from .reference import help_text

        parser.epilog = help_text()
        return plain()

    return format_help


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Give the ``emulator`` subcommand its options, description and reference epilog."""
    parser.description = DESCRIPTION
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    setattr(parser, "format_help", _with_reference(parser))  # noqa: B010 (a method override)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument(
        "--port", type=_port, default=8765, help="port to listen on (8765; 0 picks a free one)"
    )
    parser.add_argument(
        "--tls", action="store_true", help="serve https/wss with a generated certificate"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed for ids, tokens and random faults (0)"
    )
    parser.add_argument(
        "--device-limit",
        type=_count(0),
        default=100,
        metavar="N",
        help="devices each user may hold; beyond, WDM answers 403 'excessive device "
        "registrations' (100)",
    )
    parser.add_argument(
        "--users",
        type=_count(0),
        default=0,
        metavar="N",
        help="create N more users and print an access token for each (0)",
    )
    parser.add_argument(
        "--latency",
        type=_seconds,
        default=0.0,
        metavar="SECONDS",
        help="delay every HTTP answer, websocket upgrade and websocket frame (0)",
    )
    parser.add_argument(
        "--auth-deadline",
        type=_seconds,
        default=30.0,
        metavar="SECONDS",
        help="how long a Mercury socket may wait before authorizing (30)",
    )
    parser.add_argument(
        "--max-connections",
        type=_count(1),
        default=None,
        metavar="N",
        help="connections served at once; more get 503 (default: what the file-descriptor "
        "limit allows, raised to its hard limit at start)",
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        choices=sorted(VARIANTS),
        metavar="NAME",
        help="switch a variant on (repeatable; listed below)",
    )
    parser.add_argument(
        "--omit",
        action="append",
        default=[],
        choices=sorted(OMITTABLE),
        metavar="FIELD",
        help="leave a field out of the answers (repeatable; listed below)",
    )
    parser.add_argument(
        "--feature",
        action="append",
        default=[],
        type=_feature,
        metavar="KEY[=VALUE]",
        help="override a developer feature toggle in device answers, e.g. "
        "web-high-availability (repeatable; VALUE true, false or text; default true)",
    )
    parser.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")


def run(args: argparse.Namespace) -> int:
    """Serve with the parsed options until Ctrl-C; the exit code (2 when the port is taken)."""
    from .emulator import serve_forever

    raised = raise_descriptor_limit()
    if raised is not None:
        log.info("file-descriptor limit raised from %d to %d", *raised)
    options = {
        "seed": args.seed,
        "device_limit": args.device_limit,
        "latency": args.latency,
        "mercury_auth_deadline": args.auth_deadline,
        "limits": Limits(max_connections=args.max_connections),
    }
    try:
        serve_forever(
            host=args.host,
            port=args.port,
            tls=args.tls,
            backend=args.backend,
            prepare=lambda emulator: _prepare(emulator, args),
            **options,
        )
    except OSError as error:
        sys.stderr.write(
            f"webex-meetings: cannot serve on {args.host}:{args.port} ({error.strerror or error});"
            " is another emulator running? Pick another --port (0 picks a free one).\n"
        )
        return EXIT_USAGE
    return EXIT_OK


def _prepare(emulator: Emulator, args: argparse.Namespace) -> list[str]:
    """Apply the variants, omissions, features and users; the banner lines they add."""
    control = emulator.control
    for name in args.variant:
        control.set_variant(name)
    for field in args.omit:
        control.omit(field)
    for key, value in args.feature:
        control.set_feature(key, value)
    lines = []
    for n in range(1, args.users + 1):
        user = emulator.add_user(email=f"user{n}@example.invalid", display_name=f"User {n}")
        lines.append(f"  user {n:<3} {user.id}   token {emulator.issue_token(user)}")
    if args.latency:
        lines.append(f"  latency                {args.latency:g} s on every answer and frame")
    departures = [*args.variant, *(f"omit {f}" for f in args.omit)]
    departures += [f"feature {k}={v}" for k, v in args.feature]
    if departures:
        lines.append(f"  departures             {', '.join(departures)}")
    return lines
