"""hydra, the public API: ``people/me``, ``meetingPreferences`` and the guest ``jwt/login``.

``jwt/login`` takes the raw guest JWT in ``authorization`` (no ``Bearer``), checks its HS256
signature with the secret of its registered issuer (``iss``) and its ``exp``, and answers
``{token, expiresIn}`` with an access token of a guest user (``type: appuser``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any

from ..messages import Response, json_response
from ..records import ViolationKind
from ..routing import Call, route
from ..state import CloudState, User, isoformat

__all__ = ["ROUTES", "hydra_id", "make_guest_jwt"]

GUEST_TOKEN_LIFETIME = 3600


def hydra_id(kind: str, raw_id: str) -> str:
    """The public API id of a user or org: base64url of ``ciscospark://us/<KIND>/<id>``."""
    encoded = base64.urlsafe_b64encode(f"ciscospark://us/{kind}/{raw_id}".encode())
    return encoded.decode().rstrip("=")


def person(user: User, now: float) -> dict[str, Any]:
    first, _, last = user.display_name.partition(" ")
    return {
        "id": hydra_id("PEOPLE", user.id),
        "emails": [user.email],
        "phoneNumbers": [],
        "displayName": user.display_name,
        "nickName": first,
        "firstName": first,
        "lastName": last,
        "orgId": hydra_id("ORGANIZATION", user.org_id),
        "created": "2020-01-01T00:00:00.000Z",
        "lastModified": "2020-01-01T00:00:00.000Z",
        "lastActivity": isoformat(now),
        "status": "active",
        "type": user.type,
    }


def people_me(call: Call) -> Response:
    return json_response(200, person(call.authed_user, call.state.clock()))


def meeting_preferences(call: Call) -> Response:
    sites = [{"siteUrl": call.config.preferred_site, "default": True}]
    return json_response(200, {"sites": sites})


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_guest_jwt(
    *, issuer: str, secret_b64: str, subject: str, name: str, expires_at: float | None
) -> str:
    """A guest JWT as the JS SDK's ``createJwt`` makes it (HS256, base64 secret)."""
    header = {"alg": "HS256", "typ": "JWT"}
    claims: dict[str, Any] = {"sub": subject, "iss": issuer, "name": name}
    if expires_at is not None:
        claims["exp"] = int(expires_at)
    signing_input = ".".join(_b64url(json.dumps(part).encode()) for part in (header, claims))
    signature = hmac.new(base64.b64decode(secret_b64), signing_input.encode(), hashlib.sha256)
    return f"{signing_input}.{_b64url(signature.digest())}"


def verify_guest_jwt(state: CloudState, jwt: str) -> dict[str, Any] | None:
    """The claims of a valid guest JWT, or ``None`` (bad shape, issuer, signature, or expired)."""
    try:
        head, body, signature = jwt.split(".")
        claims = json.loads(_unb64url(body))
        given = _unb64url(signature)
    except (ValueError, binascii.Error):
        return None
    if not isinstance(claims, dict) or not isinstance(claims.get("sub"), str):
        return None
    secret = state.guest_issuers.get(str(claims.get("iss")))
    if secret is None:
        return None
    expected = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(expected, given):
        return None
    expiry = claims.get("exp")
    if isinstance(expiry, (int, float)) and state.clock() >= expiry:
        return None
    return claims


def jwt_login(call: Call) -> Response:
    raw = (call.request.header("authorization") or "").strip()
    if not raw or raw.lower().startswith("bearer "):
        detail = "jwt/login takes the raw JWT in authorization, without 'Bearer'"
        call.violate(ViolationKind.MALFORMED_AUTHORIZATION, detail)
        return call.error(401, "The JWT is missing or malformed")
    claims = verify_guest_jwt(call.state, raw)
    if claims is None:
        return call.error(401, "The JWT is not valid")
    user = _guest_user(call.state, str(claims["sub"]), str(claims.get("name") or "Guest"))
    token = call.state.issue_token(user.id, expires_in=GUEST_TOKEN_LIFETIME)
    return json_response(200, {"token": token, "expiresIn": GUEST_TOKEN_LIFETIME})


def _guest_user(state: CloudState, subject: str, name: str) -> User:
    user_id = state.guests.get(subject)
    if user_id is not None:
        return state.users[user_id]
    user = state.add_user(display_name=name, user_type="appuser")
    state.guests[subject] = user.id
    return user


ROUTES = (
    route("hydra.people_me", "GET", r"/hydra/v1/people/me", people_me),
    route("hydra.meeting_preferences", "GET", r"/hydra/v1/meetingPreferences", meeting_preferences),
    route("hydra.jwt_login", "POST", r"/hydra/v1/jwt/login", jwt_login, auth=False),
)
