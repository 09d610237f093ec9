"""Requests in flight: ids, common headers, retries, token refresh and the 401 replay.

Theory of operation
-------------------
The session hands :meth:`HttpClient.send` a request and a *purpose*: any value saying why it
was sent (the session's small request dataclasses). The client never calls back into the
session. Every method returns the client's output, in order: effects to run
(``SendHttpRequest``, ``StartTimer`` for a retry, ``EmitEvent(TokenRefreshed)``) and
:class:`Reply` values, one per finished request, carrying the purpose with the usable response
or the typed error. The session runs the effects and routes each reply by its purpose.

1. A request is decorated with the headers every Webex request carries (``trackingid``
   ``<session id>_<n>``, ``spark-user-agent``, ``cisco-no-http-redirect``, ``accept``) and,
   when authorized, the ``authorization`` and ``cisco-device-url`` headers. A request that
   carries a secret (the token header, or a refresh grant's form) to a URL the token rule
   forbids (:func:`~.token_rule.token_refusal`) is never sent: it fails with
   :class:`~.errors.TokenWithheldError`, a reply that :meth:`HttpClient.take_deferred` hands
   over once the current input is handled (never inside the ``send`` that caused it, so a
   caller never sees its own request fail before it has finished asking).
2. ``SendHttpRequest`` goes out under a fresh request id.
3. When the answer is fed back: a 2xx (or a status the caller accepts) is replied; a 401 with
   refreshable credentials triggers one token refresh and one replay (the JS SDK's
   ``maxAuthenticationReplays = 1``); a retryable status or transport failure is retried after
   a timer under the request's :class:`RetryPolicy` (``Retry-After`` honoured, capped);
   anything else becomes the typed error of :func:`~.http.error_for_status`.

Token refreshes are coalesced: every purpose waiting for one gets a reply (``response`` is
``None``; ``error`` says whether it worked) when the single renewal in flight finishes. A
proactive refresh runs at 60-90 % of the token's remaining lifetime. How a token is renewed
depends on where the credentials get theirs (:class:`~.credentials.TokenSource`, one row of
:data:`_RENEWALS` each): the OAuth ``refresh_token`` grant; ``POST {hydra}/jwt/login`` with
the guest JWT (to :attr:`HttpClient.hydra_url`, under the token rule like any secret); or a
``RequestToken`` effect the driver answers with ``TokenProvided`` or
``TokenProviderFailed`` (:meth:`HttpClient.token_provided`,
:meth:`HttpClient.token_provider_failed`). Each renewal is asked for once per need: a
failure is replied to its waiters as a typed error, never retried in a loop.

Every failure of a renewal reaches its waiters as a
:class:`~.errors.TokenRefreshError` (the underlying error as its ``__cause__``), except the
two local refusals that never reached the source (:class:`~.errors.TokenWithheldError`,
:class:`~.errors.NotAuthorizedError` when there is no source). It is ``permanent`` when
asking again cannot help: a 4xx from the token endpoint or hydra (``invalid_grant``, a
refused JWT), or :data:`MAX_PROVIDER_FAILURES` provider failures in a row. After a permanent
failure the client holds no usable token and asks for none on its own.

A bearer is never sent empty, nor expired while a renewal could replace it. An authorized
request finding no usable token (none yet, or expired at ``now``) waits for a renewal and
goes out once it is in; when no renewal can be had (the last one failed for good, or there
is neither a token nor a source) it fails at once, on the deferred path, with
:class:`~.errors.NotAuthorizedError` naming its step. Only a bare token that nothing could
ever renew still goes out after its expiry: the server judges it (our expiry is an estimate).

The client owns its state: the session tells it what the catalog and the device say through
:meth:`HttpClient.use_catalog` and :meth:`HttpClient.use_device`.
"""

from __future__ import annotations

import functools
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from .config import VERSION, SessionConfig, per_config
from .credentials import PROVIDER_STEP, Credentials, TokenSource
from .effects import Effect, EmitEvent, RequestToken, SendHttpRequest
from .errors import (
    CertificateError,
    ConfigurationError,
    HttpStatusError,
    NotAuthorizedError,
    ResponseTooLargeError,
    TimeoutError,
    TokenProviderError,
    TokenRefreshError,
    TokenWithheldError,
    TransportError,
    WebexError,
)
from .events import TokenRefreshed
from .fast_init import fast_init
from .http import Headers, HttpRequest, HttpResponse, error_for_status, parse_retry_after
from .inputs import FailureKind
from .redaction import Secret, redact
from .timers import TimerSet
from .token_rule import check_token_destination

