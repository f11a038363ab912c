"""Which characters take part in a session's scene, and since when."""

from __future__ import annotations

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.models import SessionCharacterRow, SessionRow
from bot.store.results import rows_changed


class CastStore:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(
        self,
        session_id: int,
        character_id: int,
        *,
        since_message_id: int | None = None,
        added_by: int | None = None,
    ) -> None:
        self._session.add(
            SessionCharacterRow(
                session_id=session_id,
                character_id=character_id,
                since_message_id=since_message_id,
                added_by=added_by,
            )
        )
        await self._session.flush()

    async def remove(self, session_id: int, character_id: int) -> bool:
        result = await self._session.execute(
            delete(SessionCharacterRow).where(
                SessionCharacterRow.session_id == session_id,
                SessionCharacterRow.character_id == character_id,
            )
        )
        return rows_changed(result) > 0

    async def members(self, session_id: int) -> list[tuple[int, int | None]]:
        """(character id, since message id) of the scene, in the order they joined."""
        rows = await self._session.execute(
            select(SessionCharacterRow.character_id, SessionCharacterRow.since_message_id)
            .where(SessionCharacterRow.session_id == session_id)
            .order_by(SessionCharacterRow.id)
        )
        return [(int(c), s) for c, s in rows.all()]

    async def count(self, session_id: int) -> int:
        return (
            await self._session.scalar(
                select(func.count())
                .select_from(SessionCharacterRow)
                .where(SessionCharacterRow.session_id == session_id)
            )
            or 0
        )

    async def forget_adder(self, guild_id: int, user_id: int) -> int:
        """Remove a member's id from the cast entries they added in a server's sessions."""
        in_guild = select(SessionRow.id).where(SessionRow.guild_id == guild_id)
        result = await self._session.execute(
            update(SessionCharacterRow)
            .where(
                SessionCharacterRow.added_by == user_id,
                SessionCharacterRow.session_id.in_(in_guild),
            )
            .values(added_by=None)
        )
        return rows_changed(result)
