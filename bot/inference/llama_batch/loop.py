"""The decode-step loop: one thread, one Python iteration per step for every sequence.

Each step builds one ``llama_batch`` holding the next token of every generating reply and, in
the room left, the next chunk of prompts still being evaluated (so a long new prompt never
stalls the replies already streaming), calls ``llama_decode`` once, and samples each reply's
next token with its own llama.cpp sampler chain straight from the context's logits. A reply
joins at the next step and leaves at the step after it ends or is cancelled; the others never
notice. Text goes back to the asker once per step as a decoded piece.
"""

from __future__ import annotations

import codecs
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.inference.base import GenerationParams
from bot.inference.llama_batch.native import NativeContext, NativeModel, SamplerChain, TokenBatch
from bot.inference.llama_batch.sequences import SequenceTable

log = logging.getLogger(__name__)


class PromptTooLong(ValueError):
    """The prompt does not fit in one sequence's context."""


class DecodeFailed(RuntimeError):
    """llama_decode returned an error for a step."""


@dataclass(slots=True)
class RequestStats:
    """What one reply cost, for benchmarks and logs."""

    key: str | None
    queued_at: float = field(default_factory=time.perf_counter)
    started_at: float | None = None
    first_token_at: float | None = None
    finished_at: float | None = None
    prompt_tokens: int = 0
    reused_tokens: int = 0  # kept in the sequence or copied from another (no evaluation)
    generated_tokens: int = 0
    was_resident: bool = False

    @property
    def evaluated_tokens(self) -> int:
        return self.prompt_tokens - self.reused_tokens


@dataclass(eq=False, slots=True)
class Request:
    """One reply asked of the loop. ``deliver`` is called on the loop thread with text pieces,
    then ``None`` at the end, or an exception."""

    key: str | None
    prompt: str
    params: GenerationParams
    deliver: Callable[[str | BaseException | None], None]
    stats: RequestStats
    cancelled: bool = False  # set from any thread; read once per step


@dataclass(eq=False, slots=True)
class _Running:
    request: Request
    seq_id: int
    prompt: list[int]
    position: int  # next position to write (== tokens in the sequence)
    chain: SamplerChain
    limit: int  # the position at which the reply must end (context per sequence)
    next_token: int | None = None  # sampled, not yet decoded
    row: int = -1  # batch row whose logits this reply samples from, -1 if none this step
    added: list[int] = field(default_factory=list)
    decoder: codecs.IncrementalDecoder = field(
        default_factory=lambda: codecs.getincrementaldecoder("utf-8")("replace")
    )


