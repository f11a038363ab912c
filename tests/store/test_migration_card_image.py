"""Migration c4d2a9e1f6b3 (a character's own card image) is additive: rows survive both ways."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from bot.store import Database
from bot.store.migrate import alembic_config, head_revision, upgrade_to_head

BEFORE = "c4d2e8f1a9b3"


def _migrate(connection: Connection, direction: str, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    getattr(command, direction)(config, revision)


async def test_card_image_column_comes_and_goes_without_touching_a_character(
    database: Database,
) -> None:
    async with database.engine.begin() as conn:
        await conn.run_sync(_migrate, "downgrade", BEFORE)
        columns = await conn.run_sync(
            lambda c: {col["name"] for col in inspect(c).get_columns("characters")}
        )
        assert "card_image_png" not in columns
        now = datetime.now(UTC)
        await conn.execute(
            text(
                "INSERT INTO characters (guild_id, owner_id, name, name_key, persona, greeting,"
                " scenario, example_dialogue, avatar_png, nsfw, created_at, updated_at)"
                " VALUES (1, 2, 'Aqua', 'aqua', 'A goddess.', 'Hi!', '', '', :png, false,"
                " :now, :now)"
            ),
            {"png": b"\x89PNG avatar", "now": now},
        )
    assert await upgrade_to_head(database) == head_revision()
    async with database.engine.connect() as conn:
        row = (
            await conn.execute(
                text("SELECT name, persona, avatar_png, card_image_png FROM characters")
            )
        ).one()
    assert tuple(row) == ("Aqua", "A goddess.", b"\x89PNG avatar", None)
    async with database.engine.begin() as conn:
        await conn.execute(text("UPDATE characters SET card_image_png = :png"), {"png": b"big"})
        await conn.run_sync(_migrate, "downgrade", BEFORE)
        names = (await conn.execute(text("SELECT name, avatar_png FROM characters"))).all()
    assert [tuple(r) for r in names] == [("Aqua", b"\x89PNG avatar")]
    assert await upgrade_to_head(database) == head_revision()
