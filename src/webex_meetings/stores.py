"""Device stores: where a session leaves its device record for the next process.

A store keeps one :class:`~webex_meetings.core.device_store.DeviceRecord` per key (a user
on a cloud, :func:`~webex_meetings.core.device_store.device_store_key`). ``Webex(store=...)``
takes any object with the three methods of :class:`DeviceStore`; two are shipped:

* :class:`MemoryDeviceStore`, the default (one per ``Webex``): the catalog is reused by the
  next ``register()`` of the same instance, and a device kept with
  ``unregister(keep_device=True)`` too, but nothing outlives the process;
* :class:`FileDeviceStore`, one JSON file: a restarted process registers warm.

``load`` is called on the event loop (or the blocking face's loop thread) when
``register()`` starts, so it must be quick. ``save`` and ``forget`` follow the command they
belong to: :class:`FileDeviceStore`'s run in a worker thread (in order, and only the latest
when several wait: each replaces the record under the same key), so its fsync is never on the
event loop nor inside ``register()``; leaving ``async with`` waits (bounded) for the last one.
Any other store's run on the event loop, just after the command completed.

Whatever a store raises is turned into a :class:`DeviceStoreWarning` *and* a log line on the
``webex_meetings.store`` logger, and the session goes on as with an empty store: a store can
make ``register()`` faster, never make it fail (with warnings turned into errors too: the
warning is then dropped, the log line stays).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final, Protocol, runtime_checkable

from .core.device_store import DeviceRecord, record_from_json

try:
    import fcntl
except ImportError:  # not POSIX: no lock between processes (the last writer wins)
    fcntl = None  # type: ignore[assignment]
from .core.effects import UpdateDeviceStore
from .core.redaction import redact

__all__ = [
    "DeviceStore",
    "DeviceStoreRecord",
    "DeviceStoreWarning",
    "FileDeviceStore",
    "MemoryDeviceStore",
    "StoreBinding",
]

log = logging.getLogger("webex_meetings.store")

FILE_FORMAT: Final = "webex-meetings device store"
"""The ``format`` field of a :class:`FileDeviceStore` file: anything else is foreign."""

DeviceStoreRecord = DeviceRecord
"""What a store keeps under a key (:class:`webex_meetings.core.device_store.DeviceRecord`):
``record.to_json()`` and :func:`webex_meetings.core.device_store.record_from_json` convert it
to and from JSON. Not the emulator's ``DeviceRecord`` (a device as WDM holds it)."""

FLUSH_TIMEOUT: Final = 5.0
"""Seconds leaving ``async with`` waits for a :class:`FileDeviceStore` write in progress."""


class DeviceStoreWarning(UserWarning):
    """A device store could not be read or written (corrupt, foreign, too large, a disk
    error): it is treated as empty, and ``register()`` goes the cold way."""


@runtime_checkable
class DeviceStore(Protocol):
    """Where device records live, by key. Implement these three to keep them elsewhere (a
    keyring, a database); each must be quick (it runs on the event loop) and may raise (the
    failure becomes a :class:`DeviceStoreWarning`). A record is a
    :data:`DeviceStoreRecord`."""

    def load(self, key: str) -> DeviceRecord | None:
        """The record saved under ``key``, or ``None``."""
        ...

    def save(self, key: str, record: DeviceRecord) -> None:
        """Save ``record`` under ``key``, replacing what was there."""
        ...

    def forget(self, key: str) -> None:
        """Remove the record under ``key`` (nothing happens when there is none)."""
        ...


class MemoryDeviceStore:
    """Records in a dict, for the life of this object."""

    def __init__(self) -> None:
        self._records: dict[str, DeviceRecord] = {}

    def __repr__(self) -> str:
        return f"<MemoryDeviceStore records={len(self._records)}>"

    def load(self, key: str) -> DeviceRecord | None:
        """The record saved under ``key``, or ``None``."""
        return self._records.get(key)

    def save(self, key: str, record: DeviceRecord) -> None:
        """Save ``record`` under ``key``."""
        self._records[key] = record

    def forget(self, key: str) -> None:
        """Remove the record under ``key``."""
        self._records.pop(key, None)


