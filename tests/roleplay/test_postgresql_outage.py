"""A PostgreSQL server stopped while a channel plays, then started again: the message sent
meanwhile is reported, the operator gets one line, and the channel carries on by itself.

A server of its own (not the suite's shared one), stopped and started with pg_ctl."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from dataclasses import replace

import pytest

from bot.roleplay import channel as channel_module
from bot.roleplay.channel import ChannelRoleplay, Outcome
from bot.store import Database
from tests.conftest import _postgres_unavailable
from tests.roleplay.test_channel import message, setup
from tests.support.postgres import (
    PostgresServer,
    PostgresUnavailable,
    find_binaries,
    migrate_template,
    postgres_server,
)
from tests.support.recording_backend import RecordingBackend
from tests.support.waiting import until

WAIT = 30.0


@pytest.fixture
def own_server() -> Iterator[PostgresServer]:
    binaries = find_binaries()
    if binaries is None:
        _postgres_unavailable("PostgreSQL not found")
    with ExitStack() as stack:
        try:
            server = stack.enter_context(postgres_server(binaries))
        except PostgresUnavailable as exc:
            _postgres_unavailable(f"PostgreSQL could not be started: {exc}")
        migrate_template(server)
        yield server


@pytest.fixture
async def pg(own_server: PostgresServer) -> AsyncIterator[Database]:
    name = await own_server.create_database()
    database = Database(own_server.url(name))
    yield database
    await database.dispose()


async def _handle(roleplay: ChannelRoleplay, text: str, message_id: int) -> Outcome:
    return await asyncio.wait_for(
        roleplay.handle(replace(message(text), message_id=message_id)), WAIT
    )


async def test_postgresql_stopped_and_started_again(
    pg: Database,
    own_server: PostgresServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(channel_module, "STORAGE_RETRY_DELAYS", (0.05,))
    roleplay, engine, _ = await setup(pg, RecordingBackend(replies=["Hi."]))
    assert own_server.control is not None
    assert await _handle(roleplay, "Before.", 1) is Outcome.REPLY_SCHEDULED
    await asyncio.wait_for(roleplay.idle(), WAIT)

    await asyncio.to_thread(own_server.control, "stop")
    try:
        assert await _handle(roleplay, "While it is down.", 2) is Outcome.NOT_STORED
        assert await _handle(roleplay, "Still down.", 3) is Outcome.NOT_STORED_QUIET
    finally:
        await asyncio.to_thread(own_server.control, "start")
    assert await _handle(roleplay, "After.", 4) is Outcome.REPLY_SCHEDULED
    await asyncio.wait_for(roleplay.idle(), WAIT)

    view = await engine.sessions.active(500)
    assert view is not None
    assert [m.content for m in await engine.history.recent(view.session.id)] == [
        "Before.",
        "Hi.",
        "After.",
        "Hi.",
    ]
    lines = [
        r.getMessage()
        for r in caplog.records
        if r.name == "bot.store.faults" and r.levelno >= logging.WARNING
    ]
    assert len(lines) == 2, lines  # down (with the cause), back
    assert lines[0].startswith("Storage unavailable: ") and "Storage is back" in lines[1]


async def test_replies_in_flight_when_postgresql_stops_are_reported_not_crashed(
    pg: Database, own_server: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reply being written cannot be stored, and the next one cannot read its scene: the
    channel is told of each, and the channel's reply worker ends cleanly."""
    monkeypatch.setattr(channel_module, "STORAGE_RETRY_DELAYS", (0.05,))
    backend = RecordingBackend(replies=["Hi."], release=asyncio.Event())
    roleplay, engine, presenter = await setup(pg, backend)
    assert own_server.control is not None
    assert await _handle(roleplay, "One.", 1) is Outcome.REPLY_SCHEDULED
    await until(lambda: bool(backend.calls), timeout=WAIT)
    assert await _handle(roleplay, "Two.", 2) is Outcome.REPLY_SCHEDULED  # waits its turn
    await asyncio.to_thread(own_server.control, "stop")
    try:
        assert backend.release is not None
        backend.release.set()
        await asyncio.wait_for(roleplay.idle(), WAIT)  # no exception left in the worker
        assert len(presenter.failures) == 2
        assert all("can't reach my storage" in f for f in presenter.failures)
    finally:
        await asyncio.to_thread(own_server.control, "start")
    assert await _handle(roleplay, "Three.", 3) is Outcome.REPLY_SCHEDULED
    await asyncio.wait_for(roleplay.idle(), WAIT)
    view = await engine.sessions.active(500)
    assert view is not None
    assert [m.content for m in await engine.history.recent(view.session.id)] == [
        "One.",
        "Two.",
        "Three.",
        "Hi.",
    ]
