"""SQLite statements run on the event loop; commits and lock waits leave it free."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from bot.errors import StorageUnavailable
from bot.store import Database, sqlite_driver
from bot.store.migrate import upgrade_to_head

WAIT = 10.0  # bound on every wait below


@pytest.fixture
async def db_file(tmp_path: Path) -> Path:
    path = tmp_path / "galatea.db"
    db = Database(f"sqlite+aiosqlite:///{path}")
    await upgrade_to_head(db)
    await db.dispose()
    return path


@pytest.fixture
async def db(db_file: Path) -> Database:
    database = Database(f"sqlite+aiosqlite:///{db_file}")
    yield database  # type: ignore[misc]
    await database.dispose()


async def _count(db: Database) -> int:
    async with db.read() as uow:
        return int((await uow.session.execute(text("SELECT count(*) FROM guild_configs"))).scalar())


async def _add_config(db: Database, guild_id: int) -> None:
    async with db.write() as uow:
        await uow.guilds.update(guild_id, {"ooc_prefix": "(("})


class Ticker:
    """Counts how often the event loop gets to run it."""

    def __init__(self) -> None:
        self.ticks = 0

    async def run(self) -> None:
        while True:
            self.ticks += 1
            await asyncio.sleep(0.005)


async def test_a_writer_waits_for_another_process_lock_while_the_loop_keeps_running(
    db: Database, db_file: Path
) -> None:
    other = sqlite3.connect(
        db_file, isolation_level=None
    )  # another process, as far as SQLite knows
    other.execute("BEGIN IMMEDIATE")
    ticker = Ticker()
    ticking = asyncio.create_task(ticker.run())
    try:
        writer = asyncio.create_task(_add_config(db, 1))
        await asyncio.sleep(0.3)
        assert not writer.done()  # still waiting for the lock...
        assert ticker.ticks >= 20  # ...and the loop ran all along
        other.execute("COMMIT")
        await asyncio.wait_for(writer, WAIT)
    finally:
        ticking.cancel()
        other.close()
    assert await _count(db) == 1


async def test_two_writers_in_one_process_take_turns_instead_of_deadlocking(db: Database) -> None:
    async def slow_writer(guild_id: int) -> None:
        async with db.write() as uow:
            await uow.guilds.update(guild_id, {"ooc_prefix": "(("})
            await asyncio.sleep(0.05)  # holds the write lock across an await
            await uow.guilds.update(guild_id + 100, {"ooc_prefix": "(("})

    await asyncio.wait_for(asyncio.gather(*(slow_writer(g) for g in (1, 2, 3))), WAIT)
    assert await _count(db) == 6


async def test_a_lock_held_too_long_fails_the_write_and_keeps_what_was_stored(
    db: Database, db_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _add_config(db, 1)
    monkeypatch.setattr(sqlite_driver, "BUSY_TIMEOUT_SECONDS", 0.2)
    other = sqlite3.connect(db_file, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        # The store says so in its own terms (bot/store/faults.py): the operator's cause.
        with pytest.raises(StorageUnavailable, match="locked") as raised:
            await asyncio.wait_for(_add_config(db, 2), WAIT)
        assert isinstance(raised.value.__cause__, OperationalError)
        assert 0.1 <= time.monotonic() - started < WAIT
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert await _count(db) == 1


async def test_statements_run_on_the_loop_thread_and_commits_off_it(db: Database) -> None:
    threads: dict[str, set[str]] = {}

    def trace(statement: str) -> None:
        word = statement.split()[0].upper()
        threads.setdefault(word, set()).add(threading.current_thread().name)

    async with db.engine.connect() as conn:
        raw = await conn.get_raw_connection()
        raw.driver_connection._conn.set_trace_callback(trace)  # type: ignore[union-attr]
        await conn.commit()
    loop_thread = threading.current_thread().name
    await _add_config(db, 7)
    assert threads["INSERT"] == {loop_thread}
    assert threads["BEGIN"] == {loop_thread}
    assert loop_thread not in threads["COMMIT"]


async def test_rows_counts_and_many_rows_at_once_come_back_as_from_sqlite(db: Database) -> None:
    async with db.write() as uow:
        session = uow.session
        await session.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
        await session.execute(
            text("INSERT INTO t (v) VALUES (:v)"), [{"v": "a"}, {"v": "b"}, {"v": "c"}]
        )
        updated = await session.execute(text("UPDATE t SET v = 'x' WHERE id > 1"))
        assert updated.rowcount == 2  # type: ignore[attr-defined]
        inserted = await session.execute(text("INSERT INTO t (v) VALUES ('d') RETURNING id"))
        assert inserted.scalar() == 4
    async with db.read() as uow:
        rows = (await uow.session.execute(text("SELECT id, v FROM t ORDER BY id"))).all()
    assert [tuple(r) for r in rows] == [(1, "a"), (2, "x"), (3, "x"), (4, "d")]
