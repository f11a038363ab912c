"""Upgrading a populated database from every revision keeps every row, on SQLite and PostgreSQL.

The rows come from tests/store/migration_rows.py (one layer per revision); a new migration
gets these tests by adding its layer there.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store import Database
from bot.store.migrate import alembic_config, head_revision, upgrade, upgrade_to_head
from tests.store.migration_rows import DERIVED, LAYERS, PRIMARY_KEYS, Layer, rows_at, table_of
from tests.support.postgres import PostgresServer

# Oldest first.
REVISIONS = [s.revision for s in ScriptDirectory.from_config(alembic_config()).walk_revisions()][
    ::-1
]

MakeDatabase = Callable[[], "Any"]


@pytest.fixture(params=["sqlite", "postgresql"])
async def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A real database with no tables at all (not the suite's migrated template)."""
    if request.param == "sqlite":
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'galatea.db'}")
        yield db
        await db.dispose()
        return
    server: PostgresServer = request.getfixturevalue("postgres")
    name = await server.create_database(template="template0")
    db = Database(server.url(name))
    yield db
    await db.dispose()
    await server.drop_database(name)


def test_every_revision_has_rows() -> None:
    assert list(LAYERS) == REVISIONS, "add a layer for the new migration in migration_rows.py"


async def _fill(database: Database, start: str) -> Layer:
    """Insert the rows of every layer up to ``start``, in layer order (references resolve)."""
    revisions = REVISIONS[: REVISIONS.index(start) + 1]
    async with database.engine.begin() as conn:
        for revision in revisions:
            for table, rows in LAYERS[revision].items():
                for row in rows:
                    await conn.execute(sa.insert(table_of(table, list(row))).values(row))
    return rows_at(revisions)


def _same(stored: Any, expected: Any, sqlite: bool) -> bool:
    if isinstance(expected, datetime) and sqlite:
        return stored == expected.replace(tzinfo=None)  # SQLite keeps the UTC wall time
    if isinstance(expected, float):
        return stored == pytest.approx(expected)
    return bool(stored == expected)


async def _find(conn: AsyncConnection, table: str, row: dict[str, Any]) -> dict[str, Any] | None:
    key = PRIMARY_KEYS.get(table, "id")
    columns = list(row)
    if key in row:
        where = [sa.column(key) == row[key]]
    else:  # derived rows: matched on every given column
        where = [sa.column(c) == v for c, v in row.items()]
    found = (
        (await conn.execute(sa.select(table_of(table, columns)).where(*where))).mappings().first()
    )
    return dict(found) if found is not None else None


