"""The emulator's shape: no import cycles (not even type-only ones), a sans-IO Mercury
module, and no public name that clashes with the library's own."""

from __future__ import annotations

import ast
from pathlib import Path

import webex_meetings
from webex_meetings import emulator

PACKAGE = Path(emulator.__file__).parent


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE).with_suffix("").parts).replace(".__init__", "")


def _imports(path: Path) -> set[str]:
    """The emulator modules ``path`` imports, type-only imports included."""
    here = _module_name(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.ImportFrom) or node.level == 0:
            continue
        base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
        if node.level - 1 > len(package):
            continue  # above the emulator package (the core)
        target = [*base, *(node.module.split(".") if node.module else [])]
        if node.level - 1 == len(package) and not node.module:
            continue
        found.add(".".join(p for p in target if p))
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        graph[name] = {m for m in _imports(path) if m in modules and m != name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*trail, node, nxt]
            if nxt not in state and (found := visit(nxt, [*trail, node])):
                return found
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node, [])):
            return found
    return None


def test_emulator_modules_import_each_other_without_cycles() -> None:
    graph = {name: deps for name, deps in _graph().items() if name != ""}
    assert {"mercury", "control"} <= set(graph)
    assert _cycle(graph) is None, _cycle(graph)


def test_the_mercury_connection_does_no_io() -> None:
    source = (PACKAGE / "mercury.py").read_text(encoding="utf-8")
    tree = ast.parse(source)
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & {"anyio", "trio", "asyncio", "wsproto", "h11", "socket"}
    assert "async def" not in source


def test_no_public_name_clashes_with_the_library() -> None:
    assert not set(emulator.__all__) & set(webex_meetings.__all__)
    assert not hasattr(emulator, "DeviceInfo")
    assert hasattr(emulator, "DeviceRecord")
    from webex_meetings.emulator import state

    assert not hasattr(state, "MercuryEvent")
    assert hasattr(state, "PushedEvent")
