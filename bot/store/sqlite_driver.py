"""SQLite statements run on the event loop; commits and waits for locks do not block it.

SQLAlchemy's aiosqlite adapter sends every SQLite call to the connection's own thread: open a
cursor, execute, fetch the rows, close the cursor, four trips a statement. Each trip is a queue
hand-off, a thread wake-up and a wait for the GIL, about 0.1 ms on an idle machine and several
ms on a busy one, while the bot's statements themselves (indexed reads and single-row writes)
take a few µs. A chat turn runs a dozen of them, so the trips were most of the bot's own time
per turn.

This adapter runs each statement directly, buffering its rows, and keeps the two things that
can take long off the event loop:

- **COMMIT** goes to aiosqlite's thread, as before: with ``synchronous=FULL`` it waits for the
  disk (``fsync``), which takes from 0.2 ms to many ms when the disk is busy.
- **Waiting for a lock**: SQLite's own busy handler would sleep inside the statement, blocking
  the loop (and, when the lock is held by another unit of work of this process, the unit of
  work that must finish to release it: a deadlock until the timeout). The connection's
  ``busy_timeout`` is 0 instead, and a statement that finds the database locked is retried
  after an ``asyncio.sleep`` backoff, up to ``BUSY_TIMEOUT_SECONDS``.

Use it through ``create_async_engine(url, module=inline_dbapi())``. Everything else
(connecting, closing, isolation levels, errors) is SQLAlchemy's and aiosqlite's own.
"""

from __future__ import annotations

import asyncio
import collections
import sqlite3
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import aiosqlite
from sqlalchemy.connectors.asyncio import AsyncAdapt_dbapi_connection
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

BUSY_TIMEOUT_SECONDS = 10.0
FIRST_BACKOFF_SECONDS = 0.001
LONGEST_BACKOFF_SECONDS = 0.05

_Outcome = tuple[Any, list[Any], int, int | None]
T = TypeVar("T")


def _is_busy(error: BaseException) -> bool:
    return getattr(error, "sqlite_errorcode", None) == sqlite3.SQLITE_BUSY


def _run(connection: sqlite3.Connection, operation: str, parameters: Any, many: bool) -> _Outcome:
    """Execute, fetch everything, close; return what SQLAlchemy reads from a cursor."""
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        else:
            cursor.execute(operation, () if parameters is None else parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


async def _while_busy(attempt: Callable[[], Awaitable[T]]) -> T:
    """``attempt()``, repeated while the database is locked, sleeping on the event loop between.

    SQLITE_BUSY leaves a statement without effect and a COMMIT pending, so both can be run
    again. When the database is free this returns without suspending: SQLAlchemy's async layer
    wants each statement to await something, and this costs it no trip."""
    backoff, deadline = FIRST_BACKOFF_SECONDS, time.monotonic() + BUSY_TIMEOUT_SECONDS
    while True:
        try:
            return await attempt()
        except sqlite3.OperationalError as error:
            if not _is_busy(error) or time.monotonic() + backoff > deadline:
                raise
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, LONGEST_BACKOFF_SECONDS)


class InlineCursor(AsyncAdapt_aiosqlite_cursor):
    """A buffered cursor that runs its statement at once, on the calling thread."""

    __slots__ = ("_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: AsyncAdapt_dbapi_connection) -> None:
        # No aiosqlite cursor (opening one is a trip to its thread); ``_run`` opens its own.
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int:
        return self._lastrowid  # type: ignore[return-value]

    async def _async_soft_close(self) -> None:
        return None  # nothing stays open between statements

    def close(self) -> None:
        self._rows.clear()

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        self._execute(operation, parameters, many=False)

    def executemany(self, operation: Any, seq_of_parameters: Sequence[Any]) -> Any:
        self._execute(operation, seq_of_parameters, many=True)

    def _execute(self, operation: Any, parameters: Any, *, many: bool) -> None:
        connection: aiosqlite.Connection = self._connection  # type: ignore[assignment]

        async def run() -> _Outcome:
            return _run(connection._conn, operation, parameters, many)

        try:
            outcome = await_(_while_busy(run))
        except Exception as error:
            self._adapt_connection._handle_exception(error)
        self._description, rows, self._rowcount, self._lastrowid = outcome
        self._rows = collections.deque(rows)


class InlineConnection(AsyncAdapt_aiosqlite_connection):
    """Statements and ROLLBACK inline (no disk wait); COMMIT in aiosqlite's thread (fsync)."""

    __slots__ = ()
    _cursor_cls = InlineCursor

    def rollback(self) -> None:
        connection: aiosqlite.Connection = self._connection  # type: ignore[assignment]
        if connection._connection is None:
            return  # closed
        try:
            connection._conn.rollback()
        except Exception as error:
            self._handle_exception(error)

    def commit(self) -> None:
        connection: aiosqlite.Connection = self._connection  # type: ignore[assignment]
        if connection._connection is None:
            return  # closed
        try:
            await_(_while_busy(connection.commit))  # in aiosqlite's thread: the fsync
        except Exception as error:
            self._handle_exception(error)


class InlineDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """The aiosqlite DBAPI module as SQLAlchemy adapts it, handing out inline connections."""

    def connect(self, *arg: Any, **kw: Any) -> InlineConnection:
        # aiosqlite's thread opens and commits; statements run on the event loop's thread.
        kw["check_same_thread"] = False
        kw["timeout"] = 0  # no busy handler sleeping in a statement: ``_run_waiting`` waits
        adapted = super().connect(*arg, **kw)
        return InlineConnection(self, adapted._connection)


def inline_dbapi() -> InlineDBAPI:
    return InlineDBAPI(aiosqlite, sqlite3)