async def _schema(conn: AsyncConnection) -> dict[str, Any]:
    """Tables, columns, indexes, foreign keys, unique constraints and triggers, by name."""

    def read(sync: Any) -> dict[str, Any]:
        inspector = sa.inspect(sync)
        shape: dict[str, Any] = {}
        for table in sorted(inspector.get_table_names()):
            shape[table] = {
                "columns": sorted(c["name"] for c in inspector.get_columns(table)),
                "indexes": sorted(
                    (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                    for i in inspector.get_indexes(table)
                ),
                "foreign_keys": sorted(
                    (
                        tuple(fk["constrained_columns"]),
                        fk["referred_table"],
                        (fk.get("options") or {}).get("ondelete"),
                    )
                    for fk in inspector.get_foreign_keys(table)
                ),
                "unique": sorted(
                    tuple(u["column_names"]) for u in inspector.get_unique_constraints(table)
                ),
            }
        if sync.dialect.name == "sqlite":
            triggers = "SELECT name FROM sqlite_master WHERE type = 'trigger'"
        else:
            triggers = "SELECT DISTINCT trigger_name FROM information_schema.triggers"
        shape["triggers"] = sorted(r[0] for r in sync.exec_driver_sql(triggers))
        return shape

    return await conn.run_sync(read)


@pytest.mark.parametrize("start", REVISIONS)
async def test_upgrading_a_populated_database_keeps_every_row(
    empty_database: Database, start: str
) -> None:
    db = empty_database
    sqlite = db.is_sqlite
    assert await upgrade(db, start) == start
    inserted = await _fill(db, start)
    later = REVISIONS[REVISIONS.index(start) + 1 :]
    derived: Layer = {}
    for revision in later:
        if revision in DERIVED:
            for table, rows in DERIVED[revision](inserted).items():
                derived.setdefault(table, []).extend(rows)

    assert await upgrade_to_head(db) == head_revision()

    async with db.engine.connect() as conn:
        for table in sorted(set(inserted) | set(derived)):
            expected = inserted.get(table, []) + derived.get(table, [])
            count = (await conn.execute(sa.text(f"SELECT COUNT(*) FROM {table}"))).scalar()
            assert count == len(expected), f"{table}: {count} rows, expected {len(expected)}"
            for row in expected:
                found = await _find(conn, table, row)
                assert found is not None, f"{table}: lost {row}"
                changed = {c for c, v in row.items() if not _same(found[c], v, sqlite)}
                assert not changed, f"{table}: {changed} changed in {row}"
        # Nothing the rows point at went missing either (SQLite checks only on request).
        if sqlite:
            assert (await conn.exec_driver_sql("PRAGMA foreign_key_check")).fetchall() == []


async def test_upgraded_schema_is_the_fresh_schema(
    empty_database: Database, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Rebuilt tables keep their indexes, foreign keys and triggers (a rebuild drops them)."""
    await upgrade(empty_database, REVISIONS[0])
    await _fill(empty_database, REVISIONS[0])
    await upgrade_to_head(empty_database)
    if empty_database.is_sqlite:
        fresh = Database(f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}")
    else:
        server: PostgresServer = request.getfixturevalue("postgres")
        name = await server.create_database()  # the template: migrated from empty
        fresh = Database(server.url(name))
    try:
        await upgrade_to_head(fresh)
        async with empty_database.engine.connect() as upgraded, fresh.engine.connect() as new:
            assert await _schema(upgraded) == await _schema(new)
    finally:
        await fresh.dispose()
        if not empty_database.is_sqlite:
            await server.drop_database(name)


async def test_history_triggers_work_after_an_upgrade(empty_database: Database) -> None:
    await upgrade(empty_database, REVISIONS[0])
    await _fill(empty_database, REVISIONS[0])
    await upgrade_to_head(empty_database)
    async with empty_database.engine.begin() as conn:
        before = (
            await conn.execute(sa.text("SELECT history_revision FROM sessions WHERE id = 1"))
        ).scalar()
        await conn.execute(sa.text("DELETE FROM messages WHERE id = 2"))
        after = (
            await conn.execute(sa.text("SELECT history_revision FROM sessions WHERE id = 1"))
        ).scalar()
    assert after == before + 1


async def test_pooled_connections_have_foreign_keys_on_after_a_migration(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'galatea.db'}")
    try:
        await upgrade(db, REVISIONS[0])
        await _fill(db, REVISIONS[0])
        await upgrade_to_head(db)
        async with db.engine.connect() as conn:
            assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
    finally:
        await db.dispose()


# -- the backup kept before a SQLite file is migrated ---------------------------------------


def _backups(folder: Path) -> list[Path]:
    return sorted(folder.glob("galatea.db.before-upgrade-*.bak"))


async def test_an_old_sqlite_file_is_backed_up_before_migrating(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'galatea.db'}")
    try:
        await upgrade(db, REVISIONS[0])
        inserted = await _fill(db, REVISIONS[0])
        await upgrade_to_head(db)
    finally:
        await db.dispose()
    [backup] = _backups(tmp_path)
    assert REVISIONS[0] in backup.name
    assert str(backup) in caplog.text
    # The copy is a whole database at the old revision, rows included (the WAL was copied in).
    copy = sqlite3.connect(backup)
    try:
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert copy.execute("SELECT version_num FROM alembic_version").fetchone() == (REVISIONS[0],)
        assert copy.execute("SELECT COUNT(*) FROM messages").fetchone() == (
            len(inserted["messages"]),
        )
        assert copy.execute("SELECT content FROM messages WHERE id = 1").fetchone() == (
            inserted["messages"][0]["content"],
        )
    finally:
        copy.close()


async def test_no_backup_for_a_new_or_current_database(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'galatea.db'}")
    try:
        await upgrade_to_head(db)  # new
        await upgrade_to_head(db)  # current
    finally:
        await db.dispose()
    assert _backups(tmp_path) == []
