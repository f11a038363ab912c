"""A session's history. Reads are bounded: a prompt never loads a whole channel."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Row, Table, bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.models import MessageRow, SessionRow, utcnow
from bot.store.results import rows_changed
from bot.store.text import storable
from bot.values import Role, StoredMessage


def _to_value(row: MessageRow | Row[Any]) -> StoredMessage:
    return StoredMessage(
        id=row.id,
        session_id=row.session_id,
        role=Role(row.role),
        speaker=row.speaker,
        content=row.content,
        author_id=row.author_id,
        discord_message_id=row.discord_message_id,
        created_at=row.created_at,
        edited_at=row.edited_at,
        deleted=row.deleted,
        swipes=tuple(row.swipes or ()),
        swipe_index=row.swipe_index,
        character_id=row.character_id,
        discord_tail_ids=tuple(int(i) for i in row.discord_tail_ids or ()),
    )


_TABLE = cast(Table, MessageRow.__table__)
# Built once: these run for every message and reply, and building them cost more than running.
_INSERT = insert(_TABLE).returning(*_TABLE.c)
_RECENT = (
    select(_TABLE)
    .where(
        _TABLE.c.session_id == bindparam("session_id"),
        _TABLE.c.deleted.is_(False),
        _TABLE.c.id >= bindparam("from_id"),
    )
    .order_by(_TABLE.c.id.desc())
    .limit(bindparam("limit"))
)

# How each database names the violated index: PostgreSQL by name, SQLite by its columns.
_DUPLICATE_MARKS = ("uq_messages_session_human_discord_id", "messages.discord_message_id")


class MessageAlreadyStored(Exception):
    """This Discord message is already in the session's history (another process took it).

    The unit of work that raised it is void: let it end (it rolls back)."""


class MessageStore:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(
        self,
        *,
        session_id: int,
        role: Role,
        speaker: str,
        content: str,
        author_id: int | None = None,
        discord_message_id: int | None = None,
        character_id: int | None = None,
    ) -> StoredMessage:
        # A plain INSERT ... RETURNING, not a tracked object: every message and reply is one.
        values = {
            "character_id": character_id,
            "session_id": session_id,
            "role": role.value,
            "speaker": speaker,
            "content": storable(content),
            "author_id": author_id,
            "discord_message_id": discord_message_id,
        }
        try:
            row = (await self._session.execute(_INSERT, values)).one()
        except IntegrityError as exc:
            # Only a human line's Discord id is unique per session (see models.MessageRow).
            if role is Role.HUMAN and any(mark in str(exc.orig) for mark in _DUPLICATE_MARKS):
                raise MessageAlreadyStored(discord_message_id) from exc
            raise
        return _to_value(row)

    async def recent(
        self, session_id: int, limit: int, *, from_id: int | None = None
    ) -> list[StoredMessage]:
        """The last ``limit`` visible messages, oldest first (uses the (session, id) index);
        ``from_id``: none older than that message.

        Read as plain rows rather than ORM objects: this runs for every reply, and building
        hundreds of tracked objects took most of its time."""
        result = await self._session.execute(
            _RECENT, {"session_id": session_id, "from_id": from_id or 0, "limit": limit}
        )
        return [_to_value(row) for row in reversed(result.all())]

    async def get(self, message_id: int) -> StoredMessage | None:
        row = await self._session.get(MessageRow, message_id)
        return _to_value(row) if row else None

    async def by_discord_id(self, discord_message_id: int) -> StoredMessage | None:
        row = await self._session.scalar(
            select(MessageRow)
            .where(
                MessageRow.discord_message_id == discord_message_id,
                MessageRow.deleted.is_(False),
            )
            .limit(1)
        )
        return _to_value(row) if row else None

    async def set_discord_id(
        self, message_id: int, discord_message_id: int, tail_ids: Sequence[int] | None = None
    ) -> None:
        """The Discord message(s) showing a line: the first, and a long reply's others
        (``tail_ids`` None leaves them as they are; empty clears them)."""
        values: dict[str, object] = {"discord_message_id": discord_message_id}
        if tail_ids is not None:
            values["discord_tail_ids"] = list(tail_ids) or None
        await self._session.execute(
            update(MessageRow).where(MessageRow.id == message_id).values(**values)
        )

    async def edit(self, message_id: int, content: str) -> None:
        await self._session.execute(
            update(MessageRow)
            .where(MessageRow.id == message_id)
            .values(content=storable(content), edited_at=utcnow())
        )

    async def set_versions(
        self, message_id: int, *, content: str, swipes: list[str], swipe_index: int
    ) -> StoredMessage:
        """Record a reply's versions and which one is shown (and kept in the history)."""
        row = await self._session.get(MessageRow, message_id)
        if row is None:
            raise LookupError(message_id)
        row.content, row.swipes, row.swipe_index = (
            storable(content),
            [storable(v) for v in swipes],
            swipe_index,
        )
        await self._session.flush()
        return _to_value(row)

    async def latest(self, session_id: int) -> StoredMessage | None:
        rows = await self.recent(session_id, 1)
        return rows[0] if rows else None

    async def mark_deleted(self, message_id: int) -> None:
        await self._session.execute(
            update(MessageRow).where(MessageRow.id == message_id).values(deleted=True)
        )

    async def count(self, session_id: int) -> int:
        return (
            await self._session.scalar(
                select(func.count())
                .select_from(MessageRow)
                .where(MessageRow.session_id == session_id, MessageRow.deleted.is_(False))
            )
            or 0
        )

    async def clear(self, session_id: int) -> int:
        result = await self._session.execute(
            delete(MessageRow).where(MessageRow.session_id == session_id)
        )
        return rows_changed(result)

    async def delete_by_author(self, guild_id: int, author_id: int) -> int:
        """Erase (not hide) every message a member wrote in a server's sessions."""
        in_guild = select(SessionRow.id).where(SessionRow.guild_id == guild_id)
        result = await self._session.execute(
            delete(MessageRow).where(
                MessageRow.author_id == author_id, MessageRow.session_id.in_(in_guild)
            )
        )
        return rows_changed(result)

    async def delete_older_than(self, cutoff: datetime, *, limit: int) -> int:
        """Erase up to ``limit`` messages written before ``cutoff`` (the retention period)."""
        oldest = select(MessageRow.id).where(MessageRow.created_at < cutoff).limit(limit)
        result = await self._session.execute(
            delete(MessageRow).where(MessageRow.id.in_(oldest.scalar_subquery()))
        )
        return rows_changed(result)

    async def iterate(self, session_id: int, batch: int = 500) -> AsyncIterator[StoredMessage]:
        """Every visible message, oldest first, in bounded batches (for exports)."""
        after = 0
        while True:
            rows = list(
                await self._session.scalars(
                    select(MessageRow)
                    .where(
                        MessageRow.session_id == session_id,
                        MessageRow.deleted.is_(False),
                        MessageRow.id > after,
                    )
                    .order_by(MessageRow.id)
                    .limit(batch)
                )
            )
            for row in rows:
                yield _to_value(row)
            if len(rows) < batch:
                return
            after = rows[-1].id
