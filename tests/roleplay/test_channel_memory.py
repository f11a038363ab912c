"""Memory per channel stays bounded: intake locks, reply locks, pending replies and workers
exist while a channel is busy and go when it is quiet (issue: "memory per channel only
grows"). A soak over 20,000 channel ids through the real objects on a real SQLite file."""

# Polling helpers are always wrapped in asyncio.wait_for: every wait is bounded.

from __future__ import annotations

import asyncio
import gc
import tracemalloc

import pytest

from bot.common.keyed_locks import KeyedLocks
from bot.policy import Caller, Place
from bot.roleplay.channel import IncomingMessage, Outcome
from bot.store import Database
from tests.roleplay.test_channel import setup
from tests.support.recording_backend import RecordingBackend

CHANNELS = 20_000
ROLEPLAYS = 60  # channels among them with a roleplay that answers
QUIET_GROWTH_LIMIT = 256 * 1024  # bytes the 20,000 quiet channels may leave behind, in all


def _message(channel_id: int, n: int, *, from_bot: bool = False) -> IncomingMessage:
    return IncomingMessage(
        place=Place(guild_id=1, channel_id=channel_id),
        message_id=channel_id * 10 + n,
        author_id=7,
        author_name="Alice",
        content=f"Hello {n}",
        from_bot=from_bot,
    )


@pytest.mark.timeout(60)
async def test_twenty_thousand_channels_leave_no_per_channel_state_behind(
    database: Database,
) -> None:
    backend = RecordingBackend(replies=["Mm."])
    replies, engine, presenter = await setup(database, backend)
    character_id = (await engine.sessions.active(500)).character.id  # type: ignore[union-attr]
    roleplays = [10_000 + i for i in range(ROLEPLAYS)]
    for channel_id in roleplays:
        await engine.sessions.start(Place(1, channel_id), character_id, caller=Caller(1, "member"))

    # Channels with a roleplay: every message taken in, every reply written, then quiet.
    outcomes = await asyncio.gather(*(replies.handle(_message(c, 1)) for c in roleplays))
    assert set(outcomes) == {Outcome.REPLY_SCHEDULED}
    await asyncio.wait_for(replies.idle(), 60)
    # Each answered, or was turned away by the server's queue bound: either way, finished.
    assert len(presenter.shown) + len(presenter.failures) == ROLEPLAYS
    assert presenter.shown
    assert replies.per_channel_entries() == 0
    assert engine.replies.per_session_locks() == 0

    # Channels without a roleplay: each message is looked up in the store, nothing stays.
    for channel_id in range(1_001, 2_001):  # (500 has the setup's roleplay)
        assert await replies.handle(_message(channel_id, 0)) is Outcome.NO_SESSION
    assert replies.per_channel_entries() == 0

    # 20,000 channels more, as another bot's messages everywhere: every one takes its
    # channel's intake lock (before anything else, to keep order); none may stay behind.
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        for channel_id in range(20_001, 20_001 + CHANNELS):
            outcome = await replies.handle(_message(channel_id, 0, from_bot=True))
            assert outcome is Outcome.IGNORED
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    growth = sum(s.size_diff for s in after.compare_to(before, "filename"))
    assert replies.per_channel_entries() == 0
    assert growth < QUIET_GROWTH_LIMIT, f"{growth} bytes kept for {CHANNELS} channels"


async def test_a_held_lock_is_never_dropped_and_a_released_one_is() -> None:
    locks: KeyedLocks[int] = KeyedLocks()
    order: list[str] = []
    inside = asyncio.Event()
    leave = asyncio.Event()

    async def first() -> None:
        async with locks.hold(1):
            order.append("first in")
            inside.set()
            await leave.wait()
            order.append("first out")

    async def second() -> None:
        await inside.wait()
        async with locks.hold(1):
            order.append("second in")

    tasks = [asyncio.create_task(first()), asyncio.create_task(second())]
    await asyncio.wait_for(inside.wait(), 5)
    await asyncio.sleep(0.01)
    assert locks.locked(1) and len(locks) == 1  # held, and waited for: kept
    leave.set()
    await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert order == ["first in", "first out", "second in"]
    assert len(locks) == 0 and not locks.locked(1)


async def test_a_cancelled_waiter_does_not_leak_its_key() -> None:
    locks: KeyedLocks[str] = KeyedLocks()
    async with locks.hold("a"):
        waiter = asyncio.create_task(locks.hold("a").__aenter__())
        await asyncio.sleep(0.01)
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)
        assert len(locks) == 1
    assert len(locks) == 0
