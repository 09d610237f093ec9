"""Everything the command line writes, in one place.

Theory of operation
-------------------
A command writes *lines* to stdout through one :class:`Output`. Every line has a kind
(``state``, ``http``, ``event``, ``error`` ...), a text and fields, and the time it was written.
As text it reads ``12:00:00.123 state        ready -> registering``; with ``--json`` it is one JSON
object, the same shape for every command::

    {"time": "2024-05-01T12:00:00.123Z", "kind": "state", "text": "ready -> registering",
     "fields": {"source": "ready", "dest": "registering", "trigger": "register"}}

When stdout is a terminal (and the output is not JSON), a command may also set a *status*:
:meth:`Output.show_progress` redraws it in place as a one-line progress indicator
(``| registering (3 s)``), erased before every line and when the status is cleared. Piped
output never gets one, so a file or a pipe holds only whole lines.

When the reader goes away (``| head -1`` exits), the next write fails with ``BrokenPipeError``;
from then on everything is discarded (stdout is pointed at the null device, so the interpreter's
exit does not complain) and :attr:`Output.on_reader_gone` is called once, so a long-running
command can end instead of running for nobody. :meth:`Output.watch_reader` notices a vanished
reader even while nothing is being written, by polling the pipe for an error condition.

Warnings, advice and the library's log records go to stderr as ``webex-meetings: ...`` lines
(:func:`warn`, :func:`report_error`, :class:`LogHandler`); they erase a progress indicator
first, so the two never share a terminal line.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import select
import stat
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, Final, TextIO

import anyio

__all__ = ["LogHandler", "Output", "report_error", "warn"]

PROGRAM: Final = "webex-meetings"
SPINNER: Final = "|/-\\"
ERASE_LINE: Final = "\r\x1b[K"
PROGRESS_INTERVAL: Final = 0.1
"""Seconds between two frames of the progress indicator."""
READER_POLL_INTERVAL: Final = 0.5
"""Seconds between two checks that the reader of a piped stdout is still there."""

_progress_drawn_on: TextIO | None = None
"""The stream a progress indicator is drawn on right now (a terminal is one per process)."""


def iso_time(now: float) -> str:
    """``2024-05-01T12:00:00.123Z``: the JSON lines' timestamp (UTC)."""
    moment = datetime.fromtimestamp(now, timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def clock_time(now: float) -> str:
    """``12:00:00.123``: the text lines' timestamp (local time)."""
    return time.strftime("%H:%M:%S", time.localtime(now)) + f".{int(now * 1000) % 1000:03d}"


def erase_progress() -> None:
    """Erase the progress indicator, wherever one is drawn."""
    global _progress_drawn_on
    stream, _progress_drawn_on = _progress_drawn_on, None
    if stream is not None:
        try:
            stream.write(ERASE_LINE)
            stream.flush()
        except (OSError, ValueError):  # the terminal is gone: nothing to erase
            pass


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _pipe_fd(stream: TextIO) -> int | None:
    """The file descriptor of ``stream`` when it is a pipe or a socket, else ``None``."""
    try:
        fd = stream.fileno()
        mode = os.fstat(fd).st_mode
    except (AttributeError, ValueError, OSError):
        return None
    return fd if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) else None


def _reader_left(fd: int) -> bool:
    """True when the read end of the pipe ``fd`` writes into has been closed."""
    if not hasattr(select, "poll"):  # pragma: no cover - Windows: the next write tells
        return False
    poller = select.poll()
    poller.register(fd, 0)  # error conditions are always reported
    return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))


