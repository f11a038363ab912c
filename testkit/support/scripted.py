"""What the tests' scripted backends share: the Backend protocol's plumbing and a stream that
honours stop sequences like the real backends do."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Sequence

from bot.inference.base import Capabilities
from bot.inference.stops import StopMatcher


class ScriptedBasics:
    """capabilities, load, close and a deterministic token count close to a real tokenizer's
    for English text."""

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(samplers=frozenset({"top_p", "top_k", "repetition_penalty", "seed"}))

    async def load(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def count_tokens(self, text: str) -> int:
        return max(1, (len(text.encode("utf-8", "surrogatepass")) + 3) // 4) if text else 0


async def stream_pieces(
    pieces: Iterable[str], stop: Sequence[str], *, delay: float = 0.0
) -> AsyncIterator[str]:
    """Yield ``pieces`` (``delay`` seconds apart) until a stop sequence begins."""
    matcher = StopMatcher(stop)
    for piece in pieces:
        if delay:
            await asyncio.sleep(delay)
        out = matcher.feed(piece)
        if out:
            yield out
        if matcher.stopped:
            return
    tail = matcher.flush()
    if tail:
        yield tail
