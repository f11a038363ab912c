"""Roleplay sessions: which character plays in which channel."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.models import SessionCharacterRow, SessionRow, utcnow
from bot.store.results import rows_changed
from bot.values import ChannelSession


def session_value(row: SessionRow | Row[Any]) -> ChannelSession:
    return ChannelSession(
        id=row.id,
        guild_id=row.guild_id,
        channel_id=row.channel_id,
        character_id=row.character_id,
        active=row.active,
        started_by=row.started_by,
        created_at=row.created_at,
        ended_at=row.ended_at,
        world_id=row.world_id,
        author_note=row.author_note,
        author_note_depth=row.author_note_depth,
        paused=bool(row.paused),
        history_revision=row.history_revision,
    )


class SessionStore:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def start(
        self, *, guild_id: int, channel_id: int, character_id: int, started_by: int | None
    ) -> ChannelSession:
        """Start a session, ending whatever session was active in the channel."""
        await self.end_in_channel(channel_id)
        row = SessionRow(
            guild_id=guild_id,
            channel_id=channel_id,
            character_id=character_id,
            started_by=started_by,
            active=True,
            overrides={},
        )
        self._session.add(row)
        await self._session.flush()
        self._session.add(SessionCharacterRow(session_id=row.id, character_id=character_id))
        await self._session.flush()
        return session_value(row)

    async def get(self, session_id: int) -> ChannelSession | None:
        # A plain row, not a tracked object: this runs for every reply.
        table = SessionRow.__table__
        row = (await self._session.execute(select(table).where(table.c.id == session_id))).first()
        return session_value(row) if row else None

    async def active_in_channel(self, channel_id: int) -> ChannelSession | None:
        row = await self._session.scalar(
            select(SessionRow).where(SessionRow.channel_id == channel_id, SessionRow.active)
        )
        return session_value(row) if row else None

    async def latest_in_channel(self, channel_id: int) -> ChannelSession | None:
        """The active session, or else the most recent one (to resume it)."""
        row = await self._session.scalar(
            select(SessionRow)
            .where(SessionRow.channel_id == channel_id)
            .order_by(SessionRow.active.desc(), SessionRow.id.desc())
            .limit(1)
        )
        return session_value(row) if row else None

    async def end_in_channel(self, channel_id: int) -> int:
        result = await self._session.execute(
            update(SessionRow)
            .where(SessionRow.channel_id == channel_id, SessionRow.active)
            .values(active=False, ended_at=utcnow())
        )
        return rows_changed(result)

    async def reactivate(self, session_id: int) -> ChannelSession:
        row = await self._session.get(SessionRow, session_id)
        assert row is not None
        await self.end_in_channel(row.channel_id)
        row.active, row.ended_at = True, None
        await self._session.flush()
        return session_value(row)

    async def set_world(self, session_id: int, world_id: int | None) -> ChannelSession:
        """Attach a server world (lorebook) to the session, or detach it with None."""
        return await self._change(session_id, world_id=world_id)

    async def set_author_note(
        self, session_id: int, text: str, depth: int, by: int | None = None
    ) -> ChannelSession:
        """The author's note (empty for none), how many messages from the end it goes, and
        who wrote it."""
        return await self._change(
            session_id,
            author_note=text,
            author_note_depth=depth,
            author_note_by=by if text else None,
        )

    async def set_paused(self, session_id: int, paused: bool) -> ChannelSession:
        """Paused: messages are recorded, nobody answers."""
        return await self._change(session_id, paused=paused)

    async def _change(self, session_id: int, **values: object) -> ChannelSession:
        row = await self._session.get(SessionRow, session_id)
        if row is None:
            raise LookupError(session_id)
        for field, value in values.items():
            setattr(row, field, value)
        await self._session.flush()
        return session_value(row)

    async def forget_member(self, guild_id: int, user_id: int) -> int:
        """Erase a member's traces on a server's sessions: the author's notes they wrote
        (emptied) and their id as the one who started a session. Returns sessions changed."""
        notes = await self._session.execute(
            update(SessionRow)
            .where(SessionRow.guild_id == guild_id, SessionRow.author_note_by == user_id)
            .values(author_note="", author_note_by=None)
        )
        starts = await self._session.execute(
            update(SessionRow)
            .where(SessionRow.guild_id == guild_id, SessionRow.started_by == user_id)
            .values(started_by=None)
        )
        return rows_changed(notes) + rows_changed(starts)

    async def all_active(self, guild_id: int | None = None) -> list[ChannelSession]:
        query = select(SessionRow).where(SessionRow.active)
        if guild_id is not None:
            query = query.where(SessionRow.guild_id == guild_id)
        return [session_value(row) for row in await self._session.scalars(query)]
