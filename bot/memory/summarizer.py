"""Folding the lines a window trimmed into the running summary, in the background.

A job per (session, character) at a time. It reads the lines between what the summary covers
and where the prompt's window now starts, folds them a chunk at a time (each chunk one
generation by the same backend), and stores the result only over the revision it read: a
member's edit, a reset or a changed old line meanwhile wins and the job's result is dropped.

Each generation waits for the scheduler's background turn: only while no member's reply
waits, and it gives the model back the moment one starts waiting (the generation is cancelled
between two tokens). A job that gets no turn within its patience is deferred; the next prompt
after ``retry_after`` asks again, so a busy hour is caught up when it calms down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from bot.inference.base import Backend, GenerationParams, generate_text
from bot.inference.scheduler import Deferred, Scheduler
from bot.memory.prompts import SummaryPrompt, clean_summary, summary_prompt
from bot.prompt.render import PromptRenderer
from bot.prompt.tokens import TokenCounter
from bot.store import Database
from bot.values import MemorySummary

log = logging.getLogger(__name__)

Key = tuple[int, int]  # (session, character)
CHUNK_LINES = 60  # lines read per fold; fewer when they do not fit the context
CATCH_UP_LINES = 240  # at most this many lines before the window are ever folded at once
PROMPT_OVERHEAD = 160  # tokens for the instruction and the labels around the lines
SAFETY_MARGIN = 8
Line = tuple[int, str, str, int | None]  # id, speaker, text, author


@dataclass(frozen=True, slots=True)
class FoldRequest:
    session_id: int
    character_id: int
    character_name: str
    before_id: int  # the window's first line: everything older may be folded
    since_id: int  # the character knows nothing older (joined a scene later): 0 for all


def summary_tokens(context_length: int) -> int:
    """How long a summary may grow: a tenth of the context, at most 300 tokens."""
    return max(48, min(300, context_length // 10))


class Summarizer:
    def __init__(
        self,
        database: Database,
        backend: Backend,
        scheduler: Scheduler,
        renderer: PromptRenderer,
        counter: TokenCounter,
        *,
        patience: float = 60.0,
        retry_after: float = 30.0,
        on_saved: Callable[[MemorySummary], None] | None = None,
    ) -> None:
        self._db = database
        self._backend = backend
        self._scheduler = scheduler
        self._renderer = renderer
        self._counter = counter
        self._patience = patience
        self._retry_after = retry_after
        self._on_saved = on_saved
        self._jobs: dict[Key, asyncio.Task[None]] = {}
        self._deferred: dict[Key, float] = {}  # key -> not before this monotonic time
        self.folded = 0  # chunks folded, deferred: jobs that got no turn (for benchmarks)
        self.deferred = 0

    def request(self, fold: FoldRequest) -> bool:
        """Start a job for ``fold`` unless one runs or a deferred one must wait; True if
        started."""
        key = (fold.session_id, fold.character_id)
        if key in self._jobs or self._deferred.get(key, 0.0) > time.monotonic():
            return False
        self._deferred.pop(key, None)
        task = asyncio.create_task(self._run(fold), name=f"memory-summary-{key}")
        self._jobs[key] = task
        task.add_done_callback(lambda done: self._finished(key, done))
        return True

    def _finished(self, key: Key, task: asyncio.Task[None]) -> None:
        if self._jobs.get(key) is task:
            del self._jobs[key]
        if not task.cancelled() and task.exception() is not None:
            log.error("Summary job for %s failed", key, exc_info=task.exception())

    def wants_retry(self, key: Key) -> bool:
        """A deferred job whose wait is over: ask again."""
        until = self._deferred.get(key)
        return until is not None and until <= time.monotonic()

    def running(self) -> int:
        return len(self._jobs)

    async def idle(self) -> None:
        """Wait until no job runs (tests, benchmarks, shutdown)."""
        while self._jobs:
            await asyncio.gather(*list(self._jobs.values()), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._jobs.values()):
            task.cancel()
        await self.idle()

    async def _run(self, fold: FoldRequest) -> None:
        key = (fold.session_id, fold.character_id)
        while True:
            async with self._db.read() as uow:
                current = await uow.memory.summary(*key)
                start = max(current.covered_until if current else 0, fold.since_id)
                # A long backlog (a history from before memory, a summary started over): only
                # its newest lines are folded; older ones still come back through recall.
                start = max(
                    start,
                    await uow.memory.line_before(fold.session_id, fold.before_id, CATCH_UP_LINES),
                )
                lines = await uow.memory.lines_between(
                    fold.session_id, start, fold.before_id, CHUNK_LINES
                )
            if not lines:
                return
            prompt, lines = await self.fitted_prompt(
                fold.character_name, current.text if current else "", lines
            )
            started = time.monotonic()
            raw = None
            # A reply that starts waiting stops the summary; it starts again once the model is
            # free, for as long as the job's patience lasts.
            deadline = started + self._patience
            while raw is None and time.monotonic() < deadline:
                try:
                    async with self._scheduler.background_turn(
                        patience=deadline - time.monotonic()
                    ) as preempt:
                        raw = await self._generate(prompt.text, prompt.stop, preempt)
                except Deferred:
                    break
            if raw is None:
                self.deferred += 1
                self._deferred[key] = time.monotonic() + self._retry_after
                log.info("Summary for session %d deferred: the model is busy", fold.session_id)
                return
            text = clean_summary(raw) or (current.text if current else "")
            async with self._db.write() as uow:
                saved = await uow.memory.save_summary(
                    fold.session_id,
                    fold.character_id,
                    summary=text,
                    covered_until=lines[-1][0],
                    expected_revision=current.revision if current else 0,
                    authors=[a for *_, a in lines if a is not None],
                )
            if saved is None:
                return  # changed meanwhile (an edit, a reset): the next trim starts again
            self.folded += 1
            log.info(
                "Summary for session %d, character %d: %d lines folded in %.1f s",
                fold.session_id,
                fold.character_id,
                len(lines),
                time.monotonic() - started,
            )
            if self._on_saved is not None:
                self._on_saved(saved)

    async def fitted_prompt(
        self, character_name: str, previous: str, lines: list[Line]
    ) -> tuple[SummaryPrompt, list[Line]]:
        """The summary prompt for the oldest of ``lines`` that fit the context with the
        answer: estimated from each line's count, then checked on the whole prompt."""
        context = self._renderer.context_length
        limit = context - summary_tokens(context) - SAFETY_MARGIN
        room = limit - summary_tokens(context) - PROMPT_OVERHEAD
        costs = await self._counter.count_many([f"{who}: {said}" for _, who, said, _ in lines])
        kept: list[Line] = []
        spent = 0
        for line, cost in zip(lines, costs, strict=True):
            if kept and spent + cost > room:
                break
            kept.append(line)
            spent += cost
        words = summary_tokens(context) * 3 // 4
        while True:
            prompt = summary_prompt(
                self._renderer.prompt_format,
                character_name,
                previous,
                [(speaker, text) for _, speaker, text, _ in kept],
                words=words,
            )
            tokens = await self._counter.count(prompt.text)
            if tokens <= limit or len(kept) == 1:
                return prompt, kept
            kept = kept[: max(1, min(len(kept) - 1, len(kept) * limit // tokens))]

    async def _generate(
        self, prompt: str, stop: tuple[str, ...], preempt: asyncio.Event
    ) -> str | None:
        """The summary's text, or None when a member's turn came first (cancelled)."""
        params = GenerationParams(
            max_new_tokens=summary_tokens(self._renderer.context_length),
            temperature=0.3,
            top_p=0.9,
            repetition_penalty=1.1,
        )

        async def collect() -> str:
            # No conversation key: a summary is written now and then, so it takes whatever
            # sequence (or pool instance) is idle rather than keeping one of its own resident
            # beside the channels' (which it would push out of a full KV cache).
            return await generate_text(self._backend, prompt, params, stop)

        writing = asyncio.create_task(collect())
        waiting = asyncio.create_task(preempt.wait())
        try:
            await asyncio.wait({writing, waiting}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiting.cancel()
            if not writing.done():  # a member waits (or the job itself was cancelled)
                writing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await writing
        return None if writing.cancelled() else writing.result()
