"""Creating, changing and finding characters, with the checks every front end (Discord,
console) shares.

Every method that changes data takes the acting ``caller`` and holds them to the rules in
bot.policy (who may create characters in a server, who may change one); front ends ask
``check_can_create`` or ``find_changeable`` first only to refuse before a form opens.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from bot.cards import DEFAULT_MAX_BYTES, export_card_json, export_card_png, import_card_async
from bot.cards.entry_ids import for_sillytavern
from bot.characters.card_io import (
    CardFormat,
    card_for_export,
    card_talkativeness,
    card_texts,
    export_filename,
    kept_card_json,
    lives_outside_persona,
)
from bot.characters.fields import MAX_NAME, CharacterDraft, field_values
from bot.characters.validation import check_not_lookalike, clean_name, validate
from bot.common.images import normalize_avatar
from bot.errors import AlreadyExists, InvalidInput, NotFound, shown
from bot.policy import Caller, check_can_change_character, check_can_create_characters
from bot.store import Database, UnitOfWork
from bot.values import Character

__all__ = [
    "CONSOLE_GUILD_ID",
    "MAX_NAME",
    "CharacterDraft",
    "CharacterService",
    "check_not_lookalike",
    "clean_name",
    "validate",
]

CONSOLE_GUILD_ID = 0  # the console's characters live in a server of their own


class CharacterService:
    """Character operations for every front end."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def check_can_create(self, guild_id: int, *, caller: Caller) -> None:
        """Refuse ``caller`` when the server's creator roles leave them out."""
        async with self._db.read() as uow:
            await _check_can_create(uow, guild_id, caller)

    async def find_changeable(self, guild_id: int, name: str, *, caller: Caller) -> Character:
        """The character named ``name``, when ``caller`` may change it (its creator or an
        admin): asked before a form or a confirmation opens; the change checks again."""
        character = await self.find(guild_id, name)
        check_can_change_character(character, caller)
        return character

    async def create(
        self,
        guild_id: int,
        owner_id: int,
        draft: CharacterDraft,
        avatar_png: bytes | None = None,
        *,
        caller: Caller,
    ) -> Character:
        """A new character; ``caller`` must be allowed to create one in the server."""
        clean = validate(draft)
        async with self._db.write() as uow:
            await _check_can_create(uow, guild_id, caller)
            check_not_lookalike(clean.name, await uow.characters.names(guild_id))
            return await uow.characters.create(
                guild_id=guild_id, owner_id=owner_id, fields=clean, avatar_png=avatar_png
            )

    async def import_card(
        self,
        guild_id: int,
        owner_id: int,
        data: bytes,
        filename: str | None = None,
        *,
        caller: Caller,
        name: str | None = None,
        nsfw: bool = False,
    ) -> Character:
        """Create a character from a TavernAI / SillyTavern card (PNG or JSON, V1 to V3).

        The file is read and checked completely before anything is stored: a bad card raises
        InvalidInput naming the problem and leaves nothing behind. ``name`` replaces the
        card's name. The card's image becomes the avatar, its lorebook the character's.
        ``caller`` must be allowed to create characters: checked before the file is read.
        """
        await self.check_can_create(guild_id, caller=caller)
        card = await import_card_async(data, filename, max_bytes=DEFAULT_MAX_BYTES)
        try:
            chosen = clean_name(name if name is not None else card.name)
        except InvalidInput as exc:
            raise InvalidInput(
                f"{exc.user_message} Import the card again under another name (the `name` option)."
            ) from None
        draft = CharacterDraft(
            **{**card_texts(card), "name": chosen},
            nsfw=nsfw,
            talkativeness=card_talkativeness(card),
        )
        clean = validate(draft, persona_required=not lives_outside_persona(card))
        avatar = None
        if card.avatar_png is not None:
            avatar = await asyncio.to_thread(
                normalize_avatar, card.avatar_png, max_bytes=DEFAULT_MAX_BYTES
            )
        try:
            async with self._db.write() as uow:
                await _check_can_create(uow, guild_id, caller)
                check_not_lookalike(clean.name, await uow.characters.names(guild_id))
                character = await uow.characters.create(
                    guild_id=guild_id,
                    owner_id=owner_id,
                    fields=clean,
                    avatar_png=avatar,
                    card_image_png=card.avatar_png,
                    card_json=kept_card_json(card),
                )
                if card.character_book is not None:
                    book = await uow.lore.create(
                        guild_id=guild_id, character_id=character.id, settings=card.character_book
                    )
                    await uow.lore.add_entries(book.id, card.character_book.entries)
        except AlreadyExists as exc:
            raise AlreadyExists(
                f"{exc.user_message} Import the card under another name with the `name` option."
            ) from None
        return character

    async def replace_from_card(
        self,
        guild_id: int,
        character: str,
        data: bytes,
        filename: str | None = None,
        *,
        caller: Caller,
        name: str | None = None,
    ) -> Character:
        """Update an existing character (its creator or an admin) from a card: the way back
        for texts longer than Discord's form holds (export, edit, import with ``replace``).

        The card's texts, greetings, prompts and image replace the character's; its name stays
        unless ``name`` is given; its NSFW flag, example mode, talkativeness and lorebook stay.
        The right to change it is checked before the file is read."""
        current = await self.find_changeable(guild_id, character, caller=caller)
        card = await import_card_async(data, filename, max_bytes=DEFAULT_MAX_BYTES)
        texts = {**card_texts(card), "name": clean_name(name) if name is not None else current.name}
        clean = validate(
            replace(CharacterDraft.of(current), **texts),
            persona_required=not lives_outside_persona(card),
        )
        changes: dict[str, Any] = {**field_values(clean), "card_json": kept_card_json(card)}
        if card.avatar_png is not None:
            changes["avatar_png"] = await asyncio.to_thread(
                normalize_avatar, card.avatar_png, max_bytes=DEFAULT_MAX_BYTES
            )
            changes["card_image_png"] = card.avatar_png  # exported as imported
        async with self._db.write() as uow:
            still = await _changeable(uow, current.id, caller)
            taken = await uow.characters.names(still.guild_id)
            check_not_lookalike(clean.name, taken, own=still.name)
            return await uow.characters.update(current.id, changes)

    async def update(
        self,
        character_id: int,
        draft: CharacterDraft,
        *,
        caller: Caller,
        avatar_png: bytes | None = None,
    ) -> Character:
        """Replace a character's fields (and avatar, when one is given): owner or admin only."""
        async with self._db.write() as uow:
            current = await _changeable(uow, character_id, caller)
            # A character imported without a persona (a lorebook-only card) may stay so.
            clean = validate(draft, persona_required=bool(current.persona))
            taken = await uow.characters.names(current.guild_id)
            check_not_lookalike(clean.name, taken, own=current.name)
            changes: dict[str, Any] = field_values(clean)
            if avatar_png is not None:
                changes["avatar_png"] = avatar_png
            return await uow.characters.update(character_id, changes)

    async def delete(self, character_id: int, *, caller: Caller) -> Character:
        """Delete a character with its sessions and their history: owner or admin only."""
        async with self._db.write() as uow:
            current = await _changeable(uow, character_id, caller)
            await uow.characters.delete(character_id)
        return current

    async def export_card(
        self, character_id: int, fmt: CardFormat, version: int
    ) -> tuple[bytes, str]:
        """The character as a V2 or V3 card, PNG (with its avatar) or JSON: (bytes, file name).

        An imported character comes out as the card it came from, with any edits made since.
        """
        if version not in (2, 3):
            raise InvalidInput("Cards can be exported as version 2 or 3.")
        async with self._db.read() as uow:
            character = await uow.characters.get(character_id)
            if character is None:
                raise NotFound("That character no longer exists.")
            kept = await uow.characters.stored_card_json(character_id)
            lorebook = await uow.lore.of_character(character_id)
            avatar = await uow.characters.card_image(character_id)
        book = for_sillytavern(lorebook.book) if lorebook else None  # ids, comment, case
        card = card_for_export(character, kept, book, avatar)
        writer = export_card_png if fmt == "png" else export_card_json
        data = await asyncio.to_thread(writer, card, 2 if version == 2 else 3)
        return data, export_filename(character.name, fmt)

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
            raise NotFound(f"There is no character named {shown(name)!r} here.")
        return character

    async def names(self, guild_id: int) -> list[str]:
        async with self._db.read() as uow:
            return await uow.characters.names(guild_id)

    async def count(self, guild_id: int) -> int:
        async with self._db.read() as uow:
            return await uow.characters.count(guild_id)

    async def avatar(self, character_id: int) -> bytes | None:
        async with self._db.read() as uow:
            return await uow.characters.avatar(character_id)

    # Last: below it, ``list`` in an annotation would mean this method.
    async def in_guild(self, guild_id: int, *, offset: int = 0, limit: int = 25) -> list[Character]:
        async with self._db.read() as uow:
            return await uow.characters.in_guild(guild_id, offset=offset, limit=limit)


async def _check_can_create(uow: UnitOfWork, guild_id: int, caller: Caller) -> None:
    """Hold ``caller`` to the server's creator roles."""
    check_can_create_characters(await uow.guilds.get(guild_id), caller)


async def _changeable(uow: UnitOfWork, character_id: int, caller: Caller) -> Character:
    """The character as it stands in this unit of work, when ``caller`` may change it."""
    current = await uow.characters.get(character_id)
    if current is None:
        raise NotFound("That character no longer exists.")
    check_can_change_character(current, caller)
    return current
