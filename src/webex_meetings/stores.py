"""Device stores: where a session leaves its device record for the next process.

A store keeps one :class:`~webex_meetings.core.device_store.DeviceRecord` per key (a user
on a cloud, :func:`~webex_meetings.core.device_store.device_store_key`). ``Webex(store=...)``
takes any object with the three methods of :class:`DeviceStore`; two are shipped:

* :class:`MemoryDeviceStore`, the default (one per ``Webex``): the catalog is reused by the
  next ``register()`` of the same instance, and a device kept with
  ``unregister(keep_device=True)`` too, but nothing outlives the process;
* :class:`FileDeviceStore`, one JSON file: a restarted process registers warm.

The methods are called on the event loop (or the blocking face's loop thread), so they must
be quick: the file store reads and writes one small local file. Whatever a store raises is
turned into a :class:`DeviceStoreWarning` and the session goes on as with an empty store: a
store can make ``register()`` faster, never make it fail.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, Final, Protocol, runtime_checkable

from .core.device_store import DeviceRecord, record_from_json
from .core.effects import UpdateDeviceStore
from .core.redaction import redact

__all__ = [
    "DeviceStore",
    "DeviceStoreWarning",
    "FileDeviceStore",
    "MemoryDeviceStore",
    "StoreBinding",
]

log = logging.getLogger("webex_meetings.stores")

FILE_FORMAT: Final = "webex-meetings device store"
"""The ``format`` field of a :class:`FileDeviceStore` file: anything else is foreign."""


class DeviceStoreWarning(UserWarning):
    """A device store could not be read or written (corrupt, foreign, too large, a disk
    error): it is treated as empty, and ``register()`` goes the cold way."""


@runtime_checkable
class DeviceStore(Protocol):
    """Where device records live, by key. Implement these three to keep them elsewhere (a
    keyring, a database); each must be quick (it runs on the event loop) and may raise (the
    failure becomes a :class:`DeviceStoreWarning`)."""

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
      half of one. A directory it creates is mode 0700.
    * Read defensively: a file larger than ``max_bytes``, not JSON, or not of this format
      (a foreign file) reads as empty, with a :class:`DeviceStoreWarning`; so does a record
      that does not parse. Nothing in it is trusted: the session checks every record.
    * Bounded: at most ``max_records`` records and ``max_bytes`` in all (the least recently
      saved go first; a single record beyond ``max_bytes`` is not stored).
    * Holds no secret: records have no token field, and the session refuses to save one that
      contains a secret. Processes sharing a file: the last writer wins for the whole file.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, max_bytes: int = 1 << 20, max_records: int = 64
    ) -> None:
        self.path = Path(path).expanduser()
        self.max_bytes = max_bytes
        self.max_records = max_records

    def __repr__(self) -> str:
        return f"<FileDeviceStore {str(self.path)!r}>"

    def load(self, key: str) -> DeviceRecord | None:
        """The record saved under ``key``, or ``None`` (also when the file is unusable)."""
        value = self._read().get(key)
        if value is None:
            return None
        try:
            return record_from_json(value)
        except ValueError as exc:
            _warn(f"{self.path}: a record is unusable ({exc}); ignoring it")
            return None

    def save(self, key: str, record: DeviceRecord) -> None:
        """Save ``record`` under ``key``.

        :raises OSError: the file or its directory cannot be written.
        :raises ValueError: the record alone exceeds ``max_bytes``.
        """
        records = self._read()
        records.pop(key, None)
        records[key] = record.to_json()
        while len(records) > self.max_records:
            del records[next(iter(records))]
        self._write(records)

    def forget(self, key: str) -> None:
        """Remove the record under ``key``.

        :raises OSError: the file cannot be written.
        """
        records = self._read()
        if records.pop(key, None) is not None:
            self._write(records)

    # -- the file -------------------------------------------------------------------------

    def _read(self) -> dict[str, Any]:
        try:
            with open(self.path, "rb") as file:
                data = file.read(self.max_bytes + 1)
        except FileNotFoundError:
            return {}
        except OSError as exc:
            _warn(f"{self.path}: cannot be read ({type(exc).__name__}); treating it as empty")
            return {}
        if len(data) > self.max_bytes:
            _warn(f"{self.path}: larger than {self.max_bytes} bytes; treating it as empty")
            return {}
        try:
            body = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            _warn(f"{self.path}: not a JSON device store; treating it as empty")
            return {}
        records = body.get("records") if isinstance(body, dict) else None
        if not isinstance(records, dict) or body.get("format") != FILE_FORMAT:
            _warn(f"{self.path}: not a webex-meetings device store; treating it as empty")
            return {}
        return {key: value for key, value in records.items() if isinstance(key, str)}

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
        if not directory.exists():
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
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


def _warn(message: str) -> None:
    warnings.warn(message, DeviceStoreWarning, stacklevel=3)


class StoreBinding:
    """A store and the key one session uses in it: what a face hands its driver. Never
    raises: a failing store is a :class:`DeviceStoreWarning`."""

    __slots__ = ("key", "store")

    def __init__(self, store: DeviceStore, key: str) -> None:
        self.store = store
        self.key = key

    def load(self) -> DeviceRecord | None:
        """The record for this key, or ``None``."""
        try:
            record = self.store.load(self.key)
        except Exception as exc:
            _warn(f"the device store could not be read: {type(exc).__name__}: {redact(str(exc))}")
            return None
        return record if isinstance(record, DeviceRecord) else None

    def update(self, effect: UpdateDeviceStore) -> None:
        """Carry out an :class:`~webex_meetings.core.effects.UpdateDeviceStore` effect."""
        try:
            if effect.record is None:
                self.store.forget(self.key)
            else:
                self.store.save(self.key, effect.record)
        except Exception as exc:
            _warn(
                f"the device store could not be written: {type(exc).__name__}: {redact(str(exc))}"
            )
