"""OAuth credentials: the access token and how to renew it (who may see it: :mod:`.token_rule`).

Theory of operation
-------------------
:class:`Credentials` is an immutable value. It is built once from whatever the caller hands
to ``Webex.init`` (:meth:`Credentials.from_init` accepts every shape the JS SDK accepts, see
protocol-notes §0.3-0.5) and replaced, never mutated, when a refresh succeeds
(:meth:`Credentials.refreshed`). Time is always an input (``now``, unix seconds): the value
knows when it expires but never reads a clock.

A refresh is the OAuth ``refresh_token`` grant: :meth:`Credentials.refresh_request` builds
the ``POST`` and :meth:`Credentials.refreshed` reads its answer. The session decides when to
run it, using :meth:`Credentials.refresh_delay` (a fraction of the remaining lifetime, the JS
SDK's 60-90 %).

Every secret (access token, refresh token, client secret) is held as a
:class:`~webex_meetings.core.redaction.Secret`; ``repr`` and ``str`` show only the token type,
the org id, the expiry and whether a refresh is possible. :func:`.token_rule.token_refusal`
is the one rule deciding which URLs may receive a secret: the ``Authorization`` header, the
Mercury authorization frame and the refresh grant all go through it.

A token can also come from two other sources (:class:`TokenSource`): a guest-issuer JWT
exchanged at ``POST {hydra}/jwt/login`` (:meth:`Credentials.from_jwt`,
:meth:`Credentials.jwt_login_request`, :meth:`Credentials.logged_in`; the JS SDK's
``requestAccessTokenFromJwt``), or the app's own token provider
(:meth:`Credentials.from_provider`, :meth:`Credentials.provided`). Such a value starts without
an access token; it can always get a new one, so the session asks for one before the first
request and again on expiry or a 401, exactly as it runs the refresh grant. The JWT is a
secret like the others: redacted everywhere and sent only where
:data:`.token_rule.TOKEN_RULE` allows.

A refreshed value keeps its predecessors' secrets alive (the last few), so that
:func:`~webex_meetings.core.redaction.redact` still masks a superseded token that a server
echoes back after a refresh.
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any, Final
from urllib.parse import urlencode

from .errors import (
    ConfigurationError,
    NotAuthorizedError,
    RemoteProtocolError,
    TokenRefreshError,
)
from .http import HttpRequest, HttpResponse
from .redaction import REDACTED, Secret

__all__ = [
    "JWT_LOGIN_STEP",
    "PROVIDER_STEP",
    "Credentials",
    "TokenSource",
]

REFRESH_STEP: Final = "credentials.refresh"
JWT_LOGIN_STEP: Final = "credentials.jwt_login"
PROVIDER_STEP: Final = "credentials.provider"


class TokenSource(enum.Enum):
    """Where the next access token comes from when the current one expires or is refused."""

    REFRESH_GRANT = "refresh_grant"
    """The OAuth ``refresh_token`` grant (a refresh token, client id and secret are known)."""
    JWT_LOGIN = "jwt_login"
    """``POST {hydra}/jwt/login`` with the guest-issuer JWT."""
    PROVIDER = "provider"
    """The app's token provider (``Webex(token_provider=...)``), run by the driver."""
    NONE = "none"
    """Nowhere: when this token is gone, the session cannot authorize."""


_WRAPPER_KEYS: Final = ("supertoken", "authorization")
"""Keys the JS SDK unwraps to find the token object (``credentials.authorization.supertoken``)."""

_MAX_NESTING: Final = 4
_KEPT_SUPERSEDED: Final = 8
"""How many superseded secrets a refreshed value keeps alive (and masked)."""
_MS_THRESHOLD: Final = 1e11
"""``expires`` values above this are JS milliseconds since the epoch, below it seconds."""

_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
_BEARER_GLUED = re.compile(r"(?i)^bearer(?=[^\s])")
_TOKEN_TYPE = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")

_OPTIONAL_TEXT_FIELDS: Final = ("client_id", "redirect_uri", "scope")


# -- token text ----------------------------------------------------------------------------


