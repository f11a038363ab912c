"""A backend whose model thread is busy, as ctransformers' is while it writes a reply: token
counts wait for the thread, and a reply being written finishes evaluating its prompt before it
can stop (cancelling it waits). Used to test Discord's 3-second deadline; never ships in bot/."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from bot.inference.base import GenerationParams
from tests.support.recording_backend import RecordingBackend

HOLD_LIMIT = 10.0  # seconds: a test that forgets to free the thread still ends


@dataclass
class BusyBackend(RecordingBackend):
    thread_free: asyncio.Event = field(default_factory=asyncio.Event)
    hold_counts: bool = False  # token counts wait for ``thread_free``
    hold_prompts: bool = False  # prompt evaluation waits for ``thread_free``, uncancellably
    hold_queue: bool = False  # a reply waits its turn for ``thread_free`` (cancellable)
    evaluating: int = 0  # prompts started

    async def count_tokens(self, text: str) -> int:
        if self.hold_counts:
            await asyncio.wait_for(self.thread_free.wait(), HOLD_LIMIT)
        return await super().count_tokens(text)

    async def stream(
        self, prompt: str, params: GenerationParams, stop: Sequence[str]
    ) -> AsyncIterator[str]:
        self.evaluating += 1
        if self.hold_queue:
            await asyncio.wait_for(self.thread_free.wait(), HOLD_LIMIT)
        if self.hold_prompts:
            evaluating = asyncio.ensure_future(
                asyncio.wait_for(self.thread_free.wait(), HOLD_LIMIT)
            )
            try:
                await asyncio.shield(evaluating)
            except asyncio.CancelledError:
                await evaluating  # the thread cannot be interrupted mid-evaluation
                raise
        async for out in super().stream(prompt, params, stop):
            yield out
