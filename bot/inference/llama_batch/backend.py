"""The llama-cpp backend on llama.cpp's batch API: many channels at once, their contexts kept.

Threading: the context is not thread-safe, so a single dedicated thread owns it and runs the
decode-step loop (``loop.BatchLoop``); load and free run on that thread too. Requests go to it
through a condition variable; text comes back through an ``asyncio.Queue`` fed with
``loop.call_soon_threadsafe``. Closing a stream sets the request's ``cancelled`` flag, which
the loop reads before every step. Tokenizing only reads the vocabulary, so token counts run
beside generation (on the event loop for short texts, else on a second small thread).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType

from bot.errors import BackendUnavailable, InferenceError
from bot.inference.base import Capabilities, GenerationParams, UnsupportedSamplerLog
from bot.inference.llama_batch import native
from bot.inference.llama_batch.loop import BatchLoop, PromptTooLong, Request, RequestStats
from bot.inference.llama_batch.sequences import SequenceTable
from bot.inference.llama_batch.sizing import Sizing, choose_sizing, gpu_free_bytes
from bot.inference.load_progress import LoadProgress
from bot.inference.stops import StopMatcher

log = logging.getLogger(__name__)

SAMPLERS = frozenset(
    {
        "top_k",
        "top_p",
        "repetition_penalty",
        "repetition_penalty_range",
        "typical_p",
        "min_p",
        "mirostat_mode",
        "seed",
    }
)
INLINE_COUNT_CHARS = 1_000  # texts this short are counted on the event loop (~0.5 ms)
CPU_PREFILL_CHUNK = 128  # prompt tokens per CPU step: a longer chunk stalls other replies
STATS_KEPT = 4096
INSTALL_HINT = (
    "INFERENCE_BACKEND=llama-cpp needs the llama_cpp package, which is not installed: run "
    ".venv/bin/pip install -e '.[llama-cpp]' in the Galatea folder (the README's GPU section "
    "has the CUDA build)."
)


class LlamaBatchBackend:
    """A GGUF model served to many conversations at once from one llama.cpp context."""

    def __init__(
        self,
        model_path: str | Path,
        *,
        n_ctx: int = 2048,
        n_gpu_layers: int = 0,
        n_threads: int | None = None,
        n_batch: int = 512,
        parallel: int = 0,
        kv_cache_type: str = "auto",
        kv_cache_tokens: int = 0,
        model_name: str | None = None,
        verbose: bool = False,
    ) -> None:
        self._model_path = Path(model_path)
        self._n_ctx = n_ctx
        self._n_gpu_layers = n_gpu_layers
        self._n_threads = n_threads or _cpus()
        self._n_batch = n_batch
        self._asked = (parallel, kv_cache_type, kv_cache_tokens)
        self._model_name = model_name or self._model_path.stem
        self._named = model_name is not None
        self._verbose = verbose
        self._sizing: Sizing | None = None
        self._gpu_offload = False
        self._model: native.NativeModel | None = None
        self._loop: BatchLoop | None = None
        self._thread: threading.Thread | None = None
        self._tokenizer_thread: ThreadPoolExecutor | None = None
        self._loading: LoadProgress | None = None
        self._sampler_log = UnsupportedSamplerLog(self.name)
        self.finished: collections.deque[RequestStats] = collections.deque(maxlen=STATS_KEPT)

    # --- Backend properties -----------------------------------------------------------------

    @property
    def name(self) -> str:
        return "llama-cpp"

    @property
    def model_name(self) -> str:
        return self._model_name

    @property
    def context_length(self) -> int:
        """Tokens one conversation's sequence may hold: prompt plus reply."""
        return self._n_ctx

    @property
    def sizing(self) -> Sizing | None:
        return self._sizing

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            samplers=SAMPLERS,
            streaming=True,
            max_concurrency=self._sizing.parallel if self._sizing else max(1, self._asked[0]),
            exact_token_count=True,
            gpu_offload=self._gpu_offload,
        )

    def resident(self, conversation: str) -> bool | None:
        """Whether this conversation's sequence is in the KV cache (its next turn evaluates
        only what is new); None before the model is loaded."""
        loop = self._loop
        return None if loop is None else loop.table.resident(conversation)

    @property
    def evictions(self) -> int:
        """Idle conversations dropped from the KV cache to make room, since load."""
        loop = self._loop
        return 0 if loop is None else loop.table.evictions

    # --- lifecycle --------------------------------------------------------------------------

    async def load(self) -> None:
        """Load the GGUF and create the context on the loop's thread."""
        if self._loop is not None:
            return
        try:
            lib = native.load_library()
        except ImportError as error:
            raise BackendUnavailable(INSTALL_HINT) from error
        if not self._model_path.is_file():
            raise BackendUnavailable(
                f"The model file {self._model_path} does not exist. Check the model path."
            )
        self._loading = LoadProgress(self._model_path)
        progress = asyncio.create_task(self._loading.report(self._model_path.name))
        started = asyncio.get_running_loop().create_future()
        thread = threading.Thread(
            target=self._own_context, args=(lib, started), name="llama-batch", daemon=True
        )
        thread.start()
        try:
            self._model, self._loop = await started
        except Exception as error:
            raise BackendUnavailable(
                f"llama.cpp could not load {self._model_path.name}: {error}"
            ) from error
        finally:
            progress.cancel()
            self._loading = None
        self._thread = thread
        self._tokenizer_thread = ThreadPoolExecutor(1, thread_name_prefix="llama-tokenize")
        assert self._sizing is not None
        log.info(
            "llama.cpp loaded %s: %d replies at once, %d tokens per conversation, KV cache "
            "%d cells (%s) for up to %d resident conversations, GPU layers %s",
            self._model_name,
            self._sizing.parallel,
            self._n_ctx,
            self._sizing.kv_cells,
            self._sizing.kv_type,
            self._sizing.sequences,
            self._n_gpu_layers if self._gpu_offload else 0,
        )

    def _own_context(self, lib: ModuleType, started: asyncio.Future[object]) -> None:
        """The loop thread's body: load, serve until stopped, free."""
        aio = started.get_loop()
        model: native.NativeModel | None = None
        context: native.NativeContext | None = None
        try:
            native.set_verbose(self._verbose)
            model = native.NativeModel(lib, self._model_path, n_gpu_layers=self._n_gpu_layers)
            self._gpu_offload = self._n_gpu_layers != 0 and bool(lib.llama_supports_gpu_offload())
            if not self._named:
                self._model_name = model.metadata("general.name") or self._model_path.stem
            chosen = self._sizing = self._choose(lib, model)
            config = native.ContextConfig(
                n_ctx=chosen.kv_cells,
                n_seq_max=chosen.sequences,
                n_batch=self._n_batch,
                n_threads=self._n_threads,
                kv_type=chosen.kv_type,
                flash_attn=self._gpu_offload,
            )
            context = native.NativeContext(model, config)
            table = SequenceTable(chosen.sequences, context.n_ctx)
            chunk = self._n_batch if self._gpu_offload else min(self._n_batch, CPU_PREFILL_CHUNK)
            loop = BatchLoop(
                model,
                context,
                table,
                parallel=chosen.parallel,
                context_per_sequence=self._n_ctx,
                prefill_chunk=chunk,
            )
        except Exception as error:  # every load failure reaches the awaiting coroutine
            for part in (context, model):
                if part is not None:
                    part.free()
            aio.call_soon_threadsafe(_settle, started, None, error)
            return
        aio.call_soon_threadsafe(_settle, started, (model, loop), None)
        try:
            loop.run()
        finally:
            context.free()
            model.free()

    def _choose(self, lib: ModuleType, model: native.NativeModel) -> Sizing:
        parallel, kv_type, kv_cells = self._asked
        if self._n_ctx <= 0 or self._n_ctx > model.n_ctx_train > 0:
            self._n_ctx = model.n_ctx_train if self._n_ctx <= 0 else self._n_ctx
        library_dir = Path(lib.__file__ or ".").parent / "lib"
        return choose_sizing(
            parallel=parallel,
            kv_type=kv_type,
            kv_cells=kv_cells,
            context_per_sequence=self._n_ctx,
            kv_bytes_per_token={t: model.kv_bytes_per_token(t) for t in native.KV_CACHE_TYPES},
            on_gpu=self._gpu_offload,
            free_bytes=gpu_free_bytes(library_dir) if self._gpu_offload else None,
        )

    async def close(self) -> None:
        """End every running reply, stop the loop and free the model on its thread."""
        loop, thread, tokenizer = self._loop, self._thread, self._tokenizer_thread
        self._loop = self._thread = self._tokenizer_thread = None
        if loop is not None:
            loop.stop()
        if thread is not None:
            await asyncio.to_thread(thread.join, 30)
        if tokenizer is not None:
            tokenizer.shutdown(wait=False)

    # --- token counting ---------------------------------------------------------------------

    async def count_tokens(self, text: str) -> int:
        return (await self.count_tokens_many([text]))[0]

    async def count_tokens_many(self, texts: Sequence[str]) -> list[int]:
        """Each text's tokens, BOS not counted; short texts on the event loop."""
        model, tokenizer = self._require_loaded()
        if sum(len(text) for text in texts) <= INLINE_COUNT_CHARS:
            return _count_all(model, texts)
        return await asyncio.get_running_loop().run_in_executor(
            tokenizer, _count_all, model, list(texts)
        )

    async def token_pieces(self) -> list[bytes]:
        """The bytes of every vocabulary token (for bot/prompt/joins.py)."""
        model, tokenizer = self._require_loaded()
        return await asyncio.get_running_loop().run_in_executor(
            tokenizer, lambda: [model.piece(token) for token in range(model.n_vocab)]
        )

    # --- generation -------------------------------------------------------------------------

    def stream(
        self, prompt: str, params: GenerationParams, stop: Sequence[str]
    ) -> AsyncIterator[str]:
        return self._generate(None, prompt, params, stop)

    def stream_for(
        self, conversation: str, prompt: str, params: GenerationParams, stop: Sequence[str]
    ) -> AsyncIterator[str]:
        """Generate in ``conversation``'s own sequence, reusing what it already holds."""
        return self._generate(conversation, prompt, params, stop)

    async def _generate(
        self, key: str | None, prompt: str, params: GenerationParams, stop: Sequence[str]
    ) -> AsyncIterator[str]:
        self._require_loaded()
        loop = self._loop
        assert loop is not None
        self._sampler_log.check(params, self.capabilities)
        log.debug("llama.cpp prompt: %r", prompt)
        aio = asyncio.get_running_loop()
        queue: asyncio.Queue[str | BaseException | None] = asyncio.Queue()
        request: Request

        def deliver(item: str | BaseException | None) -> None:
            try:
                aio.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the event loop closed: nobody listens any more
                request.cancelled = True

        request = Request(key, prompt, params, deliver, RequestStats(key))
        loop.submit(request)
        matcher = StopMatcher(stop)
        try:
            while True:
                item = await queue.get()
                if item is None:
                    break
                if isinstance(item, BaseException):
                    raise _generation_error(item) from item
                text = matcher.feed(item)
                if text:
                    yield text
                if matcher.stopped:
                    return
            tail = matcher.flush()
            if tail:
                yield tail
        finally:
            request.cancelled = True  # the loop drops it before its next step
            loop.poke()
            self.finished.append(request.stats)

    def _require_loaded(self) -> tuple[native.NativeModel, ThreadPoolExecutor]:
        model, tokenizer = self._model, self._tokenizer_thread
        if model is None or tokenizer is None or self._loop is None:
            loading = self._loading
            raise BackendUnavailable(
                loading.busy_message() if loading is not None else "The model is not loaded."
            )
        return model, tokenizer


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _settle(future: asyncio.Future[object], value: object, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)


def _count_all(model: native.NativeModel, texts: Sequence[str]) -> list[int]:
    return [len(model.tokenize(text, add_bos=False)) if text else 0 for text in texts]


def _generation_error(error: BaseException) -> InferenceError:
    if isinstance(error, PromptTooLong):
        return InferenceError(
            "The prompt is longer than the model's context window; shorten the history or "
            "raise the context length."
        )
    return InferenceError(f"llama.cpp failed while generating: {str(error)[:200]}")
