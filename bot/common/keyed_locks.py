"""One asyncio lock per key (a channel, a session) that exists only while someone needs it.

A plain ``dict[key, Lock]`` keeps a lock for every channel ever seen: over months of a large
bot that is memory that only grows. Here an entry counts the tasks holding or waiting for its
lock and goes away when the last one leaves, so a quiet channel costs nothing, and a lock that
is held (or waited for) is never dropped: two tasks for one key always share one lock.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


@dataclass
class _Entry:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0  # tasks holding or waiting for the lock


class KeyedLocks(Generic[K]):
    def __init__(self) -> None:
        self._entries: dict[K, _Entry] = {}

    @asynccontextmanager
    async def hold(self, key: K) -> AsyncIterator[None]:
        """Hold ``key``'s lock for the ``async with`` block (in the order tasks asked)."""
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = _Entry()
        entry.users += 1
        try:
            async with entry.lock:
                yield
        finally:
            entry.users -= 1
            if entry.users == 0 and self._entries.get(key) is entry:
                del self._entries[key]

    def locked(self, key: K) -> bool:
        entry = self._entries.get(key)
        return entry is not None and entry.lock.locked()

    def __len__(self) -> int:
        """Keys with a task holding or waiting for their lock (what memory holds)."""
        return len(self._entries)
