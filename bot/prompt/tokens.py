"""Token counting with the model's own tokenizer, cached per text.

Each turn's text is counted once and remembered, so rendering a prompt costs a few dictionary
lookups plus the count of what is new since the last turn.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Sequence
from typing import Protocol


class Counts(Protocol):
    async def count_tokens(self, text: str) -> int: ...


class TokenCounter:
    """An LRU cache in front of a backend's ``count_tokens`` (or ``count_tokens_many``)."""

    def __init__(self, backend: Counts, *, max_entries: int = 50_000) -> None:
        self._backend = backend
        self._cache: OrderedDict[str, int] = OrderedDict()
        self._max = max_entries

    async def count(self, text: str) -> int:
        return (await self.count_many([text]))[0]

    async def count_many(self, texts: Sequence[str]) -> list[int]:
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            many = getattr(self._backend, "count_tokens_many", None)
            if many is not None:
                counts = await many(missing)
            else:
                counts = await asyncio.gather(*(self._backend.count_tokens(t) for t in missing))
            for text, count in zip(missing, counts, strict=True):
                self._cache[text] = count
            while len(self._cache) > self._max:
                self._cache.popitem(last=False)
        result = []
        for text in texts:
            self._cache.move_to_end(text)
            result.append(self._cache[text])
        return result
