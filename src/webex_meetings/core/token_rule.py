"""The token rule: which URLs may receive a secret.

One rule for every channel a secret can take (the ``Authorization`` header of an HTTP
request, the Mercury authorization frame, the refresh grant's form, the JWT login's header):
:data:`TOKEN_RULE`. :func:`token_refusal` says why a URL breaks it (a pure function, its
answers remembered); :func:`check_token_destination` raises
:class:`~.errors.TokenWithheldError` before any byte is sent. The HTTP client, the Mercury
link and the device store (for URLs read back from disk) all ask here, so there is one
definition of where a token may go (the README's "Where the token may go").
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import Final
from urllib.parse import urlsplit

from .errors import TokenWithheldError

__all__ = ["TOKEN_RULE", "check_token_destination", "token_refusal"]

_HOSTNAME = re.compile(r"[a-z0-9.-]+")
_UNSAFE_URL_CHARS = re.compile(r"[\x00-\x20\x7f\\]")
_DEFAULT_PORTS: Final = {"http": 80, "ws": 80, "https": 443, "wss": 443}
_TOKEN_SCHEMES: Final = frozenset(_DEFAULT_PORTS)

TOKEN_RULE: Final = (
    "a secret goes only to https/wss URLs of the allowed domains, or to hosts named in "
    "extra_authorized_hosts"
)
"""The one rule for every place a secret can go: the ``Authorization`` header, the Mercury
authorization frame, the refresh grant's form, the guest JWT login's header. Quoted in every
refusal."""


def token_refusal(
    url: str, *, allowed_domains: Sequence[str], extra_hosts: Sequence[str]
) -> str | None:
    """Why ``url`` may not receive a secret, or ``None`` when it may.

    Allowed: https/wss URLs whose host is an allowed domain or a subdomain of one (a dot
    boundary, so ``evilwebex.com`` is not ``webex.com``), and http/https/ws/wss URLs whose
    ``host`` or ``host:port`` is one of ``extra_hosts``. URLs with userinfo, backslashes,
    whitespace or an unparsable authority never qualify. A pure function, so its answers are
    remembered (every request asks it; the same few URLs come back all the time).
    """
    if not isinstance(url, str):
        return "the URL has whitespace, control characters or backslashes"
    return _token_refusal(url, tuple(allowed_domains), tuple(extra_hosts))


@functools.lru_cache(maxsize=1024)
def _token_refusal(
    url: str, allowed_domains: tuple[str, ...], extra_hosts: tuple[str, ...]
) -> str | None:
    """:func:`token_refusal`, uncached."""
    if _UNSAFE_URL_CHARS.search(url):
        return "the URL has whitespace, control characters or backslashes"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "the URL cannot be parsed"
    if "@" in parts.netloc:
        return "the URL carries user information"
    scheme, host = parts.scheme.lower(), (parts.hostname or "").rstrip(".")
    if scheme not in _TOKEN_SCHEMES or not host:
        return f"{scheme or 'a URL without a scheme'!s} cannot carry a secret"
    bracketed = f"[{host}]" if ":" in host else host
    named = {bracketed, f"{bracketed}:{port or _DEFAULT_PORTS[scheme]}"}
    if any(extra.lower() in named for extra in extra_hosts):
        return None
    allowed = _HOSTNAME.fullmatch(host) and any(
        _under_domain(host, domain) for domain in allowed_domains
    )
    if not allowed:
        return f"{host} is neither under an allowed domain nor an explicitly authorized host"
    if scheme not in ("https", "wss"):
        return f"{scheme}:// is not encrypted"
    return None


def check_token_destination(
    url: str, *, allowed_domains: Sequence[str], extra_hosts: Sequence[str], step: str | None
) -> None:
    """Refuse, before any byte is sent, to hand a secret to ``url``.

    :raises TokenWithheldError: ``url`` breaks :data:`TOKEN_RULE`; the error names the
        host, the reason and the rule.
    """
    if isinstance(url, str):
        refusal = _token_refusal(url, tuple(allowed_domains), tuple(extra_hosts))
    else:
        refusal = token_refusal(url, allowed_domains=allowed_domains, extra_hosts=extra_hosts)
    if refusal is not None:
        raise TokenWithheldError(url, refusal, rule=TOKEN_RULE, step=step)


def _under_domain(host: str, domain: str) -> bool:
    domain = domain.lower().strip(".")
    return bool(domain) and (host == domain or host.endswith("." + domain))
