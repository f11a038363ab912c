"""Creating and finding characters, with the checks every front end (Discord, console) shares."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from bot.errors import InvalidInput, NotFound
from bot.policy import Caller, check_can_change_character
from bot.store import Database
from bot.values import Character

MAX_NAME = 64  # fits a Discord webhook name (80) with room to spare
MAX_PERSONA = 16_000
MAX_GREETING = 4_000
MAX_SCENARIO = 4_000
MAX_EXAMPLES = 16_000
CONSOLE_GUILD_ID = 0  # the console's characters live in a server of their own


@dataclass(frozen=True, slots=True)
class CharacterDraft:
    """What a person typed for a new or edited character, before validation."""

    name: str
    persona: str
    greeting: str = ""
    scenario: str = ""
    example_dialogue: str = ""
    nsfw: bool = False


def clean_name(raw: str) -> str:
    """Validate and normalise a character name, or say what is wrong with it."""
    name = " ".join(unicodedata.normalize("NFKC", raw).split())
    if not name:
        raise InvalidInput("A character needs a name.")
    if len(name) > MAX_NAME:
        raise InvalidInput(f"Character names can be at most {MAX_NAME} characters long.")
    if re.search(r"[:@#`<>\\]|[\x00-\x1f\x7f]", name):
        raise InvalidInput(
            "Character names cannot contain `:`, `@`, `#`, `<`, `>`, backslashes or backticks."
        )
    return name


def validate(draft: CharacterDraft) -> CharacterDraft:
    """Return a cleaned copy of ``draft`` or raise InvalidInput naming the field."""
    persona = draft.persona.strip()
    if not persona:
        raise InvalidInput("A character needs a persona: a few sentences about who they are.")
    for label, value, limit in (
        ("persona", persona, MAX_PERSONA),
        ("greeting", draft.greeting, MAX_GREETING),
        ("scenario", draft.scenario, MAX_SCENARIO),
        ("example dialogue", draft.example_dialogue, MAX_EXAMPLES),
    ):
        if len(value) > limit:
            raise InvalidInput(
                f"The {label} is {len(value):,} characters long; the limit is {limit:,}."
            )
    return CharacterDraft(
        name=clean_name(draft.name),
        persona=persona,
        greeting=draft.greeting.strip(),
        scenario=draft.scenario.strip(),
        example_dialogue=draft.example_dialogue.strip(),
        nsfw=draft.nsfw,
    )


class CharacterService:
    """Character operations for every front end."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def create(
        self, guild_id: int, owner_id: int, draft: CharacterDraft, avatar_png: bytes | None = None
    ) -> Character:
        clean = validate(draft)
        async with self._db.write() as uow:
            return await uow.characters.create(
                guild_id=guild_id,
                owner_id=owner_id,
                name=clean.name,
                persona=clean.persona,
                greeting=clean.greeting,
                scenario=clean.scenario,
                example_dialogue=clean.example_dialogue,
                nsfw=clean.nsfw,
                avatar_png=avatar_png,
            )

    async def get(self, character_id: int) -> Character:
        async with self._db.read() as uow:
            character = await uow.characters.get(character_id)
        if character is None:
            raise NotFound("That character no longer exists.")
        return character

    async def find(self, guild_id: int, name: str) -> Character:
        async with self._db.read() as uow:
            character = await uow.characters.get_by_name(guild_id, name)
        if character is None:
            raise NotFound(f"There is no character named {name.strip()!r} here.")
        return character

    async def list(self, guild_id: int, *, offset: int = 0, limit: int = 25) -> list[Character]:
        async with self._db.read() as uow:
            return await uow.characters.list(guild_id, offset=offset, limit=limit)

    async def names(self, guild_id: int) -> list[str]:
        async with self._db.read() as uow:
            return await uow.characters.names(guild_id)

    async def count(self, guild_id: int) -> int:
        async with self._db.read() as uow:
            return await uow.characters.count(guild_id)

    async def avatar(self, character_id: int) -> bytes | None:
        async with self._db.read() as uow:
            return await uow.characters.avatar(character_id)

    async def update(
        self,
        character_id: int,
        caller: Caller,
        draft: CharacterDraft,
        *,
        avatar_png: bytes | None = None,
    ) -> Character:
        """Replace a character's fields (and avatar, when one is given): owner or admin only."""
        clean = validate(draft)
        async with self._db.write() as uow:
            current = await uow.characters.get(character_id)
            if current is None:
                raise NotFound("That character no longer exists.")
            check_can_change_character(current, caller)
            changes: dict[str, object] = {
                "name": clean.name,
                "persona": clean.persona,
                "greeting": clean.greeting,
                "scenario": clean.scenario,
                "example_dialogue": clean.example_dialogue,
                "nsfw": clean.nsfw,
            }
            if avatar_png is not None:
                changes["avatar_png"] = avatar_png
            return await uow.characters.update(character_id, changes)

    async def delete(self, character_id: int, caller: Caller) -> Character:
        """Delete a character with its sessions and their history: owner or admin only."""
        async with self._db.write() as uow:
            current = await uow.characters.get(character_id)
            if current is None:
                raise NotFound("That character no longer exists.")
            check_can_change_character(current, caller)
            await uow.characters.delete(character_id)
        return current
