"""Channel leases between processes: one answers a channel; it hands over on expiry and on
release; most messages cost no database round trip."""

# Polling helpers are always wrapped in asyncio.wait_for: every wait is bounded.
# ruff: noqa: ASYNC110

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from sqlalchemy import event

from bot.guilds.config import GuildConfigService
from bot.inference.scheduler import Scheduler
from bot.prompt.render import PromptRenderer
from bot.prompt.tokens import TokenCounter
from bot.roleplay.channel import ChannelRoleplay, Outcome
from bot.roleplay.engine import SessionEngine
from bot.roleplay.lease import ChannelLeases
from bot.settings import PromptFormat
from bot.store import Database
from bot.values import Role
from tests.roleplay.test_channel import PLACE, Presenter, message, setup
from tests.roleplay.test_engine import PARAMS
from tests.support.recording_backend import RecordingBackend


@contextlib.contextmanager
def statements(database: Database) -> Iterator[list[str]]:
    """The SQL statements the database runs meanwhile (every round trip, BEGIN included)."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(args[2])

    event.listen(database.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", record)


async def test_one_process_holds_a_channel_and_renews_from_memory(database: Database) -> None:
    first, second = ChannelLeases(database, 60), ChannelLeases(database, 60)
    assert first.holder != second.holder
    assert await first.claim(1)
    assert not await second.claim(1)
    assert await second.claim(2)
    with statements(database) as seen:
        for _ in range(50):
            assert await first.claim(1)
    assert seen == []  # more than half the TTL left: no database round trip
    assert first.holds(1) and not second.holds(1)


async def test_an_expired_lease_hands_the_channel_over(database: Database) -> None:
    # A TTL long enough that a loaded machine does not expire it between the first two claims.
    first, second = ChannelLeases(database, 1.5), ChannelLeases(database, 1.5)
    assert await first.claim(7)
    assert not await second.claim(7)
    await asyncio.sleep(1.55)
    assert not first.holds(7)
    assert await second.claim(7)
    assert not await first.claim(7)


async def test_released_channels_are_taken_at_once(database: Database) -> None:
    first, second = ChannelLeases(database, 60), ChannelLeases(database, 60)
    assert await first.claim(1) and await first.claim(2)
    assert await first.release_all() == 2
    assert not first.holds(1)
    assert await second.claim(1) and await second.claim(2)


async def test_a_reply_in_progress_keeps_its_channel(database: Database) -> None:
    first, second = ChannelLeases(database, 0.4), ChannelLeases(database, 0.4)
    busy = {3}
    assert await first.claim(3)
    keeper = asyncio.create_task(first.keep_alive(lambda channel: channel in busy))
    try:
        await asyncio.sleep(0.7)  # longer than the TTL: only renewals keep it
        assert not await second.claim(3)
        busy.clear()
        await asyncio.wait_for(_until_claimed(second, 3), 5)
    finally:
        keeper.cancel()
        await asyncio.gather(keeper, return_exceptions=True)


async def _until_claimed(leases: ChannelLeases, channel: int) -> None:
    while not await leases.claim(channel):
        await asyncio.sleep(0.05)


def process(database: Database, backend: RecordingBackend, leased: bool) -> ChannelRoleplay:
    """One bot process's channel roleplay: its own engine, backend and leases."""
    renderer = PromptRenderer(PromptFormat.PYGMALION, TokenCounter(backend), context_length=2048)
    engine = SessionEngine(database, backend, renderer, PARAMS, scheduler=Scheduler(slots=1))
    presenter = Presenter()
    return ChannelRoleplay(
        engine,
        GuildConfigService(database),
        lambda view: presenter,
        leases=ChannelLeases(database, 60) if leased else None,
    )


async def start_session(database: Database) -> SessionEngine:
    backend = RecordingBackend()
    _, engine, _ = await setup(database, backend)  # a character and a session in PLACE
    return engine


async def test_two_processes_answer_each_message_of_a_channel_once(database: Database) -> None:
    engine = await start_session(database)
    backends = [RecordingBackend(replies=["From A."]), RecordingBackend(replies=["From B."])]
    processes = [process(database, backend, leased=True) for backend in backends]
    for index in range(4):
        incoming = replace(message(f"Message {index}"), message_id=1000 + index)
        outcomes = await asyncio.wait_for(
            asyncio.gather(*(p.handle(incoming) for p in processes)), 10
        )
        assert sorted(o is Outcome.OTHER_PROCESS for o in outcomes) == [False, True]
        await asyncio.wait_for(asyncio.gather(*(p.idle() for p in processes)), 10)
    view = await engine.sessions.active(PLACE.channel_id)
    assert view is not None
    history = await engine.history.recent(view.session.id)
    humans = [m.discord_message_id for m in history if m.role is Role.HUMAN]
    replies = [m.content for m in history if m.role is Role.CHARACTER]
    assert humans == [1000, 1001, 1002, 1003]
    assert len(replies) == 4 and len(set(replies)) == 1  # one process kept the channel
    assert sorted(len(b.calls) for b in backends) == [0, 4]


async def test_without_a_lease_a_discord_message_is_still_taken_once(database: Database) -> None:
    engine = await start_session(database)
    backends = [RecordingBackend(), RecordingBackend()]
    first, second = (process(database, backend, leased=False) for backend in backends)
    incoming = replace(message("Hello!"), message_id=2000)
    assert await first.handle(incoming) is Outcome.REPLY_SCHEDULED
    assert await second.handle(incoming) is Outcome.OTHER_PROCESS
    await asyncio.wait_for(asyncio.gather(first.idle(), second.idle()), 10)
    view = await engine.sessions.active(PLACE.channel_id)
    assert view is not None
    history = await engine.history.recent(view.session.id)
    assert [m.discord_message_id for m in history if m.role is Role.HUMAN] == [2000]
    assert [len(b.calls) for b in backends] == [1, 0]
