"""Applying Alembic migrations from inside the running program.

On SQLite a migration that changes a constraint rebuilds the table (Alembic's batch mode:
create a copy, copy the rows, drop the old table, rename). With foreign keys on, dropping the
old ``sessions`` table deletes every message and cast entry through ``ON DELETE CASCADE``, so
the rebuild would erase the history. As Alembic's documentation advises ("Dealing with
Referencing Foreign Keys", batch migrations), foreign keys are switched off for the migration,
on its own connection and outside the transaction (SQLite ignores the pragma inside one), and
``PRAGMA foreign_key_check`` proves the result consistent before the commit. That connection is
then thrown away, so the pool never hands out one with foreign keys off.

Before a SQLite file is migrated (not when it is new or already current), a consistent copy
is kept next to it with SQLite's online backup API.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import make_url
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.errors import ConfigError
from bot.store.database import Database

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def alembic_config() -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    return config


def known_revisions() -> set[str]:
    scripts = ScriptDirectory.from_config(alembic_config())
    return {script.revision for script in scripts.walk_revisions()}


async def upgrade_to_head(database: Database) -> str | None:
    """Bring the schema up to the newest migration; returns the revision now in force."""
    return await upgrade(database, "head")


async def upgrade(database: Database, target: str) -> str | None:
    """Bring the schema up to ``target`` (a revision, or "head"); returns the one in force."""
    head = head_revision() if target == "head" else target
    before = await current_revision(database)
    if before is not None and before not in known_revisions():
        raise ConfigError(
            f"The database is at revision {before}, which this version of Galatea does not "
            "know: a newer Galatea made it. Run that version (or restore a backup)."
        )
    if before == head:
        return head
    file = sqlite_file(database.url)
    if before is not None and file is not None:
        copy = await asyncio.to_thread(backup_sqlite, file, before)
        log.warning("Database backed up to %s before migrating it from %s", copy, before)
    config = alembic_config()

    def upgrade(connection: Connection) -> str | None:
        started = MigrationContext.configure(connection).get_current_revision()
        config.attributes["connection"] = connection
        command.upgrade(config, target)  # ends with PRAGMA foreign_key_check (env.py)
        after = MigrationContext.configure(connection).get_current_revision()
        if started != after:
            log.info("Database migrated from %s to %s", started or "empty", after)
        return after

    async with database.engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        try:
            if sqlite:
                await _foreign_keys_off(connection)
            # BEGIN IMMEDIATE on SQLite, the writers' advisory lock on PostgreSQL: two processes
            # starting at once migrate one after the other.
            writer = await connection.execution_options(galatea_write=True)
            async with writer.begin():
                return await writer.run_sync(upgrade)
        finally:
            if sqlite:
                await connection.invalidate()  # foreign keys are off on it: never reuse it


async def current_revision(database: Database) -> str | None:
    async with database.engine.connect() as connection:
        revision = await connection.run_sync(
            lambda c: MigrationContext.configure(c).get_current_revision()
        )
        await connection.rollback()
    return revision


async def _foreign_keys_off(connection: AsyncConnection) -> None:
    """Outside any transaction, on the driver connection (SQLAlchemy would BEGIN first)."""
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    await driver.execute("PRAGMA foreign_keys=OFF")


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL that exists and has data (None: PostgreSQL, memory, new file)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    path = Path(parsed.database)
    return path if path.is_file() and path.stat().st_size > 0 else None


def backup_sqlite(path: Path, revision: str) -> Path:
    """A consistent copy of the database (committed data, WAL included) next to it."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.before-upgrade-from-{revision}-{stamp}.bak")
    source = sqlite3.connect(path, timeout=10)
    try:
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)
        finally:
            copy.close()
    except BaseException:
        target.unlink(missing_ok=True)  # a half-written copy is no backup
        raise
    finally:
        source.close()
    return target


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
