"""store/locks: one asyncio lock per app, so that a change to an app that reads before it writes lands after
the one before it (Store.app_writes holds it)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class AppLocks:
    """One asyncio lock per app, dropped once nobody holds or waits for it (apps come and go)."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}  # app id -> its lock, holders and waiters

    @asynccontextmanager
    async def hold(self, app_id: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(app_id, (asyncio.Lock(), 0))
        self._locks[app_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[app_id]
            if users == 1:
                del self._locks[app_id]
            else:
                self._locks[app_id] = (lock, users - 1)
