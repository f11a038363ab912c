"""Token counting with the model's own tokenizer, cached per text.

Each turn's text is counted once and remembered, so rendering a prompt costs a few dictionary
lookups plus the count of what is new since the last turn. When the backend shares its
vocabulary, a whole prompt's count is the sum of its cached pieces' counts wherever no token
can span the joins (bot/prompt/joins.py), so the prompt need not be tokenised again each turn.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from itertools import pairwise
from typing import Protocol

from bot.common.memo import LruCache
from bot.prompt.joins import JoinChecker

log = logging.getLogger(__name__)

# A piece inside a prompt is counted as it is tokenised after a line break: the count of
# BREAK + piece, less the count of BREAK (a SentencePiece tokenizer adds a space before the
# first word of a text, so a piece counted alone can cost one token more than in place).
BREAK = "\n"
VERIFY_FIRST = 3  # whole-prompt counts compared with the sum at first...
VERIFY_EVERY = 200  # ...and then now and then, in case a tokenizer breaks the assumption


class Counts(Protocol):
    async def count_tokens(self, text: str) -> int: ...


class TokenCounter:
    """An LRU cache in front of a backend's ``count_tokens`` (or ``count_tokens_many``).

    The only cache of token counts: backends count every time they are asked."""

    def __init__(
        self,
        backend: Counts,
        *,
        max_entries: int = 50_000,
        verify_first: int = VERIFY_FIRST,
        verify_every: int = VERIFY_EVERY,
    ) -> None:
        self._backend = backend
        self._cache: LruCache[str, int] = LruCache(max_entries)
        self._joins: JoinChecker | None = None
        self._joins_known = False
        self._joins_lock = asyncio.Lock()
        self._safe: LruCache[tuple[str, str], bool] = LruCache(max_entries)
        self._verify_first = verify_first
        self._verify_every = verify_every
        self.summed = 0  # prompts counted from their pieces' counts
        self._sums_trusted = True

    async def count(self, text: str) -> int:
        return (await self.count_many([text]))[0]

    async def count_many(self, texts: Sequence[str]) -> list[int]:
        # Counts are taken out before any is added: a batch larger than the cache would
        # otherwise push out what it is about to read.
        known: dict[str, int] = {}
        for text in dict.fromkeys(texts):
            count = self._cache.get(text)
            if count is not None:
                known[text] = count
        missing = [t for t in dict.fromkeys(texts) if t not in known]
        if missing:
            many = getattr(self._backend, "count_tokens_many", None)
            if many is not None:
                counts = await many(missing)
            else:
                counts = await asyncio.gather(*(self._backend.count_tokens(t) for t in missing))
            for text, count in zip(missing, counts, strict=True):
                known[text] = self._cache[text] = count
        return [known[text] for text in texts]

    async def count_in_prompt(self, texts: Sequence[str]) -> list[int]:
        """What each text costs inside a prompt, after a line break or another piece.

        Exact where the join is safe (see ``count_joined``); without the vocabulary, each
        text's own count."""
        if await self.joins() is None:
            return await self.count_many(texts)
        counts = await self.count_many([BREAK, *(BREAK + text if text else "" for text in texts)])
        base = counts[0]
        return [count - base if text else 0 for text, count in zip(texts, counts[1:], strict=True)]

    async def count_joined(self, pieces: Sequence[str]) -> int:
        """Tokens of ``"".join(pieces)``, from cached counts.

        Pieces are glued into runs wherever a token of the vocabulary could span the join;
        the runs are counted where they stand and added up (bot/prompt/joins.py). Runs repeat
        from turn to turn, so their counts are cached. Without the vocabulary the whole text
        is counted."""
        pieces = [piece for piece in pieces if piece]
        if not pieces:
            return 0
        checker = await self.joins()
        if checker is None or not self._sums_trusted:
            return await self.count("".join(pieces))
        runs = self._runs(checker, pieces)
        total = await self.count(runs[0]) + sum(await self.count_in_prompt(runs[1:]))
        self.summed += 1
        every = self._verify_every
        if self.summed <= self._verify_first or (every and self.summed % every == 0):
            whole = await self.count("".join(pieces))
            if whole != total:
                self._sums_trusted = False
                log.warning(
                    "This model's tokenizer counts a prompt as %d tokens where its pieces add up "
                    "to %d; counting whole prompts from now on (a little slower)",
                    whole,
                    total,
                )
                return whole
        return total

    async def joins(self) -> JoinChecker | None:
        """The vocabulary's join checker, once the backend can tell its token pieces."""
        if self._joins_known:
            return self._joins
        async with self._joins_lock:
            if not self._joins_known:
                pieces_of = getattr(self._backend, "token_pieces", None)
                pieces = await pieces_of() if pieces_of is not None else None
                if pieces:
                    self._joins = await asyncio.to_thread(JoinChecker, pieces)
                self._joins_known = True
        return self._joins

    def _runs(self, checker: JoinChecker, pieces: Sequence[str]) -> list[str]:
        """``pieces`` joined into runs that no token spans the borders of."""
        runs: list[str] = []
        current = [pieces[0]]
        for before, piece in pairwise(pieces):
            if self._is_safe(checker, before, piece) and self._is_safe(checker, BREAK, piece):
                runs.append("".join(current))
                current = []
            current.append(piece)
        runs.append("".join(current))
        return runs

    def _is_safe(self, checker: JoinChecker, left: str, right: str) -> bool:
        safe = self._safe.get((left, right))
        if safe is None:
            safe = self._safe[(left, right)] = checker.safe(left, right)
        return safe
