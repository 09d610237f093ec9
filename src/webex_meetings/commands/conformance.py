"""``webex-meetings conformance``: run a client through the cloud's hard cases, get verdicts.

The CLI module owns the ``webex-meetings`` parser and delegates this subcommand here:
:func:`add_arguments` fills the subcommand's parser, :func:`run` runs the kit
(:mod:`webex_meetings.conformance`) and returns the exit code (:data:`EXIT_CODES`).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Final, TextIO

from .advice import EXIT_OUTPUT_CLOSED

if TYPE_CHECKING:
    from ..conformance.clients import Client
    from ..conformance.scenarios import Scenario

__all__ = ["EXIT_CODES", "add_arguments", "run"]

EXIT_PASS: Final = 0
EXIT_FAIL: Final = 1
EXIT_USAGE: Final = 2
EXIT_HANG: Final = 3
EXIT_NO_NODE: Final = 4

EXIT_CODES: Final = {
    EXIT_PASS: "every selected scenario passed",
    EXIT_FAIL: "a scenario failed (and none hung)",
    EXIT_USAGE: "usage: a bad option, an unknown scenario, a command that cannot start",
    EXIT_HANG: "a scenario hung (the client did not end within --timeout)",
    EXIT_NO_NODE: "--client js: Node.js or npm is missing, or npm install failed",
    EXIT_OUTPUT_CLOSED: "the reader of the output went away (| head)",
}

DESCRIPTION: Final = """\
Run a Webex client through the cloud's hard cases (faults at every step, protocol variants,
omitted fields, mid-session closes, expiring devices and tokens) against the embedded
emulator on 127.0.0.1, and judge each run from the emulator's records: never from what the
client prints or its exit code.

For each scenario the kit restarts the emulator (fresh state), adds a user with a fresh token,
arranges the scenario, then runs the client as a subprocess. The client is expected to
register, stay registered HOLD_MS, unregister and exit."""

MAX_TIMEOUT: Final = 3600.0


def _epilog() -> str:
    from ..conformance import ENVIRONMENT
    from ..conformance.judge import RULES

    env = "\n".join(
        f"  {name}\n"
        + textwrap.fill(meaning, 88, initial_indent=" " * 6, subsequent_indent=" " * 6)
        for name, meaning in ENVIRONMENT
    )
    rules = "\n".join(f"  {name:<14} {text}" for name, text, _ in RULES)
    codes = "\n".join(f"  {code}  {meaning}" for code, meaning in EXIT_CODES.items())
    return f"""\
the client's environment (besides this process's own):
{env}

verdicts: pass, fail (an error finding), hang (did not end within --timeout: killed, then
judged); warnings (things the real service tolerates, such as a missing ack) beside them.
The rules every run is judged by:
{rules}

exit codes:
{codes}"""


def _timeout(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(value) or not 0 < value <= MAX_TIMEOUT:
        raise argparse.ArgumentTypeError(f"seconds must be > 0 and <= {MAX_TIMEOUT:g}: {text!r}")
    return value


def _with_epilog(parser: argparse.ArgumentParser) -> None:
    """Build the epilog only when help is printed (it loads the kit)."""
    plain = parser.format_help

    def format_help() -> str:
        parser.epilog = _epilog()
        return plain()

    setattr(parser, "format_help", format_help)  # noqa: B010 (a method override)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Give the ``conformance`` subcommand its options, description and epilog."""
    parser.description = DESCRIPTION
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.usage = (
        "%(prog)s [--scenario NAME ...] [--quick] [--json] [--junit FILE] [--markdown] "
        "[--timeout S] (--client python | --client js | -- COMMAND ...) | --list"
    )
    _with_epilog(parser)
    parser.add_argument("--list", action="store_true", help="list every scenario and exit")
    parser.add_argument(
        "--scenario",
        action="append",
        default=[],
        metavar="NAME",
        help="run this scenario (repeatable; default: all)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="run the representative subset (one of each kind)"
    )
    parser.add_argument("--client", choices=("python", "js"), help="our library, or the JS SDK")
    parser.add_argument(
        "--timeout",
        type=_timeout,
        default=30.0,
        metavar="S",
        help="seconds a client run may take before it is a hang (30)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--junit", type=Path, metavar="FILE", help="also write JUnit XML here")
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    parser.add_argument(
        "--js-folder",
        type=Path,
        metavar="DIR",
        help="where the JS SDK is installed (default ~/.cache/webex-meetings/interop-<ver>)",
    )
    parser.add_argument("--seed", type=int, default=0, help="the emulator's seed (0)")
    parser.add_argument(
        "client_command",
        nargs="*",
        metavar="-- COMMAND",
        help="any other client: the command after --, run with the environment below",
    )


