"""/forget me erases every personal trace in the core, and nothing readable stays in the files."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from bot.characters.service import CharacterDraft, CharacterService
from bot.members.personas import PersonaService
from bot.members.privacy import PrivacyService
from bot.policy import OPERATOR, Caller, Place
from bot.store import Database
from tests.roleplay.test_channel import setup
from tests.support.recording_backend import RecordingBackend

ALICE, BOB = 7, 8


async def _scene(database: Database) -> int:
    """Guild 1: a session ALICE started, with her note, her persona and a cast entry she
    added; Bob's persona, message and cast entry alongside."""
    _, engine, _ = await setup(database, RecordingBackend())
    other = await CharacterService(database).create(
        1, BOB, CharacterDraft(name="Bram", persona="p"), caller=OPERATOR
    )
    extra = await CharacterService(database).create(
        1, BOB, CharacterDraft(name="Cass", persona="p"), caller=OPERATOR
    )
    helper = await CharacterService(database).create(
        1, BOB, CharacterDraft(name="Dune", persona="p"), caller=OPERATOR
    )
    session, _ = await engine.sessions.start(
        Place(1, 600), other.id, caller=Caller(ALICE, "member")
    )
    await engine.sessions.set_author_note(
        session.id, "ALICE-NOTE-7f3a: keep it cozy", 2, caller=Caller(ALICE, "member")
    )
    await PersonaService(database).set(
        1, ALICE, "Alicia", "ALICE-PERSONA-9c1e, a traveller", caller=OPERATOR
    )
    await PersonaService(database).set(1, BOB, "Bobby", "Bob's own persona", caller=OPERATOR)
    await PersonaService(database).set(2, ALICE, "Alicia", "in another server", caller=OPERATOR)
    await engine.history.add_human_message(
        session.id, speaker="Alicia", content="ALICE-MESSAGE-2b8d hello", author_id=ALICE
    )
    await engine.history.add_human_message(
        session.id, speaker="Bobby", content="Bob here", author_id=BOB
    )
    async with database.write() as uow:
        await uow.cast.add(session.id, extra.id, added_by=ALICE)
        await uow.cast.add(session.id, helper.id, added_by=BOB)
    return session.id


async def test_forget_me_erases_persona_notes_and_ids_and_keeps_the_others(
    database: Database,
) -> None:
    session_id = await _scene(database)

    forgotten = await PrivacyService(database).forget(1, ALICE, caller=OPERATOR)

    assert forgotten.messages == 1 and forgotten.persona and forgotten.cast_entries == 1
    async with database.engine.connect() as conn:

        async def rows(sql: str) -> list[tuple[object, ...]]:
            return [tuple(r) for r in await conn.execute(sa.text(sql))]

        assert await rows(
            f"SELECT author_note, author_note_by, started_by FROM sessions WHERE id = {session_id}"
        ) == [("", None, None)]
        assert await rows("SELECT guild_id, name FROM personas ORDER BY guild_id, name") == [
            (1, "Bobby"),
            (2, "Alicia"),  # another server: /forget me is per server
        ]
        assert await rows(
            f"SELECT added_by FROM session_characters WHERE session_id = {session_id} "
            "AND added_by IS NOT NULL"
        ) == [(BOB,)]
        assert await rows(f"SELECT content FROM messages WHERE session_id = {session_id}") == [
            ("Bob here",)
        ]
        assert await rows(f"SELECT COUNT(*) FROM messages WHERE author_id = {ALICE}") == [(0,)]


async def test_a_note_by_someone_else_stays(database: Database) -> None:
    session_id = await _scene(database)
    async with database.write() as uow:
        await uow.sessions.set_author_note(session_id, "Bob's note", 3, BOB)
    await PrivacyService(database).forget(1, ALICE, caller=OPERATOR)
    async with database.read() as uow:
        session = await uow.sessions.get(session_id)
    assert session is not None and session.author_note == "Bob's note"


def _database_bytes(path: Path, wal: Path) -> bytes:
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


async def test_erased_text_is_not_left_in_the_sqlite_files(sqlite_database: Database) -> None:
    await _scene(sqlite_database)
    path = Path(sqlite_database.url.split(":///", 1)[1])
    wal = path.with_name(path.name + "-wal")
    secrets = (b"ALICE-NOTE-7f3a", b"ALICE-PERSONA-9c1e", b"ALICE-MESSAGE-2b8d")
    before = _database_bytes(path, wal)
    assert all(secret in before for secret in secrets)  # the test can see them when present

    await PrivacyService(sqlite_database).forget(1, ALICE, caller=OPERATOR)

    assert not wal.exists() or wal.stat().st_size == 0  # checkpointed and truncated
    after = _database_bytes(path, wal)
    assert [s for s in secrets if s in after] == []  # secure_delete zeroed the freed cells
    assert b"Bob here" in after
