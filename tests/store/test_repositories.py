"""Stores on a real database: every test runs on a SQLite file and on PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from bot.errors import AlreadyExists
from bot.store import Database
from bot.store.models import SessionRow
from bot.values import CharacterFields, Role

SNOWFLAKE = 1_234_567_890_123_456_789  # a Discord id: needs 64 bits


async def _character(db: Database, guild: int = 1, name: str = "Aqua") -> int:
    async with db.write() as uow:
        character = await uow.characters.create(
            guild_id=guild,
            owner_id=10,
            fields=CharacterFields(name=name, persona="A water goddess."),
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
            await uow.characters.create(
                guild_id=1, owner_id=1, fields=CharacterFields(name="Ghost", persona="p")
            )
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
    """Writers queue (SQLite: BEGIN IMMEDIATE; PostgreSQL: an advisory lock) rather than fail
    with 'database is locked' or, under READ COMMITTED, lose each other's updates."""
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


async def test_concurrent_session_starts_in_one_channel_leave_exactly_one_active(
    database: Database,
) -> None:
    """The second start waits for the first and ends its session; no unique-index violation."""
    character = await _character(database)

    async def start(user: int) -> None:
        async with database.write() as uow:
            await uow.sessions.start(
                guild_id=1, channel_id=100, character_id=character, started_by=user
            )
            await asyncio.sleep(0.05)  # still uncommitted while the other start runs

    await asyncio.wait_for(asyncio.gather(start(5), start(6)), timeout=30)
    async with database.read() as uow:
        active = await uow.sessions.all_active(1)
    assert len(active) == 1


async def test_concurrent_first_config_changes_of_a_server_both_apply(database: Database) -> None:
    """Two admins configuring a new server at once: the row is created once, not twice."""

    async def change(values: dict[str, object]) -> None:
        async with database.write() as uow:
            await uow.guilds.update(42, values)
            await asyncio.sleep(0.05)

    await asyncio.wait_for(
        asyncio.gather(change({"ooc_prefix": "!!"}), change({"reply_mode": "mention"})),
        timeout=30,
    )
    async with database.read() as uow:
        config = await uow.guilds.get(42)
    assert (config.ooc_prefix, config.reply_mode) == ("!!", "mention")


async def test_discord_snowflakes_fit_every_id_column(database: Database) -> None:
    character = await _character(database, guild=SNOWFLAKE)
    async with database.write() as uow:
        session = await uow.sessions.start(
            guild_id=SNOWFLAKE,
            channel_id=SNOWFLAKE + 1,
            character_id=character,
            started_by=SNOWFLAKE + 2,
        )
        await uow.messages.add(
            session_id=session.id,
            role=Role.HUMAN,
            speaker="a",
            content="x",
            author_id=SNOWFLAKE + 2,
            discord_message_id=SNOWFLAKE + 3,
        )
        await uow.guilds.update(SNOWFLAKE, {"allowed_channel_ids": (SNOWFLAKE + 1,)})
    async with database.read() as uow:
        message = await uow.messages.by_discord_id(SNOWFLAKE + 3)
        config = await uow.guilds.get(SNOWFLAKE)
        active = await uow.sessions.active_in_channel(SNOWFLAKE + 1)
    assert message is not None and message.author_id == SNOWFLAKE + 2
    assert config.allowed_channel_ids == (SNOWFLAKE + 1,)
    assert active is not None and active.started_by == SNOWFLAKE + 2


async def test_the_database_itself_refuses_a_second_active_session_in_a_channel(
    database: Database,
) -> None:
    """The partial unique index (``WHERE active``) exists on both databases."""
    character = await _character(database)

    def session(active: bool) -> SessionRow:
        return SessionRow(
            guild_id=1, channel_id=9, character_id=character, active=active, overrides={}
        )

    async with database.write() as uow:
        uow.session.add_all([session(False), session(False), session(True)])
    with pytest.raises(IntegrityError):
        async with database.write() as uow:
            uow.session.add(session(True))


async def test_postgresql_write_transactions_wait_for_each_other_at_most_ten_seconds(
    postgresql_database: Database,
) -> None:
    """Like SQLite's busy timeout: a stuck writer makes the others fail, not hang."""
    async with postgresql_database.write() as uow:
        in_write = (await uow.session.execute(text("SHOW lock_timeout"))).scalar()
    async with postgresql_database.read() as uow:
        in_read = (await uow.session.execute(text("SHOW lock_timeout"))).scalar()
    assert (in_write, in_read) == ("10s", "0")


async def test_text_with_nul_bytes_is_stored_without_them_on_every_database(
    database: Database,
) -> None:
    """PostgreSQL text cannot hold NUL; a Discord message or card may contain one."""
    character = await _character(database)
    async with database.write() as uow:
        session = await uow.sessions.start(
            guild_id=1, channel_id=8, character_id=character, started_by=None
        )
        stored = await uow.messages.add(
            session_id=session.id, role=Role.HUMAN, speaker="a", content="he\x00llo"
        )
        await uow.characters.update(character, {"persona": "wa\x00ter"})
    async with database.read() as uow:
        assert (await uow.messages.get(stored.id)).content == "hello"  # type: ignore[union-attr]
        assert (await uow.characters.get(character)).persona == "water"  # type: ignore[union-attr]
