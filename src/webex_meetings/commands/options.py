"""Options shared by the commands, and the argument types that validate them.

Every value is checked where argparse reads it, so a bad one is a usage error (exit 2) naming
the option, before anything runs: URLs must be http(s) with a port in range, counts and
durations must be finite and within bounds, files must be readable. What the commands that talk
to a cloud share (``--cloud``, ``--token-file``, ``--proxy``, ``--ca-file``, ``--json``) is
added by :func:`add_cloud_options` and turned into the library's settings by
:func:`read_token`, :func:`session_config` and :func:`transport_options`.
"""

from __future__ import annotations

import argparse
import math
import os
import ssl
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from ..adapters.runtime import TransportOptions
from ..core.config import SessionConfig
from ..core.errors import ConfigurationError
from ..transports.http_asyncio import AsyncioHttpTransport
from ..transports.httpx_transport import HttpxTransport
from ..webex import TOKEN_ENVIRONMENT_VARIABLE
from .advice import MissingTokenError
from .output import warn

__all__ = [
    "CA_FILE_ENVIRONMENT_VARIABLE",
    "add_cloud_options",
    "add_jwt_option",
    "bounded_int",
    "ca_file",
    "cloud_url",
    "http_transport",
    "parse_duration",
    "proxy_url",
    "read_token",
    "session_config",
    "transport_options",
    "verify_setting",
]

CA_FILE_ENVIRONMENT_VARIABLE: Final = "SSL_CERT_FILE"
"""Where ``--ca-file`` is read from when the option is not given (as OpenSSL does)."""
_SHARED_BY_OTHERS: Final = stat.S_IRGRP | stat.S_IROTH


# -- argument types ------------------------------------------------------------------------


def _port_of(text: str) -> int | None:
    try:
        return urlsplit(text).port
    except ValueError:  # "Port out of range 0-65535", or not a number
        raise argparse.ArgumentTypeError(
            f"{text!r} has no valid port (a port is a number from 0 to 65535)"
        ) from None


def cloud_url(text: str) -> str:
    """``--cloud``: an ``http(s)://host[:port]`` URL."""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(f"not an http(s) URL: {text!r} (use http://host:port)")
    _port_of(text)
    return text


def proxy_url(text: str) -> str:
    """``--proxy``: an ``http://host:port`` proxy (HTTP requests and the websocket's
    ``CONNECT`` tunnel both go through it)."""
    parts = urlsplit(text)
    if parts.scheme.startswith("socks"):
        raise argparse.ArgumentTypeError(
            f"SOCKS proxies are not supported ({text!r}): the Mercury websocket is tunnelled "
            "with HTTP CONNECT; use an http://host:port proxy"
        )
    if parts.scheme != "http" or not parts.hostname:
        raise argparse.ArgumentTypeError(f"not a proxy URL: {text!r} (use http://host:port)")
    _port_of(text)
    return text


def ca_file(text: str) -> str:
    """``--ca-file``: a readable file of PEM CA certificates."""
    try:
        ssl.create_default_context(cafile=text)
    except FileNotFoundError:
        raise argparse.ArgumentTypeError(f"no such CA file: {text!r}") from None
    except (ssl.SSLError, OSError) as error:
        reason = getattr(error, "strerror", None) or "not PEM certificates"
        raise argparse.ArgumentTypeError(f"cannot use CA file {text!r}: {reason}") from None
    return text


