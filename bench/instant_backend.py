"""A backend whose model answers instantly, so that only the bot's own work is timed.

It counts tokens with the benchmark model's real tokenizer (llama.cpp loads only the
vocabulary, ``vocab_only``) as the llama-cpp backend does: short texts at once, long ones on a
thread of its own; without llama-cpp-python it falls back to the bot's own estimate.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bot.inference.base import Capabilities, GenerationParams
from bot.inference.llama_batch.backend import INLINE_COUNT_CHARS

REPLY_PIECES = (" *smiles*", " Of", " course", "!", " The", " egg", " is", " warm", ".")


def _typical_tokens(text: str) -> int:
    """About what a real tokenizer spends on English (4 bytes a token): the estimate is an
    upper bound now, several times higher, and would make the benchmark's prompts shorter."""
    return (len(text.encode()) + 3) // 4


class InstantBackend:
    """Streams a fixed short reply at once; counts with a real tokenizer when it can."""

    def __init__(self, tokenizer_model: Path | None, *, context_length: int = 4096) -> None:
        self._tokenizer_model = tokenizer_model
        self._context_length = context_length
        self._vocab: Any = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bench-tokenizer")

    @property
    def name(self) -> str:
        return "instant"

    @property
    def model_name(self) -> str:
        return "instant"

    @property
    def context_length(self) -> int:
        return self._context_length

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(samplers=frozenset(), exact_token_count=self._vocab is not None)

    @property
    def tokenizer(self) -> str:
        return "llama.cpp vocab_only" if self._vocab is not None else "estimate"

    async def load(self) -> None:
        if self._tokenizer_model is None or self._vocab is not None:
            return
        try:
            import llama_cpp
        except ImportError:
            return
        path = str(self._tokenizer_model)
        self._vocab = await asyncio.get_running_loop().run_in_executor(
            self._thread, lambda: llama_cpp.Llama(model_path=path, vocab_only=True, verbose=False)
        )

    async def close(self) -> None:
        self._thread.shutdown(wait=False)

    def _count(self, texts: Sequence[str]) -> list[int]:
        if self._vocab is None:
            return [_typical_tokens(text) for text in texts]
        return [len(self._vocab.tokenize(t.encode("utf-8"), add_bos=False)) for t in texts]

    async def count_tokens(self, text: str) -> int:
        return (await self.count_tokens_many([text]))[0]

    async def count_tokens_many(self, texts: Sequence[str]) -> list[int]:
        # As the llama-cpp backend counts: short texts at once, long ones on its thread.
        if sum(len(text) for text in texts) <= INLINE_COUNT_CHARS:
            return self._count(texts)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, self._count, list(texts))

    async def token_pieces(self) -> list[bytes] | None:
        """The tokenizer's vocabulary, as the local backends share theirs."""
        vocab = self._vocab
        if vocab is None:
            return None
        return await asyncio.get_running_loop().run_in_executor(
            self._thread, lambda: [vocab.detokenize([t]) for t in range(vocab.n_vocab())]
        )

    async def stream(
        self, prompt: str, params: GenerationParams, stop: Sequence[str]
    ) -> AsyncIterator[str]:
        for piece in REPLY_PIECES[: max(1, params.max_new_tokens)]:
            yield piece
