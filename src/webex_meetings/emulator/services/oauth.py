"""The OAuth token endpoint: the ``refresh_token`` grant, and token revocation.

Both take a form body (``application/x-www-form-urlencoded``) and client credentials, as form
fields ``client_id``/``client_secret`` or HTTP Basic. Errors follow RFC 6749 §5.2:
``invalid_request`` (400), ``invalid_client`` (401), ``invalid_grant`` (400),
``unsupported_grant_type`` (400). Revocation (RFC 7009) answers 200 even for unknown tokens.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from urllib.parse import parse_qsl

from ..messages import Response, json_response
from ..records import ViolationKind
from ..routing import Call, route

__all__ = ["ROUTES"]

FORM = "application/x-www-form-urlencoded"


def _oauth_error(call: Call, status: int, error: str, description: str) -> Response:
    body = {
        "error": error,
        "error_description": description,
        "trackingId": call.request.tracking_id,
    }
    return json_response(status, body)


def _form(call: Call) -> dict[str, str] | None:
    content_type = (call.request.header("content-type") or "").split(";")[0].strip().lower()
    if content_type != FORM:
        return None
    try:
        return dict(parse_qsl(call.request.body.decode("utf-8"), keep_blank_values=True))
    except (UnicodeDecodeError, ValueError):
        return None


def _client_credentials(call: Call, form: dict[str, str]) -> tuple[str, str] | None:
    header = call.request.header("authorization") or ""
    if header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        client_id, sep, secret = decoded.partition(":")
        return (client_id, secret) if sep else None
    if "client_id" in form and "client_secret" in form:
        return form["client_id"], form["client_secret"]
    return None


def _authenticated_form(call: Call) -> dict[str, str] | Response:
    """The form of a request from a known client, or the error answer."""
    form = _form(call)
    if form is None:
        call.violate(ViolationKind.INVALID_BODY, f"token endpoint needs a {FORM} body")
        return _oauth_error(call, 400, "invalid_request", f"the body must be {FORM}")
    credentials = _client_credentials(call, form)
    if credentials is None:
        call.violate(ViolationKind.INVALID_BODY, "no client credentials")
        return _oauth_error(call, 400, "invalid_request", "client credentials are required")
    client_id, secret = credentials
    known = call.state.clients.get(client_id)
    if known is None or not hmac.compare_digest(known.encode(), secret.encode()):
        return _oauth_error(call, 401, "invalid_client", "client authentication failed")
    return form


def token(call: Call) -> Response:
    form = _authenticated_form(call)
    if isinstance(form, Response):
        return form
    grant = form.get("grant_type")
    if grant != "refresh_token":
        return _oauth_error(call, 400, "unsupported_grant_type", f"grant {grant!r}")
    refresh = form.get("refresh_token", "")
    if not refresh:
        call.violate(ViolationKind.INVALID_BODY, "refresh_token grant without refresh_token")
        return _oauth_error(call, 400, "invalid_request", "refresh_token is required")
    check = call.state.check_token(refresh, kind="refresh")
    if check.user is None or check.record is None:
        return _oauth_error(call, 400, "invalid_grant", check.reason or "invalid refresh token")
    return _issue(call, check.user.id, refresh, check.record.expires_at)


def _issue(call: Call, user_id: str, refresh: str, refresh_expires_at: float | None) -> Response:
    lifetime = call.state.access_token_lifetime
    access = call.state.issue_token(user_id, expires_in=lifetime)
    now = call.state.clock()
    refresh_left = None if refresh_expires_at is None else max(0, int(refresh_expires_at - now))
    body = {
        "access_token": access,
        "expires_in": int(lifetime),
        "refresh_token": refresh,
        "refresh_token_expires_in": refresh_left if refresh_left is not None else 7776000,
        "token_type": "Bearer",
    }
    return json_response(200, body)


def revoke(call: Call) -> Response:
    form = _authenticated_form(call)
    if isinstance(form, Response):
        return form
    value = form.get("token", "")
    if not value:
        call.violate(ViolationKind.INVALID_BODY, "revoke without token")
        return _oauth_error(call, 400, "invalid_request", "token is required")
    call.state.revoke_token(value)
    return json_response(200, {})


TOKEN_PATH = r"(?:/idbroker/idb/oauth2/v1|/hydra/v1|/v1)/access_token"
ROUTES = (
    route("oauth.token", "POST", TOKEN_PATH, token, auth=False),
    route("oauth.revoke", "POST", r"/idbroker/idb/oauth2/v1/revoke", revoke, auth=False),
)
