"""The runner: one emulator, and for each scenario a fresh state, a client run, a verdict.

Theory of operation: :class:`Kit` starts its own emulator on 127.0.0.1 (a background thread,
:class:`~webex_meetings.emulator.EmulatorThread`). For each scenario it

1. restarts the emulator (every connection cut, devices and tokens forgotten), clears every
   fault and departure, restores the device limit and forgets the records;
2. adds a fresh user and issues its token (so the run's devices are that user's);
3. applies the scenario's ``arrange`` steps;
4. starts the client as a subprocess in its own process group, with the environment of
   :data:`ENVIRONMENT`, its output going to a temporary file (never judged);
5. watches it: a moment after the first Mercury session of the run became ready it applies
   the scenario's ``mid_session`` steps; when the process ends it notes the time; when the
   timeout passes first, it kills the process group (a hang);
6. waits briefly for the emulator to see the client's sockets close, snapshots the records
   and hands them, with the start and end times, to the judge (:func:`.judge.judge`).

Nothing the client prints and not its exit code reaches the judge.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import IO, Any, Final

from ..emulator import Emulator, EmulatorThread
from ..emulator.control import Control
from .clients import Client
from .judge import RunFacts, Verdict, judge
from .scenarios import Scenario

__all__ = ["DEFAULT_TIMEOUT", "ENVIRONMENT", "Kit", "Run", "snapshot_records"]

DEFAULT_TIMEOUT: Final = 30.0
DEFAULT_DEVICE_LIMIT: Final = 100
POLL_SECONDS: Final = 0.02
SETTLE_SECONDS: Final = 1.0
"""How long to wait, after the client ended, for the emulator to see its sockets close."""
OUTPUT_TAIL: Final = 4000

ENVIRONMENT: Final = (
    ("STUB_BASE", "the emulator's base URL (http://127.0.0.1:PORT): every service is under it"),
    ("WEBEX_ACCESS_TOKEN", "the run's access token, fresh for each scenario"),
    ("WEBEX_TOKEN", "the same token (the name the JS interop script reads)"),
    ("HOLD_MS", "how long to stay registered before unregistering, in milliseconds"),
    ("CONFORMANCE_SCENARIO", "the scenario's name (for the client's logs; change nothing by it)"),
    (
        "MERCURY_PING_INTERVAL",
        "ms between pings; set by scenarios that need short Mercury timings (the JS SDK's name)",
    ),
    ("MERCURY_PONG_TIMEOUT", "ms to wait for a pong before reconnecting (the JS SDK's name)"),
    (
        "MERCURY_AUTHORIZATION_TIMEOUT",
        "ms to wait for buffer_state before giving the connection attempt up",
    ),
    (
        "MERCURY_CONNECT_ATTEMPTS",
        "how many websocket connection attempts register() may make before it gives up",
    ),
)
"""The environment contract: what every client run is given (the Mercury timings only by the
scenarios that need them; a client without such settings may ignore them)."""

_CONTRACT_NAMES: Final = frozenset(name for name, _ in ENVIRONMENT)


@dataclass(frozen=True, slots=True)
class Run:
    """One scenario's run: its verdict, and the tail of what the client printed (the token
    replaced by ``<token>``; shown to people, never judged)."""

    scenario: Scenario
    verdict: Verdict
    output: str


@dataclass(frozen=True, slots=True)
class _Target:
    control: Control
    token: str
    user_id: str


class Kit:
    """Runs scenarios against one client (see the module docstring).

    ``timeout`` bounds each client run, in seconds; ``seed`` the emulator's ids and tokens.
    """

    def __init__(self, client: Client, *, timeout: float = DEFAULT_TIMEOUT, seed: int = 0) -> None:
        self.client = client
        self.timeout = timeout
        self.seed = seed

    def run(
        self, scenarios: Sequence[Scenario], on_run: Callable[[Run], None] | None = None
    ) -> list[Run]:
        """Run each scenario in order; ``on_run`` is told of each run as it is judged."""
        runs = []
        with EmulatorThread(host="127.0.0.1", port=0, seed=self.seed) as emulator:
            for scenario in scenarios:
                run = self._run_one(emulator, scenario)
                runs.append(run)
                if on_run is not None:
                    on_run(run)
        return runs

    def _run_one(self, emulator: Emulator, scenario: Scenario) -> Run:
        target = _fresh_state(emulator, scenario)
        env = self.client.environment(_environment(emulator, scenario, target.token), self.timeout)
        with tempfile.TemporaryFile() as output:
            started = emulator.clock()
            ended = self._watch(emulator, scenario, target, env, output)
            _wait_for_sockets(emulator.control)
            records = snapshot_records(emulator.control)
            output.seek(0)
            text = output.read().decode(errors="replace")[-OUTPUT_TAIL:]
        facts = RunFacts(scenario.name, target.user_id, started, ended, self.timeout)
        verdict = judge(records, facts, scenario.expect)
        return Run(scenario, verdict, text.replace(target.token, "<token>"))

    def _watch(
        self,
        emulator: Emulator,
        scenario: Scenario,
        target: _Target,
        env: dict[str, str],
        output: IO[bytes],
    ) -> float | None:
        """Run the client until it ends (the emulator time it ended) or the timeout (None)."""
        process = subprocess.Popen(
            self.client.argv,
            cwd=self.client.cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            return self._wait(emulator, scenario, target, process)
        finally:
            _kill_group(process)

    def _wait(
        self,
        emulator: Emulator,
        scenario: Scenario,
        target: _Target,
        process: subprocess.Popen[bytes],
    ) -> float | None:
        deadline = time.monotonic() + self.timeout
        pending = bool(scenario.mid_session)
        while time.monotonic() < deadline:
            try:
                process.wait(timeout=POLL_SECONDS)
            except subprocess.TimeoutExpired:
                pass
            else:
                return emulator.clock()
            if pending and _mid_session_due(emulator, scenario):
                for step in scenario.mid_session:
                    step.apply(target)
                pending = False
        return None


def _fresh_state(emulator: Emulator, scenario: Scenario) -> _Target:
    control = emulator.control
    control.restart()
    control.clear_faults()
    control.set_device_limit(DEFAULT_DEVICE_LIMIT)
    control.clear_records()
    user = emulator.add_user(display_name=f"Conformance {scenario.name}")
    target = _Target(control, emulator.issue_token(user), user.id)
    for step in scenario.arrange:
        step.apply(target)
    return target


def _environment(emulator: Emulator, scenario: Scenario, token: str) -> dict[str, str]:
    """This process's environment without the contract's names, then the run's values."""
    env = {k: v for k, v in os.environ.items() if k not in _CONTRACT_NAMES}
    env.update(
        STUB_BASE=emulator.base_url,
        WEBEX_ACCESS_TOKEN=token,
        WEBEX_TOKEN=token,
        HOLD_MS=str(scenario.hold_ms),
        CONFORMANCE_SCENARIO=scenario.name,
    )
    env.update(scenario.env)
    return env


def _mid_session_due(emulator: Emulator, scenario: Scenario) -> bool:
    ready = [c.ready_at for c in emulator.control.connections if c.ready_at is not None]
    return bool(ready) and emulator.clock() >= min(ready) + scenario.mid_session_after


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """End the client's process group (ours: started with a new session) and reap it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _wait_for_sockets(control: Control) -> None:
    deadline = time.monotonic() + SETTLE_SECONDS
    while time.monotonic() < deadline and any(c.open for c in control.connections):
        time.sleep(POLL_SECONDS)


def snapshot_records(control: Control) -> dict[str, Any]:
    """Every record a judge needs, JSON-shaped as ``GET /_emulator/records`` gives them
    (devices are the whole history; their answer bodies are left out)."""
    devices = []
    for device in control.device_history:
        entry = asdict(device)
        entry.pop("dto", None)
        devices.append(entry)
    return {
        "requests": [asdict(r) for r in control.requests],
        "devices": devices,
        "connections": [asdict(c) for c in control.connections],
        "acks": [asdict(a) for a in control.acks],
        "violations": [asdict(v) for v in control.violations],
    }
