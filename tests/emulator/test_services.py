"""Every HTTP route of the emulated services, happy path and refusals, on asyncio and trio."""

from __future__ import annotations

import base64
from urllib.parse import urlsplit

import httpx
import pytest
from emulator_testkit import bearer

from webex_meetings.emulator import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_ORG_ID,
    DEFAULT_TOKEN,
    Emulator,
    ViolationKind,
)

pytestmark = pytest.mark.anyio


# -- U2C --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query", ["orgId=" + DEFAULT_ORG_ID, "email=a@b.c", "emailhash=ab", "userId=u", "mode=DEFAULT"]
)
async def test_limited_catalog_needs_no_auth_and_points_back(
    emulator: Emulator, http: httpx.AsyncClient, query: str
) -> None:
    response = await http.get(f"/u2c/api/v1/limited/catalog?{query}&format=hostmap")
    assert response.status_code == 200
    body = response.json()
    links = body["serviceLinks"]
    assert "wdm" not in links
    assert links["u2c"] == f"{emulator.base_url}/u2c/api/v1"
    [(netloc, entries)] = body["hostCatalog"].items()
    assert netloc == urlsplit(emulator.base_url).netloc
    for entry in entries:
        assert entry["host"] == "127.0.0.1"
        assert ":" not in entry["host"]
        assert entry["priority"] > 0
        assert entry["id"].split(":")[0:2] == ["urn", "TEAM"]
    assert {e["id"].split(":")[3] for e in entries} == set(links)
    assert emulator.violations == []


async def test_limited_catalog_without_a_query_is_a_violation(
    emulator: Emulator, http: httpx.AsyncClient
) -> None:
    response = await http.get("/u2c/api/v1/limited/catalog?format=hostmap")
    assert response.status_code == 400
    assert "orgId" in response.json()["message"]
    assert [v.kind for v in emulator.violations] == [ViolationKind.INVALID_QUERY]


async def test_postauth_catalog_lists_every_service_the_sdk_needs(
    emulator: Emulator, http: httpx.AsyncClient
) -> None:
    response = await http.get("/u2c/api/v1/catalog?format=hostmap", headers=bearer())
    assert response.status_code == 200
    links = response.json()["serviceLinks"]
    needed = {"wdm", "hydra", "calliopeDiscovery", "locus", "metrics", "conversation", "idbroker"}
    assert needed <= set(links)
    assert links["wdm"] == f"{emulator.base_url}/wdm/api/v1"
    assert response.headers["trackingid"] == "webex-meetings-py_test_1"


async def test_missing_authorization_is_401_and_a_violation(
    emulator: Emulator, http: httpx.AsyncClient
) -> None:
    response = await http.get("/u2c/api/v1/catalog", headers={"trackingid": "t_1"})
    assert response.status_code == 401
    [violation] = emulator.violations
    assert violation.kind == ViolationKind.MISSING_AUTHORIZATION
    assert violation.route == "u2c.catalog"
    assert violation.client == "t_1"


async def test_malformed_authorization_is_a_violation(
    emulator: Emulator, http: httpx.AsyncClient
) -> None:
    response = await http.get("/hydra/v1/people/me", headers={"authorization": DEFAULT_TOKEN})
    assert response.status_code == 401
    assert [v.kind for v in emulator.violations] == [ViolationKind.MALFORMED_AUTHORIZATION]


# -- tokens -----------------------------------------------------------------------------------


async def test_issued_tokens_look_real_and_expire_on_the_emulator_clock(
    emulator: Emulator, http: httpx.AsyncClient
) -> None:
    token = emulator.issue_token(expires_in=60)
    opaque, cluster, org_id = token.split("_")
    assert (cluster, org_id) == ("PF84", DEFAULT_ORG_ID)
    assert opaque.isalnum()
    assert (await http.get("/hydra/v1/people/me", headers=bearer(token))).status_code == 200
    emulator.advance(60)
    assert (await http.get("/hydra/v1/people/me", headers=bearer(token))).status_code == 401
    assert emulator.violations == []


