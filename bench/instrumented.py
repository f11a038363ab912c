"""A Backend wrapper that records what each generation cost, for any backend beneath it.

It sits *under* whatever the core puts in front of the backend (the engine today, a scheduler
tomorrow), so the core's own queueing is measured as it is. For the two local backends it also
asks the library how many prompt tokens were really evaluated: ctransformers through the
backend's ``last_stats``, llama-cpp through the batch backend's own per-reply records. A
serial backend's generations are kept apart by the wrapper's lock without changing their order.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

from bot.inference.base import (
    Backend,
    Capabilities,
    GenerationParams,
    context_resident,
    open_stream,
)


@dataclass(slots=True)
class GenerationRecord:
    """One call of ``stream``: when it was asked for, started, spoke first, and finished."""

    prompt: str
    requested: float
    started: float = 0.0
    first_piece: float | None = None
    finished: float = 0.0
    prompt_tokens: int | None = None
    evaluated_tokens: int | None = None  # prompt tokens the model really had to evaluate
    generated_tokens: int | None = None
    prompt_seconds: float | None = None
    pieces: int = 0

    @property
    def seconds(self) -> float:
        return self.finished - self.started


class _CostProbe:
    """Reads one generation's token counts from a backend library; base: nothing known."""

    def before(self, prompt: str) -> None:
        """Called under the lock just before the generation starts."""

    def after(self, record: GenerationRecord) -> None:
        """Called under the lock after the generation ended."""


class _CTransformersProbe(_CostProbe):
    def __init__(self, backend: Any) -> None:
        self._backend = backend

    def after(self, record: GenerationRecord) -> None:
        stats = getattr(self._backend, "last_stats", None)
        if stats is not None:
            record.prompt_tokens = stats.prompt_tokens
            record.evaluated_tokens = stats.evaluated_tokens
            record.generated_tokens = stats.generated_tokens
            record.prompt_seconds = stats.prompt_seconds


class _LlamaBatchProbe(_CostProbe):
    """The batch backend records each reply's cost itself (``finished``: prompt tokens, the
    ones its sequence already held, tokens generated); summaries written in the background
    (no conversation key) are not the reply being measured."""

    def __init__(self, backend: Any) -> None:
        self._backend = backend

    def after(self, record: GenerationRecord) -> None:
        for stats in reversed(self._backend.finished):
            if stats.key is None or stats.finished_at is None:
                continue
            if stats.started_at is None or stats.started_at < record.started:
                return  # nothing of this generation was recorded
            record.prompt_tokens = stats.prompt_tokens
            record.evaluated_tokens = max(stats.evaluated_tokens, 1)
            record.generated_tokens = stats.generated_tokens
            if stats.first_token_at is not None:
                record.prompt_seconds = stats.first_token_at - stats.started_at
            return


def probe_for(backend: Backend) -> _CostProbe:
    if backend.name == "ctransformers":
        return _CTransformersProbe(backend)
    if backend.name == "llama-cpp":
        return _LlamaBatchProbe(backend)
    return _CostProbe()


@dataclass(slots=True)
class MeasuredBackend:
    """Delegates to ``inner`` and appends a GenerationRecord per ``stream`` call."""

    inner: Backend
    records: list[GenerationRecord] = field(default_factory=list)
    _probe: _CostProbe = field(init=False)
    _lock: asyncio.Lock = field(init=False, default_factory=asyncio.Lock)

    def __post_init__(self) -> None:
        self._probe = probe_for(self.inner)

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def model_name(self) -> str:
        return self.inner.model_name

    @property
    def context_length(self) -> int:
        return self.inner.context_length

    @property
    def capabilities(self) -> Capabilities:
        return self.inner.capabilities

    def resident(self, conversation: str) -> bool | None:
        return context_resident(self.inner, conversation)

    async def load(self) -> None:
        await self.inner.load()

    async def close(self) -> None:
        await self.inner.close()

    async def count_tokens(self, text: str) -> int:
        return await self.inner.count_tokens(text)

    async def count_tokens_many(self, texts: Sequence[str]) -> list[int]:
        many = getattr(self.inner, "count_tokens_many", None)
        if many is not None:
            return list(await many(texts))
        return list(await asyncio.gather(*(self.inner.count_tokens(t) for t in texts)))

    async def token_pieces(self) -> list[bytes] | None:
        pieces_of = getattr(self.inner, "token_pieces", None)
        return list(await pieces_of()) if pieces_of is not None else None

    def stream(
        self, prompt: str, params: GenerationParams, stop: Sequence[str]
    ) -> AsyncIterator[str]:
        return self._measured(prompt, lambda: self.inner.stream(prompt, params, stop))

    def stream_for(
        self, conversation: str, prompt: str, params: GenerationParams, stop: Sequence[str]
    ) -> AsyncIterator[str]:
        """Passes the conversation on, so that a pool keeps each channel on its instance."""
        return self._measured(
            prompt, lambda: open_stream(self.inner, prompt, params, stop, conversation=conversation)
        )

    async def _measured(
        self, prompt: str, start: Callable[[], AsyncIterator[str]]
    ) -> AsyncIterator[str]:
        record = GenerationRecord(prompt=prompt, requested=time.perf_counter())
        serial = self.capabilities.max_concurrency <= 1
        if serial:
            await self._lock.acquire()
        try:
            self._probe.before(prompt)
            record.started = time.perf_counter()
            async with aclosing(start()) as pieces:  # type: ignore[type-var]
                async for piece in pieces:
                    if record.first_piece is None:
                        record.first_piece = time.perf_counter()
                    record.pieces += 1
                    yield piece
            record.finished = time.perf_counter()
            self._probe.after(record)
        finally:
            if not record.finished:
                record.finished = time.perf_counter()
            self.records.append(record)
            if serial:
                self._lock.release()
