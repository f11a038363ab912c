"""ctransformers: GGML and GGUF models (llama, gptj, gpt_neox, ...) in-process, CPU or CUDA.

The generation loop is ours rather than ctransformers' own so that it can be cancelled between
tokens, evaluates prompts in large batches, and reports how many prompt tokens it really had to
evaluate (ctransformers keeps the common token prefix of its single context between calls).
"""

from __future__ import annotations

import asyncio
import codecs
import logging
import re
import threading
import time
from collections.abc import AsyncGenerator, Callable, Sequence
from contextlib import aclosing
from ctypes import c_int
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.errors import BackendUnavailable, InferenceError
from bot.inference.base import Capabilities, GenerationParams, UnsupportedSamplerLog
from bot.inference.load_progress import LoadProgress
from bot.inference.stops import StopMatcher
from bot.inference.worker import ModelWorker

log = logging.getLogger(__name__)

# ctransformers' CUDA build offloads layers only for these architectures.
CUDA_CAPABLE_TYPES = frozenset({"llama", "falcon", "mpt", "gpt_bigcode", "starcoder"})
SAMPLERS = frozenset({"top_k", "top_p", "repetition_penalty", "seed"})
PROMPT_BATCH_SIZE = 512  # ctransformers' default of 8 makes prompt evaluation needlessly slow

# File-name hints for GGML files, whose header does not say which architecture they hold.
_TYPE_HINTS: tuple[tuple[str, str], ...] = (
    (r"pygmalion[-_ ]?(6b|1\.3b|350m)|gpt-?j", "gptj"),
    (r"neox|pythia|redpajama|stablelm", "gpt_neox"),
    (r"llama|pygmalion[-_ ]?(2|7b|13b)|mythalion|metharme|mistral", "llama"),
    (r"falcon", "falcon"),
    (r"mpt", "mpt"),
    (r"starcoder|santacoder|bigcode", "gpt_bigcode"),
)


def tokenize(llm: Any, text: str, *, add_bos: bool) -> list[int]:
    """Tokenise with a buffer sized for the worst case.

    ctransformers' own ``LLM.tokenize`` sizes its output buffer by ``len(text)`` in characters,
    and its C function writes every token without knowing the buffer's size: past the end,
    the heap is corrupted (a crash on a later allocation). Byte-fallback vocabularies (llama)
    can spend a token per UTF-8 byte, and SentencePiece first turns each space into "▁",
    three bytes: a vocabulary without a bare "▁" token spends three tokens on a space. So the
    buffer has room for three tokens per byte, the BOS token and the leading-space marker.
    """
    data = text.encode()
    buffer = (c_int * (3 * len(data) + 8))()
    count = llm.ctransformers_llm_tokenize(data, add_bos, buffer)
    if count > len(buffer):  # cannot happen by the bound above; never return a short count
        raise RuntimeError(f"ctransformers wrote {count} tokens into room for {len(buffer)}")
    return buffer[:count]


MODEL_FILE_SUFFIXES = frozenset({".gguf", ".bin", ".ggml"})


def _names_a_missing_file(model: str) -> bool:
    """A MODEL ending like a model file names a local file (a Hub repo id does not): when it is
    missing, say so rather than ask the Hub for it."""
    path = Path(model).expanduser()
    return path.suffix.lower() in MODEL_FILE_SUFFIXES and not path.exists()


def infer_model_type(model: str, model_file: str | None) -> str | None:
    """Guess the ctransformers model type; None lets ctransformers read it (GGUF, config.json)."""
    name = " ".join(filter(None, [model, model_file])).lower()
    if name.endswith(".gguf"):
        return None  # GGUF files name their architecture themselves
    for pattern, model_type in _TYPE_HINTS:
        if re.search(pattern, name):
            return model_type
    return None


@dataclass(frozen=True, slots=True)
class GenerationStats:
    """What one generation cost; benchmarks and logs read it."""

    prompt_tokens: int
    evaluated_tokens: int  # prompt tokens not reused from the previous call's context
    generated_tokens: int
    finish_reason: str  # "stop", "length", "eos" or "cancelled"
    prompt_seconds: float
    total_seconds: float