def bounded_int(low: int, high: int) -> Callable[[str], int]:
    """An argument type for a whole number from ``low`` to ``high``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is out of range ({low} to {high})")
        return value

    parse.__name__ = "number"  # argparse names the type in its own messages
    return parse


_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION_HELP: Final = "(use 90s, 15m, 12h, 7d)"


def parse_duration(text: str) -> float:
    """``90s``, ``15m``, ``12h``, ``7d``, ``2w`` (or plain seconds) as seconds."""
    text = text.strip().lower()
    unit = _UNITS.get(text[-1:]) if text else None
    number = text[:-1] if unit else text
    try:
        value = float(number) * (unit or 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} {_DURATION_HELP}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} {_DURATION_HELP}")
    if value < 0:
        raise argparse.ArgumentTypeError("a duration cannot be negative")
    return value


# -- the options of commands that talk to a cloud ----------------------------------------------


def add_cloud_options(parser: argparse.ArgumentParser) -> None:
    """``--cloud``, ``--token-file``, ``--proxy``, ``--ca-file`` and ``--json``."""
    parser.add_argument(
        "--cloud",
        metavar="URL",
        type=cloud_url,
        help="base URL of a Webex-compatible cloud (an emulator); default: the real Webex services",
    )
    parser.add_argument(
        "--token-file",
        metavar="FILE",
        help=f"read the access token from FILE (mode 600) instead of ${TOKEN_ENVIRONMENT_VARIABLE}",
    )
    parser.add_argument(
        "--proxy",
        metavar="URL",
        type=proxy_url,
        help="http://host:port proxy for HTTP and websockets",
    )
    parser.add_argument(
        "--ca-file",
        metavar="PATH",
        type=ca_file,
        help=(
            "trust the CA certificates (PEM) in PATH, such as the CA file `emulator --tls` "
            f"prints; default: ${CA_FILE_ENVIRONMENT_VARIABLE} if set, else the usual CAs"
        ),
    )
    parser.add_argument("--json", action="store_true", help="machine-readable JSON lines")


def add_jwt_option(parser: argparse.ArgumentParser) -> None:
    """``--jwt-file``: log in as a guest instead of using an access token."""
    parser.add_argument(
        "--jwt-file",
        metavar="FILE",
        help=(
            "log in as a guest: read a guest-issuer JWT from FILE (mode 600) and exchange it "
            "at hydra's jwt/login, instead of using an access token"
        ),
    )


def read_jwt(args: argparse.Namespace) -> str | None:
    """The guest JWT from ``--jwt-file``, or ``None`` when not given.

    :raises ConfigurationError: the file cannot be read or is empty, or ``--token-file`` was
        given too.
    """
    path = getattr(args, "jwt_file", None)
    if not path:
        return None
    if args.token_file:
        raise ConfigurationError("pass --token-file or --jwt-file, not both")
    return _read_secret_file(Path(path), "--jwt-file")


def read_token(args: argparse.Namespace) -> str:
    """The access token from ``--token-file`` or ``$WEBEX_ACCESS_TOKEN``; warns when the file
    can be read by other users.

    :raises ConfigurationError: the file cannot be read or is empty.
    :raises MissingTokenError: neither was given.
    """
    if args.token_file:
        return _read_secret_file(Path(args.token_file), "--token-file")
    token = os.environ.get(TOKEN_ENVIRONMENT_VARIABLE, "").strip()
    if not token:
        raise MissingTokenError(f"no access token: {TOKEN_ENVIRONMENT_VARIABLE} is not set")
    return token


def _read_secret_file(path: Path, option: str) -> str:
    try:
        token = path.read_text().strip()
        mode = path.stat().st_mode
    except OSError as error:
        raise ConfigurationError(f"cannot read {option}: {error.strerror}") from None
    if not token:
        raise ConfigurationError(f"{option} is empty")
    if os.name == "posix" and mode & _SHARED_BY_OTHERS:
        warn(
            f"{option} {path} can be read by other users (mode {stat.filemode(mode)}); "
            f"anyone who reads it can act as you. Run: chmod 600 {path}"
        )
    return token


def verify_setting(args: argparse.Namespace) -> bool | str:
    """``verify=`` for the library: ``--ca-file``, else ``$SSL_CERT_FILE``, else ``True``.

    :raises ConfigurationError: ``$SSL_CERT_FILE`` names no usable CA file.
    """
    if args.ca_file:
        return str(args.ca_file)
    from_environment = os.environ.get(CA_FILE_ENVIRONMENT_VARIABLE)
    if not from_environment:
        return True
    try:
        return ca_file(from_environment)
    except argparse.ArgumentTypeError as error:
        raise ConfigurationError(f"${CA_FILE_ENVIRONMENT_VARIABLE}: {error}") from None


def session_config(args: argparse.Namespace) -> SessionConfig:
    """Real Webex, or every service under ``--cloud``."""
    return SessionConfig.for_cloud(args.cloud) if args.cloud else SessionConfig()


def transport_options(args: argparse.Namespace, config: SessionConfig) -> TransportOptions:
    """The proxy, TLS trust and timeout the default transports are built from."""
    return TransportOptions(
        proxy=args.proxy, verify=verify_setting(args), http_timeout=config.http_timeout
    )


def http_transport(options: TransportOptions) -> AsyncioHttpTransport | HttpxTransport:
    """The HTTP transport the library would build from ``options`` (for a command that
    watches its requests, or makes its own). Call it inside the event loop."""
    return options.new_http(options.ssl_context())
