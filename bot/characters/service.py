"""Creating and finding characters, with the checks every front end (Discord, console) shares."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, replace
from typing import Any

from bot.cards import (
    DEFAULT_MAX_BYTES,
    CharacterCard,
    export_card_json,
    export_card_png,
    import_card_async,
)
from bot.cards.entry_ids import for_sillytavern
from bot.characters.card_io import (
    CardFormat,
    card_document,
    card_for_export,
    card_talkativeness,
    export_filename,
)
from bot.characters.lookalike import skeleton, visible_name
from bot.common.images import normalize_avatar
from bot.errors import AlreadyExists, InvalidInput, NotFound, shown
from bot.policy import Caller, check_can_change_character, check_can_create_characters
from bot.store import Database, UnitOfWork
from bot.values import Character, ExampleMode

MAX_NAME = 64  # fits a Discord webhook name (80) with room to spare
MAX_PERSONA = 16_000
MAX_GREETING = 8_000  # longer greetings come in several Discord messages
MAX_SCENARIO = 4_000
MAX_EXAMPLES = 16_000
MAX_INSTRUCTIONS = 8_000  # a card's system prompt or post-history instructions
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
    alternate_greetings: tuple[str, ...] = ()
    system_prompt: str = ""
    post_history_instructions: str = ""
    example_mode: ExampleMode = ExampleMode.GRADUAL
    talkativeness: float = 0.5

    @classmethod
    def of(cls, character: Character) -> CharacterDraft:
        """The draft that leaves ``character`` as it is (the start of an edit)."""
        return cls(
            name=character.name,
            persona=character.persona,
            greeting=character.greeting,
            scenario=character.scenario,
            example_dialogue=character.example_dialogue,
            nsfw=character.nsfw,
            alternate_greetings=character.alternate_greetings,
            system_prompt=character.system_prompt,
            post_history_instructions=character.post_history_instructions,
            example_mode=character.example_mode,
            talkativeness=character.talkativeness,
        )


def clean_name(raw: str) -> str:
    """Validate and normalise a character name, or say what is wrong with it."""
    # Invisible and bidi-control characters go: a name is what people see of it.
    name = visible_name(raw)
    if not name:
        raise InvalidInput("A character needs a name.")
    if len(name) > MAX_NAME:
        raise InvalidInput(f"Character names can be at most {MAX_NAME} characters long.")
    if re.search(r"[:@#`<>\\]|[\x00-\x1f\x7f]", name):
        raise InvalidInput(
            "Character names cannot contain `:`, `@`, `#`, `<`, `>`, backslashes or backticks."
        )
    return name


def check_not_lookalike(name: str, taken: list[str], *, own: str | None = None) -> None:
    """Refuse ``name`` when it looks like another character's name in the server (the same
    letters in another case or script, or with invisible characters)."""
    mine = skeleton(name)
    for other in taken:
        # The same name in another case is the store's to refuse, with its own message.
        if other != own and other.casefold() != name.casefold() and skeleton(other) == mine:
            raise AlreadyExists(
                f"There is already a character named {other!r} here, and {name!r} looks the "
                "same. Choose a name people can tell apart."
            )


def _lives_outside_persona(card: CharacterCard) -> bool:
    """A lorebook-only card: the character lives in its book, scenario or first message."""
    return bool(
        card.first_mes.strip()
        or card.scenario.strip()
        or (card.character_book is not None and card.character_book.entries)
    )


def validate(draft: CharacterDraft, *, persona_required: bool = True) -> CharacterDraft:
    """Return a cleaned copy of ``draft`` or raise InvalidInput naming the field.

    ``persona_required=False``: an imported card may keep its character in its lorebook or
    first message, with an empty description and personality (and so may its later edits).
    """
    persona = draft.persona.strip()
    if not persona and persona_required:
        raise InvalidInput("A character needs a persona: a few sentences about who they are.")
    alternates = tuple(g.strip() for g in draft.alternate_greetings if g.strip())
    for label, value, limit in (
        ("persona", persona, MAX_PERSONA),
        ("greeting", draft.greeting, MAX_GREETING),
        ("scenario", draft.scenario, MAX_SCENARIO),
        ("example dialogue", draft.example_dialogue, MAX_EXAMPLES),
        ("system prompt", draft.system_prompt, MAX_INSTRUCTIONS),
        ("post-history instructions", draft.post_history_instructions, MAX_INSTRUCTIONS),
        *((f"alternate greeting {i}", g, MAX_GREETING) for i, g in enumerate(alternates, 1)),
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
        alternate_greetings=alternates,
        system_prompt=draft.system_prompt.strip(),
        post_history_instructions=draft.post_history_instructions.strip(),
        example_mode=ExampleMode(draft.example_mode),
        talkativeness=_talkativeness(draft.talkativeness),
    )


def _talkativeness(value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise InvalidInput("Talkativeness goes from 0 (speaks only when named) to 1.")
    return float(value)


def _fields(draft: CharacterDraft) -> dict[str, Any]:
    """A validated draft as the store's character fields."""
    return {
        "name": draft.name,
        "persona": draft.persona,
        "greeting": draft.greeting,
        "scenario": draft.scenario,
        "example_dialogue": draft.example_dialogue,
        "nsfw": draft.nsfw,
        "alternate_greetings": draft.alternate_greetings,
        "system_prompt": draft.system_prompt,
        "post_history_instructions": draft.post_history_instructions,
        "example_mode": draft.example_mode,
        "talkativeness": draft.talkativeness,
    }


