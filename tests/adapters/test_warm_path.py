"""Device stores end to end (issue 11, the warm path): the file store on disk, and
``register()`` through the public faces against the emulator, round trips counted on the
emulator's records."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import stat
import subprocess
import sys
import threading
import warnings
from pathlib import Path
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from webex_meetings import FileDeviceStore, MemoryDeviceStore, Webex
from webex_meetings.adapters.runtime import Runtime, TransportOptions
from webex_meetings.blocking import Webex as BlockingWebex
from webex_meetings.core.config import SessionConfig
from webex_meetings.core.credentials import Credentials
from webex_meetings.core.device_store import DeviceRecord, StoredDevice
from webex_meetings.core.effects import UpdateDeviceStore
from webex_meetings.core.errors import ConfigurationError
from webex_meetings.core.session import MeetingsSession
from webex_meetings.emulator import Emulator
from webex_meetings.stores import DeviceStoreWarning, StoreBinding

RECORD = DeviceRecord(
    cloud="http://127.0.0.1:1/u2c/api/v1",
    services={"wdm": "http://127.0.0.1:1/wdm/api/v1"},
    catalog_fetched_at=1_800_000_000.0,
    device=StoredDevice(
        url="http://127.0.0.1:1/wdm/api/v1/devices/d1",
        web_socket_url="ws://127.0.0.1:1/mercury/d1/messages",
        refreshed_at=1_800_000_000.0,
        ttl=1800,
        user_id="u1",
    ),
)


# -- the file store --------------------------------------------------------------------------


def test_file_store_round_trip_and_forget(tmp_path: Path) -> None:
    store = FileDeviceStore(tmp_path / "store.json")
    assert store.load("k") is None
    store.save("k", RECORD)
    store.save("other", RECORD)
    assert FileDeviceStore(store.path).load("k") == RECORD
    store.forget("k")
    assert store.load("k") is None
    assert store.load("other") == RECORD


def test_file_store_is_owner_only(tmp_path: Path) -> None:
    store = FileDeviceStore(tmp_path / "new" / "dir" / "store.json")
    store.save("k", RECORD)
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    for created in (tmp_path / "new", tmp_path / "new" / "dir"):  # every level it created
        assert stat.S_IMODE(created.stat().st_mode) & 0o077 == 0, created
    assert stat.S_IMODE(store.lock_path.stat().st_mode) == 0o600


def test_stores_sharing_a_file_lose_no_update(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two instances (as two processes would) save different keys at once: both reads
    happen before either write unless the lock orders them. The barrier makes the race
    certain without the lock; with it, the second reader waits for the first writer (and the
    barrier gives up after a bounded wait)."""
    path = tmp_path / "shared.json"
    barrier = threading.Barrier(2, timeout=0.5)
    original = FileDeviceStore._read

    def racing_read(self: FileDeviceStore) -> dict[str, object] | None:
        records = original(self)
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait()
        return records

    monkeypatch.setattr(FileDeviceStore, "_read", racing_read)
    threads = [
        threading.Thread(target=FileDeviceStore(path).save, args=(key, RECORD)) for key in "ab"
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    monkeypatch.undo()
    assert [FileDeviceStore(path).load(key) for key in "ab"] == [RECORD, RECORD]


@pytest.mark.parametrize(
    "content",
    [b"not json", b"\xff\xfe", b"[]", b'{"format": "something else", "records": {}}', b"{" * 5000],
)
def test_a_corrupt_or_foreign_file_reads_as_empty_and_is_never_overwritten(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "store.json"
    path.write_bytes(content)
    store = FileDeviceStore(path)
    with pytest.warns(DeviceStoreWarning):
        assert store.load("k") is None
    with pytest.warns(DeviceStoreWarning, match="untouched"):
        store.save("k", RECORD)
    with pytest.warns(DeviceStoreWarning, match="untouched"):
        store.forget("k")
    assert path.read_bytes() == content


def test_an_empty_file_is_taken_over(tmp_path: Path) -> None:
    path = tmp_path / "store.json"
    path.write_bytes(b"")
    store = FileDeviceStore(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        store.save("k", RECORD)
    assert store.load("k") == RECORD


def test_an_unusable_record_reads_as_none_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "store.json"
    body = {"format": "webex-meetings device store", "records": {"k": {"format": 1}}}
    path.write_text(json.dumps(body))
    with pytest.warns(DeviceStoreWarning, match="unusable"):
        assert FileDeviceStore(path).load("k") is None


def test_a_file_beyond_the_size_bound_is_not_read(tmp_path: Path) -> None:
    store = FileDeviceStore(tmp_path / "store.json", max_bytes=100)
    FileDeviceStore(store.path).save("k", RECORD)
    with pytest.warns(DeviceStoreWarning, match="larger than"):
        assert store.load("k") is None


def test_records_are_bounded(tmp_path: Path) -> None:
    store = FileDeviceStore(tmp_path / "store.json", max_records=2)
    for key in "abc":
        store.save(key, RECORD)
    assert [store.load(key) is not None for key in "abc"] == [False, True, True]


def test_the_file_stays_within_its_size_bound(tmp_path: Path) -> None:
    one = len(json.dumps(RECORD.to_json()))
    store = FileDeviceStore(tmp_path / "store.json", max_bytes=2 * one + 200)
    for key in "abcd":
        store.save(key, RECORD)
    assert store.path.stat().st_size <= store.max_bytes
    assert store.load("d") == RECORD
    assert store.load("a") is None
    with pytest.raises(ValueError, match="larger than"):
        FileDeviceStore(tmp_path / "small.json", max_bytes=10).save("k", RECORD)


def test_a_failed_write_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FileDeviceStore(tmp_path / "store.json")
    store.save("k", RECORD)
    before = store.path.read_bytes()

    def broken_replace(*args: object) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk on fire"):
        store.save("k2", RECORD)
    assert store.path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store.json", "store.json.lock"]


def test_a_failing_store_is_a_log_line_even_with_warnings_as_errors(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "store.json"
    path.write_bytes(b"not json")
    binding = StoreBinding(FileDeviceStore(path), "k")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert binding.load() is None
        binding.update(UpdateDeviceStore(RECORD))
        assert binding.flush()
    assert [r.name for r in caplog.records] == ["webex_meetings.store"] * 2


def test_file_store_updates_run_off_the_caller_in_order(tmp_path: Path) -> None:
    store = FileDeviceStore(tmp_path / "store.json")
    binding = StoreBinding(store, "k")
    other = dataclasses.replace(RECORD, catalog_fetched_at=RECORD.catalog_fetched_at + 1)
    for record in (RECORD, None, other):
        binding.update(UpdateDeviceStore(record))
    assert binding.load() == other  # the latest update, written or about to be
    assert binding.flush()
    assert store.load("k") == other


def test_a_custom_store_needs_only_the_public_names() -> None:
    from webex_meetings import DeviceStore, DeviceStoreRecord

    class JsonStore:
        def __init__(self) -> None:
            self.texts: dict[str, str] = {}

        def load(self, key: str) -> DeviceStoreRecord | None:
            text = self.texts.get(key)
            return None if text is None else DeviceStoreRecord.from_json(json.loads(text))

        def save(self, key: str, record: DeviceStoreRecord) -> None:
            self.texts[key] = json.dumps(record.to_json())

        def forget(self, key: str) -> None:
            self.texts.pop(key, None)

    store = JsonStore()
    assert isinstance(store, DeviceStore)
    binding = StoreBinding(store, "k")
    binding.update(UpdateDeviceStore(RECORD))
    assert binding.load() == RECORD
    assert DeviceStoreRecord.__module__ == "webex_meetings.core.device_store"


def test_a_failing_store_is_a_warning_never_an_error() -> None:
    class Broken(MemoryDeviceStore):
        def load(self, key: str) -> DeviceRecord | None:
            raise OSError("no")

        def save(self, key: str, record: DeviceRecord) -> None:
            raise OSError("no")

    binding = StoreBinding(Broken(), "k")
    with pytest.warns(DeviceStoreWarning):
        assert binding.load() is None
    with pytest.warns(DeviceStoreWarning):
        binding.update(UpdateDeviceStore(RECORD))


# -- register() through the faces -------------------------------------------------------------


def _routes(emulator: Emulator, since: int) -> list[str]:
    return [str(r.route) for r in emulator.requests[since:]]


@pytest.mark.anyio
async def test_keep_device_then_a_second_instance_registers_warm(
    emulator: Emulator, tmp_path: Path
) -> None:
    token = emulator.issue_token()
    store = FileDeviceStore(tmp_path / "store.json")
    async with Webex(access_token=token, cloud=emulator.base_url, store=store) as first:
        await first.meetings.register()
        kept = first.meetings.device
        await first.meetings.unregister(keep_device=True)
    assert kept is not None
    assert [d.url for d in emulator.devices] == [kept.url]
    assert token.encode() not in store.path.read_bytes()
    assert kept.url.encode() in store.path.read_bytes()

    mark = len(emulator.requests)
    async with Webex(access_token=token, cloud=emulator.base_url, store=store) as second:
        await second.meetings.register()
        assert second.meetings.device is not None
        assert second.meetings.device.url == kept.url
        on_critical_path = [
            route for route in _routes(emulator, mark) if route != "hydra.people_me"
        ]
        assert on_critical_path == ["mercury.connect"]  # the upgrade; then the auth frame
        (connection,) = [c for c in emulator.connections if c.closed_at is None]
        assert connection.ready_at is not None  # authorized, buffer_state sent
    assert emulator.devices == []  # leaving deleted it, as always
    assert emulator.violations == []


@pytest.mark.anyio
async def test_from_session_keeps_a_device_in_its_store(
    emulator: Emulator, runtime: Runtime, runtime_name: str, tmp_path: Path
) -> None:
    token = emulator.issue_token()
    config = SessionConfig.for_cloud(emulator.base_url, http_timeout=5.0)
    store = FileDeviceStore(tmp_path / "store.json")
    http, websockets = runtime.default_transports(TransportOptions(http_timeout=5.0))

    def embedded(**store_options: Any) -> Webex:
        return Webex.from_session(
            MeetingsSession(config, Credentials(token)),
            http=http,
            websockets=websockets,
            runtime=runtime_name,  # type: ignore[arg-type]
            **store_options,
        )

    try:
        async with embedded() as alone:  # its own memory store: reused by the same instance
            await alone.meetings.register()
            await alone.meetings.unregister(keep_device=True)
            mark = len(emulator.requests)
            await alone.meetings.register()
            assert "wdm.register" not in _routes(emulator, mark)
        async with embedded(store=store, store_key="ada") as first:
            await first.meetings.register()
            kept = first.meetings.device
            await first.meetings.unregister(keep_device=True)
        mark = len(emulator.requests)
        async with embedded(store=store, store_key="ada") as second:
            await second.meetings.register()  # warm, on the kept device
            assert kept is not None
            assert second.meetings.device is not None
            assert second.meetings.device.url == kept.url
            assert "wdm.register" not in _routes(emulator, mark)
    finally:
        await http.aclose()
    assert emulator.devices == []
    with pytest.raises(ConfigurationError, match="store_key"):
        embedded(store=store)


@pytest.mark.anyio
async def test_a_device_gone_meanwhile_falls_back_to_cold(
    emulator: Emulator, tmp_path: Path
) -> None:
    token = emulator.issue_token()
    store = FileDeviceStore(tmp_path / "store.json")
    async with Webex(access_token=token, cloud=emulator.base_url, store=store) as first:
        await first.meetings.register()
        await first.meetings.unregister(keep_device=True)
    (gone,) = emulator.devices
    assert emulator.control.expire_device(gone.id)

    mark = len(emulator.requests)
    async with Webex(access_token=token, cloud=emulator.base_url, store=store) as second:
        await second.meetings.register()
        assert second.meetings.device is not None
        assert second.meetings.device.url != gone.url
        routes = _routes(emulator, mark)
        assert "u2c.catalog" not in routes  # the stored catalog still serves
        assert routes.count("wdm.register") == 1
        assert routes.count("mercury.connect") == 2
    assert emulator.devices == []


@pytest.mark.anyio
async def test_a_catalog_only_record_saves_the_catalog_round_trip(
    emulator: Emulator, tmp_path: Path
) -> None:
    token = emulator.issue_token()
    store = FileDeviceStore(tmp_path / "store.json")
    async with Webex(access_token=token, cloud=emulator.base_url, store=store) as first:
        await first.meetings.register()
    mark = len(emulator.requests)
    async with Webex(access_token=token, cloud=emulator.base_url, store=store) as second:
        await second.meetings.register()
        routes = _routes(emulator, mark)
        assert "u2c.catalog" not in routes
        assert "wdm.register" in routes


@pytest.mark.anyio
async def test_a_stored_websocket_url_on_a_foreign_host_gets_no_token(
    emulator: Emulator, tmp_path: Path
) -> None:
    token = emulator.issue_token()
    store = FileDeviceStore(tmp_path / "store.json")
    async with Webex(access_token=token, cloud=emulator.base_url, store=store) as first:
        await first.meetings.register()
        await first.meetings.unregister(keep_device=True)
    stored = store.path.read_text()
    connections: list[int] = []
    listener = await anyio.create_tcp_listener(local_host="127.0.0.2")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)

    async def count(stream: anyio.abc.SocketStream) -> None:
        connections.append(1)
        await stream.aclose()

    body = json.loads(stored)
    for record in body["records"].values():
        record["device"]["webSocketUrl"] = f"ws://127.0.0.2:{port}/mercury/x/messages"
    store.path.write_text(json.dumps(body))
    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, count)
        async with Webex(access_token=token, cloud=emulator.base_url, store=store) as second:
            await second.meetings.register()  # cold: the record was dropped
            assert second.meetings.registered
        group.cancel_scope.cancel()
    assert connections == []
    assert "127.0.0.2" not in store.path.read_text()


def test_the_blocking_face_keeps_a_device_for_the_next_instance(
    running_emulator: Emulator, tmp_path: Path
) -> None:
    token = running_emulator.issue_token()
    store = FileDeviceStore(tmp_path / "store.json")
    with BlockingWebex(access_token=token, cloud=running_emulator.base_url, store=store) as one:
        one.meetings.register(timeout=20)
        kept = one.meetings.device
        one.meetings.unregister(keep_device=True, timeout=20)
    mark = len(running_emulator.requests)
    with BlockingWebex(access_token=token, cloud=running_emulator.base_url, store=store) as two:
        two.meetings.register(timeout=20)
        assert two.meetings.device is not None
        assert kept is not None
        assert two.meetings.device.url == kept.url
    routes = [str(r.route) for r in running_emulator.requests[mark:]]
    assert "wdm.register" not in routes
    assert "u2c.catalog" not in routes


def test_no_warning_for_a_missing_file(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert FileDeviceStore(tmp_path / "absent.json").load("k") is None


@pytest.mark.parametrize("anyio_backend", ["trio"])
@pytest.mark.anyio
async def test_the_native_trio_runtime_registers_warm(emulator: Emulator, tmp_path: Path) -> None:
    token = emulator.issue_token()
    store = FileDeviceStore(tmp_path / "store.json")
    async with Webex(
        runtime="trio", access_token=token, cloud=emulator.base_url, store=store
    ) as first:
        await first.meetings.register()
        await first.meetings.unregister(keep_device=True)
    mark = len(emulator.requests)
    async with Webex(
        runtime="trio", access_token=token, cloud=emulator.base_url, store=store
    ) as second:
        await second.meetings.register()
    routes = _routes(emulator, mark)
    assert "wdm.register" not in routes
    assert "u2c.catalog" not in routes
    assert emulator.devices == []


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.binary(max_size=300))
def test_any_file_content_loads_without_an_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "fuzz.json"
    path.write_bytes(content)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeviceStoreWarning)
        assert FileDeviceStore(path).load("k") is None


CRASH = """
import os, sys, anyio
from webex_meetings import FileDeviceStore, Webex

async def main():
    webex = Webex(access_token=sys.argv[1], cloud=sys.argv[2], store=FileDeviceStore(sys.argv[3]))
    async with webex:
        await webex.meetings.register()
        print(webex.meetings.device.url, flush=True)
        # the record is written just after register() returned, in a worker thread: a
        # process dying within those milliseconds leaves the previous record; wait for it
        webex._store.flush()
        os._exit(0)  # dies registered: no unregister, no clean-up

anyio.run(main)
"""


def test_a_process_that_dies_registered_leaves_its_device_for_the_next(
    running_emulator: Emulator, tmp_path: Path
) -> None:
    token = running_emulator.issue_token()
    path = tmp_path / "store.json"
    done = subprocess.run(
        [sys.executable, "-c", CRASH, token, running_emulator.base_url, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    crashed_device = done.stdout.strip()
    assert [d.url for d in running_emulator.devices] == [crashed_device]
    mark = len(running_emulator.requests)
    with BlockingWebex(
        access_token=token, cloud=running_emulator.base_url, store=FileDeviceStore(path)
    ) as webex:
        webex.meetings.register(timeout=20)
        assert webex.meetings.device is not None
        assert webex.meetings.device.url == crashed_device
    routes = [str(r.route) for r in running_emulator.requests[mark:]]
    assert "wdm.register" not in routes
    assert running_emulator.devices == []
