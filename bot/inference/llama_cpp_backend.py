"""GGUF models in-process through llama-cpp-python's high-level ``Llama`` (an optional extra).

Superseded for serving by ``bot/inference/llama_batch/`` (issue #20), which is what
INFERENCE_BACKEND=llama-cpp builds; kept as the single-stream baseline that
``python -m bench.batching --compare-generator`` measures against.

Threading: llama.cpp contexts are not thread-safe and generation blocks, so every call that
touches the model's context (load, generate, free) runs on ONE dedicated worker thread per
model. Pieces travel back to the event loop through an ``asyncio.Queue`` fed with
``loop.call_soon_threadsafe``; a ``threading.Event``, checked after every token (as a
llama-cpp-python stopping criterion) and between yielded pieces, stops a generation whose
consumer went away.

Token counting only reads the model's vocabulary, which llama.cpp shares read-only between
threads (llama-server tokenizes on its HTTP threads while the main loop decodes), so it runs
on a second small thread and never waits behind a long generation.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from bot.errors import BackendUnavailable, InferenceError
from bot.inference.base import Capabilities, GenerationParams, UnsupportedSamplerLog
from bot.inference.load_progress import LoadProgress
from bot.inference.stops import StopMatcher

log = logging.getLogger(__name__)

LLAMA_CPP_SAMPLERS = frozenset(
    {"top_k", "top_p", "repetition_penalty", "typical_p", "min_p", "mirostat_mode", "seed"}
)
# Saved conversation states when STATE_CACHE_MB is not set and the model runs on the CPU, where
# evaluating a prompt again is slow (~100 tokens/s for a 1B model on two cores). With GPU offload
# saving one costs more than evaluating its prompt again (a 7B model on an H200: ~1.4 s to save
# after each reply, 0.05 s to evaluate 500 tokens), so there the default is none.
DEFAULT_CACHE_BYTES = 1024 * 2**20
# Texts up to this many characters in all are counted on the event loop (~0.5 ms at most).
INLINE_COUNT_CHARS = 1_000
INSTALL_HINT = (
    "INFERENCE_BACKEND=llama-cpp needs the llama_cpp package, which is not installed: run "
    ".venv/bin/pip install -e '.[llama-cpp]' in the Galatea folder (the README's GPU section "
    "has the CUDA build)."
)


def _import_llama_cpp() -> ModuleType:
    """Import llama_cpp only when this backend is used (tests replace this function)."""
    import llama_cpp

    return llama_cpp


class _End:
    """Queue marker: the worker finished normally."""


@dataclass(frozen=True, slots=True)
class _Failure:
    """Queue marker: the worker raised ``error``."""

    error: BaseException


class LlamaCppBackend:
    """A GGUF model loaded with llama-cpp-python, streamed from a dedicated thread."""

    def __init__(
        self,
        model_path: str | Path,
        *,
        n_ctx: int = 2048,
        n_gpu_layers: int = 0,
        n_threads: int | None = None,
        n_batch: int = 512,
        cache_bytes: int | None = None,
        model_name: str | None = None,
        verbose: bool = False,
    ) -> None:
        self._model_path = Path(model_path)
        self._n_ctx = n_ctx
        self._n_gpu_layers = n_gpu_layers
        self._n_threads = n_threads
        self._n_batch = n_batch
        self._cache_bytes = cache_bytes
        self._configured_name = model_name
        self._model_name = model_name or self._model_path.stem
        self._verbose = verbose
        self._llm: Any = None
        self._llama_cpp: ModuleType | None = None
        self._gpu_offload = False
        self._worker: ThreadPoolExecutor | None = None  # generation: the only context user
        self._tokenizer_thread: ThreadPoolExecutor | None = None
        self._active: set[threading.Event] = set()
        self._loading: LoadProgress | None = None  # set while a load is under way
        self._sampler_log = UnsupportedSamplerLog(self.name)

    # --- Backend properties -----------------------------------------------------------------

    @property
    def name(self) -> str:
        return "llama-cpp"

    @property
    def model_name(self) -> str:
        return self._model_name

    @property
    def context_length(self) -> int:
        return self._n_ctx

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            samplers=LLAMA_CPP_SAMPLERS,
            streaming=True,
            max_concurrency=1,
            exact_token_count=True,
            gpu_offload=self._gpu_offload,
        )

    # --- lifecycle --------------------------------------------------------------------------

    async def load(self) -> None:
        """Load the GGUF on the worker thread. Raises BackendUnavailable with a reason."""
        if self._llm is not None:
            return
        try:
            llama_cpp = _import_llama_cpp()
        except ImportError as error:
            raise BackendUnavailable(INSTALL_HINT) from error
        if not self._model_path.is_file():
            raise BackendUnavailable(
                f"The model file {self._model_path} does not exist. Check the model path."
            )
        worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llama-cpp")
        self._loading = LoadProgress(self._model_path)
        progress = asyncio.create_task(self._loading.report(self._model_path.name))
        try:
            llm = await asyncio.get_running_loop().run_in_executor(
                worker, self._load_blocking, llama_cpp
            )
        except BaseException as error:
            worker.shutdown(wait=False)
            if isinstance(error, Exception):
                raise BackendUnavailable(
                    f"llama.cpp could not load {self._model_path.name}: {error}"
                ) from error
            raise
        finally:
            progress.cancel()
            self._loading = None
        self._llm = llm
        self._llama_cpp = llama_cpp
        self._worker = worker
        self._tokenizer_thread = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="llama-cpp-tokenize"
        )
        self._n_ctx = int(llm.n_ctx())
        if self._configured_name is None:
            metadata = getattr(llm, "metadata", None) or {}
            self._model_name = str(metadata.get("general.name") or self._model_path.stem)
        self._gpu_offload = self._offloads(llama_cpp)
        log.info(
            "llama.cpp loaded %s: context %d, GPU layers %s",
            self._model_name,
            self._n_ctx,
            self._n_gpu_layers if self._gpu_offload else 0,
        )
        if self._n_gpu_layers and not self._gpu_offload:
            log.warning(
                "GPU_LAYERS=%d was requested, but this llama-cpp-python build has no GPU "
                "support: the model runs on the CPU. Reinstall it with "
                'CMAKE_ARGS="-DGGML_CUDA=on" pip install --force-reinstall llama-cpp-python.',
                self._n_gpu_layers,
            )

    def _load_blocking(self, llama_cpp: ModuleType) -> Any:
        kwargs: dict[str, Any] = {
            "model_path": str(self._model_path),
            "n_ctx": self._n_ctx,
            "n_gpu_layers": self._n_gpu_layers,
            "n_batch": self._n_batch,
            "verbose": self._verbose,
        }
        if self._n_threads is not None:
            kwargs["n_threads"] = self._n_threads
        llm = llama_cpp.Llama(**kwargs)
        cache_bytes = self._cache_bytes
        if cache_bytes is None:
            on_gpu = self._offloads(llama_cpp)
            cache_bytes = 0 if on_gpu else DEFAULT_CACHE_BYTES
            log.info(
                "Saved conversation states: %s (STATE_CACHE_MB not set; %s)",
                "off" if on_gpu else f"{cache_bytes // 2**20} MiB",
                "with GPU offload a state costs more to save than its prompt to evaluate"
                if on_gpu
                else "on the CPU",
            )
        if cache_bytes > 0:
            # Reuses the evaluated prefix when the next prompt starts like a recent one.
            llm.set_cache(llama_cpp.LlamaRAMCache(capacity_bytes=cache_bytes))
        return llm

    def _offloads(self, llama_cpp: ModuleType) -> bool:
        """GPU layers were asked for and this llama-cpp-python build can run them there."""
        supports_gpu = getattr(llama_cpp, "llama_supports_gpu_offload", lambda: False)
        return self._n_gpu_layers != 0 and bool(supports_gpu())

    async def close(self) -> None:
        """Stop running generations, free the model on its thread, end both threads."""
        llm, worker, tokenizer_thread = self._llm, self._worker, self._tokenizer_thread
        self._llm = self._worker = self._tokenizer_thread = None
        for cancel in list(self._active):
            cancel.set()
        if worker is not None:
            loop = asyncio.get_running_loop()
            # Queued behind any generation, which the events above end within a token.
            await loop.run_in_executor(worker, _free_model, llm)
            worker.shutdown(wait=False)
        if tokenizer_thread is not None:
            tokenizer_thread.shutdown(wait=False)

    # --- token counting ---------------------------------------------------------------------

    async def count_tokens(self, text: str) -> int:
        return (await self.count_tokens_many([text]))[0]

    async def count_tokens_many(self, texts: Sequence[str]) -> list[int]:
        """Short texts (a message, a reply) are counted on the event loop: that takes about
        0.1 ms, less than a trip to the tokenizer thread. llama.cpp's tokenizer only reads the
        vocabulary, so it may run beside a generation (llama.cpp's server does the same)."""
        llm, _, tokenizer_thread = self._require_loaded()
        if sum(len(text) for text in texts) <= INLINE_COUNT_CHARS:
            return _count_all(llm, texts)
        return await asyncio.get_running_loop().run_in_executor(
            tokenizer_thread, _count_all, llm, list(texts)
        )

    async def token_pieces(self) -> list[bytes]:
        """The bytes of every vocabulary token (for bot/prompt/joins.py)."""
        llm, _, tokenizer_thread = self._require_loaded()
        return await asyncio.get_running_loop().run_in_executor(
            tokenizer_thread, lambda: [llm.detokenize([token]) for token in range(llm.n_vocab())]
        )

    # --- generation -------------------------------------------------------------------------

    def completion_kwargs(self, params: GenerationParams, stop: Sequence[str]) -> dict[str, Any]:
        """``create_completion`` keyword arguments for these settings."""
        kwargs: dict[str, Any] = {
            "max_tokens": params.max_new_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "top_k": params.top_k,  # <= 0 disables top-k in llama.cpp
            "min_p": params.min_p,
            "typical_p": params.typical_p,
            "repeat_penalty": params.repetition_penalty,
            "mirostat_mode": params.mirostat_mode,
            "mirostat_tau": params.mirostat_tau,
            "mirostat_eta": params.mirostat_eta,
            "stop": [s for s in dict.fromkeys(stop) if s],
            "stream": True,
        }
        if params.seed is not None:
            kwargs["seed"] = params.seed
        return kwargs

    async def stream(
        self, prompt: str, params: GenerationParams, stop: Sequence[str]
    ) -> AsyncIterator[str]:
        llm, worker, _ = self._require_loaded()
        self._sampler_log.check(params, self.capabilities)
        log.debug("llama.cpp prompt: %r", prompt)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str | _End | _Failure] = asyncio.Queue()
        cancel = threading.Event()
        self._active.add(cancel)

        def send(item: str | _End | _Failure) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop closed while the worker ran: nobody listens
                cancel.set()

        kwargs = self.completion_kwargs(params, stop)
        kwargs["stopping_criteria"] = self._cancel_criteria(cancel)
        produce = _generation_job(llm, prompt, kwargs, cancel, send)
        loop.run_in_executor(worker, produce)
        matcher = StopMatcher(stop)
        try:
            while True:
                item = await queue.get()
                if isinstance(item, _End):
                    break
                if isinstance(item, _Failure):
                    raise _generation_error(item.error) from item.error
                text = matcher.feed(item)
                if text:
                    yield text
                if matcher.stopped:
                    return
            tail = matcher.flush()
            if tail:
                yield tail
        finally:
            cancel.set()  # the worker stops before its next token
            self._active.discard(cancel)

    def _cancel_criteria(self, cancel: threading.Event) -> Any:
        """A per-token check: llama-cpp-python may hold text back (an unfinished UTF-8
        character, a possible stop string) for several tokens without yielding, so checking
        only between yielded chunks could let a cancelled generation run on."""
        criteria_list = getattr(self._llama_cpp, "StoppingCriteriaList", list)
        return criteria_list([lambda input_ids, logits: cancel.is_set()])

    def _require_loaded(self) -> tuple[Any, ThreadPoolExecutor, ThreadPoolExecutor]:
        llm, worker, tokenizer_thread = self._llm, self._worker, self._tokenizer_thread
        if llm is None or worker is None or tokenizer_thread is None:
            loading = self._loading
            raise BackendUnavailable(
                loading.busy_message() if loading is not None else "The model is not loaded."
            )
        return llm, worker, tokenizer_thread


