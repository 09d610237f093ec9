"""TLS contexts from the one ``verify`` option, shared by the HTTP and websocket transports.

``verify`` is what a caller passes to ``Webex.init(verify=...)``:

==========================  ==============================================================
``True`` (the default)      the CA bundle named by ``$SSL_CERT_FILE`` when it is set, else
                            certifi's bundle (as httpx uses), else the system's
a path (``str``/``Path``)   exactly the CAs of that PEM bundle file
an ``ssl.SSLContext``       used as it is
``False``                   no certificate check at all; logs one warning per process
==========================  ==============================================================

Building a verifying context loads a CA bundle (tens of milliseconds), so each is built once
per process and bundle path and shared by every instance: a shared context also lets
instances share one HTTP connection pool (:mod:`.shared`). A path that cannot be read is a
:class:`~webex_meetings.core.errors.ConfigurationError` when the option is given, not a
failure at the first request.
"""

from __future__ import annotations

import functools
import logging
import os
import ssl
from typing import Union

from ..core.errors import ConfigurationError

__all__ = ["Verify", "check_verify", "ssl_context_for"]

logger = logging.getLogger("webex_meetings.transports.tls")

Verify = Union[bool, str, "os.PathLike[str]", ssl.SSLContext]
"""What ``verify=`` accepts."""


@functools.cache
def _bundle_context(cafile: str | None) -> ssl.SSLContext:
    """A verifying context trusting ``cafile`` (certifi's bundle when ``None``)."""
    if cafile is None:
        try:
            import certifi
        except ImportError:  # pragma: no cover - httpx brings certifi
            return ssl.create_default_context()
        cafile = certifi.where()
    try:
        return ssl.create_default_context(cafile=cafile)
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise ConfigurationError(
            f"cannot load the CA bundle {cafile!r}: {type(exc).__name__}"
        ) from None


@functools.cache
def _unverified_context() -> ssl.SSLContext:
    logger.warning(
        "verify=False: TLS certificates are not checked; anyone on the network path can read "
        "the token. Use it only against a test server (said once per process)."
    )
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def check_verify(verify: object) -> None:
    """Raise :class:`ConfigurationError` unless ``verify`` is a usable value; a path must
    name a readable file."""
    if isinstance(verify, (bool, ssl.SSLContext)):
        return
    if isinstance(verify, (str, os.PathLike)):
        path = os.fspath(verify)
        if isinstance(path, str) and os.path.isfile(path) and os.access(path, os.R_OK):
            return
        raise ConfigurationError(f"verify={path!r}: no readable CA bundle file there")
    raise ConfigurationError(
        f"verify must be True, False, a CA bundle path or an ssl.SSLContext, "
        f"not {type(verify).__name__}"
    )


def ssl_context_for(verify: Verify) -> ssl.SSLContext:
    """The TLS context for ``verify`` (see the module docstring), shared when it can be.

    :raises ConfigurationError: not a usable value, or the CA bundle cannot be loaded.
    """
    check_verify(verify)
    if isinstance(verify, ssl.SSLContext):
        return verify
    if verify is True:
        return _bundle_context(os.environ.get("SSL_CERT_FILE") or None)
    if verify is False:
        return _unverified_context()
    return _bundle_context(os.path.abspath(os.fspath(verify)))
