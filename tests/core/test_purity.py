"""The core stays sans-IO: no I/O or async libraries, no clocks, no hidden randomness.

Two checks: every core module's source is read as an AST (what it imports and calls), and the
modules are imported in a fresh interpreter to see what they actually pull into
``sys.modules``.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import pkgutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import webex_meetings.core

FORBIDDEN_IMPORTS = frozenset(
    {
        "asyncio",
        "anyio",
        "trio",
        "httpx",
        "httpcore",
        "socket",
        "ssl",
        "select",
        "selectors",
        "threading",
        "time",
        "secrets",
    }
)
"""Top-level modules no core module may import (I/O, concurrency, clocks, OS randomness)."""

THREADING_ALLOWED = frozenset({"webex_meetings.core.redaction"})
"""redaction.py guards its registry of live secrets with a ``threading.Lock``: adapters call
``redact`` from several threads (the blocking face runs the core on a background thread), so
the lock is needed for correctness, and it never waits on I/O."""

FORBIDDEN_NAMES = {
    "os.urandom": "OS randomness",
    "uuid.uuid1": "a clock read",
    "uuid.uuid4": "OS randomness",
    "datetime.datetime.now": "a clock read",
    "datetime.datetime.utcnow": "a clock read",
    "datetime.datetime.today": "a clock read",
    "datetime.date.today": "a clock read",
}
"""Functions that read a clock or the OS's randomness: neither called nor referenced."""


def _core_modules() -> list[str]:
    names = [webex_meetings.core.__name__]
    for info in pkgutil.walk_packages(webex_meetings.core.__path__, "webex_meetings.core."):
        names.append(info.name)
    return sorted(names)


CORE_MODULES = _core_modules()


def _source(module_name: str) -> str:
    spec = importlib.util.find_spec(module_name)
    assert spec is not None
    assert spec.origin is not None
    return Path(spec.origin).read_text(encoding="utf-8")


@dataclass(frozen=True, slots=True)
class Finding:
    line: int
    what: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.what}"