__all__ = [
    "CREATE",
    "IDEMPOTENT",
    "MAX_PROVIDER_FAILURES",
    "MAX_RETRY_AFTER",
    "NO_RETRY",
    "HttpClient",
    "HttpOutput",
    "Reply",
    "RetryPolicy",
    "decorate_request",
]

log = logging.getLogger("webex_meetings.core.http")

MAX_RETRY_AFTER = 60.0
"""The longest ``Retry-After`` honoured, in seconds; a longer one is cut to this."""

MAX_PROVIDER_FAILURES: Final = 3
"""After this many failures of the token provider in a row, its failure is ``permanent``."""

_REFUSED: Final = frozenset({400, 401, 403})
"""Statuses of the token endpoint and hydra read by ``Credentials`` as a typed refusal."""


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
CREATE = RetryPolicy(
    max_attempts=3, statuses=frozenset({429, 502, 503, 504}), transport_errors=True
)
"""A POST that creates something (the WDM device). Never handed to :meth:`HttpClient.send`:
the session retries it itself, once it has made sure the failed try created nothing."""


_FAILURE_ERRORS: dict[FailureKind, type[TransportError]] = {
    FailureKind.CONNECTION: TransportError,
    FailureKind.TIMEOUT: TimeoutError,
    FailureKind.CERTIFICATE: CertificateError,
    FailureKind.TOO_LARGE: ResponseTooLargeError,
}
"""The error a request that got no answer fails with."""


def decorate_request(
    request: HttpRequest,
    config: SessionConfig,
    *,
    tracking_id: str,
    authorization: str | None,
    device_url: str | None = None,
    client_headers: bool = True,
) -> HttpRequest:
    """``request`` with the headers every Webex request carries and the default timeout.

    ``trackingid`` always; unless ``client_headers`` is false (the OAuth token endpoint), the
    Webex client headers (``spark-user-agent``, ``user-agent``, ``cisco-no-http-redirect``,
    ``accept``); with an ``authorization`` header value, that header and
    ``cisco-device-url`` (when a ``device_url`` is given). A pure function: the session's
    :class:`HttpClient` and ``webex_meetings.device_tools`` both use it.

    :raises TokenWithheldError: ``authorization`` is given and ``request.url`` breaks the
        token rule (:func:`~.token_rule.token_refusal`).
    """
    common = _client_headers(config.app_name, config.app_version) if client_headers else ()
    secret = () if authorization is None else _secret_headers(authorization, device_url)
    return _decorated(
        request,
        tracking_id,
        common,
        secret,
        _destination_rule(config),
        config.http_timeout,
    )


def _decorated(
    request: HttpRequest,
    tracking_id: str,
    common: Headers,
    secret: Headers,
    rule: tuple[tuple[str, ...], tuple[str, ...]],
    default_timeout: float,
) -> HttpRequest:
    """:func:`decorate_request` with its parts built: the client headers ``common`` (or
    none), the ``secret`` headers (authorization, device URL; none for a request without a
    token) and the token rule's allowed domains and extra hosts, ``rule``. A request with
    secret headers goes nowhere the token rule forbids."""
    url = request.url
    if secret:
        check_token_destination(
            url, allowed_domains=rule[0], extra_hosts=rule[1], step=request.step or None
        )
    headers = (("trackingid", tracking_id),) + common + secret  # noqa: RUF005 (faster)
    if request.headers:
        headers += request.headers
    timeout = request.timeout
    return HttpRequest(
        request.method,
        url,
        headers,
        request.body,
        default_timeout if timeout is None else timeout,
        request.step,
    )


def _secret_headers(authorization: str, device_url: str | None) -> Headers:
    """The headers an authorized request carries: the token, and the device URL when one
    is held."""
    if device_url is None:
        return (("authorization", authorization),)
    return (("authorization", authorization), ("cisco-device-url", device_url))


