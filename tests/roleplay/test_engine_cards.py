"""The engine with what cards bring: alternate greetings, lore, worlds, the author's note."""

from __future__ import annotations

import pytest

from bot.characters.service import CharacterService
from bot.errors import InvalidInput
from bot.lore.service import BookRef, EntryDraft, LoreService
from bot.policy import OPERATOR, Caller, Place
from bot.settings import PromptFormat
from bot.store import Database
from tests.cards.builders import to_json, v2_document
from tests.roleplay.test_engine import make_engine
from tests.support.recording_backend import RecordingBackend

ADMIN = Caller(user_id=30, display_name="Admin", is_admin=True)


async def imported(database: Database) -> int:
    character = await CharacterService(database).import_card(
        1, 10, to_json(v2_document(name="Lyra")), "lyra.json", caller=OPERATOR
    )
    return character.id


async def test_alternate_greetings_are_versions_of_the_first_message(database: Database) -> None:
    engine = make_engine(database, RecordingBackend())
    session, greeting = await engine.sessions.start(
        Place(1, 5), await imported(database), caller=Caller(1, "member"), user_name="Sam"
    )
    assert greeting is not None
    assert greeting.swipes == (
        "*salutes* Halt, Sam.",
        "*waves*",
        "Oh, it's you, Sam. Again.",
    )
    assert greeting.content == "*salutes* Halt, Sam." and greeting.swipe_index == 0
    second = await engine.replies.browse_versions(session.id, +1)
    third = await engine.replies.browse_versions(session.id, +1)
    assert (second.content, third.content) == ("*waves*", "Oh, it's you, Sam. Again.")
    assert (
        await engine.replies.browse_versions(session.id, +1)
    ).swipe_index == 2  # stays at the end
    assert (await engine.history.recent(session.id))[-1].content == "Oh, it's you, Sam. Again."

    _, again = await engine.sessions.reset(session.id, caller=OPERATOR, greet_as="Kim")
    assert again is not None and again.swipes[2] == "Oh, it's you, Kim. Again."


@pytest.mark.parametrize("fmt", list(PromptFormat))
async def test_the_cards_lore_instructions_and_the_sessions_world_and_note_reach_the_prompt(
    database: Database, fmt: PromptFormat
) -> None:
    backend = RecordingBackend(replies=["Hm."])
    engine = make_engine(database, backend, fmt)
    character_id = await imported(database)
    session, _ = await engine.sessions.start(
        Place(1, 5), character_id, caller=Caller(1, "member"), user_name="Sam"
    )
    lore = LoreService(database)
    await lore.add_entry(
        1,
        BookRef(world="Axel"),
        EntryDraft(content="Axel has a guild.", keys=("guild",)),
        caller=ADMIN,
    )
    await engine.history.add_human_message(
        session.id, speaker="Sam", content="Show me the castle gate."
    )
    await engine.replies.generate_reply(session.id)
    first = backend.prompts[-1]
    assert "The castle of Lyra stands on a cliff." in first  # the card's own lorebook
    assert "Stay in character." in first  # post-history instructions
    assert "Axel has a guild." not in first

    await lore.attach_world(session.id, "Axel", caller=ADMIN)
    await engine.sessions.set_author_note(session.id, "Lyra is tired.", 0, caller=OPERATOR)
    await engine.history.add_human_message(session.id, speaker="Sam", content="To the guild!")
    await engine.replies.generate_reply(session.id)
    second = backend.prompts[-1]
    assert "Axel has a guild." in second
    note = "[Lyra is tired.]" if fmt is PromptFormat.PYGMALION else "<|system|>Lyra is tired."
    assert second.index("To the guild!") < second.index(note) < second.index("Stay in character.")

    await engine.sessions.set_author_note(session.id, "", 4, caller=OPERATOR)
    await lore.attach_world(session.id, None, caller=ADMIN)
    await engine.history.add_human_message(session.id, speaker="Sam", content="The guild again.")
    await engine.replies.generate_reply(session.id)
    assert "Lyra is tired." not in backend.prompts[-1]
    assert "Axel has a guild." not in backend.prompts[-1]


async def test_an_authors_note_must_be_reasonable(database: Database) -> None:
    engine = make_engine(database, RecordingBackend())
    session, _ = await engine.sessions.start(
        Place(1, 5), await imported(database), caller=Caller(1, "member")
    )
    with pytest.raises(InvalidInput):
        await engine.sessions.set_author_note(session.id, "x" * 5000, 4, caller=OPERATOR)
    with pytest.raises(InvalidInput):
        await engine.sessions.set_author_note(session.id, "ok", -1, caller=OPERATOR)
