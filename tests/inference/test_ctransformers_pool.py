"""Several channels on one model: only the new tokens are evaluated each turn."""

from __future__ import annotations

from pathlib import Path

from bot.app import assemble
from bot.characters.service import CharacterDraft
from bot.inference.base import GenerationParams
from bot.inference.ctransformers_backend import CTransformersBackend
from bot.inference.ctransformers_pool import CTransformersPool
from bot.policy import OPERATOR, Caller, Place
from bot.settings import Settings
from bot.store import Database

GREEDY = GenerationParams(max_new_tokens=12, temperature=0.0, top_k=1, seed=1)


def _pool(path: Path, size: int) -> CTransformersPool:
    return CTransformersPool(
        [CTransformersBackend(str(path), context_length=1024, threads=1) for _ in range(size)]
    )


async def _interleaved_turns(
    pool: CTransformersPool, database: Database, channels: int, turns: int
) -> list[tuple[int, int, int]]:
    """Play ``turns`` rounds over ``channels`` channels: (prompt, evaluated, new) per turn."""
    core = assemble(
        Settings(MODEL="tiny", MAX_NEW_TOKENS=12, TEMPERATURE=0, TOP_K=1), database, pool
    )
    character = await core.characters.create(
        1,
        1,
        CharacterDraft(name="Aqua", persona="A goddess of water and parties."),
        caller=OPERATOR,
    )
    sessions = []
    for channel in range(channels):
        session, _ = await core.engine.sessions.start(
            Place(1, 100 + channel), character.id, caller=Caller(1, "member")
        )
        sessions.append(session.id)
    measured = []
    previous_prompt: dict[int, int] = {}
    for turn in range(turns):
        for session in sessions:
            await core.engine.history.add_human_message(
                session,
                speaker=f"User{turn % 3}",
                content=f"Channel {session}, turn {turn}: tell me more.",
                author_id=turn % 3,
            )
            await core.engine.replies.generate_reply(session, params=GREEDY)
            stats = pool.last_stats
            assert stats is not None
            # New since this channel's last prompt: the reply, the new message, the turn marker.
            new = stats.prompt_tokens - previous_prompt.get(session, 0)
            measured.append((stats.prompt_tokens, stats.evaluated_tokens, new))
            previous_prompt[session] = stats.prompt_tokens
    return measured


def _reused_share(measured: list[tuple[int, int, int]]) -> float:
    """Share of turns (after each channel's first) that evaluated no more than what is new."""
    later = [m for m in measured if m[2] < m[0]]  # skip each channel's first turn
    return sum(1 for _, evaluated, new in later if evaluated <= new + 1) / len(later)


async def test_one_instance_loses_its_cache_whenever_channels_interleave(
    tiny_model_path: Path, database: Database
) -> None:
    pool = _pool(tiny_model_path, 1)
    await pool.load()
    try:
        measured = await _interleaved_turns(pool, database, channels=2, turns=6)
    finally:
        await pool.close()
    assert _reused_share(measured) < 0.5


async def test_a_pool_keeps_each_channel_warm_so_only_new_tokens_are_evaluated(
    tiny_model_path: Path, database: Database
) -> None:
    pool = _pool(tiny_model_path, 2)
    await pool.load()
    try:
        measured = await _interleaved_turns(pool, database, channels=2, turns=6)
        assert pool.home_of("session:1") != pool.home_of("session:2")
    finally:
        await pool.close()
    assert _reused_share(measured) >= 0.9
