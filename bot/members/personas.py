"""Members' personas: the name a member is called by in roleplay on a server, and a short
description that characters read. Used wherever the member speaks."""

from __future__ import annotations

import time
from collections.abc import Callable

from bot.characters.lookalike import COLONS, visible_name
from bot.common.memo import ExpiringMemo
from bot.errors import InvalidInput
from bot.policy import Caller, check_own_data
from bot.store import Database, UnitOfWork
from bot.values import Persona

MAX_PERSONA_DESCRIPTION = 500
MAX_PERSONA_NAME = 40  # what a prompt keeps of a speaker's name


def clean_persona_name(raw: str) -> str:
    name = visible_name(raw)  # invisible and bidi-control characters cannot be told apart
    if not 1 <= len(name) <= MAX_PERSONA_NAME or any(colon in name for colon in COLONS):
        raise InvalidInput(
            f"A persona's name must be 1 to {MAX_PERSONA_NAME} characters, without a colon."
        )
    return name


class PersonaService:
    CACHE_SECONDS = 10.0  # signing a message reads the author's persona (see bot/common/memo.py)

    def __init__(self, database: Database, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._db = database
        self._names: ExpiringMemo[tuple[int, int], str | None] = ExpiringMemo(
            self.CACHE_SECONDS, clock=clock
        )

    async def get(self, guild_id: int, user_id: int) -> Persona | None:
        async with self._db.read() as uow:
            return await uow.personas.get(guild_id, user_id)

    async def set(
        self, guild_id: int, user_id: int, name: str, description: str = "", *, caller: Caller
    ) -> Persona:
        """Set a member's persona here (the member alone may)."""
        check_own_data(caller, user_id)
        clean = clean_persona_name(name)
        text = " ".join(description.split())
        if len(text) > MAX_PERSONA_DESCRIPTION:
            raise InvalidInput(
                f"A persona's description can be at most {MAX_PERSONA_DESCRIPTION} characters."
            )
        self._names.forget((guild_id, user_id))
        async with self._db.write() as uow:
            persona = await uow.personas.set(guild_id, user_id, clean, text)
        self._names.forget((guild_id, user_id))
        return persona

    async def clear(self, guild_id: int, user_id: int, *, caller: Caller) -> bool:
        """Remove a member's persona here (the member alone may); whether there was one."""
        check_own_data(caller, user_id)
        self._names.forget((guild_id, user_id))
        async with self._db.write() as uow:
            cleared = await uow.personas.clear(guild_id, user_id)
        self._names.forget((guild_id, user_id))
        return cleared

    async def speaker_name(
        self, guild_id: int, user_id: int, display_name: str, *, uow: UnitOfWork | None = None
    ) -> str:
        """What a member's lines are signed with: their persona's name, else their display
        name. ``uow``: read there when not in memory (a caller's unit of work)."""

        async def read() -> str | None:
            if uow is not None:
                persona = await uow.personas.get(guild_id, user_id)
            else:
                persona = await self.get(guild_id, user_id)
            return persona.name if persona is not None else None

        name = await self._names.get((guild_id, user_id), read)
        return name if name is not None else display_name
