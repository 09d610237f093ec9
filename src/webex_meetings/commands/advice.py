"""Exit codes, and advice for every failure a command can meet.

:func:`advice` reads the table :data:`_ADVICE` top to bottom: the first row whose class matches
the error (and whose function does not decline with ``None``) gives the exit code and a text
saying what happened and what to do. Errors come from the library (its
:class:`~webex_meetings.core.errors.WebexError` hierarchy) and from the machine (a port in
use, a missing optional package); only what no row knows is an "unexpected error".
"""

from __future__ import annotations

import errno
import sys
from collections.abc import Callable
from typing import Any, Final

from ..core.credentials import JWT_LOGIN_STEP
from ..core.errors import (
    AuthorizationError,
    CertificateError,
    DeviceLimitError,
    HttpStatusError,
    LocalProtocolError,
    MercuryClosedError,
    NotAuthorizedError,
    RateLimitedError,
    RemoteProtocolError,
    TokenRefreshError,
    TokenWithheldError,
    TransportError,
    WebexError,
)

if sys.version_info < (3, 11):  # pragma: no cover - anyio brings the backport there
    from exceptiongroup import BaseExceptionGroup

__all__ = [
    "CLOUD_HELP",
    "EXIT_AUTH",
    "EXIT_CODES",
    "EXIT_DEVICE",
    "EXIT_DISCONNECTED",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_NETWORK",
    "EXIT_OK",
    "EXIT_OUTPUT_CLOSED",
    "EXIT_PROTOCOL",
    "EXIT_USAGE",
    "TOKEN_HELP",
    "MissingTokenError",
    "advice",
    "root_cause",
]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_AUTH, EXIT_NETWORK, EXIT_DEVICE, EXIT_PROTOCOL = range(7)
EXIT_DISCONNECTED: Final = 7
EXIT_INTERRUPTED: Final = 130
EXIT_OUTPUT_CLOSED: Final = 141
EXIT_CODES: Final = {
    EXIT_OK: "success",
    EXIT_FAILED: "a demo check failed, or an unexpected error",
    EXIT_USAGE: "usage or configuration error (an option, a file, a port in use)",
    EXIT_AUTH: "the access token is missing, expired, revoked or lacks a scope",
    EXIT_NETWORK: "the cloud could not be reached (network, TLS, proxy) or is rate limiting",
    EXIT_DEVICE: "Webex refused the device (for example too many registered devices)",
    EXIT_PROTOCOL: "the server answered in a way the protocol does not allow",
    EXIT_DISCONNECTED: "Mercury closed the connection for good (replaced, forbidden)",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C)",
    EXIT_OUTPUT_CLOSED: "the reader of the output went away (for example `| head`)",
}
TOKEN_HELP: Final = (
    "Get a token at https://developer.webex.com/docs/getting-your-personal-access-token and "
    "set WEBEX_ACCESS_TOKEN, or pass --token-file."
)
CLOUD_HELP: Final = "Check the network, the proxy (--proxy), TLS settings, or the --cloud URL."


class MissingTokenError(NotAuthorizedError):
    """No access token was given (neither ``$WEBEX_ACCESS_TOKEN`` nor ``--token-file``)."""


Advice = tuple[int, str]


def _step(error: BaseException) -> str:
    return f" (step: {error.step})" if isinstance(error, WebexError) and error.step else ""


def _missing_token(error: MissingTokenError) -> Advice:
    return EXIT_AUTH, f"No access token was given. {TOKEN_HELP}"


def _device_limit(error: DeviceLimitError) -> Advice:
    return EXIT_DEVICE, (
        f"Webex refused a new device: this user has too many registered devices{_step(error)}. "
        "Delete old ones made by this library with `webex-meetings devices prune --yes`, "
        "or choose others with `webex-meetings devices list` and `prune --name NAME`."
    )


def _certificate(error: CertificateError) -> Advice:
    return EXIT_NETWORK, (
        f"The cloud's TLS certificate is not trusted{_step(error)}: {error.message}. If the "
        "cloud uses a private CA or a self-signed certificate (`webex-meetings emulator --tls` "
        "prints its CA file), pass that CA bundle with --ca-file PATH (or set SSL_CERT_FILE)."
    )


def _authorization(error: AuthorizationError | NotAuthorizedError) -> Advice:
    if isinstance(error, AuthorizationError) and error.status == 403:
        return EXIT_AUTH, (
            f"Webex refused the request with 403{_step(error)}: the token lacks a scope this "
            f"needs (spark:all for devices and Mercury) or the account is not entitled. "
            f"{TOKEN_HELP}"
        )
    return EXIT_AUTH, (
        f"The access token was refused or cannot be used{_step(error)}: it is expired, "
        f"revoked or mistyped. {TOKEN_HELP}"
    )