def _destination_rule(config: SessionConfig) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The token rule's parameters in ``config``: allowed domains and extra hosts."""
    return tuple(config.allowed_domains), tuple(config.extra_authorized_hosts)


@per_config
def _request_parts(
    config: SessionConfig,
) -> tuple[Headers, tuple[tuple[str, ...], tuple[str, ...]]]:
    """What every session of ``config`` decorates its requests with: the client headers and
    the token rule's parameters (built once per configuration)."""
    return _client_headers(config.app_name, config.app_version), _destination_rule(config)


@functools.lru_cache(maxsize=64)
def _client_headers(app_name: str | None, app_version: str | None) -> Headers:
    """The Webex client headers, the same for every request of an app (built once)."""
    agent = SessionConfig(app_name=app_name, app_version=app_version).spark_user_agent
    return (
        ("spark-user-agent", agent),
        ("user-agent", f"webex-meetings/{VERSION}"),
        ("cisco-no-http-redirect", "true"),
        ("accept", "application/json"),
    )


@fast_init
@dataclass(frozen=True, slots=True)
class Reply:
    """A request sent for ``purpose`` is finished: ``response`` is the usable answer, or
    ``error`` the typed failure. For a token refresh, ``response`` is always ``None`` and
    ``error`` is ``None`` when the refresh worked."""

    purpose: object
    response: HttpResponse | None = None
    error: WebexError | None = None


HttpOutput = Effect | Reply
"""What the client's methods return, in order."""


@dataclass(slots=True, eq=False)
class _Exchange:
    """One request until it is replied: its options, attempts and what was last sent."""

    request: HttpRequest
    purpose: object
    authorize: bool
    client_headers: bool
    carries_own_secret: bool
    retry: RetryPolicy
    accept: frozenset[int]
    worth_a_dead_token: bool
    attempt: int = 1
    replayed: bool = False
    sent: HttpRequest | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class _Replay:
    """A token-refresh waiter: replay ``exchange`` once the new token is in."""

    exchange: _Exchange


_PROACTIVE: Final = "proactive token refresh"
"""The token-refresh waiter (and the timer key) of the refresh the client runs on its own."""


