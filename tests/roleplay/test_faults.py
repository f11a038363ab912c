"""Faults during a reply, in the core: the backend refuses, is slow, errors or dies mid-stream,
or the database write fails. The channel is told briefly, the human messages stay, no partial
reply is stored, and the next message works."""

# Polling helpers are always wrapped in asyncio.wait_for: every wait is bounded.

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.roleplay.channel import ChannelRoleplay
from bot.roleplay.engine import SessionEngine
from bot.store import Database
from bot.store.messages import MessageStore
from bot.store.models import MessageRow
from bot.values import Role
from tests.roleplay.test_channel import Presenter, message, setup
from tests.support.failing_backend import (
    FailingBackend,
    dying_backend,
    erroring_backend,
    refusing_backend,
)
from tests.support.recording_backend import RecordingBackend
from tests.support.waiting import until


async def _history(engine: SessionEngine) -> list[tuple[Role, str]]:
    view = await engine.sessions.active(500)
    assert view is not None
    return [(m.role, m.content) for m in await engine.history.recent(view.session.id)]


async def _fails_then_recovers(
    replies: ChannelRoleplay, engine: SessionEngine, presenter: Presenter, expected: str
) -> str:
    await replies.handle(message("Are you there?"))
    await asyncio.wait_for(until(lambda: bool(presenter.failures)), 5)
    await asyncio.wait_for(replies.idle(), 5)
    failure = presenter.failures[0]
    assert expected in failure
    assert presenter.shown == []
    assert await _history(engine) == [(Role.HUMAN, "Are you there?")]

    await replies.handle(message("Hello again."))
    await asyncio.wait_for(until(lambda: bool(presenter.shown)), 5)
    await asyncio.wait_for(replies.idle(), 5)
    assert presenter.shown == ["Fine now."]
    assert await _history(engine) == [
        (Role.HUMAN, "Are you there?"),
        (Role.HUMAN, "Hello again."),
        (Role.CHARACTER, "Fine now."),
    ]
    return failure


async def test_a_refusing_backend_is_explained_and_the_next_message_works(
    database: Database,
) -> None:
    backend = refusing_backend(replies=["Fine now."])
    replies, engine, presenter = await setup(database, backend)
    failure = await _fails_then_recovers(replies, engine, presenter, "not reachable")
    assert len(failure) < 200


async def test_a_backend_error_gets_an_apology_with_an_error_id(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    backend = erroring_backend(replies=["Fine now."])
    replies, engine, presenter = await setup(database, backend)
    failure = await _fails_then_recovers(replies, engine, presenter, "something went wrong")
    assert "error " in failure and "500 from the model server" not in failure
    assert any(r.exc_info for r in caplog.records)  # the traceback is logged, not shown


async def test_a_backend_dying_mid_stream_stores_no_partial_reply(database: Database) -> None:
    backend = dying_backend(pieces_first=3, replies=["one two three four five", "Fine now."])
    replies, engine, presenter = await setup(database, backend)
    updates: list[str] = []

    async def update(text: str) -> None:
        updates.append(text)

    presenter.update = update  # type: ignore[method-assign]
    await replies.handle(message("Are you there?"))
    await asyncio.wait_for(until(lambda: bool(presenter.failures)), 5)
    await asyncio.wait_for(replies.idle(), 5)
    assert updates and updates[-1] == "one two three"  # the partial text was being shown
    assert "something went wrong" in presenter.failures[0]
    assert await _history(engine) == [(Role.HUMAN, "Are you there?")]

    await replies.handle(message("Hello again."))
    await asyncio.wait_for(until(lambda: bool(presenter.shown)), 5)
    assert presenter.shown == ["Fine now."]


async def test_a_slow_backend_times_out_and_the_next_message_works(database: Database) -> None:
    backend = RecordingBackend(replies=["slow " * 50, "Fine now."], delay=0.05)
    replies, engine, presenter = await setup(database, backend, reply_timeout=0.2)
    await replies.handle(message("Are you there?"))
    await asyncio.wait_for(until(lambda: bool(presenter.failures)), 5)
    await asyncio.wait_for(replies.idle(), 5)
    backend.delay = 0.0
    assert "took too long" in presenter.failures[0]
    assert await _history(engine) == [(Role.HUMAN, "Are you there?")]
    await replies.handle(message("Hello again."))
    await asyncio.wait_for(until(lambda: bool(presenter.shown)), 5)
    assert presenter.shown == ["Fine now."]


async def test_a_failed_database_write_leaves_no_half_written_row(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = RecordingBackend(replies=["Fine now."])
    replies, engine, presenter = await setup(database, backend)
    real_add = MessageStore.add
    broken = {"left": 1}

    async def add_then_fail(self: MessageStore, **kwargs: Any) -> Any:
        stored = await real_add(self, **kwargs)  # the row is flushed: half of the unit of work
        if kwargs["role"] is Role.CHARACTER and broken["left"]:
            broken["left"] -= 1
            raise OSError("disk I/O error")
        return stored

    monkeypatch.setattr(MessageStore, "add", add_then_fail)
    await _fails_then_recovers(replies, engine, presenter, "something went wrong")
    async with database.session() as session:
        rows = await session.scalar(select(func.count()).select_from(MessageRow))
    assert rows == 3  # two human lines and the one reply that worked


async def test_a_failure_on_one_attempt_is_not_retried_forever(database: Database) -> None:
    backend = FailingBackend(error=RuntimeError("boom"), failures=100, replies=["never"])
    replies, _, presenter = await setup(database, backend)
    await replies.handle(message("One."))
    await asyncio.wait_for(until(lambda: bool(presenter.failures)), 5)
    await asyncio.wait_for(replies.idle(), 5)
    assert len(backend.calls) == 1 and len(presenter.failures) == 1
    assert not replies.busy(500)
