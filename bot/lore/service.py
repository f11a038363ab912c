"""Lorebook operations for every front end: add, list, show and remove entries; worlds.

A character's own lorebook is changed by its creator or an admin; a server world (a
lorebook of its own, attached to roleplays with ``/session world``) by admins. Anyone may
read them: the same text reaches the prompt in front of everybody.
"""

from __future__ import annotations

import asyncio
import logging
import unicodedata
from dataclasses import dataclass, field
from typing import Literal

from bot.cards import LoreBook, LoreEntry
from bot.cards.limits import MAX_LORE_ENTRIES
from bot.errors import AlreadyExists, InvalidInput, NotFound, shown
from bot.lore.regex_keys import regex_key_error
from bot.lore.scan import Logic
from bot.lore.world_file import encode_world_file, parse_world_file
from bot.policy import (
    Caller,
    check_can_change_character,
    check_can_manage_worlds,
    check_session_rights,
)
from bot.store import Database, UnitOfWork
from bot.values import Character, Lorebook, StoredEntry, WorldSummary

log = logging.getLogger(__name__)

MAX_WORLD_NAME = 64
MAX_KEYS = 50
MAX_KEY_CHARS = 100
MAX_CONTENT = 8_000
MAX_WORLDS = 50  # server worlds per server: what one admin's imports can add up to
Position = Literal["before_char", "after_char"]


@dataclass(frozen=True, slots=True)
class BookRef:
    """Which lorebook a command means: a character's own, or a server world, by name."""

    character: str | None = None
    world: str | None = None

    def __post_init__(self) -> None:
        if (self.character is None) == (self.world is None):
            raise InvalidInput("Name either a character or a world (one of the two).")


@dataclass(frozen=True, slots=True)
class EntryDraft:
    """A lorebook entry as a person describes it; ``keys`` may be one comma-separated text."""

    content: str
    keys: tuple[str, ...] = ()
    secondary_keys: tuple[str, ...] = ()
    logic: Logic = Logic.AND_ANY
    constant: bool = False
    position: Position = "before_char"
    order: int = 100
    case_sensitive: bool = False
    title: str = ""
    extensions: dict[str, object] = field(default_factory=dict)


def split_keys(text: str | None) -> tuple[str, ...]:
    """``"castle, keep ,, gate"`` -> ``("castle", "keep", "gate")`` (duplicates dropped)."""
    keys = (" ".join(k.split()) for k in (text or "").split(","))
    return tuple(dict.fromkeys(k for k in keys if k))


def build_entry(draft: EntryDraft) -> LoreEntry:
    """A card-style lorebook entry from a draft, or InvalidInput saying what is wrong."""
    content = draft.content.strip()
    if not content:
        raise InvalidInput("A lore entry needs content: the text that goes into the prompt.")
    if len(content) > MAX_CONTENT:
        raise InvalidInput(
            f"The lore entry is {len(content):,} characters long; the limit is {MAX_CONTENT:,}."
        )
    if not draft.keys and not draft.constant:
        raise InvalidInput(
            "A lore entry needs keys (words that bring it into the story), or `constant` "
            "to be always there."
        )
    for label, keys in (("keys", draft.keys), ("secondary keys", draft.secondary_keys)):
        if len(keys) > MAX_KEYS:
            raise InvalidInput(f"A lore entry can have at most {MAX_KEYS} {label}.")
        if any(len(key) > MAX_KEY_CHARS for key in keys):
            raise InvalidInput(f"Lore keys can be at most {MAX_KEY_CHARS} characters long.")
        for key in keys:
            problem = regex_key_error(key)
            if problem is not None:
                raise InvalidInput(
                    f"The key `{key[:60]}` is written as a regular expression that Galatea "
                    f"cannot run ({problem[:120]}). Look-arounds and back-references are not "
                    "supported; write it another way, or as plain words."
                )
    extensions = dict(draft.extensions)
    if draft.secondary_keys:
        extensions["selectiveLogic"] = int(draft.logic)
    # SillyTavern reads case sensitivity here (and titles from `comment`), not from the V2
    # fields: both are written so every app finds them.
    extensions["case_sensitive"] = draft.case_sensitive
    title = draft.title.strip() or None
    return LoreEntry.model_validate(
        {
            "keys": draft.keys,
            "content": content,
            "extensions": extensions,
            "enabled": True,
            "insertion_order": draft.order,
            "case_sensitive": draft.case_sensitive,
            "constant": draft.constant,
            "name": title,
            "comment": title,
            "selective": bool(draft.secondary_keys),
            "secondary_keys": draft.secondary_keys,
            "position": draft.position,
        }
    )