def _bindings(tree: ast.Module) -> dict[str, str]:
    """What each name bound by an absolute import stands for: ``{"dt": "datetime.datetime"}``."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                names[alias.asname or top] = alias.name if alias.asname else top
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


def _dotted(expr: ast.expr, names: dict[str, str]) -> str | None:
    """``a.b.c`` with the imported names resolved, or ``None`` for other expressions."""
    if isinstance(expr, ast.Name):
        return names.get(expr.id, expr.id)
    if isinstance(expr, ast.Attribute):
        owner = _dotted(expr.value, names)
        return f"{owner}.{expr.attr}" if owner else None
    return None


def _why_forbidden(name: str) -> str | None:
    if name in FORBIDDEN_NAMES:
        return FORBIDDEN_NAMES[name]
    if name.startswith("random.") and name != "random.Random":
        return "module-level randomness (take a random.Random instead)"
    return None


def _import_findings(tree: ast.Module, allow_threading: bool) -> list[Finding]:
    forbidden = FORBIDDEN_IMPORTS - ({"threading"} if allow_threading else set())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
            found += [
                Finding(node.lineno, f"from {node.module} import {alias.name}")
                for alias in node.names
                if _why_forbidden(f"{node.module}.{alias.name}")
            ]
        else:
            continue
        found += [
            Finding(node.lineno, f"import {m}") for m in modules if m.split(".")[0] in forbidden
        ]
    return found


def _use_findings(tree: ast.Module) -> list[Finding]:
    """References to clock or randomness functions (``random.Random`` itself is allowed: the
    core draws only from instances)."""
    names = _bindings(tree)
    dotted = [
        (node.lineno, name)
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and (name := _dotted(node, names))
    ]
    return [
        Finding(line, f"{name}: {why}") for line, name in dotted if (why := _why_forbidden(name))
    ]


def _async_findings(tree: ast.Module) -> list[Finding]:
    kinds = (ast.AsyncFunctionDef, ast.Await, ast.AsyncFor, ast.AsyncWith)
    return [
        Finding(getattr(node, "lineno", 0), type(node).__name__)
        for node in ast.walk(tree)
        if isinstance(node, kinds)
    ]


def _findings(source: str, *, allow_threading: bool = False) -> list[Finding]:
    tree = ast.parse(source)
    return [
        *_import_findings(tree, allow_threading),
        *_use_findings(tree),
        *_async_findings(tree),
    ]


def test_walk_finds_the_core_modules() -> None:
    assert {
        "webex_meetings.core",
        "webex_meetings.core.errors",
        "webex_meetings.core.http",
        "webex_meetings.core.lifecycle",
        "webex_meetings.core.redaction",
    } <= set(CORE_MODULES)


@pytest.mark.parametrize("module_name", CORE_MODULES)
def test_module_source_is_pure(module_name: str) -> None:
    findings = _findings(_source(module_name), allow_threading=module_name in THREADING_ALLOWED)
    assert not findings, f"{module_name} is not sans-IO:\n" + "\n".join(map(str, findings))


BAD_SOURCES = {
    "import asyncio": "import asyncio",
    "import anyio.abc": "import anyio.abc",
    "from trio import sleep": "import trio",
    "from httpx import Client": "import httpx",
    "import socket, json": "import socket",
    "from time import monotonic": "import time",
    "import threading": "import threading",
    "from random import choice": "from random import choice",
    "from uuid import uuid4": "from uuid import uuid4",
    "from os import urandom": "from os import urandom",
    "import random\nrandom.random()": "random.random: module-level",
    "import random as r\nr.choice([1, 2])": "random.choice: module-level",
    "import os\nos.urandom(8)": "os.urandom: OS randomness",
    "import uuid\nuuid.uuid4()": "uuid.uuid4: OS randomness",
    "from datetime import datetime\ndatetime.now()": "datetime.datetime.now: a clock",
    "import datetime\ndatetime.datetime.now()": "datetime.datetime.now: a clock",
    "import datetime as d\nf = d.date.today": "datetime.date.today: a clock",
    "from datetime import datetime as dt\nfield(default_factory=dt.utcnow)": "utcnow: a clock",
    "async def f():\n    await g()": "AsyncFunctionDef",
}


@pytest.mark.parametrize(("source", "expected"), BAD_SOURCES.items())
def test_the_checks_catch_impure_sources(source: str, expected: str) -> None:
    findings = _findings(source)
    assert any(expected in f.what for f in findings), findings


def test_the_checks_allow_what_the_core_may_use() -> None:
    source = (
        "from __future__ import annotations\n"
        "import random\nfrom random import Random\n"
        "def jitter(rng: random.Random) -> float:\n    return rng.random()\n"
        "seeded = random.Random(7)\nrng = Random()\n"
        "from datetime import datetime\nstamp = datetime.fromtimestamp(0)\n"
        "from .errors import WebexError\nfrom . import time\n"
    )
    assert _findings(source) == []


# -- what importing the core really loads --------------------------------------------------

NEVER_LOADED = FORBIDDEN_IMPORTS - {"threading", "time"}
"""Modules the core must not load even indirectly. The two exceptions, asserted exactly below:
``threading`` is loaded by the ``logging`` module that ``transitions`` imports (and by
redaction.py, see above); ``time`` is built in and already loaded when the interpreter starts,
so only the source check above can see a core module import it."""


def _modules(statements: str) -> tuple[set[str], set[str]]:
    """Top-level names in ``sys.modules`` of a fresh interpreter: before, and newly after
    running ``statements``."""
    code = (
        "import json, sys\n"
        "before = set(sys.modules)\n"
        f"{statements}\n"
        "print(json.dumps([sorted(before), sorted(set(sys.modules) - before)]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    before, new = json.loads(result.stdout)
    return {n.split(".")[0] for n in before}, {n.split(".")[0] for n in new}


def _stdlib_imports_of_the_core() -> list[str]:
    """The standard-library modules the core's sources import (uuid, platform, json, ...)."""
    names: set[str] = set()
    for module in CORE_MODULES:
        spec = importlib.util.find_spec(module)
        assert spec is not None
        assert spec.origin is not None
        for node in ast.walk(ast.parse(Path(spec.origin).read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split(".")[0])
    return sorted(names & set(sys.stdlib_module_names) - {"__future__"})


@pytest.fixture(scope="module")
def loaded() -> dict[str, tuple[set[str], set[str]]]:
    stdlib = ", ".join(_stdlib_imports_of_the_core())
    return {
        "nothing": _modules("pass"),
        "transitions": _modules("import transitions"),
        "stdlib": _modules(f"import transitions, {stdlib}"),
        "core": _modules("\n".join(f"import {name}" for name in CORE_MODULES)),
    }


def test_importing_the_core_loads_no_io_library(
    loaded: dict[str, tuple[set[str], set[str]]],
) -> None:
    before, new = loaded["core"]
    assert loaded["nothing"][1] == set()
    assert before & NEVER_LOADED == set()
    # Some Pythons' own modules pull in more (3.10's uuid -> platform -> subprocess ->
    # selectors): only what the core adds beyond its standard-library imports counts.
    _, stdlib_new = loaded["stdlib"]
    assert (new - stdlib_new) & NEVER_LOADED == set()
    assert new & {"asyncio", "anyio", "trio", "httpx", "httpcore", "socket", "ssl"} == set()


def test_only_threading_is_loaded_and_only_because_of_transitions_and_redaction(
    loaded: dict[str, tuple[set[str], set[str]]],
) -> None:
    core_before, core_new = loaded["core"]
    _, transitions_new = loaded["transitions"]
    assert transitions_new & FORBIDDEN_IMPORTS == {"threading"}  # logging, imported by transitions
    _, stdlib_new = loaded["stdlib"]
    assert (core_new - stdlib_new) & FORBIDDEN_IMPORTS == set()
    assert core_new & FORBIDDEN_IMPORTS <= {"threading", "select", "selectors"}
    assert "time" in core_before  # built in: loaded at start-up, checked in the sources instead
