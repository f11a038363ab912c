"""Members' roleplay personas: one name and description per member and server."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.models import PersonaRow
from bot.store.results import rows_changed
from bot.values import Persona


def _to_value(row: PersonaRow) -> Persona:
    return Persona(
        guild_id=row.guild_id, user_id=row.user_id, name=row.name, description=row.description
    )


# Built once: it runs for every reply.
_OF_MEMBERS = select(PersonaRow).where(
    PersonaRow.guild_id == bindparam("guild_id"),
    PersonaRow.user_id.in_(bindparam("user_ids", expanding=True)),
)


class PersonaStore:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, guild_id: int, user_id: int) -> Persona | None:
        row = await self._row(guild_id, user_id)
        return _to_value(row) if row else None

    async def of_members(self, guild_id: int, user_ids: Iterable[int]) -> dict[int, Persona]:
        ids = sorted(set(user_ids))
        if not ids:
            return {}
        rows = await self._session.scalars(_OF_MEMBERS, {"guild_id": guild_id, "user_ids": ids})
        return {row.user_id: _to_value(row) for row in rows}

    async def set(self, guild_id: int, user_id: int, name: str, description: str) -> Persona:
        row = await self._row(guild_id, user_id)
        if row is None:
            row = PersonaRow(guild_id=guild_id, user_id=user_id)
            self._session.add(row)
        row.name, row.description = name, description
        await self._session.flush()
        return _to_value(row)

    async def clear(self, guild_id: int, user_id: int) -> bool:
        result = await self._session.execute(
            delete(PersonaRow).where(PersonaRow.guild_id == guild_id, PersonaRow.user_id == user_id)
        )
        return rows_changed(result) > 0

    async def _row(self, guild_id: int, user_id: int) -> PersonaRow | None:
        return await self._session.scalar(
            select(PersonaRow).where(PersonaRow.guild_id == guild_id, PersonaRow.user_id == user_id)
        )
