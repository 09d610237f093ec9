"""Running the app's token provider when the core asks for a token.

Theory of operation
-------------------
An app that runs its own OAuth hands ``Webex(token_provider=fn)`` a callable. The core never
calls it (it is sans-IO): when it needs a token (before the first request, when the token
expires, after a 401 or a Mercury 4401) it returns a
:class:`~webex_meetings.core.effects.RequestToken` effect, and the driver runs
:func:`provide_token` as one background task. That task calls ``fn`` once, bounded by the
effect's timeout, and feeds back exactly one input:

=======================================  ===============================================
what ``fn`` did                           input fed to the core
=======================================  ===============================================
returned ``"token"``                      ``TokenProvided(token, expires_in=None)``
returned ``("token", seconds)``           ``TokenProvided(token, expires_in=seconds)``
returned anything else                    ``TokenProviderFailed`` (names the type only)
raised                                    ``TokenProviderFailed`` (type, redacted text)
gave no answer within the timeout         ``TokenProviderFailed``
=======================================  ===============================================

The token is wrapped in a :class:`~webex_meetings.core.redaction.Secret` before anything else
sees it, so it is redacted everywhere from then on. ``fn`` may be ``async def`` (awaited on
the event loop) or a plain function (run in a worker thread, so a blocking OAuth call does not
stall the session; on timeout the thread is abandoned, its late answer ignored). The core
replies a failure to whoever waited as a
:class:`~webex_meetings.core.errors.TokenProviderError` and asks again only at the next need.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable

import anyio.to_thread

from ..core.effects import RequestToken
from ..core.inputs import Input, TokenProvided, TokenProviderFailed
from ..core.redaction import Secret, redact
from .runtime import Runtime

__all__ = ["ProvidedToken", "TokenProvider", "provide_token"]

ProvidedToken = str | tuple[str, float | None]
"""What a token provider returns: a token, or ``(token, seconds until it expires)``."""

TokenProvider = Callable[[], ProvidedToken | Awaitable[ProvidedToken]]
"""``Webex(token_provider=...)``: a plain or ``async`` function without arguments."""

_MAX_ERROR_TEXT = 200


async def provide_token(
    provider: TokenProvider | None,
    effect: RequestToken,
    feed: Callable[[Input], None],
    runtime: Runtime,
) -> None:
    """Call ``provider`` for ``effect`` and feed its answer (or why there is none)."""
    answer: object = None
    with runtime.move_on_after(effect.timeout) as scope:
        try:
            answer = await _call(provider)
        except Exception as exc:
            feed(TokenProviderFailed(effect.request_id, _raised(exc)))
            return
    if scope.cancel_called:
        failure = f"the token provider gave no token within {effect.timeout:g} s"
        feed(TokenProviderFailed(effect.request_id, failure))
        return
    feed(_as_input(effect.request_id, answer))


async def _call(provider: TokenProvider | None) -> object:
    if provider is None:
        raise LookupError("no token provider was given")
    if _is_async(provider):
        return await provider()  # type: ignore[misc]
    answer = await anyio.to_thread.run_sync(provider, abandon_on_cancel=True)
    return await answer if inspect.isawaitable(answer) else answer


def _is_async(provider: Callable[..., object]) -> bool:
    call = getattr(provider, "__call__", None)  # noqa: B004  (an object with async __call__)
    return inspect.iscoroutinefunction(provider) or inspect.iscoroutinefunction(call)


def _as_input(request_id: int, answer: object) -> Input:
    """``TokenProvided`` for a usable answer shape; the core judges the values."""
    if isinstance(answer, str):
        return TokenProvided(request_id, Secret(answer))
    if isinstance(answer, tuple) and len(answer) == 2 and isinstance(answer[0], str):
        token, lifetime = answer
        if lifetime is None or isinstance(lifetime, (int, float)):
            return TokenProvided(request_id, Secret(token), lifetime)
    kind = type(answer).__name__
    failure = f"the token provider returned {kind}, not a token or (token, expires_in)"
    return TokenProviderFailed(request_id, failure)


def _raised(exc: Exception) -> str:
    text = redact(str(exc))[:_MAX_ERROR_TEXT]
    return f"the token provider raised {type(exc).__name__}" + (f": {text}" if text else "")
