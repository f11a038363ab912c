"""Members' personas: the name a member is called by in roleplay on a server, and a short
description that characters read. Used wherever the member speaks."""

from __future__ import annotations

from bot.errors import InvalidInput
from bot.store import Database
from bot.values import Persona

MAX_PERSONA_DESCRIPTION = 500
MAX_PERSONA_NAME = 40  # what a prompt keeps of a speaker's name


def clean_persona_name(raw: str) -> str:
    name = " ".join(raw.split())
    if not 1 <= len(name) <= MAX_PERSONA_NAME or ":" in name:
        raise InvalidInput(
            f"A persona's name must be 1 to {MAX_PERSONA_NAME} characters, without a colon."
        )
    return name


class PersonaService:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def get(self, guild_id: int, user_id: int) -> Persona | None:
        async with self._db.read() as uow:
            return await uow.personas.get(guild_id, user_id)

    async def set(self, guild_id: int, user_id: int, name: str, description: str = "") -> Persona:
        clean = clean_persona_name(name)
        text = " ".join(description.split())
        if len(text) > MAX_PERSONA_DESCRIPTION:
            raise InvalidInput(
                f"A persona's description can be at most {MAX_PERSONA_DESCRIPTION} characters."
            )
        async with self._db.write() as uow:
            return await uow.personas.set(guild_id, user_id, clean, text)

    async def clear(self, guild_id: int, user_id: int) -> bool:
        async with self._db.write() as uow:
            return await uow.personas.clear(guild_id, user_id)

    async def speaker_name(self, guild_id: int, user_id: int, display_name: str) -> str:
        """What a member's lines are signed with: their persona's name, else their display name."""
        persona = await self.get(guild_id, user_id)
        return persona.name if persona is not None else display_name