def _no_new_token(error: TokenRefreshError) -> Advice:
    if error.step == JWT_LOGIN_STEP:
        return EXIT_AUTH, (
            f"The guest JWT was refused{_step(error)}: {error.message}. Check that it is "
            "signed by a guest issuer this cloud knows, and not expired (--jwt-file)."
        )
    return EXIT_AUTH, f"No new access token could be had{_step(error)}: {error.message}."


def _rate_limited(error: RateLimitedError) -> Advice:
    wait = f" Wait {error.retry_after:.0f} s and retry." if error.retry_after else ""
    return EXIT_NETWORK, f"Webex is rate limiting this client (429){_step(error)}.{wait}"


def _device_status(error: HttpStatusError) -> Advice | None:
    if not (error.step and error.step.startswith("device")):
        return None
    return EXIT_DEVICE, f"Webex refused the device: {error.message}{_step(error)}."


def _status(error: HttpStatusError) -> Advice:
    return EXIT_PROTOCOL, (
        f"Webex answered HTTP {error.status}{_step(error)}: {error.message}. If it is an "
        "emulator or a proxy, check it; otherwise try again later."
    )


def _token_withheld(error: TokenWithheldError) -> Advice:
    return EXIT_USAGE, (
        f"The access token was not sent to {error.url}{_step(error)}: {error.reason}. It goes "
        "only to https/wss URLs of Webex domains, or to the host given with --cloud. If that "
        "URL came from your own cloud, point --cloud at the host and port it advertises."
    )


def _transport(error: TransportError) -> Advice:
    return EXIT_NETWORK, f"Could not reach the cloud{_step(error)}: {error.message}. {CLOUD_HELP}"


def _protocol(error: RemoteProtocolError) -> Advice:
    return EXIT_PROTOCOL, (
        f"The server broke the Webex protocol{_step(error)}: {error.message}. If it is an "
        "emulator or a proxy, check it; `webex-meetings demo` shows a correct exchange."
    )


def _configuration(error: LocalProtocolError) -> Advice:
    return EXIT_USAGE, f"Configuration problem: {error}"


_SOCKET_ADVICE: Final[dict[int, str]] = {
    errno.EADDRINUSE: (
        "another process (another emulator?) already listens on that port. Stop it, choose "
        "another port with --port, or use --port 0 for any free one."
    ),
    errno.EADDRNOTAVAIL: (
        "that address is not one of this machine's. Use --host 127.0.0.1 (the default)."
    ),
    errno.EACCES: "ports below 1024 need privileges. Use a higher port, such as --port 8765.",
}


def _os_error(error: OSError) -> Advice | None:
    text = _SOCKET_ADVICE.get(error.errno or 0)
    if text is None:
        return None
    return EXIT_USAGE, f"Cannot listen there ({error.strerror}): {text}"


def _overflow(error: OverflowError) -> Advice:
    return EXIT_USAGE, f"A number is out of range: {str(error).rstrip('.')} (a port is 0 to 65535)."


def _import(error: ImportError) -> Advice:
    return EXIT_USAGE, f"An optional package is missing: {error}"


_ADVICE: Final[tuple[tuple[type[BaseException], Callable[[Any], Advice | None]], ...]] = (
    (MissingTokenError, _missing_token),
    (DeviceLimitError, _device_limit),
    (CertificateError, _certificate),
    (AuthorizationError, _authorization),
    (NotAuthorizedError, _authorization),
    (TokenRefreshError, _no_new_token),
    (RateLimitedError, _rate_limited),
    (HttpStatusError, _device_status),
    (HttpStatusError, _status),
    (TokenWithheldError, _token_withheld),
    (TransportError, _transport),
    (MercuryClosedError, _protocol),
    (RemoteProtocolError, _protocol),
    (LocalProtocolError, _configuration),
    (OSError, _os_error),
    (OverflowError, _overflow),
    (ImportError, _import),
)
"""Error class -> advice; the first row that matches and does not decline wins."""


def advice(error: BaseException) -> Advice:
    """The exit code and an explanation, with what to do, for ``error``."""
    for kind, explain in _ADVICE:
        if isinstance(error, kind) and (found := explain(error)) is not None:
            return found
    return EXIT_FAILED, (
        f"Unexpected error: {type(error).__name__}: {error}. Run again with -vv for details "
        "and report it if it persists."
    )


def root_cause(error: BaseException) -> BaseException:
    """The error to advise on: the first :class:`WebexError` inside exception groups (task
    groups wrap errors), else the first error."""
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        inner = [e for e in error.exceptions if isinstance(e, WebexError)]
        error = inner[0] if inner else error.exceptions[0]
    return error
