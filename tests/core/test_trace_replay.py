"""Replay the official JS SDK's recorded wire trace against our session, field by field.

``../shared/reference/js-sdk-3.12-register-trace.jsonl`` holds every request and frame that
``webex@3.12.0`` exchanged with a stub cloud while registering and unregistering. Here the
stub's recorded answers are fed to our session, and every request and frame our session sends
is checked against what the official SDK sent at the same step: method, path, query, body,
the headers that matter and their form. Where we differ on purpose it is asserted too:

* our product's ``spark-user-agent`` / ``trackingid`` prefix instead of the JS SDK's;
* no telemetry (``clientmetrics``), no geo hint, no meeting preferences unless configured;
* ``people/me`` is kept (it validates the token), ``limited/catalog`` only when configured;
* by default the device is ephemeral (``ttl`` and ``multipleConnections=true``), which is
  what the ``webex`` package intends but 3.12.0 fails to apply (run report, quirk 1).
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from session_harness import Pump

from webex_meetings.core.config import DeviceConfig, SessionConfig
from webex_meetings.core.credentials import Credentials
from webex_meetings.core.device import MARKER_FIELD
from webex_meetings.core.effects import CloseWebSocket, OpenWebSocket
from webex_meetings.core.http import HttpRequest, HttpResponse
from webex_meetings.core.session import MeetingsSession

TRACE_NAME = "js-sdk-3.12-register-trace.jsonl"
TRACE = Path(__file__).resolve().parents[1] / "data" / TRACE_NAME  # a copy of the reference
if not TRACE.exists():  # pragma: no cover - fall back to the shared reference folder
    TRACE = Path(__file__).resolve().parents[3] / "shared" / "reference" / TRACE_NAME
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"

pytestmark = pytest.mark.skipif(not TRACE.exists(), reason=f"reference trace not found: {TRACE}")


def load_trace() -> list[dict[str, Any]]:
    return [json.loads(line) for line in TRACE.read_text().splitlines() if line.strip()]


class ReplayCloud:
    """Answers with the recorded responses and checks each request against the trace."""

    def __init__(self, trace: list[dict[str, Any]]) -> None:
        self.trace = trace
        self.base = next(e["base"] for e in trace if e["kind"] == "stub-start")
        self.http_entries = [e for e in trace if e["kind"] == "http"]
        self.requests: list[HttpRequest] = []
        self.frames: list[dict[str, Any]] = []
        self.checked: list[str] = []

    def recorded(self, method: str, path: str) -> dict[str, Any]:
        for entry in self.http_entries:
            if entry["method"] == method and entry["path"] == path:
                return entry
        raise AssertionError(f"the official SDK never sent {method} {path}")

    def http(self, request: HttpRequest) -> HttpResponse:
        self.requests.append(request)
        parts = urlsplit(request.url)
        assert f"{parts.scheme}://{parts.netloc}" == self.base
        entry = self.recorded(request.method, parts.path)
        compare_request(request, entry)
        self.checked.append(f"{request.method} {parts.path}")
        return self._answer(entry)

    def _answer(self, entry: dict[str, Any]) -> HttpResponse:
        response = entry["response"]
        body = response.get("body")
        data = b"" if body is None else json.dumps(body).encode()
        headers = tuple((k, str(v)) for k, v in response["headers"].items())
        return HttpResponse(response["status"], headers, data)

    def ws_open(self, url: str) -> str:
        upgrade = next(e for e in self.trace if e["kind"] == "ws-upgrade")
        ours = urlsplit(url)
        assert ours.path == upgrade["path"]
        self.ws_url = url
        return "open"

    def ws_text(self, text: str) -> list[str]:
        frame = json.loads(text)
        self.frames.append(frame)
        recorded = [e for e in self.trace if e["kind"] in ("ws-in", "ws-out")]
        if frame.get("type") == "authorization":
            buffer_state = next(e["frame"] for e in recorded if e["kind"] == "ws-out")
            return [json.dumps(buffer_state)]
        if frame.get("type") == "ping":
            pong = next(e["frame"] for e in recorded if e.get("note") == "pong")
            return [json.dumps(dict(pong, id=frame["id"]))]
        return []


HEADERS_EQUAL = ("authorization", "cisco-no-http-redirect", "accept", "content-type")


def compare_request(ours: HttpRequest, entry: dict[str, Any]) -> None:
    """Method, path, query, body and headers, as the JS SDK sent them."""
    parts = urlsplit(ours.url)
    assert parse_qs(parts.query) == {k: [v] for k, v in entry["query"].items()}
    theirs = entry["headers"]
    for name in HEADERS_EQUAL:
        assert ours.header(name) == theirs.get(name), name
    assert ours.header("cisco-device-url") == theirs.get("cisco-device-url")
    # trackingid: <prefix>_<uuid4>_<n>, the JS SDK's form with our product prefix.
    assert re.fullmatch(rf"webex-js-sdk_{UUID}_\d+", theirs["trackingid"])
    assert re.fullmatch(rf"webex-meetings-py_{UUID}_\d+", ours.header("trackingid") or "")
    # spark-user-agent: <product>/<version> (<platform>), the JS SDK's form.
    assert re.fullmatch(r"webex/\d+\.\d+\.\d+ \(node\)", theirs["spark-user-agent"])
    assert re.fullmatch(
        r"webex-meetings/\S+ \(python [\d.]+\)", ours.header("spark-user-agent") or ""
    )
    if "body" in entry:
        assert ours.json() == entry["body"]
    else:
        assert ours.body is None


def js_compatible_session(trace: list[dict[str, Any]]) -> tuple[MeetingsSession, str]:
    base = next(e["base"] for e in trace if e["kind"] == "stub-start")
    token = next(e for e in trace if e["kind"] == "ws-in")["frame"]["data"]["token"]
    device = DeviceConfig(
        name="node",
        model="web-js-sdk",
        localized_model="webex-js-sdk",
        system_name="WEBEX_JS_SDK",
        system_version="1.0.0",
        ephemeral=False,  # what 3.12.0 actually sends (its package config is lost)
        mark_registrations=False,  # the JS SDK sends no marker
    )
    config = SessionConfig.for_cloud(base, device=device, fetch_limited_catalog=True)
    return MeetingsSession(config, Credentials(token), rng=random.Random(1)), token


def run(session: MeetingsSession, cloud: ReplayCloud) -> Pump:
    pump = Pump(session, cloud)  # type: ignore[arg-type]
    pump.init()
    assert pump.result(pump.register()) is None
    assert pump.result(pump.unregister()) is None
    return pump


def test_every_request_and_frame_matches_the_official_sdk():
    trace = load_trace()
    cloud = ReplayCloud(trace)
    session, token = js_compatible_session(trace)
    pump = run(session, cloud)
    device_path = next(e["path"] for e in cloud.http_entries if e["method"] == "DELETE")
    assert cloud.checked == [
        "GET /u2c/api/v1/limited/catalog",
        "GET /hydra/v1/people/me",
        "GET /u2c/api/v1/catalog",
        "POST /wdm/api/v1/devices",
        f"DELETE {device_path}",
    ]
    # Never sent: telemetry, geo hint, meeting preferences.
    assert not [r for r in cloud.requests if "metrics" in r.url or "region" in r.url]
    # The websocket URL: the JS SDK's parameters, in its order.
    upgrade = next(e for e in trace if e["kind"] == "ws-upgrade")
    ours = parse_qs(urlsplit(cloud.ws_url).query)
    assert list(ours) == list(upgrade["query"])
    assert ours["clientTimestamp"] == [str(int(pump.now * 1000))]
    # Frames: authorization, ack of buffer_state, ping, ack of pong; same shapes and values.
    sent = [e["frame"] for e in trace if e["kind"] == "ws-in"]
    auth, theirs_auth = cloud.frames[0], sent[0]
    assert list(auth) == list(theirs_auth)
    assert auth["type"] == "authorization"
    assert auth["data"] == theirs_auth["data"] == {"token": token}
    assert re.fullmatch(UUID, auth["id"])
    assert auth["trackingId"] == f"{session.session_id}_{int(pump.now * 1000)}"
    ack = cloud.frames[1]
    assert ack == sent[1]  # {"messageId": <buffer_state id>, "type": "ack"}
    ping = cloud.frames[2]
    assert list(ping) == list(sent[2])
    assert ping["type"] == "ping"
    assert re.fullmatch(UUID, ping["id"])
    # The close: code and reason as the official SDK's.
    close = next(e for e in trace if e["kind"] == "ws-close")
    ours_close = [e for e in pump.effects if isinstance(e, CloseWebSocket)][-1]
    assert (ours_close.code, ours_close.reason) == (close["code"], close["reason"])
    assert pump.names().count("meetings:registered") == 1
    assert pump.names()[-1] == "meetings:unregistered"


def test_default_profile_differs_only_where_documented():
    trace = load_trace()
    cloud = ReplayCloud(trace)
    base = cloud.base
    token = next(e for e in trace if e["kind"] == "ws-in")["frame"]["data"]["token"]
    session = MeetingsSession(
        SessionConfig.for_cloud(base), Credentials(token), rng=random.Random(2)
    )

    def lenient(request: HttpRequest) -> HttpResponse:
        cloud.requests.append(request)
        return cloud._answer(cloud.recorded(request.method, urlsplit(request.url).path))

    cloud.http = lenient  # type: ignore[method-assign]
    pump = run(session, cloud)
    paths = [urlsplit(r.url).path for r in cloud.requests]
    assert "/u2c/api/v1/limited/catalog" not in paths  # one round trip fewer
    post = next(r for r in cloud.requests if r.method == "POST")
    recorded = cloud.recorded("POST", "/wdm/api/v1/devices")["body"]
    body = post.json()
    assert set(body) == set(recorded) | {"ttl", MARKER_FIELD}
    assert body["ttl"] == 1800
    assert re.fullmatch(UUID, body[MARKER_FIELD])
    assert body["deviceType"] == recorded["deviceType"]
    opened = next(e for e in pump.effects if isinstance(e, OpenWebSocket))
    assert parse_qs(urlsplit(opened.url).query)["multipleConnections"] == ["true"]
