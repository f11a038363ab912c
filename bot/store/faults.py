"""Which database errors mean "storage is unavailable now", and the operator's line for each.

A locked database (past the busy wait), a full disk, a read-only file and a PostgreSQL server
that is down or restarting are faults of the storage, not bugs: callers get
``StorageUnavailable`` with a one-line cause and tell the member; everything else stays an
error with a traceback. The cause never includes SQL parameters (user text) or the URL.
"""

from __future__ import annotations

import logging
import socket
import sqlite3
import time
from collections.abc import Iterator

from sqlalchemy.exc import DBAPIError

from bot.errors import StorageUnavailable

log = logging.getLogger(__name__)

# SQLite primary result codes (https://www.sqlite.org/rescode.html), low byte of extended ones.
_SQLITE_CAUSES = {
    sqlite3.SQLITE_BUSY: "the database is locked by another connection (waited the busy timeout)",
    sqlite3.SQLITE_LOCKED: "the database is locked by another connection",
    sqlite3.SQLITE_FULL: "the disk is full (SQLite could not grow the database or its journal)",
    sqlite3.SQLITE_READONLY: "the database file is read-only (check its permissions)",
    sqlite3.SQLITE_IOERR: "the disk reported an I/O error (full, failing, or removed)",
    sqlite3.SQLITE_CANTOPEN: "the database file cannot be opened (missing folder or permissions)",
    sqlite3.SQLITE_PERM: "the operating system denied access to the database file",
}

# PostgreSQL SQLSTATE classes and codes (https://www.postgresql.org/docs/current/errcodes-appendix.html).
_POSTGRESQL_CAUSES = {
    "08": "the connection to PostgreSQL failed or was lost",
    "53100": "PostgreSQL's disk is full",
    "53": "PostgreSQL is out of resources (disk, memory or connections)",
    "57P01": "PostgreSQL is shutting down or restarting",
    "57P02": "PostgreSQL is shutting down or restarting",
    "57P03": "PostgreSQL is starting up and does not accept connections yet",
    "55P03": "a lock was held past the lock timeout (another writer is stuck)",
    "25006": "PostgreSQL is read-only (a standby, or default_transaction_read_only)",
    "40P01": "a deadlock was detected; the transaction was rolled back",
}


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        if isinstance(current, DBAPIError) and current.orig is not None:
            current = current.orig
        else:
            current = current.__cause__


def storage_fault(error: BaseException) -> StorageUnavailable | None:
    """The ``StorageUnavailable`` an error stands for, or None when it is not a storage fault."""
    for link in _chain(error):
        if isinstance(link, StorageUnavailable):
            return link
        code = getattr(link, "sqlite_errorcode", None)
        if isinstance(code, int) and (code & 0xFF) in _SQLITE_CAUSES:
            return StorageUnavailable(_SQLITE_CAUSES[code & 0xFF])
        state = getattr(link, "sqlstate", None)
        if isinstance(state, str):
            cause = _POSTGRESQL_CAUSES.get(state) or _POSTGRESQL_CAUSES.get(state[:2])
            if cause:
                return StorageUnavailable(cause)
        if isinstance(link, socket.gaierror):
            return StorageUnavailable("the database host name is not known (a typo, or no DNS)")
        if isinstance(link, ConnectionError | TimeoutError) or (
            isinstance(link, OSError) and link.errno is not None
        ):
            # asyncpg connecting to a server that is down, restarting or unreachable.
            return StorageUnavailable(
                f"the database server cannot be reached ({type(link).__name__})"
            )
        if isinstance(link, DBAPIError) and link.connection_invalidated:
            return StorageUnavailable("the connection to the database was lost")
    return None


class StorageHealth:
    """Whether the last unit of work failed for a storage fault; the operator's log lines.

    One line when storage becomes unavailable (with the cause, and again only if the cause
    changes), one when it is back, however many units of work failed in between.
    """

    def __init__(self) -> None:
        self.down_since: float | None = None
        self.cause: str | None = None
        self.failures = 0

    @property
    def down(self) -> bool:
        return self.down_since is not None

    def failed(self, fault: StorageUnavailable) -> None:
        self.failures += 1
        if self.down_since is None:
            self.down_since = time.monotonic()
        if fault.cause != self.cause:
            self.cause = fault.cause
            log.error(
                "Storage unavailable: %s. Nothing is saved until it is back (members are told; "
                "Galatea keeps trying by itself).",
                fault.cause,
            )

    def succeeded(self) -> None:
        if self.down_since is None:
            return
        log.warning(
            "Storage is back after %.0f s (%d operations failed meanwhile)",
            time.monotonic() - self.down_since,
            self.failures,
        )
        self.down_since, self.cause, self.failures = None, None, 0
