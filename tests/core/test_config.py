"""SessionConfig.for_cloud: one base URL for every service, checked when it is built."""

from __future__ import annotations

import pytest

from webex_meetings.core.config import SessionConfig
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
