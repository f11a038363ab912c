"""A local backend's raw speed through its Backend interface: prompt evaluation, generation,
time to first token. Every prompt starts differently, so nothing is reused from a cache."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

from bench.conversation import filler_text
from bench.core_setup import BENCH_TOP_K
from bench.instrumented import GenerationRecord, MeasuredBackend
from bot.inference.base import GenerationParams

CHARS_PER_TOKEN_GUESS = 4.0  # only to size the filler; the exact count is then trimmed


@dataclass(frozen=True, slots=True)
class PromptSpeed:
    prompt_tokens: int
    evaluated_tokens: int
    seconds: float
    tokens_per_second: float
    time_to_first_token: float | None


@dataclass(frozen=True, slots=True)
class GenerationSpeed:
    generated_tokens: int
    seconds: float
    tokens_per_second: float


async def _prompt_of(backend: MeasuredBackend, tokens: int, seed: int) -> str:
    """Text of about ``tokens`` tokens (within a few) with a unique beginning."""
    text = f"[{seed}] " + filler_text(seed, int(tokens * CHARS_PER_TOKEN_GUESS * 1.3))
    low, high = 0, len(text)
    while low < high:  # the longest prefix that fits ``tokens``, found by bisection
        middle = (low + high + 1) // 2
        if await backend.count_tokens(text[:middle]) <= tokens - 1:  # BOS comes on top
            low = middle
        else:
            high = middle - 1
    return text[:low]


async def _run(backend: MeasuredBackend, prompt: str, max_new_tokens: int) -> GenerationRecord:
    params = GenerationParams(
        max_new_tokens=max_new_tokens,
        temperature=0.8,
        top_p=0.9,
        top_k=BENCH_TOP_K,  # see bench/core_setup.py
        repetition_penalty=1.0,
        seed=1,
    )
    async for _piece in backend.stream(prompt, params, stop=()):
        pass
    return backend.records[-1]


async def measure_prompt(backend: MeasuredBackend, tokens: int, seed: int) -> PromptSpeed:
    prompt = await _prompt_of(backend, tokens, seed)
    record = await _run(backend, prompt, max_new_tokens=1)
    seconds = record.prompt_seconds if record.prompt_seconds else record.seconds
    evaluated = record.evaluated_tokens or tokens
    ttft = None if record.first_piece is None else record.first_piece - record.started
    return PromptSpeed(
        prompt_tokens=record.prompt_tokens or tokens,
        evaluated_tokens=evaluated,
        seconds=seconds,
        tokens_per_second=evaluated / seconds,
        time_to_first_token=ttft,
    )


async def measure_generation(
    backend: MeasuredBackend, new_tokens: int, seed: int
) -> GenerationSpeed:
    prompt = await _prompt_of(backend, 64, seed)
    record = await _run(backend, prompt, max_new_tokens=new_tokens)
    generated = record.generated_tokens or record.pieces
    seconds = record.seconds - (record.prompt_seconds or 0.0)
    return GenerationSpeed(generated, seconds, generated / seconds if seconds > 0 else 0.0)


async def measure_raw_speed(
    backend: MeasuredBackend, prompt_sizes: list[int], new_tokens: int
) -> dict[str, object]:
    """Warm up once, then one measurement per prompt size and one of generation."""
    started = time.perf_counter()
    await _run(backend, await _prompt_of(backend, 32, seed=900), max_new_tokens=2)
    prompts = {
        str(size): asdict(await measure_prompt(backend, size, seed=1000 + size))
        for size in prompt_sizes
    }
    generation = asdict(await measure_generation(backend, new_tokens, seed=2000))
    return {"prompt": prompts, "generation": generation, "seconds": time.perf_counter() - started}
