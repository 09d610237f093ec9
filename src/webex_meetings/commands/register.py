"""``webex-meetings register``: register a device and print what happens, until it ends.

Theory of operation
-------------------
A run goes through phases: ``registering`` (``register()`` is running), ``registered``
(printing events) and ``leaving``. The session lives inside one cancel scope
(:attr:`RegisterRun.scope`) and the run ends in one of three ways:

* **Ctrl-C** (or SIGTERM). The first cancels the scope: a cancelled ``register()`` is rolled
  back by the library (the device it created is deleted), and leaving ``async with`` unregisters
  a registered device, both within the library's ``unregister_timeout``. The line printed says
  which of the two is under way. A second Ctrl-C stops waiting: it says what may be left on
  the server and exits at once. Exit 130.
* **The reader of stdout leaves** (``register | head -1``): as a first Ctrl-C. Exit 141.
* **Mercury closes for good** (the state becomes ``disconnected``, for example after a 4400
  close): the run says so with the close code and reason, deletes the device and exits 7.

The last line tells what really happened, read from the session's state once ``async with``
has ended. Every lifecycle event is printed with its details (reconnect attempts with their
error and delay, close codes and reasons), and so is every failed HTTP request, so an
unreachable cloud is never silent; ``-v`` also prints the requests that succeed. On a terminal
a progress indicator says what the run is waiting for.
"""

from __future__ import annotations

import argparse
import collections
import os
import signal
import sys
from collections.abc import Callable
from typing import Final, Literal

import anyio

from ..core.events import ConnectionFailed, Event, NetworkConnected, StateChanged
from ..core.lifecycle import State
from ..recording import RecordingHttpTransport, Sink, WireRecord
from ..webex import Webex
from .advice import EXIT_DISCONNECTED, EXIT_INTERRUPTED, EXIT_OUTPUT_CLOSED
from .events import describe_event
from .options import http_transport, read_jwt, read_token, session_config, transport_options
from .output import Output

__all__ = ["RegisterRun", "StopReason", "run"]

StopReason = Literal["interrupt", "reader", "disconnected"]
"""What ended a run: Ctrl-C (or SIGTERM), the reader of stdout leaving, Mercury's end."""
_EXIT_CODES: Final[dict[StopReason, int]] = {
    "interrupt": EXIT_INTERRUPTED,
    "reader": EXIT_OUTPUT_CLOSED,
    "disconnected": EXIT_DISCONNECTED,
}
_PRUNE_HINT: Final = "delete it with `webex-meetings devices prune --yes`"


# -- one run ---------------------------------------------------------------------------------


