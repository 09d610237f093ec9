"""The state every part of a meetings session shares, and the hooks between the parts.

:class:`~.session.MeetingsSession` is assembled from three classes so that each file holds one
concern: :mod:`.session` (commands, the register and unregister flows), :mod:`.session_device`
(the WDM device: create, prune, refresh, delete) and :mod:`.session_mercury` (the Mercury
websocket: connect, frames, timers, reconnect). :class:`SessionBase` declares the state they
share and the few methods one part calls in another.
"""

from __future__ import annotations

import enum
import random
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ParamSpec

from . import catalog as catalog_protocol
from .config import SessionConfig
from .credentials import Credentials
from .device import DeviceRegistration
from .effects import Effect, EmitEvent
from .errors import WebexError
from .events import Event, StateChanged
from .http_client import HttpClient
from .lifecycle import Lifecycle, State, Trigger
from .mercury import MercuryProtocol, MercuryTimer
from .timers import Timers

__all__ = ["SessionBase"]

P = ParamSpec("P")

KEEPS_A_DEVICE = frozenset({State.REGISTERING, State.REGISTERED, State.RECONNECTING})
"""States in which the session wants a live device (and re-creates one the server forgot)."""


class CommandKind(enum.Enum):
    """The two user commands the session serializes."""

    REGISTER = "register"
    UNREGISTER = "unregister"


@dataclass(slots=True)
class Command:
    """One queued user command and every caller waiting for it (coalesced)."""

    kind: CommandKind
    waiters: list[int]


@dataclass(slots=True)
class Registration:
    """Bookkeeping of one ``register()`` run."""

    waiting_for: set[str] = field(default_factory=set)
    pruned: bool = False
    failed: bool = False


@dataclass(slots=True)
class Socket:
    """The Mercury websocket currently open or opening."""

    socket_id: int
    protocol: MercuryProtocol
    opened: bool = False
    timers: dict[MercuryTimer, int] = field(default_factory=dict)


class SessionBase:
    """Shared state and cross-part hooks of a meetings session (not used on its own)."""

    session_id: str
    person: catalog_protocol.Person | None
    geo_hint: dict[str, Any] | None
    preferred_site: str | None
    _config: SessionConfig
    _rng: random.Random
    _now: float
    _out: list[Effect]
    _ids: Iterator[int]
    _timers: Timers
    _http: HttpClient
    _lifecycle: Lifecycle
    _catalog: catalog_protocol.ServiceCatalog | None
    _device: DeviceRegistration | None
    _device_refresh_timer: int | None
    _recreation_waiters: list[tuple[Callable[[], None], Callable[[WebexError], None]]]
    _socket: Socket | None
    _connect_failures: int
    _recent_event_ids: OrderedDict[str, None]
    _reconnect_timer: int | None
    _reconnect_after_close: bool
    _active: Command | None
    _queue: deque[Command]
    _registration: Registration | None
    _shut_down: bool

    @property
    def state(self) -> State:
        """The lifecycle state."""
        return self._lifecycle.state

    @property
    def credentials(self) -> Credentials:
        """The current credentials (replaced after each refresh)."""
        return self._http.credentials

    def _fire(self, trigger: Trigger) -> None:
        source, dest = self._lifecycle.fire(trigger)
        self._emit(StateChanged(source.value, dest.value, trigger.value))

    def _emit(self, event: Event) -> None:
        self._out.append(EmitEvent(event))

    def _new_uuid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def _while_registering(self, callback: Callable[P, None]) -> Callable[P, None]:
        """``callback``, made to run only while the registration in progress now is still
        the one in progress (not failed, not replaced by a later ``register()``): answers
        that outlive their registration are dropped."""
        registration = self._registration

        def guarded(*args: P.args, **kwargs: P.kwargs) -> None:
            current = self._registration
            if registration is not None and current is registration and not current.failed:
                callback(*args, **kwargs)

        return guarded

    # -- hooks, implemented by the part that owns each step ---------------------------------

    def _fail_registration(self, error: WebexError) -> None:
        raise NotImplementedError

    def _finish_command(self, error: WebexError | None) -> None:
        raise NotImplementedError

    def _delete_device(self) -> None:
        raise NotImplementedError

    def _connect_first(self) -> None:
        raise NotImplementedError

    def _run_mercury(self, socket: Socket, actions: list[Any]) -> None:
        raise NotImplementedError

    def _refresh_device(
        self, *, then: Callable[[], None], on_error: Callable[[WebexError], None]
    ) -> None:
        raise NotImplementedError
