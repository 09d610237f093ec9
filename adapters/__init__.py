"""Drivers that pump the sans-IO core: anyio (asyncio and trio), native trio, blocking."""
