"""A session with its scene's characters, read in one statement.

Every message and every reply needs the channel's session and who plays in it; reading the
session, the cast and each character apart cost a round trip each.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.characters import PROMPT_COLUMNS, character_value
from bot.store.models import CharacterRow, SessionCharacterRow, SessionRow
from bot.store.sessions import session_value
from bot.values import ChannelSession, Character

_SESSIONS = SessionRow.__table__
_MEMBERS = SessionCharacterRow.__table__
_CHARACTERS = CharacterRow.__table__
_CHARACTER_COLUMNS = [column.label(f"c_{column.name}") for column in PROMPT_COLUMNS]


@dataclass(frozen=True, slots=True)
class Scene:
    session: ChannelSession
    # (character id, since message id, the character; None when it was deleted), in the
    # order they joined. Empty for a session from before group scenes.
    members: tuple[tuple[int, int | None, Character | None], ...]


class _Prefixed:
    """The ``c_``-labelled columns of a row, under their own names."""

    def __init__(self, row: Row[Any]) -> None:
        for key, value in row._mapping.items():
            if isinstance(key, str) and key.startswith("c_"):
                setattr(self, key[2:], value)


class SceneStore:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, session_id: int) -> Scene | None:
        return await self._one(_BY_SESSION, {"session_id": session_id})

    async def active_in_channel(self, channel_id: int) -> Scene | None:
        return await self._one(_ACTIVE_IN_CHANNEL, {"channel_id": channel_id})

    async def _one(self, query: Select[Any], parameters: dict[str, int]) -> Scene | None:
        rows = (await self._session.execute(query, parameters)).all()
        if not rows:
            return None
        members = []
        for row in rows:
            if row.m_character_id is None:
                continue  # no cast rows at all (the outer join's single empty row)
            character = None
            if row.c_id is not None:
                character = character_value(_Prefixed(row), has_avatar=bool(row.c_has_avatar))
            members.append((int(row.m_character_id), row.m_since, character))
        return Scene(session_value(rows[0]), tuple(members))


def _query() -> Select[Any]:
    return (
        select(
            _SESSIONS,
            _MEMBERS.c.character_id.label("m_character_id"),
            _MEMBERS.c.since_message_id.label("m_since"),
            *_CHARACTER_COLUMNS,
            _CHARACTERS.c.avatar_png.is_not(None).label("c_has_avatar"),
        )
        .select_from(
            _SESSIONS.outerjoin(_MEMBERS, _MEMBERS.c.session_id == _SESSIONS.c.id).outerjoin(
                _CHARACTERS, _CHARACTERS.c.id == _MEMBERS.c.character_id
            )
        )
        .order_by(_MEMBERS.c.id)
    )


# Built once: building this statement took longer than running it (it runs for every message).
_BY_SESSION = _query().where(_SESSIONS.c.id == bindparam("session_id"))
_ACTIVE_IN_CHANNEL = _query().where(
    _SESSIONS.c.channel_id == bindparam("channel_id"), _SESSIONS.c.active
)
