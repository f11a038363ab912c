"""The scheduler's background lane: summary work only while no member's reply waits."""

from __future__ import annotations

import asyncio

import pytest

from bot.app import assemble
from bot.characters.service import CharacterDraft
from bot.inference.scheduler import Deferred, Scheduler
from bot.memory.summarizer import FoldRequest
from bot.policy import OPERATOR, Caller, Place
from bot.settings import Settings
from bot.store import Database
from tests.memory.chronicle_backend import ChronicleBackend


async def test_a_background_turn_waits_while_members_hold_the_model() -> None:
    scheduler = Scheduler(slots=1)
    async with scheduler.turn(guild_id=1, channel_id=1, user_id=1):
        with pytest.raises(Deferred):
            async with scheduler.background_turn(patience=0.05):
                pytest.fail("ran while a member held the only slot")
    async with scheduler.background_turn(patience=0.05) as preempt:
        assert not preempt.is_set()


async def test_a_summary_that_gets_no_turn_is_deferred_and_asked_again_later(
    sqlite_database: Database,
) -> None:
    backend = ChronicleBackend(context_length=512)
    core = assemble(Settings(MODEL="x", MAX_NEW_TOKENS=40), sqlite_database, backend)
    summarizer = core.memory.summarizer
    summarizer._patience, summarizer._retry_after = 0.05, 0.2
    aqua = await core.characters.create(
        1, 10, CharacterDraft(name="Aqua", persona="p"), caller=OPERATOR
    )
    session, _ = await core.engine.sessions.start(
        Place(1, 5), aqua.id, caller=Caller(10, "starter")
    )
    await core.engine.history.add_human_message(session.id, speaker="Ann", content="A RUBY.")
    last = await core.engine.history.add_human_message(session.id, speaker="Ann", content="Now.")
    fold = FoldRequest(session.id, aqua.id, "Aqua", last.id, 0)
    async with core.memory.summarizer._scheduler.turn(guild_id=1, channel_id=9, user_id=1):  # busy
        assert summarizer.request(fold)
        await asyncio.wait_for(summarizer.idle(), 5)
    assert summarizer.deferred == 1 and backend.summaries == []
    assert not summarizer.request(fold) and not summarizer.wants_retry((session.id, aqua.id))
    await asyncio.sleep(0.25)
    assert summarizer.wants_retry((session.id, aqua.id)) and summarizer.request(fold)
    await asyncio.wait_for(summarizer.idle(), 5)
    assert "RUBY" in (await core.memory.show(session.id)).summaries[0].text
    await core.close()


async def test_a_waiting_member_makes_background_work_give_the_slot_back() -> None:
    scheduler = Scheduler(slots=1)
    order: list[str] = []

    async def background() -> None:
        async with scheduler.background_turn(patience=1) as preempt:
            order.append("background starts")
            await asyncio.wait_for(preempt.wait(), 2)
            order.append("background yields")

    job = asyncio.create_task(background())
    await asyncio.sleep(0.01)
    async with scheduler.turn(guild_id=1, channel_id=7, user_id=3):
        order.append("member served")
    await asyncio.wait_for(job, 2)
    assert order == ["background starts", "background yields", "member served"]
    assert scheduler.stats().running == 0


async def test_a_summary_in_progress_is_cancelled_for_a_reply_and_written_after_it(
    sqlite_database: Database,
) -> None:
    backend = ChronicleBackend(context_length=512, delay=0.02)
    core = assemble(Settings(MODEL="x", MAX_NEW_TOKENS=40), sqlite_database, backend)
    aqua = await core.characters.create(
        1, 10, CharacterDraft(name="Aqua", persona="p"), caller=OPERATOR
    )
    session, _ = await core.engine.sessions.start(
        Place(1, 5), aqua.id, caller=Caller(10, "starter")
    )
    first = await core.engine.history.add_human_message(
        session.id, speaker="Ann", content="We found an APPLE."
    )
    for i in range(1, 30):
        await core.engine.history.add_human_message(
            session.id, speaker="Ann", content=f"LINE{i} " * 9
        )
    last = await core.engine.history.add_human_message(session.id, speaker="Ann", content="Now.")
    fold = FoldRequest(session.id, aqua.id, "Aqua", last.id, 0)
    assert core.memory.summarizer.request(fold)
    await asyncio.wait_for(backend.summarizing.wait(), 5)  # the summary is being written...
    await asyncio.wait_for(
        core.engine.replies.generate_reply(session.id), 5
    )  # ...a reply comes first
    await asyncio.wait_for(core.memory.summarizer.idle(), 10)  # then the summary starts over
    assert backend.cancelled == 1 and len(backend.summaries) >= 2
    assert core.memory.summarizer.deferred == 0
    state = await core.memory.show(session.id)
    assert state.summaries[0].covered_until > first.id
    assert "APPLE" in state.summaries[0].text
    await core.close()
