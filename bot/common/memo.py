"""What the bot keeps in memory between messages: always bounded.

``ExpiringMemo``: values read on every message, kept for a few seconds. The process that
changes a value forgets it at once; a change made by another process (a rolling deploy of a
shard) is seen once the memory runs out. ``BoundedDict``: per-session facts that only this
process produces, forgetting the least recently set past a limit.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class BoundedDict(dict[K, V]):
    """A dict that forgets its least recently set entries past ``limit``."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self._limit = limit

    def __setitem__(self, key: K, value: V) -> None:
        super().pop(key, None)  # re-inserted last: the most recently set stays
        super().__setitem__(key, value)
        if len(self) > self._limit:
            del self[next(iter(self))]


class ExpiringMemo(Generic[K, V]):
    def __init__(
        self, seconds: float, *, size: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.seconds = seconds
        self._size = size
        self._clock = clock
        self._values: dict[K, tuple[float, V]] = {}
        self._changes = 0  # a read that overlapped a change must not keep the old value

    async def get(self, key: K, read: Callable[[], Awaitable[V]]) -> V:
        """The value remembered for ``key``, or what ``read()`` returns (then remembered)."""
        kept = self._values.get(key)
        if kept is not None and kept[0] > self._clock():
            return kept[1]
        changes = self._changes
        value = await read()
        if changes == self._changes:
            self.put(key, value)
        return value

    def put(self, key: K, value: V) -> None:
        if len(self._values) >= self._size:
            self._values.clear()  # bounded; what is in use comes back at once
        self._values[key] = (self._clock() + self.seconds, value)

    def forget(self, key: K) -> None:
        """Call before and after changing ``key``'s value."""
        self._changes += 1
        self._values.pop(key, None)
