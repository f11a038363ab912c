"""The bot's core, built for a benchmark the way main.py builds it, around a measured backend.

Everything goes through the public core API (``bot.app.assemble``): whatever the core puts
between the engine and the backend (a scheduler) is part of what is measured. The backend is
constructed here rather than by ``build_backend`` only so that the measuring wrapper can sit
directly on top of the library.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from bench.conversation import (
    CHARACTER_NAME,
    EXAMPLE_DIALOGUE,
    GREETING,
    PERSONA,
    SCENARIO,
    MessageWriter,
)
from bench.instrumented import MeasuredBackend
from bot.app import Core, assemble, open_database
from bot.characters.service import CharacterDraft
from bot.inference.base import Backend, GenerationParams
from bot.policy import OPERATOR, Caller, Place
from bot.settings import Settings

BENCH_GUILD = 4242
BENCH_OWNER = 7
FIRST_CHANNEL = 10_000
QUEUE_LIMIT = 256
REPLY_TIMEOUT_SECONDS = 3600.0


# The benchmark models' weights are random, so every next token is about equally likely: top-p
# alone would keep ~90 % of the 32,000 candidates and llama.cpp sorts them all each token (~3 ms,
# half the decode time of a 7B model on an H200), a cost a trained model, whose nucleus is a
# few dozen tokens, does not pay. Top-k 40 (llama.cpp's own default) bounds it the same way.
BENCH_TOP_K = 40


def bench_settings(
    database_path: Path,
    *,
    model: str,
    context_length: int,
    max_new_tokens: int,
    **extra: object,
) -> Settings:
    """Settings as an operator would write them; Metharme, as Pygmalion-2 models use.

    The reply queue may hold every benchmark channel (the default turns replies away past 16
    waiting per server) and replies may take long, so that latency and fairness are measured
    for every channel rather than cut off by backpressure on a slow shared CPU.
    """
    values: dict[str, object] = {
        "DATABASE_URL": f"sqlite+aiosqlite:///{database_path}",
        "MODEL": model,
        "CONTEXT_LENGTH": context_length,
        "MAX_NEW_TOKENS": max_new_tokens,
        "PROMPT_FORMAT": "metharme",
        "HISTORY_MESSAGES": 200,
        "MAX_QUEUE_PER_SERVER": QUEUE_LIMIT,
        "REPLY_TIMEOUT": REPLY_TIMEOUT_SECONDS,
        "TOP_K": BENCH_TOP_K,
        **extra,
    }
    return Settings.model_validate({k: v for k, v in values.items() if k in Settings.model_fields})


@dataclass
class BenchCore:
    core: Core
    backend: MeasuredBackend
    character_id: int

    async def close(self) -> None:
        await self.core.close()


async def open_bench_core(
    backend: Backend,
    database_path: Path,
    *,
    model: str,
    max_new_tokens: int,
    memory: bool | None = None,
) -> BenchCore:
    """A fresh database with one character, and the core wired around ``backend``."""
    measured = MeasuredBackend(backend)
    settings = bench_settings(
        database_path,
        model=model,
        context_length=backend.context_length,
        max_new_tokens=max_new_tokens,
        # None: as the environment says (MEMORY=false python -m bench run ...), on by default.
        **({} if memory is None else {"MEMORY": memory}),
    )
    database = await open_database(settings)
    core = assemble(settings, database, measured)
    await measured.load()
    character = await core.characters.create(
        BENCH_GUILD,
        BENCH_OWNER,
        CharacterDraft(
            name=CHARACTER_NAME,
            persona=PERSONA,
            greeting=GREETING,
            scenario=SCENARIO,
            example_dialogue=EXAMPLE_DIALOGUE,
        ),
        caller=OPERATOR,
    )
    return BenchCore(core=core, backend=measured, character_id=character.id)


async def start_channels(bench: BenchCore, count: int, first: int = FIRST_CHANNEL) -> list[int]:
    """Start a session in ``count`` channels; returns their session ids."""
    sessions = []
    for channel in range(first, first + count):
        session, _greeting = await bench.core.engine.sessions.start(
            Place(BENCH_GUILD, channel),
            bench.character_id,
            caller=Caller(BENCH_OWNER, "member"),
            user_name="Alice",
        )
        sessions.append(session.id)
    return sessions


@dataclass(frozen=True, slots=True)
class TurnTiming:
    """One chat turn as a person sees it: message stored, reply streamed and stored."""

    session_id: int
    message: str
    started: float
    first_text: float | None  # when the first cleaned text reached the front end
    finished: float
    store_message_seconds: float
    reply_chars: int

    @property
    def latency(self) -> float:
        return self.finished - self.started

    @property
    def time_to_first_text(self) -> float | None:
        return None if self.first_text is None else self.first_text - self.started


async def chat_turn(
    bench: BenchCore,
    session_id: int,
    writer: MessageWriter,
    channel_index: int,
    params: GenerationParams,
    before_reply: Callable[[], Awaitable[None]] | None = None,
) -> TurnTiming:
    """A person writes one message; the character answers through the engine."""
    engine = bench.core.engine
    text = writer.message()
    started = time.perf_counter()
    await engine.history.add_human_message(
        session_id, speaker=writer.speaker(channel_index), content=text
    )
    stored = time.perf_counter()
    if before_reply is not None:
        await before_reply()
    first_text: float | None = None

    async def on_text(_shown: str) -> None:
        nonlocal first_text
        if first_text is None:
            first_text = time.perf_counter()

    reply = await engine.replies.generate_reply(session_id, params=params, on_text=on_text)
    return TurnTiming(
        session_id=session_id,
        message=text,
        started=started,
        first_text=first_text,
        finished=time.perf_counter(),
        store_message_seconds=stored - started,
        reply_chars=len(reply.message.content),
    )