class FileDeviceStore:
    """Records in one JSON file at ``path`` (``~`` expanded), readable by its owner only.

    * Written atomically: a temporary file in the same directory (mode 0600), flushed to disk,
      then ``os.replace``-d over ``path``; a reader sees the old file or the new one, never
      half of one. Each directory level it creates is mode 0700.
    * Shared safely: each save or forget reads, changes and writes the file under an advisory
      lock (``fcntl.flock`` on ``path`` + ``.lock``, a sibling file it creates), so processes
      sharing the file lose no one's update. Where ``fcntl`` is missing (not POSIX) there is
      no lock, and the last writer wins for the whole file.
    * Read defensively: a file larger than ``max_bytes``, not JSON, or not of this format
      (a foreign file) reads as empty, with a :class:`DeviceStoreWarning`; so does a record
      that does not parse. Nothing in it is trusted: the session checks every record. Such a
      file is never overwritten: save and forget leave it untouched (with a warning) unless
      it is empty.
    * Bounded: at most ``max_records`` records and ``max_bytes`` in all (the least recently
      saved go first; a single record beyond ``max_bytes`` is not stored).
    * Holds no secret: records have no token field, and the session refuses to save one that
      contains a secret.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, max_bytes: int = 1 << 20, max_records: int = 64
    ) -> None:
        self.path = Path(path).expanduser()
        self.max_bytes = max_bytes
        self.max_records = max_records

    def __repr__(self) -> str:
        return f"<FileDeviceStore {str(self.path)!r}>"

    @property
    def lock_path(self) -> Path:
        """The sibling file locked around each read-modify-write."""
        return self.path.with_name(self.path.name + ".lock")

    def load(self, key: str) -> DeviceRecord | None:
        """The record saved under ``key``, or ``None`` (also when the file is unusable)."""
        value = (self._read() or {}).get(key)
        if value is None:
            return None
        try:
            return record_from_json(value)
        except ValueError as exc:
            _warn(f"{self.path}: a record is unusable ({exc}); ignoring it")
            return None

    def save(self, key: str, record: DeviceRecord) -> None:
        """Save ``record`` under ``key``.

        A file that is not a store file (and not empty) is left untouched, with a
        :class:`DeviceStoreWarning`.

        :raises OSError: the file or its directory cannot be written.
        :raises ValueError: the record alone exceeds ``max_bytes``.
        """
        with self._locked():
            records = self._read()
            if records is None:
                return
            records.pop(key, None)
            records[key] = record.to_json()
            while len(records) > self.max_records:
                del records[next(iter(records))]
            self._write(records)

    def forget(self, key: str) -> None:
        """Remove the record under ``key`` (a file that is not a store file is left alone).

        :raises OSError: the file cannot be written.
        """
        with self._locked():
            records = self._read()
            if records is not None and records.pop(key, None) is not None:
                self._write(records)

    # -- the file -------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the advisory lock (blocking; holders only read and write one small file)."""
        if fcntl is None:
            yield
            return
        self._make_directory()
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def _read(self) -> dict[str, Any] | None:
        """The records; ``{}`` when there is no file (or an empty one), ``None`` when the
        file is not a store file: it reads as empty and is never overwritten."""
        try:
            with open(self.path, "rb") as file:
                data = file.read(self.max_bytes + 1)
        except FileNotFoundError:
            return {}
        except OSError as exc:
            _unusable(f"{self.path}: cannot be read ({type(exc).__name__})")
            return None
        if not data:
            return {}
        if len(data) > self.max_bytes:
            _unusable(f"{self.path}: larger than {self.max_bytes} bytes")
            return None
        try:
            body = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            _unusable(f"{self.path}: not a JSON device store")
            return None
        if not isinstance(body, dict) or body.get("format") != FILE_FORMAT:
            _unusable(f"{self.path}: not a webex-meetings device store")
            return None
        records = body.get("records")
        if not isinstance(records, dict):
            _warn(f"{self.path}: a device store without records; treating it as empty")
            return {}
        return {key: value for key, value in records.items() if isinstance(key, str)}

    def _make_directory(self) -> None:
        """Create the missing directory levels, each mode 0700."""
        missing = [p for p in (self.path.parent, *self.path.parent.parents) if not p.exists()]
        for directory in reversed(missing):
            directory.mkdir(mode=0o700, exist_ok=True)

    def _encode(self, records: dict[str, Any]) -> bytes:
        """The file's bytes, within ``max_bytes``: the least recently saved records go first.

        :raises ValueError: the newest record alone is too large (or not JSON).
        """
        while True:
            body = {"format": FILE_FORMAT, "records": records}
            data = json.dumps(body, ensure_ascii=False, allow_nan=False).encode("utf-8")
            if len(data) <= self.max_bytes:
                return data
            if len(records) <= 1:
                raise ValueError(f"a record larger than {self.max_bytes} bytes is not stored")
            del records[next(iter(records))]

    def _write(self, records: dict[str, Any]) -> None:
        data = self._encode(records)
        directory = self.path.parent
        self._make_directory()
        fd, temp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temp, self.path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise


