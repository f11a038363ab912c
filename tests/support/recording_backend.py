"""A backend for tests that assert on prompts: it records what it was asked and replies from a
script. It implements the same Backend protocol as the real ones and never ships in bot/."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field

from bot.inference.base import Capabilities, GenerationParams
from bot.inference.stops import StopMatcher


@dataclass
class RecordedCall:
    prompt: str
    params: GenerationParams
    stop: tuple[str, ...]


@dataclass
class RecordingBackend:
    """Replies with ``replies`` in order (the last one repeats), word by word."""

    replies: list[str] = field(default_factory=lambda: ["Hello there."])
    context_length: int = 2048
    delay: float = 0.0  # seconds between pieces, to test streaming and concurrency
    calls: list[RecordedCall] = field(default_factory=list)
    name: str = "recording"
    model_name: str = "recording-model"
    release: asyncio.Event | None = None  # when set, generation waits for it before replying

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(samplers=frozenset({"top_p", "top_k", "repetition_penalty", "seed"}))

    async def load(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def count_tokens(self, text: str) -> int:
        # Deterministic and close to a real tokenizer's count for English text.
        return max(1, (len(text.encode()) + 3) // 4) if text else 0

    async def stream(
        self, prompt: str, params: GenerationParams, stop: Sequence[str]
    ) -> AsyncIterator[str]:
        self.calls.append(RecordedCall(prompt, params, tuple(stop)))
        if self.release is not None:
            await asyncio.wait_for(self.release.wait(), timeout=10)
        index = min(len(self.calls) - 1, len(self.replies) - 1)
        matcher = StopMatcher(stop)
        for piece in _pieces(self.replies[index]):
            if self.delay:
                await asyncio.sleep(self.delay)
            out = matcher.feed(piece)
            if out:
                yield out
            if matcher.stopped:
                return
        tail = matcher.flush()
        if tail:
            yield tail

    @property
    def prompts(self) -> list[str]:
        return [call.prompt for call in self.calls]


def _pieces(text: str) -> Iterable[str]:
    word = ""
    for char in text:
        word += char
        if char == " ":
            yield word
            word = ""
    if word:
        yield word
