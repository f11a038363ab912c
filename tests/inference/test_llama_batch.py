"""The batch backend on the real llama-cpp-python and the tiny random-weight GGUF: a channel's
reply depends only on its own prompt, whoever else is generating, cancelled or evicted."""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.errors import BackendUnavailable, InferenceError
from bot.inference.base import (
    Backend,
    ConversationAware,
    GenerationParams,
    context_resident,
    conversation_key,
    open_stream,
)
from bot.inference.llama_batch.backend import LlamaBatchBackend

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None,
    reason="llama-cpp-python is not installed (optional extra)",
)

GREEDY = GenerationParams(max_new_tokens=24, temperature=0.0)
PROMPTS = [
    "You: hello there\nBot:",
    "Alice: what is the weather like today in the mountains?\nBot:",
    "Bob: x\nBot:",
    "Carol: tell me a story about a dragon and a knight, please\nBot:",
]


async def reply(
    backend: Backend, key: str | None, prompt: str, params: GenerationParams = GREEDY
) -> str:
    pieces = [piece async for piece in open_stream(backend, prompt, params, [], conversation=key)]
    return "".join(pieces)


@pytest.fixture
async def backend(tiny_model_path: Path) -> AsyncIterator[LlamaBatchBackend]:
    loaded = LlamaBatchBackend(tiny_model_path, n_ctx=256, n_threads=1, parallel=4)
    await loaded.load()
    yield loaded
    await loaded.close()


async def test_loads_with_its_sizing_and_counts_tokens(backend: LlamaBatchBackend) -> None:
    assert isinstance(backend, Backend) and isinstance(backend, ConversationAware)
    assert backend.model_name == "tiny-random-llama"
    assert backend.context_length == 256
    assert backend.capabilities.max_concurrency == 4
    assert backend.sizing is not None and backend.sizing.kv_cells == 4 * 256
    assert await backend.count_tokens("Hello world") > 0
    assert await backend.count_tokens("") == 0
    assert backend.resident("session:1") is False


async def test_batched_replies_equal_the_same_replies_generated_alone(
    backend: LlamaBatchBackend,
) -> None:
    alone = [await reply(backend, f"alone:{i}", prompt) for i, prompt in enumerate(PROMPTS)]
    together = await asyncio.gather(
        *(reply(backend, f"together:{i}", prompt) for i, prompt in enumerate(PROMPTS))
    )
    assert all(alone) and list(together) == alone


async def test_a_cancelled_channel_never_disturbs_another(backend: LlamaBatchBackend) -> None:
    long = GenerationParams(max_new_tokens=60, temperature=0.0)
    expected = await reply(backend, "alone", PROMPTS[1], long)

    async def cancelled_after_one_piece() -> None:
        stream = open_stream(backend, PROMPTS[3], long, [], conversation="leaver")
        await anext(stream)
        await stream.aclose()  # type: ignore[attr-defined]

    kept, _ = await asyncio.gather(
        reply(backend, "stayer", PROMPTS[1], long), cancelled_after_one_piece()
    )
    assert kept == expected
    leaver = next(s for s in backend.finished if s.key == "leaver")
    assert leaver.generated_tokens < 60


async def test_a_channels_next_turn_evaluates_only_what_is_new(
    backend: LlamaBatchBackend,
) -> None:
    first = {key: PROMPTS[i] for i, key in enumerate(("a", "b", "c"))}
    await asyncio.gather(*(reply(backend, key, p) for key, p in first.items()))
    assert all(backend.resident(key) for key in first)
    # Interleaved turns, each conversation grown by a message (the tiny model's replies are
    # bytes that decode to U+FFFD, which would not tokenize back the same, so they are left
    # out: its sequence keeps the prompt and drops the reply it generated).
    for key, prompt in first.items():
        await reply(backend, key, f"{prompt}\nYou: and then?\nBot:")
    added = await backend.count_tokens("\nYou: and then?\nBot:")
    for stats in list(backend.finished)[-3:]:
        assert stats.was_resident
        assert stats.evaluated_tokens <= added + 2  # a token merged across the boundary


