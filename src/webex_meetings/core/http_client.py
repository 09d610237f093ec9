"""Requests in flight: ids, common headers, retries, token refresh and the 401 replay.

Theory of operation
-------------------
The session asks :meth:`HttpClient.send` for a request with two continuations: one for a
usable response, one for a typed error. The client

1. decorates the request with the headers every Webex request carries (``trackingid``
   ``<session id>_<n>``, ``spark-user-agent``, ``cisco-no-http-redirect``, ``accept``) and,
   for an authorized request, the ``authorization`` and ``cisco-device-url`` headers. A
   request that carries a secret (the token header, or a refresh grant's form) to a URL the
   token rule forbids (:func:`~.credentials.token_refusal`) is never sent: it fails with
   :class:`~.errors.TokenWithheldError`, delivered like any other error (on the next turn,
   never from inside :meth:`HttpClient.send`);
2. emits ``SendHttpRequest`` under a fresh request id and remembers the continuations;
3. when the answer is fed back: a 2xx (or a status the caller accepts) goes to the response
   continuation; a 401 with refreshable credentials triggers one token refresh and one replay
   (the JS SDK's ``maxAuthenticationReplays = 1``); a retryable status or transport failure is
   retried after a timer under the request's :class:`RetryPolicy` (``Retry-After`` honoured,
   capped); anything else becomes the typed error of :func:`~.http.error_for_status`.

Token refreshes are coalesced: every caller waiting for one is told when the single
``refresh_token`` grant in flight finishes.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

from .config import VERSION, SessionConfig
from .credentials import Credentials, check_token_destination
from .effects import Effect, EmitEvent, SendHttpRequest
from .errors import (
    CertificateError,
    ResponseTooLargeError,
    TimeoutError,
    TokenWithheldError,
    TransportError,
    WebexError,
)
from .events import TokenRefreshed
from .http import HttpRequest, HttpResponse, error_for_status, parse_retry_after
from .inputs import FailureKind
from .redaction import redact
from .timers import Timers

__all__ = ["CREATE", "IDEMPOTENT", "MAX_RETRY_AFTER", "NO_RETRY", "HttpClient", "RetryPolicy"]

log = logging.getLogger("webex_meetings.core.http")

MAX_RETRY_AFTER = 60.0
"""The longest ``Retry-After`` honoured, in seconds; a longer one is cut to this."""

OnResponse = Callable[[HttpResponse], None]
OnError = Callable[[WebexError], None]
OnDone = Callable[[WebexError | None], None]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When a failed request is tried again.

    ``max_attempts`` counts the first try; ``statuses`` are retried, as are transport failures
    when ``transport_errors``; the delay is ``Retry-After`` (capped at ``max_delay``) or
    ``base_delay`` doubling per attempt.
    """

    max_attempts: int = 1
    statuses: frozenset[int] = frozenset()
    transport_errors: bool = False
    base_delay: float = 1.0
    max_delay: float = MAX_RETRY_AFTER

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before try number ``attempt + 1``."""
        if retry_after is not None:
            return min(retry_after, self.max_delay)
        return float(min(self.base_delay * 2 ** (attempt - 1), self.max_delay))


NO_RETRY = RetryPolicy()
"""Tried once (the JS SDK's behaviour for every request)."""
IDEMPOTENT = RetryPolicy(
    max_attempts=3, statuses=frozenset({429, 502, 503, 504}), transport_errors=True
)
"""GETs and DELETEs: retried on rate limits, gateway errors and lost connections."""
CREATE = RetryPolicy(max_attempts=3, statuses=frozenset({429, 503}))
"""A POST that creates something: retried only where the server says it created nothing."""


_FAILURE_ERRORS: dict[FailureKind, type[TransportError]] = {
    FailureKind.CONNECTION: TransportError,
    FailureKind.TIMEOUT: TimeoutError,
    FailureKind.CERTIFICATE: CertificateError,
    FailureKind.TOO_LARGE: ResponseTooLargeError,
}
"""The error a request that got no answer fails with."""


@dataclass(slots=True)
class _Exchange:
    request: HttpRequest
    on_response: OnResponse
    on_error: OnError
    authorize: bool
    plain: bool
    secret_in_body: bool
    retry: RetryPolicy
    accept: frozenset[int]
    attempt: int = 1
    replayed: bool = False
    sent: HttpRequest | None = field(default=None, repr=False)


class HttpClient:
    """The HTTP side of one session. Not thread-safe; driven by the session."""

    def __init__(
        self,
        config: SessionConfig,
        credentials: Credentials,
        *,
        session_id: str,
        out: list[Effect],
        ids: Iterator[int],
        timers: Timers,
        now: Callable[[], float],
        fraction: Callable[[], float],
    ) -> None:
        self.config = config
        self.credentials = credentials
        self.device_url: str | None = None
        self.token_url = config.discovery.token_url
        self._session_id = session_id
        self._sequence = 0
        self._out = out
        self._ids = ids
        self._timers = timers
        self._now = now
        self._fraction = fraction
        self._pending: dict[int, _Exchange] = {}
        self._retry_timers: set[int] = set()
        self._refresh_waiters: list[OnDone] = []
        self._refresh_timer: int | None = None
        self._deferred: deque[Callable[[], None]] = deque()

    # -- sending ------------------------------------------------------------------------

    def send(
        self,
        request: HttpRequest,
        *,
        on_response: OnResponse,
        on_error: OnError,
        authorize: bool = True,
        plain: bool = False,
        secret_in_body: bool = False,
        retry: RetryPolicy = NO_RETRY,
        accept: frozenset[int] = frozenset(),
    ) -> None:
        """Send ``request``; exactly one of the continuations runs later (unless forgotten).

        ``authorize=False`` never attaches the token (pre-auth catalog, token calls);
        ``plain=True`` also leaves out the Webex client headers (OAuth token endpoint);
        ``secret_in_body=True`` says the request already carries a secret of its own (the
        refresh grant), so it obeys the token rule like an authorized request.
        """
        exchange = _Exchange(
            request, on_response, on_error, authorize, plain, secret_in_body, retry, accept
        )
        self._dispatch(exchange)

    def _dispatch(self, exchange: _Exchange) -> None:
        try:
            if exchange.secret_in_body:
                self._check_destination(exchange.request)
            exchange.sent = self.prepare(
                exchange.request, authorize=exchange.authorize, plain=exchange.plain
            )
        except TokenWithheldError as error:
            log.warning("%s", error)
            self._fail_later(exchange, error)
            return
        request_id = next(self._ids)
        self._pending[request_id] = exchange
        self._out.append(SendHttpRequest(request_id, exchange.sent))

    def _fail_later(self, exchange: _Exchange, error: WebexError) -> None:
        """Deliver ``error`` once the current input is handled (:meth:`run_deferred`): a
        continuation never runs inside the ``send`` that started it, so callers need not
        guard against re-entry."""
        self._deferred.append(lambda: exchange.on_error(error))

    def run_deferred(self) -> None:
        """Run the failures :meth:`send` decided on the spot (refused destinations), in
        order, including any that they cause. The session calls this after each input."""
        while self._deferred:
            self._deferred.popleft()()

    def _check_destination(self, request: HttpRequest) -> None:
        check_token_destination(
            request.url,
            allowed_domains=self.config.allowed_domains,
            extra_hosts=self.config.extra_authorized_hosts,
            step=request.step or None,
        )

    def prepare(
        self, request: HttpRequest, *, authorize: bool = True, plain: bool = False
    ) -> HttpRequest:
        """``request`` with the headers every Webex request carries (see the module
        docstring) and the default timeout; for callers that send requests themselves.

        :raises TokenWithheldError: ``authorize`` and ``request.url`` breaks the token rule.
        """
        if authorize:
            self._check_destination(request)
        self._sequence += 1
        headers: list[tuple[str, str]] = [("trackingid", f"{self._session_id}_{self._sequence}")]
        if not plain:
            headers += [
                ("spark-user-agent", self.config.spark_user_agent),
                ("user-agent", f"webex-meetings/{VERSION}"),
                ("cisco-no-http-redirect", "true"),
                ("accept", "application/json"),
            ]
        if authorize:
            headers.append(("authorization", self.credentials.authorization))
            if self.device_url is not None:
                headers.append(("cisco-device-url", self.device_url))
        headers += request.headers
        timeout = request.timeout if request.timeout is not None else self.config.http_timeout
        return replace(request, headers=tuple(headers), timeout=timeout)

    # -- answers ------------------------------------------------------------------------

    def received(self, request_id: int, response: HttpResponse) -> None:
        """Route the response to ``request_id`` (ignored when no longer awaited)."""
        exchange = self._pending.pop(request_id, None)
        if exchange is None:
            return
        if response.ok or response.status in exchange.accept:
            exchange.on_response(response)
        elif response.status == 401 and self._may_replay(exchange):
            exchange.replayed = True
            self.refresh_token(lambda error: self._after_replay_refresh(exchange, error))
        elif response.status in exchange.retry.statuses and self._retry(
            exchange, parse_retry_after(response.header("retry-after"))
        ):
            pass
        else:
            assert exchange.sent is not None
            exchange.on_error(error_for_status(exchange.sent, response))

    def failed(self, request_id: int, error: str, *, kind: FailureKind) -> None:
        """The request to ``request_id`` got no answer (``kind`` says why)."""
        exchange = self._pending.pop(request_id, None)
        if exchange is None:
            return
        if kind.retryable and exchange.retry.transport_errors and self._retry(exchange, None):
            return
        request = exchange.request
        message = f"{request.method} {redact(request.url)} failed: {error}"
        exchange.on_error(_FAILURE_ERRORS[kind](message, step=request.step or None))

    def _may_replay(self, exchange: _Exchange) -> bool:
        return exchange.authorize and not exchange.replayed and self.credentials.can_refresh

    def _after_replay_refresh(self, exchange: _Exchange, error: WebexError | None) -> None:
        if error is not None:
            exchange.on_error(error)
        else:
            self._dispatch(exchange)

    def _retry(self, exchange: _Exchange, retry_after: float | None) -> bool:
        if exchange.attempt >= exchange.retry.max_attempts:
            return False
        delay = exchange.retry.delay(exchange.attempt, retry_after)
        exchange.attempt += 1
        log.debug("retrying %s in %.1f s", exchange.request.step, delay)

        def again() -> None:
            self._retry_timers.discard(timer_id)
            self._dispatch(exchange)

        timer_id = self._timers.start(delay, again)
        self._retry_timers.add(timer_id)
        return True

    def forget_all(self) -> None:
        """Drop every request in flight or waiting to be retried; no continuation runs."""
        self._pending.clear()
        for timer_id in list(self._retry_timers):
            self._timers.cancel(timer_id)
        self._retry_timers.clear()
        self._refresh_waiters.clear()
        self._deferred.clear()
        self._timers.cancel(self._refresh_timer)
        self._refresh_timer = None

    # -- credentials --------------------------------------------------------------------

    def refresh_token(self, done: OnDone) -> None:
        """Run the refresh_token grant (one at a time) and call ``done`` when it finishes."""
        self._refresh_waiters.append(done)
        if len(self._refresh_waiters) > 1:
            return
        try:
            request = self.credentials.refresh_request(self.token_url)
        except WebexError as error:
            self._finish_refresh(error)
            return
        self.send(
            request,
            on_response=self._on_token,
            on_error=self._finish_refresh,
            authorize=False,
            plain=True,
            secret_in_body=True,
            retry=IDEMPOTENT,
        )

    def _on_token(self, response: HttpResponse) -> None:
        try:
            self.credentials = self.credentials.refreshed(response, now=self._now())
        except WebexError as error:
            self._finish_refresh(error)
            return
        expires_at = self.credentials.expires_at
        expires_in = None if expires_at is None else max(0.0, expires_at - self._now())
        self._out.append(EmitEvent(TokenRefreshed(expires_in=expires_in)))
        self.schedule_refresh()
        self._finish_refresh(None)

    def _finish_refresh(self, error: WebexError | None) -> None:
        waiters, self._refresh_waiters = self._refresh_waiters, []
        for waiter in waiters:
            waiter(error)

    def schedule_refresh(self) -> None:
        """(Re)arm the proactive refresh at 60-90 % of the token's remaining lifetime."""
        self._timers.cancel(self._refresh_timer)
        self._refresh_timer = None
        delay = self.credentials.refresh_delay(self._now(), self._fraction())
        if delay is None:
            return

        def fire() -> None:
            self._refresh_timer = None
            self.refresh_token(self._log_refresh_outcome)

        self._refresh_timer = self._timers.start(delay, fire)

    @staticmethod
    def _log_refresh_outcome(error: WebexError | None) -> None:
        if error is not None:
            log.warning("token refresh failed: %s", error)
