"""Channel leases: which process answers a channel, until when.

Taking a lease is one atomic upsert on both databases: insert the row, or take it over when it
has expired or is already ours. Two processes racing for one channel both send it; the row lock
(PostgreSQL) or the write lock (SQLite's BEGIN IMMEDIATE) makes the second see the first's row,
so exactly one gets a row back.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import Table, delete, or_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.models import ChannelLease
from bot.store.results import rows_changed

_LEASES = cast(Table, ChannelLease.__table__)


class LeaseStore:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def acquire(
        self, channel_id: int, holder: str, *, now: datetime, until: datetime
    ) -> bool:
        """Take or renew the channel's lease for ``holder`` until ``until``; False when another
        holder's lease is still valid at ``now``."""
        dialect = self._session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        values = insert(_LEASES).values(channel_id=channel_id, holder=holder, expires_at=until)
        statement = values.on_conflict_do_update(
            index_elements=[_LEASES.c.channel_id],
            set_={"holder": values.excluded.holder, "expires_at": values.excluded.expires_at},
            where=or_(_LEASES.c.expires_at < now, _LEASES.c.holder == holder),
        ).returning(_LEASES.c.channel_id)
        return (await self._session.execute(statement)).first() is not None

    async def holder(self, channel_id: int) -> tuple[str, datetime] | None:
        """Who holds the channel's lease, and until when (expired leases included)."""
        row = await self._session.get(ChannelLease, channel_id)
        return (row.holder, row.expires_at) if row else None

    async def release(self, holder: str, channel_id: int | None = None) -> int:
        """Give back one channel (or every channel) ``holder`` holds; returns how many."""
        statement = delete(ChannelLease).where(ChannelLease.holder == holder)
        if channel_id is not None:
            statement = statement.where(ChannelLease.channel_id == channel_id)
        result = await self._session.execute(statement)
        return rows_changed(result)