def _split_token(text: str, token_type: str) -> tuple[str, str]:
    """Clean an access token like the JS SDK's ``bearerValidator`` and ``Token.set``.

    Whitespace collapses to single spaces, ``Bearer<x>`` becomes ``Bearer <x>``, and a
    ``"<type> <token>"`` value is split into its type and token.
    """
    plain = text.isascii() and text.isprintable() and " " not in text
    if plain and text and text[:6].lower() != "bearer":
        return token_type, text  # the usual case: one printable word, nothing to clean
    cleaned = " ".join(text.split())
    cleaned = _BEARER_GLUED.sub("Bearer ", cleaned, count=1)
    if not cleaned:
        raise ConfigurationError("the access token is empty")
    if _CONTROL_CHARS.search(cleaned):
        raise ConfigurationError("the access token contains control characters")
    parts = cleaned.split(" ")
    if len(parts) == 1 and parts[0].lower() != "bearer":
        return token_type, parts[0]
    if len(parts) == 2:
        return parts[0], parts[1]
    if len(parts) == 1:
        raise ConfigurationError("the access token is empty")
    raise ConfigurationError("the access token contains whitespace")


def _initial_token(
    access_token: str | Secret, token_type: str, *, sourced: bool
) -> tuple[str, str]:
    """The token type and token of a new value; ``sourced`` values (a JWT, a provider) may
    start without a token: their first comes from the source."""
    raw = access_token.reveal() if isinstance(access_token, Secret) else access_token
    if not isinstance(raw, str) or not isinstance(token_type, str):
        raise ConfigurationError("the access token must be a string")
    if not raw and sourced:
        return "Bearer", ""
    return _split_token(raw, token_type)


def _normal_token_type(token_type: str) -> str:
    if token_type == "Bearer":
        return token_type
    if not token_type:
        return "Bearer"
    if not _TOKEN_TYPE.fullmatch(token_type):
        raise ConfigurationError("the token type is not a single word")
    return "Bearer" if token_type.lower() == "bearer" else token_type


def _as_secret(value: str | Secret | None, what: str) -> Secret | None:
    if value is None or isinstance(value, Secret):
        return value or None
    if not isinstance(value, str):
        raise ConfigurationError(f"the {what} must be a string")
    return Secret(value) if value else None


