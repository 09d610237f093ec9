"""The token goes only where the token rule allows, whatever the cloud's answers point at.

One rule (``token_rule.TOKEN_RULE``) covers every channel a secret can take: the
``Authorization`` header, the Mercury authorization frame and the refresh grant's form. Each
test poisons one answer (a catalog link, a device's ``webSocketUrl``, the idbroker link, a
plain-http configuration) and checks, over every effect the session produced, that nothing
carrying a secret went to the foreign host: the refused URL is a typed error before any byte.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from session_harness import TOKEN, FakeCloud, Pump, make_session

from webex_meetings.core.config import DiscoveryConfig, SessionConfig
from webex_meetings.core.effects import OpenWebSocket, SendHttpRequest, SendWebSocketText
from webex_meetings.core.errors import TokenRefreshError, TokenWithheldError
from webex_meetings.core.lifecycle import State

FOREIGN = "evil.example"
CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN = "client-1", "client-secret-xyz", "refresh-token-abc"


def _hosts_reached(pump: Pump) -> set[str]:
    """Every host the session sent a request to, or opened a socket to."""
    hosts = set()
    for effect in pump.effects:
        if isinstance(effect, SendHttpRequest):
            hosts.add(urlsplit(effect.request.url).hostname)
        elif isinstance(effect, OpenWebSocket):
            hosts.add(urlsplit(effect.url).hostname)
    return hosts


def _secrets_sent_to(pump: Pump, host: str) -> list[str]:
    """What of the token, refresh token or client secret went to ``host`` by any channel."""
    secrets = (TOKEN, REFRESH_TOKEN, CLIENT_SECRET)
    sockets = {
        effect.socket_id: urlsplit(effect.url).hostname
        for effect in pump.effects
        if isinstance(effect, OpenWebSocket)
    }
    leaked = []
    for effect in pump.effects:
        if isinstance(effect, SendHttpRequest) and urlsplit(effect.request.url).hostname == host:
            wire = repr(effect.request.headers) + effect.request.body.decode("latin-1")
            leaked += [secret for secret in secrets if secret in wire]
        if isinstance(effect, SendWebSocketText) and sockets.get(effect.socket_id) == host:
            leaked += [secret for secret in secrets if secret in effect.text]
    return leaked


def _register_fails_with_withheld_token(pump: Pump, *, step: str, host: str) -> None:
    pump.init()
    error = pump.result(pump.register())
    assert isinstance(error, TokenWithheldError), error
    assert error.step == step
    assert error.host == host
    assert host in str(error)
    assert "allowed domains" in str(error)  # the rule is quoted
    assert pump.session.state is State.READY


def test_a_web_socket_url_on_a_foreign_host_is_never_opened():
    cloud = FakeCloud(ws_base=f"wss://{FOREIGN}")
    pump = Pump(make_session(), cloud)
    _register_fails_with_withheld_token(pump, step="mercury.connect", host=FOREIGN)
    assert FOREIGN not in _hosts_reached(pump)
    assert cloud.devices == {}  # the device it created is deleted (its URL is trusted)


def test_a_plain_ws_url_under_a_webex_domain_is_never_opened():
    cloud = FakeCloud(ws_base="ws://mercury-connection-a.wbx2.com")
    pump = Pump(make_session(), cloud)
    _register_fails_with_withheld_token(
        pump, step="mercury.connect", host="mercury-connection-a.wbx2.com"
    )
    assert not any(isinstance(effect, OpenWebSocket) for effect in pump.effects)
    assert cloud.devices == {}


def test_a_catalog_wdm_link_on_a_foreign_host_is_not_called_at_all():
    cloud = FakeCloud(links={"wdm": f"http://{FOREIGN}/wdm/api/v1"})
    pump = Pump(make_session(), cloud)
    _register_fails_with_withheld_token(pump, step="device.register", host=FOREIGN)
    assert FOREIGN not in _hosts_reached(pump)  # no token-less device POST to a stranger


def test_a_limited_catalog_pointing_u2c_at_a_foreign_host_gets_no_token():
    cloud = FakeCloud(links={"u2c": f"https://{FOREIGN}/u2c/api/v1"})
    config = SessionConfig.for_cloud("http://127.0.0.1:9999", fetch_limited_catalog=True)
    pump = Pump(make_session(config), cloud)
    _register_fails_with_withheld_token(pump, step="catalog", host=FOREIGN)
    assert FOREIGN not in _hosts_reached(pump)


def test_the_default_config_reached_over_plain_http_sends_nothing():
    config = SessionConfig(
        discovery=DiscoveryConfig(
            u2c="http://u2c.wbx2.com/u2c/api/v1", hydra="http://webexapis.com/v1"
        )
    )
    pump = Pump(make_session(config), FakeCloud())
    _register_fails_with_withheld_token(pump, step="catalog", host="u2c.wbx2.com")
    assert _hosts_reached(pump) == set()
    assert "http:// is not encrypted" in str(pump.result(1))


def test_a_poisoned_idbroker_link_never_receives_the_refresh_grant():
    cloud = FakeCloud(links={"idbroker": f"http://{FOREIGN}"})
    pump = Pump(
        make_session(
            refresh_token=REFRESH_TOKEN,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            expires_at=1_800_000_000.0 + 3600,
        ),
        cloud,
    )
    pump.init()
    assert pump.result(pump.register()) is None
    refreshed = [event for event in pump.events if event.name == "token:refreshed"]
    pump.advance(3600)  # the proactive refresh comes due
    assert FOREIGN not in _hosts_reached(pump)
    assert _secrets_sent_to(pump, FOREIGN) == []
    assert [event for event in pump.events if event.name == "token:refreshed"] == refreshed


def test_a_refreshed_device_pointing_mercury_at_a_foreign_host_ends_the_connection():
    cloud = FakeCloud()
    pump = Pump(make_session(), cloud)
    pump.init()
    assert pump.result(pump.register()) is None
    (device,) = cloud.devices.values()
    device["webSocketUrl"] = f"wss://{FOREIGN}/mercury"
    cloud.ws_faults.append(404)  # the reconnect finds the socket gone: PUT the device
    pump.server_close(1006, "connection lost")
    pump.advance(120)
    assert pump.session.state is State.DISCONNECTED
    assert FOREIGN not in _hosts_reached(pump)
    assert _secrets_sent_to(pump, FOREIGN) == []


def test_a_device_refresh_handing_a_foreign_web_socket_url_is_not_followed():
    cloud = FakeCloud()
    pump = Pump(make_session(), cloud)
    pump.init()
    assert pump.result(pump.register()) is None
    (url,) = cloud.devices
    # The server forgets the device; its replacement points Mercury at a stranger.
    del cloud.devices[url]
    cloud.ws_base = f"wss://{FOREIGN}"
    pump.advance(pump.session._config.device.refresh_interval + 1)
    assert FOREIGN not in _hosts_reached(pump)
    assert _secrets_sent_to(pump, FOREIGN) == []
    assert pump.session.state is State.DISCONNECTED


def test_a_refresh_grant_refused_by_the_rule_is_a_typed_refresh_failure():
    config = SessionConfig.for_cloud(
        "http://127.0.0.1:9999",
        discovery=DiscoveryConfig(
            u2c="http://127.0.0.1:9999/u2c/api/v1",
            hydra="http://127.0.0.1:9999/hydra/v1",
            token_url=f"http://{FOREIGN}/access_token",
        ),
    )
    pump = Pump(
        make_session(
            config,
            refresh_token=REFRESH_TOKEN,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            expires_at=0.0,  # expired: register() must refresh first
        ),
        FakeCloud(),
    )
    pump.init()
    error = pump.result(pump.register())
    assert isinstance(error, (TokenWithheldError, TokenRefreshError)), error
    assert FOREIGN in str(error)
    assert _hosts_reached(pump) == set()


@pytest.mark.parametrize(
    "redirect",
    [f"https://{FOREIGN}/catalog", f"http://{FOREIGN}/catalog", "ws://127.0.0.1:1/x"],
)
def test_a_redirect_is_never_followed(redirect: str):
    from webex_meetings.core.http import HttpResponse

    cloud = FakeCloud()
    cloud.fail("catalog", lambda request: HttpResponse(302, (("location", redirect),), b""))
    pump = Pump(make_session(), cloud)
    pump.init()
    assert pump.result(pump.register()) is not None
    assert FOREIGN not in _hosts_reached(pump)
