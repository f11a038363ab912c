"""The rules on who may change a roleplay or create a character hold in the core services,
whichever front end calls them (issue 19: every rule once, in the core)."""

from __future__ import annotations

import pytest

from bot.characters.service import CharacterDraft, CharacterService
from bot.errors import PermissionDenied
from bot.guilds.config import GuildConfigService, Setting
from bot.lore.service import LoreService
from bot.policy import Caller
from bot.roleplay.cast import CastService
from bot.store import Database
from tests.roleplay.test_engine import make_engine, start
from tests.support.recording_backend import RecordingBackend

STARTER = Caller(user_id=10, display_name="Alice")  # start() opens the roleplay as user 10
STRANGER = Caller(user_id=11, display_name="Bob")
ADMIN = Caller(user_id=12, display_name="Carol", is_admin=True)


async def test_only_the_starter_or_an_admin_changes_a_roleplay(sqlite_database: Database) -> None:
    engine = make_engine(sqlite_database, RecordingBackend())
    session_id = await start(engine, sqlite_database)
    cast, lore = CastService(sqlite_database), LoreService(sqlite_database)
    refused = [
        engine.sessions.set_author_note(session_id, "Rain.", 2, caller=STRANGER),
        engine.sessions.reset(session_id, caller=STRANGER),
        cast.set_paused(session_id, True, caller=STRANGER),
        lore.attach_world(session_id, None, caller=STRANGER),
        engine.sessions.stop(500, caller=STRANGER),
    ]
    for change in refused:
        with pytest.raises(PermissionDenied):
            await change
    view = await engine.sessions.active(500, count_messages=True)
    assert view is not None and view.message_count == 1  # the greeting: nothing was changed
    assert view.session.author_note == "" and not view.session.paused

    await engine.sessions.set_author_note(session_id, "Rain.", 2, caller=STARTER)
    await cast.set_paused(session_id, True, caller=ADMIN)
    assert await engine.sessions.stop(500, caller=ADMIN)


async def test_creator_roles_hold_for_every_front_end(sqlite_database: Database) -> None:
    await GuildConfigService(sqlite_database).update(1, {Setting.CREATOR_ROLES: (7,)}, caller=ADMIN)
    characters = CharacterService(sqlite_database)
    draft = CharacterDraft(name="Aqua", persona="A cheerful water goddess.")
    with pytest.raises(PermissionDenied):
        await characters.create(1, STRANGER.user_id, draft, caller=STRANGER)
    assert await characters.count(1) == 0
    member = Caller(user_id=13, display_name="Dan", role_ids=frozenset({7}))
    created = await characters.create(1, member.user_id, draft, caller=member)
    assert created.owner_id == 13
