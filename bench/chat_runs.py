"""Conversations through the core: one channel, channels taking turns, channels all at once."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from bench.conversation import MessageWriter
from bench.core_setup import BENCH_TOP_K, BenchCore, TurnTiming, chat_turn, start_channels
from bench.prefix_reuse import records_for_turn, summarize_costs, turn_costs
from bench.stats import p50, p95
from bot.errors import GalateaError
from bot.inference.base import GenerationParams

log = logging.getLogger(__name__)

ROUND_TIMEOUT_SECONDS = 1800.0  # one round of every channel; far above any expected time


@dataclass
class ChatRun:
    turns: list[TurnTiming]
    failures: int
    wall_seconds: float


def reply_params(max_new_tokens: int) -> GenerationParams:
    return GenerationParams(
        max_new_tokens=max_new_tokens,
        temperature=0.8,
        top_p=0.9,
        top_k=BENCH_TOP_K,  # see bench/core_setup.py
        repetition_penalty=1.1,
    )


async def _safe_turn(
    bench: BenchCore, session_id: int, writer: MessageWriter, index: int, params: GenerationParams
) -> TurnTiming | None:
    try:
        return await chat_turn(bench, session_id, writer, index, params)
    except GalateaError as error:  # e.g. a random-weight model said nothing twice
        log.warning("Turn in session %d failed: %s", session_id, error.user_message)
        return None


async def run_channels(
    bench: BenchCore,
    *,
    channels: int,
    rounds: int,
    max_new_tokens: int,
    concurrent: bool,
    first_channel: int,
    seed: int,
    people: int = 3,
) -> ChatRun:
    """``rounds`` rounds; in each, every channel gets one message and one reply.

    ``concurrent``: all channels of a round write at once (replies queue in the core);
    otherwise they take turns, one reply after the other (interleaved on one model).
    ``people``: how many people write in each channel (the persona's ``{{user}}`` follows
    whoever spoke last, so who speaks matters to what a backend can reuse).
    """
    sessions = await start_channels(bench, channels, first=first_channel)
    writer = MessageWriter(seed, people)
    params = reply_params(max_new_tokens)
    turns: list[TurnTiming] = []
    failures = 0
    started = time.perf_counter()
    for _round in range(rounds):
        if concurrent:
            round_turns = await asyncio.wait_for(
                asyncio.gather(
                    *(
                        _safe_turn(bench, session, writer, index, params)
                        for index, session in enumerate(sessions)
                    )
                ),
                ROUND_TIMEOUT_SECONDS,
            )
        else:
            round_turns = []
            for index, session in enumerate(sessions):
                round_turns.append(
                    await asyncio.wait_for(
                        _safe_turn(bench, session, writer, index, params), ROUND_TIMEOUT_SECONDS
                    )
                )
        turns += [t for t in round_turns if t is not None]
        failures += sum(t is None for t in round_turns)
    return ChatRun(turns, failures, time.perf_counter() - started)


async def reuse_summary(bench: BenchCore, run: ChatRun) -> dict[str, object]:
    summary = summarize_costs(await turn_costs(bench.backend, run.turns))
    summary["failures"] = run.failures
    summary["wall_seconds"] = run.wall_seconds
    return summary


def latency_summary(bench: BenchCore, run: ChatRun, channels: int) -> dict[str, object]:
    """p50/p95 latency and first text, tokens/s over the run, and the longest wait."""
    latencies = [t.latency for t in run.turns]
    firsts = [t.time_to_first_text for t in run.turns if t.time_to_first_text is not None]
    generated = 0
    for turn in run.turns:
        for record in records_for_turn(turn, bench.backend.records):
            generated += record.generated_tokens or record.pieces
    return {
        "channels": channels,
        "replies": len(run.turns),
        "failures": run.failures,
        "wall_seconds": run.wall_seconds,
        "latency_p50": p50(latencies),
        "latency_p95": p95(latencies),
        "first_text_p50": p50(firsts),
        "first_text_p95": p95(firsts),
        "generated_tokens": generated,
        "aggregate_tokens_per_second": generated / run.wall_seconds if run.wall_seconds else None,
        "longest_wait_for_first_text": max(firsts) if firsts else None,
        "longest_reply_latency": max(latencies) if latencies else None,
    }


def channel_plan(quick: bool) -> Sequence[tuple[int, int]]:
    """(channels, rounds) for the concurrent reply-path runs."""
    return ((1, 3), (8, 1), (32, 1)) if quick else ((1, 6), (8, 3), (32, 2))
