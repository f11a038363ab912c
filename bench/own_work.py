"""The bot's own work per turn, outside the model, with 10,000 messages stored in the channel.

Two measurements. *Engine*: what the console asks of the core: store the member's message,
then ``generate_reply`` (read the recent history, render and count the prompt, stream the
reply, store it). *Channel*: what the Discord front end asks: a message handed to
``ChannelRoleplay.handle`` (session, server settings, persona, lease, store, who answers), the
reply written by its worker and shown by a presenter that costs nothing, and the shown
message's id stored. The model answers instantly (or a loopback server does), so what is
timed is the store, the prompt, the tokenizer calls and the bookkeeping.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from bench.conversation import CHARACTER_NAME, MessageWriter
from bench.core_setup import (
    BENCH_GUILD,
    FIRST_CHANNEL,
    BenchCore,
    open_bench_core,
    start_channels,
)
from bench.stats import p50, p95
from bot.inference.base import Backend, GenerationParams
from bot.policy import Place
from bot.roleplay.channel import ChannelRoleplay, IncomingMessage, Outcome
from bot.store.models import MessageRow
from bot.values import Role, StoredMessage

STORED_MESSAGES = 10_000
INSERT_BATCH = 2_000
WARM_UP_TURNS = 5  # the first turn after a start counts the whole window once


async def _fill_history(bench: Any, session_id: int, count: int, writer: MessageWriter) -> None:
    """Write ``count`` messages straight into the table (the engine would fsync each one)."""
    now = datetime.now(UTC)
    for start in range(0, count, INSERT_BATCH):
        rows = []
        for index in range(start, min(count, start + INSERT_BATCH)):
            human = index % 2 == 0
            rows.append(
                {
                    "session_id": session_id,
                    "role": (Role.HUMAN if human else Role.CHARACTER).value,
                    "speaker": writer.speaker(0) if human else CHARACTER_NAME,
                    "content": writer.message() if human else writer.reply(),
                    "created_at": now,
                    "deleted": False,
                    "swipe_index": 0,
                }
            )
        async with bench.core.database.write() as uow:
            await uow.session.execute(insert(MessageRow), rows)


@asynccontextmanager
async def _channel_with_history(
    backend: Backend, model: str, stored: int, writer: MessageWriter, *, memory: bool = True
) -> AsyncIterator[tuple[BenchCore, int]]:
    """A fresh database with one channel's session holding ``stored`` messages."""
    with tempfile.TemporaryDirectory(prefix="galatea-bench-") as folder:
        bench = await open_bench_core(
            backend, Path(folder) / "own.db", model=model, max_new_tokens=16, memory=memory
        )
        try:
            (session_id,) = await start_channels(bench, 1)
            await _fill_history(bench, session_id, stored, writer)
            yield bench, session_id
        finally:
            await bench.close()


async def measure_own_work(
    backend: Backend,
    *,
    turns: int,
    model: str,
    stored: int = STORED_MESSAGES,
    memory: bool = True,
) -> dict[str, Any]:
    """p50/p95 of the bot's time per turn (store message + reply) minus the model's time;
    ``memory``: summaries, pins and recall on (MEMORY), as by default."""
    writer = MessageWriter(seed=77)
    params = GenerationParams(max_new_tokens=16)
    own, store, reply, model_time = [], [], [], []
    async with _channel_with_history(backend, model, stored, writer, memory=memory) as (
        bench,
        session_id,
    ):
        engine = bench.core.engine
        for turn in range(WARM_UP_TURNS + turns):
            before = len(bench.backend.records)
            started = time.perf_counter()
            await engine.history.add_human_message(
                session_id, speaker="Alice", content=writer.message()
            )
            stored_at = time.perf_counter()
            await engine.replies.generate_reply(session_id, params=params)
            finished = time.perf_counter()
            inside = sum(r.seconds for r in bench.backend.records[before:])
            if turn >= WARM_UP_TURNS:
                own.append(finished - started - inside)
                store.append(stored_at - started)
                reply.append(finished - stored_at - inside)
                model_time.append(inside)
        history = await engine.history.recent(session_id, limit=1)
        folded = bench.core.memory.summarizer.folded
    ms = 1000.0
    return {
        "memory": memory,
        "summary_chunks_folded": folded,
        "stored_messages": stored,
        "turns": turns,
        "backend": backend.name,
        "tokenizer": getattr(backend, "tokenizer", backend.name),
        "own_ms_p50": p50(own) * ms,
        "own_ms_p95": p95(own) * ms,
        "store_message_ms_p50": p50(store) * ms,
        "reply_without_model_ms_p50": p50(reply) * ms,
        "reply_without_model_ms_p95": p95(reply) * ms,
        "model_or_server_ms_p50": p50(model_time) * ms,
        "model_or_server_ms_p95": p95(model_time) * ms,
        "history_ok": bool(history),
    }


class _ShownAtOnce:
    """A presenter that costs nothing and behaves like Discord's: the first text posts a
    message (its id is known from then on), the final text edits it."""

    ids = iter(range(10**15, 10**16))

    def __init__(self) -> None:
        self._id: int | None = None

    async def start(self) -> None:
        return None

    async def queued(self, position: int) -> None:
        return None

    async def update(self, text: str) -> None:
        if self._id is None:
            self._id = next(self.ids)

    def shown_id(self) -> int | None:
        return self._id

    async def finish(self, message: StoredMessage) -> int | None:
        return self._id if self._id is not None else next(self.ids)

    async def fail(self, user_message: str) -> None:
        raise RuntimeError(f"the reply failed: {user_message}")


async def measure_channel_work(
    backend: Backend, *, turns: int, model: str, stored: int = STORED_MESSAGES
) -> dict[str, Any]:
    """p50/p95 of a Discord turn's work (intake, reply, stored message id) minus the model's."""
    writer = MessageWriter(seed=78)
    own: list[float] = []
    async with _channel_with_history(backend, model, stored, writer) as (bench, _session_id):
        core = bench.core
        channel = ChannelRoleplay(
            core.engine,
            core.guild_config,
            lambda view: _ShownAtOnce(),
            personas=core.personas,
            leases=core.leases,
        )
        place = Place(guild_id=BENCH_GUILD, channel_id=FIRST_CHANNEL)
        for turn in range(WARM_UP_TURNS + turns):
            before = len(bench.backend.records)
            started = time.perf_counter()
            outcome = await channel.handle(
                IncomingMessage(
                    place=place,
                    message_id=10**12 + turn,
                    author_id=1000 + turn % 3,
                    author_name=("Alice", "Bob", "Carol")[turn % 3],
                    content=writer.message(),
                )
            )
            await channel.idle()
            finished = time.perf_counter()
            if outcome is not Outcome.REPLY_SCHEDULED:
                raise RuntimeError(f"turn {turn}: {outcome}")
            inside = sum(r.seconds for r in bench.backend.records[before:])
            if turn >= WARM_UP_TURNS:
                own.append(finished - started - inside)
    ms = 1000.0
    return {
        "stored_messages": stored,
        "turns": turns,
        "backend": backend.name,
        "own_ms_p50": p50(own) * ms,
        "own_ms_p95": p95(own) * ms,
    }
