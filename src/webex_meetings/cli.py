"""The ``webex-meetings`` command line.

Subcommands: ``demo`` (the main job: the embedded emulator plus a full lifecycle run),
``register`` (stay registered, printing Mercury events, until Ctrl-C), ``devices list|prune``,
``emulator`` (serve the emulator standalone) and ``spec`` (the lifecycle table or diagram).

Exit codes (also in ``--help``): 0 success; 1 a demo check failed or an unexpected error;
2 usage or configuration error; 3 the token was refused or is missing; 4 the cloud could not
be reached (network, TLS, proxy, rate limit); 5 Webex refused the device; 6 the server broke
the protocol; 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import anyio

from .core.config import SessionConfig
from .core.credentials import Credentials
from .core.errors import (
    AuthorizationError,
    ConfigurationError,
    DeviceLimitError,
    HttpStatusError,
    LocalProtocolError,
    MercuryClosedError,
    NotAuthorizedError,
    RateLimitedError,
    RemoteProtocolError,
    TransportError,
    WebexError,
)
from .core.events import Event, MercuryEvent, StateChanged

if sys.version_info < (3, 11):  # pragma: no cover - anyio brings the backport there
    from exceptiongroup import BaseExceptionGroup

__all__ = ["EXIT_CODES", "MissingTokenError", "advice", "main", "write_line"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_AUTH, EXIT_NETWORK, EXIT_DEVICE, EXIT_PROTOCOL = range(7)
EXIT_INTERRUPTED = 130
EXIT_CODES = {
    EXIT_OK: "success",
    EXIT_FAILED: "a demo check failed, or an unexpected error",
    EXIT_USAGE: "usage or configuration error",
    EXIT_AUTH: "the access token is missing, expired, revoked or lacks a scope",
    EXIT_NETWORK: "the cloud could not be reached (network, TLS, proxy) or is rate limiting",
    EXIT_DEVICE: "Webex refused the device (for example too many registered devices)",
    EXIT_PROTOCOL: "the server answered in a way the protocol does not allow",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C)",
}
TOKEN_HELP = (
    "Get a token at https://developer.webex.com/docs/getting-your-personal-access-token and "
    "set WEBEX_ACCESS_TOKEN, or pass --token-file."
)


class MissingTokenError(NotAuthorizedError):
    """No access token was given (neither ``$WEBEX_ACCESS_TOKEN`` nor ``--token-file``)."""


def advice(error: BaseException) -> tuple[int, str]:
    """The exit code and an explanation, with what to do, for ``error``."""
    step = f" (step: {error.step})" if isinstance(error, WebexError) and error.step else ""
    if isinstance(error, MissingTokenError):
        return EXIT_AUTH, f"No access token was given. {TOKEN_HELP}"
    if isinstance(error, DeviceLimitError):
        return EXIT_DEVICE, (
            f"Webex refused a new device: this user has too many registered devices{step}. "
            "Delete old ones made by this library with `webex-meetings devices prune --yes`, "
            "or choose others with `webex-meetings devices list` and `prune --name NAME`."
        )
    if isinstance(error, AuthorizationError) and error.status == 403:
        return EXIT_AUTH, (
            f"Webex refused the request with 403{step}: the token lacks a scope this needs "
            f"(spark:all for devices and Mercury) or the account is not entitled. {TOKEN_HELP}"
        )
    if isinstance(error, (AuthorizationError, NotAuthorizedError)):
        return EXIT_AUTH, (
            f"The access token was refused or cannot be used{step}: it is expired, revoked or "
            f"mistyped. {TOKEN_HELP}"
        )
    if isinstance(error, RateLimitedError):
        wait = f" Wait {error.retry_after:.0f} s and retry." if error.retry_after else ""
        return EXIT_NETWORK, f"Webex is rate limiting this client (429){step}.{wait}"
    if isinstance(error, HttpStatusError) and error.step and error.step.startswith("device"):
        return EXIT_DEVICE, f"Webex refused the device: {error.message}{step}."
    if isinstance(error, TransportError):
        return EXIT_NETWORK, (
            f"Could not reach the cloud{step}: {error.message}. Check the network, the proxy "
            "(--proxy), TLS settings, or the --cloud URL."
        )
    if isinstance(error, (MercuryClosedError, RemoteProtocolError, HttpStatusError)):
        return EXIT_PROTOCOL, (
            f"The server broke the Webex protocol{step}: {error.message}. If it is an "
            "emulator or a proxy, check it; `webex-meetings demo` shows a correct exchange."
        )
    if isinstance(error, (ConfigurationError, LocalProtocolError)):
        return EXIT_USAGE, f"Configuration problem: {error}"
    return EXIT_FAILED, f"Unexpected error: {type(error).__name__}: {error}"


# -- shared options ------------------------------------------------------------------------


def _read_token(args: argparse.Namespace) -> str:
    if args.token_file:
        try:
            token = Path(args.token_file).read_text().strip()
        except OSError as error:
            raise ConfigurationError(f"cannot read --token-file: {error.strerror}") from None
        if not token:
            raise ConfigurationError("--token-file is empty")
        return token
    token = os.environ.get("WEBEX_ACCESS_TOKEN", "").strip()
    if not token:
        raise MissingTokenError("no access token: WEBEX_ACCESS_TOKEN is not set")
    return token


def _config(args: argparse.Namespace) -> SessionConfig:
    return SessionConfig.for_cloud(args.cloud) if args.cloud else SessionConfig()


def _add_cloud_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cloud",
        metavar="URL",
        help="base URL of a Webex-compatible cloud (an emulator); default: the real Webex services",
    )
    parser.add_argument(
        "--token-file",
        metavar="FILE",
        help="read the access token from FILE instead of $WEBEX_ACCESS_TOKEN",
    )
    parser.add_argument("--proxy", metavar="URL", help="HTTP proxy for HTTP and websockets")
    parser.add_argument("--json", action="store_true", help="machine-readable JSON lines")


def _emit(out: TextIO, as_json: bool, text: str, **fields: Any) -> None:
    write_line(out, json.dumps({"text": text, **fields}) if as_json else text)


def write_line(out: TextIO, line: str) -> None:
    """Write and flush one line; once the reader has gone (``| head``), discard output
    instead of failing the command."""
    try:
        out.write(line + "\n")
        out.flush()
    except BrokenPipeError:
        _discard_output(out)


def _discard_output(out: TextIO) -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, out.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file: nothing to redirect
        pass


# -- demo ------------------------------------------------------------------------------------


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    async def run() -> bool:
        report = await run_demo(events=args.events, json_lines=args.json)
        return report.ok

    ok = anyio.run(run, backend=args.backend)
    return EXIT_OK if ok else EXIT_FAILED


# -- register --------------------------------------------------------------------------------


def _describe(event: Event) -> tuple[str, dict[str, Any]]:
    if isinstance(event, MercuryEvent):
        return f"event {event.event_type} id={event.id}", {
            "event_type": event.event_type,
            "data": event.data,
        }
    if isinstance(event, StateChanged):
        return f"state {event.source} -> {event.dest}", {"source": event.source, "dest": event.dest}
    return event.name, {}


async def _register(args: argparse.Namespace, out: TextIO) -> int:
    from .webex import Webex

    webex = Webex.init(
        credentials={"access_token": _read_token(args)}, config=_config(args), proxy=args.proxy
    )
    stop = anyio.Event()
    interrupts = 0

    async def watch_signals() -> None:
        nonlocal interrupts
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for _ in signals:
                interrupts += 1
                if interrupts == 1:
                    _emit(out, args.json, "interrupted: unregistering (Ctrl-C again to abort)")
                    stop.set()
                else:
                    _emit(out, args.json, "aborting: deleting the device without waiting")
                    await _delete_device_now(webex, args)
                    os._exit(EXIT_INTERRUPTED)

    def show(event: Event) -> None:
        text, fields = _describe(event)
        _emit(out, args.json, text, name=event.name, **fields)

    webex.meetings.on("*", show)
    async with anyio.create_task_group() as tg:
        tg.start_soon(watch_signals)
        async with webex:
            await webex.meetings.register()
            device = webex.meetings.device
            _emit(
                out,
                args.json,
                f"registered: {device.url if device else '?'}; printing events until Ctrl-C",
                device_url=device and device.url,
            )
            await stop.wait()
            await webex.meetings.unregister()
        _emit(out, args.json, "unregistered; the device is deleted")
        tg.cancel_scope.cancel()
    return EXIT_INTERRUPTED if interrupts else EXIT_OK


async def _delete_device_now(webex: Any, args: argparse.Namespace) -> None:
    from .device_tools import DeviceTools
    from .transports.httpx_transport import HttpxTransport

    device = webex.meetings.device
    if device is None:
        return
    credentials = Credentials(_read_token(args))
    async with HttpxTransport(proxy=args.proxy) as http:
        with anyio.move_on_after(5):
            await DeviceTools(_config(args), credentials, http).delete(device.url)


def _cmd_register(args: argparse.Namespace) -> int:
    return anyio.run(_register, args, sys.stdout)


# -- devices -----------------------------------------------------------------------------------


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    """``90s``, ``15m``, ``12h``, ``7d``, ``2w`` (or plain seconds) as seconds."""
    text = text.strip().lower()
    unit = _UNITS.get(text[-1:]) if text else None
    number = text[:-1] if unit else text
    try:
        value = float(number) * (unit or 1)
    except ValueError:
        message = f"not a duration: {text!r} (use 90s, 15m, 12h, 7d)"
        raise argparse.ArgumentTypeError(message) from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (use 90s, 15m, 12h, 7d)")
    if value < 0:
        raise argparse.ArgumentTypeError("a duration cannot be negative")
    return value


async def _devices(args: argparse.Namespace, out: TextIO) -> int:
    from .device_tools import DeviceTools, select_for_prune
    from .transports.httpx_transport import HttpxTransport

    config = _config(args)
    credentials = Credentials(_read_token(args))
    async with HttpxTransport(proxy=args.proxy) as http:
        tools = DeviceTools(config, credentials, http)
        devices = await tools.list()
        if args.action == "list":
            for d in devices:
                _emit(
                    out,
                    args.json,
                    f"{'*' if d.ours else ' '} {d.modification_time or '?':<25} "
                    f"{d.device_type or '?':<8} {d.name or '?'}  {d.url}",
                    url=d.url,
                    name=d.name,
                    device_type=d.device_type,
                    ours=d.ours,
                    modification_time=d.modification_time,
                )
            _emit(
                out,
                args.json,
                f"{len(devices)} devices ({sum(d.ours for d in devices)} "
                "made by webex-meetings, marked *)",
                count=len(devices),
            )
            return EXIT_OK
        chosen = select_for_prune(devices, name=args.name, older_than=args.older_than)
        if not chosen:
            _emit(out, args.json, "nothing to prune", deleted=0)
            return EXIT_OK
        for d in chosen:
            _emit(out, args.json, f"will delete {d.name} {d.url}", url=d.url)
        if not args.yes and not _confirm(f"Delete these {len(chosen)} devices? [y/N] "):
            _emit(out, args.json, "nothing deleted", deleted=0)
            return EXIT_OK
        for d in chosen:
            await tools.delete(d)
        _emit(out, args.json, f"deleted {len(chosen)} devices", deleted=len(chosen))
    return EXIT_OK


def _confirm(prompt: str) -> bool:
    if not sys.stdin.isatty():
        return False
    return input(prompt).strip().lower() in ("y", "yes")


def _cmd_devices(args: argparse.Namespace) -> int:
    return anyio.run(_devices, args, sys.stdout)


# -- emulator and spec ------------------------------------------------------------------------


def _cmd_emulator(args: argparse.Namespace) -> int:
    from .emulator import serve_forever

    try:
        serve_forever(host=args.host, port=args.port, tls=args.tls, seed=args.seed)
    except KeyboardInterrupt:
        return EXIT_OK
    return EXIT_OK


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


def build_parser() -> argparse.ArgumentParser:
    codes = "\n".join(f"  {code:>3}  {meaning}" for code, meaning in EXIT_CODES.items())
    parser = argparse.ArgumentParser(
        prog="webex-meetings",
        description="Webex device registration and Mercury events, with a cloud emulator.",
        epilog=f"exit codes:\n{codes}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="log the library's work to stderr (-v: info, -vv: debug; secrets are redacted)",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run the whole lifecycle against the embedded emulator")
    demo.add_argument("--json", action="store_true", help="JSON lines instead of text")
    demo.add_argument("--events", type=int, default=3, help="Mercury events to push (default 3)")
    demo.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")
    demo.set_defaults(func=_cmd_demo)

    register = sub.add_parser("register", help="register and print Mercury events until Ctrl-C")
    _add_cloud_options(register)
    register.set_defaults(func=_cmd_register)

    devices = sub.add_parser("devices", help="list or prune the user's WDM devices")
    devices.add_argument("action", choices=("list", "prune"))
    _add_cloud_options(devices)
    devices.add_argument("--name", help="prune: devices with this name (any client's)")
    devices.add_argument(
        "--older-than",
        type=parse_duration,
        metavar="DURATION",
        help="prune: only devices not modified for this long (15m, 12h, 7d)",
    )
    devices.add_argument("--yes", action="store_true", help="prune: do not ask")
    devices.set_defaults(func=_cmd_devices)

    emulator = sub.add_parser("emulator", help="serve the Webex cloud emulator")
    emulator.add_argument("--host", default="127.0.0.1")
    emulator.add_argument("--port", type=int, default=8765)
    emulator.add_argument("--tls", action="store_true", help="serve https/wss (generated cert)")
    emulator.add_argument("--seed", type=int, default=0)
    emulator.set_defaults(func=_cmd_emulator)

    spec = sub.add_parser("spec", help="print the lifecycle table or diagram")
    spec.add_argument("--format", choices=("table", "mermaid", "json"), default="table")
    spec.set_defaults(func=_cmd_spec)
    return parser


def _configure_logging(verbosity: int) -> None:
    """Library log records on stderr: warnings by default, more with ``-v``/``-vv``."""
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("webex-meetings: %(levelname)s: %(message)s"))
    logger = logging.getLogger("webex_meetings")
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = build_parser().parse_args(argv)
    _configure_logging(args.verbose)
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BaseException as error:  # every failure becomes advice and an exit code
        if isinstance(error, (SystemExit, GeneratorExit)):
            raise
        root = _unwrap(error)
        code, message = advice(root)
        sys.stderr.write(f"webex-meetings: {message}\n")
    return code


def _unwrap(error: BaseException) -> BaseException:
    """The first WebexError inside exception groups (task groups wrap errors)."""
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        inner = [e for e in error.exceptions if isinstance(e, WebexError)]
        error = inner[0] if inner else error.exceptions[0]
    return error


if __name__ == "__main__":
    sys.exit(main())
