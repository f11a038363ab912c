"""Two figures for the prompt path, without a model:

1. Cleaning a long streamed reply: the incremental ``ReplyCleaner`` against cleaning the whole
   text again at every piece (what the bot did before). Linear against quadratic.
2. A prompt rendered at the context limit with the estimate (a backend that cannot count),
   then counted by the real LLaMA and GPT-2 tokenizers: llama.cpp's vocabulary-only files
   ggml-vocab-llama-spm.gguf and ggml-vocab-gpt-2.gguf (its models/ folder), in the folder
   GALATEA_VOCAB_DIR names; without them that part is left out.

    .venv/bin/python -m bench.prompt_bounds
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from bot.inference.base import GenerationParams
from bot.inference.token_estimate import TokenEstimator
from bot.prompt.cleaning import clean_reply
from bot.prompt.render import PromptInputs, PromptRenderer, RenderedPrompt
from bot.prompt.tokens import TokenCounter
from bot.roleplay.replies import ReplyWriter
from bot.values import CharacterFields, PromptFormat, Role, Turn

VOCABULARIES = Path(os.environ.get("GALATEA_VOCAB_DIR", "/nonexistent"))
LINE = '*She flips her hair.* "Of course! I\'m a goddess, after all." She laughs. 😀\n'


class _Instant:
    """A backend that streams a fixed reply in 4-character pieces, as fast as it can."""

    context_length = 1 << 20

    def __init__(self, text: str) -> None:
        self._text = text

    async def stream(
        self, prompt: str, params: GenerationParams, stop: Sequence[str]
    ) -> AsyncIterator[str]:
        for at in range(0, len(self._text), 4):
            yield self._text[at : at + 4]

    async def count_tokens(self, text: str) -> int:
        return len(text) // 4


async def clean_streamed(text: str, *, incremental: bool) -> float:
    """Seconds to stream and clean ``text`` through the reply path, showing it as it grows."""

    async def show(_: str) -> None:
        return None

    started = time.perf_counter()
    if incremental:
        writer = ReplyWriter(_Instant(text))  # type: ignore[arg-type]
        prompt = RenderedPrompt("", (), "Aqua", ("Bob",), None, 0, 0, 0)
        await writer.write(1, prompt, GenerationParams(max_new_tokens=1 << 20), show)
    else:  # what the bot did before: clean the whole text again at every piece
        raw = ""
        for at in range(0, len(text), 4):
            raw += text[at : at + 4]
            await show(clean_reply(raw, character_name="Aqua", speakers=["Bob"]))
    return time.perf_counter() - started


class _Estimating:
    """A backend that cannot count: the estimate, as the HTTP backends use it."""

    def __init__(self) -> None:
        self.estimator = TokenEstimator()

    async def count_tokens(self, text: str) -> int:
        return self.estimator.estimate(text)


async def prompt_at_the_limit(context: int) -> str:
    renderer = PromptRenderer(
        PromptFormat.METHARME, TokenCounter(_Estimating()), context_length=context
    )
    history = [
        Turn("Bob" if i % 2 else "Aqua", f"{LINE} {i} aGVsbG8gd29ybGQ= Z̷a̶l̸g̵o̴", role, i)
        for i in range(400)
        for role in [Role.HUMAN if i % 2 else Role.CHARACTER]
    ]
    character = CharacterFields(name="Aqua", persona="A water goddess. ✨" * 20)
    prompt = await renderer.render(
        PromptInputs(character=character, history=history, user_name="Bob", reply_tokens=180)
    )
    return prompt.text


def real_counts(text: str) -> dict[str, int]:
    import llama_cpp  # the test extra

    counts = {}
    for name in ("ggml-vocab-llama-spm.gguf", "ggml-vocab-gpt-2.gguf"):
        if not (VOCABULARIES / name).is_file():
            continue  # not shipped: see the module's docstring
        model = llama_cpp.Llama(str(VOCABULARIES / name), vocab_only=True, verbose=False)
        counts[name] = len(model.tokenize(text.encode(), add_bos=False, special=False))
    return counts


def main() -> None:
    print("Streaming and cleaning a reply through ReplyWriter (4-character pieces):")
    for kilobytes in (4, 16, 64, 256):
        text = (LINE * (kilobytes * 1024 // len(LINE.encode()) + 1))[: kilobytes * 1024]
        new = asyncio.run(clean_streamed(text, incremental=True))
        old = asyncio.run(clean_streamed(text, incremental=False)) if kilobytes <= 64 else None
        before = f"{old * 1000:.0f} ms" if old is not None else "(not run: minutes)"
        print(f"  {kilobytes:3d} KB: now {new * 1000:7.1f} ms; cleaning the whole text: {before}")
    for context in (2048, 4096):
        text = asyncio.run(prompt_at_the_limit(context))
        estimate = TokenEstimator().estimate(text)
        print(f"A prompt for a {context}-token context (180 for the reply): estimate {estimate},")
        print("  real: " + ", ".join(f"{k} {v}" for k, v in real_counts(text).items()))


if __name__ == "__main__":
    main()