class RegisterRun:
    """One ``register`` run: its phase, how it was asked to stop, and what it prints."""

    def __init__(
        self, make_webex: Callable[[Sink], Webex], out: Output, *, where: str, verbose: int
    ) -> None:
        """``make_webex(sink)`` builds the session whose HTTP requests go to ``sink``."""
        self.out = out
        self.where = where
        self.verbose = verbose
        self.scope = anyio.CancelScope()
        self.phase = "registering"
        self.stopped_by: StopReason | None = None
        """Why the run is ending, once it is."""
        self.interrupts = 0
        self._ended = anyio.Event()
        self._failures: collections.Counter[str] = collections.Counter()
        """Failed attempts in a row, by step (a success resets its step)."""
        self.webex = make_webex(self.show_request)
        out.on_reader_gone = self._reader_gone

    # -- the session ---------------------------------------------------------------------

    async def session(self) -> int:
        """Register, print events until the run is asked to stop, leave; the exit code."""
        self.webex.meetings.on("*", self.show_event)
        with self.scope:
            async with self.webex:
                self.out.line("start", f"registering with {self.where}; Ctrl-C cancels")
                self.out.status(f"registering with {self.where}")
                await self.webex.meetings.register()
                self._now_registered()
                await self._ended.wait()
                self.phase = "leaving"
                self.out.status("deleting the device")
        self.out.status(None)
        return self._outcome()

    def _now_registered(self) -> None:
        self.phase = "registered"
        device = self.webex.meetings.device
        url = device.url if device else None
        text = f"registered: {url}; printing events until Ctrl-C"
        self.out.line("registered", text, device_url=url)
        self.out.status("registered; waiting for events (Ctrl-C to stop)")

    def _outcome(self) -> int:
        meetings = self.webex.meetings
        if not meetings.state.at_rest:
            self.out.line("left", self._left_behind(), state=meetings.state.value)
        elif self.phase == "registering":
            text = "cancelled: the registration was rolled back; no device is left"
            self.out.line("cancelled", text)
        else:
            self.out.line("unregistered", "unregistered: the device is deleted")
        return _EXIT_CODES[self.stopped_by or "interrupt"]

    def _left_behind(self) -> str:
        device = self.webex.meetings.device
        if device is not None:
            return (
                f"the device {device.url} may still be registered; an ephemeral device lapses "
                f"by itself after its ttl, or {_PRUNE_HINT}"
            )
        return (
            "the registration did not finish: a device may have been created; check with "
            "`webex-meetings devices list` (prune deletes it)"
        )

    # -- ways to stop --------------------------------------------------------------------

    def interrupt(self) -> None:
        """Ctrl-C: the first cancels (rolling back or unregistering), the second stops waiting."""
        self.interrupts += 1
        if self.interrupts > 1:
            self.out.line("stopped", f"stopped waiting: {self._left_behind_now()}")
            sys.stderr.flush()
            os._exit(EXIT_INTERRUPTED)
        self.stopped_by = self.stopped_by or "interrupt"
        kind = "cancelled" if self.phase == "registering" else "interrupted"
        self.out.line(kind, self._interrupted_text(), phase=self.phase)
        self.out.status("rolling back" if self.phase == "registering" else "unregistering")
        self.scope.cancel()

    def _interrupted_text(self) -> str:
        again = "; Ctrl-C again to stop waiting"
        if self.phase == "registering":
            return (
                "cancelled: stopping the registration and deleting its device, if one was "
                f"made{again}"
            )
        return f"interrupted: unregistering (closing Mercury, deleting the device){again}"

    def _left_behind_now(self) -> str:
        if self.webex.meetings.state.at_rest:
            return "nothing is left on the server"
        return self._left_behind()

    def _reader_gone(self) -> None:
        if self.stopped_by is None:
            self.stopped_by = "reader"
            self.scope.cancel()

    async def watch_signals(self) -> None:
        """Run until cancelled, turning SIGINT and SIGTERM into :meth:`interrupt`."""
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for _ in signals:
                self.interrupt()

    # -- what it prints ------------------------------------------------------------------

    def show_event(self, event: Event) -> None:
        """Print a library event; notice the end of the connection and reconnects."""
        kind, text, fields = describe_event(event)
        self.out.line(kind, text, **fields)
        if isinstance(event, ConnectionFailed) and self.phase == "registered":
            self.out.status(f"reconnecting (attempt {event.attempt} failed)")
        elif isinstance(event, NetworkConnected) and self.phase == "registered":
            self.out.status("registered; waiting for events (Ctrl-C to stop)")
        elif isinstance(event, StateChanged) and event.dest == State.DISCONNECTED.value:
            self._disconnected_for_good()

    def _disconnected_for_good(self) -> None:
        if self.phase != "registered" or self.stopped_by is not None:
            return
        self.stopped_by = "disconnected"
        text = "Mercury closed the connection for good; deleting the device"
        self.out.line("ended", text)
        self._ended.set()

    def show_request(self, record: WireRecord) -> None:
        """Print a failed request (``-v``: every request), numbering repeated attempts."""
        attempt = self._failures[record.step] + 1
        failed = record.error is not None or (record.status or 0) >= 400
        if failed:
            self._failures[record.step] = attempt
        else:
            del self._failures[record.step]
        if not failed and self.verbose < 1:
            return
        took = f"{record.duration * 1000:.1f} ms" + (f", attempt {attempt}" if attempt > 1 else "")
        if record.error is not None:
            text = f"{record.detail or f'{record.what} failed: {record.error}'} ({took})"
        else:
            text = f"{record.what} -> {record.status} ({took})"
        fields = {"step": record.step, "status": record.status, "error": record.detail}
        self.out.line("http", text, attempt=attempt, **fields)


# -- the command -------------------------------------------------------------------------------


async def _register(args: argparse.Namespace, out: Output) -> int:
    jwt = read_jwt(args)
    token = None if jwt is not None else read_token(args)
    config = session_config(args)
    options = transport_options(args, config)
    http = http_transport(options)

    def make_webex(sink: Sink) -> Webex:
        return Webex.init(
            access_token=token,
            jwt=jwt,
            config=config,
            http=RecordingHttpTransport(http, sink),
            proxy=options.proxy,
            verify=options.verify,
        )

    async with http:
        run = RegisterRun(make_webex, out, where=args.cloud or "Webex", verbose=args.verbose)
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(run.watch_signals)
            tasks.start_soon(out.show_progress)
            tasks.start_soon(out.watch_reader)
            code = await run.session()
            tasks.cancel_scope.cancel()
    return code


def run(args: argparse.Namespace, out: Output) -> int:
    """Run ``register``; returns the exit code.

    :raises WebexError: the registration failed (the caller turns it into advice).
    """
    code: int = anyio.run(_register, args, out)
    return code
