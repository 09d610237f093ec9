"""``verify=`` end to end (the emulator's TLS mode): a CA bundle path, ``SSL_CERT_FILE``,
``False`` with its one warning, and certificate failures that are typed and never retried."""

from __future__ import annotations

import logging
import shutil
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from webex_meetings.adapters.runtime import TransportOptions
from webex_meetings.core.errors import CertificateError, ConfigurationError, MercuryClosedError
from webex_meetings.emulator import Emulator
from webex_meetings.transports import tls
from webex_meetings.transports.websocket_anyio import AnyioWebSocketConnector
from webex_meetings.webex import Webex

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(shutil.which("openssl") is None, reason="TLS needs the openssl CLI"),
]

DEADLINE = 10.0
"""Seconds any of these runs may take; a retried certificate failure would take longer."""


@pytest.fixture
async def tls_emulator(anyio_backend: str) -> AsyncIterator[Emulator]:
    async with Emulator(tls=True) as emulator:
        yield emulator


def ca_file(emulator: Emulator) -> Path:
    assert emulator.certificate is not None
    return emulator.certificate.ca_file


async def register_and_leave(webex: Webex) -> None:
    with anyio.fail_after(DEADLINE):
        async with webex:
            await webex.meetings.register()
            assert webex.meetings.registered


async def test_a_ca_bundle_path_trusts_the_emulator(tls_emulator: Emulator) -> None:
    token = tls_emulator.default_token
    webex = Webex(
        access_token=token, cloud=tls_emulator.base_url, verify=str(ca_file(tls_emulator))
    )
    await register_and_leave(webex)
    assert tls_emulator.devices == []
    assert any("/wdm/" in record.path for record in tls_emulator.requests)


async def test_ssl_cert_file_is_honoured_when_verify_is_true(
    tls_emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file(tls_emulator)))
    await register_and_leave(
        Webex(access_token=tls_emulator.default_token, cloud=tls_emulator.base_url)
    )
    assert tls_emulator.devices == []


async def test_an_untrusted_certificate_fails_register_at_once(tls_emulator: Emulator) -> None:
    webex = Webex(access_token=tls_emulator.default_token, cloud=tls_emulator.base_url)
    with anyio.fail_after(DEADLINE):
        async with webex:
            with pytest.raises(CertificateError, match="CERTIFICATE_VERIFY_FAILED"):
                await webex.meetings.register()
    assert tls_emulator.requests == []  # not one request got through TLS


async def test_an_untrusted_websocket_certificate_ends_mercury_without_retrying(
    tls_emulator: Emulator,
) -> None:
    untrusting = AnyioWebSocketConnector(ssl_context=ssl.create_default_context())
    webex = Webex(
        access_token=tls_emulator.default_token,
        cloud=tls_emulator.base_url,
        verify=str(ca_file(tls_emulator)),
        websockets=untrusting,
    )
    with anyio.fail_after(DEADLINE):
        async with webex:
            with pytest.raises(MercuryClosedError) as caught:
                await webex.meetings.register()
    assert caught.value.code == 1015
    assert "certificate" in str(caught.value)
    assert tls_emulator.connections == []
    assert tls_emulator.devices == []


async def test_verify_false_connects_and_warns_once_per_process(
    tls_emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    tls._unverified_context.cache_clear()
    caplog.set_level(logging.WARNING, logger="webex_meetings.transports.tls")
    for _ in range(2):
        webex = Webex(
            access_token=tls_emulator.default_token, cloud=tls_emulator.base_url, verify=False
        )
        await register_and_leave(webex)
    warnings = [r for r in caplog.records if "verify=False" in r.getMessage()]
    assert len(warnings) == 1
    assert tls_emulator.default_token not in caplog.text


def test_a_ready_context_is_used_as_it_is() -> None:
    context = ssl.create_default_context()
    assert TransportOptions(verify=context).ssl_context() is context


def test_verifying_contexts_are_built_once_per_bundle(tmp_path: Path) -> None:
    assert TransportOptions().ssl_context() is TransportOptions(verify=True).ssl_context()


@pytest.mark.parametrize("verify", ["/nonexistent/ca.pem", 3, None])
def test_an_unusable_verify_is_refused_when_given(verify: object) -> None:
    with pytest.raises(ConfigurationError, match="verify"):
        TransportOptions(verify=verify)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="verify"):
        Webex(access_token="t" * 20, cloud="http://127.0.0.1:1", verify=verify)  # type: ignore[arg-type]


def test_a_file_that_is_no_ca_bundle_is_a_configuration_error(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.pem"
    bogus.write_text("not a certificate\n")
    with pytest.raises(ConfigurationError, match="CA bundle"):
        TransportOptions(verify=str(bogus)).ssl_context()
