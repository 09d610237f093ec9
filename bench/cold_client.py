"""One cold register/unregister cycle of our library, as a fresh process (``node register.mjs``'s
counterpart): ``python bench/cold_client.py BASE_URL TOKEN``.

Prints one JSON line with the in-process timings (ms) of the same steps register.mjs times,
measured from before the library is imported. Exit status 0 only if both steps succeeded.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import json  # noqa: E402
import sys  # noqa: E402

import anyio  # noqa: E402


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 3)


async def cycle(base_url: str, token: str) -> dict[str, float]:
    import_started = time.perf_counter()
    from webex_meetings.webex import Webex

    timings = {"import": _ms(import_started)}
    init_call = time.perf_counter()
    async with Webex.init(credentials={"access_token": token}, cloud=base_url) as webex:
        timings["init"] = _ms(init_call)
        register_call = time.perf_counter()
        await webex.meetings.register()
        timings["register"] = _ms(register_call)
        if not webex.meetings.registered:
            raise SystemExit("register() resolved but the device is not registered")
        unregister_call = time.perf_counter()
        await webex.meetings.unregister()
        timings["unregister"] = _ms(unregister_call)
        timings["total"] = _ms(init_call)
    timings["since_start"] = _ms(STARTED)
    return timings


def main() -> None:
    base_url, token = sys.argv[1], sys.argv[2]
    timings = anyio.run(cycle, base_url, token, backend="asyncio")
    print(json.dumps({"ok": True, "durations_ms": timings}), flush=True)


if __name__ == "__main__":
    main()
