"""Opening the database at start-up: one line per fault, saying what to do, never a password.

A PostgreSQL server that is still starting (refusing connections, or "the database system is
starting up") is waited for, up to ``START_WAIT_SECONDS`` in all; a server that accepts the
connection and then says nothing is given ``CONNECT_TIMEOUT_SECONDS`` per try. Everything
else fails at once: a full disk, a read-only file, a file that is not a database, a database
made by a newer Galatea, a DATABASE_URL that does not parse.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time

from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError

from bot.errors import ConfigError, StorageUnavailable
from bot.store.database import Database
from bot.store.faults import storage_fault
from bot.store.migrate import upgrade_to_head

log = logging.getLogger(__name__)

START_WAIT_SECONDS = 30.0
CONNECT_TIMEOUT_SECONDS = 10.0
RETRY_EVERY_SECONDS = 1.0


class DatabaseStartError(ConfigError):
    """The database cannot be opened or migrated; ``user_message`` is the operator's line."""


def shown_url(url: str) -> str:
    """The URL as it may be printed: the password masked (the URL may not even parse)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return "DATABASE_URL"


async def open_and_migrate(url: str, *, wait: float = START_WAIT_SECONDS) -> Database:
    """A migrated Database, or ``DatabaseStartError`` with one line saying what to do."""
    shown = shown_url(url)
    try:
        database = Database(url, connect_timeout=CONNECT_TIMEOUT_SECONDS)
    except (ArgumentError, ValueError) as error:
        raise DatabaseStartError(
            f"DATABASE_URL is not a database URL that can be used ({type(error).__name__}); "
            "expected sqlite+aiosqlite:///path/to/galatea.db or "
            "postgresql+asyncpg://user:password@host:5432/name."
        ) from None
    deadline = time.monotonic() + wait
    told = False
    try:
        while True:
            try:
                await upgrade_to_head(database)
                return database
            except ConfigError:
                raise
            except Exception as error:
                problem = _start_problem(error, shown)
                if problem is None:
                    raise
                waiting, line = problem
                if not waiting or time.monotonic() + RETRY_EVERY_SECONDS > deadline:
                    if waiting:
                        line += f" (tried for {wait:.0f} s)"
                    raise DatabaseStartError(line) from None
                if not told:  # one line, not one a second
                    log.warning(
                        "Database not ready yet (%s); trying for up to %.0f s", _cause(error), wait
                    )
                    told = True
                await asyncio.sleep(RETRY_EVERY_SECONDS)
    except BaseException:
        await database.dispose()
        raise


def _cause(error: BaseException) -> str:
    fault = storage_fault(error)
    return fault.cause if fault is not None else type(error).__name__


def _start_problem(error: BaseException, shown: str) -> tuple[bool, str] | None:
    """(worth waiting for, the operator's line), or None for an error that is a bug."""
    if _sqlite_code(error) in (sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT):
        return False, (
            f"{shown} is not a SQLite database (or is damaged). Point DATABASE_URL at Galatea's "
            "database file, or at a path where it may create a new one."
        )
    fault = storage_fault(error)
    if fault is None:
        return None
    cause = fault.cause
    if "host name is not known" in cause:
        return (
            False,
            f"Cannot reach the database at {shown}: {cause}. Check the host in DATABASE_URL.",
        )
    if "cannot be reached" in cause or "starting up" in cause or "connection" in cause:
        return True, (
            f"Cannot reach the database at {shown}: {cause}. Check that PostgreSQL is running "
            "and that the host, port and name in DATABASE_URL are right."
        )
    if "full" in cause:
        return False, f"Cannot write the database {shown}: {cause}. Free space, then start again."
    if "read-only" in cause or "cannot be opened" in cause or "denied" in cause:
        return False, (
            f"Cannot write the database {shown}: {cause}. Galatea needs write access to the file "
            "and to its folder (SQLite writes its -wal and -shm files beside it)."
        )
    return False, f"The database {shown} cannot be used: {cause}."


def _sqlite_code(error: BaseException) -> int | None:
    current: BaseException | None = error
    while current is not None:
        code = getattr(current, "sqlite_errorcode", None)
        if isinstance(code, int):
            return code & 0xFF
        current = getattr(current, "orig", None) or current.__cause__
    return None


__all__ = ["DatabaseStartError", "StorageUnavailable", "open_and_migrate", "shown_url"]
