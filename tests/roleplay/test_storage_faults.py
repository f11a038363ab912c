"""Storage faults while a channel plays, with real faults on a real SQLite file: a second
connection holding the write lock, a disk with no room left, a database that refuses writes.
The member is told once, the operator gets one line, nothing is dropped silently, and the
channel recovers by itself when the fault clears."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from bot.errors import StorageUnavailable
from bot.roleplay import channel as channel_module
from bot.roleplay.channel import ChannelRoleplay, Outcome
from bot.roleplay.engine import SessionEngine
from bot.store import Database, sqlite_driver
from bot.store.migrate import upgrade_to_head
from tests.roleplay.test_channel import message, setup
from tests.support.recording_backend import RecordingBackend

WAIT = 10.0


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    return tmp_path / "galatea.db"


@pytest.fixture
async def db(db_file: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Database]:
    monkeypatch.setattr(sqlite_driver, "BUSY_TIMEOUT_SECONDS", 0.2)
    monkeypatch.setattr(channel_module, "STORAGE_RETRY_DELAYS", (0.05, 0.05))
    database = Database(f"sqlite+aiosqlite:///{db_file}")
    await upgrade_to_head(database)
    yield database
    await database.dispose()


@contextmanager
def write_lock_held(db_file: Path) -> Iterator[sqlite3.Connection]:
    """Another process's connection in the middle of a write transaction."""
    other = sqlite3.connect(db_file, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield other
    finally:
        other.execute("ROLLBACK")
        other.close()


class PragmaOnCheckout:
    """Sets a pragma on every connection the bot takes from its pool, while ``on``: SQLite's
    own limits give the real errors (``max_page_count``: SQLITE_FULL, as on a full disk;
    ``query_only``: SQLITE_READONLY, as on a read-only file, which root would not see)."""

    def __init__(self, database: Database, on: str, off: str) -> None:
        self.active = False
        self._on, self._off = on, off
        event.listen(database.engine.sync_engine, "checkout", self._apply)

    def _apply(self, dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(self._on if self.active else self._off)
        cursor.close()


async def _history(engine: SessionEngine) -> list[str]:
    view = await engine.sessions.active(500)
    assert view is not None
    return [m.content for m in await engine.history.recent(view.session.id)]


def _storage_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "bot.store.faults" and r.levelno >= logging.WARNING
    ]


async def _handle(roleplay: ChannelRoleplay, text: str, message_id: int) -> Outcome:
    incoming = replace(message(text), message_id=message_id)
    return await asyncio.wait_for(roleplay.handle(incoming), WAIT)


async def test_a_locked_database_is_told_once_logged_once_and_recovers(
    db: Database, db_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    roleplay, engine, _ = await setup(db, RecordingBackend(replies=["Hi."]))
    await _handle(roleplay, "Before.", 1)
    await roleplay.idle()
    with write_lock_held(db_file):
        assert await _handle(roleplay, "During one.", 2) is Outcome.NOT_STORED
        assert await _handle(roleplay, "During two.", 3) is Outcome.NOT_STORED_QUIET
    assert _storage_lines(caplog) == [
        "Storage unavailable: the database is locked by another connection (waited the busy "
        "timeout). Nothing is saved until it is back (members are told; Galatea keeps trying "
        "by itself)."
    ]
    assert await _handle(roleplay, "After.", 4) is Outcome.REPLY_SCHEDULED
    await asyncio.wait_for(roleplay.idle(), WAIT)
    assert "Storage is back" in _storage_lines(caplog)[-1]
    assert await _history(engine) == ["Before.", "Hi.", "After.", "Hi."]


async def test_a_lock_released_during_the_retries_stores_the_message(
    db: Database, db_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(channel_module, "STORAGE_RETRY_DELAYS", (0.5,))
    roleplay, engine, _ = await setup(db, RecordingBackend(replies=["Hi."]))
    other = sqlite3.connect(db_file, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")

    async def release_soon() -> None:
        await asyncio.sleep(0.3)  # after the first try's busy wait (0.2 s), before the retry
        other.execute("ROLLBACK")
        other.close()

    releasing = asyncio.create_task(release_soon())
    assert await _handle(roleplay, "Patience.", 5) is Outcome.REPLY_SCHEDULED
    await releasing
    await asyncio.wait_for(roleplay.idle(), WAIT)
    assert await _history(engine) == ["Patience.", "Hi."]


@pytest.mark.parametrize(
    ("on", "off", "cause"),
    [
        ("PRAGMA max_page_count = 1", "PRAGMA max_page_count = 1073741823", "disk is full"),
        ("PRAGMA query_only = ON", "PRAGMA query_only = OFF", "read-only"),
    ],
    ids=["full-disk", "read-only"],
)
async def test_a_full_or_read_only_database_is_told_and_recovers(
    db: Database, on: str, off: str, cause: str, caplog: pytest.LogCaptureFixture
) -> None:
    roleplay, engine, _ = await setup(db, RecordingBackend(replies=["Hi."]))
    fault = PragmaOnCheckout(db, on, off)
    fault.active = True
    long_text = "A long line. " * 600  # needs new pages: a full database cannot take it
    assert await _handle(roleplay, long_text, 6) is Outcome.NOT_STORED
    [line] = _storage_lines(caplog)
    assert cause in line
    with pytest.raises(StorageUnavailable, match=cause):  # commands get the same error
        await engine.history.add_human_message(
            await _view_id(engine), speaker="Ann", content=long_text, author_id=8
        )
    fault.active = False
    assert await _handle(roleplay, long_text, 7) is Outcome.REPLY_SCHEDULED
    await asyncio.wait_for(roleplay.idle(), WAIT)
    assert await _history(engine) == [long_text.strip()[:8000], "Hi."]


async def _view_id(engine: SessionEngine) -> int:
    view = await engine.sessions.active(500)
    assert view is not None
    return view.session.id


async def test_a_postgresql_server_that_is_down_is_a_storage_fault() -> None:
    """Nothing listens on the port (a server that is down): one line, no traceback."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    database = Database(f"postgresql+asyncpg://galatea:secret@127.0.0.1:{port}/galatea")
    try:
        with pytest.raises(StorageUnavailable, match="cannot be reached") as raised:
            async with database.read() as uow:
                await uow.characters.owned_by(1, 1)
        assert "secret" not in str(raised.value)
        assert database.health.down
    finally:
        await database.dispose()
