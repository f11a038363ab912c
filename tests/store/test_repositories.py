"""Stores on a real SQLite file."""

from __future__ import annotations

import asyncio

import pytest

from bot.errors import AlreadyExists
from bot.store import Database
from bot.values import Role


async def _character(db: Database, guild: int = 1, name: str = "Aqua") -> int:
    async with db.write() as uow:
        character = await uow.characters.create(
            guild_id=guild, owner_id=10, name=name, persona="A water goddess."
        )
    return character.id


async def test_character_names_are_unique_per_server_ignoring_case(database: Database) -> None:
    await _character(database, guild=1, name="Aqua")
    with pytest.raises(AlreadyExists):
        await _character(database, guild=1, name="  aQUA ")
    await _character(database, guild=2, name="Aqua")  # another server may use it
    async with database.read() as uow:
        assert await uow.characters.count(1) == 1
        assert (await uow.characters.get_by_name(1, "AQUA")) is not None


async def test_failed_transaction_leaves_nothing_behind(database: Database) -> None:
    with pytest.raises(RuntimeError):
        async with database.write() as uow:
            await uow.characters.create(guild_id=1, owner_id=1, name="Ghost", persona="p")
            raise RuntimeError("boom")
    async with database.read() as uow:
        assert await uow.characters.get_by_name(1, "Ghost") is None


async def test_character_update_and_rename_checks_uniqueness(database: Database) -> None:
    first = await _character(database, name="Aqua")
    await _character(database, name="Megumin")
    async with database.write() as uow:
        updated = await uow.characters.update(first, {"persona": "Now a lake spirit."})
    assert updated.persona == "Now a lake spirit."
    with pytest.raises(AlreadyExists):
        async with database.write() as uow:
            await uow.characters.update(first, {"name": "megumin"})


async def test_one_active_session_per_channel(database: Database) -> None:
    character = await _character(database)
    async with database.write() as uow:
        first = await uow.sessions.start(
            guild_id=1, channel_id=100, character_id=character, started_by=5
        )
        second = await uow.sessions.start(
            guild_id=1, channel_id=100, character_id=character, started_by=6
        )
    async with database.read() as uow:
        active = await uow.sessions.active_in_channel(100)
        old = await uow.sessions.get(first.id)
    assert active is not None and active.id == second.id
    assert old is not None and not old.active and old.ended_at is not None


async def test_recent_messages_are_bounded_ordered_and_skip_deleted(database: Database) -> None:
    character = await _character(database)
    async with database.write() as uow:
        session = await uow.sessions.start(
            guild_id=1, channel_id=7, character_id=character, started_by=None
        )
        ids = []
        for i in range(30):
            message = await uow.messages.add(
                session_id=session.id, role=Role.HUMAN, speaker=f"u{i % 3}", content=f"m{i}"
            )
            ids.append(message.id)
        await uow.messages.mark_deleted(ids[-1])
        await uow.messages.edit(ids[-2], "edited")
    async with database.read() as uow:
        recent = await uow.messages.recent(session.id, 5)
        count = await uow.messages.count(session.id)
    assert [m.content for m in recent] == ["m24", "m25", "m26", "m27", "edited"]
    assert recent[-1].edited_at is not None
    assert count == 29


async def test_deleting_a_character_removes_its_sessions_and_messages(database: Database) -> None:
    character = await _character(database)
    async with database.write() as uow:
        session = await uow.sessions.start(
            guild_id=1, channel_id=7, character_id=character, started_by=None
        )
        await uow.messages.add(session_id=session.id, role=Role.HUMAN, speaker="a", content="x")
    async with database.write() as uow:
        assert await uow.characters.delete(character)
    async with database.read() as uow:
        assert await uow.sessions.get(session.id) is None
        assert await uow.messages.count(session.id) == 0


async def test_concurrent_read_modify_write_transactions_wait_instead_of_failing(
    database: Database,
) -> None:
    """BEGIN IMMEDIATE: writers queue on the lock rather than fail with 'database is locked'."""
    character = await _character(database)

    async def bump(i: int) -> None:
        async with database.write() as uow:
            current = await uow.characters.get(character)
            assert current is not None
            await asyncio.sleep(0.01)  # hold the transaction open while others try
            await uow.characters.update(character, {"greeting": current.greeting + "x"})

    await asyncio.wait_for(asyncio.gather(*(bump(i) for i in range(8))), timeout=30)
    async with database.read() as uow:
        final = await uow.characters.get(character)
    assert final is not None and final.greeting == "x" * 8


async def test_guild_config_defaults_then_updates(database: Database) -> None:
    async with database.read() as uow:
        defaults = await uow.guilds.get(42)
    assert defaults.reply_mode == "all" and defaults.allowed_channel_ids is None
    async with database.write() as uow:
        await uow.guilds.update(42, {"allowed_channel_ids": (1, 2), "ooc_prefix": "!!"})
    async with database.read() as uow:
        config = await uow.guilds.get(42)
    assert config.allowed_channel_ids == (1, 2) and config.ooc_prefix == "!!"
