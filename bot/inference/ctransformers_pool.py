"""Several ctransformers instances of one model, each kept warm for the conversations it served.

ctransformers keeps one context per model object and can neither save nor restore it: serving
another channel's prompt throws the evaluated prefix away, and coming back costs a full
re-evaluation (28 s instead of 1 s for a 1B model on a 2-core CPU). With a small pool, each
instance keeps serving the channels it served last, so switching channels costs only the new
tokens. On the CPU the memory-mapped weights are shared between instances (each adds its KV
cache); on a GPU each instance costs its offloaded layers, so size MODEL_INSTANCES from free
memory.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing

from bot.common.memo import LruCache
from bot.inference.base import Capabilities, GenerationParams
from bot.inference.ctransformers_backend import CTransformersBackend, GenerationStats

log = logging.getLogger(__name__)

MAX_REMEMBERED_CONVERSATIONS = 10_000


class CTransformersPool:
    """A Backend over N CTransformersBackend instances, assigned to conversations by recent use."""

    def __init__(self, instances: Sequence[CTransformersBackend]) -> None:
        if not instances:
            raise ValueError("a pool needs at least one instance")
        self._instances = list(instances)
        self._busy: set[int] = set()
        # conversation -> the instance holding its context
        self._home: LruCache[str, int] = LruCache(MAX_REMEMBERED_CONVERSATIONS)
        self._last_used: list[float] = [0.0] * len(self._instances)
        self.last_stats: GenerationStats | None = None

    @property
    def name(self) -> str:
        return "ctransformers"

    @property
    def model_name(self) -> str:
        return self._instances[0].model_name

    @property
    def context_length(self) -> int:
        return self._instances[0].context_length

    @property
    def capabilities(self) -> Capabilities:
        first = self._instances[0].capabilities
        return Capabilities(
            samplers=first.samplers,
            max_concurrency=len(self._instances),
            gpu_offload=first.gpu_offload,
        )

    @property
    def size(self) -> int:
        return len(self._instances)

    async def load(self) -> None:
        for index, instance in enumerate(self._instances):
            await instance.load()
            log.info("Model instance %d of %d ready", index + 1, len(self._instances))

    async def close(self) -> None:
        await asyncio.gather(*(instance.close() for instance in self._instances))

    async def count_tokens(self, text: str) -> int:
        return await self._idle_instance().count_tokens(text)

    async def count_tokens_many(self, texts: Sequence[str]) -> list[int]:
        return await self._idle_instance().count_tokens_many(texts)

    async def token_pieces(self) -> list[bytes]:
        return await self._idle_instance().token_pieces()

    def stream(
        self, prompt: str, params: GenerationParams, stop: Sequence[str]
    ) -> AsyncGenerator[str, None]:
        return self._stream_on(self._choose(None), prompt, params, stop)

    def stream_for(
        self, conversation: str, prompt: str, params: GenerationParams, stop: Sequence[str]
    ) -> AsyncGenerator[str, None]:
        return self._stream_on(self._choose(conversation), prompt, params, stop)

    def home_of(self, conversation: str) -> int | None:
        """Which instance holds a conversation's context (for tests and benchmarks)."""
        return self._home.get(conversation)

    def _idle_instance(self) -> CTransformersBackend:
        """Token counting runs on the model thread: pick one that is not generating."""
        for index, instance in enumerate(self._instances):
            if index not in self._busy:
                return instance
        return self._instances[0]

    def _choose(self, conversation: str | None) -> int:
        home = self._home.get(conversation) if conversation is not None else None
        if home is not None and home not in self._busy:
            index = home
        else:
            idle = [i for i in range(len(self._instances)) if i not in self._busy]
            # The scheduler never runs more generations than instances; if it did, share one.
            candidates = idle or list(range(len(self._instances)))
            index = min(candidates, key=lambda i: self._last_used[i])
        if conversation is not None:
            self._home[conversation] = index
        return index

    async def _stream_on(
        self, index: int, prompt: str, params: GenerationParams, stop: Sequence[str]
    ) -> AsyncGenerator[str, None]:
        instance = self._instances[index]
        self._busy.add(index)
        self._last_used[index] = asyncio.get_running_loop().time()
        try:
            async with aclosing(instance.stream(prompt, params, stop)) as pieces:
                async for piece in pieces:
                    yield piece
        finally:
            self._busy.discard(index)
            self.last_stats = instance.last_stats
