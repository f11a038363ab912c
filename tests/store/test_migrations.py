"""The schema comes from Alembic migrations, and they agree with the models."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from bot.store import Database
from bot.store.memory import outside_models
from bot.store.migrate import alembic_config, head_revision, upgrade_to_head
from bot.store.models import Base


async def test_upgrade_creates_every_table_and_records_head(database: Database) -> None:
    async with database.engine.connect() as conn:
        tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
    assert {"characters", "sessions", "messages", "guild_configs"} <= tables
    assert version == head_revision()


async def test_models_and_migrations_agree(database: Database) -> None:
    def diff(connection):  # type: ignore[no-untyped-def]
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_name": outside_models}
        )
        return compare_metadata(context, Base.metadata)

    async with database.engine.connect() as conn:
        differences = await conn.run_sync(diff)
    assert differences == []


async def test_upgrade_twice_is_a_no_op(database: Database) -> None:
    assert await upgrade_to_head(database) == head_revision()


async def test_every_migration_downgrades_to_empty_and_upgrades_again(database: Database) -> None:
    def downgrade_to_base(connection: Connection) -> set[str]:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
        return set(inspect(connection).get_table_names())

    async with database.engine.begin() as conn:
        left = await conn.run_sync(downgrade_to_base)
    assert left <= {"alembic_version"}
    assert await upgrade_to_head(database) == head_revision()


async def test_sqlite_runs_in_wal_with_full_sync_foreign_keys_and_no_blocking_busy_wait(
    sqlite_database: Database,
) -> None:
    async with sqlite_database.engine.connect() as conn:
        pragma = {
            name: (await conn.exec_driver_sql(f"PRAGMA {name}")).scalar()
            for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
        }
    assert pragma == {
        "journal_mode": "wal",
        "synchronous": 2,  # FULL
        "foreign_keys": 1,
        "busy_timeout": 0,  # lock waits happen on the event loop: test_sqlite_driver.py
    }


async def test_database_folder_is_created_on_first_start(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "nested" / "dir" / "galatea.db"
    db = Database(f"sqlite+aiosqlite:///{path}")
    await upgrade_to_head(db)
    await db.dispose()
    assert path.is_file()
