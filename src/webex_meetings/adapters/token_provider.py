"""Running the app's token provider when the core asks for a token.

Theory of operation
-------------------
An app that runs its own OAuth hands ``Webex(token_provider=fn)`` a callable. The core never
calls it (it is sans-IO): when it needs a token (before the first request, when the token
expires, after a 401 or a Mercury 4401) it returns a
:class:`~webex_meetings.core.effects.RequestToken` effect, and the driver runs
:meth:`ProviderCalls.provide` as one background task. That task calls ``fn`` once, bounded by the
effect's timeout, and feeds back exactly one input:

=======================================  ===============================================
what ``fn`` did                           input fed to the core
=======================================  ===============================================
returned ``"token"``                      ``TokenProvided(token, expires_in=None)``
returned ``("token", seconds)``           ``TokenProvided(token, expires_in=seconds)``
returned anything else                    ``TokenProviderFailed`` (names the type only)
raised                                    ``TokenProviderFailed`` (the exception's type
                                          only; the exception itself rides along as the
                                          error's ``__cause__``)
gave no answer within the timeout         ``TokenProviderFailed``
its previous call (a thread) still runs   ``TokenProviderFailed`` at once, no new call
=======================================  ===============================================

The token is wrapped in a :class:`~webex_meetings.core.redaction.Secret` before anything else
sees it, so it is redacted everywhere from then on. An exception's text never goes into a
message: it may hold the app's own secrets (a client secret the library cannot know to mask).

``fn`` may be ``async def`` (awaited on the event loop) or a plain function, run in a worker
thread so a blocking OAuth call does not stall the session. Each Webex has its own
:class:`ProviderCalls`: one worker thread at most (its own ``CapacityLimiter(1)``, never the
shared default one). On timeout the thread is abandoned, its late answer ignored, and until
it returns the provider is not called again: each need in between fails at once with a
:class:`~webex_meetings.core.errors.TokenProviderError` saying the previous call has not
returned. So a hung provider costs one thread, never one per attempt. The core replies a
failure to whoever waited and asks again only at the next need.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable

import anyio
import anyio.to_thread

from ..core.effects import RequestToken
from ..core.inputs import Input, TokenProvided, TokenProviderFailed
from ..core.redaction import Secret
from .runtime import Runtime

__all__ = ["ProvidedToken", "ProviderCalls", "TokenProvider"]

ProvidedToken = str | tuple[str, float | None]
"""What a token provider returns: a token, or ``(token, seconds until it expires)``."""

TokenProvider = Callable[[], ProvidedToken | Awaitable[ProvidedToken]]
"""``Webex(token_provider=...)``: a plain or ``async`` function without arguments."""

STILL_RUNNING = "the previous call of the token provider has not returned yet; not calling it again"
"""Why a need fails at once while an abandoned call's thread still runs."""


class _StillRunning(Exception):
    """The previous call's thread has not returned."""


class ProviderCalls:
    """The app's token provider of one Webex, and the one worker thread it may use.

    The driver runs :meth:`provide` as a task for each ``RequestToken``.
    """

    __slots__ = ("_limiter", "_thread_running", "provider")

    def __init__(self, provider: TokenProvider | None) -> None:
        self.provider = provider
        self._limiter: anyio.CapacityLimiter | None = None
        self._thread_running = False
        """True from the start of a plain provider's call until it returns (in its thread),
        even after the call was abandoned on timeout."""

    @property
    def thread_running(self) -> bool:
        """True while a call of a plain provider has not returned."""
        return self._thread_running

    async def provide(
        self, effect: RequestToken, feed: Callable[[Input], None], runtime: Runtime
    ) -> None:
        """Call the provider for ``effect`` and feed its answer (or why there is none)."""
        answer: object = None
        with runtime.move_on_after(effect.timeout) as scope:
            try:
                answer = await self._call()
            except _StillRunning:
                feed(TokenProviderFailed(effect.request_id, STILL_RUNNING))
                return
            except Exception as exc:
                failure = f"the token provider raised {type(exc).__name__}"
                feed(TokenProviderFailed(effect.request_id, failure, exc))
                return
        if scope.cancel_called:
            failure = f"the token provider gave no token within {effect.timeout:g} s"
            feed(TokenProviderFailed(effect.request_id, failure))
            return
        feed(_as_input(effect.request_id, answer))

    async def _call(self) -> object:
        provider = self.provider
        if provider is None:
            raise LookupError("no token provider was given")
        if _is_async(provider):
            return await provider()  # type: ignore[misc]
        answer = await self._in_thread(provider)
        return await answer if inspect.isawaitable(answer) else answer

    async def _in_thread(self, provider: Callable[[], object]) -> object:
        if self._thread_running:
            raise _StillRunning
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(1)
        self._thread_running = True
        started = False

        def call() -> object:
            nonlocal started
            started = True
            try:
                return provider()
            finally:
                self._thread_running = False

        try:
            return await anyio.to_thread.run_sync(
                call, abandon_on_cancel=True, limiter=self._limiter
            )
        finally:
            if not started:  # cancelled before the thread took it: nothing runs
                self._thread_running = False


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