@pytest.mark.parametrize("how", ["revoke", "expire"])
async def test_revoked_or_expired_tokens_get_401(
    emulator: Emulator, http: httpx.AsyncClient, how: str
) -> None:
    token = emulator.issue_token()
    getattr(emulator.control, f"{how}_token")(token)
    response = await http.get("/hydra/v1/people/me", headers=bearer(token))
    assert response.status_code == 401
    assert emulator.violations == []


async def test_unknown_token_gets_401(http: httpx.AsyncClient) -> None:
    response = await http.get("/hydra/v1/people/me", headers=bearer("nope_PF84_org"))
    assert response.status_code == 401


async def test_same_seed_same_tokens() -> None:
    async with Emulator(seed=7) as first, Emulator(seed=7) as second:
        assert first.issue_token() == second.issue_token()
    async with Emulator(seed=8) as third:
        assert third.issue_token() != first.issue_token()


# -- hydra ------------------------------------------------------------------------------------


async def test_people_me_names_the_user(emulator: Emulator, http: httpx.AsyncClient) -> None:
    user = emulator.add_user(email="someone@example.invalid", display_name="Some One")
    response = await http.get("/hydra/v1/people/me", headers=bearer(emulator.issue_token(user)))
    body = response.json()
    assert body["emails"] == ["someone@example.invalid"]
    assert body["type"] == "person"
    assert base64.urlsafe_b64decode(body["id"] + "==").decode().endswith(user.id)


async def test_meeting_preferences_and_conversation_users(http: httpx.AsyncClient) -> None:
    prefs = (await http.get("/hydra/v1/meetingPreferences", headers=bearer())).json()
    assert prefs["sites"][0]["default"] is True
    users = (await http.get("/conversation/api/v1/users", headers=bearer())).json()
    assert users["userPreferences"]["userPreferencesItems"]["preferredWebExSite"]


async def test_jwt_login_exchanges_a_guest_jwt(emulator: Emulator, http: httpx.AsyncClient) -> None:
    jwt = emulator.make_guest_jwt("guest-1", name="Visitor", expires_in=600)
    response = await http.post("/hydra/v1/jwt/login", headers={"authorization": jwt})
    assert response.status_code == 200
    body = response.json()
    assert body["expiresIn"] > 0
    me = (await http.get("/hydra/v1/people/me", headers=bearer(body["token"]))).json()
    assert (me["type"], me["displayName"]) == ("appuser", "Visitor")
    assert emulator.violations == []


async def test_jwt_login_refusals(emulator: Emulator, http: httpx.AsyncClient) -> None:
    good = emulator.make_guest_jwt("guest-2", expires_in=10)
    forged = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
    assert (
        await http.post("/hydra/v1/jwt/login", headers={"authorization": forged})
    ).status_code == 401
    assert emulator.violations == []
    with_bearer = {"authorization": f"Bearer {good}"}
    assert (await http.post("/hydra/v1/jwt/login", headers=with_bearer)).status_code == 401
    assert [v.kind for v in emulator.violations] == [ViolationKind.MALFORMED_AUTHORIZATION]
    emulator.advance(11)
    assert (
        await http.post("/hydra/v1/jwt/login", headers={"authorization": good})
    ).status_code == 401


# -- OAuth ------------------------------------------------------------------------------------

TOKEN_URL = "/idbroker/idb/oauth2/v1/access_token"


def refresh_form(refresh: str, secret: str = DEFAULT_CLIENT_SECRET) -> dict[str, str]:
    return {
        "grant_type": "refresh_token",
        "refresh_token": refresh,
        "client_id": DEFAULT_CLIENT_ID,
        "client_secret": secret,
    }


async def test_refresh_grant_issues_an_expiring_access_token(
    emulator: Emulator, http: httpx.AsyncClient
) -> None:
    refresh = emulator.issue_refresh_token()
    response = await http.post(TOKEN_URL, data=refresh_form(refresh))
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["refresh_token"] == refresh
    assert body["expires_in"] == 3600
    access = body["access_token"]
    assert (await http.get("/hydra/v1/people/me", headers=bearer(access))).status_code == 200
    emulator.advance(3600)
    assert (await http.get("/hydra/v1/people/me", headers=bearer(access))).status_code == 401
    assert emulator.violations == []


