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
