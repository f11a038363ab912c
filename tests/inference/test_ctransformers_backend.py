"""The real ctransformers on a tiny random-weight llama GGUF."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest

from bot.errors import BackendUnavailable
from bot.inference.base import Backend, GenerationParams, generate_text
from bot.inference.ctransformers_backend import CTransformersBackend, infer_model_type

GREEDY = GenerationParams(max_new_tokens=24, temperature=0.0, top_k=1, seed=1)


async def test_loads_a_gguf_model_and_reports_its_shape(tiny_backend: CTransformersBackend) -> None:
    assert isinstance(tiny_backend, Backend)
    assert tiny_backend.model_type == "llama"
    assert tiny_backend.context_length == 1024
    assert tiny_backend.capabilities.gpu_offload is False


async def test_counts_tokens_with_the_models_tokenizer(tiny_backend: CTransformersBackend) -> None:
    assert await tiny_backend.count_tokens("") == 0
    short, long = await tiny_backend.count_tokens_many(["Hi", "Hi there, Alice!"])
    assert 0 < short < long


async def test_greedy_generation_is_reproducible(tiny_backend: CTransformersBackend) -> None:
    prompt = "Aqua's Persona: A goddess.\n<START>\nAlice: Hello\nAqua:"
    first = await generate_text(tiny_backend, prompt, GREEDY, [])
    second = await generate_text(tiny_backend, prompt, GREEDY, [])
    assert first == second and first


async def test_streams_pieces_and_stops_at_a_stop_sequence(
    tiny_backend: CTransformersBackend,
) -> None:
    prompt = "Alice: Hello\nAqua:"
    free = await generate_text(tiny_backend, prompt, GREEDY, [])
    assert len(free) > 4
    stop = free[2:4]  # whatever the random model writes, stop inside it
    pieces = [p async for p in tiny_backend.stream(prompt, GREEDY, [stop])]
    assert len(pieces) >= 1
    assert "".join(pieces) == free[: free.find(stop)]
    assert tiny_backend.last_stats is not None and tiny_backend.last_stats.finish_reason == "stop"


async def test_respects_max_new_tokens(tiny_backend: CTransformersBackend) -> None:
    await generate_text(tiny_backend, "Alice: Hi\nAqua:", GREEDY.replace(max_new_tokens=5), [])
    stats = tiny_backend.last_stats
    assert stats is not None and stats.generated_tokens == 5 and stats.finish_reason == "length"


async def test_second_turn_reuses_the_evaluated_prefix(tiny_backend: CTransformersBackend) -> None:
    first = "Aqua's Persona: A goddess.\n<START>\nAlice: Hello\nAqua:"
    reply = await generate_text(tiny_backend, first, GREEDY, ["\n"])
    second = first + reply + "\nAlice: And then?\nAqua:"
    await generate_text(tiny_backend, second, GREEDY, ["\n"])
    stats = tiny_backend.last_stats
    assert stats is not None
    assert stats.evaluated_tokens < stats.prompt_tokens // 2


async def test_closing_the_stream_cancels_between_tokens(
    tiny_backend: CTransformersBackend,
) -> None:
    params = GREEDY.replace(max_new_tokens=400)
    stream = tiny_backend.stream("Alice: Tell me a long story\nAqua:", params, [])
    async for _ in stream:
        break
    await stream.aclose()
    stats = tiny_backend.last_stats
    assert stats is not None and stats.finish_reason == "cancelled"
    assert stats.generated_tokens < 400
    # The model is free again right away.
    assert await asyncio.wait_for(tiny_backend.count_tokens("still works"), timeout=5) > 0


async def test_cancelling_the_consumer_task_stops_generation(
    tiny_backend: CTransformersBackend,
) -> None:
    started = asyncio.Event()

    async def consume() -> None:
        async for _ in tiny_backend.stream(
            "Alice: Go on\nAqua:", GREEDY.replace(max_new_tokens=400), []
        ):
            started.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(started.wait(), timeout=10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=10)
    assert tiny_backend.last_stats is not None
    assert tiny_backend.last_stats.finish_reason == "cancelled"


async def test_generation_never_runs_on_the_event_loop_thread(
    tiny_backend: CTransformersBackend,
) -> None:
    loop_thread = threading.current_thread()
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.001)
            ticks += 1

    task = asyncio.create_task(ticker())
    await generate_text(tiny_backend, "Alice: Hi\nAqua:", GREEDY.replace(max_new_tokens=60), [])
    task.cancel()
    assert threading.current_thread() is loop_thread
    assert ticks > 0  # the loop kept running while the model worked


async def test_concurrent_callers_are_serialised_not_crashed(
    tiny_backend: CTransformersBackend,
) -> None:
    prompts = [f"User{i}: Hello number {i}\nAqua:" for i in range(4)]
    results = await asyncio.wait_for(
        asyncio.gather(*(generate_text(tiny_backend, p, GREEDY, []) for p in prompts)), timeout=60
    )
    alone = await generate_text(tiny_backend, prompts[2], GREEDY, [])
    assert results[2] == alone


async def test_unsupported_sampler_is_reported_once(
    tiny_backend: CTransformersBackend, caplog: pytest.LogCaptureFixture
) -> None:
    params = GREEDY.replace(typical_p=0.9, max_new_tokens=2)
    with caplog.at_level(logging.WARNING):
        await generate_text(tiny_backend, "A:", params, [])
        await generate_text(tiny_backend, "A:", params, [])
    warnings = [r for r in caplog.records if "typical_p" in r.getMessage()]
    assert len(warnings) == 1


async def test_missing_model_file_is_a_clear_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    backend = CTransformersBackend(str(tmp_path / "nope.gguf"), local_files_only=True)
    with pytest.raises(BackendUnavailable, match="could not be loaded"):
        await backend.load()
    await backend.close()


async def test_a_missing_model_file_is_not_looked_for_on_the_hub(tmp_path) -> None:  # type: ignore[no-untyped-def]
    backend = CTransformersBackend(str(tmp_path / "models" / "pygmalion-2-7b.Q4_K_M.gguf"))
    with pytest.raises(BackendUnavailable, match="there is no such file") as refused:
        await backend.load()
    assert "./run.sh download" in refused.value.user_message
    await backend.close()


async def test_gpu_layers_without_a_cuda_runtime_fall_back_to_the_cpu_and_say_so(
    tiny_model_path,
    caplog: pytest.LogCaptureFixture,  # type: ignore[no-untyped-def]
) -> None:
    backend = CTransformersBackend(str(tiny_model_path), context_length=256, gpu_layers=8)
    with caplog.at_level(logging.WARNING):
        await backend.load()
    try:
        assert await generate_text(backend, "A:", GREEDY.replace(max_new_tokens=3), [])
    finally:
        await backend.close()
    if backend.capabilities.gpu_offload:  # a machine with CUDA: it really offloaded
        return
    assert any("runs on the CPU" in r.getMessage() for r in caplog.records)


async def test_gpu_layers_for_gptj_are_refused_up_front_with_a_warning(
    tiny_model_path,
    caplog: pytest.LogCaptureFixture,  # type: ignore[no-untyped-def]
) -> None:
    backend = CTransformersBackend(
        str(tiny_model_path), model_type="gptj", context_length=256, gpu_layers=8
    )
    with caplog.at_level(logging.WARNING):
        await backend.load()  # GGUF names its architecture itself, so this loads on the CPU
    await backend.close()
    assert any("cannot offload gptj" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("model", "file", "expected"),
    [
        ("PygmalionAI/pygmalion-6b", "pygmalion-6b-q4_0.bin", "gptj"),
        ("models/pygmalion-7b.ggmlv3.q4_0.bin", None, "llama"),
        ("TheBloke/Mythalion-13B-GGUF", "mythalion-13b.Q4_K_M.gguf", None),
        ("models/pythia-1.4b-q5.bin", None, "gpt_neox"),
    ],
)
def test_model_type_is_inferred_from_ggml_file_names(model, file, expected) -> None:  # type: ignore[no-untyped-def]
    assert infer_model_type(model, file) == expected


async def test_text_that_falls_back_to_bytes_is_counted_without_overflowing(
    tiny_backend: CTransformersBackend,
) -> None:
    """Emoji and rare letters cost a token per UTF-8 byte; ctransformers' own tokenize() sized
    its buffer per character and corrupted the heap on such text."""
    text = "😀🎉✨" * 200 + "ɯ\x16é"
    count = await tiny_backend.count_tokens(text)
    assert count >= len(text.encode()) - 10
    for _ in range(20):  # would crash within a few rounds with the undersized buffer
        assert await tiny_backend.count_tokens(text) == count
    reply = await generate_text(tiny_backend, text[:40] + "\nAqua:", GREEDY, [])
    assert isinstance(reply, str)


async def test_spaces_the_vocabulary_cannot_merge_are_counted_without_overflowing(
    tiny_backend: CTransformersBackend,
) -> None:
    """SentencePiece turns each space into "▁" (three bytes); this vocabulary has no bare "▁",
    so a run of spaces costs three byte tokens each: more tokens than the text has bytes."""
    text = "x" + " " * 300 + "y"
    count = await tiny_backend.count_tokens(text)
    assert count > 3 * 299  # a short count meant tokens written past the buffer
    for _ in range(20):
        assert await tiny_backend.count_tokens(text) == count
