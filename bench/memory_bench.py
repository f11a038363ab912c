"""Memory's cost: the bot's own work per turn with memory on and off, and whether a summary
job ever delays a member's reply (8 channels sharing one model).

    .venv/bin/python -m bench memory            # about two minutes on a 2-core CPU
    .venv/bin/python -m bench memory --quick

*Own work*: bench/own_work.py's measurement (10,000 stored messages, the model answering
instantly), once with MEMORY on (summaries, pins, recall) and once off. With memory on the
window's first trims start a summary job that folds the 10,000 old lines a chunk at a time in
the background, so the turns measured also share the event loop with that catch-up.

*Summaries against replies*: 8 channels, each with 600 stored lines (windows trim, summaries
have work), members writing 1-4 s after each reply, a model that spends ``per_token`` seconds
on each token (a reply is 16 tokens, a summary up to 300). Reply latency (message stored to reply
stored) with memory on and off, how many summary generations were cancelled because a
member's reply started waiting, and the longest such wait for the model to be handed back.
"""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from bench.conversation import MessageWriter
from bench.core_setup import open_bench_core, start_channels
from bench.instant_backend import InstantBackend
from bench.own_work import _fill_history, measure_own_work
from bench.stats import p50, p95
from bot.inference.base import Backend, GenerationParams

CHANNELS = 8
STORED_PER_CHANNEL = 600
THINK_SECONDS = (1.0, 4.0)  # between a member's reply and their next message


class PacedBackend:
    """A backend's text, one piece every ``per_token`` seconds, as a model would write it."""

    def __init__(self, inner: Backend, per_token: float) -> None:
        self._inner = inner
        self._per_token = per_token
        self.summaries_started = 0
        self.summaries_cancelled = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def stream(
        self, prompt: str, params: GenerationParams, stop: Sequence[str]
    ) -> AsyncIterator[str]:
        summary = "Summary so far:" in prompt
        self.summaries_started += summary
        pieces = [p async for p in self._inner.stream(prompt, params, stop)]
        if summary:  # a summary is long: as many tokens as it may take
            pieces = (pieces * (params.max_new_tokens // max(1, len(pieces)) + 1))[
                : params.max_new_tokens
            ]
        try:
            for piece in pieces:
                await asyncio.sleep(self._per_token)
                yield piece
        except (asyncio.CancelledError, GeneratorExit):
            self.summaries_cancelled += summary
            raise


async def measure_summaries_against_replies(
    model: Path, *, memory: bool, turns: int, per_token: float, seed: int = 5
) -> dict[str, Any]:
    backend = PacedBackend(InstantBackend(model), per_token)
    writer = MessageWriter(seed=seed)
    latencies: list[float] = []
    with tempfile.TemporaryDirectory(prefix="galatea-bench-") as folder:
        bench = await open_bench_core(
            backend,
            Path(folder) / "memory.db",
            model=str(model),
            max_new_tokens=16,
            memory=memory,
        )
        try:
            sessions = await start_channels(bench, CHANNELS)
            for session_id in sessions:
                await _fill_history(bench, session_id, STORED_PER_CHANNEL, writer)
            engine = bench.core.engine
            chance = random.Random(seed)

            async def member(session_id: int, pauses: list[float]) -> None:
                for pause in pauses:
                    await asyncio.sleep(pause)
                    await engine.history.add_human_message(
                        session_id, speaker="Alice", content=writer.message()
                    )
                    started = time.perf_counter()
                    await engine.replies.generate_reply(session_id)
                    latencies.append(time.perf_counter() - started)

            plans = [[chance.uniform(*THINK_SECONDS) for _ in range(turns)] for _ in sessions]
            began = time.perf_counter()
            await asyncio.gather(*(member(s, p) for s, p in zip(sessions, plans, strict=True)))
            elapsed = time.perf_counter() - began
            summarizer = bench.core.memory.summarizer
            queue = engine.queue()
            folded, deferred = summarizer.folded, summarizer.deferred
            await summarizer.close()
        finally:
            await bench.close()
    ms = 1000.0
    return {
        "memory": memory,
        "channels": CHANNELS,
        "replies": len(latencies),
        "seconds": elapsed,
        "per_token_ms": per_token * ms,
        "reply_ms_p50": p50(latencies) * ms,
        "reply_ms_p95": p95(latencies) * ms,
        "reply_ms_max": max(latencies) * ms,
        "longest_queue_wait_ms": queue.longest_wait_ever * ms,
        "summary_chunks_folded": folded,
        "summary_jobs_deferred": deferred,
        "summaries_started": backend.summaries_started,
        "summaries_cancelled_for_a_reply": backend.summaries_cancelled,
        "background_yields": queue.background_yields,
        "longest_background_yield_ms": queue.longest_background_yield * ms,
    }


async def measure_memory(model: Path, *, quick: bool) -> dict[str, Any]:
    turns = 100 if quick else 300
    results: dict[str, Any] = {}
    for memory in (True, False):
        key = "on" if memory else "off"
        results[f"own_work_memory_{key}"] = await measure_own_work(
            InstantBackend(model), turns=turns, model=str(model), memory=memory
        )
    for memory in (True, False):
        key = "on" if memory else "off"
        results[f"eight_channels_memory_{key}"] = await measure_summaries_against_replies(
            model, memory=memory, turns=8 if quick else 20, per_token=0.004
        )
    return results


def render_memory(results: dict[str, Any]) -> str:
    lines = [
        "| memory | own work p50 ms | p95 ms | summary chunks folded |",
        "|---|---|---|---|",
    ]
    for key in ("on", "off"):
        own = results[f"own_work_memory_{key}"]
        lines.append(
            f"| {key} | {own['own_ms_p50']:.2f} | {own['own_ms_p95']:.2f} "
            f"| {own['summary_chunks_folded']} |"
        )
    lines += [
        "",
        "| memory | replies | reply p50 ms | p95 ms | max ms | summaries started "
        "| cancelled for a reply | folded | longest yield ms |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for key in ("on", "off"):
        run = results[f"eight_channels_memory_{key}"]
        lines.append(
            f"| {key} | {run['replies']} | {run['reply_ms_p50']:.0f} | {run['reply_ms_p95']:.0f} "
            f"| {run['reply_ms_max']:.0f} | {run['summaries_started']} "
            f"| {run['summaries_cancelled_for_a_reply']} | {run['summary_chunks_folded']} "
            f"| {run['longest_background_yield_ms']:.1f} |"
        )
    return "\n".join(lines)
