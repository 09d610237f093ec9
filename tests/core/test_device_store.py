"""The warm path at the core (issue 11): device records, their checks, and register() with one.

Round trips are counted on the fake cloud: a warm ``register()`` sends no catalog and no
device POST (people/me goes alongside, never waited for), only the upgrade and the
authorization frame.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from session_harness import BASE, START, FakeCloud, Pump, make_session

from webex_meetings.core.config import SessionConfig
from webex_meetings.core.credentials import Credentials
from webex_meetings.core.device_store import (
    CATALOG_MAX_AGE,
    DeviceRecord,
    catalog_services,
    check_record,
    device_store_key,
    holds_no_secret,
    record_from_json,
)
from webex_meetings.core.effects import OpenWebSocket, UpdateDeviceStore
from webex_meetings.core.inputs import DeviceRecordLoaded, Register, Unregister
from webex_meetings.core.lifecycle import State
from webex_meetings.core.session import MeetingsSession
from webex_meetings.stores import FileDeviceStore


def records(pump: Pump) -> list[DeviceRecord | None]:
    return [e.record for e in pump.effects if isinstance(e, UpdateDeviceStore)]


def registered_pump(cloud: FakeCloud, session: MeetingsSession | None = None) -> Pump:
    pump = Pump(session or make_session(), cloud)
    pump.init()
    assert pump.result(pump.register()) is None
    return pump


def kept_record(cloud: FakeCloud) -> DeviceRecord:
    """Register cold, then unregister keeping the device: what the store then holds."""
    pump = registered_pump(cloud)
    pump.feed(Unregister(99, keep_device=True))
    assert pump.result(99) is None
    record = records(pump)[-1]
    assert record is not None
    assert record.device is not None
    return record


def warm_pump(cloud: FakeCloud, record: DeviceRecord | None) -> tuple[Pump, int]:
    cloud.requests.clear()
    pump = Pump(make_session(), cloud)
    pump.now = START + 60
    pump.init()
    pump.feed(DeviceRecordLoaded(record))
    return pump, pump.register()


def opened(pump: Pump) -> list[str]:
    return [e.url for e in pump.effects if isinstance(e, OpenWebSocket)]


# -- what is stored, and when --------------------------------------------------------------


def test_a_cold_registration_stores_the_catalog_and_the_device() -> None:
    pump = registered_pump(FakeCloud())
    record = records(pump)[-1]
    assert record is not None
    assert record.device is not None
    assert record.cloud == f"{BASE}/u2c/api/v1"
    assert record.services["wdm"] == f"{BASE}/wdm/api/v1"
    assert record.device.url == pump.session.device.url  # type: ignore[union-attr]
    assert record.catalog_fetched_at == START
    assert record_from_json(json.loads(json.dumps(record.to_json()))) == record


def test_unregister_deletes_the_device_and_keeps_only_the_catalog() -> None:
    cloud = FakeCloud()
    pump = registered_pump(cloud)
    assert pump.result(pump.unregister()) is None
    record = records(pump)[-1]
    assert record is not None
    assert record.device is None
    assert "wdm" in record.services
    assert cloud.devices == {}


def test_keep_device_leaves_the_device_registered_and_stored() -> None:
    cloud = FakeCloud()
    record = kept_record(cloud)
    assert record.device is not None
    assert record.device.url in cloud.devices
    assert "DELETE" not in [request.method for request in cloud.requests]


def test_coalesced_unregisters_keep_the_device_only_if_all_ask() -> None:
    cloud = FakeCloud()
    pump = registered_pump(cloud)
    pump.feed(Unregister(50, keep_device=True), run=False)
    pump.feed(Unregister(51), run=False)
    pump.run()
    assert cloud.devices == {}


# -- the warm path -------------------------------------------------------------------------


def test_a_stored_device_registers_with_the_upgrade_and_authorization_only() -> None:
    cloud = FakeCloud()
    record = kept_record(cloud)
    pump, command = warm_pump(cloud, record)
    assert pump.result(command) is None
    assert pump.session.state is State.REGISTERED
    assert pump.requests_by_step() == ["people/me"]  # alongside, not waited for
    assert opened(pump)
    assert all(url.startswith(record.device.web_socket_url) for url in opened(pump))
    assert pump.session.device.url == record.device.url  # type: ignore[union-attr]
    assert pump.session.person is not None


def test_the_warm_path_does_not_wait_for_people_me() -> None:
    cloud = FakeCloud()
    record = kept_record(cloud)
    cloud.fail("people/me", "hang")
    pump, command = warm_pump(cloud, record)
    assert pump.result(command) is None


def test_a_catalog_only_record_skips_the_catalog() -> None:
    cloud = FakeCloud()
    pump = registered_pump(cloud)
    pump.result(pump.unregister())
    pump2, command = warm_pump(cloud, records(pump)[-1])
    assert pump2.result(command) is None
    assert sorted(pump2.requests_by_step()) == ["device.register", "people/me"]


@pytest.mark.parametrize("status", [401, 403, 404, 410])
def test_a_refused_stored_device_falls_back_to_cold_in_the_same_register(status: int) -> None:
    cloud = FakeCloud()
    record = kept_record(cloud)
    cloud.ws_faults.append(status)
    pump, command = warm_pump(cloud, record)
    assert pump.result(command) is None
    assert pump.session.state is State.REGISTERED
    assert "device.register" in pump.requests_by_step()
    assert "catalog" not in pump.requests_by_step()
    assert pump.session.device.url != record.device.url  # type: ignore[union-attr]
    stored = records(pump)
    assert stored[0] is not None
    assert stored[0].device is None
    assert stored[-1] is not None
    assert stored[-1].device is not None
    assert "mercury:connection_failed" not in pump.names()
    deletes = [r.url for r in cloud.requests if r.method == "DELETE"]
    # always deleted: a 404 or 410 is Mercury's word, not proof that WDM dropped it
    assert deletes == [record.device.url]  # type: ignore[union-attr]


def test_a_device_mercury_does_not_know_falls_back_to_cold() -> None:
    cloud = FakeCloud()
    record = kept_record(cloud)
    cloud.withhold_buffer_state = True
    pump, command = warm_pump(cloud, record)
    cloud.withhold_buffer_state = False
    pump.server_close(1005, "")  # before buffer_state: the JS SDK's "unknown device"
    assert pump.result(command) is None
    assert "device.register" in pump.requests_by_step()


def test_a_stored_websocket_url_on_a_foreign_host_is_refused() -> None:
    cloud = FakeCloud()
    record = kept_record(cloud)
    assert record.device is not None
    foreign = dataclasses.replace(
        record.device, web_socket_url="ws://127.0.0.2:9999/mercury/dev1/messages"
    )
    pump, command = warm_pump(cloud, dataclasses.replace(record, device=foreign))
    assert pump.result(command) is None
    assert records(pump)[0] is None  # dropped at once
    assert "catalog" in pump.requests_by_step()  # nothing of it was used
    assert not any("127.0.0.2" in url for url in opened(pump))


def test_a_stored_service_on_a_foreign_host_drops_the_record() -> None:
    cloud = FakeCloud()
    record = kept_record(cloud)
    services = dict(record.services, wdm="http://127.0.0.2:9999/wdm/api/v1")
    pump, command = warm_pump(cloud, dataclasses.replace(record, services=services))
    assert pump.result(command) is None
    assert not any("127.0.0.2" in request.url for request in cloud.requests)
    assert "catalog" in pump.requests_by_step()


# -- checks of a loaded record ---------------------------------------------------------------


def test_check_record_refuses_other_clouds_and_old_catalogs() -> None:
    record = kept_record(FakeCloud())
    config = SessionConfig.for_cloud(BASE)
    assert isinstance(
        check_record(record, SessionConfig.for_cloud("http://127.0.0.1:1"), now=START), str
    )
    assert isinstance(check_record(record, config, now=START + CATALOG_MAX_AGE + 1), str)
    usable = check_record(record, config, now=START + 10)
    assert not isinstance(usable, str)
    assert usable.device is not None


def test_a_lapsed_device_is_not_tried_but_the_catalog_is_used() -> None:
    record = kept_record(FakeCloud())
    assert record.device is not None
    assert record.device.ttl is not None
    usable = check_record(record, SessionConfig.for_cloud(BASE), now=START + record.device.ttl)
    assert not isinstance(usable, str)
    assert usable.device is None


@pytest.mark.parametrize(
    "value",
    [None, [], {"format": 2}, {"format": 1, "cloud": "x", "services": [], "catalogFetchedAt": 1}],
)
def test_record_from_json_refuses_what_is_not_a_record(value: object) -> None:
    with pytest.raises(ValueError, match="not"):
        record_from_json(value)


def test_the_key_names_cloud_and_user_without_the_secret() -> None:
    config = SessionConfig.for_cloud(BASE)
    token = "SECRETTOKENVALUE1234567890"
    key = device_store_key(config, Credentials(token))
    assert config.discovery.u2c in key
    assert token not in key
    assert key == device_store_key(config, Credentials(token))
    assert key != device_store_key(config, Credentials(token + "x"))
    assert device_store_key(config, Credentials(token), name="alice").endswith("name:alice")
    with_refresh = Credentials("one", refresh_token="REFRESHTOKENVALUE123456")
    assert device_store_key(config, with_refresh) == device_store_key(
        config, Credentials("two", refresh_token="REFRESHTOKENVALUE123456")
    )


# -- no secret is ever stored ------------------------------------------------------------------


def test_a_device_answer_echoing_the_token_is_never_stored() -> None:
    cloud = FakeCloud()
    session = make_session()
    cloud.ws_base = f"ws://127.0.0.1:9999/t/{session.credentials.access_token}"
    pump = registered_pump(cloud, session)
    assert records(pump)[-1] is None


TOKEN_TEXT = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.",
    min_size=24,
    max_size=64,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(access=TOKEN_TEXT, refresh=TOKEN_TEXT, secret=TOKEN_TEXT)
def test_no_secret_ever_reaches_the_file(
    tmp_path: Path, access: str, refresh: str, secret: str
) -> None:
    credentials = Credentials(
        access, refresh_token=refresh, client_id="client", client_secret=secret
    )
    config = SessionConfig.for_cloud(BASE)
    session = MeetingsSession(config, credentials)
    pump = registered_pump(FakeCloud(), session)
    pump.feed(Unregister(99, keep_device=True))
    store = FileDeviceStore(tmp_path / f"store-{access[:8]}.json")
    key = device_store_key(config, credentials)
    for record in records(pump):
        if record is None:
            store.forget(key)
        else:
            store.save(key, record)
    data = store.path.read_bytes()
    assert b'"device"' in data
    for value in (access, refresh, secret):
        assert value.encode() not in data


def test_a_stored_device_is_refreshed_when_its_interval_since_the_last_refresh_ends() -> None:
    cloud = FakeCloud()
    record = kept_record(cloud)  # refreshed by WDM at START
    pump, command = warm_pump(cloud, record)  # 60 s later
    assert pump.result(command) is None
    interval = SessionConfig.for_cloud(BASE).device.refresh_interval
    pump.advance(interval - 60 - 1)
    assert "device.refresh" not in pump.requests_by_step()
    pump.advance(2)
    assert "device.refresh" in pump.requests_by_step()
    stored = records(pump)[-1]
    assert stored is not None
    assert stored.device is not None
    assert stored.device.refreshed_at == pump.now - 1  # the store learns of each refresh


# -- loaded records are untrusted: parsing and checking never crash ----------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
GOOD = kept_record(FakeCloud()).to_json()
FIELDS = st.sampled_from(["format", "cloud", "services", "catalogFetchedAt", "device"])
DEVICE_FIELDS = st.sampled_from(
    ["url", "webSocketUrl", "refreshedAt", "ttl", "features", "body", "userId", "etag"]
)


def _parse_and_check(value: object) -> None:
    try:
        record = record_from_json(value)
    except ValueError:
        return
    outcome = check_record(record, SessionConfig.for_cloud(BASE), now=START)
    if not isinstance(outcome, str) and outcome.device is not None:
        outcome.device.registration()


@settings(max_examples=200, deadline=None)
@given(JSON)
def test_any_json_is_a_record_or_a_value_error(value: object) -> None:
    _parse_and_check(value)


@settings(max_examples=200, deadline=None)
@given(FIELDS, DEVICE_FIELDS, JSON)
def test_a_record_with_any_field_replaced_is_checked_without_crashing(
    field: str, device_field: str, value: object
) -> None:
    top = json.loads(json.dumps(GOOD))
    top[field] = value
    _parse_and_check(top)
    inner = json.loads(json.dumps(GOOD))
    inner["device"][device_field] = value
    _parse_and_check(inner)


def test_a_guest_is_keyed_by_its_jwt_and_a_token_provider_needs_a_name() -> None:
    config = SessionConfig.for_cloud(BASE)
    guest = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJndWVzdC0xIn0.c2lnbmF0dXJlc2lnbmF0dXJl"
    other = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJndWVzdC0yIn0.c2lnbmF0dXJlc2lnbmF0dXJl"
    key = device_store_key(config, Credentials.from_jwt(guest))
    assert guest not in key
    assert key == device_store_key(config, Credentials.from_jwt(guest))
    assert key != device_store_key(config, Credentials.from_jwt(other))
    with pytest.raises(ValueError, match="store_key"):
        device_store_key(config, Credentials.from_provider())
    named = device_store_key(config, Credentials.from_provider(), name="bot")
    assert named.endswith("name:bot")


# -- the record is applied only once a token is in hand (review finding 1) -------------------


def refreshing_session() -> MeetingsSession:
    """A session with no usable access token yet: register() runs the refresh grant first."""
    credentials = Credentials(
        "EXPIRED" * 6,
        refresh_token="R" * 40,
        client_id="client",
        client_secret="S" * 30,
        expires_at=START - 600,
    )
    return MeetingsSession(SessionConfig.for_cloud(BASE), credentials)


def test_a_failed_first_token_leaves_the_stored_device_alone() -> None:
    cloud = FakeCloud()
    record = kept_record(cloud)
    assert record.device is not None
    cloud.requests.clear()
    cloud.fail("credentials.refresh", 400)
    pump = Pump(refreshing_session(), cloud)
    pump.now = START + 60
    pump.init()
    pump.feed(DeviceRecordLoaded(record))
    assert pump.result(pump.register()) is not None
    assert [r.method for r in cloud.requests] == ["POST"]  # the refresh grant, nothing else
    assert record.device.url in cloud.devices
    assert records(pump) == []  # the store is left as it was
    # the next register() of this session, with a token at last, goes warm on it
    assert pump.result(pump.register()) is None
    assert "device.register" not in pump.requests_by_step()
    assert pump.session.device.url == record.device.url  # type: ignore[union-attr]


def test_a_warm_attempt_failing_for_another_reason_keeps_the_stored_device() -> None:
    cloud = FakeCloud()
    record = kept_record(cloud)
    assert record.device is not None
    cloud.withhold_buffer_state = True  # Mercury never lets it in: the deadline passes
    pump, command = warm_pump(cloud, record)
    pump.advance(pump.session._config.register_timeout + 1)
    assert pump.result(command) is not None
    assert "DELETE" not in [r.method for r in cloud.requests]
    assert record.device.url in cloud.devices
    assert records(pump) == []


# -- every secret of the credentials is looked for (review finding 2) ---------------------


JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJndWVzdC0xIn0.c2lnbmF0dXJlLW9mLXRoZS1qd3Q"


def guest_with_a_superseded_token() -> Credentials:
    first = Credentials.from_jwt(JWT).provided("FIRST" * 8, expires_in=3600, now=START)
    return first.provided(TOKEN_TWO, expires_in=3600, now=START)


TOKEN_TWO = "SECOND" * 8


@pytest.mark.parametrize("echoed", [JWT, "FIRST" * 8], ids=["jwt", "superseded"])
def test_a_device_answer_echoing_the_jwt_or_a_superseded_token_is_never_stored(
    echoed: str,
) -> None:
    credentials = guest_with_a_superseded_token()
    assert credentials.access_token == TOKEN_TWO
    session = MeetingsSession(SessionConfig.for_cloud(BASE), credentials)
    cloud = FakeCloud()
    cloud.fail("device.register", lambda request: echo_in_body(cloud, request, echoed))
    pump = registered_pump(cloud, session)
    assert records(pump)[-1] is None
    assert echoed in json.dumps(cloud.devices)  # the echo was there to be refused


def echo_in_body(cloud: FakeCloud, request: Any, secret: str) -> Any:
    response = cloud._create_device(request)
    url = response.json(step="test")["url"]
    cloud.devices[url]["description"] = f"made for {secret}"
    body = dict(cloud.devices[url])
    return dataclasses.replace(response, body=json.dumps(body).encode())


def test_every_secret_names_the_jwt_and_the_superseded_tokens() -> None:
    secrets = guest_with_a_superseded_token().every_secret()
    assert {JWT, "FIRST" * 8, TOKEN_TWO} <= set(secrets)
    assert "" not in secrets


# -- the record a register() starts from is the current one (review finding 6) --------------


def test_a_register_queued_behind_unregister_uses_the_record_it_left() -> None:
    cloud = FakeCloud()
    pump = registered_pump(cloud)
    stale = records(pump)[-1]  # with the device, as a face would have loaded it
    assert stale is not None
    assert stale.device is not None
    pump.feed(Unregister(60), run=False)  # deletes the device
    pump.feed(DeviceRecordLoaded(stale), run=False)
    pump.feed(Register(61), run=False)
    pump.run()
    assert pump.result(60) is None
    assert pump.result(61) is None
    assert pump.session.device.url != stale.device.url  # type: ignore[union-attr]
    assert stale.device.url not in cloud.devices


def test_a_register_joining_one_in_progress_leaves_no_stale_record() -> None:
    cloud = FakeCloud()
    stale = kept_record(cloud)  # a device of an earlier process, still in WDM
    assert stale.device is not None
    pump = Pump(make_session(), cloud)
    pump.now = START + 60
    pump.init()
    first = pump.register(run=False)
    pump.feed(DeviceRecordLoaded(stale), run=False)  # loaded by a register() that joins
    pump.feed(Register(77), run=False)
    pump.run()
    assert pump.result(first) is None
    assert pump.result(77) is None
    assert pump.result(pump.unregister()) is None
    assert pump.result(pump.register()) is None
    assert pump.session.device.url != stale.device.url  # type: ignore[union-attr]


# -- people/me is asked once (review finding 11) ----------------------------------------------


def test_people_me_is_not_sent_again_when_the_warm_path_falls_back() -> None:
    cloud = FakeCloud()
    record = kept_record(cloud)
    cloud.fail("people/me", "hang")  # still in flight when the upgrade is refused
    cloud.ws_faults.append(404)
    pump, command = warm_pump(cloud, record)
    assert pump.result(command) is None
    assert pump.requests_by_step().count("people/me") == 1


@settings(max_examples=60, deadline=None)
@given(
    secret=st.text(alphabet='ab"\\/\u00e9\u2603\U0001f600\x7f<>&', min_size=8, max_size=24),
    before=st.text(max_size=8),
    after=st.text(max_size=8),
)
def test_a_secret_anywhere_in_a_record_is_found_whatever_json_escapes(
    secret: str, before: str, after: str
) -> None:
    record = kept_record(FakeCloud())
    assert record.device is not None
    body = {**record.device.body, "echo": [{"k": before + secret + after}]}
    echoing = dataclasses.replace(record, device=dataclasses.replace(record.device, body=body))
    credentials = Credentials("token-of-no-interest-here", client_secret=secret)
    assert holds_no_secret(record, credentials)
    assert not holds_no_secret(echoing, credentials)


# -- records that stay in the process (the faces' own memory store) ---------------------------


def in_process_session(credentials: Credentials | None = None) -> MeetingsSession:
    return MeetingsSession(
        SessionConfig.for_cloud(BASE),
        credentials or Credentials("token-of-the-in-process-store"),
        records_stay_in_process=True,
    )


def test_records_that_stay_in_the_process_still_serve_the_warm_path() -> None:
    cloud = FakeCloud()
    pump = registered_pump(cloud, in_process_session())
    pump.feed(Unregister(99, keep_device=True))
    assert pump.result(99) is None
    record = records(pump)[-1]
    assert record is not None
    assert record.device is not None
    assert record.device.url in cloud.devices
    cloud.requests.clear()
    warm = Pump(in_process_session(), cloud)
    warm.now = pump.now + 60
    warm.init()
    warm.feed(DeviceRecordLoaded(record))
    assert warm.result(warm.register()) is None
    assert warm.session.state is State.REGISTERED
    assert warm.requests_by_step() == ["people/me"]  # alongside: no catalog, no device POST
    assert warm.session.device.url == record.device.url  # type: ignore[union-attr]


def test_records_that_stay_in_the_process_are_not_searched_for_secrets() -> None:
    """The search guards stores an application reads; the faces' own memory store holds
    nothing the session does not hold already."""
    credentials = guest_with_a_superseded_token()
    cloud = FakeCloud()
    cloud.fail("device.register", lambda request: echo_in_body(cloud, request, JWT))
    pump = registered_pump(cloud, in_process_session(credentials))
    record = records(pump)[-1]
    assert record is not None
    assert record.device is not None
    assert not holds_no_secret(record, credentials)  # a checked session would store None


# -- the secret search walks every string of a record ------------------------------------------


def test_the_secret_search_reads_keys_nested_values_and_odd_types() -> None:
    record = kept_record(FakeCloud())
    assert record.device is not None
    secret = "S3CRET-of-the-record-search"
    credentials = Credentials("token-of-no-interest-here", client_secret=secret)

    class Echo:
        def __str__(self) -> str:
            return f"echo {secret}"

    for echo in ({secret: 1}, [[{"k": (secret,)}]], Echo(), {"n": [1, 2.5, True, None, secret]}):
        body = {**record.device.body, "echo": echo}
        echoing = dataclasses.replace(record, device=dataclasses.replace(record.device, body=body))
        assert not holds_no_secret(echoing, credentials), echo
    harmless = {**record.device.body, "echo": [1, 2.5, True, None, {"k": "v"}]}
    kept = dataclasses.replace(record, device=dataclasses.replace(record.device, body=harmless))
    assert holds_no_secret(kept, credentials)


def test_the_secret_search_does_not_recurse_on_a_deep_body() -> None:
    record = kept_record(FakeCloud())
    assert record.device is not None
    deep: Any = "made for the-deep-secret-at-the-bottom"
    for _ in range(50_000):  # far deeper than the interpreter's recursion limit
        deep = {"d": deep}
    body = {**record.device.body, "echo": deep}
    echoing = dataclasses.replace(record, device=dataclasses.replace(record.device, body=body))
    credentials = Credentials("token-of-no-interest-here", client_secret="the-deep-secret")
    assert not holds_no_secret(echoing, credentials)


def test_the_stored_services_are_one_mapping_per_catalog_and_configuration() -> None:
    pump = registered_pump(FakeCloud())
    catalog, config = pump.session.catalog, SessionConfig.for_cloud(BASE)
    assert catalog is not None
    first = catalog_services(catalog, config)
    assert catalog_services(catalog, config) is first
    other = dataclasses.replace(config, extra_authorized_hosts=())
    assert catalog_services(catalog, other) is not first
    assert dict(catalog_services(catalog, other)) == {}  # no token may go to 127.0.0.1 now
