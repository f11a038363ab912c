"""Group scenes in the core: the cast, presence, personas, pause, and drafting a member's line."""

from __future__ import annotations

import asyncio

import pytest

from bot.characters.service import CharacterDraft, CharacterService
from bot.errors import AlreadyExists, InvalidInput, NotFound
from bot.guilds.config import GuildConfigService
from bot.members.personas import PersonaService
from bot.policy import OPERATOR, Caller, Place
from bot.roleplay.cast import CastService
from bot.roleplay.channel import ChannelRoleplay, Outcome
from bot.roleplay.engine import SessionEngine, SessionView
from bot.store import Database
from bot.values import Character, Role
from tests.roleplay.test_channel import Presenter, message
from tests.roleplay.test_engine import make_engine
from tests.support.recording_backend import RecordingBackend


async def scene(
    database: Database, backend: RecordingBackend
) -> tuple[SessionEngine, int, Character, Character]:
    characters = CharacterService(database)
    aqua = await characters.create(
        1, 10, CharacterDraft(name="Aqua", persona="A goddess."), caller=OPERATOR
    )
    darkness = await characters.create(
        1,
        10,
        CharacterDraft(name="Darkness", persona="A crusader.", greeting="Hmph."),
        caller=OPERATOR,
    )
    engine = make_engine(database, backend)
    session, _ = await engine.sessions.start(Place(1, 500), aqua.id, caller=Caller(10, "member"))
    return engine, session.id, aqua, darkness


async def test_a_character_added_later_knows_only_what_it_witnessed(database: Database) -> None:
    backend = RecordingBackend(replies=["Noted."])
    engine, session, aqua, darkness = await scene(database, backend)
    await engine.history.add_human_message(session, speaker="Alice", content="The secret is 42.")
    await CastService(database).add(
        session, darkness, added_by=10, max_characters=4, caller=OPERATOR
    )
    await engine.history.add_human_message(session, speaker="Bob", content="Darkness, welcome!")
    reply = await engine.replies.generate_reply(session, character_id=darkness.id)
    prompt = backend.prompts[-1]
    assert "The secret is 42." not in prompt
    assert prompt.endswith("Bob: Darkness, welcome!\nDarkness:")
    assert reply.message.character_id == darkness.id and reply.message.speaker == "Darkness"

    await engine.replies.generate_reply(session, character_id=aqua.id)
    aqua_prompt = backend.prompts[-1]
    assert "Alice: The secret is 42." in aqua_prompt
    assert "\nDarkness: Noted.\n" in aqua_prompt  # the other character, under its own name
    assert "\nDarkness:" in backend.calls[-1].stop


async def test_full_history_lets_a_newcomer_know_everything(database: Database) -> None:
    backend = RecordingBackend(replies=["Ah."])
    engine, session, _, darkness = await scene(database, backend)
    await engine.history.add_human_message(session, speaker="Alice", content="The secret is 42.")
    await CastService(database).add(
        session, darkness, added_by=10, max_characters=4, full_history=True, caller=OPERATOR
    )
    await engine.replies.generate_reply(session, character_id=darkness.id)
    assert "Alice: The secret is 42." in backend.prompts[-1]


async def test_the_cast_has_a_limit_no_doubles_and_its_opener_stays(database: Database) -> None:
    _, session, aqua, darkness = await scene(database, RecordingBackend())
    cast = CastService(database)
    with pytest.raises(InvalidInput, match="limit"):
        await cast.add(session, darkness, added_by=10, max_characters=1, caller=OPERATOR)
    members = await cast.add(session, darkness, added_by=10, max_characters=2, caller=OPERATOR)
    assert [m.character.name for m in members] == ["Aqua", "Darkness"]
    with pytest.raises(AlreadyExists):
        await cast.add(session, darkness, added_by=10, max_characters=4, caller=OPERATOR)
    with pytest.raises(InvalidInput, match="session stop"):
        await cast.remove(session, aqua, caller=OPERATOR)
    assert [m.character.name for m in await cast.remove(session, darkness, caller=OPERATOR)] == [
        "Aqua"
    ]
    with pytest.raises(NotFound):
        await cast.remove(session, darkness, caller=OPERATOR)


async def test_personas_name_the_member_and_describe_them(database: Database) -> None:
    backend = RecordingBackend(replies=["Greetings, knight."])
    engine, _, _, _ = await scene(database, backend)
    personas = PersonaService(database)
    await personas.set(1, 7, "Sir Alice", "a tall knight", caller=OPERATOR)
    presenter = Presenter()
    replies = ChannelRoleplay(
        engine, GuildConfigService(database), lambda view: presenter, personas=personas
    )
    assert await replies.handle(message("Hello!", author=7, name="alice_99")) is (
        Outcome.REPLY_SCHEDULED
    )
    await asyncio.wait_for(replies.idle(), 5)
    prompt = backend.prompts[-1]
    assert "[Sir Alice: a tall knight]" in prompt
    assert "\nSir Alice: Hello!\nAqua:" in prompt and "alice_99" not in prompt
    with pytest.raises(InvalidInput):
        await personas.set(1, 7, "Bad: name", "", caller=OPERATOR)


async def test_one_message_draws_each_named_character_once_and_characters_never_chain(
    database: Database,
) -> None:
    backend = RecordingBackend(replies=["Aqua here.", "Darkness here."])
    engine, session, _, darkness = await scene(database, backend)
    await CastService(database).add(
        session, darkness, added_by=10, max_characters=4, caller=OPERATOR
    )
    spoke: list[str] = []

    def factory(view: SessionView) -> Presenter:
        spoke.append(view.character.name)
        return Presenter()

    replies = ChannelRoleplay(engine, GuildConfigService(database), factory)
    await replies.handle(message("Aqua and Darkness, report!"))
    await asyncio.wait_for(replies.idle(), 5)
    await asyncio.sleep(0.05)
    assert spoke == ["Aqua", "Darkness"]
    assert len(backend.calls) == 2
    history = await engine.history.recent(session)
    assert [(m.role, m.speaker) for m in history[-2:]] == [
        (Role.CHARACTER, "Aqua"),
        (Role.CHARACTER, "Darkness"),
    ]


async def test_a_paused_scene_records_but_nobody_answers(database: Database) -> None:
    backend = RecordingBackend()
    engine, session, _, _ = await scene(database, backend)
    replies = ChannelRoleplay(engine, GuildConfigService(database), lambda view: Presenter())
    await CastService(database).set_paused(session, True, caller=OPERATOR)
    assert await replies.handle(message("Anyone?")) is Outcome.PAUSED
    assert backend.calls == []
    assert (await engine.history.recent(session))[-1].content == "Anyone?"
    await CastService(database).set_paused(session, False, caller=OPERATOR)
    assert await replies.handle(message("Now?")) is Outcome.REPLY_SCHEDULED
    await asyncio.wait_for(replies.idle(), 5)


async def test_impersonate_drafts_the_members_line_without_storing_it(database: Database) -> None:
    backend = RecordingBackend(replies=[" I draw my sword.\nAqua: (not mine)"])
    engine, session, _, _ = await scene(database, backend)
    await engine.history.add_human_message(session, speaker="Alice", content="Hm.", author_id=7)
    before = len(await engine.history.recent(session))
    draft = await engine.replies.impersonate(session, "Alice")
    assert draft == "I draw my sword."
    assert backend.prompts[-1].endswith("Alice: Hm.\nAlice:")
    assert "\nAqua:" in backend.calls[-1].stop
    assert len(await engine.history.recent(session)) == before
