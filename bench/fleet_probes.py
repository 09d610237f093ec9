"""Probes for the fleet benchmark (``fleet.py``): what a process holds (RSS, descriptors, live
tasks, gc-tracked objects), what a phase costs (wall, CPU of both processes, full
collections), and py-spy recordings summarized by library and function."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os
import resource
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

# -- probes ----------------------------------------------------------------------------------


def raise_descriptor_limit(limit: int | None = None) -> int:
    """Set this process's open-file limit to ``limit`` (its hard limit when ``None`` or
    higher); return the limit now in force."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    soft = hard if limit is None or (hard != resource.RLIM_INFINITY and limit > hard) else limit
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return soft


def rss_kib(pid: int | str = "self") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc status")


def open_descriptors(pid: int | str = "self") -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def cpu_of(pid: int) -> float:
    """User + system CPU seconds of another process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def live_tasks() -> int:
    """Tasks alive in this event loop (asyncio or trio)."""
    import sniffio

    if sniffio.current_async_library() == "asyncio":
        import asyncio

        return len(asyncio.all_tasks())
    import trio

    count, pending = 0, [trio.lowlevel.current_root_task()]
    while pending:
        task = pending.pop()
        if task is None:
            continue
        count += 1
        for nursery in task.child_nurseries:
            pending.extend(nursery.child_tasks)
    return count


@dataclass(frozen=True)
class Snapshot:
    rss_kib: int
    descriptors: int
    tasks: int
    objects: int

    @classmethod
    def take(cls) -> Snapshot:
        gc.collect()
        return cls(rss_kib(), open_descriptors(), live_tasks(), len(gc.get_objects()))


def return_freed_memory() -> bool:
    """Ask glibc to give freed heap back to the system (``malloc_trim(0)``): what stays in RSS
    after that is memory still in use (or held by Python's own allocator), not memory freed
    but kept by malloc. False where there is no glibc."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return False
    trim(0)
    return True


@dataclass
class Phase:
    """What one phase cost: wall, client CPU and emulator CPU in seconds, and how many full
    collections (generation 2) the client's garbage collector ran."""

    wall: float = 0.0
    cpu: float = 0.0
    emulator_cpu: float = 0.0
    full_collections: int = 0


@contextmanager
def measure(emulator_pid: int) -> Iterator[Phase]:
    """Measure the block into the :class:`Phase` it yields (filled in when the block ends)."""
    phase = Phase()
    emulator_cpu, cpu, wall = cpu_of(emulator_pid), time.process_time(), time.perf_counter()
    full = gc.get_stats()[2]["collections"]
    try:
        yield phase
    finally:
        phase.wall, phase.cpu = time.perf_counter() - wall, time.process_time() - cpu
        phase.emulator_cpu = cpu_of(emulator_pid) - emulator_cpu
        phase.full_collections = gc.get_stats()[2]["collections"] - full


# -- py-spy ------------------------------------------------------------------------------------


class Profiler:
    """py-spy recording this process, one raw (collapsed stacks) file per phase."""

    def __init__(self, directory: Path | None, size: int) -> None:
        self.directory = directory
        self.size = size
        self.files: dict[str, Path] = {}

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        if self.directory is None:
            yield
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{name}-{self.size}.txt"
        spy = Path(sys.executable).with_name("py-spy")
        command = [str(spy), "record", "--pid", str(os.getpid()), "--rate", "100", "--native"]
        command += ["--format", "raw", "--output", str(path)]
        recorder = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(1.0)  # py-spy attaches (outside the measured window)
        try:
            yield
        finally:
            recorder.send_signal(signal.SIGINT)
            try:
                recorder.wait(60)
            except subprocess.TimeoutExpired:
                recorder.kill()
            if path.exists():
                self.files[name] = path


WAITING: Final = (
    "selectors.py:EpollSelector.select",
    "_io_epoll.py:EpollIOManager.get_events",
    "fleet.py:Profiler.phase",
)
"""Frames in which the event loop waits for I/O (or py-spy attaches): samples inside them
are not work."""

COLLECTOR: Final = "gc_collect_main"

AREAS: Final = (
    ("webex_meetings/core/", "webex_meetings core"),
    ("webex_meetings/adapters/", "webex_meetings adapters (driver, io_tasks, listeners)"),
    ("webex_meetings/transports/", "webex_meetings transports"),
    ("webex_meetings/", "webex_meetings faces"),
    ("httpx/", "httpx + httpcore + h11"),
    ("httpcore/", "httpx + httpcore + h11"),
    ("h11/", "httpx + httpcore + h11"),
    ("wsproto/", "wsproto"),
    ("anyio/", "anyio"),
    ("asyncio/", "asyncio"),
    ("transitions/", "transitions"),
    ("json/", "json"),
)
"""Where a sample's time goes, by the file of its deepest Python frame (first match wins)."""


@dataclass(frozen=True)
class Frame:
    function: str
    path: str

    @classmethod
    def parse(cls, text: str) -> Frame:
        """``func (path/to/file.py:12)`` or ``func (libpython3.11.so)``."""
        function, _, where = text.partition(" (")
        return cls(function, where.rstrip(")").rsplit(":", 1)[0] if ".py:" in where else where)

    @property
    def python(self) -> bool:
        return self.path.endswith(".py")

    @property
    def name(self) -> str:
        return f"{self.path.rsplit('/', 1)[-1]}:{self.function}"

    @property
    def area(self) -> str:
        return next((area for part, area in AREAS if part in self.path), "other (stdlib...)")


def summarize_profile(path: Path, top: int = 15) -> dict[str, list[tuple[str, float]]]:
    """What a py-spy raw file says, as shares of the samples in which the process worked (not
    waiting in the loop's poller):

    * ``areas``: each sample's time to the collector if ``gc_collect_main`` is on its stack,
      else to the library of its deepest Python frame;
    * ``ours``: this library's functions, inclusive (once per sample however deep), in the
      samples outside the collector;
    * ``self``: the deepest Python frame of each sample (the collector apart).
    """
    areas: Counter[str] = Counter()
    ours: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        frames = [Frame.parse(text) for text in stack.split(";") if text]
        if not frames or any(frame.name in WAITING for frame in frames):
            continue
        count = int(count_text)
        total += count
        python = [frame for frame in frames if frame.python]
        leaf = python[-1] if python else frames[-1]
        collected = any(frame.function == COLLECTOR for frame in frames)
        areas["garbage collector" if collected else leaf.area] += count
        own["garbage collector" if collected else leaf.name] += count
        if not collected:
            for name in {frame.name for frame in python if "webex_meetings/" in frame.path}:
                ours[name] += count
    if not total:
        return {}

    def shares(counter: Counter[str], limit: int) -> list[tuple[str, float]]:
        return [(name, n / total) for name, n in counter.most_common(limit)]

    return {
        "areas": shares(areas, len(AREAS) + 2),
        "ours": shares(ours, top),
        "self": shares(own, top),
        "samples": [("worked", float(total))],
    }
