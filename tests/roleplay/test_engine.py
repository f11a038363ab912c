"""The session engine on a real database, with a recording backend and the real tiny model."""

from __future__ import annotations

import asyncio
from itertools import pairwise

import pytest

from bot.characters.service import CharacterDraft, CharacterService
from bot.errors import InferenceError, InvalidInput
from bot.inference.base import Backend, GenerationParams
from bot.inference.ctransformers_backend import CTransformersBackend
from bot.policy import OPERATOR, Caller, Place
from bot.prompt.render import PromptRenderer
from bot.prompt.tokens import TokenCounter
from bot.roleplay.engine import SessionEngine
from bot.settings import PromptFormat
from bot.store import Database
from bot.values import Role
from tests.support.recording_backend import RecordingBackend

PARAMS = GenerationParams(max_new_tokens=40, temperature=0.0, top_k=1, seed=3)


def make_engine(
    db: Database, backend: Backend, fmt: PromptFormat = PromptFormat.PYGMALION
) -> SessionEngine:
    renderer = PromptRenderer(fmt, TokenCounter(backend), context_length=backend.context_length)
    return SessionEngine(db, backend, renderer, PARAMS, history_limit=50)


async def start(engine: SessionEngine, db: Database, channel: int = 500) -> int:
    character = await CharacterService(db).create(
        1,
        10,
        CharacterDraft(
            name="Aqua",
            persona="A cheerful water goddess.",
            greeting="Hello {{user}}, I am {{char}}!",
            scenario="A tavern.",
        ),
        caller=OPERATOR,
    )
    session, greeting = await engine.sessions.start(
        Place(1, channel), character.id, caller=Caller(10, "member"), user_name="Alice"
    )
    assert greeting is not None and greeting.content == "Hello Alice, I am Aqua!"
    return session.id


async def test_two_speakers_reach_the_prompt_and_the_reply_is_stored(database: Database) -> None:
    backend = RecordingBackend(replies=[" Welcome, both of you!\nAlice: (never said)"])
    engine = make_engine(database, backend)
    session = await start(engine, database)
    await engine.history.add_human_message(
        session, speaker="Alice", content="Hi Aqua!", author_id=1
    )
    await engine.history.add_human_message(session, speaker="Bob", content="Hey.", author_id=2)
    streamed: list[str] = []

    async def on_text(text: str) -> None:
        streamed.append(text)

    reply = await engine.replies.generate_reply(session, on_text=on_text)
    prompt = backend.prompts[-1]
    assert "Aqua's Persona: A cheerful water goddess." in prompt
    assert prompt.endswith("Aqua: Hello Alice, I am Aqua!\nAlice: Hi Aqua!\nBob: Hey.\nAqua:")
    assert "\nAlice:" in backend.calls[-1].stop and "\nBob:" in backend.calls[-1].stop
    assert reply.message.content == "Welcome, both of you!"
    assert streamed[-1] == "Welcome, both of you!"
    history = await engine.history.recent(session)
    assert [(m.role, m.speaker) for m in history] == [
        (Role.CHARACTER, "Aqua"),
        (Role.HUMAN, "Alice"),
        (Role.HUMAN, "Bob"),
        (Role.CHARACTER, "Aqua"),
    ]


async def test_replies_in_one_session_are_one_at_a_time_and_see_everything_before(
    database: Database,
) -> None:
    backend = RecordingBackend(replies=["First.", "Second."], delay=0.01)
    engine = make_engine(database, backend)
    session = await start(engine, database)
    await engine.history.add_human_message(session, speaker="Alice", content="one")
    first = asyncio.create_task(engine.replies.generate_reply(session))
    await asyncio.sleep(0)
    await engine.history.add_human_message(session, speaker="Bob", content="two")
    second = asyncio.create_task(engine.replies.generate_reply(session))
    await asyncio.wait_for(asyncio.gather(first, second), timeout=10)
    assert "Bob: two" in backend.prompts[1] and "Aqua: First." in backend.prompts[1]


async def test_an_empty_reply_is_retried_then_reported(database: Database) -> None:
    backend = RecordingBackend(replies=["Alice: nothing for me"])
    engine = make_engine(database, backend)
    session = await start(engine, database)
    await engine.history.add_human_message(session, speaker="Alice", content="hello?")
    with pytest.raises(InferenceError, match="nothing to say"):
        await engine.replies.generate_reply(session)
    assert len(backend.calls) == 2
    history = await engine.history.recent(session)
    assert history[-1].content == "hello?"  # the human message is kept


async def test_stop_and_resume_keep_the_story(database: Database) -> None:
    engine = make_engine(database, RecordingBackend())
    session = await start(engine, database, channel=77)
    await engine.history.add_human_message(session, speaker="Alice", content="remember me")
    assert await engine.sessions.stop(77, caller=OPERATOR)
    assert await engine.sessions.active(77) is None
    resumed = await engine.sessions.resume_latest(77)
    assert resumed is not None and resumed.session.id == session
    assert resumed.message_count == 2


