"""Applying Alembic migrations from inside the running program."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from bot.store.database import Database

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def alembic_config() -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    return config


async def upgrade_to_head(database: Database) -> str | None:
    """Bring the schema up to the newest migration; returns the revision now in force."""
    config = alembic_config()

    def upgrade(connection: Connection) -> str | None:
        before = MigrationContext.configure(connection).get_current_revision()
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
        after = MigrationContext.configure(connection).get_current_revision()
        if before != after:
            log.info("Database migrated from %s to %s", before or "empty", after)
        return after

    async with database.engine.begin() as connection:
        return await connection.run_sync(upgrade)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