class HttpClient:
    """The HTTP side of one session. Not thread-safe; driven by the session.

    ``new_id`` allocates request and timer ids (the session's one allocator); ``rng`` picks
    when a token is refreshed within ``config.refresh_margin``.
    """

    __slots__ = (
        "_common_headers",
        "_destination_rule",
        "_device_url",
        "_hydra_url",
        "_new_id",
        "_pending",
        "_provider_failures",
        "_provider_request",
        "_refresh_waiters",
        "_refusal",
        "_rng",
        "_secret_headers",
        "_sequence",
        "_session_id",
        "_timers",
        "_token_url",
        "config",
        "credentials",
        "deferred",
    )

    def __init__(
        self,
        config: SessionConfig,
        credentials: Credentials,
        *,
        session_id: str,
        new_id: Callable[[], int],
        rng: random.Random,
    ) -> None:
        self.config = config
        self.credentials = credentials
        self._device_url: str | None = None
        self._token_url = config.discovery.token_url
        self._hydra_url = config.discovery.hydra
        self._session_id = session_id
        self._sequence = 0
        self._new_id = new_id
        self._rng = rng
        self._pending: dict[int, _Exchange] = {}
        self._timers: TimerSet[_Exchange | str] = TimerSet(new_id)
        self._refresh_waiters: list[object] = []
        self.deferred: list[tuple[object, WebexError]] = []
        """The failures decided on the spot, for :meth:`take_deferred`: read-only outside
        (the session asks only whether it is empty, once per input)."""
        self._provider_request: int | None = None
        """The id of the ``RequestToken`` awaiting the token provider's answer."""
        self._provider_failures = 0
        """The token provider's failures since its last token."""
        self._refusal: TokenRefreshError | None = None
        """The last renewal's failure when it was permanent (cleared by a new token)."""
        self._common_headers, self._destination_rule = _request_parts(config)
        self._secret_headers: Headers | None = None
        """The secret headers for the credentials and device held, once built (forgotten
        when either changes)."""

    # -- what the session tells it ------------------------------------------------------

    @property
    def device_url(self) -> str | None:
        """The held device's URL, sent as ``cisco-device-url``."""
        return self._device_url

    @property
    def token_url(self) -> str:
        """Where the refresh grant goes (the catalog's idbroker, once known)."""
        return self._token_url

    @property
    def hydra_url(self) -> str:
        """Where the guest JWT login goes (the catalog's hydra, once known)."""
        return self._hydra_url

    def use_catalog(self, *, token_url: str | None, hydra_url: str) -> None:
        """The catalog is known: renew at its ``token_url`` (``None``: keep the current one,
        the catalog names no idbroker) and log guests in at its ``hydra_url``."""
        if token_url is not None:
            self._token_url = token_url
        self._hydra_url = hydra_url

    def use_device(self, url: str | None) -> None:
        """Send ``url`` as ``cisco-device-url`` from now on (``None``: no device held)."""
        self._device_url = url
        self._secret_headers = None

    # -- sending ------------------------------------------------------------------------

    def send(
        self,
        request: HttpRequest,
        purpose: object,
        *,
        now: float,
        authorize: bool = True,
        client_headers: bool = True,
        carries_own_secret: bool = False,
        retry: RetryPolicy = NO_RETRY,
        accept: frozenset[int] = frozenset(),
        worth_a_dead_token: bool = False,
    ) -> list[HttpOutput]:
        """Send ``request`` at ``now``; exactly one :class:`Reply` for ``purpose`` follows
        later (unless :meth:`forget_all`).

        ``authorize=False`` never attaches the token (pre-auth catalog, token calls); an
        authorized request waits for a renewal when no usable token is held (see the module
        docstring). ``client_headers=False`` also leaves out the Webex client headers (the
        OAuth token endpoint); ``carries_own_secret=True`` says the request already carries
        a secret of its own (the refresh grant's form and Basic auth, the JWT login's
        header), so it obeys the token rule like an authorized request.
        ``worth_a_dead_token=True`` (the session's device clean-ups, nothing else) lets the
        request go out with a token whose renewal was refused for good (see
        :meth:`_usable_token`).
        """
        exchange = _Exchange(
            request,
            purpose,
            authorize,
            client_headers,
            carries_own_secret,
            retry,
            accept,
            worth_a_dead_token,
        )
        return self._dispatch(exchange, now)

    def _dispatch(self, exchange: _Exchange, now: float) -> list[HttpOutput]:
        if (
            exchange.authorize
            and not self.credentials.can_authorize(now)  # the usual case, asked first
            and not self._usable_token(exchange, now)
        ):
            return self._authorize_first(exchange, now)
        try:
            if exchange.carries_own_secret:
                self._check_destination(exchange.request)
            exchange.sent = self.prepare(
                exchange.request,
                authorize=exchange.authorize,
                client_headers=exchange.client_headers,
            )
        except TokenWithheldError as error:
            log.warning("%s", error)
            self.deferred.append((exchange.purpose, error))
            return []
        request_id = self._new_id()
        self._pending[request_id] = exchange
        return [SendHttpRequest(request_id, exchange.sent)]

    def _usable_token(self, exchange: _Exchange, now: float) -> bool:
        """True when the token held may go out with ``exchange`` at ``now``: there is one,
        and it has not expired, or it has but nothing could ever renew it (a bare token: the
        server judges it, as in the JS SDK). A request sent ``worth_a_dead_token`` (a
        device's clean-up) also goes out with a token whose renewal was refused for good:
        our expiry is an estimate, and a DELETE that may still work beats a device left
        behind; other requests (a device refresh, any other DELETE) are not worth a dead
        token and fail at once.
        """
        credentials = self.credentials
        if credentials.can_authorize(now):
            return True
        if not credentials.access_token:
            return False
        if not credentials.can_refresh:
            return True
        return self._refusal is not None and exchange.worth_a_dead_token

    def _authorize_first(self, exchange: _Exchange, now: float) -> list[HttpOutput]:
        """``exchange`` needs a token and none is usable: wait for a renewal, or fail at once
        (on the deferred path) when none can be had."""
        if self._refusal is None and self.credentials.can_refresh:
            return self.refresh_token(_Replay(exchange), now=now)
        request = exchange.request
        why = "the last renewal failed for good" if self._refusal else "no way to get one"
        error = NotAuthorizedError(
            f"{request.method} {redact(request.url)} not sent: no usable access token ({why})",
            step=request.step or None,
        )
        error.__cause__ = self._refusal
        self.deferred.append((exchange.purpose, error))
        return []

    def take_deferred(self) -> list[HttpOutput]:
        """The failures decided on the spot (refused destinations), in order, and what they
        cause; the session takes them once the current input is handled, until none is
        left."""
        output: list[HttpOutput] = []
        while self.deferred:
            output += self._finish(*self.deferred.pop(0))
        return output

    def _check_destination(self, request: HttpRequest) -> None:
        domains, extra_hosts = self._destination_rule
        check_token_destination(
            request.url,
            allowed_domains=domains,
            extra_hosts=extra_hosts,
            step=request.step or None,
        )

    def prepare(
        self, request: HttpRequest, *, authorize: bool = True, client_headers: bool = True
    ) -> HttpRequest:
        """``request`` decorated (:func:`decorate_request`) under the next tracking id.

        :raises TokenWithheldError: ``authorize`` and ``request.url`` breaks the token rule.
        """
        sequence = self._sequence + 1
        secret: Headers = ()
        if authorize:
            secret = self._secret_headers or self._authorized_headers()
        decorated = _decorated(
            request,
            f"{self._session_id}_{sequence}",
            self._common_headers if client_headers else (),
            secret,
            self._destination_rule,
            self.config.http_timeout,
        )
        self._sequence = sequence  # only once it is certain to go out
        return decorated

    def _authorized_headers(self) -> Headers:
        """The secret headers of an authorized request (:func:`_secret_headers`), built
        again only when the credentials or the device change."""
        headers = self._secret_headers
        if not headers:
            authorization = self.credentials.authorization
            headers = self._secret_headers = _secret_headers(authorization, self._device_url)
        return headers

    # -- answers ------------------------------------------------------------------------

    def received(self, request_id: int, response: HttpResponse, *, now: float) -> list[HttpOutput]:
        """The answer to ``request_id`` (ignored when no longer awaited)."""
        exchange = self._pending.pop(request_id, None)
        if exchange is None:
            return []
        status = response.status
        if 200 <= status < 300 or status in exchange.accept:  # response.ok, inlined
            if isinstance(exchange.purpose, _TokenGrant):
                return self._token_received(response, now)
            return [Reply(exchange.purpose, response=response)]
        if response.status == 401 and self._may_replay(exchange):
            exchange.replayed = True
            return self.refresh_token(_Replay(exchange), now=now)
        if response.status in exchange.retry.statuses:
            retried = self._retry(exchange, parse_retry_after(response.header("retry-after")))
            if retried:
                return retried
        assert exchange.sent is not None
        return self._finish(exchange.purpose, error_for_status(exchange.sent, response))

    def failed(self, request_id: int, error: str, *, kind: FailureKind) -> list[HttpOutput]:
        """The request ``request_id`` got no answer (``kind`` says why)."""
        exchange = self._pending.pop(request_id, None)
        if exchange is None:
            return []
        if kind.retryable and exchange.retry.transport_errors:
            retried = self._retry(exchange, None)
            if retried:
                return retried
        request = exchange.request
        message = _failure_message(request, error)
        return self._finish(
            exchange.purpose, _FAILURE_ERRORS[kind](message, step=request.step or None)
        )

    def timer_fired(self, timer_id: int, *, now: float) -> list[HttpOutput] | None:
        """A timer of ours ran out: a retry is due, or the proactive token refresh.
        ``None`` when ``timer_id`` is not ours."""
        key = self._timers.fired(timer_id)
        if key is None:
            return None
        if isinstance(key, _Exchange):
            return self._dispatch(key, now)
        return self.refresh_token(_PROACTIVE, now=now)

    def _finish(self, purpose: object, error: WebexError) -> list[HttpOutput]:
        if isinstance(purpose, _TokenGrant):
            return self._renewal_failed(error)
        return [Reply(purpose, error=error)]

    def _may_replay(self, exchange: _Exchange) -> bool:
        return exchange.authorize and not exchange.replayed and self.credentials.can_refresh

    def _retry(self, exchange: _Exchange, retry_after: float | None) -> list[HttpOutput]:
        if exchange.attempt >= exchange.retry.max_attempts:
            return []
        delay = exchange.retry.delay(exchange.attempt, retry_after)
        exchange.attempt += 1
        log.debug("retrying %s in %.1f s", exchange.request.step, delay)
        return list(self._timers.start(exchange, delay))

    def forget_all(self) -> list[HttpOutput]:
        """Drop every request in flight or waiting to be retried; no reply follows."""
        self._pending.clear()
        self._refresh_waiters.clear()
        self.deferred.clear()
        self._provider_request = None
        return list(self._timers.cancel_all())

    @property
    def renewal_refused(self) -> TokenRefreshError | None:
        """The last renewal's failure when it was ``permanent``, until a new token is in."""
        return self._refusal

    # -- credentials --------------------------------------------------------------------

    def refresh_token(self, purpose: object, *, now: float) -> list[HttpOutput]:
        """Get a new token from the credentials' source (one renewal at a time); a
        :class:`Reply` for ``purpose`` follows when it finishes."""
        self._refresh_waiters.append(purpose)
        if len(self._refresh_waiters) > 1:
            return []
        return _RENEWALS[self.credentials.source](self, now)

    def _send_refresh_grant(self, now: float) -> list[HttpOutput]:
        # The OAuth form goes to the idbroker bare: no Webex client headers.
        build = self.credentials.refresh_request
        return self._send_token_grant(lambda: build(self._token_url), now, client_headers=False)

    def _send_jwt_login(self, now: float) -> list[HttpOutput]:
        build = self.credentials.jwt_login_request
        return self._send_token_grant(lambda: build(self._hydra_url), now, client_headers=True)

    def _send_token_grant(
        self, build: Callable[[], HttpRequest], now: float, *, client_headers: bool
    ) -> list[HttpOutput]:
        """Send the request ``build`` makes for a new token (its own secret inside, checked by
        the token rule); its refusals are read by the credentials (``refreshed`` /
        ``logged_in``) into a typed, permanent error. Idempotent: a grant or login creates
        nothing that a second one would duplicate."""
        try:
            request = build()
        except WebexError as error:
            self.deferred.append((_TokenGrant(), error))
            return []
        return self.send(
            request,
            _TokenGrant(),
            now=now,
            authorize=False,
            client_headers=client_headers,
            carries_own_secret=True,
            retry=IDEMPOTENT,
            accept=_REFUSED,
        )

    def _ask_provider(self, now: float) -> list[HttpOutput]:
        self._provider_request = self._new_id()
        return [RequestToken(self._provider_request, self.config.http_timeout)]

    def token_provided(
        self, request_id: int, token: Secret, expires_in: float | None, *, now: float
    ) -> list[HttpOutput]:
        """The token provider answered ``RequestToken(request_id)`` (ignored when stale)."""
        if request_id != self._provider_request:
            return []
        self._provider_request = None
        try:
            fresh = self.credentials.provided(token, expires_in=expires_in, now=now)
        except ConfigurationError as exc:
            text = f"the token provider gave an unusable token: {exc.message}"
            return self._provider_failed(text, None)
        return self._renewed(fresh, now)

    def token_provider_failed(
        self, request_id: int, error: str, *, exception: BaseException | None = None
    ) -> list[HttpOutput]:
        """The token provider failed to answer ``RequestToken(request_id)``; ``exception``
        (what it raised, if it did) becomes the error's ``__cause__``."""
        if request_id != self._provider_request:
            return []
        self._provider_request = None
        return self._provider_failed(error, exception)

    def _provider_failed(self, text: str, exception: BaseException | None) -> list[HttpOutput]:
        self._provider_failures += 1
        permanent = self._provider_failures >= MAX_PROVIDER_FAILURES
        if permanent:
            text += f" ({self._provider_failures} failures in a row: giving up)"
        error = TokenProviderError(text, step=PROVIDER_STEP, permanent=permanent)
        error.__cause__ = exception
        return self._renewal_failed(error)

    def _token_received(self, response: HttpResponse, now: float) -> list[HttpOutput]:
        credentials = self.credentials
        try:
            if credentials.source is TokenSource.JWT_LOGIN:
                fresh = credentials.logged_in(response, now=now)
            else:
                fresh = credentials.refreshed(response, now=now)
        except WebexError as error:
            return self._renewal_failed(error)
        return self._renewed(fresh, now)

    def _renewed(self, fresh: Credentials, now: float) -> list[HttpOutput]:
        self.credentials = fresh
        self._secret_headers = None
        self._refusal = None
        self._provider_failures = 0
        expires_at = self.credentials.expires_at
        expires_in = None if expires_at is None else max(0.0, expires_at - now)
        output: list[HttpOutput] = [EmitEvent(TokenRefreshed(expires_in=expires_in))]
        output += self.schedule_refresh(now)
        waiters, self._refresh_waiters = self._refresh_waiters, []
        for waiter in waiters:
            if isinstance(waiter, _Replay):
                output += self._replay(waiter.exchange, now)
            elif waiter is not _PROACTIVE:
                output.append(Reply(waiter))
        return output

    def _replay(self, exchange: _Exchange, now: float) -> list[HttpOutput]:
        """Send ``exchange`` with the new token; one that is expired already (a server
        answering a lifetime of 0) fails it rather than asking again and again."""
        if self._usable_token(exchange, now):
            return self._dispatch(exchange, now)
        request = exchange.request
        error = NotAuthorizedError(
            "the renewed access token is already expired", step=request.step or None
        )
        return [Reply(exchange.purpose, error=error)]

    def _renewal_failed(self, error: WebexError) -> list[HttpOutput]:
        error = _as_renewal_error(error)
        if isinstance(error, TokenRefreshError) and error.permanent:
            self._refusal = error
        waiters, self._refresh_waiters = self._refresh_waiters, []
        output: list[HttpOutput] = []
        for waiter in waiters:
            if isinstance(waiter, _Replay):
                output.append(Reply(waiter.exchange.purpose, error=error))
            elif waiter is _PROACTIVE:
                log.warning("token refresh failed: %s", error)
            else:
                output.append(Reply(waiter, error=error))
        return output

    def schedule_refresh(self, now: float) -> list[HttpOutput]:
        """(Re)arm the proactive refresh at 60-90 % of the token's remaining lifetime."""
        share = self._rng.uniform(*self.config.refresh_margin)
        delay = self.credentials.refresh_delay(now, share)
        if delay is None:
            return list(self._timers.cancel(_PROACTIVE))
        return list(self._timers.start(_PROACTIVE, delay))


