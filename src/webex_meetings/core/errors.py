"""One exception hierarchy for the whole library; each ``except`` clause means one thing.

Errors are split by what went wrong, as h11 splits them by who broke the rules::

    WebexError
    ├── LocalProtocolError          the caller broke the rules
    │   ├── InvalidTransitionError    a command not allowed in the current state
    │   ├── ConfigurationError        a configuration value or credential shape is unusable
    │   ├── NotAuthorizedError        no usable token and no way to refresh one
    │   └── CancelledCommandError     the session shut down or the command was cancelled
    ├── RemoteProtocolError         the server's answer breaks the protocol (bad JSON, ...)
    ├── HttpStatusError             the server refused with an error status
    │   ├── AuthorizationError        401 / 403: the token is invalid or lacks a scope
    │   ├── RateLimitedError          429: too many requests
    │   └── DeviceLimitError          "User has excessive device registrations"
    ├── MercuryClosedError          the Mercury websocket closed for good
    ├── TokenRefreshError           no new token: refresh grant, JWT login or provider failed
    │   └── TokenProviderError        the app's token provider raised, timed out or gave no token
    ├── TokenWithheldError          a secret was about to go where the token rule forbids
    └── TransportError              the bytes did not move
        ├── TimeoutError              too slow; also a builtin ``TimeoutError``
        ├── CertificateError          TLS certificate verification failed
        ├── ResponseTooLargeError     an answer exceeded the size cap
        └── HandshakeRejectedError    the websocket upgrade got a plain HTTP status

So ``except RemoteProtocolError`` catches a server that broke the protocol and never a 401
or a 429; ``except TimeoutError`` (the builtin) also catches this library's timeouts.

Every foreign exception (httpx, wsproto, trio, anyio, json, transitions) is translated into one
of these at the boundary where it arises. No message ever contains a token: messages are built
from our own words and from server fields that are redacted first.
"""

from __future__ import annotations

import builtins
from urllib.parse import urlsplit

from .redaction import redact

__all__ = [
    "AuthorizationError",
    "CancelledCommandError",
    "CertificateError",
    "ConfigurationError",
    "DeviceLimitError",
    "HandshakeRejectedError",
    "HttpStatusError",
    "InvalidTransitionError",
    "LocalProtocolError",
    "MercuryClosedError",
    "NotAuthorizedError",
    "RateLimitedError",
    "RemoteProtocolError",
    "ResponseTooLargeError",
    "TimeoutError",
    "TokenProviderError",
    "TokenRefreshError",
    "TokenWithheldError",
    "TransportError",
    "UnknownEventError",
    "WebexError",
]


class WebexError(Exception):
    """Base of every error this library raises.

    ``step`` names the protocol step that failed (``"catalog"``, ``"people/me"``,
    ``"device.register"``, ``"mercury.connect"``, ``"device.unregister"``, ...) when known.
    """

    def __init__(self, message: str, *, step: str | None = None) -> None:
        message = redact(message)
        super().__init__(message)
        self.message = message
        self.step = step

    def __str__(self) -> str:
        if self.step:
            return f"{self.message} (step: {self.step})"
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, step={self.step!r})"


# -- the caller broke the rules -------------------------------------------------------------


class LocalProtocolError(WebexError):
    """The caller asked for something the lifecycle or the protocol does not allow."""


class InvalidTransitionError(LocalProtocolError):
    """A trigger that is not allowed in the current state. The state is left unchanged."""

    def __init__(self, trigger: str, state: str) -> None:
        super().__init__(f"cannot {trigger!s} while {state!s}")
        self.trigger = trigger
        self.state = state


class ConfigurationError(LocalProtocolError):
    """A configuration value or credential shape is not usable."""


class NotAuthorizedError(LocalProtocolError):
    """The SDK cannot authorize: no usable access token and no way to refresh one.

    Mirrors the JS SDK's ``Error('SDK cannot authorize')``.
    """


class CancelledCommandError(LocalProtocolError):
    """A pending command was abandoned because the session shut down."""


class UnknownEventError(LocalProtocolError, ValueError):
    """``on``/``once``/``off``/``events`` got a key that names no event; the message lists
    the valid ones."""


# -- the server broke the rules, or refused ---------------------------------------------------


class RemoteProtocolError(WebexError):
    """The server's answer does not follow the protocol (bad JSON, missing fields, ...)."""


