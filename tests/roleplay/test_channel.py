"""Channel roleplay in the core: intake, reply scheduling, coalescing, cancellation, timeouts."""

# Polling helpers are always wrapped in asyncio.wait_for: every wait is bounded.

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from bot.characters.service import CharacterDraft, CharacterService
from bot.errors import GenerationTimeout
from bot.guilds.config import GuildConfigService
from bot.inference.scheduler import Scheduler
from bot.policy import OPERATOR, Caller, Place
from bot.prompt.render import PromptRenderer
from bot.prompt.tokens import TokenCounter
from bot.roleplay.channel import ChannelRoleplay, IncomingMessage, Outcome
from bot.roleplay.engine import SessionEngine, SessionView
from bot.settings import PromptFormat
from bot.store import Database
from bot.values import StoredMessage
from tests.roleplay.test_engine import PARAMS
from tests.support.recording_backend import RecordingBackend
from tests.support.waiting import until

PLACE = Place(guild_id=1, channel_id=500)


@dataclass
class Presenter:
    shown: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)

    async def start(self) -> None:
        return None

    async def queued(self, position: int) -> None:
        self.positions.append(position)

    async def update(self, text: str) -> None:
        return None

    def shown_id(self) -> int | None:
        return None

    async def finish(self, message: StoredMessage) -> int | None:
        self.shown.append(message.content)
        return None

    async def fail(self, user_message: str) -> None:
        self.failures.append(user_message)


async def setup(
    database: Database, backend: RecordingBackend, *, reply_timeout: float = 30.0
) -> tuple[ChannelRoleplay, SessionEngine, Presenter]:
    renderer = PromptRenderer(PromptFormat.PYGMALION, TokenCounter(backend), context_length=2048)
    engine = SessionEngine(
        database,
        backend,
        renderer,
        PARAMS,
        scheduler=Scheduler(slots=1),
        reply_timeout=reply_timeout,
    )
    character = await CharacterService(database).create(
        1, 1, CharacterDraft(name="Aqua", persona="A goddess."), caller=OPERATOR
    )
    await engine.sessions.start(Place(1, 500), character.id, caller=Caller(1, "member"))
    presenter = Presenter()

    def factory(view: SessionView) -> Presenter:
        return presenter

    return ChannelRoleplay(engine, GuildConfigService(database), factory), engine, presenter


def message(text: str, author: int = 7, name: str = "Alice", **flags: bool) -> IncomingMessage:
    return IncomingMessage(
        place=PLACE,
        message_id=hash(text) & 0xFFFFFFF,
        author_id=author,
        author_name=name,
        content=text,
        **flags,
    )


async def test_messages_are_sorted_into_story_ooc_and_ignored(database: Database) -> None:
    replies, _, _ = await setup(database, RecordingBackend())
    assert await replies.handle(message("hi", from_bot=True)) is Outcome.IGNORED
    assert await replies.handle(message("hi", from_webhook=True)) is Outcome.IGNORED
    assert await replies.handle(message("   ")) is Outcome.IGNORED
    assert await replies.handle(message("// brb")) is Outcome.OUT_OF_CHARACTER
    assert await replies.handle(message("((ooc))")) is Outcome.OUT_OF_CHARACTER
    assert await replies.handle(message("Hello!")) is Outcome.REPLY_SCHEDULED
    other = IncomingMessage(
        place=Place(1, 999), message_id=1, author_id=1, author_name="A", content="x"
    )
    assert await replies.handle(other) is Outcome.NO_SESSION
    await asyncio.wait_for(replies.idle(), 5)


async def test_stopping_a_session_cancels_its_reply_and_frees_the_model(database: Database) -> None:
    backend = RecordingBackend(replies=["never shown"])
    backend.release = asyncio.Event()  # the reply hangs until cancelled
    replies, engine, presenter = await setup(database, backend)
    await replies.handle(message("Tell me a story."))
    await asyncio.wait_for(until(lambda: len(backend.calls) == 1), 5)
    await asyncio.wait_for(replies.cancel(500), 5)
    assert not replies.busy(500) and presenter.shown == []
    assert engine.queue().running == 0
    view = await engine.sessions.active(500)
    assert view is not None
    assert [m.content for m in await engine.history.recent(view.session.id)] == ["Tell me a story."]


async def test_a_reply_past_the_timeout_says_so_and_keeps_the_conversation(
    database: Database,
) -> None:
    backend = RecordingBackend(replies=["slow " * 50], delay=0.05)
    replies, engine, presenter = await setup(database, backend, reply_timeout=0.2)
    await replies.handle(message("Hurry up."))
    await asyncio.wait_for(until(lambda: bool(presenter.failures)), 5)
    assert "took too long" in presenter.failures[0]
    backend.replies, backend.delay = ["Quick now."], 0.0
    await replies.handle(message("Again?"))
    await asyncio.wait_for(until(lambda: presenter.shown == ["Quick now."]), 5)
    view = await engine.sessions.active(500)
    assert view is not None
    texts = [m.content for m in await engine.history.recent(view.session.id)]
    assert texts == ["Hurry up.", "Again?", "Quick now."]


async def test_engine_timeout_is_a_generation_timeout(database: Database) -> None:
    backend = RecordingBackend(replies=["slow " * 50], delay=0.05)
    _, engine, _ = await setup(database, backend, reply_timeout=0.1)
    view = await engine.sessions.active(500)
    assert view is not None
    await engine.history.add_human_message(view.session.id, speaker="Al", content="x")
    with pytest.raises(GenerationTimeout):
        await engine.replies.generate_reply(view.session.id)


async def test_messages_handled_concurrently_are_stored_in_the_order_they_were_sent(
    database: Database,
) -> None:
    backend = RecordingBackend(replies=["Ok."])
    replies, engine, _ = await setup(database, backend)
    texts = [f"message {i}" for i in range(12)]
    # Like discord.py: one task per message, created in order, run concurrently.
    tasks = [
        asyncio.create_task(replies.handle(message(t, author=i % 3))) for i, t in enumerate(texts)
    ]
    await asyncio.wait_for(asyncio.gather(*tasks), 10)
    await asyncio.wait_for(replies.idle(), 10)
    view = await engine.sessions.active(500)
    assert view is not None
    stored = [m.content for m in await engine.history.recent(view.session.id) if m.content != "Ok."]
    assert stored == texts


async def test_a_message_a_reply_already_covered_is_not_answered_again(
    database: Database,
) -> None:
    """The load run's race: a message is stored, a reply starts and reads it, and only then
    is the message's own request scheduled. That request must not make a second reply."""
    backend = RecordingBackend(replies=["First.", "Second.", "Third."])
    replies, engine, presenter = await setup(database, backend)
    view = await engine.sessions.active(500)
    assert view is not None
    config = await GuildConfigService(database).get(1)
    stored = await engine.history.add_human_message(
        view.session.id, speaker="Alice", content="One."
    )
    replies.schedule(view, PLACE, config, answering=stored.id)
    await asyncio.wait_for(replies.idle(), 5)
    replies.schedule(view, PLACE, config, answering=stored.id)  # late: already answered
    await asyncio.wait_for(replies.idle(), 5)
    assert presenter.shown == ["First."]
    newer = await engine.history.add_human_message(view.session.id, speaker="Bob", content="Two.")
    replies.schedule(view, PLACE, config, answering=newer.id)
    await asyncio.wait_for(replies.idle(), 5)
    assert presenter.shown == ["First.", "Second."]
    assert len(backend.calls) == 2
