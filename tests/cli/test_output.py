"""What the command line writes: one shape of line for every command, timestamps, a progress
indicator only on a terminal, and a reader that leaves ends the writing (in process, through
:class:`~webex_meetings.commands.output.Output`, and across commands as subprocesses)."""

from __future__ import annotations

import ast
import io
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from cli_harness import LiveCli, json_lines, run_cli

import webex_meetings
from webex_meetings.commands.output import Output, clock_time, iso_time
from webex_meetings.emulator import Emulator

NOON = 1714564800.123  # 2024-05-01T12:00:00.123Z
ISO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
LINE_KEYS = {"time", "kind", "text", "fields"}


def test_a_json_line_has_time_kind_text_and_fields() -> None:
    stream = io.StringIO()
    Output(stream, json_lines=True, clock=lambda: NOON).line("state", "a -> b", dest="b")
    assert json.loads(stream.getvalue()) == {
        "time": "2024-05-01T12:00:00.123Z",
        "kind": "state",
        "text": "a -> b",
        "fields": {"dest": "b"},
    }


def test_a_text_line_starts_with_the_time_and_the_kind() -> None:
    stream = io.StringIO()
    Output(stream, clock=lambda: NOON).line("state", "a -> b", dest="b")
    assert stream.getvalue() == f"{clock_time(NOON)} state        a -> b\n"
    assert clock_time(NOON).endswith(".123")
    assert ISO_TIME.match(iso_time(NOON))


def test_a_reader_that_left_ends_the_writing_once() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)
    calls: list[str] = []
    with os.fdopen(write_end, "w") as stream:
        output = Output(stream)
        output.on_reader_gone = lambda: calls.append("gone")
        output.line("state", "nobody reads this")
        output.line("state", "nor this")
        assert output.reader_gone
    assert calls == ["gone"]


@pytest.mark.anyio
async def test_watch_reader_notices_a_reader_that_left_while_nothing_is_written() -> None:
    read_end, write_end = os.pipe()
    with os.fdopen(write_end, "w") as stream:
        output = Output(stream)
        gone = anyio.Event()
        output.on_reader_gone = gone.set
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(output.watch_reader, 0.001)
                os.close(read_end)
                await gone.wait()
        assert output.reader_gone


@pytest.mark.anyio
async def test_the_progress_indicator_is_drawn_then_erased_before_a_line() -> None:
    stream = io.StringIO()
    output = Output(stream, interactive=True)
    output.status("registering")
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(output.show_progress, 0.001)
            while "registering (" not in stream.getvalue():
                await anyio.sleep(0)
            output.line("state", "ready -> registering")
            while not stream.getvalue().endswith(")"):  # drawn again after the line
                await anyio.sleep(0)
            tasks.cancel_scope.cancel()
    drawn = stream.getvalue()
    assert re.search(r"\r\x1b\[K[|/\\-] registering \(0 s\)", drawn)
    assert re.search(r"\r\x1b\[K\d\d:\d\d:\d\d\.\d{3} state +ready -> registering\n", drawn)
    assert drawn.endswith("\r\x1b[K")  # erased when it stopped


@pytest.mark.anyio
async def test_no_progress_indicator_unless_interactive() -> None:
    stream = io.StringIO()
    output = Output(stream)  # a StringIO is not a terminal
    output.status("registering")
    with anyio.fail_after(10):
        await output.show_progress(0.001)  # returns at once
    assert stream.getvalue() == ""
    assert Output(stream, json_lines=True).interactive is False


def assert_lines_have_one_shape(records: list[dict[str, Any]]) -> None:
    assert records
    for record in records:
        assert set(record) == LINE_KEYS, record
        assert ISO_TIME.match(record["time"]), record
        assert isinstance(record["kind"], str)
        assert isinstance(record["text"], str)
        assert isinstance(record["fields"], dict)


def test_every_command_writes_json_lines_of_one_shape(
    running_emulator: Emulator, token: str, start_cli: Callable[..., LiveCli]
) -> None:
    emu = running_emulator
    demo = run_cli("demo", "--json", "--events", "1")
    listed = run_cli("devices", "list", "--json", "--cloud", emu.base_url, token=token)
    pruned = run_cli("devices", "prune", "--json", "--yes", "--cloud", emu.base_url, token=token)
    refused = run_cli("devices", "list", "--json", "--cloud", emu.base_url, token="wrong")
    register = start_cli("register", "--json", "--cloud", emu.base_url, token=token)
    register.expect(r'"kind": "registered"')
    register.interrupt()
    register.rest()
    for result in (demo, listed, pruned, refused):
        assert_lines_have_one_shape(json_lines(result.stdout))
    assert_lines_have_one_shape([json.loads(line) for line in register.seen])
    assert json_lines(refused.stdout)[-1]["kind"] == "error"


# -- one owner of output ---------------------------------------------------------------------------

PACKAGE = Path(webex_meetings.__file__).parent
WRITERS = ("demo.py", "commands/register.py", "commands/devices.py", "commands/advice.py")


def imported_modules(path: Path) -> set[str]:
    """The modules a file imports, relative ones resolved inside ``webex_meetings``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = ".".join(["webex_meetings", *path.relative_to(PACKAGE).parent.parts])
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(part for part in (base, node.module or "") if part)
            found.update(f"{module}.{alias.name}" for alias in node.names)
            found.add(module)
    return found


@pytest.mark.parametrize("name", [*WRITERS, "commands/output.py", "commands/options.py"])
def test_the_commands_and_the_demo_never_import_the_command_line(name: str) -> None:
    """``cli`` assembles the parser from the commands; nothing imports it back (no cycle)."""
    assert not {m for m in imported_modules(PACKAGE / name) if m.startswith("webex_meetings.cli")}


@pytest.mark.parametrize("name", WRITERS)
def test_only_the_output_module_writes(name: str) -> None:
    source = (PACKAGE / name).read_text(encoding="utf-8")
    assert not re.search(r"\bprint\(|sys\.std(out|err)\.write|\.write\(", source)
