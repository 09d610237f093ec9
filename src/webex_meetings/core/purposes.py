"""Why the session sent each request, and what it remembers of a ``register()`` run.

Theory of operation
-------------------
:class:`~.session.MeetingsSession` hands every request to its
:class:`~.http_client.HttpClient` with a *purpose*: one of the small values below, saying
why the request was sent and carrying what its answer's handler needs (the registration it
belongs to, the device it refreshes, ...). The reply comes back with the same value and the
session routes it by the purpose's type (``session._REPLY_HANDLERS``). A purpose is never
looked at by anything but the session; the HTTP client only passes it through.

:class:`Registration` is the bookkeeping of one ``register()`` run (its step, the
prerequisites still awaited, the devices it created and must clean up, the warm path), owned
by the session: the session creates it, and only the session's handlers change it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Final

from . import catalog as catalog_protocol
from . import device_store
from .device import DeviceRegistration
from .errors import DeviceLimitError, WebexError
from .fast_init import fast_init

__all__ = [
    "DELETE_FOR_UNREGISTER",
    "MEETING_PREFERENCES",
    "REGION",
    "After",
    "Catalog",
    "CleanUp",
    "DeleteForUnregister",
    "DeletePruned",
    "LimitedCatalog",
    "ListForPruning",
    "MeetingPreferences",
    "Person",
    "PersonAside",
    "PostDevice",
    "RecreateDevice",
    "RefreshDevice",
    "Region",
    "Registration",
    "Sweep",
    "TokenBeforeReconnect",
    "TokenBeforeRegister",
]


# -- the registration in progress ----------------------------------------------------------


@dataclass(slots=True, eq=False)
class Registration:
    """Bookkeeping of one ``register()`` run. Answers sent for a run that is no longer the
    current one (failed, or replaced by a later ``register()``) are dropped, except what
    cleaning up after it needs."""

    marker: str | None = None
    """Sent in every device POST of this run, to find a device whose answer was lost."""
    step: str = "catalog"
    """The step in progress, named when the deadline passes (``mercury``: ask the link)."""
    waiting_for: set[str] = field(default_factory=set)
    """Prerequisites (``catalog``, ``people/me``) still to come before the device POST."""
    pruned: bool = False
    """The device limit was hit once and our oldest devices deleted."""
    pruning: set[str] = field(default_factory=set)
    """URLs of pruned devices whose DELETE is still in flight."""
    attempt: int = 0
    """Tries of the current device POST (a retry after a lost answer is one more)."""
    posting: bool = False
    """A device POST is in flight."""
    unsure: bool = False
    """A POST may have created a device we do not know the URL of."""
    orphans: set[str] = field(default_factory=set)
    """Devices created for this run and not kept: to delete."""
    deleting: set[str] = field(default_factory=set)
    """Devices of this run whose clean-up DELETE is in flight."""
    retry: WebexError | None = None
    """Set while a lost POST answer is being cleaned up before the POST is retried."""
    cleaning: int = 0
    """Device lists and DELETEs in flight to clean up what this run created."""
    failure: WebexError | None = None
    """Why this run failed, once it has; it completes when the clean-up is done."""
    finished: bool = False
    warm: bool = False
    """Connecting a stored device (the warm path); cleared when it falls back to cold."""
    offered: device_store.DeviceRecord | None = None
    """The loaded record, used once a token is in hand (:meth:`MeetingsSession._proceed`)."""
    applied: bool = False
    """``offered`` was used: from then on the store follows this run."""
    asked_person: bool = False
    """``people/me`` was sent alongside the warm attempt: never sent twice."""

    @property
    def failed(self) -> bool:
        """True once the run has failed (it may still be cleaning up)."""
        return self.failure is not None


# -- why each request is sent: its reply goes to the handler of its purpose -------------------


class After(enum.Enum):
    """What follows a device refresh (PUT, or a POST replacing a device the server forgot)."""

    REVIVE = "revive"
    """``register()`` from ``disconnected``: connect Mercury (or fail the registration)."""
    PERIODIC = "periodic"
    """The ephemeral device's timer: move Mercury if the websocket URL changed."""
    RECONNECT = "reconnect"
    """Mercury's upgrade said the device is gone: reconnect after ``delay`` either way."""


@fast_init
@dataclass(frozen=True, slots=True, eq=False)
class LimitedCatalog:
    run: Registration


@fast_init
@dataclass(frozen=True, slots=True, eq=False)
class Catalog:
    run: Registration
    limited: catalog_protocol.ServiceCatalog | None


@fast_init
@dataclass(frozen=True, slots=True, eq=False)
class Person:
    run: Registration


@dataclass(frozen=True, slots=True, eq=False)
class PersonAside:
    """people/me sent alongside a warm registration: never waited for."""


@dataclass(frozen=True, slots=True, eq=False)
class Region:
    pass


@dataclass(frozen=True, slots=True, eq=False)
class MeetingPreferences:
    pass


@fast_init
@dataclass(frozen=True, slots=True, eq=False)
class PostDevice:
    run: Registration


@fast_init
@dataclass(frozen=True, slots=True, eq=False)
class ListForPruning:
    run: Registration
    limit_error: DeviceLimitError


@fast_init
@dataclass(frozen=True, slots=True, eq=False)
class DeletePruned:
    run: Registration
    url: str


@fast_init
@dataclass(frozen=True, slots=True, eq=False)
class Sweep:
    """List the user's devices to delete those carrying ``marker``."""

    marker: str
    run: Registration | None


@fast_init
@dataclass(frozen=True, slots=True, eq=False)
class CleanUp:
    """Delete a device created but not kept (``run``: the registration waiting for it)."""

    url: str
    run: Registration | None


@dataclass(frozen=True, slots=True, eq=False)
class DeleteForUnregister:
    pass


@fast_init
@dataclass(frozen=True, slots=True, eq=False)
class RefreshDevice:
    device: DeviceRegistration
    after: After
    run: Registration | None = None
    delay: float = 0.0
    old_socket_url: str | None = None


@fast_init
@dataclass(frozen=True, slots=True, eq=False)
class RecreateDevice:
    replacing: DeviceRegistration
    marker: str | None
    run: Registration | None
    """The registration this POST is part of (reviving a device the server forgot)."""


@fast_init
@dataclass(frozen=True, slots=True, eq=False)
class TokenBeforeRegister:
    run: Registration


@fast_init
@dataclass(frozen=True, slots=True, eq=False)
class TokenBeforeReconnect:
    delay: float


REGION: Final = Region()
MEETING_PREFERENCES: Final = MeetingPreferences()
DELETE_FOR_UNREGISTER: Final = DeleteForUnregister()