async def test_eviction_and_evaluating_again_give_the_same_reply(tiny_model_path: Path) -> None:
    # 256 cells (llama.cpp's smallest context) hold one of these ~190-token conversations:
    # each new one evicts the one before.
    small = LlamaBatchBackend(
        tiny_model_path, n_ctx=256, n_threads=1, parallel=1, kv_cache_tokens=256
    )
    await small.load()
    try:
        params = GenerationParams(max_new_tokens=40, temperature=0.0)
        prompts = [f"{name}: {PROMPTS[1] * 2}\nBot:" for name in ("Ann", "Ben", "Cyd")]
        first = await reply(small, "one", prompts[0], params)
        await reply(small, "two", prompts[1], params)
        await reply(small, "three", prompts[2], params)
        assert small.resident("one") is False and small.resident("three") is True
        assert small.evictions == 2
        again = await reply(small, "one", prompts[0], params)
        stats = small.finished[-1]
        assert not stats.was_resident and stats.reused_tokens == 0
        assert again == first
    finally:
        await small.close()


async def test_seeded_sampling_repeats_and_every_sampler_runs(backend: LlamaBatchBackend) -> None:
    settings = [
        GenerationParams(max_new_tokens=16, temperature=1.2, top_k=20, top_p=0.9, seed=7),
        GenerationParams(max_new_tokens=16, typical_p=0.9, min_p=0.05, seed=7),
        GenerationParams(max_new_tokens=16, mirostat_mode=2, seed=7),
        GenerationParams(max_new_tokens=16, mirostat_mode=1, repetition_penalty_range=32, seed=7),
    ]
    for params in settings:
        assert await reply(backend, None, PROMPTS[0], params) == await reply(
            backend, None, PROMPTS[0], params
        )


async def test_a_prompt_longer_than_a_sequence_is_refused(backend: LlamaBatchBackend) -> None:
    with pytest.raises(InferenceError, match="context window"):
        await reply(backend, "long", "word " * 400)
    assert await reply(backend, "long", PROMPTS[0])  # the loop carries on


async def test_use_before_load_and_after_close(tiny_model_path: Path) -> None:
    unloaded = LlamaBatchBackend(tiny_model_path, n_ctx=256)
    with pytest.raises(BackendUnavailable):
        await unloaded.count_tokens("x")
    await unloaded.load()
    await unloaded.close()
    with pytest.raises(BackendUnavailable):
        await reply(unloaded, None, "Hi")


async def test_a_broken_file_is_reported(tmp_path: Path) -> None:
    broken = tmp_path / "model.gguf"
    broken.write_bytes(b"GGUF")
    with pytest.raises(BackendUnavailable, match=r"could not load model\.gguf"):
        await LlamaBatchBackend(broken).load()


async def test_session_status_learns_whether_a_session_is_resident(
    backend: LlamaBatchBackend, tiny_backend: Backend
) -> None:
    key = conversation_key(5)
    assert context_resident(backend, key) is False
    await reply(backend, key, PROMPTS[0])
    assert context_resident(backend, key) is True
    assert context_resident(tiny_backend, key) is None  # ctransformers keeps no contexts here


async def test_the_queue_gets_as_many_slots_as_the_loaded_backend_chose(
    tiny_model_path: Path, tmp_path: Path
) -> None:
    from bot.app import open_core
    from bot.settings import BackendKind, Settings

    settings = Settings(
        INFERENCE_BACKEND=BackendKind.LLAMA_CPP,
        MODEL=str(tiny_model_path),
        CONTEXT_LENGTH=256,
        THREADS=1,
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'g.db'}",
    )
    core = await open_core(settings)
    try:
        assert core.engine.queue_slots == 4  # PARALLEL=0 on the CPU
    finally:
        await core.close()