def _unusable(why: str) -> None:
    _warn(f"{why}; treating it as empty and leaving it untouched")


def _warn(message: str) -> None:
    """Log ``message`` and warn with it; a warning turned into an error is dropped (the log
    line stays): a store never makes ``register()`` fail."""
    log.warning("%s", message)
    with contextlib.suppress(Warning):
        warnings.warn(message, DeviceStoreWarning, stacklevel=3)


class StoreBinding:
    """A store and the key one session uses in it: what a face hands its driver. Never
    raises: a failing store is a :class:`DeviceStoreWarning`.

    A :class:`FileDeviceStore`'s updates run in a :class:`_BackgroundWriter`; meanwhile
    :meth:`load` answers with the latest update not yet written (what the file is about to
    hold), so a ``register()`` never reads a record an update is replacing."""

    __slots__ = ("_writer", "key", "store")

    def __init__(self, store: DeviceStore, key: str) -> None:
        self.store = store
        self.key = key
        background = isinstance(store, FileDeviceStore)
        self._writer = _BackgroundWriter(self._apply) if background else None

    def load(self) -> DeviceRecord | None:
        """The record for this key, or ``None``."""
        pending = None if self._writer is None else self._writer.latest()
        if pending is not None:
            return pending.record
        try:
            record = self.store.load(self.key)
        except Exception as exc:
            _warn(f"the device store could not be read: {type(exc).__name__}: {redact(str(exc))}")
            return None
        return record if isinstance(record, DeviceRecord) else None

    def update(self, effect: UpdateDeviceStore) -> None:
        """Carry out an :class:`~webex_meetings.core.effects.UpdateDeviceStore` effect (a file
        store's in its worker thread: this returns at once)."""
        if self._writer is None:
            self._apply(effect)
        else:
            self._writer.submit(effect)

    def flush(self, timeout: float = FLUSH_TIMEOUT) -> bool:
        """Wait up to ``timeout`` seconds for the updates handed over so far to be written;
        False (and a log line) when some still are not."""
        if self._writer is None or self._writer.wait(timeout):
            return True
        log.warning("the device store's last update is still being written after %g s", timeout)
        return False

    def _apply(self, effect: UpdateDeviceStore) -> None:
        try:
            if effect.record is None:
                self.store.forget(self.key)
            else:
                self.store.save(self.key, effect.record)
        except Exception as exc:
            _warn(
                f"the device store could not be written: {type(exc).__name__}: {redact(str(exc))}"
            )


class _BackgroundWriter:
    """Carries out one binding's store updates in a worker thread, in the order given and
    coalesced: each replaces the record under the same key, so only the latest one waiting
    is written (at most one waits, one is written: bounded). The thread runs while there is
    work and ends when there is none; it is not a daemon, so a process exiting normally
    still writes the last update."""

    __slots__ = ("_apply", "_idle", "_latest", "_lock", "_pending")

    def __init__(self, apply: Callable[[UpdateDeviceStore], None]) -> None:
        self._apply = apply
        self._lock = threading.Lock()
        self._pending: UpdateDeviceStore | None = None
        self._latest: UpdateDeviceStore | None = None
        """Handed over and not yet written (the one being written included)."""
        self._idle = threading.Event()
        self._idle.set()

    def submit(self, effect: UpdateDeviceStore) -> None:
        with self._lock:
            start = self._idle.is_set()
            self._pending = self._latest = effect
            self._idle.clear()
        if not start:
            return
        try:
            threading.Thread(target=self._run, name="webex-meetings store", daemon=False).start()
        except RuntimeError:  # no new thread (the interpreter is shutting down): write here
            self._run()

    def latest(self) -> UpdateDeviceStore | None:
        with self._lock:
            return self._latest

    def wait(self, timeout: float) -> bool:
        return self._idle.wait(timeout)

    def _run(self) -> None:
        while True:
            with self._lock:
                effect, self._pending = self._pending, None
                if effect is None:
                    self._latest = None
                    self._idle.set()
                    return
            self._apply(effect)