def _count_all(llm: Any, texts: Sequence[str]) -> list[int]:
    """Each text's tokens, BOS not counted."""
    return [len(llm.tokenize(t.encode("utf-8"), add_bos=False)) if t else 0 for t in texts]


def _generation_job(
    llm: Any,
    prompt: str,
    kwargs: dict[str, Any],
    cancel: threading.Event,
    send: Callable[[str | _End | _Failure], None],
) -> Callable[[], None]:
    """The worker-thread job: iterate the completion, sending text until done or cancelled."""

    def produce() -> None:
        if cancel.is_set():  # the consumer left while this job waited in the queue
            send(_End())
            return
        chunks: Iterator[Any] | None = None
        try:
            chunks = iter(llm.create_completion(prompt, **kwargs))
            for chunk in chunks:
                if cancel.is_set():
                    break
                text = chunk["choices"][0]["text"]
                if text:
                    send(text)
            send(_End())
        except Exception as error:  # report every failure to the awaiting coroutine
            send(_Failure(error))
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()  # end llama-cpp-python's generator here, on the model's thread

    return produce


def _generation_error(error: BaseException) -> InferenceError:
    message = str(error)
    if "context window" in message or "exceed" in message:
        return InferenceError(
            "The prompt is longer than the model's context window; shorten the history or "
            "raise the context length."
        )
    return InferenceError(f"llama.cpp failed while generating: {message[:200]}")


def _free_model(llm: Any) -> None:
    close = getattr(llm, "close", None)
    if close is not None:
        close()