def _jwt_realm(token: str) -> str | None:
    """The ``realm`` claim of a JWT's payload (no signature check), or ``None``."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload.encode("ascii")))
    except (binascii.Error, UnicodeError, ValueError):
        return None
    realm = claims.get("realm") if isinstance(claims, dict) else None
    return realm if isinstance(realm, str) and realm else None


# -- the value -------------------------------------------------------------------------------


class Credentials:
    """An OAuth access token and what is needed to refresh it. Immutable.

    :raises ConfigurationError: the access token is empty or malformed, or a field has the
        wrong type.
    """

    __slots__ = (
        "_access_token",
        "_client_secret",
        "_has_token",
        "_jwt",
        "_refresh_token",
        "_superseded",
        "client_id",
        "expires_at",
        "provider_supplied",
        "redirect_uri",
        "refresh_token_expires_at",
        "scope",
        "token_type",
    )

    _access_token: Secret
    _has_token: bool
    """``bool(_access_token)``, kept: every request asks (:meth:`can_authorize`)."""
    _superseded: tuple[Secret, ...]
    """Secrets of the values this one replaced (the newest :data:`_KEPT_SUPERSEDED`), kept
    alive so that :func:`~.redaction.redact` still masks them when a server echoes one."""
    _refresh_token: Secret | None
    _client_secret: Secret | None
    token_type: str
    client_id: str | None
    redirect_uri: str | None
    scope: str | None
    expires_at: float | None
    """Unix seconds after which the access token is expired; ``None``: it never expires."""
    refresh_token_expires_at: float | None
    _jwt: Secret | None
    """The guest-issuer JWT exchanged for tokens, when :attr:`source` is ``JWT_LOGIN``."""
    provider_supplied: bool
    """True when tokens come from the app's token provider (the function itself is given to
    ``Webex(token_provider=...)``; these credentials only know that one exists)."""

    def __init__(
        self,
        access_token: str | Secret,
        *,
        token_type: str = "Bearer",
        refresh_token: str | Secret | None = None,
        client_id: str | None = None,
        client_secret: str | Secret | None = None,
        redirect_uri: str | None = None,
        scope: str | None = None,
        expires_at: float | None = None,
        refresh_token_expires_at: float | None = None,
        jwt: str | Secret | None = None,
        provider_supplied: bool = False,
    ) -> None:
        if not isinstance(provider_supplied, bool):
            raise ConfigurationError(
                "provider_supplied must be True or False "
                "(the function goes to Webex(token_provider=))"
            )
        # A bare token, the usual case, has no other secret: no call for each of them.
        jwt_secret = None if jwt is None else _as_secret(jwt, "JWT")
        if jwt_secret is not None:
            _check_jwt(jwt_secret.reveal())
        sourced = jwt_secret is not None or provider_supplied
        kind, token = _initial_token(access_token, token_type, sourced=sourced)
        _put_access_token(self, Secret(token))
        _put_has_token(self, bool(token))
        _put_jwt(self, jwt_secret)
        _put_provider_supplied(self, provider_supplied)
        _put_superseded(self, ())
        _put_token_type(self, kind if kind == "Bearer" else _normal_token_type(kind))
        _put_refresh_token(
            self, None if refresh_token is None else _as_secret(refresh_token, "refresh token")
        )
        _put_client_secret(
            self, None if client_secret is None else _as_secret(client_secret, "client secret")
        )
        plain = (client_id, redirect_uri, scope, expires_at, refresh_token_expires_at)
        if (  # the usual case, a bare token: nothing to check
            client_id is None
            and redirect_uri is None
            and scope is None
            and expires_at is None
            and refresh_token_expires_at is None
        ):
            _put_client_id(self, None)
            _put_redirect_uri(self, None)
            _put_scope(self, None)
            _put_expires_at(self, None)
            _put_refresh_token_expires_at(self, None)
        else:
            self._set_plain_fields(*plain)

    def _set_plain_fields(
        self,
        client_id: str | None,
        redirect_uri: str | None,
        scope: str | None,
        expires_at: float | None,
        refresh_token_expires_at: float | None,
    ) -> None:
        """Check and set the fields that are not secrets (once, from ``__init__``)."""
        texts = (client_id, redirect_uri, scope)
        for name, text in zip(_OPTIONAL_TEXT_FIELDS, texts, strict=True):
            if text is not None and not isinstance(text, str):
                raise ConfigurationError(f"{name} must be a string")
        _put_client_id(self, client_id or None)
        _put_redirect_uri(self, redirect_uri or None)
        _put_scope(self, scope or None)
        _put_expires_at(self, _optional_time(expires_at, "expires_at"))
        _put_refresh_token_expires_at(
            self, _optional_time(refresh_token_expires_at, "refresh_token_expires_at")
        )

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Credentials are immutable; cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Credentials are immutable; cannot delete {name!r}")

    # -- construction from the JS SDK's shapes ------------------------------------------------

    @classmethod
    def from_init(cls, credentials: str | Mapping[str, Any], *, now: float) -> Credentials:
        """Credentials from any shape ``Webex.init({credentials})`` accepts.

        A bare token string; a token object ``{"access_token", "token_type", "expires_in",
        "expires", "refresh_token", "refresh_token_expires_in", "client_id",
        "client_secret", "redirect_uri", "scope"}``; or such an object (or a token string)
        wrapped in ``{"authorization": ...}``, ``{"supertoken": ...}`` or
        ``{"authorization": {"supertoken": ...}}``. ``expires_in`` counts from ``now``;
        ``expires`` is an absolute time (JS milliseconds, or unix seconds).

        :raises ConfigurationError: the shape is not one of these or a field is unusable.
            The message never contains a secret.
        """
        found = _unwrap(credentials)
        if isinstance(found, str):
            return cls(found)
        return cls._from_token_object(found, now=now)

    @classmethod
    def _from_token_object(cls, token: Mapping[str, Any], *, now: float) -> Credentials:
        access = token.get("access_token")
        if not isinstance(access, str):
            raise ConfigurationError("the token object's access_token must be a string")
        token_type = token.get("token_type") or "Bearer"
        if not isinstance(token_type, str):
            raise ConfigurationError("token_type must be a string")
        return cls(
            access,
            token_type=token_type,
            refresh_token=_secret_field(token, "refresh_token"),
            client_id=_text_field(token, "client_id"),
            client_secret=_secret_field(token, "client_secret"),
            redirect_uri=_text_field(token, "redirect_uri"),
            scope=_text_field(token, "scope"),
            expires_at=_expiry(token, "expires", "expires_in", now=now),
            refresh_token_expires_at=_expiry(
                token, "refresh_token_expires", "refresh_token_expires_in", now=now
            ),
        )

    @classmethod
    def from_jwt(cls, jwt: str | Secret) -> Credentials:
        """Credentials of a guest: no token yet; each comes from ``POST {hydra}/jwt/login``
        with the guest-issuer ``jwt`` (the JS SDK's ``requestAccessTokenFromJwt``).

        :raises ConfigurationError: ``jwt`` is empty or not three dot-separated parts.
        """
        return cls("", jwt=jwt)

    @classmethod
    def from_provider(cls) -> Credentials:
        """Credentials whose tokens all come from the app's token provider (the driver runs
        it when the session asks, see :class:`~.effects.RequestToken`)."""
        return cls("", provider_supplied=True)

    # -- what the session reads --------------------------------------------------------------

    @property
    def access_token(self) -> str:
        """The access token itself, for the wire only."""
        return self._access_token.reveal()

    @property
    def refresh_token(self) -> Secret | None:
        """The refresh token, still wrapped."""
        return self._refresh_token

    @property
    def client_secret(self) -> Secret | None:
        """The OAuth client secret, still wrapped."""
        return self._client_secret

    @property
    def jwt(self) -> Secret | None:
        """The guest-issuer JWT, still wrapped (``None`` unless :attr:`source` is
        ``JWT_LOGIN``)."""
        return self._jwt

    def every_secret(self) -> tuple[str, ...]:
        """Every secret this value knows, revealed and non-empty: the access token, the
        refresh token, the client secret, the JWT and the superseded tokens still kept. For
        checks that nothing stored or shown contains one; never log the result."""
        held = (self._access_token, self._refresh_token, self._client_secret, self._jwt)
        return tuple(s.reveal() for s in (*held, *self._superseded) if s and s.reveal())

    @property
    def authorization(self) -> str:
        """The ``Authorization`` header value: ``"Bearer <token>"``."""
        return f"{self.token_type} {self._access_token.reveal()}"

    @property
    def org_id(self) -> str | None:
        """The org id the catalog needs: the JWT ``realm`` claim, else the third part of a
        ``<opaque>_<cluster>_<orgId>`` token, else ``None``."""
        token = self._access_token.reveal()
        realm = _jwt_realm(token)
        if realm is not None:
            return realm
        parts = token.split("_")
        if len(parts) == 3 and parts[2]:
            return parts[2]
        return None

    def is_expired(self, now: float) -> bool:
        """True once ``now`` reaches the expiry; a token without expiry never expires."""
        return self.expires_at is not None and now >= self.expires_at

    def can_authorize(self, now: float) -> bool:
        """True when the access token may be used at ``now``."""
        expires_at = self.expires_at  # is_expired, inlined: every request asks
        return self._has_token and (expires_at is None or now < expires_at)

    @property
    def source(self) -> TokenSource:
        """Where the next token comes from: the provider, the JWT login, the refresh grant
        (a refresh token, client id and secret all known), or nowhere."""
        if self.provider_supplied:
            return TokenSource.PROVIDER
        if self._jwt is not None:
            return TokenSource.JWT_LOGIN
        if self._refresh_token and self.client_id and self._client_secret:
            return TokenSource.REFRESH_GRANT
        return TokenSource.NONE

    @property
    def can_refresh(self) -> bool:
        """True when a new token can be had (:attr:`source` is not ``NONE``)."""
        return self.source is not TokenSource.NONE

    def refresh_delay(self, now: float, fraction: float) -> float | None:
        """Seconds from ``now`` until a refresh should run: ``fraction`` of the remaining
        lifetime (0 when already expired); ``None`` when the token never expires or cannot
        be refreshed.

        :raises ConfigurationError: ``fraction`` is not between 0 and 1.
        """
        if not 0.0 <= fraction <= 1.0:
            raise ConfigurationError("the refresh fraction must be between 0 and 1")
        if self.expires_at is None or not self.can_refresh:
            return None
        return max(0.0, self.expires_at - now) * fraction

    # -- refreshing ----------------------------------------------------------------------------

    def refresh_request(self, token_url: str) -> HttpRequest:
        """The OAuth ``refresh_token`` grant: a form ``POST`` with HTTP Basic client auth.

        :raises NotAuthorizedError: no refresh token, client id or client secret.
        """
        if not (self._refresh_token and self.client_id and self._client_secret):
            raise NotAuthorizedError(
                "cannot refresh: a refresh token, client id and client secret are all needed",
                step=REFRESH_STEP,
            )
        form = [("grant_type", "refresh_token")]
        if self.redirect_uri:
            form.append(("redirect_uri", self.redirect_uri))
        form.append(("refresh_token", self._refresh_token.reveal()))
        basic = f"{self.client_id}:{self._client_secret.reveal()}".encode()
        return HttpRequest(
            method="POST",
            url=token_url,
            headers=(
                ("content-type", "application/x-www-form-urlencoded"),
                ("authorization", "Basic " + base64.b64encode(basic).decode("ascii")),
            ),
            body=urlencode(form).encode("ascii"),
            timeout=None,
            step=REFRESH_STEP,
        )

    def refreshed(self, response: HttpResponse, *, now: float) -> Credentials:
        """New credentials from the token endpoint's answer to :meth:`refresh_request`.

        A missing ``refresh_token`` keeps the current one and its expiry.

        :raises TokenRefreshError: the endpoint refused (``invalid_grant`` ...: ``permanent``),
            or handed back the token already held.
        :raises RemoteProtocolError: the answer is not a usable token object.
        """
        if not response.ok:
            detail = _oauth_error(response)
            raise TokenRefreshError(
                self._scrub(f"token refresh refused with HTTP {response.status}{detail}"),
                step=REFRESH_STEP,
                permanent=True,
            )
        body = response.json_object(step=REFRESH_STEP)
        try:
            fresh = self._replaced_by(body, now=now)
        except ConfigurationError as exc:
            raise RemoteProtocolError(
                f"unusable token response: {exc.message}", step=REFRESH_STEP
            ) from None
        if fresh._access_token == self._access_token:
            raise TokenRefreshError("new token matches current token", step=REFRESH_STEP)
        return fresh

    # -- the guest JWT login and the token provider --------------------------------------------

    def jwt_login_request(self, hydra_url: str) -> HttpRequest:
        """``POST {hydra}/jwt/login`` with the raw JWT as ``authorization`` (no ``Bearer``).

        :raises NotAuthorizedError: these credentials hold no JWT.
        """
        if self._jwt is None:
            raise NotAuthorizedError("cannot log in: no guest JWT", step=JWT_LOGIN_STEP)
        return HttpRequest(
            method="POST",
            url=f"{hydra_url.rstrip('/')}/jwt/login",
            headers=(("authorization", self._jwt.reveal()),),
            step=JWT_LOGIN_STEP,
        )

    def logged_in(self, response: HttpResponse, *, now: float) -> Credentials:
        """New credentials from hydra's answer ``{token, expiresIn}`` to
        :meth:`jwt_login_request`; the JWT is kept for the next login.

        :raises TokenRefreshError: hydra refused the JWT (``permanent``).
        :raises RemoteProtocolError: the answer is not ``{token, expiresIn}``.
        """
        if not response.ok:
            detail = _oauth_error(response)
            raise TokenRefreshError(
                self._scrub(f"guest JWT login refused with HTTP {response.status}{detail}"),
                step=JWT_LOGIN_STEP,
                permanent=True,
            )
        body = response.json_object(step=JWT_LOGIN_STEP)
        token, lifetime = body.get("token"), body.get("expiresIn")
        try:
            if not isinstance(token, str) or not token:
                raise ConfigurationError("the answer has no token")
            expires_in = None if lifetime is None else _number(lifetime, "expiresIn")
            return self._succeeded_by(token, expires_in, now=now)
        except ConfigurationError as exc:
            raise RemoteProtocolError(
                f"unusable jwt/login answer: {exc.message}", step=JWT_LOGIN_STEP
            ) from None

    def provided(self, token: str | Secret, *, expires_in: float | None, now: float) -> Credentials:
        """New credentials holding ``token`` from the app's token provider, expiring
        ``expires_in`` seconds from ``now`` (``None``: only a 401 ends it).

        :raises ConfigurationError: ``token`` or ``expires_in`` is unusable.
        """
        if expires_in is not None:
            expires_in = _number(expires_in, "the token lifetime")
        return self._succeeded_by(token, expires_in, now=now)

    def _succeeded_by(
        self, token: str | Secret, expires_in: float | None, *, now: float
    ) -> Credentials:
        """A value of the same source holding ``token``; this one's secrets stay masked.
        A lifetime that is not positive is refused: renewing at once would ask again and
        again."""
        raw = token.reveal() if isinstance(token, Secret) else token
        if not isinstance(raw, str) or not raw:
            raise ConfigurationError("the token is not a non-empty string")
        if expires_in is not None and expires_in <= 0:
            raise ConfigurationError("the token's lifetime is not positive")
        fresh = Credentials(
            raw,
            jwt=self._jwt,
            provider_supplied=self.provider_supplied,
            scope=self.scope,
            expires_at=None if expires_in is None else now + expires_in,
        )
        return self._superseding(fresh)

    def _superseding(self, fresh: Credentials) -> Credentials:
        held = (self._access_token, self._refresh_token, *self._superseded)
        superseded = tuple(secret for secret in held if secret)
        object.__setattr__(fresh, "_superseded", superseded[:_KEPT_SUPERSEDED])
        return fresh

    def _replaced_by(self, body: Mapping[str, Any], *, now: float) -> Credentials:
        access = body.get("access_token")
        if not isinstance(access, str) or not access:
            raise ConfigurationError("the token response has no access_token")
        token_type = body.get("token_type") or "Bearer"
        if not isinstance(token_type, str):
            raise ConfigurationError("token_type must be a string")
        new_refresh = _secret_field(body, "refresh_token")
        refresh_expiry = self.refresh_token_expires_at
        if new_refresh is None:
            new_refresh = self._refresh_token
        else:
            refresh_expiry = _expiry(
                body, "refresh_token_expires", "refresh_token_expires_in", now=now
            )
        fresh = Credentials(
            access,
            token_type=token_type,
            refresh_token=new_refresh,
            client_id=self.client_id,
            client_secret=self._client_secret,
            redirect_uri=self.redirect_uri,
            scope=_text_field(body, "scope") or self.scope,
            expires_at=_expiry(body, "expires", "expires_in", now=now),
            refresh_token_expires_at=refresh_expiry,
        )
        return self._superseding(fresh)

    def _scrub(self, text: str) -> str:
        """``text`` without any of this value's secrets, however short they are."""
        for secret in (self._access_token, self._refresh_token, self._client_secret, self._jwt):
            if secret:
                text = text.replace(secret.reveal(), REDACTED)
        return text

    # -- value behaviour ---------------------------------------------------------------------

    def _key(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self.__slots__ if name != "_superseded")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Credentials):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (
            f"Credentials(token_type={self.token_type!r}, org_id={self.org_id!r}, "
            f"expires_at={self.expires_at!r}, can_refresh={self.can_refresh!r})"
        )

    __str__ = __repr__

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("credentials are not picklable")


