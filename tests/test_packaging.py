"""The distribution installs one import name, ``webex_meetings``, typed, and nothing else.

The real code lives in ``src/webex_meetings/``; the card's top-level ``core/``,
``transports/`` and ``adapters/`` are relative symlinks into it. These tests check that no
global ``core`` (or ``transports``, ``adapters``) ever becomes importable, that the wheel holds
only ``webex_meetings/...`` and its dist-info, and that a user's code outside the repository
type-checks against the editable install (a plain path entry, which mypy follows).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
DIST_INFO = "webex_meetings-{version}.dist-info/"
NOT_PART_OF_A_BUILD = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis",
    "node_modules",
)  # fmt: skip


def _run_python(code: str, cwd: Path) -> dict[str, Any]:
    """Run ``code`` in a fresh interpreter in ``cwd``, without this process's PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    outcome: dict[str, Any] = json.loads(result.stdout)
    return outcome


IMPORT_PROBE = """
import importlib, json
outcome = {}
for name in ("core", "transports", "adapters", "webex_meetings.core", "webex_meetings.transports",
             "webex_meetings.adapters", "webex_meetings.core.lifecycle"):
    try:
        importlib.import_module(name)
    except Exception as exc:
        outcome[name] = type(exc).__name__
    else:
        outcome[name] = "ok"
print(json.dumps(outcome))
"""


def test_only_the_namespaced_package_is_importable(tmp_path: Path) -> None:
    assert _run_python(IMPORT_PROBE, tmp_path) == {
        "core": "ModuleNotFoundError",
        "transports": "ModuleNotFoundError",
        "adapters": "ModuleNotFoundError",
        "webex_meetings.core": "ok",
        "webex_meetings.transports": "ok",
        "webex_meetings.adapters": "ok",
        "webex_meetings.core.lifecycle": "ok",
    }


def test_the_cards_folders_are_links_into_the_package() -> None:
    for name in ("core", "transports", "adapters"):
        link = REPO / name
        assert link.is_symlink(), f"{name}/ should be a symlink into src/webex_meetings/"
        assert os.readlink(link) == f"src/webex_meetings/{name}"  # relative, so clones work
        assert link.resolve() == REPO / "src" / "webex_meetings" / name


def test_the_installed_package_is_the_source_tree(tmp_path: Path) -> None:
    """The editable install points at ``src/`` with a plain path entry: tracebacks, imports
    and every file tool name the same file."""
    code = (
        "import json, webex_meetings.core.session as m\nprint(json.dumps({'file': m.__file__}))\n"
    )
    imported = Path(_run_python(code, tmp_path)["file"])
    assert imported == REPO / "src" / "webex_meetings" / "core" / "session.py"


USER_CODE = """
from __future__ import annotations

from webex_meetings import SessionConfig, State, Webex
from webex_meetings.core.config import MercuryConfig


def make() -> Webex:
    config = SessionConfig(mercury=MercuryConfig(ping_interval=10.0))
    return Webex.init(credentials={"access_token": "x"}, config=config)


def is_registered(state: State) -> bool:
    return state is State.REGISTERED
"""


def _mypy(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "user_app.py").write_text(source)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MYPYPATH")}
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "user_app.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_user_code_outside_the_repo_type_checks_against_the_install(tmp_path: Path) -> None:
    passed = _mypy(tmp_path, USER_CODE)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    # And the package's types are really read (not an untyped Any): a wrong type is caught.
    wrong = USER_CODE + "\n\nbroken: int = State.REGISTERED\n"
    failed = _mypy(tmp_path, wrong)
    assert failed.returncode == 1
    assert 'Incompatible types in assignment (expression has type "State"' in failed.stdout


def test_installed_package_is_typed(tmp_path: Path) -> None:
    code = (
        "import importlib.resources, json, webex_meetings\n"
        "typed = importlib.resources.files('webex_meetings').joinpath('py.typed')\n"
        "print(json.dumps({'py.typed': typed.is_file(), 'file': webex_meetings.__file__}))\n"
    )
    outcome = _run_python(code, tmp_path)
    assert outcome["py.typed"] is True
    assert Path(outcome["file"]).name == "__init__.py"


def test_distribution_declares_the_typed_classifier() -> None:
    classifiers = importlib.metadata.metadata("webex-meetings").get_all("Classifier") or []
    assert "Typing :: Typed" in classifiers


# -- the wheel -----------------------------------------------------------------------------


def _setuptools_builds_wheels_by_itself() -> bool:
    """setuptools >= 70.1 has bdist_wheel built in; older ones need the ``wheel`` package."""
    try:
        version = importlib.metadata.version("setuptools")
    except importlib.metadata.PackageNotFoundError:
        return False
    major, minor = (int(part) for part in version.split(".")[:2])
    return (major, minor) >= (70, 1) or importlib.util.find_spec("wheel") is not None


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    """A wheel built from a copy of the checkout (so no build/ is left in the tree)."""
    source = tmp_path_factory.mktemp("source") / "webex-meetings"
    shutil.copytree(REPO, source, symlinks=True, ignore=NOT_PART_OF_A_BUILD)
    out = tmp_path_factory.mktemp("wheel")
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out)]
    isolated = not _setuptools_builds_wheels_by_itself()
    if not isolated:
        command.append("--no-build-isolation")
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    result = subprocess.run(
        [*command, str(source)], capture_output=True, text=True, env=env, timeout=180
    )
    if result.returncode != 0 and isolated and "No matching distribution" in result.stderr:
        pytest.skip("building needs setuptools and wheel from the package index (offline?)")
    assert result.returncode == 0, result.stderr
    (built,) = out.glob("webex_meetings-*.whl")
    return zipfile.ZipFile(built)


def test_wheel_holds_only_the_package_and_its_dist_info(wheel: zipfile.ZipFile) -> None:
    version = importlib.metadata.version("webex-meetings")
    dist_info = DIST_INFO.format(version=version)
    names = wheel.namelist()
    outside = [n for n in names if not n.startswith(("webex_meetings/", dist_info))]
    assert outside == []
    assert {
        "webex_meetings/__init__.py",
        "webex_meetings/py.typed",
        "webex_meetings/core/__init__.py",
        "webex_meetings/core/lifecycle.py",
        "webex_meetings/transports/base.py",
        "webex_meetings/adapters/__init__.py",
        # what `webex-meetings conformance --client js` runs, for installed users too
        "webex_meetings/conformance/interop/register.mjs",
        "webex_meetings/conformance/interop/package.json",
    } <= set(names)
    assert not [n for n in names if "/tests/" in n or n.endswith((".pyc", ".mmd"))]


def test_wheel_declares_one_top_level_name(wheel: zipfile.ZipFile) -> None:
    version = importlib.metadata.version("webex-meetings")
    top_level = wheel.read(DIST_INFO.format(version=version) + "top_level.txt").decode()
    assert top_level.split() == ["webex_meetings"]
