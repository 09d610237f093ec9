"""The WDM device steps of a meetings session: create, prune, refresh, delete.

* ``POST {wdm}/devices?includeUpstreamServices=all`` creates the device; an answer we cannot
  use is deleted again if it carried a URL (never leave an orphan behind).
* "User has excessive device registrations" lists the user's devices, deletes the oldest third
  of *our own* (same name and type; never another client's) and POSTs once more.
* An ephemeral device is refreshed (``PUT <url>``, ``If-None-Match``) every ``ttl/2 + 60``
  seconds; a 404 means the server forgot it, so a new one is POSTed (the JS SDK's rule) and
  Mercury moves to the new device's websocket URL.
* ``DELETE <url>`` with 404/410 counting as done; rate limits and gateway errors are retried.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from . import device as device_protocol
from ._session_base import KEEPS_A_DEVICE, Registration, SessionBase
from .device import DeviceRegistration
from .errors import DeviceLimitError, RemoteProtocolError, WebexError
from .http import HttpResponse
from .http_client import CREATE, IDEMPOTENT
from .lifecycle import State

__all__ = ["DeviceSteps"]

log = logging.getLogger("webex_meetings.core.session")


class DeviceSteps(SessionBase):
    """The device half of :class:`~.session.MeetingsSession`."""

    def _register_device(self) -> None:
        """Step 2: POST the device."""
        assert self._catalog is not None
        try:
            wdm = self._catalog.require("wdm", step="device.register")
        except RemoteProtocolError as error:
            self._fail_registration(error)
            return
        sender = self._registration
        self._http.send(
            device_protocol.register_request(wdm, self._config.device),
            on_response=lambda response: self._device_created(response, sender),
            on_error=self._while_registering(self._device_refused),
            retry=CREATE,
        )

    def _device_created(self, response: HttpResponse, sender: Registration | None) -> None:
        registration = self._registration
        if sender is None or registration is not sender or sender.failed:
            # The register() that asked is over (failed, abandoned or replaced while the POST
            # was in flight): whatever the answer created must not be kept.
            self._delete_orphan(response)
            return
        try:
            device = device_protocol.parse_registration(response)
        except RemoteProtocolError as error:
            self._delete_orphan(response)
            self._fail_registration(error)
            return
        self._hold_device(device)
        self._connect_first()

    def _delete_orphan(self, response: HttpResponse) -> None:
        """A device answer we cannot use may still have created a device: delete it."""
        try:
            url = response.json_object().get("url")
        except RemoteProtocolError:
            return
        if isinstance(url, str) and url.startswith(("http://", "https://")):
            self._send_delete(url, on_done=lambda _error: None)

    def _device_refused(self, error: WebexError) -> None:
        registration = self._registration
        if (
            isinstance(error, DeviceLimitError)
            and self._config.device.prune_on_device_limit
            and registration is not None
            and not registration.pruned
        ):
            registration.pruned = True
            self._prune_own_devices(error)
        else:
            self._fail_registration(error)

    def _prune_own_devices(self, limit_error: DeviceLimitError) -> None:
        """Delete our own oldest devices (same name and type), then POST once more."""
        assert self._catalog is not None
        wdm = self._catalog.require("wdm", step="device.list")

        @self._while_registering
        def listed(response: HttpResponse) -> None:
            try:
                urls = device_protocol.devices_to_prune(response, self._config.device)
            except RemoteProtocolError as error:
                self._fail_registration(error)
                return
            if not urls:
                self._fail_registration(limit_error)
                return
            log.info("device limit reached: deleting %d of our own oldest devices", len(urls))
            remaining = set(urls)
            post_again = self._while_registering(self._register_device)

            def deleted(url: str) -> Callable[[WebexError | None], None]:
                def done(_error: WebexError | None) -> None:
                    remaining.discard(url)
                    if not remaining:
                        post_again()

                return done

            for url in urls:
                self._send_delete(url, on_done=deleted(url))

        self._http.send(
            device_protocol.list_request(wdm),
            on_response=listed,
            on_error=self._while_registering(self._fail_registration),
            retry=IDEMPOTENT,
        )

    def _hold_device(self, device: DeviceRegistration) -> None:
        self._device = device
        self._http.device_url = device.url
        self._arm_device_refresh()

    def _forget_device(self) -> None:
        self._device = None
        self._http.device_url = None
        self._timers.cancel(self._device_refresh_timer)
        self._device_refresh_timer = None

    def _arm_device_refresh(self) -> None:
        self._timers.cancel(self._device_refresh_timer)
        self._device_refresh_timer = None
        if self._config.device.ephemeral:
            self._device_refresh_timer = self._timers.start(
                self._config.device.refresh_interval, self._periodic_device_refresh
            )

    def _periodic_device_refresh(self) -> None:
        self._device_refresh_timer = None
        old_socket_url = None if self._device is None else self._device.web_socket_url

        def refreshed() -> None:
            new_url = None if self._device is None else self._device.web_socket_url
            if new_url != old_socket_url and self._socket is not None and self._socket.opened:
                # The device was re-created: move Mercury to its new URL.
                self._reconnect_after_close = True
                self._run_mercury(self._socket, self._socket.protocol.close(1000, "Done"))

        def failed(error: WebexError) -> None:
            log.warning("device refresh failed: %s", error)
            self._arm_device_refresh()

        self._refresh_device(then=refreshed, on_error=failed)

    def _refresh_device(
        self, *, then: Callable[[], None], on_error: Callable[[WebexError], None]
    ) -> None:
        """PUT the device; a 404 means it is gone, so POST a new one (the JS SDK's rule).

        The old device stays held until its replacement exists, so a failed re-creation
        leaves the session with a device to retry with (and to delete). Answers that come
        after the device was replaced, forgotten or is being unregistered are dropped.
        """
        device = self._device
        assert device is not None

        def current() -> bool:
            return self._holds(device) and self.state not in (
                State.UNREGISTERING,
                State.UNREGISTERED,
                State.READY,
            )

        def received(response: HttpResponse) -> None:
            if not current():
                return
            if response.status == 404:
                if self.state in KEEPS_A_DEVICE:
                    self._recreate_device(replacing=device, then=then, on_error=on_error)
                return  # disconnected: unregister() will find it gone, which is fine
            if response.status == 304:
                self._arm_device_refresh()
            else:
                try:
                    self._hold_device(device_protocol.parse_registration(response, previous=device))
                except RemoteProtocolError as error:
                    on_error(error)
                    return
            then()

        def failed(error: WebexError) -> None:
            if current():
                on_error(error)

        self._http.send(
            device_protocol.refresh_request(device, self._config.device),
            on_response=received,
            on_error=failed,
            retry=IDEMPOTENT,
            accept=frozenset({304, 404}),
        )

    def _holds(self, device: DeviceRegistration) -> bool:
        """True while ``device`` (or a refreshed copy of it: same URL) is the one held."""
        return self._device is not None and self._device.url == device.url

    def _recreate_device(
        self,
        *,
        replacing: DeviceRegistration,
        then: Callable[[], None],
        on_error: Callable[[WebexError], None],
    ) -> None:
        """POST a device to replace ``replacing``, which the server forgot. One POST at a
        time: a second caller (a periodic refresh racing a reconnect) waits for the same."""
        waiting = self._recreation_waiters
        waiting.append((then, on_error))
        if len(waiting) > 1:
            return
        assert self._catalog is not None
        try:
            wdm = self._catalog.require("wdm", step="device.register")
        except RemoteProtocolError as error:
            self._recreation_done(error)
            return

        def wanted() -> bool:
            return self._holds(replacing) and self.state in KEEPS_A_DEVICE

        def created(response: HttpResponse) -> None:
            if not wanted():  # unregistered (or replaced) meanwhile: keep nothing
                self._delete_orphan(response)
                self._recreation_waiters.clear()
                return
            try:
                device = device_protocol.parse_registration(response)
            except RemoteProtocolError as error:
                self._delete_orphan(response)
                self._recreation_done(error)
                return
            self._hold_device(device)
            self._recreation_done(None)

        def failed(error: WebexError) -> None:
            if wanted():
                self._recreation_done(error)
            else:
                self._recreation_waiters.clear()

        self._http.send(
            device_protocol.register_request(wdm, self._config.device),
            on_response=created,
            on_error=failed,
            retry=CREATE,
        )

    def _recreation_done(self, error: WebexError | None) -> None:
        waiting = list(self._recreation_waiters)
        self._recreation_waiters.clear()
        for then, on_error in waiting:
            if error is None:
                then()
            else:
                on_error(error)

    def _send_delete(self, url: str, *, on_done: Callable[[WebexError | None], None]) -> None:
        self._http.send(
            device_protocol.delete_request(url),
            on_response=lambda _response: on_done(None),
            on_error=on_done,
            retry=IDEMPOTENT,
            accept=frozenset({404, 410}),
        )
