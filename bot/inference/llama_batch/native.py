"""Thin wrappers over llama-cpp-python's low-level bindings (``llama_cpp.llama_cpp``).

Everything here calls llama.cpp's C functions directly: one model, one context holding several
sequences in a unified KV cache, a reusable ``llama_batch``, and llama.cpp's own sampler chain.
Nothing copies logits into Python. All methods except tokenizing and token pieces must run on
the one thread that owns the context (see ``loop``); the vocabulary is read-only and shared.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from bot.inference.base import GenerationParams

# Cache types an operator may name in KV_CACHE_TYPE (ggml's enum values).
KV_CACHE_TYPES = {"f16": 1, "q8_0": 8, "q4_0": 2, "f32": 0}
# llama.cpp keeps the penalties' window this long when repetition_penalty_range is 0 (its own
# default, penalty_last_n = 64).
DEFAULT_PENALTY_WINDOW = 64


class NativeError(RuntimeError):
    """llama.cpp refused an operation (load, context, tokenize)."""


@dataclass(frozen=True, slots=True)
class ContextConfig:
    """What the one context is made with."""

    n_ctx: int  # KV cells shared by every sequence
    n_seq_max: int  # sequences (resident conversations) it can hold
    n_batch: int  # tokens one decode call may carry
    n_threads: int
    kv_type: str = "f16"
    flash_attn: bool = True  # False: off for f16 caches (on the CPU it costs more than it saves)


class NativeModel:
    """The loaded weights and their vocabulary."""

    def __init__(self, lib: ModuleType, path: Path, *, n_gpu_layers: int) -> None:
        self.lib = lib
        params = lib.llama_model_default_params()
        params.n_gpu_layers = n_gpu_layers
        lib.llama_backend_init()
        model = lib.llama_model_load_from_file(str(path).encode(), params)
        if not model:
            raise NativeError(f"could not load {path.name}")
        self.model = model
        self.vocab = lib.llama_model_get_vocab(model)
        self.n_vocab = int(lib.llama_vocab_n_tokens(self.vocab))
        self.n_ctx_train = int(lib.llama_model_n_ctx_train(model))
        self._pieces: dict[int, bytes] = {}

    def metadata(self, key: str) -> str | None:
        buffer = ctypes.create_string_buffer(256)
        size = self.lib.llama_model_meta_val_str(self.model, key.encode(), buffer, 256)
        return buffer.value.decode("utf-8", "replace") if size >= 0 else None

    def kv_bytes_per_token(self, kv_type: str) -> int:
        """Bytes one token of one sequence occupies in the KV cache (K and V, every layer)."""
        lib, model = self.lib, self.model
        n_embd_kv = lib.llama_model_n_embd(model) * lib.llama_model_n_head_kv(model)
        n_embd_kv //= max(1, lib.llama_model_n_head(model))
        per_value = {"f32": 4.0, "f16": 2.0, "q8_0": 34 / 32, "q4_0": 18 / 32}[kv_type]
        return int(2 * lib.llama_model_n_layer(model) * n_embd_kv * per_value)

    def tokenize(self, text: str, *, add_bos: bool) -> list[int]:
        """Tokens of ``text``; control tokens written in the text are parsed (as
        llama-cpp-python's ``create_completion`` does)."""
        data = text.encode("utf-8")
        capacity = len(data) + 8
        tokens = (self.lib.llama_token * capacity)()
        lib = self.lib
        count = lib.llama_tokenize(self.vocab, data, len(data), tokens, capacity, add_bos, True)
        if count < 0:
            raise NativeError(f"tokenizing needs {-count} tokens, more than {capacity}")
        return list(tokens[:count])

    def piece(self, token: int) -> bytes:
        """The bytes token ``token`` stands for (cached: the vocabulary never changes)."""
        cached = self._pieces.get(token)
        if cached is None:
            buffer = ctypes.create_string_buffer(64)
            size = self.lib.llama_token_to_piece(self.vocab, token, buffer, 64, 0, False)
            if size < 0:
                buffer = ctypes.create_string_buffer(-size)
                size = self.lib.llama_token_to_piece(self.vocab, token, buffer, -size, 0, False)
            cached = self._pieces[token] = buffer.raw[:size]
        return cached

    def is_end(self, token: int) -> bool:
        return bool(self.lib.llama_vocab_is_eog(self.vocab, token))

    def free(self) -> None:
        if self.model:
            self.lib.llama_model_free(self.model)
            self.model = None


class NativeContext:
    """One llama.cpp context: a unified KV cache shared by ``n_seq_max`` sequences."""

    def __init__(self, model: NativeModel, config: ContextConfig) -> None:
        lib = self.lib = model.lib
        params = lib.llama_context_default_params()
        params.n_ctx = config.n_ctx
        params.n_batch = params.n_ubatch = config.n_batch
        params.n_seq_max = config.n_seq_max
        params.n_threads = params.n_threads_batch = config.n_threads
        # One buffer for every sequence: a sequence grows into whatever is free, and persona
        # prefixes copied with seq_cp share their cells instead of being duplicated.
        params.kv_unified = True
        params.type_k = params.type_v = KV_CACHE_TYPES[config.kv_type]
        if config.kv_type not in ("f16", "f32"):
            params.flash_attn_type = lib.LLAMA_FLASH_ATTN_TYPE_ENABLED  # quantized V needs it
        elif not config.flash_attn:
            params.flash_attn_type = lib.LLAMA_FLASH_ATTN_TYPE_DISABLED
        params.no_perf = False
        ctx = lib.llama_init_from_model(model.model, params)
        if not ctx:
            raise NativeError("llama.cpp could not create the context (out of memory?)")
        self.ctx = ctx
        self.memory = lib.llama_get_memory(ctx)
        self.n_ctx = int(lib.llama_n_ctx(ctx))

    def decode(self, batch: TokenBatch) -> int:
        return int(self.lib.llama_decode(self.ctx, batch.batch))

    def drop(self, seq: int, start: int = 0) -> None:
        """Remove the sequence's cells from position ``start`` on."""
        self.lib.llama_memory_seq_rm(self.memory, seq, start, -1)

    def copy(self, source: int, target: int, end: int) -> None:
        """Let ``target`` share ``source``'s cells for positions [0, end)."""
        self.lib.llama_memory_seq_cp(self.memory, source, target, 0, end)

    def sample(self, chain: SamplerChain, index: int) -> int:
        """Sample (and accept) the next token from the logits at batch row ``index``."""
        return int(self.lib.llama_sampler_sample(chain.chain, self.ctx, index))

    def free(self) -> None:
        if self.ctx:
            self.lib.llama_free(self.ctx)
            self.ctx = None


class TokenBatch:
    """A ``llama_batch`` reused for every step; rows carry tokens of any sequence."""

    def __init__(self, lib: ModuleType, capacity: int) -> None:
        self.lib = lib
        self.capacity = capacity
        self.batch = lib.llama_batch_init(capacity, 0, 1)
        self.n_tokens = 0

    def clear(self) -> None:
        self.n_tokens = 0
        self.batch.n_tokens = 0

    def add(self, token: int, pos: int, seq: int, logits: bool) -> int:
        """Append one token; returns its row (the index its logits are sampled from)."""
        row, batch = self.n_tokens, self.batch
        batch.token[row] = token
        batch.pos[row] = pos
        batch.n_seq_id[row] = 1
        batch.seq_id[row][0] = seq
        batch.logits[row] = logits
        self.n_tokens = batch.n_tokens = row + 1
        return row

    @property
    def room(self) -> int:
        return self.capacity - self.n_tokens

    def free(self) -> None:
        if self.batch is not None:
            self.lib.llama_batch_free(self.batch)
            self.batch = None


class SamplerChain:
    """llama.cpp's sampler chain for one reply, in llama-cpp-python's order: penalties, then
    top-k, typical, top-p, min-p, temperature and a seeded draw (or mirostat, or greedy)."""

    def __init__(self, model: NativeModel, params: GenerationParams, recent: list[int]) -> None:
        lib = self.lib = model.lib
        chain = lib.llama_sampler_chain_init(lib.llama_sampler_chain_default_params())
        self.chain: Any = chain
        seed = lib.LLAMA_DEFAULT_SEED if params.seed is None else params.seed & 0xFFFFFFFF
        add = lib.llama_sampler_chain_add
        window = params.repetition_penalty_range or DEFAULT_PENALTY_WINDOW
        if params.repetition_penalty != 1.0:
            penalty = params.repetition_penalty
            add(chain, lib.llama_sampler_init_penalties(model.n_vocab, window, penalty, 0, 0))
        if params.mirostat_mode in (1, 2):
            add(chain, lib.llama_sampler_init_temp(params.temperature))
            tau, eta = params.mirostat_tau, params.mirostat_eta
            if params.mirostat_mode == 1:
                add(chain, lib.llama_sampler_init_mirostat(model.n_vocab, seed, tau, eta, 100))
            else:
                add(chain, lib.llama_sampler_init_mirostat_v2(seed, tau, eta))
        elif params.temperature <= 0:
            add(chain, lib.llama_sampler_init_greedy())
        else:
            if params.top_k > 0:
                add(chain, lib.llama_sampler_init_top_k(params.top_k))
            if params.typical_p < 1.0:
                add(chain, lib.llama_sampler_init_typical(params.typical_p, 1))
            if params.top_p < 1.0:
                add(chain, lib.llama_sampler_init_top_p(params.top_p, 1))
            if params.min_p > 0.0:
                add(chain, lib.llama_sampler_init_min_p(params.min_p, 1))
            add(chain, lib.llama_sampler_init_temp(params.temperature))
            add(chain, lib.llama_sampler_init_dist(seed))
        # The penalties see the conversation's recent tokens, as llama-server's do.
        for token in recent[-window:]:
            lib.llama_sampler_accept(chain, token)

    def free(self) -> None:
        if self.chain:
            self.lib.llama_sampler_free(self.chain)
            self.chain = None


def load_library() -> ModuleType:
    """The low-level bindings (imported only when this backend is used)."""
    from llama_cpp import llama_cpp

    return llama_cpp


def set_verbose(verbose: bool) -> None:
    """llama.cpp's own log lines: shown only when verbose (as ``Llama(verbose=...)`` does)."""
    from llama_cpp import _logger

    _logger.set_verbose(verbose)
