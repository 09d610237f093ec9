"""The sans-IO core: synchronous, no sockets, no clocks, no async.

It turns inputs (:mod:`.inputs`) into effects (:mod:`.effects`) following the Webex protocol
(:mod:`.credentials`, :mod:`.catalog`, :mod:`.device`, :mod:`.mercury`) and the lifecycle
table (:mod:`.lifecycle`); :mod:`.session` ties them together. Nothing here imports anyio,
trio, httpx or asyncio; ``tests/core/test_purity.py`` enforces it.
"""