class CTransformersBackend:
    """The default backend: a local GGML/GGUF model through ctransformers."""

    def __init__(
        self,
        model: str,
        *,
        model_file: str | None = None,
        model_type: str | None = None,
        gpu_layers: int = 0,
        context_length: int = 2048,
        threads: int = 0,
        local_files_only: bool = False,
    ) -> None:
        self._model = model
        self._model_file = model_file
        self._model_type = model_type or infer_model_type(model, model_file)
        self._gpu_layers = gpu_layers
        self._context_length = context_length
        self._threads = threads if threads > 0 else -1
        self._local_files_only = local_files_only
        self._llm: Any = None
        self._worker = ModelWorker("galatea-ctransformers")
        self._load_lock = asyncio.Lock()
        self._sampler_log = UnsupportedSamplerLog("ctransformers")
        self._gpu_offload = False
        self._loading: LoadProgress | None = None  # set while a load is under way
        self.last_stats: GenerationStats | None = None

    @property
    def name(self) -> str:
        return "ctransformers"

    @property
    def model_name(self) -> str:
        return Path(self._model).name if Path(self._model).exists() else self._model

    @property
    def context_length(self) -> int:
        return self._context_length

    @property
    def model_type(self) -> str | None:
        """The architecture ctransformers reports once loaded (llama, gptj, ...)."""
        return self._llm.model_type if self._llm is not None else self._model_type

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(samplers=SAMPLERS, gpu_offload=self._gpu_offload)

    async def load(self) -> None:
        async with self._load_lock:
            if self._llm is not None:
                return
            if _names_a_missing_file(self._model):
                # One line, said once: the caller shows it (main.py, or the bot's start-up).
                raise BackendUnavailable(
                    f"The model {self._model} could not be loaded: there is no such file. "
                    "Download one with ./run.sh download, or point MODEL at the file."
                )
            log.info(
                "Loading model %s (type %s, %d GPU layers, context %d tokens)...",
                self._model,
                self._model_type or "from file",
                self._gpu_layers,
                self._context_length,
            )
            started = time.monotonic()
            self._loading = LoadProgress(self._model)
            progress = asyncio.create_task(self._loading.report(self.model_name))
            try:
                self._llm = await self._load_with_cpu_fallback()
            except (OSError, ValueError, RuntimeError) as exc:
                raise BackendUnavailable(
                    f"The model {self.model_name} could not be loaded: {exc}".strip()
                ) from exc
            finally:
                progress.cancel()
                self._loading = None
            self._gpu_offload = self._gpu_layers > 0 and self._llm.model_type in CUDA_CAPABLE_TYPES
            if self._gpu_layers > 0 and not self._gpu_offload:
                self._warn_cpu_only(f"ctransformers cannot offload {self._llm.model_type} models")
            log.info(
                "Model %s loaded in %.1f s (architecture %s)",
                self.model_name,
                time.monotonic() - started,
                self._llm.model_type,
            )

    async def _load_with_cpu_fallback(self) -> Any:
        if self._gpu_layers > 0 and self._model_type and self._model_type not in CUDA_CAPABLE_TYPES:
            self._warn_cpu_only(f"ctransformers cannot offload {self._model_type} models")
            self._gpu_layers = 0
        try:
            return await self._worker.call(self._load_blocking)
        except OSError as exc:
            if self._gpu_layers == 0 or "cud" not in str(exc).lower():
                raise
            # The CUDA build of ctransformers needs CUDA 12 runtime libraries to be present.
            self._warn_cpu_only(f"the CUDA runtime could not be loaded ({exc})")
            self._gpu_layers = 0
            return await self._worker.call(self._load_blocking)

    def _warn_cpu_only(self, reason: str) -> None:
        log.warning(
            "GPU_LAYERS=%d was requested, but %s: this model runs on the CPU. See the README's "
            "GPU section (pip install 'ctransformers[cuda]', a llama-family GGUF model, or an "
            "HTTP backend).",
            self._gpu_layers,
            reason,
        )

    def _load_blocking(self) -> Any:
        from ctransformers import AutoModelForCausalLM

        kwargs: dict[str, Any] = {
            "context_length": self._context_length,
            "gpu_layers": self._gpu_layers,
            "threads": self._threads,
            "batch_size": PROMPT_BATCH_SIZE,
            "local_files_only": self._local_files_only,
        }
        if self._model_file:
            kwargs["model_file"] = self._model_file
        if self._model_type:
            kwargs["model_type"] = self._model_type
        return AutoModelForCausalLM.from_pretrained(self._model, **kwargs)

    async def close(self) -> None:
        llm, self._llm = self._llm, None
        if llm is not None:
            await self._worker.call(_release, llm)
        self._worker.shutdown()

    async def count_tokens(self, text: str) -> int:
        llm = self._require_loaded()
        return len(await self._worker.call(lambda: tokenize(llm, text, add_bos=False)))

    async def count_tokens_many(self, texts: Sequence[str]) -> list[int]:
        """Count several texts in one trip to the model thread."""
        llm = self._require_loaded()
        return await self._worker.call(
            lambda: [len(tokenize(llm, text, add_bos=False)) for text in texts]
        )

    async def token_pieces(self) -> list[bytes]:
        """The bytes of every vocabulary token (for bot/prompt/joins.py)."""
        llm = self._require_loaded()
        return await self._worker.call(
            lambda: [llm.detokenize([token], decode=False) for token in range(llm.vocab_size)]
        )

    async def stream(
        self, prompt: str, params: GenerationParams, stop: Sequence[str]
    ) -> AsyncGenerator[str, None]:
        llm = self._require_loaded()
        self._sampler_log.check(params, self.capabilities)
        producer = self._producer(llm, prompt, params, list(stop))
        # aclosing: closing this generator must close the worker's at once (cancel flag set).
        async with aclosing(self._worker.stream(producer)) as pieces:
            async for piece in pieces:
                yield piece

    def _producer(
        self, llm: Any, prompt: str, params: GenerationParams, stop: list[str]
    ) -> Callable[[Callable[[str], None], threading.Event], None]:
        def produce(emit: Callable[[str], None], cancel: threading.Event) -> None:
            self.last_stats = _generate(llm, prompt, params, stop, emit, cancel)

        return produce

    def _require_loaded(self) -> Any:
        if self._llm is None:
            loading = self._loading
            raise BackendUnavailable(
                loading.busy_message() if loading is not None else "The model is not loaded."
            )
        return self._llm


