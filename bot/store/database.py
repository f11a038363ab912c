"""Engine, connection tuning and units of work.

SQLite is tuned for a bot that must not lose a posted reply: WAL, ``synchronous=FULL``, foreign
keys, waits of up to 10 s for a lock (on the event loop, see ``sqlite_driver.py``, which also
runs statements without a trip to another thread), and ``BEGIN IMMEDIATE`` for transactions
that write (with the driver's default deferred BEGIN, two writers upgrade their locks at once
and one fails immediately with "database is locked" instead of waiting).

PostgreSQL gives write units of work the same promise: each takes a transaction-scoped advisory
lock first, so writers queue as they do on SQLite (reads never wait). Row locks alone would not
do: under READ COMMITTED, a read-modify-write loses concurrent updates unless every read in it
says FOR UPDATE, and two "insert if missing" transactions (a server's first /config, two session
starts in one channel) have no row to lock and one fails on the unique index. Write transactions
are short (generation happens outside them), so queueing them costs nothing noticeable.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from bot.store.faults import StorageHealth, storage_fault
from bot.store.lore import books_read
from bot.store.repositories import UnitOfWork
from bot.store.sqlite_driver import BUSY_TIMEOUT_SECONDS, inline_dbapi
from bot.store.text import storable_parameters

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = int(BUSY_TIMEOUT_SECONDS * 1000)
# Any fixed number; advisory locks are per database, so it names "the writer's turn" there.
POSTGRESQL_WRITE_LOCK = 0x6761_6C61  # "gala"


class Database:
    """Owns the engine; hands out units of work. One per process, built in main.py."""

    def __init__(
        self, url: str, *, echo: bool = False, connect_timeout: float | None = None
    ) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            _ensure_sqlite_folder(url)
            # Statements on the loop, commits in aiosqlite's thread: see sqlite_driver.py.
            self.engine: AsyncEngine = create_async_engine(url, echo=echo, module=inline_dbapi())
            _tune_sqlite(self.engine)
        else:
            # asyncpg waits 60 s for a server that accepts the connection and says nothing.
            timeout = {"timeout": connect_timeout} if connect_timeout else {}
            self.engine = create_async_engine(
                url, echo=echo, pool_pre_ping=True, connect_args=timeout
            )
            if self.engine.dialect.name == "postgresql":
                _queue_postgresql_writers(self.engine)
        _store_text_without_nul(self.engine)
        # Same pool; the option tells the BEGIN hook to take the write lock up front.
        self.health = StorageHealth()
        self._write_engine = self.engine.execution_options(galatea_write=True)
        self._reader = async_sessionmaker(self.engine, expire_on_commit=False)
        self._writer = async_sessionmaker(self._write_engine, expire_on_commit=False)
        self._books_read = books_read()  # lorebooks as last read (bot/store/lore.py)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[UnitOfWork]:
        """A read-only unit of work (rolled back at the end).

        Raises ``StorageUnavailable`` (bot/errors.py) when the database is locked, full,
        read-only or unreachable; see faults.py."""
        try:
            async with self._reader() as session:
                yield UnitOfWork(session, self._books_read)
                await session.rollback()
        except Exception as error:
            fault = self._fault(error)
            if fault is error:
                raise
            raise fault from error
        # Not health.succeeded(): a read works while a write lock or a full disk stops writes.

    @asynccontextmanager
    async def write(self) -> AsyncIterator[UnitOfWork]:
        """A read-modify-write unit of work: committed on success, rolled back on any error.

        Raises ``StorageUnavailable`` as ``read`` does; nothing was written then."""
        try:
            async with self._writer() as session, session.begin():
                yield UnitOfWork(session, self._books_read)
        except Exception as error:
            fault = self._fault(error)
            if fault is error:
                raise
            raise fault from error
        self.health.succeeded()

    def _fault(self, error: Exception) -> Exception:
        """What a failed unit of work raises: ``StorageUnavailable`` for a storage fault
        (counted in ``health``, which logs it once), else the error itself."""
        fault = storage_fault(error)
        if fault is None:
            return error
        self.health.failed(fault)
        return fault

    async def checkpoint(self) -> bool:
        """SQLite: copy the write-ahead log into the database file and empty it, so that
        erased rows are not left readable in the -wal file (``secure_delete`` zeroes them in
        the database file). Outside any transaction, on the driver's thread. False when a
        reader kept part of the log (it is emptied at a later checkpoint); True elsewhere."""
        if not self.is_sqlite:
            return True
        try:
            async with self.engine.connect() as connection:
                raw = await connection.get_raw_connection()
                driver = raw.driver_connection
                assert driver is not None
                cursor = await driver.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                busy, _frames, _copied = await cursor.fetchone()
                await cursor.close()
        except Exception as error:
            fault = storage_fault(error)
            if fault is None:
                raise
            raise fault from error
        if busy:
            log.warning("WAL checkpoint incomplete: a reader holds part of the log")
        return not busy

    def session(self) -> AsyncSession:
        """A bare session, for migrations and tests."""
        return self._reader()

    async def dispose(self) -> None:
        await self.engine.dispose()


def _ensure_sqlite_folder(url: str) -> None:
    path = url.split(":///", 1)[1].split("?", 1)[0] if ":///" in url else ""
    if path and path != ":memory:":
        folder = Path(path).parent
        if not folder.exists():
            folder.mkdir(parents=True, exist_ok=True)
            log.info("Created database folder %s", folder)


def _tune_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take over BEGIN from the driver, so we can choose IMMEDIATE for writes.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=FULL",
            "PRAGMA foreign_keys=ON",
            # Erased rows are overwritten with zeros, not left in free space (/forget me).
            "PRAGMA secure_delete=ON",
            # Waits for a lock happen between statements, off the loop (sqlite_driver.py).
            "PRAGMA busy_timeout=0",
        ):
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(connection: Connection) -> None:
        write = connection.get_execution_options().get("galatea_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _store_text_without_nul(engine: AsyncEngine) -> None:
    """Every text parameter of every statement loses its NUL bytes (see text.py): one place
    for every text column, ORM or Core, so no new column can forget it."""

    @event.listens_for(engine.sync_engine, "before_cursor_execute", retval=True)
    def strip(
        _conn: Connection,
        _cursor: Any,
        statement: str,
        parameters: Any,
        _context: Any,
        executemany: bool,
    ) -> tuple[str, Any]:
        if executemany:
            return statement, [storable_parameters(p) for p in parameters]
        return statement, storable_parameters(parameters)


def _queue_postgresql_writers(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(connection: Connection) -> None:
        if connection.get_execution_options().get("galatea_write", False):
            # Bounded like SQLite's busy timeout: a stuck writer fails the others, not hangs them.
            connection.exec_driver_sql(f"SET LOCAL lock_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({POSTGRESQL_WRITE_LOCK})")