# Each field's slot descriptor sets it past the immutability guard (``__setattr__``), found
# once here rather than by ``object.__setattr__`` for every field of every value: half the
# cost of the fields, and every session builds credentials.
_Put = Callable[[Credentials, object], None]


def _slot_setter(name: str) -> _Put:
    setter: _Put = getattr(Credentials, name).__set__
    return setter


_put_access_token: Final = _slot_setter("_access_token")
_put_has_token: Final = _slot_setter("_has_token")
_put_jwt: Final = _slot_setter("_jwt")
_put_provider_supplied: Final = _slot_setter("provider_supplied")
_put_superseded: Final = _slot_setter("_superseded")
_put_token_type: Final = _slot_setter("token_type")
_put_refresh_token: Final = _slot_setter("_refresh_token")
_put_client_secret: Final = _slot_setter("_client_secret")
_put_client_id: Final = _slot_setter("client_id")
_put_redirect_uri: Final = _slot_setter("redirect_uri")
_put_scope: Final = _slot_setter("scope")
_put_expires_at: Final = _slot_setter("expires_at")
_put_refresh_token_expires_at: Final = _slot_setter("refresh_token_expires_at")


# -- reading token objects -------------------------------------------------------------------


def _unwrap(value: object) -> str | Mapping[str, Any]:
    """The token string or token object inside the JS SDK's wrapper keys."""
    for _ in range(_MAX_NESTING):
        if isinstance(value, str):
            return value
        if not isinstance(value, Mapping):
            break
        if "access_token" in value:
            return value
        wrapped = next((value[key] for key in _WRAPPER_KEYS if key in value), None)
        if wrapped is None:
            break
        value = wrapped
    raise ConfigurationError(
        "credentials must be a token string or an object with access_token, "
        "authorization or supertoken"
    )


