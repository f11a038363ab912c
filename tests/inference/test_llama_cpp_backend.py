"""LlamaCppBackend: threading, stops and cancellation with a scripted fake ``llama_cpp``, and a
real run on the tiny GGUF when llama-cpp-python is installed."""

from __future__ import annotations

import asyncio
import importlib.util
import re
import threading
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from bot.errors import BackendUnavailable, InferenceError
from bot.inference import llama_cpp_backend
from bot.inference.base import Backend, GenerationParams, generate_text
from bot.inference.llama_cpp_backend import LlamaCppBackend

HAVE_LLAMA_CPP = importlib.util.find_spec("llama_cpp") is not None
needs_llama_cpp = pytest.mark.skipif(
    not HAVE_LLAMA_CPP, reason="llama-cpp-python is not installed (optional extra)"
)


class FakeLlama:
    """Scripted stand-in for ``llama_cpp.Llama`` that records which thread touches it."""

    instances: ClassVar[list[FakeLlama]] = []

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.threads: set[str] = {threading.current_thread().name}
        self.script: list[str] = ["Hello", " there", "!\nYo", "u:", " more"]
        self.delay = 0.0
        self.completion_kwargs: dict[str, Any] = {}
        self.produced = 0
        self.stopped_by_criteria = False
        self.generator_closed = threading.Event()
        self.cache: Any = None
        self.closed = False
        self.metadata = {"general.name": "fake-model"}
        FakeLlama.instances.append(self)

    def n_ctx(self) -> int:
        return int(self.kwargs["n_ctx"])

    def set_cache(self, cache: Any) -> None:
        self.cache = cache

    def tokenize(self, text: bytes, add_bos: bool = True, special: bool = False) -> list[int]:
        assert add_bos is False
        return list(range(len(text.split())))

    def create_completion(self, prompt: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        self.threads.add(threading.current_thread().name)
        self.completion_kwargs = kwargs
        if prompt == "too long":
            raise ValueError("Requested tokens (9000) exceed context window of 2048")
        return self._chunks()

    def _chunks(self) -> Iterator[dict[str, Any]]:
        should_stop = self.completion_kwargs.get("stopping_criteria") or []
        try:
            for text in self.script:
                if self.delay:
                    time.sleep(self.delay)
                self.produced += 1
                if any(criterion(None, None) for criterion in should_stop):
                    self.stopped_by_criteria = True
                    return  # as llama-cpp-python's generate() does
                if text:  # "" stands for a token whose text is held back (no chunk at all)
                    yield {"choices": [{"text": text, "finish_reason": None}]}
        finally:
            self.generator_closed.set()

    def close(self) -> None:
        self.threads.add(threading.current_thread().name)
        self.closed = True


class FakeRamCache:
    def __init__(self, capacity_bytes: int) -> None:
        self.capacity_bytes = capacity_bytes


@pytest.fixture
def fake_llama_cpp(monkeypatch: pytest.MonkeyPatch) -> types.SimpleNamespace:
    FakeLlama.instances.clear()
    module = types.SimpleNamespace(
        Llama=FakeLlama,
        LlamaRAMCache=FakeRamCache,
        StoppingCriteriaList=list,
        llama_supports_gpu_offload=lambda: False,
    )
    monkeypatch.setattr(llama_cpp_backend, "_import_llama_cpp", lambda: module)
    return module


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    path = tmp_path / "model.gguf"
    path.write_bytes(b"GGUF")
    return path


async def loaded_fake(model_file: Path, **kwargs: Any) -> tuple[LlamaCppBackend, FakeLlama]:
    backend = LlamaCppBackend(model_file, **kwargs)
    await backend.load()
    return backend, FakeLlama.instances[-1]


# --- with the fake module ---------------------------------------------------------------------


async def test_load_options_and_cache(fake_llama_cpp: Any, model_file: Path) -> None:
    backend, llm = await loaded_fake(
        model_file, n_ctx=1024, n_gpu_layers=12, n_threads=3, n_batch=256, cache_bytes=1 << 20
    )
    try:
        assert isinstance(backend, Backend)
        assert llm.kwargs == {
            "model_path": str(model_file),
            "n_ctx": 1024,
            "n_gpu_layers": 12,
            "n_threads": 3,
            "n_batch": 256,
            "verbose": False,
        }
        assert isinstance(llm.cache, FakeRamCache) and llm.cache.capacity_bytes == 1 << 20
        assert backend.context_length == 1024
        assert backend.model_name == "fake-model"
        assert not backend.capabilities.gpu_offload  # the build has no GPU support
        assert await backend.count_tokens("three small words") == 3
    finally:
        await backend.close()
    assert llm.closed


async def test_sampler_mapping_stops_and_threads(fake_llama_cpp: Any, model_file: Path) -> None:
    backend, llm = await loaded_fake(model_file)
    params = GenerationParams(
        max_new_tokens=20,
        temperature=0.7,
        top_p=0.9,
        top_k=0,
        repetition_penalty=1.1,
        typical_p=0.95,
        min_p=0.05,
        mirostat_mode=2,
        mirostat_tau=5.5,
        mirostat_eta=0.15,
        seed=99,
    )
    try:
        assert await generate_text(backend, "prompt", params, ["\nYou:"]) == "Hello there!"
    finally:
        await backend.close()
    assert callable(llm.completion_kwargs.pop("stopping_criteria")[0])
    assert llm.completion_kwargs == {
        "max_tokens": 20,
        "temperature": 0.7,
        "top_p": 0.9,
        "top_k": 0,
        "min_p": 0.05,
        "typical_p": 0.95,
        "repeat_penalty": 1.1,
        "mirostat_mode": 2,
        "mirostat_tau": 5.5,
        "mirostat_eta": 0.15,
        "stop": ["\nYou:"],
        "seed": 99,
        "stream": True,
    }
    # Load, generation and free all ran on the one dedicated thread, never the loop's.
    assert len(llm.threads) == 1
    (thread_name,) = llm.threads
    assert thread_name.startswith("llama-cpp") and thread_name != threading.current_thread().name


async def test_closing_the_stream_stops_generation(fake_llama_cpp: Any, model_file: Path) -> None:
    backend, llm = await loaded_fake(model_file)
    llm.script = [f" w{i}" for i in range(10_000)]
    llm.delay = 0.002
    try:
        stream = backend.stream("p", GenerationParams(), [])
        assert await anext(stream) == " w0"
        await stream.aclose()
        assert await asyncio.to_thread(llm.generator_closed.wait, 1.0)
        assert llm.produced < 100
    finally:
        await backend.close()


async def test_cancel_reaches_tokens_whose_text_is_held_back(
    fake_llama_cpp: Any, model_file: Path
) -> None:
    backend, llm = await loaded_fake(model_file)
    # After the first piece, many tokens yield nothing (an unfinished UTF-8 character, say):
    # only the per-token stopping criterion can notice the cancellation then.
    llm.script = ["first"] + [""] * 10_000
    llm.delay = 0.001
    try:
        stream = backend.stream("p", GenerationParams(), [])
        assert await anext(stream) == "first"
        await stream.aclose()
        assert await asyncio.to_thread(llm.generator_closed.wait, 1.0)
        assert llm.stopped_by_criteria and llm.produced < 200
    finally:
        await backend.close()


async def test_cancelling_the_consumer_stops_generation(
    fake_llama_cpp: Any, model_file: Path
) -> None:
    backend, llm = await loaded_fake(model_file)
    llm.script = [f" w{i}" for i in range(10_000)]
    llm.delay = 0.002
    first = asyncio.Event()

    async def consume() -> None:
        async for _ in backend.stream("p", GenerationParams(), []):
            first.set()

    try:
        task = asyncio.create_task(consume())
        await asyncio.wait_for(first.wait(), timeout=1.0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await asyncio.to_thread(llm.generator_closed.wait, 1.0)
        # The loop stayed responsive and the next generation runs normally.
        llm.script, llm.delay = ["again"], 0.0
        assert await generate_text(backend, "p", GenerationParams(), []) == "again"
    finally:
        await backend.close()


async def test_errors_become_inference_errors(fake_llama_cpp: Any, model_file: Path) -> None:
    backend, _ = await loaded_fake(model_file)
    try:
        with pytest.raises(InferenceError, match="context window"):
            await generate_text(backend, "too long", GenerationParams(), [])
    finally:
        await backend.close()


async def test_missing_package_gives_an_install_hint(
    monkeypatch: pytest.MonkeyPatch, model_file: Path
) -> None:
    def missing() -> Any:
        raise ImportError("No module named 'llama_cpp'")

    monkeypatch.setattr(llama_cpp_backend, "_import_llama_cpp", missing)
    with pytest.raises(
        BackendUnavailable, match=re.escape(".venv/bin/pip install -e '.[llama-cpp]'")
    ):
        await LlamaCppBackend(model_file).load()


async def test_missing_model_file(fake_llama_cpp: Any, tmp_path: Path) -> None:
    with pytest.raises(BackendUnavailable, match="does not exist"):
        await LlamaCppBackend(tmp_path / "nope.gguf").load()


async def test_use_before_load(fake_llama_cpp: Any, model_file: Path) -> None:
    backend = LlamaCppBackend(model_file)
    with pytest.raises(BackendUnavailable):
        await backend.count_tokens("x")
    with pytest.raises(BackendUnavailable):
        await generate_text(backend, "p", GenerationParams(), [])


@pytest.mark.parametrize(
    ("gpu_build", "gpu_layers", "cache"),
    [
        (False, 0, llama_cpp_backend.DEFAULT_CACHE_BYTES),  # the CPU: prompts are slow to redo
        (False, 40, llama_cpp_backend.DEFAULT_CACHE_BYTES),  # a CPU-only build runs on the CPU
        (True, 40, None),  # offloaded: saving a state costs more than the prompt
    ],
)
async def test_saved_states_default_to_on_for_the_cpu_and_off_with_gpu_offload(
    fake_llama_cpp: Any, model_file: Path, gpu_build: bool, gpu_layers: int, cache: int | None
) -> None:
    fake_llama_cpp.llama_supports_gpu_offload = lambda: gpu_build
    backend, llm = await loaded_fake(model_file, n_gpu_layers=gpu_layers)
    try:
        kept = getattr(llm, "cache", None)
        assert (kept.capacity_bytes if kept is not None else None) == cache
    finally:
        await backend.close()


async def test_saved_states_as_the_operator_set_them_even_on_a_gpu(
    fake_llama_cpp: Any, model_file: Path
) -> None:
    fake_llama_cpp.llama_supports_gpu_offload = lambda: True
    backend, llm = await loaded_fake(model_file, n_gpu_layers=40, cache_bytes=1 << 30)
    try:
        assert llm.cache.capacity_bytes == 1 << 30
    finally:
        await backend.close()


# --- with the real llama-cpp-python -----------------------------------------------------------


@needs_llama_cpp
async def test_real_tiny_model_counts_and_streams(tiny_model_path: Path) -> None:
    backend = LlamaCppBackend(tiny_model_path, n_ctx=256, n_threads=1, cache_bytes=1 << 22)
    await backend.load()
    try:
        assert backend.context_length == 256
        assert backend.model_name == "tiny-random-llama"
        assert await backend.count_tokens("Hello world") > 0
        assert await backend.count_tokens("") == 0
        params = GenerationParams(max_new_tokens=12, seed=1, top_k=0)
        first = await generate_text(backend, "You: hi\nBot:", params, [])
        again = await generate_text(backend, "You: hi\nBot:", params, [])
        assert first == again  # same seed, same text (the second run hits the RAM cache)
    finally:
        await backend.close()


@needs_llama_cpp
async def test_real_tiny_model_stops_when_closed(tiny_model_path: Path) -> None:
    backend = LlamaCppBackend(tiny_model_path, n_ctx=512, n_threads=1)
    await backend.load()
    try:
        params = GenerationParams(max_new_tokens=400, seed=3, temperature=1.5)
        stream = backend.stream("Once upon a time", params, [])
        async for _ in stream:
            break
        await stream.aclose()
        # The worker is free again almost at once: a short generation completes quickly.
        short = GenerationParams(max_new_tokens=2, seed=3)
        await asyncio.wait_for(generate_text(backend, "Hi", short, []), timeout=1.0)
    finally:
        await backend.close()


@needs_llama_cpp
async def test_real_loader_rejects_a_broken_file(model_file: Path) -> None:
    with pytest.raises(BackendUnavailable, match=r"could not load model\.gguf"):
        await LlamaCppBackend(model_file).load()
