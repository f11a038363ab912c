"""Memory rows and the full-text index on real SQLite and PostgreSQL databases."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.store import Database
from bot.store.migrate import upgrade, upgrade_to_head
from bot.values import CharacterFields, Role
from tests.support.postgres import PostgresServer


async def _session(db: Database, channel: int = 500) -> int:
    async with db.write() as uow:
        character = await uow.characters.create(
            guild_id=1,
            owner_id=10,
            fields=CharacterFields(name=f"Aqua {channel}", persona="A goddess."),
        )
        session = await uow.sessions.start(
            guild_id=1, channel_id=channel, character_id=character.id, started_by=10
        )
    return session.id


async def _say(db: Database, session: int, *lines: str) -> list[int]:
    ids = []
    async with db.write() as uow:
        for line in lines:
            message = await uow.messages.add(
                session_id=session, role=Role.HUMAN, speaker="Ann", content=line, author_id=10
            )
            ids.append(message.id)
    return ids


async def test_search_finds_old_lines_by_their_words_and_only_before_the_window(
    database: Database,
) -> None:
    session = await _session(database)
    other = await _session(database, channel=501)
    ids = await _say(
        database,
        session,
        "Bramble hid the brass lanterns under the mill wheel.",
        "We talked about the weather.",
        "The lantern glows again!",
    )
    await _say(database, other, "Another lantern, in another channel.")
    async with database.read() as uow:
        found = await uow.memory.search(session, ["lantern", "bramble"], before=ids[2])
        nothing = await uow.memory.search(session, ["dragon"], before=ids[2] + 1)
        windowed = await uow.memory.search(session, ["lantern"], before=ids[0])
    assert [line.id for line in found] == [ids[0]]  # stemmed: lanterns ~ lantern
    assert nothing == [] and windowed == []


async def test_edited_and_deleted_lines_leave_the_index(database: Database) -> None:
    session = await _session(database)
    first, second, now = await _say(database, session, "The oak key.", "The oak door.", "Now.")
    async with database.write() as uow:
        await uow.messages.edit(first, "The copper key.")
        await uow.messages.mark_deleted(second)
    async with database.read() as uow:
        oak = await uow.memory.search(session, ["oak"], before=now)
        copper = await uow.memory.search(session, ["copper"], before=now)
    assert oak == [] and [line.id for line in copper] == [first]


async def test_pins_and_summaries_keep_their_revisions_across_a_restart(
    database: Database,
) -> None:
    session = await _session(database)
    async with database.write() as uow:
        pin = await uow.memory.add_pin(session, "The key is under the oak.", 10)
        character = (await uow.sessions.get(session)).character_id  # type: ignore[union-attr]
        first = await uow.memory.save_summary(
            session, character, summary="They met.", covered_until=3, expected_revision=0
        )
        stale = await uow.memory.save_summary(
            session, character, summary="Lost.", covered_until=4, expected_revision=0
        )
    assert first is not None and first.revision == 1 and stale is None
    again = Database(database.url)  # a new process: nothing cached
    try:
        async with again.read() as uow:
            state = await uow.memory.state(session)
    finally:
        await again.dispose()
    assert state.enabled and state.revision == 1 and state.pins == (pin,)
    assert [(s.text, s.covered_until, s.revision) for s in state.summaries] == [("They met.", 3, 1)]


@pytest.fixture(params=["sqlite", "postgresql"])
async def old_database(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
        yield db
        await db.dispose()
        return
    server: PostgresServer = request.getfixturevalue("postgres")
    name = await server.create_database(template="template0")
    db = Database(server.url(name))
    yield db
    await db.dispose()
    await server.drop_database(name)


async def test_lines_stored_before_the_migration_are_found_after_it(old_database: Database) -> None:
    await upgrade(old_database, "c7e4a1f9d3b2")  # the revision before memory
    session = await _session(old_database)
    ids = await _say(old_database, session, "Bramble forged a silver bell.", "Later.")
    await upgrade_to_head(old_database)
    async with old_database.read() as uow:
        found = await uow.memory.search(session, ["bell"], before=ids[1])
    assert [line.id for line in found] == [ids[0]]