class Output:
    """A command's stdout: timestamped lines (text or JSON), a progress indicator on a
    terminal, and the end of the run when the reader goes away. See the module docstring.

    :param stream: where lines go (``sys.stdout``).
    :param json_lines: one JSON object per line instead of text.
    :param interactive: show a progress indicator; by default only on a terminal, never
        with ``json_lines``.
    :param clock: the wall clock (seconds) the timestamps come from.
    """

    def __init__(
        self,
        stream: TextIO,
        *,
        json_lines: bool = False,
        interactive: bool | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.json_lines = json_lines
        self.interactive = (
            not json_lines and _is_terminal(stream) if interactive is None else interactive
        )
        self.reader_gone = False
        self.on_reader_gone: Callable[[], None] | None = None
        """Called once, when the reader of stdout has gone away."""
        self._stream = stream
        self._clock = clock
        self._status: str | None = None
        self._status_since = 0.0

    # -- lines ---------------------------------------------------------------------------

    def line(self, kind: str, text: str, **fields: Any) -> None:
        """Write one line of ``kind`` saying ``text``; ``fields`` are its details (JSON)."""
        now = self._clock()
        if self.json_lines:
            record = {"time": iso_time(now), "kind": kind, "text": text, "fields": fields}
            rendered = json.dumps(record, default=str)
        else:
            rendered = f"{clock_time(now)} {kind:<12} {text}"
        if self._status is not None:
            erase_progress()
        self._write(rendered + "\n")

    def _write(self, text: str) -> None:
        if self.reader_gone:
            return
        try:
            self._stream.write(text)
            self._stream.flush()
        except BrokenPipeError:
            self._reader_has_left()

    def _reader_has_left(self) -> None:
        if self.reader_gone:
            return
        self.reader_gone = True
        try:  # later writes, and the interpreter's final flush, go nowhere
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError):  # not a real file: nothing to redirect
            pass
        if self.on_reader_gone is not None:
            self.on_reader_gone()

    async def watch_reader(self, interval: float = READER_POLL_INTERVAL) -> None:
        """Run until cancelled, noticing a pipe whose reader left while nothing is written.
        Returns at once when stdout is not a pipe."""
        fd = _pipe_fd(self._stream)
        if fd is None:
            return
        while not self.reader_gone:
            if _reader_left(fd):
                self._reader_has_left()
            await anyio.sleep(interval)

    # -- the progress indicator ------------------------------------------------------------

    def status(self, text: str | None) -> None:
        """What the progress indicator says from now on; ``None`` removes it."""
        if text != self._status:
            self._status_since = time.monotonic()
        self._status = text
        if text is None:
            erase_progress()

    async def show_progress(self, interval: float = PROGRESS_INTERVAL) -> None:
        """Run until cancelled, redrawing the status on a terminal; returns at once otherwise."""
        global _progress_drawn_on
        if not self.interactive:
            return
        try:
            for frame in itertools.cycle(SPINNER):
                if self._status is not None and not self.reader_gone:
                    waited = time.monotonic() - self._status_since
                    self._write(f"{ERASE_LINE}{frame} {self._status} ({waited:.0f} s)")
                    _progress_drawn_on = self._stream
                await anyio.sleep(interval)
        finally:
            erase_progress()


# -- stderr ------------------------------------------------------------------------------------


def _to_stderr(text: str) -> None:
    erase_progress()
    try:
        sys.stderr.write(f"{PROGRAM}: {text}\n")
        sys.stderr.flush()
    except (OSError, ValueError):  # nobody reads stderr any more
        pass


def warn(text: str) -> None:
    """Tell the user about something that works but should be fixed."""
    _to_stderr(f"warning: {text}")


def report_error(
    advice: str, *, exit_code: int, error: BaseException, output: Output | None
) -> None:
    """Write the advice for a failure to stderr and, for JSON output, an ``error`` line."""
    _to_stderr(advice)
    if output is not None and output.json_lines:
        output.line("error", advice, exit_code=exit_code, error=type(error).__name__)


class LogHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The library's log records on stderr, timestamped; a progress indicator is erased
    first."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)
        self.setFormatter(
            logging.Formatter(
                f"%(asctime)s.%(msecs)03d {PROGRAM} %(levelname)s %(name)s: %(message)s",
                datefmt="%H:%M:%S",
            )
        )

    def emit(self, record: logging.LogRecord) -> None:
        erase_progress()
        super().emit(record)
