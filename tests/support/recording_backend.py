"""A backend for tests that assert on prompts: it records what it was asked and replies from a
script. It implements the same Backend protocol as the real ones and never ships in bot/."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field

from bot.inference.base import GenerationParams
from testkit.support.scripted import ScriptedBasics, stream_pieces


@dataclass
class RecordedCall:
    prompt: str
    params: GenerationParams
    stop: tuple[str, ...]


@dataclass
class RecordingBackend(ScriptedBasics):
    """Replies with ``replies`` in order (the last one repeats), word by word."""

    replies: list[str] = field(default_factory=lambda: ["Hello there."])
    context_length: int = 2048
    delay: float = 0.0  # seconds between pieces, to test streaming and concurrency
    calls: list[RecordedCall] = field(default_factory=list)
    name: str = "recording"
    model_name: str = "recording-model"
    release: asyncio.Event | None = None  # when set, generation waits for it before replying

    async def stream(
        self, prompt: str, params: GenerationParams, stop: Sequence[str]
    ) -> AsyncIterator[str]:
        self.calls.append(RecordedCall(prompt, params, tuple(stop)))
        if self.release is not None:
            await asyncio.wait_for(self.release.wait(), timeout=10)
        index = min(len(self.calls) - 1, len(self.replies) - 1)
        async for out in stream_pieces(_pieces(self.replies[index]), stop, delay=self.delay):
            yield out

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