@dataclass(frozen=True, slots=True)
class _TokenGrant:
    """The purpose of the refresh_token grant or the JWT login (handled inside the client)."""


_RENEWALS: Final[dict[TokenSource, Callable[[HttpClient, float], list[HttpOutput]]]] = {
    TokenSource.REFRESH_GRANT: HttpClient._send_refresh_grant,
    TokenSource.JWT_LOGIN: HttpClient._send_jwt_login,
    TokenSource.PROVIDER: HttpClient._ask_provider,
    TokenSource.NONE: HttpClient._send_refresh_grant,  # fails with its "cannot refresh"
}
"""How a new token is had, by where the credentials get theirs."""


_LOCAL_REFUSALS: Final = (TokenRefreshError, TokenWithheldError, NotAuthorizedError)
"""Renewal failures replied as they are: already a renewal error, or never sent."""


def _as_renewal_error(error: WebexError) -> WebexError:
    """``error`` as a :class:`TokenRefreshError` (it as the cause), unless it is one already
    or a local refusal; permanent when the source answered with a 4xx other than 408/429."""
    if isinstance(error, _LOCAL_REFUSALS):
        return error
    permanent = isinstance(error, HttpStatusError) and error.status in _PERMANENT_STATUSES
    renewal = TokenRefreshError(
        f"no new token: {error.message}", step=error.step, permanent=permanent
    )
    renewal.__cause__ = error
    return renewal


_PERMANENT_STATUSES: Final = frozenset(range(400, 500)) - {408, 425, 429}
"""Statuses of a token source after which asking again cannot help."""


def _failure_message(request: HttpRequest, error: str) -> str:
    """``"<METHOD> <url> failed: <error>"``, naming the request once: a transport's own
    text often starts with the method and URL already."""
    if error.startswith(f"{request.method} "):
        return error
    return f"{request.method} {redact(request.url)} failed: {error}"
