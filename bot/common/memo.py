"""What the bot keeps in memory between messages: always bounded.

``LruCache``: the one bounded map for anything remembered to save work (token counts, books
read, built matchers), forgetting the least recently used past a limit. ``ExpiringMemo``:
values read on every message, kept for a few seconds. The process that changes a value
forgets it at once; a change made by another process (a rolling deploy of a shard) is seen
once the memory runs out. Per-session facts that only this process produces (the window a
session's prompt starts from, who wrote last, a channel's latest reply) are ``LruCache``s
too, sized well above the sessions one process serves.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator
from typing import Generic, TypeVar, overload

K = TypeVar("K")
V = TypeVar("V")
D = TypeVar("D")


class LruCache(Generic[K, V]):
    """At most ``limit`` entries; past it, the least recently used (read or written) goes.

    Not locked: a cache shared between threads is used under the owner's lock. Membership
    tests (``in``) do not count as a use, so a check-then-read pays once."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("an LRU cache holds at least one entry")
        self.limit = limit
        self._items: OrderedDict[K, V] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __iter__(self) -> Iterator[K]:
        """Keys from the least to the most recently used."""
        return iter(self._items)

    def __getitem__(self, key: K) -> V:
        value = self._items[key]
        self._items.move_to_end(key)
        return value

    def __setitem__(self, key: K, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        if len(self._items) > self.limit:
            self._items.popitem(last=False)

    @overload
    def get(self, key: K) -> V | None: ...
    @overload
    def get(self, key: K, default: D) -> V | D: ...
    def get(self, key: K, default: object = None) -> object:
        """The value for ``key`` (now the most recently used), else ``default``."""
        try:
            return self[key]
        except KeyError:
            return default

    def __delitem__(self, key: K) -> None:
        del self._items[key]

    @overload
    def pop(self, key: K) -> V | None: ...
    @overload
    def pop(self, key: K, default: D) -> V | D: ...
    def pop(self, key: K, default: object = None) -> object:
        """Forget ``key``; its value, or ``default`` when it was not kept."""
        return self._items.pop(key, default)

    def clear(self) -> None:
        self._items.clear()


class ExpiringMemo(Generic[K, V]):
    """Values kept ``seconds`` each, at most ``size`` of them (the least recently used go)."""

    def __init__(
        self, seconds: float, *, size: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.seconds = seconds
        self._clock = clock
        self._values: LruCache[K, tuple[float, V]] = LruCache(size)
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
        self._values[key] = (self._clock() + self.seconds, value)

    def forget(self, key: K) -> None:
        """Call before and after changing ``key``'s value."""
        self._changes += 1
        self._values.pop(key)
