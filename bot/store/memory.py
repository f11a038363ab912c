"""Memory rows (summaries, pins, per-session switch) and full-text search over the history.

The search index is built by migration d5a8c3e1f7b4: an FTS5 table with external content on
SQLite, a GIN expression index on PostgreSQL. Neither is an ORM model, so ``outside_models``
tells Alembic's comparison to leave them be.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    Text,
    UniqueConstraint,
    delete,
    func,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from bot.store.models import Base, MessageRow, RowId, SessionRow, utcnow
from bot.store.text import storable
from bot.values import MemorySummary, Pin, RecalledLine, SessionMemory

# The search index's own objects: the FTS5 table (and the shadow tables SQLite keeps for it),
# the PostgreSQL expression index.
_SEARCH_TABLE = re.compile(r"^messages_fts(_\w+)?$")
SEARCH_INDEX = "ix_messages_content_search"
TS_CONFIG = "english"


def outside_models(name: str | None, type_: str, _parents: dict[str, Any]) -> bool:
    """Alembic ``include_name``: False for the search index, which no model describes."""
    if type_ == "table" and name is not None and _SEARCH_TABLE.match(name):
        return False
    return not (type_ == "index" and name == SEARCH_INDEX)


class SessionMemoryRow(Base):
    """Whether a session remembers, and a revision moved by every pin, unpin and switch."""

    __tablename__ = "session_memories"

    session_id: Mapped[int] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    revision: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class MemorySummaryRow(Base):
    """A (session, character)'s running summary: the lines up to ``covered_until`` folded."""

    __tablename__ = "memory_summaries"
    __table_args__ = (UniqueConstraint("session_id", "character_id"),)

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    character_id: Mapped[int] = mapped_column(ForeignKey("characters.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text, default="", server_default="")
    covered_until: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    revision: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Members whose lines were folded in: /forget me clears the summaries that hold them.
    authors: Mapped[list[int] | None] = mapped_column(JSON, nullable=True)
    edited_by: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class MemoryPinRow(Base):
    """A fact pinned to a session's memory."""

    __tablename__ = "memory_pins"

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), index=True
    )
    text: Mapped[str] = mapped_column(Text)
    pinned_by: Mapped[int | None] = mapped_column(BigInteger, nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


def _summary(row: MemorySummaryRow) -> MemorySummary:
    return MemorySummary(
        session_id=row.session_id,
        character_id=row.character_id,
        text=row.text,
        covered_until=row.covered_until,
        revision=row.revision,
        authors=tuple(int(a) for a in row.authors or ()),
    )


def _pin(row: MemoryPinRow) -> Pin:
    return Pin(id=row.id, session_id=row.session_id, text=row.text, pinned_by=row.pinned_by)


_M = MessageRow.__table__
# Newest matches first: FTS5 walks its index by rowid and stops at the limit, where ranking
# every match of a common word by bm25 took milliseconds in a 10,000-line channel.
_SQLITE_SEARCH = text(
    "SELECT m.id, m.speaker, m.content FROM messages_fts JOIN messages AS m "
    "ON m.id = messages_fts.rowid WHERE messages_fts MATCH :query "
    "AND messages_fts.rowid < :before AND messages_fts.rowid > :after "
    "AND m.session_id = :session AND NOT m.deleted ORDER BY messages_fts.rowid DESC LIMIT :limit"
)


class MemoryStore:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def state(self, session_id: int) -> SessionMemory:
        """The session's switch, pins and summaries (a session never touched: on, empty)."""
        row = await self._session.get(SessionMemoryRow, session_id)
        pins = await self._session.scalars(
            select(MemoryPinRow)
            .where(MemoryPinRow.session_id == session_id)
            .order_by(MemoryPinRow.id)
        )
        summaries = await self._session.scalars(
            select(MemorySummaryRow)
            .where(MemorySummaryRow.session_id == session_id)
            .order_by(MemorySummaryRow.character_id)
        )
        return SessionMemory(
            session_id=session_id,
            enabled=row.enabled if row is not None else True,
            revision=row.revision if row is not None else 0,
            pins=tuple(_pin(p) for p in pins),
            summaries=tuple(_summary(s) for s in summaries),
        )

    async def _switch_row(self, session_id: int) -> SessionMemoryRow:
        row = await self._session.get(SessionMemoryRow, session_id)
        if row is None:
            row = SessionMemoryRow(session_id=session_id, enabled=True, revision=0)
            self._session.add(row)
        return row

    async def set_enabled(self, session_id: int, enabled: bool) -> int:
        row = await self._switch_row(session_id)
        row.enabled, row.revision = enabled, row.revision + 1
        await self._session.flush()
        return row.revision

    async def add_pin(self, session_id: int, fact: str, pinned_by: int | None) -> Pin:
        row = MemoryPinRow(session_id=session_id, text=storable(fact), pinned_by=pinned_by)
        self._session.add(row)
        switch = await self._switch_row(session_id)
        switch.revision += 1
        await self._session.flush()
        return _pin(row)

    async def remove_pin(self, session_id: int, pin_id: int) -> bool:
        result = await self._session.execute(
            delete(MemoryPinRow).where(
                MemoryPinRow.session_id == session_id, MemoryPinRow.id == pin_id
            )
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            return False
        switch = await self._switch_row(session_id)
        switch.revision += 1
        await self._session.flush()
        return True

    async def summary(self, session_id: int, character_id: int) -> MemorySummary | None:
        row = await self._session.scalar(
            select(MemorySummaryRow).where(
                MemorySummaryRow.session_id == session_id,
                MemorySummaryRow.character_id == character_id,
            )
        )
        return _summary(row) if row is not None else None

    async def save_summary(
        self,
        session_id: int,
        character_id: int,
        *,
        summary: str,
        covered_until: int,
        expected_revision: int | None,
        authors: Iterable[int] = (),
        edited_by: int | None = None,
    ) -> MemorySummary | None:
        """Store a summary if nobody changed it since revision ``expected_revision`` was read
        (None: whatever it is now, as a member's edit does); None when someone had."""
        row = await self._session.scalar(
            select(MemorySummaryRow).where(
                MemorySummaryRow.session_id == session_id,
                MemorySummaryRow.character_id == character_id,
            )
        )
        if row is None:
            if expected_revision not in (None, 0):
                return None
            row = MemorySummaryRow(session_id=session_id, character_id=character_id, revision=0)
            self._session.add(row)
        elif expected_revision is not None and row.revision != expected_revision:
            return None
        row.text, row.covered_until = storable(summary), covered_until
        row.authors = sorted({*(row.authors or ()), *authors}) or None
        row.revision = (row.revision or 0) + 1
        row.edited_by = edited_by if edited_by is not None else row.edited_by
        await self._session.flush()
        return _summary(row)

    async def clear(self, session_id: int, *, pins: bool = True) -> None:
        """Forget the session's summaries (and its pins): the history they came from is gone."""
        await self._session.execute(
            delete(MemorySummaryRow).where(MemorySummaryRow.session_id == session_id)
        )
        if pins:
            await self._session.execute(
                delete(MemoryPinRow).where(MemoryPinRow.session_id == session_id)
            )
        switch = await self._switch_row(session_id)
        switch.revision += 1
        await self._session.flush()

    async def forget_member(self, guild_id: int, user_id: int) -> int:
        """Erase a member's pins in a server's sessions and every summary holding their lines
        (summaries are rebuilt from what is left). Returns how many rows went."""
        in_guild = select(SessionRow.id).where(SessionRow.guild_id == guild_id)
        pins = await self._session.execute(
            delete(MemoryPinRow).where(
                MemoryPinRow.pinned_by == user_id, MemoryPinRow.session_id.in_(in_guild)
            )
        )
        rows = await self._session.scalars(
            select(MemorySummaryRow).where(
                MemorySummaryRow.session_id.in_(in_guild),
                or_(MemorySummaryRow.authors.is_not(None), MemorySummaryRow.edited_by == user_id),
            )
        )
        doomed = [r.id for r in rows if user_id in (r.authors or ()) or r.edited_by == user_id]
        if doomed:
            await self._session.execute(
                delete(MemorySummaryRow).where(MemorySummaryRow.id.in_(doomed))
            )
        if self._session.get_bind().dialect.name == "sqlite":
            # Merge the index's segments, so no erased word lingers in an old one.
            await self._session.execute(
                text("INSERT INTO messages_fts(messages_fts) VALUES ('optimize')")
            )
        return int(pins.rowcount or 0) + len(doomed)  # type: ignore[attr-defined]

    async def lines_between(
        self, session_id: int, after: int, before: int, limit: int
    ) -> list[tuple[int, str, str, int | None]]:
        """(id, speaker, content, author) of the visible lines with ``after < id < before``,
        oldest first, at most ``limit``: what a summary job folds."""
        rows = await self._session.execute(
            select(_M.c.id, _M.c.speaker, _M.c.content, _M.c.author_id)
            .where(
                _M.c.session_id == session_id,
                _M.c.deleted.is_(False),
                _M.c.id > after,
                _M.c.id < before,
            )
            .order_by(_M.c.id)
            .limit(limit)
        )
        return [(r.id, r.speaker, r.content, r.author_id) for r in rows]

    async def line_before(self, session_id: int, before: int, count: int) -> int:
        """The id just older than the ``count`` newest visible lines before ``before`` (0 when
        there are no more than that)."""
        ids = list(
            await self._session.scalars(
                select(_M.c.id)
                .where(_M.c.session_id == session_id, _M.c.deleted.is_(False), _M.c.id < before)
                .order_by(_M.c.id.desc())
                .limit(count + 1)
            )
        )
        return int(ids[-1]) if len(ids) > count else 0

    async def search(
        self,
        session_id: int,
        terms: Sequence[str],
        *,
        before: int,
        after: int = 0,
        limit: int = 40,
    ) -> list[RecalledLine]:
        """The newest of the session's visible lines with ``after < id < before`` that hold
        any of ``terms`` (words; the index stems them), newest first."""
        if not terms:
            return []
        if self._session.get_bind().dialect.name == "sqlite":
            query = " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)
            rows = await self._session.execute(
                _SQLITE_SEARCH,
                {
                    "query": query,
                    "session": session_id,
                    "before": before,
                    "after": after,
                    "limit": limit,
                },
            )
        else:
            vector = func.to_tsvector(TS_CONFIG, _M.c.content)
            wanted: Any = func.plainto_tsquery(TS_CONFIG, terms[0])
            for term in terms[1:]:
                wanted = wanted.op("||")(func.plainto_tsquery(TS_CONFIG, term))
            rows = await self._session.execute(
                select(_M.c.id, _M.c.speaker, _M.c.content)
                .where(
                    vector.op("@@")(wanted),
                    _M.c.session_id == session_id,
                    _M.c.id < before,
                    _M.c.id > after,
                    _M.c.deleted.is_(False),
                )
                .order_by(_M.c.id.desc())
                .limit(limit)
            )
        return [RecalledLine(r.id, r.speaker, r.content) for r in rows]

    async def summaries_after_change(self, session_id: int, message_id: int) -> int:
        """A line already folded into a summary changed (edited, deleted): those summaries
        start again from the beginning, so they never keep what the history no longer says."""
        result = await self._session.execute(
            update(MemorySummaryRow)
            .where(
                MemorySummaryRow.session_id == session_id,
                MemorySummaryRow.covered_until >= message_id,
            )
            .values(text="", covered_until=0, authors=None, revision=MemorySummaryRow.revision + 1)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
