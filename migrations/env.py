"""Alembic environment: async engines, batch mode on SQLite, run at start-up by Galatea.

Galatea calls migrations through bot/store/migrate.py with an open connection (passed in
``config.attributes["connection"]``); the ``alembic`` command line works too and then reads
DATABASE_URL (or sqlalchemy.url).

On SQLite, batch mode rebuilds a table to change its constraints and drops the old one: with
foreign keys on, that drop cascades to every referencing row (all messages, when ``sessions`` is
rebuilt). Both callers therefore switch foreign keys off outside the transaction, as Alembic's
documentation advises, and every migration ends with ``PRAGMA foreign_key_check``: a rebuild that
broke a reference fails and rolls back instead of committing.
"""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from bot.store.memory import outside_models
from bot.store.models import Base

config = context.config
target_metadata = Base.metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_name=outside_models,  # the full-text index: raw DDL, no model
    )


def _run(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()
        if connection.dialect.name == "sqlite":
            _check_foreign_keys(connection)


def _check_foreign_keys(connection: Connection) -> None:
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        tables = ", ".join(sorted({str(row[0]) for row in broken}))
        raise RuntimeError(
            f"The migration left {len(broken)} rows with broken foreign keys ({tables}); "
            "it was rolled back and nothing changed."
        )


async def _run_async(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            # Before any transaction: SQLite ignores this pragma inside one.
            await connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            await connection.commit()
        await connection.run_sync(_run)
        await connection.commit()
    await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = os.environ.get("DATABASE_URL") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("Set DATABASE_URL to the database to migrate.")
    asyncio.run(_run_async(url))


def run_migrations_offline() -> None:
    url = os.environ.get("DATABASE_URL") or config.get_main_option("sqlalchemy.url")
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
