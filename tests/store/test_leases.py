"""Channel leases in the store: one atomic acquire-or-renew, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from bot.characters.service import CharacterDraft, CharacterService
from bot.policy import OPERATOR
from bot.store import Database
from bot.store.leases import LeaseStore
from bot.store.messages import MessageAlreadyStored
from bot.values import Role

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
TTL = timedelta(seconds=60)


async def acquire(database: Database, holder: str, at: datetime, channel: int = 1) -> bool:
    async with database.write() as uow:
        return await uow.leases.acquire(channel, holder, now=at, until=at + TTL)


async def test_a_free_channel_is_taken_and_its_holder_renews_it(database: Database) -> None:
    assert await acquire(database, "a", T0)
    assert await acquire(database, "a", T0 + timedelta(seconds=30))
    async with database.read() as uow:
        holder, until = await uow.leases.holder(1)  # type: ignore[misc]
    assert holder == "a"
    assert until.replace(tzinfo=UTC) == T0 + timedelta(seconds=30) + TTL


async def test_a_held_channel_is_refused_until_the_lease_runs_out(database: Database) -> None:
    assert await acquire(database, "a", T0)
    assert not await acquire(database, "b", T0 + TTL - timedelta(seconds=1))
    assert await acquire(database, "b", T0 + TTL + timedelta(seconds=1))  # expired: handed over
    assert not await acquire(database, "a", T0 + TTL + timedelta(seconds=2))
    assert await acquire(database, "a", T0, channel=2)  # leases are per channel


async def test_release_gives_back_only_the_holders_own_channels(database: Database) -> None:
    assert await acquire(database, "a", T0, channel=1)
    assert await acquire(database, "a", T0, channel=2)
    assert await acquire(database, "b", T0, channel=3)
    async with database.write() as uow:
        assert await uow.leases.release("a", channel_id=2) == 1
        assert await uow.leases.release("a") == 1
    assert await acquire(database, "b", T0 + timedelta(seconds=1), channel=1)
    assert not await acquire(database, "a", T0 + timedelta(seconds=1), channel=3)


async def test_processes_racing_for_a_channel_never_both_win(database: Database) -> None:
    # Separate engines, as separate processes have; bare transactions, so the upsert itself
    # (not Galatea's writer queue) is what keeps the race fair.
    others = [Database(database.url) for _ in range(3)]
    try:

        async def race(db: Database, holder: str, channel: int) -> bool:
            async with db.session() as session:
                won = await LeaseStore(session).acquire(channel, holder, now=T0, until=T0 + TTL)
                await session.commit()
                return won

        for channel in range(100, 105):
            results = await asyncio.wait_for(
                asyncio.gather(*(race(db, f"p{i}", channel) for i, db in enumerate(others))), 30
            )
            assert sorted(results) == [False, False, True]
    finally:
        for db in others:
            await db.dispose()


async def test_one_discord_message_is_stored_once_per_session(database: Database) -> None:
    character = await CharacterService(database).create(
        1, 1, CharacterDraft(name="Aqua", persona="A goddess."), caller=OPERATOR
    )
    async with database.write() as uow:
        session = await uow.sessions.start(
            guild_id=1, channel_id=5, character_id=character.id, started_by=1
        )
    async with database.write() as uow:
        await uow.messages.add(
            session_id=session.id, role=Role.HUMAN, speaker="A", content="hi", discord_message_id=9
        )
    with pytest.raises(MessageAlreadyStored):
        async with database.write() as uow:
            await uow.messages.add(
                session_id=session.id,
                role=Role.HUMAN,
                speaker="A",
                content="hi",
                discord_message_id=9,
            )
    async with database.write() as uow:  # a character line may share it (a split reply's id)
        await uow.messages.add(
            session_id=session.id,
            role=Role.CHARACTER,
            speaker="Aqua",
            content="yo",
            discord_message_id=9,
        )
        assert await uow.messages.count(session.id) == 2