def _check_jwt(jwt: str) -> None:
    """Refuse what cannot be a JWT (three base64url parts), naming no part of it."""
    parts = jwt.split(".")
    if len(parts) != 3 or not all(parts) or _CONTROL_CHARS.search(jwt) or " " in jwt:
        raise ConfigurationError("the JWT is not three dot-separated base64url parts")


def _text_field(token: Mapping[str, Any], name: str) -> str | None:
    value = token.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigurationError(f"{name} must be a string")
    return value or None


def _secret_field(token: Mapping[str, Any], name: str) -> Secret | None:
    value = token.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigurationError(f"{name} must be a string")
    return Secret(value) if value else None


def _number(value: object, name: str) -> float:
    """A finite number from a JSON number or a numeric string."""
    if isinstance(value, bool):
        raise ConfigurationError(f"{name} must be a number")
    if isinstance(value, (int, float)):
        number = float(value) if abs(value) < 1e300 else math.inf
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise ConfigurationError(f"{name} must be a number") from None
    else:
        raise ConfigurationError(f"{name} must be a number")
    if not math.isfinite(number):
        raise ConfigurationError(f"{name} must be a finite number")
    return number


def _expiry(token: Mapping[str, Any], absolute: str, relative: str, *, now: float) -> float | None:
    """Unix seconds of expiry from ``absolute`` (JS ms or seconds) or ``now + relative``."""
    if token.get(absolute) is not None:
        moment = _number(token[absolute], absolute)
        return moment / 1000.0 if moment > _MS_THRESHOLD else moment
    if token.get(relative) is not None:
        return now + _number(token[relative], relative)
    return None


def _optional_time(value: object, name: str) -> float | None:
    return None if value is None else _number(value, name)


def _oauth_error(response: HttpResponse) -> str:
    """``": invalid_grant: <description>"`` from an OAuth error body, or ``""``."""
    try:
        body = json.loads(response.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return ""
    if not isinstance(body, dict):
        return ""
    words = [body.get(key) for key in ("error", "error_description", "message")]
    text = ": ".join(word[:200] for word in words if isinstance(word, str) and word)
    return f": {text}" if text else ""