def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run the kit as the parsed options say; the exit code (:data:`EXIT_CODES`)."""
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        return _run(args, out, err)
    except BrokenPipeError:
        _silence(out)
        return EXIT_OUTPUT_CLOSED


def _silence(stream: TextIO) -> None:
    """Send later writes (and the interpreter's last flush) of a closed pipe nowhere."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # not a real file: nothing to redirect
        pass


def _run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ..conformance.clients import ClientSetupError, NodeMissingError
    from ..conformance.scenarios import UnknownScenarioError

    if args.list:
        return _list(out)
    try:
        if args.junit is not None and not args.junit.parent.is_dir():
            raise _UsageError(f"--junit: no folder {args.junit.parent} to write into")
        scenarios = _selected(args)
        client = _client(args, err)
    except (UnknownScenarioError, _UsageError) as error:
        err.write(f"webex-meetings conformance: {error}\n")
        return EXIT_USAGE
    except NodeMissingError as error:
        err.write(f"webex-meetings conformance: {error}\n")
        return EXIT_NO_NODE
    except ClientSetupError as error:
        err.write(f"webex-meetings conformance: {error}\n")
        code: int = EXIT_NO_NODE if args.client == "js" else EXIT_USAGE
        return code
    return _run_kit(args, client, scenarios, out, err)


class _UsageError(ValueError):
    pass


def _list(out: TextIO) -> int:
    from ..conformance.scenarios import SCENARIOS

    width = max(len(s.name) for s in SCENARIOS)
    for scenario in SCENARIOS:
        out.write(f"{scenario.name:<{width}}  {scenario.description}\n")
    return EXIT_PASS


def _selected(args: argparse.Namespace) -> tuple[Scenario, ...]:
    from ..conformance.scenarios import QUICK, select

    names = list(args.scenario) + (list(QUICK) if args.quick else [])
    return select(names)


def _client(args: argparse.Namespace, err: TextIO) -> Client:
    from ..conformance.clients import command_client, js_client, python_client

    command = list(args.client_command)
    if (args.client is None) == (not command):
        raise _UsageError("give one client: --client python, --client js, or -- COMMAND ...")
    if command:
        return command_client(command)
    if args.client == "python":
        return python_client()

    def log(line: str) -> None:
        err.write(f"{line}\n")

    return js_client(args.js_folder, log=log)


def _run_kit(
    args: argparse.Namespace,
    client: Client,
    scenarios: tuple[Scenario, ...],
    out: TextIO,
    err: TextIO,
) -> int:
    from ..conformance.judge import Outcome
    from ..conformance.report import (
        junit_xml,
        markdown_table,
        report_json,
        summary_line,
        table_header,
        table_row,
    )
    from ..conformance.runner import Kit, Run

    progress = err if (args.json or args.markdown) else out
    progress.write(
        f"client {client.name}: {len(scenarios)} scenarios, timeout {args.timeout:g} s\n"
    )
    progress.write(table_header() + "\n")

    def show(run: Run) -> None:
        progress.write(table_row(run.verdict) + "\n")
        progress.flush()

    runs = Kit(client, timeout=args.timeout, seed=args.seed).run(scenarios, show)
    verdicts = [run.verdict for run in runs]
    progress.write(summary_line(verdicts) + "\n")
    report = report_json(runs, client=client.name, timeout=args.timeout)
    if args.json:
        out.write(json.dumps(report, indent=2) + "\n")
    if args.markdown:
        out.write(markdown_table(report))
    if args.junit is not None:
        args.junit.write_text(junit_xml(runs, client=client.name))
    outcomes = {v.outcome for v in verdicts}
    if Outcome.HANG in outcomes:
        return EXIT_HANG
    return EXIT_FAIL if Outcome.FAIL in outcomes else EXIT_PASS
