"""PostgreSQL text cannot hold NUL: every text written, in any column, is stored without it."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from bot.members.personas import PersonaService
from bot.policy import OPERATOR, Caller
from bot.store import Database
from bot.store.text import storable
from tests.roleplay.test_channel import setup
from tests.store.migration_rows import LAYERS, PRIMARY_KEYS, table_of
from tests.support.recording_backend import RecordingBackend


def _with_nul(value: Any) -> Any:
    return f"\x00{value[:2]}\x00{value[2:]}\x00" if isinstance(value, str) else value


async def test_a_persona_and_an_authors_note_with_nul_are_stored_without_it(
    database: Database,
) -> None:
    _, engine, _ = await setup(database, RecordingBackend())
    view = await engine.sessions.active(500)
    assert view is not None
    note = await engine.sessions.set_author_note(
        view.session.id, "Keep\x00 it cozy.\x00", 2, caller=Caller(7, "admin", is_admin=True)
    )
    persona = await PersonaService(database).set(
        1, 7, "An\x00n", "A trav\x00eller.", caller=OPERATOR
    )
    assert note.author_note == "Keep it cozy."
    assert (persona.name, persona.description) == ("Ann", "A traveller.")
    stored = await PersonaService(database).get(1, 7)
    assert stored is not None and stored.description == "A traveller."


async def test_every_text_column_drops_nul(database: Database) -> None:
    """Every row of the migration fixtures (all tables, all columns) with NUL in each text."""
    written: list[tuple[str, dict[str, Any]]] = []
    async with database.engine.begin() as conn:
        for layer in LAYERS.values():
            for table, rows in layer.items():
                for row in rows:
                    dirty = {c: _with_nul(v) for c, v in row.items()}
                    await conn.execute(sa.insert(table_of(table, list(row))).values(dirty))
                    written.append((table, row))
    texts = 0
    async with database.engine.connect() as conn:
        for table, row in written:
            key = PRIMARY_KEYS.get(table, "id")
            columns = [c for c, v in row.items() if isinstance(v, str)]
            if not columns:
                continue
            found = (
                (
                    await conn.execute(
                        sa.select(table_of(table, columns)).where(sa.column(key) == row[key])
                    )
                )
                .mappings()
                .one()
            )
            for column in columns:
                assert found[column] == storable(_with_nul(row[column])) == row[column]
                texts += 1
    assert texts > 40  # names, personas, notes, messages, lore, settings, leases...
