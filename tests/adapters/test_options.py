"""The keywords of ``Webex(...)``/``Webex.init(...)``: one definition for both faces, checked at
run time, and what ``cloud=`` means next to ``config=``."""

from __future__ import annotations

import inspect
import threading
from dataclasses import replace
from pathlib import Path

import anyio
import pytest

from webex_meetings import (
    ConfigurationError,
    DeviceConfig,
    DiscoveryConfig,
    MeetingsRegistered,
    SessionConfig,
    blocking,
)
from webex_meetings.emulator import Emulator
from webex_meetings.options import AsyncWebexOptions, WebexOptions, resolve_config
from webex_meetings.webex import Webex

TOKEN = "an-access-token"
CLOUD = "http://127.0.0.1:8765/"


# -- one definition --------------------------------------------------------------------------


def test_both_faces_take_the_keywords_of_one_definition() -> None:
    shared = set(WebexOptions.__annotations__)
    assert shared == {
        "access_token",
        "credentials",
        "jwt",
        "token_provider",
        "config",
        "cloud",
        "http",
        "websockets",
        "proxy",
        "verify",
        "unregister_timeout",
        "store",
        "store_key",
    }
    assert set(AsyncWebexOptions.__annotations__) == shared | {"runtime"}
    for face in (Webex, blocking.Webex):
        for method in (face.__init__, face.init):
            kinds = [p.kind for p in inspect.signature(method).parameters.values()]
            assert kinds[-1] is inspect.Parameter.VAR_KEYWORD  # nothing repeated by hand


@pytest.mark.parametrize("face", [Webex, blocking.Webex], ids=["async", "blocking"])
def test_unknown_keywords_are_refused_naming_the_valid_ones(face: type[Webex]) -> None:
    with pytest.raises(TypeError) as caught:
        face(access_token=TOKEN, clod=CLOUD)  # type: ignore[call-arg]
    message = str(caught.value)
    assert "'clod' (did you mean 'cloud'?)" in message
    assert "access_token, cloud, config, credentials, http, jwt, proxy" in message
    with pytest.raises(TypeError, match="'verfy'"):
        face.init(TOKEN, verfy=False)  # type: ignore[call-arg]


def test_the_positional_credentials_of_init() -> None:
    for face in (Webex, blocking.Webex):
        assert face.init(TOKEN).meetings.state.value == "uninitialized"
        assert face.init(credentials={"access_token": TOKEN}) is not None
        with pytest.raises(ConfigurationError, match="twice"):
            face.init(TOKEN, credentials=TOKEN)
        with pytest.raises(ConfigurationError, match="not both"):
            face.init(TOKEN, access_token=TOKEN)
    with pytest.raises(TypeError, match="'runtime'"):
        blocking.Webex.init(TOKEN, runtime="anyio")  # type: ignore[call-arg]


# -- cloud= with config= ---------------------------------------------------------------------


def test_cloud_alone_places_every_service_under_it() -> None:
    assert resolve_config(None, CLOUD) == SessionConfig.for_cloud(CLOUD)
    assert resolve_config(None, None) == SessionConfig()
    mine = SessionConfig(app_name="mine")
    assert resolve_config(mine, None) is mine


def test_cloud_with_config_moves_discovery_and_authorizes_its_host() -> None:
    config = SessionConfig(
        device=DeviceConfig(name="my-bot", ttl=600),
        extra_authorized_hosts=("proxy.example:8443",),
        fetch_people_me=False,
        http_timeout=3.0,
    )
    combined = resolve_config(config, CLOUD)
    placed = SessionConfig.for_cloud(CLOUD)
    assert combined.discovery == placed.discovery
    assert combined.discovery.u2c == "http://127.0.0.1:8765/u2c/api/v1"
    assert combined.extra_authorized_hosts == ("proxy.example:8443", "127.0.0.1:8765")
    # everything else is the given config's
    assert replace(combined, discovery=config.discovery, extra_authorized_hosts=()) == replace(
        config, extra_authorized_hosts=()
    )


def test_cloud_with_config_keeps_a_region_request_and_never_repeats_a_host() -> None:
    asks = SessionConfig(
        discovery=DiscoveryConfig(region="https://ds.ciscospark.com/v1/region"),
        extra_authorized_hosts=("127.0.0.1:8765",),
    )
    combined = resolve_config(asks, CLOUD)
    assert combined.discovery.region == "http://127.0.0.1:8765/sqdiscovery/v1/region"
    assert combined.extra_authorized_hosts == ("127.0.0.1:8765",)
    assert resolve_config(SessionConfig(), CLOUD).discovery.region is None
    with pytest.raises(ConfigurationError, match="base URL"):
        resolve_config(asks, "127.0.0.1:8765")


def combined_config() -> SessionConfig:
    return SessionConfig(device=DeviceConfig(name="combined-bot"), app_name="combo")


@pytest.mark.anyio
async def test_cloud_with_config_registers_against_the_emulator(
    emulator: Emulator, runtime_name: str
) -> None:
    webex = Webex.init(
        {"access_token": emulator.default_token},
        config=combined_config(),
        cloud=emulator.base_url,
        runtime=runtime_name,
    )
    async with webex:
        await webex.meetings.register()
        [device] = emulator.devices
        assert device.dto["name"] == "combined-bot"
        with anyio.fail_after(10):
            await webex.meetings.unregister()
    assert emulator.violations == []


def test_cloud_with_config_registers_on_the_blocking_face(running_emulator: Emulator) -> None:
    registered = threading.Event()
    with blocking.Webex.init(
        running_emulator.default_token, config=combined_config(), cloud=running_emulator.base_url
    ) as webex:
        webex.meetings.on(MeetingsRegistered, lambda event: registered.set())
        webex.meetings.register(timeout=10)
        assert registered.is_set()
        assert [device.dto["name"] for device in running_emulator.devices] == ["combined-bot"]
    assert running_emulator.devices == []


def test_a_token_provider_with_its_own_store_must_name_the_user(tmp_path: Path) -> None:
    from webex_meetings import ConfigurationError, FileDeviceStore

    store = FileDeviceStore(tmp_path / "devices.json")
    with pytest.raises(ConfigurationError, match="store_key"):
        Webex(token_provider=lambda: "a-token", store=store)
    Webex(token_provider=lambda: "a-token", store=store, store_key="bot")
    Webex(token_provider=lambda: "a-token")  # its own memory store needs no name