async def test_reset_clears_the_history(database: Database) -> None:
    engine = make_engine(database, RecordingBackend())
    session = await start(engine, database)
    await engine.history.add_human_message(session, speaker="Alice", content="x")
    assert (await engine.sessions.reset(session, caller=OPERATOR))[0] == 2
    assert await engine.history.recent(session) == []


async def test_a_persona_larger_than_the_context_is_refused_politely(database: Database) -> None:
    backend = RecordingBackend(context_length=300)
    engine = make_engine(database, backend)
    character = await CharacterService(database).create(
        1, 10, CharacterDraft(name="Wordy", persona="word " * 400), caller=OPERATOR
    )
    session, _ = await engine.sessions.start(Place(1, 9), character.id, caller=Caller(1, "member"))
    await engine.history.add_human_message(session.id, speaker="Al", content="hi")
    with pytest.raises(InvalidInput, match="persona"):
        await engine.replies.generate_reply(session.id)


@pytest.mark.parametrize("fmt", list(PromptFormat))
async def test_a_real_model_reply_is_generated_cleaned_and_stored(
    database: Database, tiny_backend: CTransformersBackend, fmt: PromptFormat
) -> None:
    engine = make_engine(database, tiny_backend, fmt)
    session = await start(engine, database)
    await engine.history.add_human_message(session, speaker="Alice", content="Hello!")
    await engine.history.add_human_message(session, speaker="Bob", content="Hi there.")
    reply = await engine.replies.generate_reply(session)
    assert reply.message.role is Role.CHARACTER
    assert reply.message.content.strip() == reply.message.content
    assert reply.prompt.token_count <= tiny_backend.context_length - PARAMS.max_new_tokens
    stored = await engine.history.recent(session)
    assert stored[-1].content == reply.message.content


@pytest.mark.parametrize("fmt", list(PromptFormat))
async def test_people_taking_turns_only_ever_add_to_the_prompt(
    database: Database, fmt: PromptFormat
) -> None:
    """{{user}} in the definition is whoever started the session, not whoever spoke last, so a
    backend can keep every evaluated token while a group takes turns."""
    backend = RecordingBackend(replies=[f"Reply number {n}." for n in range(9)])
    engine = make_engine(database, backend, fmt)
    character = await CharacterService(database).create(
        1,
        10,
        CharacterDraft(
            name="Aqua",
            persona="A goddess who adores {{user}}.",
            scenario="{{user}} meets {{char}}.",
            example_dialogue="<START>\n{{user}}: Hi!\n{{char}}: Hello, {{user}}.",
        ),
        caller=OPERATOR,
    )
    session, _ = await engine.sessions.start(
        Place(1, 501), character.id, caller=Caller(10, "member"), user_name="Alice"
    )
    people = [("Alice", 10), ("Bob", 11), ("Carol", 12)] * 3
    for turn, (name, author) in enumerate(people):
        await engine.history.add_human_message(
            session.id, speaker=name, content=f"Line {turn}.", author_id=author
        )
        await engine.replies.generate_reply(session.id)
    prompts = backend.prompts
    assert len(prompts) == len(people)
    assert all("adores Alice" in p and "Alice: Hi!" in p for p in prompts)
    for earlier, later in pairwise(prompts):
        assert later.startswith(earlier)
    assert "\nCarol:" in backend.calls[-2].stop  # the speakers still stop the reply


async def test_example_dialogue_does_not_come_back_once_history_needs_the_room(
    database: Database,
) -> None:
    """Examples go before history; once gone they stay gone, or every trim of the history
    would bring them back and change the prompt's start twice more."""
    backend = RecordingBackend(replies=["A fine reply, traveller."] * 40)
    renderer = PromptRenderer(PromptFormat.PYGMALION, TokenCounter(backend), context_length=260)
    engine = SessionEngine(database, backend, renderer, PARAMS, history_limit=100)
    character = await CharacterService(database).create(
        1,
        10,
        CharacterDraft(
            name="Aqua",
            persona="A goddess.",
            example_dialogue="<START>\n{{user}}: Hi!\n{{char}}: Hello there, dear traveller.",
        ),
        caller=OPERATOR,
    )
    session, _ = await engine.sessions.start(
        Place(1, 502), character.id, caller=Caller(10, "member"), user_name="Alice"
    )
    for turn in range(30):
        await engine.history.add_human_message(
            session.id, speaker="Alice", content=f"Line {turn} of the story.", author_id=10
        )
        await engine.replies.generate_reply(session.id)
    shown = ["Hello there, dear traveller." in p for p in backend.prompts]
    assert shown[0] and not shown[-1]
    first_gone = shown.index(False)
    assert not any(shown[first_gone:])
    # The history was trimmed more than once after that (the window slid).
    starts = [p.split("<START>\n")[-1].split("\n")[0] for p in backend.prompts[first_gone:]]
    assert len(set(starts)) > 2