async def test_refresh_grant_with_basic_client_auth(
    emulator: Emulator, http: httpx.AsyncClient
) -> None:
    form = {"grant_type": "refresh_token", "refresh_token": emulator.issue_refresh_token()}
    auth = httpx.BasicAuth(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
    response = await http.post("/v1/access_token", data=form, auth=auth)
    assert response.status_code == 200


async def test_refresh_grant_refusals(emulator: Emulator, http: httpx.AsyncClient) -> None:
    refresh = emulator.issue_refresh_token()
    wrong = await http.post(TOKEN_URL, data=refresh_form(refresh, secret="wrong"))
    assert (wrong.status_code, wrong.json()["error"]) == (401, "invalid_client")
    unknown = await http.post(TOKEN_URL, data=refresh_form("nope"))
    assert (unknown.status_code, unknown.json()["error"]) == (400, "invalid_grant")
    emulator.control.revoke_token(refresh)
    revoked = await http.post(TOKEN_URL, data=refresh_form(refresh))
    assert (revoked.status_code, revoked.json()["error"]) == (400, "invalid_grant")
    grant = {**refresh_form(refresh), "grant_type": "password"}
    unsupported = await http.post(TOKEN_URL, data=grant)
    assert unsupported.json()["error"] == "unsupported_grant_type"
    assert emulator.violations == []
    as_json = await http.post(TOKEN_URL, json=refresh_form(refresh))
    assert (as_json.status_code, as_json.json()["error"]) == (400, "invalid_request")
    assert [v.kind for v in emulator.violations] == [ViolationKind.INVALID_BODY]


async def test_revocation_endpoint(emulator: Emulator, http: httpx.AsyncClient) -> None:
    token = emulator.issue_token()
    form = {"token": token, "client_id": DEFAULT_CLIENT_ID, "client_secret": DEFAULT_CLIENT_SECRET}
    assert (await http.post("/idbroker/idb/oauth2/v1/revoke", data=form)).status_code == 200
    assert (await http.get("/hydra/v1/people/me", headers=bearer(token))).status_code == 401


# -- the rest of what register() touches --------------------------------------------------------


async def test_region_needs_no_auth(emulator: Emulator, http: httpx.AsyncClient) -> None:
    body = (await http.get("/sqdiscovery/v1/region")).json()
    assert body["countryCode"] == "US"
    assert emulator.violations == []


async def test_clusters_lists_at_least_one_cluster(http: httpx.AsyncClient) -> None:
    response = await http.get(
        "/calliope/api/discovery/v1/clusters?JCSupport=1&ipver=4", headers=bearer()
    )
    assert len(response.json()["clusters"]) >= 1
    reach = await http.post("/calliope/api/discovery/v1/reachability", json={}, headers=bearer())
    assert reach.status_code == 200


async def test_client_metrics(emulator: Emulator, http: httpx.AsyncClient) -> None:
    ok = await http.post("/metrics/api/v1/clientmetrics", json={"metrics": []}, headers=bearer())
    assert ok.status_code == 204
    prelogin = await http.post("/metrics/api/v1/clientmetrics-prelogin", json={"metrics": []})
    assert prelogin.status_code == 204
    bad = await http.post("/metrics/api/v1/clientmetrics", json=[1], headers=bearer())
    assert bad.status_code == 400
    assert [v.kind for v in emulator.violations] == [ViolationKind.INVALID_BODY]


async def test_locus_loci(http: httpx.AsyncClient) -> None:
    assert (await http.get("/locus/api/v1/loci", headers=bearer())).json() == {"loci": []}


async def test_unknown_route_and_wrong_method(emulator: Emulator, http: httpx.AsyncClient) -> None:
    missing = await http.get("/nothing/here")
    assert missing.status_code == 404
    assert missing.json()["message"] == "Not found"
    wrong = await http.delete("/u2c/api/v1/catalog")
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "GET"
    assert [r.route for r in emulator.requests] == [None, None]
    assert emulator.violations == []


async def test_requests_are_logged_without_secrets(
    emulator: Emulator, http: httpx.AsyncClient
) -> None:
    await http.get("/hydra/v1/people/me", headers=bearer())
    [record] = emulator.requests
    assert (record.method, record.route, record.status) == ("GET", "hydra.people_me", 200)
    assert record.authorized is True
    assert record.tracking_id == "webex-meetings-py_test_1"
    assert DEFAULT_TOKEN not in repr(record)
