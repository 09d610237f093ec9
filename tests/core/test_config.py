"""SessionConfig.for_cloud: one base URL for every service, checked when it is built."""

from __future__ import annotations

import pytest

from webex_meetings.core import config as config_module
from webex_meetings.core.config import MercuryConfig, SessionConfig, per_config
from webex_meetings.core.errors import ConfigurationError


def test_for_cloud_points_every_service_at_the_base_and_names_its_host() -> None:
    config = SessionConfig.for_cloud("http://localhost:8765/")
    assert config.discovery.u2c == "http://localhost:8765/u2c/api/v1"
    assert config.discovery.hydra == "http://localhost:8765/hydra/v1"
    assert config.extra_authorized_hosts == ("localhost:8765",)


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://127.0.0.1:99999", "0 to 65535"),
        ("http://127.0.0.1:port", "0 to 65535"),
        ("ftp://127.0.0.1", "not an http(s) base URL"),
        ("http://", "not an http(s) base URL"),
        ("127.0.0.1:8765", "not an http(s) base URL"),
    ],
)
def test_for_cloud_refuses_an_unusable_base_url(url: str, words: str) -> None:
    with pytest.raises(ConfigurationError, match=words.replace("(", r"\(").replace(")", r"\)")):
        SessionConfig.for_cloud(url)


def test_per_config_builds_once_per_value_and_tells_equal_values_apart(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built: list[MercuryConfig] = []

    @per_config
    def build(config: MercuryConfig) -> float:
        built.append(config)
        return config.ping_interval

    first, equal, other = MercuryConfig(), MercuryConfig(), MercuryConfig(ping_interval=3.0)
    assert [build(first), build(first), build(equal), build(other)] == [15.0, 15.0, 15.0, 3.0]
    assert [id(config) for config in built] == [id(first), id(equal), id(other)]
    monkeypatch.setattr(config_module, "_PER_CONFIG_MAXSIZE", 3)
    assert build(MercuryConfig(ping_interval=4.0)) == 4.0  # full: everything forgotten
    assert build(first) == 15.0
    assert len(built) == 5
