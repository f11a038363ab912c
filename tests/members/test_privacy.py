"""Forgetting a member (``/forget me``) and the retention period, in the core."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from bot.characters.service import CharacterDraft, CharacterService
from bot.errors import PermissionDenied
from bot.members import privacy as privacy_module
from bot.members.privacy import PrivacyService
from bot.policy import OPERATOR, Caller, Place
from bot.roleplay.engine import SessionEngine
from bot.store import Database
from bot.store.models import MessageRow
from tests.roleplay.test_channel import setup
from tests.support.recording_backend import RecordingBackend

ALICE, BOB = 7, 8


async def _session_in(
    database: Database, engine: SessionEngine, guild_id: int, channel_id: int, owner: int
) -> int:
    character = await CharacterService(database).create(
        guild_id, owner, CharacterDraft(name=f"C{channel_id}", persona="p"), caller=OPERATOR
    )
    session, _ = await engine.sessions.start(
        Place(guild_id, channel_id), character.id, caller=Caller(owner, "member")
    )
    return session.id


async def test_forget_me_erases_only_the_callers_messages_in_that_server(
    database: Database,
) -> None:
    _, engine, _ = await setup(database, RecordingBackend())
    here = (await engine.sessions.active(500)).session.id  # type: ignore[union-attr]
    elsewhere = await _session_in(database, engine, guild_id=2, channel_id=900, owner=ALICE)
    for session, author, text in (
        (here, ALICE, "mine here"),
        (here, BOB, "Bob's"),
        (here, ALICE, "mine again"),
        (elsewhere, ALICE, "mine in another server"),
    ):
        await engine.history.add_human_message(session, speaker="x", content=text, author_id=author)

    forgotten = await PrivacyService(database).forget(1, ALICE, caller=OPERATOR)

    assert forgotten.messages == 2 and forgotten.characters == 0
    assert [m.content for m in await engine.history.recent(here)] == ["Bob's"]
    assert [m.content for m in await engine.history.recent(elsewhere)] == ["mine in another server"]


async def test_forget_me_with_characters_deletes_them_and_their_histories(
    database: Database,
) -> None:
    _, engine, _ = await setup(database, RecordingBackend())  # "Aqua", owned by user 1
    mine = await _session_in(database, engine, guild_id=1, channel_id=600, owner=ALICE)
    await engine.history.add_human_message(mine, speaker="Bob", content="hi", author_id=BOB)
    privacy = PrivacyService(database)
    assert [c.name for c in await privacy.characters_of(1, ALICE)] == ["C600"]

    forgotten = await privacy.forget(1, ALICE, caller=OPERATOR, characters=True)

    assert forgotten.characters == 1
    assert await engine.sessions.active(600) is None  # its session went with it
    assert await engine.history.recent(mine) == []
    assert await CharacterService(database).names(1) == ["Aqua"]


async def test_forgetting_someone_with_nothing_stored_erases_nothing(database: Database) -> None:
    await setup(database, RecordingBackend())
    assert (
        await PrivacyService(database).forget(1, 12345, caller=OPERATOR, characters=True)
    ).messages == 0


async def test_retention_erases_messages_older_than_the_period(database: Database) -> None:
    _, engine, _ = await setup(database, RecordingBackend())
    session = (await engine.sessions.active(500)).session.id  # type: ignore[union-attr]
    old = await engine.history.add_human_message(
        session, speaker="A", content="old", author_id=ALICE
    )
    await engine.history.add_human_message(session, speaker="A", content="new", author_id=ALICE)
    async with database.write() as uow:
        await uow.session.execute(
            update(MessageRow)
            .where(MessageRow.id == old.id)
            .values(created_at=datetime.now(UTC) - timedelta(days=31))
        )
    privacy = PrivacyService(database)

    assert await privacy.prune(0, caller=OPERATOR) == 0  # 0 keeps everything
    assert await privacy.prune(30, caller=OPERATOR) == 1
    assert [m.content for m in await engine.history.recent(session)] == ["new"]


async def test_retention_erases_in_batches_until_nothing_old_is_left(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, engine, _ = await setup(database, RecordingBackend())
    session = (await engine.sessions.active(500)).session.id  # type: ignore[union-attr]
    for n in range(7):
        await engine.history.add_human_message(
            session, speaker="A", content=f"old {n}", author_id=ALICE
        )
    await engine.history.add_human_message(session, speaker="A", content="new", author_id=ALICE)
    async with database.write() as uow:
        await uow.session.execute(
            update(MessageRow)
            .where(MessageRow.content.startswith("old"))
            .values(created_at=datetime.now(UTC) - timedelta(days=31))
        )
    monkeypatch.setattr(privacy_module, "PRUNE_BATCH", 3)

    assert await PrivacyService(database).prune(30, caller=OPERATOR) == 7
    assert [m.content for m in await engine.history.recent(session)] == ["new"]


async def test_a_member_erases_only_their_own_data_and_never_prunes(database: Database) -> None:
    privacy = PrivacyService(database)
    bob = Caller(user_id=BOB, display_name="Bob", is_admin=True)  # even an admin
    with pytest.raises(PermissionDenied):
        await privacy.forget(1, ALICE, caller=bob)
    assert (await privacy.forget(1, BOB, caller=bob)).messages == 0
    with pytest.raises(PermissionDenied):
        await privacy.prune(30, caller=bob)
