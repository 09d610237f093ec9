"""The README's code is real: its Python blocks compile and import what exists, and its
lifecycle diagram is the generated one."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
PYTHON_BLOCKS = re.findall(r"```python\n(.*?)```", README, flags=re.DOTALL)


def test_the_readme_has_examples() -> None:
    assert len(PYTHON_BLOCKS) >= 4  # asyncio, trio, blocking, testing


@pytest.mark.parametrize("source", PYTHON_BLOCKS)
def test_python_blocks_compile_and_import_real_names(source: str) -> None:
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            module = importlib.import_module(node.module)
            for alias in node.names:
                assert hasattr(module, alias.name), f"{node.module}.{alias.name}"


def test_the_lifecycle_diagram_is_the_generated_one() -> None:
    [diagram] = re.findall(r"```mermaid\n(.*?)```", README, flags=re.DOTALL)
    assert diagram == (ROOT / "specs" / "lifecycle.mmd").read_text(encoding="utf-8")


REPO_PATH = re.compile(r"`((?:tests|examples|src|bench|specs)/[\w./-]+)`")


def test_every_path_the_readme_names_exists() -> None:
    named = set(REPO_PATH.findall(README))
    assert "src/webex_meetings/conformance/interop/register.mjs" in named
    assert [path for path in named if not (ROOT / path).exists()] == []


def test_the_js_sdk_command_says_where_its_script_is() -> None:
    [paragraph] = [p for p in README.split("\n\n") if "node register.mjs" in p]
    assert "`src/webex_meetings/conformance/interop/register.mjs`" in paragraph
    assert "npm install" in paragraph


@pytest.mark.parametrize("command", ["demo", "register", "devices"])
def test_the_readme_documents_every_option_of_the_command(command: str) -> None:
    from webex_meetings.cli import build_parser

    [subparsers] = [a for a in build_parser()._actions if a.dest == "command"]
    parser = subparsers.choices[command]  # type: ignore[index]
    options = {
        option
        for action in parser._actions
        for option in action.option_strings
        if option.startswith("--") and option not in ("--help", "--verbose")
    }
    section = README[README.index("## Command line") : README.index("## The lifecycle")]
    assert {option for option in options if option not in section} == set()