def clean_world_name(raw: str) -> str:
    name = " ".join(unicodedata.normalize("NFKC", raw).split())
    if not name:
        raise InvalidInput("A world needs a name.")
    if len(name) > MAX_WORLD_NAME:
        raise InvalidInput(f"World names can be at most {MAX_WORLD_NAME} characters long.")
    if any(unicodedata.category(c)[0] == "C" for c in name):
        raise InvalidInput("World names cannot contain control characters.")
    return name


async def _check_room_for_a_world(uow: UnitOfWork, guild_id: int) -> None:
    if len(await uow.lore.worlds(guild_id)) >= MAX_WORLDS:
        raise InvalidInput(
            f"This server has {MAX_WORLDS} worlds, the most it can have. Remove one with "
            "`/lore remove world:` first."
        )


class LoreService:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def add_entry(
        self, guild_id: int, ref: BookRef, draft: EntryDraft, *, caller: Caller
    ) -> tuple[Lorebook, StoredEntry]:
        """Add an entry to a character's lorebook or a world (created on first use)."""
        entry = build_entry(draft)
        async with self._db.write() as uow:
            book = await self._book_to_change(uow, guild_id, caller, ref)
            if len(book.book.entries) >= MAX_LORE_ENTRIES:  # what an import may hold, too
                raise InvalidInput(
                    f"That lorebook holds {MAX_LORE_ENTRIES:,} entries, the most it can hold. "
                    "Remove some with `/lore remove` first."
                )
            (entry_id,) = await uow.lore.add_entries(book.id, [entry])
        return book, StoredEntry(entry_id, book.id, entry)

    @staticmethod
    def check_can_manage_worlds(caller: Caller) -> None:
        """Refuse early (before a front end asks to confirm or reads a file): worlds are for
        admins; every change checks again."""
        check_can_manage_worlds(caller)

    async def book(self, guild_id: int, ref: BookRef) -> Lorebook | None:
        """The lorebook ``ref`` names, with its entries; None when it has none yet."""
        async with self._db.read() as uow:
            if ref.world is not None:
                return await uow.lore.world(guild_id, ref.world)
            character = await self._character(uow, guild_id, ref.character or "")
            return await uow.lore.of_character(character.id)

    async def worlds(self, guild_id: int) -> list[WorldSummary]:
        async with self._db.read() as uow:
            return await uow.lore.worlds(guild_id)

    async def world_names(self, guild_id: int) -> list[str]:
        return [world.name for world in await self.worlds(guild_id)]

    async def entry(self, guild_id: int, entry_id: int) -> tuple[Lorebook, StoredEntry]:
        async with self._db.read() as uow:
            return await self._entry(uow, guild_id, entry_id)

    async def remove_entry(self, guild_id: int, entry_id: int, *, caller: Caller) -> StoredEntry:
        """Remove one entry (by the id ``/lore list`` shows)."""
        async with self._db.write() as uow:
            book, stored = await self._entry(uow, guild_id, entry_id)
            await self._check_can_change(uow, book, caller)
            await uow.lore.remove_entry(entry_id)
        return stored

    async def delete_world(self, guild_id: int, name: str, *, caller: Caller) -> Lorebook:
        """Delete a server world and its entries; roleplays that used it go on without."""
        check_can_manage_worlds(caller)
        async with self._db.write() as uow:
            world = await uow.lore.world(guild_id, name)
            if world is None:
                raise NotFound(_no_world(name))
            await uow.lore.delete(world.id)
        return world

    async def import_world(
        self, guild_id: int, name: str, data: bytes, *, caller: Caller
    ) -> tuple[Lorebook, int]:
        """A new server world from a SillyTavern world info file or a chub / V3 lorebook
        file (admins); returns the world and how many entries it got."""
        check_can_manage_worlds(caller)
        world_name = clean_world_name(name)
        book = await asyncio.to_thread(parse_world_file, data)  # CPU work, off the loop
        async with self._db.write() as uow:
            if await uow.lore.world(guild_id, world_name) is not None:
                raise AlreadyExists(
                    f"A world named {world_name!r} already exists here. Import under another "
                    "name with `world:`, or remove it first with `/lore remove world:`."
                )
            await _check_room_for_a_world(uow, guild_id)
            world = await uow.lore.create(guild_id=guild_id, world_name=world_name, settings=book)
            await uow.lore.add_entries(world.id, book.entries)
        log.info("Imported a world of %d entries into guild %d", len(book.entries), guild_id)
        return world, len(book.entries)

    async def export_world(self, guild_id: int, name: str, max_bytes: int) -> tuple[bytes, str]:
        """A server world as a SillyTavern world info file: (bytes, file name)."""
        async with self._db.read() as uow:
            world = await uow.lore.world(guild_id, name)
        if world is None:
            raise NotFound(_no_world(name))
        data = await asyncio.to_thread(encode_world_file, world.book, max_bytes)
        stem = "".join(c if c.isalnum() or c in "-_ " else "_" for c in world.name or "world")
        return data, f"{'_'.join(stem.split()) or 'world'}.json"

    async def attach_world(
        self, session_id: int, name: str | None, *, caller: Caller
    ) -> Lorebook | None:
        """Attach a server world to a roleplay session (None detaches it); returns the world.
        ``caller`` must have the right to change the session."""
        async with self._db.write() as uow:
            session = await uow.sessions.get(session_id)
            if session is None:
                raise NotFound("That roleplay has ended.")
            check_session_rights(caller, session)
            world = None
            if name is not None:
                world = await uow.lore.world(session.guild_id, name)
                if world is None:
                    raise NotFound(_no_world(name))
            await uow.sessions.set_world(session_id, world.id if world else None)
        return world

    async def _book_to_change(
        self, uow: UnitOfWork, guild_id: int, caller: Caller, ref: BookRef
    ) -> Lorebook:
        if ref.world is not None:
            check_can_manage_worlds(caller)
            world = await uow.lore.world(guild_id, ref.world)
            if world is None:
                await _check_room_for_a_world(uow, guild_id)
                world = await uow.lore.create(
                    guild_id=guild_id,
                    world_name=clean_world_name(ref.world),
                    settings=LoreBook(),
                )
            return world
        character = await self._character(uow, guild_id, ref.character or "")
        check_can_change_character(character, caller)
        own = await uow.lore.of_character(character.id)
        if own is None:
            own = await uow.lore.create(
                guild_id=guild_id, character_id=character.id, settings=LoreBook()
            )
        return own

    async def _check_can_change(self, uow: UnitOfWork, book: Lorebook, caller: Caller) -> None:
        if book.character_id is None:
            check_can_manage_worlds(caller)
            return
        character = await uow.characters.get(book.character_id)
        if character is not None:
            check_can_change_character(character, caller)

    @staticmethod
    async def _character(uow: UnitOfWork, guild_id: int, name: str) -> Character:
        character = await uow.characters.get_by_name(guild_id, name)
        if character is None:
            raise NotFound(f"There is no character named {shown(name)!r} here.")
        return character

    @staticmethod
    async def _entry(uow: UnitOfWork, guild_id: int, entry_id: int) -> tuple[Lorebook, StoredEntry]:
        found = await uow.lore.entry(entry_id)
        if found is None or found[0].guild_id != guild_id:
            raise NotFound(
                f"There is no lore entry #{entry_id} on this server; `/lore list` shows them."
            )
        return found


def _no_world(name: str) -> str:
    return (
        f"There is no world named {shown(name)!r} here. `/lore list` shows the server's "
        "worlds; `/lore add world:` creates one."
    )
