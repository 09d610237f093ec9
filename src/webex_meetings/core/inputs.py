"""What the core is told: user commands and what the outside world did.

A driver (``webex_meetings.adapters``) feeds each of these to
:meth:`webex_meetings.core.session.MeetingsSession.handle` together with the current time and
runs the effects it gets back. Inputs that name a request, socket or timer the core no longer
waits for (a stale id) are ignored, so a driver never has to know what is still current.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .fast_init import fast_init
from .http import HttpResponse
from .redaction import Secret

if TYPE_CHECKING:
    from .device_store import DeviceRecord

__all__ = [
    "Cancel",
    "DeviceRecordLoaded",
    "FailureKind",
    "HttpRequestFailed",
    "HttpResponseReceived",
    "Initialize",
    "Input",
    "Register",
    "Shutdown",
    "TimerFired",
    "TokenProvided",
    "TokenProviderFailed",
    "Unregister",
    "WebSocketClosed",
    "WebSocketOpened",
    "WebSocketRejected",
    "WebSocketTextReceived",
]


@dataclass(frozen=True, slots=True)
class Input:
    """Base class of every input."""


# -- user commands ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Initialize(Input):
    """``Webex.init``: check the credentials and become ready (emits ``meetings:ready``)."""


@fast_init
@dataclass(frozen=True, slots=True)
class Register(Input):
    """``meetings.register()``. Completed by a ``CompleteCommand`` with the same id."""

    command_id: int


@fast_init
@dataclass(frozen=True, slots=True)
class Unregister(Input):
    """``meetings.unregister()``. Completed by a ``CompleteCommand`` with the same id.

    ``keep_device``: close Mercury but leave the device registered in WDM (no ``DELETE``) and
    in the device store, for a later process to reuse (the warm path). Coalesced calls keep
    it only if every one of them asks to.
    """

    command_id: int
    keep_device: bool = False


@dataclass(frozen=True, slots=True)
class DeviceRecordLoaded(Input):
    """What the device store holds for this session's key (``None``: nothing), fed just
    before ``Register``. The next registration starting from rest checks it and, when it is
    usable, skips the catalog (and the device POST: the warm path). Loaded from the store,
    never trusted: see :mod:`.device_store`."""

    record: DeviceRecord | None


@fast_init
@dataclass(frozen=True, slots=True)
class Cancel(Input):
    """The caller of ``Register(command_id)`` gave up waiting (a cancelled ``register()``).

    A registration that no other caller waits for is abandoned at once: Mercury attempts stop,
    and the device it created (or may have created) is deleted before its ``CompleteCommand``
    arrives, with a :class:`~.errors.CancelledCommandError`. A caller sharing a coalesced
    registration with others is completed at once and the registration goes on. A queued
    command is dropped. ``Unregister`` cannot be cancelled; unknown or finished ids are
    ignored.
    """

    command_id: int


@dataclass(frozen=True, slots=True)
class Shutdown(Input):
    """The owner is going away: fail pending commands, stop every timer, close sockets.

    Does not unregister; a driver that owns the session sends :class:`Unregister` first. A
    registration or unregistration cut short settles the lifecycle (``registering`` moves to
    ``ready``, ``unregistering`` to ``disconnected``: the device may still exist).
    """


# -- HTTP ---------------------------------------------------------------------------------


@fast_init
@dataclass(frozen=True, slots=True)
class HttpResponseReceived(Input):
    """The response to ``SendHttpRequest(request_id, ...)``, whatever its status."""

    request_id: int
    response: HttpResponse


class FailureKind(enum.Enum):
    """Why a request got no usable response; decides the error type and whether a retry can
    help."""

    CONNECTION = "connection"
    """Refused, reset, closed, unresolvable, a proxy failure, a broken HTTP answer: retryable."""
    TIMEOUT = "timeout"
    """The request's timeout ran out: retryable."""
    CERTIFICATE = "certificate"
    """TLS certificate verification failed: retrying cannot help."""
    TOO_LARGE = "too_large"
    """The response body exceeded the transport's cap and was cut: retrying cannot help."""

    @property
    def retryable(self) -> bool:
        """True when trying the same request again may succeed."""
        return self in (FailureKind.CONNECTION, FailureKind.TIMEOUT)


@fast_init
@dataclass(frozen=True, slots=True)
class HttpRequestFailed(Input):
    """The request got no response: connection refused, reset, TLS failure, timeout, or an
    answer too large to accept.

    ``error`` is a short description in our words (never the transport's raw message).
    """

    request_id: int
    error: str
    kind: FailureKind = FailureKind.CONNECTION

    @property
    def timed_out(self) -> bool:
        """True when the request's timeout ran out."""
        return self.kind is FailureKind.TIMEOUT


# -- websocket ----------------------------------------------------------------------------


@fast_init
@dataclass(frozen=True, slots=True)
class WebSocketOpened(Input):
    """The websocket asked for by ``OpenWebSocket(socket_id, ...)`` completed its upgrade."""

    socket_id: int


@fast_init
@dataclass(frozen=True, slots=True)
class WebSocketRejected(Input):
    """The upgrade was answered with a plain HTTP response (e.g. 404, 429) instead of 101."""

    socket_id: int
    status: int
    retry_after: float | None = None


@fast_init
@dataclass(frozen=True, slots=True)
class WebSocketTextReceived(Input):
    """One complete text message arrived."""

    socket_id: int
    text: str


@fast_init
@dataclass(frozen=True, slots=True)
class WebSocketClosed(Input):
    """The websocket is closed: by the peer's close frame (its code and reason), after our
    own close completed, or abnormally (``code=1006``: no close frame, connection lost,
    connect failed)."""

    socket_id: int
    code: int
    reason: str = ""


# -- the app's token provider -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TokenProvided(Input):
    """The token provider's answer to ``RequestToken(request_id, ...)``: a token (wrapped
    at once, so it is redacted everywhere) and its lifetime in seconds (``None``: unknown,
    kept until a 401)."""

    request_id: int
    token: Secret
    expires_in: float | None = None


@dataclass(frozen=True, slots=True)
class TokenProviderFailed(Input):
    """The token provider raised, timed out or returned something that is not a token.

    ``error`` says which in our words (for an exception, only its type: its text may hold
    the app's own secrets); ``exception`` is what the provider raised, if it did, kept as the
    ``__cause__`` of the :class:`~.errors.TokenProviderError` and never put in a message.
    """

    request_id: int
    error: str
    exception: BaseException | None = field(default=None, compare=False, repr=False)


# -- time ---------------------------------------------------------------------------------


@fast_init
@dataclass(frozen=True, slots=True)
class TimerFired(Input):
    """The timer started by ``StartTimer(timer_id, ...)`` ran out."""

    timer_id: int