class CharacterService:
    """Character operations for every front end."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def create(
        self,
        guild_id: int,
        owner_id: int,
        draft: CharacterDraft,
        avatar_png: bytes | None = None,
        *,
        caller: Caller | None = None,
    ) -> Character:
        """A new character; ``caller`` (None: the operator) must be allowed to create one."""
        clean = validate(draft)
        async with self._db.write() as uow:
            await _check_can_create(uow, guild_id, caller)
            check_not_lookalike(clean.name, await uow.characters.names(guild_id))
            return await uow.characters.create(
                guild_id=guild_id,
                owner_id=owner_id,
                avatar_png=avatar_png,
                **_fields(clean),
            )

    async def import_card(
        self,
        guild_id: int,
        owner_id: int,
        data: bytes,
        filename: str | None = None,
        *,
        name: str | None = None,
        nsfw: bool = False,
        caller: Caller | None = None,
    ) -> Character:
        """Create a character from a TavernAI / SillyTavern card (PNG or JSON, V1 to V3).

        The file is read and checked completely before anything is stored: a bad card raises
        InvalidInput naming the problem and leaves nothing behind. ``name`` replaces the
        card's name. The card's image becomes the avatar, its lorebook the character's.
        ``caller`` (None: the operator) must be allowed to create characters: checked before
        the file is read.
        """
        if caller is not None:
            async with self._db.read() as uow:
                await _check_can_create(uow, guild_id, caller)
        card = await import_card_async(data, filename, max_bytes=DEFAULT_MAX_BYTES)
        try:
            chosen = clean_name(name if name is not None else card.name)
        except InvalidInput as exc:
            raise InvalidInput(
                f"{exc.user_message} Import the card again under another name (the `name` option)."
            ) from None
        clean = validate(
            CharacterDraft(
                name=chosen,
                persona=card.persona,
                greeting=card.first_mes,
                scenario=card.scenario,
                example_dialogue=card.mes_example,
                nsfw=nsfw,
                alternate_greetings=card.alternate_greetings,
                system_prompt=card.system_prompt,
                post_history_instructions=card.post_history_instructions,
                talkativeness=card_talkativeness(card),
            ),
            persona_required=not _lives_outside_persona(card),
        )
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
                    avatar_png=avatar,
                    card_image_png=card.avatar_png,
                    card_json=card_document(card),
                    **_fields(clean),
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
        caller: Caller,
        character: str,
        data: bytes,
        filename: str | None = None,
        *,
        name: str | None = None,
    ) -> Character:
        """Update an existing character (its creator or an admin) from a card: the way back
        for texts longer than Discord's form holds (export, edit, import with ``replace``).

        The card's texts, greetings, prompts and image replace the character's; its name stays
        unless ``name`` is given; its NSFW flag, example mode, talkativeness and lorebook stay.
        The right to change it is checked before the file is read."""
        current = await self.find(guild_id, character)
        check_can_change_character(current, caller)
        card = await import_card_async(data, filename, max_bytes=DEFAULT_MAX_BYTES)
        clean = validate(
            replace(
                CharacterDraft.of(current),
                name=clean_name(name) if name is not None else current.name,
                persona=card.persona,
                greeting=card.first_mes,
                scenario=card.scenario,
                example_dialogue=card.mes_example,
                alternate_greetings=card.alternate_greetings,
                system_prompt=card.system_prompt,
                post_history_instructions=card.post_history_instructions,
            ),
            persona_required=not _lives_outside_persona(card),
        )
        changes: dict[str, Any] = {**_fields(clean), "card_json": card_document(card)}
        if card.avatar_png is not None:
            changes["avatar_png"] = await asyncio.to_thread(
                normalize_avatar, card.avatar_png, max_bytes=DEFAULT_MAX_BYTES
            )
            changes["card_image_png"] = card.avatar_png  # exported as imported
        async with self._db.write() as uow:
            still = await uow.characters.get(current.id)
            if still is None:
                raise NotFound("That character no longer exists.")
            check_can_change_character(still, caller)
            taken = await uow.characters.names(still.guild_id)
            check_not_lookalike(clean.name, taken, own=still.name)
            return await uow.characters.update(current.id, changes)

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
            document = await uow.characters.card_document(character_id)
            lorebook = await uow.lore.of_character(character_id)
            avatar = await uow.characters.card_image(character_id)
        book = for_sillytavern(lorebook.book) if lorebook else None  # ids, comment, case
        card = card_for_export(character, document, book, avatar)
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

    async def in_guild(self, guild_id: int, *, offset: int = 0, limit: int = 25) -> list[Character]:
        async with self._db.read() as uow:
            return await uow.characters.in_guild(guild_id, offset=offset, limit=limit)

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
        async with self._db.write() as uow:
            current = await uow.characters.get(character_id)
            if current is None:
                raise NotFound("That character no longer exists.")
            check_can_change_character(current, caller)
            # A character imported without a persona (a lorebook-only card) may stay so.
            clean = validate(draft, persona_required=bool(current.persona))
            taken = await uow.characters.names(current.guild_id)
            check_not_lookalike(clean.name, taken, own=current.name)
            changes = _fields(clean)
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


async def _check_can_create(uow: UnitOfWork, guild_id: int, caller: Caller | None) -> None:
    """Hold ``caller`` to the server's creator roles (None: the operator, always allowed)."""
    if caller is not None:
        check_can_create_characters(await uow.guilds.get(guild_id), caller)