class HttpStatusError(WebexError):
    """The server answered with an error status (a valid answer: not a protocol break).

    ``status`` is the HTTP status, ``method`` and ``url`` the request (query redacted of
    secrets), ``tracking_id`` the request's trackingid, ``retry_after`` the parsed
    ``Retry-After`` in seconds when the server sent one, ``server_message`` the first of
    the body's ``message``/``error``/``errorString``/... fields, redacted.
    """

    def __init__(
        self,
        status: int,
        *,
        method: str,
        url: str,
        step: str | None = None,
        server_message: str | None = None,
        tracking_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        detail = f": {server_message}" if server_message else ""
        super().__init__(f"{method} {url} answered {status}{detail}", step=step)
        self.status = status
        self.method = method
        self.url = redact(url)
        self.server_message = redact(server_message) if server_message else None
        self.tracking_id = tracking_id
        self.retry_after = retry_after


class AuthorizationError(HttpStatusError):
    """401 or 403: the token is invalid, expired, revoked or lacks a scope."""


class RateLimitedError(HttpStatusError):
    """429: too many requests; ``retry_after`` says how long the server asked to wait."""


class DeviceLimitError(HttpStatusError):
    """WDM refused a new device: "User has excessive device registrations"."""


class TokenRefreshError(WebexError):
    """No new token could be had: the OAuth refresh_token grant, the guest JWT login
    (``POST {hydra}/jwt/login``) or the app's token provider failed.

    Every failure of a renewal is one of these, whatever went wrong underneath (a refusal, an
    error status after the retries, a lost connection, an unusable answer): the underlying
    error, when there is one, is the ``__cause__``. ``permanent`` is true when asking again
    cannot help (the token endpoint or hydra refused with a 4xx such as ``invalid_grant``, or
    the provider failed too often in a row): the session then stops reconnecting instead of
    trying again with a dead token.
    """

    def __init__(self, message: str, *, step: str | None = None, permanent: bool = False) -> None:
        super().__init__(message, step=step)
        self.permanent = permanent


class TokenProviderError(TokenRefreshError):
    """The app's token provider (``Webex(token_provider=...)``) raised, took longer than
    its timeout, or returned something that is not a token. It is asked again only at the
    next need (an expiry, a 401), never in a loop. When it raised, the message names only the
    exception's type (its text may hold the app's own secrets); the exception itself is the
    ``__cause__`` when the provider ran in this process."""


class TokenWithheldError(WebexError):
    """A secret was about to go somewhere the token rule forbids, and was not sent.

    The URL came from configuration or from a server's answer (a catalog link, a device's
    ``webSocketUrl``, an idbroker link); nothing was sent to it. ``host`` names it, ``reason``
    says why it was refused and ``rule`` quotes the rule.
    """

    def __init__(self, url: str, reason: str, *, rule: str, step: str | None = None) -> None:
        where, host = _origin(url)
        super().__init__(
            f"refused to send the access token to {where}: {reason} ({rule})", step=step
        )
        self.url = redact(where)
        self.host = host
        self.reason = reason
        self.rule = rule


def _origin(url: str) -> tuple[str, str | None]:
    """``scheme://host:port`` of ``url`` (no userinfo, path or query) and its host."""
    try:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}", parts.hostname
    except (ValueError, TypeError, AttributeError):
        return "an unparsable URL", None


class MercuryClosedError(WebexError):
    """The Mercury websocket closed, and no further attempt follows.

    The message says who closed: ``by_us`` when this client did (a timeout waiting for
    ``buffer_state``, missing pongs, ``unregister()``), else the server (its close code) or
    the network (``1006``: no close frame).
    """

    def __init__(
        self,
        code: int,
        reason: str,
        *,
        by_us: bool = False,
        step: str | None = "mercury.connect",
    ) -> None:
        super().__init__(f"{_closer(code, by_us)}: {code} {reason!r}", step=step)
        self.code = code
        self.reason = redact(reason)
        self.by_us = by_us


def _closer(code: int, by_us: bool) -> str:
    if by_us:
        return "this client closed the Mercury websocket"
    if code == 1006:
        return "the connection to Mercury was lost"
    return "Mercury closed the websocket"


# -- the bytes did not move -------------------------------------------------------------------


class TransportError(WebexError):
    """A connection could not be made, broke, or a read or write failed."""


class TimeoutError(TransportError, builtins.TimeoutError):
    """An operation took longer than its configured timeout.

    Also a builtin :class:`TimeoutError` (so an ``except TimeoutError`` that never imported
    ours catches it too), hence an :class:`OSError`.
    """


class CertificateError(TransportError):
    """TLS certificate verification failed: the server's certificate is not trusted by the
    configured CA bundle (``verify=`` / ``ca_file``). Never retried."""


class ResponseTooLargeError(TransportError):
    """The server's answer exceeded the configured size cap and was cut off. Never retried."""


class HandshakeRejectedError(TransportError):
    """The websocket upgrade was answered with a plain HTTP status instead of 101."""

    def __init__(self, status: int, *, retry_after: float | None = None) -> None:
        super().__init__(f"websocket upgrade refused with HTTP {status}", step="mercury.connect")
        self.status = status
        self.retry_after = retry_after