class BatchLoop:
    """Owns the context; ``run`` is the body of its thread."""

    def __init__(
        self,
        model: NativeModel,
        context: NativeContext,
        table: SequenceTable,
        *,
        parallel: int,
        context_per_sequence: int,
        prefill_chunk: int,
    ) -> None:
        self._model, self._ctx, self.table = model, context, table
        self._parallel = parallel
        self._per_seq = context_per_sequence
        self._batch = TokenBatch(model.lib, max(prefill_chunk, parallel))
        self._pending: deque[Request] = deque()
        self._running: list[_Running] = []
        self._wake = threading.Condition()
        self._stopping = False
        self.steps = 0

    # --- from other threads ------------------------------------------------------------------

    def submit(self, request: Request) -> None:
        with self._wake:
            self._pending.append(request)
            self._wake.notify()

    def poke(self) -> None:
        """Wake the loop (a request was cancelled while it waited)."""
        with self._wake:
            self._wake.notify()

    def stop(self) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify()

    @property
    def queued(self) -> int:
        return len(self._pending)

    # --- the loop thread ---------------------------------------------------------------------

    def run(self) -> None:
        try:
            while self._next_work():
                self._admit()
                if self._running:
                    self._step()
        finally:
            for request in [*(r.request for r in self._running), *self._pending]:
                request.deliver(None)
            for running in self._running:
                running.chain.free()
            self._running.clear()
            self._batch.free()

    def _next_work(self) -> bool:
        with self._wake:
            while not self._stopping and not self._running and not self._ready():
                self._wake.wait()
            return not self._stopping

    def _ready(self) -> bool:
        return bool(self._pending) and len(self._running) < self._parallel

    def _admit(self) -> None:
        """Start waiting requests, oldest first, while a reply slot and cells are free."""
        while True:
            with self._wake:
                if not self._ready():
                    return
                request = self._pending[0]
            if request.cancelled:
                self._pop_pending()
                request.deliver(None)
                continue
            try:
                running = self._start(request)
            except PromptTooLong as error:
                self._pop_pending()
                request.deliver(error)
                continue
            if running is None:
                return  # its cells are held by running replies: it waits for one to end
            self._pop_pending()
            self._running.append(running)

    def _pop_pending(self) -> None:
        with self._wake:
            self._pending.popleft()

    def _start(self, request: Request) -> _Running | None:
        prompt = self._model.tokenize(request.prompt, add_bos=True)
        if len(prompt) >= self._per_seq:
            raise PromptTooLong(
                f"Requested tokens ({len(prompt)}) exceed context window of {self._per_seq}"
            )
        reserve = min(len(prompt) + request.params.max_new_tokens, self._per_seq)
        was_resident = request.key is not None and self.table.resident(request.key)
        claim = self.table.claim(request.key, prompt, reserve)
        if claim is None:
            return None
        for seq_id in claim.dropped:
            self._ctx.drop(seq_id)
        self._ctx.drop(claim.seq_id, claim.keep)
        if claim.copy_from is not None:
            self._ctx.copy(claim.copy_from, claim.seq_id, claim.copied)
        stats = request.stats
        stats.started_at = time.perf_counter()
        stats.prompt_tokens, stats.reused_tokens = len(prompt), claim.reused
        stats.was_resident = was_resident
        chain = SamplerChain(self._model, request.params, prompt)
        limit = min(self._per_seq, len(prompt) + request.params.max_new_tokens)
        return _Running(request, claim.seq_id, prompt, claim.reused, chain, limit)

    def _step(self) -> None:
        self._drop_cancelled()
        if not self._running:
            return
        batch = self._batch
        batch.clear()
        for running in self._running:  # every generating reply advances one token
            running.row, running.added = -1, []
            if running.next_token is not None:
                running.row = batch.add(running.next_token, running.position, running.seq_id, True)
                running.added.append(running.next_token)
        for running in self._running:  # prompts fill the room left, oldest first
            if running.next_token is not None or batch.room == 0:
                continue
            start = running.position
            chunk = running.prompt[start : start + batch.room]
            for offset, token in enumerate(chunk):
                last = start + offset == len(running.prompt) - 1
                row = batch.add(token, start + offset, running.seq_id, last)
                if last:
                    running.row = row
            running.added = chunk
        status = self._ctx.decode(batch)
        self.steps += 1
        if status != 0:
            self._fail_all(DecodeFailed(f"llama_decode returned {status}"))
            return
        for running in list(self._running):
            running.position += len(running.added)
            self.table.decoded(running.seq_id, running.added)
            if running.row >= 0:
                self._sample(running)

    def _sample(self, running: _Running) -> None:
        token = self._ctx.sample(running.chain, running.row)
        stats = running.request.stats
        if stats.first_token_at is None:
            stats.first_token_at = time.perf_counter()
        if self._model.is_end(token):
            self._finish(running)
            return
        stats.generated_tokens += 1
        text = running.decoder.decode(self._model.piece(token))
        if text:
            running.request.deliver(text)
        ended = stats.generated_tokens >= running.request.params.max_new_tokens
        if ended or running.position + 1 >= running.limit:
            self._finish(running)
        else:
            running.next_token = token

    def _drop_cancelled(self) -> None:
        for running in [r for r in self._running if r.request.cancelled]:
            self._finish(running)

    def _finish(self, running: _Running, error: BaseException | None = None) -> None:
        self._running.remove(running)
        running.chain.free()
        self.table.release(running.seq_id, keep=error is None)
        if error is not None:
            self._ctx.drop(running.seq_id)
        running.request.stats.finished_at = time.perf_counter()
        tail = running.decoder.decode(b"", final=True) if error is None else ""
        if tail:
            running.request.deliver(tail)
        running.request.deliver(error)

    def _fail_all(self, error: DecodeFailed) -> None:
        log.error("llama.cpp batch step failed (%s); %d replies end", error, len(self._running))
        for running in list(self._running):
            self._finish(running, error)
