"""Small key-value facts kept across restarts."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.models import AppState


class AppStateStore:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, key: str) -> str | None:
        row = await self._session.get(AppState, key)
        return row.value if row else None

    async def set(self, key: str, value: str) -> None:
        row = await self._session.get(AppState, key)
        if row is None:
            self._session.add(AppState(key=key, value=value))
        else:
            row.value = value
        await self._session.flush()
