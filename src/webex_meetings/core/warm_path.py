"""The session's side of the device store: the record a ``register()`` starts from, and the
records it hands over.

Theory of operation
-------------------
The *warm path* (:mod:`.device_store`): a usable record fed as
:class:`~.inputs.DeviceRecordLoaded` before ``Register`` replaces the catalog fetch by the
stored catalog and, when it holds a device that may still exist, the device POST by that
device, so only Mercury runs (``people/me`` alongside, never waited for). When the stored
device turns out to be gone or refused (the upgrade answered one of
:data:`STORED_DEVICE_REFUSED`, or Mercury refused it before letting it in), it is deleted
(never waited for), forgotten, and the same ``register()`` goes on cold, from the device POST
(``MeetingsSession._warm_device_refused``). The record is taken only once a usable token is
in hand, and a stored device is deleted only when it is refused: a registration failing for
another reason (no token, a timeout, a cancel) leaves the store as it was.

Whenever what a later process should find changes, an :class:`~.effects.UpdateDeviceStore`
effect says so (after the command's completion, never ahead of it). The session remembers the
record it last stored, and the next ``register()`` starts from that one, not from one loaded
before it. A record with a secret in it (a server echoing a token in a device field) is never
handed over: ``None`` goes instead, unless the session was built with
``records_stay_in_process`` (the face's own memory store, which no application reads): then
no record is searched for secrets.

The session keeps all the state (the offered record, the catalog, the device and when it
was refreshed, the lifecycle) and passes what these functions need explicitly: they decide
what of a loaded record is used (:func:`usable`) and what record goes to the store
(:func:`record_of`); the session alone emits the effect and remembers what it stored.
"""

from __future__ import annotations

import logging
from typing import Final

from . import device_store
from .catalog import ServiceCatalog
from .config import SessionConfig
from .credentials import Credentials
from .device import DeviceRegistration

__all__ = ["STORED_DEVICE_REFUSED", "record_of", "usable"]

log = logging.getLogger("webex_meetings.core.session")  # the session's decisions, its logger

STORED_DEVICE_REFUSED: Final = frozenset({401, 403, 404, 410})
"""Upgrade statuses that end the warm path: the stored device is gone or not ours to use."""


def usable(
    record: device_store.DeviceRecord, config: SessionConfig, *, now: float
) -> device_store.UsableRecord | None:
    """What of ``record`` a session with ``config`` may use at ``now``; ``None`` (logged)
    when nothing: the session then forgets the record."""
    found = device_store.check_record(record, config, now=now)
    if isinstance(found, str):
        log.warning("the device store's record is not used: %s", found)
        return None
    return found


def record_of(
    catalog: ServiceCatalog | None,
    catalog_fetched_at: float,
    device: DeviceRegistration | None,
    *,
    refreshed_at: float,
    config: SessionConfig,
    credentials: Credentials | None,
) -> device_store.DeviceRecord | None:
    """The record a later process should find: the catalog, and ``device`` (refreshed at
    ``refreshed_at``) when given. ``None`` without a catalog, or when ``credentials`` are
    given and one of their secrets stands in the record (``None``: search for none)."""
    if catalog is None:
        return None
    stored = None
    if device is not None:
        ttl = config.device.ttl if config.device.ephemeral else None
        stored = device_store.StoredDevice.of(device, refreshed_at=refreshed_at, ttl=ttl)
    services = device_store.catalog_services(catalog, config)
    record = device_store.DeviceRecord(config.discovery.u2c, services, catalog_fetched_at, stored)
    if credentials is None or device_store.holds_no_secret(record, credentials):
        return record
    log.warning("not storing the device record: an answer echoed a secret")
    return None