def _generate(
    llm: Any,
    prompt: str,
    params: GenerationParams,
    stop: list[str],
    emit: Callable[[str], None],
    cancel: threading.Event,
) -> GenerationStats:
    """The blocking generation loop; runs on the model thread."""
    started = time.monotonic()
    tokens = tokenize(llm, prompt, add_bos=llm.model_type == "llama")
    if len(tokens) + params.max_new_tokens > llm.context_length:
        # ctransformers would only log a warning and evaluate garbage past its context.
        raise InferenceError(
            "The conversation no longer fits the model's context; this is a bug in prompt "
            "budgeting, please report it."
        )
    pending = llm.prepare_inputs_for_generation(tokens, reset=True)
    evaluated = len(pending)
    if cancel.is_set():
        return GenerationStats(len(tokens), 0, 0, "cancelled", 0.0, 0.0)
    try:
        llm.eval(pending, batch_size=PROMPT_BATCH_SIZE)
    except RuntimeError as exc:
        raise InferenceError("The model failed while reading the conversation.") from exc
    prompt_seconds = time.monotonic() - started

    matcher = StopMatcher(stop)
    decoder = codecs.getincrementaldecoder("utf-8")(errors="ignore")
    generated = 0
    finish = "length"
    seed = params.seed if params.seed is not None else -1
    while generated < params.max_new_tokens:
        if cancel.is_set():
            finish = "cancelled"
            break
        token = llm.sample(
            top_k=params.top_k,
            top_p=params.top_p,
            temperature=params.temperature,
            repetition_penalty=params.repetition_penalty,
            last_n_tokens=64,
            seed=seed,
        )
        if llm.is_eos_token(token):
            finish = "eos"
            break
        generated += 1
        text = matcher.feed(decoder.decode(llm.detokenize([token], decode=False)))
        if text:
            emit(text)
        if matcher.stopped:
            finish = "stop"
            break
        llm.eval([token], batch_size=1)
    if not matcher.stopped and finish != "cancelled":
        tail = matcher.feed(decoder.decode(b"", final=True)) + matcher.flush()
        if tail:
            emit(tail)
    return GenerationStats(
        prompt_tokens=len(tokens),
        evaluated_tokens=evaluated,
        generated_tokens=generated,
        finish_reason=finish,
        prompt_seconds=prompt_seconds,
        total_seconds=time.monotonic() - started,
    )


def _release(llm: Any) -> None:
    del llm  # ctransformers frees the model in LLM.__del__, on the model thread
