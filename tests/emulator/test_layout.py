"""The URL layout: one definition of the service paths, as the reference trace shows them."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

from webex_meetings import specs_export
from webex_meetings.emulator.layout import MERCURY_MESSAGES_PATH, SERVICE_PATHS, Urls

TRACE = Path(__file__).resolve().parents[1] / "data" / "js-sdk-3.12-register-trace.jsonl"


def _trace_service_links() -> dict[str, str]:
    links: dict[str, str] = {}
    for line in TRACE.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        body = entry.get("response", {}).get("body")
        if isinstance(body, dict) and isinstance(body.get("serviceLinks"), dict):
            links.update(body["serviceLinks"])
    return links


def test_service_paths_match_the_reference_trace() -> None:
    links = _trace_service_links()
    assert links, "the trace holds the catalogs"
    shared = set(links) & set(SERVICE_PATHS)
    assert {"u2c", "hydra", "wdm", "mercuryConnection"} <= shared
    for name in shared:
        assert SERVICE_PATHS[name] == urlsplit(links[name]).path, name
    assert SERVICE_PATHS["mercuryConnection"] == "/mercury/v1"


def test_specs_export_uses_the_same_paths() -> None:
    [catalog] = [m for m in specs_export.WIRE_MESSAGES if m.name == "u2c-catalog-response"]
    for name, url in catalog.example["serviceLinks"].items():
        assert urlsplit(url).path == SERVICE_PATHS[name]
    [device] = [m for m in specs_export.WIRE_MESSAGES if m.name == "wdm-device-response"]
    ws_path = urlsplit(device.example["webSocketUrl"]).path
    assert ws_path.startswith(SERVICE_PATHS["mercuryConnection"] + "/apps/wx2/registrations/")


def test_the_websocket_path_is_under_the_mercury_connection_service() -> None:
    url, ws = Urls("http", "127.0.0.1", 8765).device("d-1")
    assert url == "http://127.0.0.1:8765/wdm/api/v1/devices/d-1"
    assert ws == "ws://127.0.0.1:8765" + MERCURY_MESSAGES_PATH.format(device_id="d-1")
    assert ws == "ws://127.0.0.1:8765/mercury/v1/apps/wx2/registrations/d-1/messages"
