"""Lorebook operations on a real database: who may change what, worlds, sessions."""

from __future__ import annotations

import pytest

from bot.characters.service import CharacterDraft, CharacterService
from bot.errors import InvalidInput, NotFound, PermissionDenied
from bot.lore.scan import Logic
from bot.lore.service import BookRef, EntryDraft, LoreService, build_entry, split_keys
from bot.policy import OPERATOR, Caller
from bot.store import Database

OWNER = Caller(user_id=10, display_name="Owner")
MEMBER = Caller(user_id=20, display_name="Member")
ADMIN = Caller(user_id=30, display_name="Admin", is_admin=True)


async def aqua(database: Database) -> int:
    character = await CharacterService(database).create(
        1, OWNER.user_id, CharacterDraft(name="Aqua", persona="A goddess."), caller=OPERATOR
    )
    return character.id


def test_keys_are_split_on_commas_and_tidied() -> None:
    assert split_keys(" castle, keep ,, Castle ,gate  tower") == (
        "castle",
        "keep",
        "Castle",
        "gate tower",
    )
    assert split_keys(None) == ()


def test_an_entry_needs_content_and_keys_unless_constant() -> None:
    with pytest.raises(InvalidInput, match="content"):
        build_entry(EntryDraft(content="  ", keys=("a",)))
    with pytest.raises(InvalidInput, match="keys"):
        build_entry(EntryDraft(content="Lore."))
    assert build_entry(EntryDraft(content="Lore.", constant=True)).constant


def test_secondary_keys_make_a_selective_entry_with_its_logic() -> None:
    entry = build_entry(
        EntryDraft(content="x", keys=("a",), secondary_keys=("b",), logic=Logic.NOT_ANY)
    )
    assert entry.selective and entry.secondary_keys == ("b",)
    assert entry.extensions == {"selectiveLogic": 2, "case_sensitive": False}


async def test_only_the_creator_or_an_admin_change_a_characters_lorebook(
    database: Database,
) -> None:
    await aqua(database)
    lore = LoreService(database)
    draft = EntryDraft(content="Eggs hatch in water.", keys=("egg",))
    with pytest.raises(PermissionDenied):
        await lore.add_entry(1, BookRef(character="Aqua"), draft, caller=MEMBER)
    _, first = await lore.add_entry(1, BookRef(character="aqua"), draft, caller=OWNER)
    _, second = await lore.add_entry(1, BookRef(character="Aqua"), draft, caller=ADMIN)
    book = await lore.book(1, BookRef(character="Aqua"))
    assert book is not None and book.entry_ids == (first.id, second.id)
    with pytest.raises(PermissionDenied):
        await lore.remove_entry(1, first.id, caller=MEMBER)
    await lore.remove_entry(1, first.id, caller=OWNER)
    with pytest.raises(NotFound):
        await lore.entry(1, first.id)
    with pytest.raises(NotFound):  # another server cannot see it
        await lore.entry(2, second.id)


async def test_worlds_are_made_by_admins_on_first_use_and_listed(database: Database) -> None:
    lore = LoreService(database)
    draft = EntryDraft(content="Two moons.", keys=("moon",))
    with pytest.raises(PermissionDenied):
        await lore.add_entry(1, BookRef(world="Belzerg"), draft, caller=OWNER)
    await lore.add_entry(1, BookRef(world="Belzerg"), draft, caller=ADMIN)
    await lore.add_entry(1, BookRef(world="belzerg"), draft, caller=ADMIN)
    await lore.add_entry(1, BookRef(world="Axel"), draft, caller=ADMIN)
    assert [(w.name, w.entries) for w in await lore.worlds(1)] == [("Axel", 1), ("Belzerg", 2)]
    assert await lore.worlds(2) == []
    with pytest.raises(InvalidInput):
        BookRef(character="Aqua", world="Axel")


async def test_a_deleted_world_leaves_the_sessions_that_used_it(database: Database) -> None:
    character_id = await aqua(database)
    lore = LoreService(database)
    await lore.add_entry(
        1, BookRef(world="Axel"), EntryDraft(content="x", keys=("a",)), caller=ADMIN
    )
    async with database.write() as uow:
        session = await uow.sessions.start(
            guild_id=1, channel_id=5, character_id=character_id, started_by=10
        )
    world = await lore.attach_world(session.id, "axel", caller=ADMIN)
    assert world is not None and world.name == "Axel"
    with pytest.raises(NotFound, match="/lore list"):
        await lore.attach_world(session.id, "Nowhere", caller=ADMIN)
    with pytest.raises(PermissionDenied):
        await lore.delete_world(1, "Axel", caller=OWNER)
    await lore.delete_world(1, "Axel", caller=ADMIN)
    async with database.read() as uow:
        after = await uow.sessions.get(session.id)
    assert after is not None and after.world_id is None


async def test_a_prompt_reads_a_book_as_it_is_after_every_change(database: Database) -> None:
    character_id = await aqua(database)
    lore = LoreService(database)

    async def contents() -> list[list[str]]:
        async with database.read() as uow:
            books = await uow.lore.for_prompt(character_id, None)
        return [[entry.content for entry in book.entries] for book in books]

    assert await contents() == []
    _, first = await lore.add_entry(
        1, BookRef(character="Aqua"), EntryDraft(content="One.", keys=("a",)), caller=OWNER
    )
    assert await contents() == [["One."]]
    assert await contents() == [["One."]]  # unchanged: from what this process read
    await lore.add_entry(
        1, BookRef(character="Aqua"), EntryDraft(content="Two.", keys=("b",)), caller=OWNER
    )
    assert await contents() == [["One.", "Two."]]
    await lore.remove_entry(1, first.id, caller=OWNER)
    assert await contents() == [["Two."]]


async def test_a_server_holds_a_bounded_number_of_worlds(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bot.lore.service.MAX_WORLDS", 2)
    lore = LoreService(database)
    draft = EntryDraft(content="Two moons.", keys=("moon",))
    await lore.add_entry(1, BookRef(world="Axel"), draft, caller=ADMIN)
    await lore.add_entry(1, BookRef(world="Belzerg"), draft, caller=ADMIN)
    with pytest.raises(InvalidInput, match="2 worlds"):
        await lore.add_entry(1, BookRef(world="Crimzon"), draft, caller=ADMIN)
    with pytest.raises(InvalidInput, match="2 worlds"):
        await lore.import_world(1, "Crimzon", b'{"entries": {}}', caller=ADMIN)
    await lore.add_entry(1, BookRef(world="Axel"), draft, caller=ADMIN)  # an existing world grows
    assert [(w.name, w.entries) for w in await lore.worlds(1)] == [("Axel", 2), ("Belzerg", 1)]


async def test_a_lorebook_grows_no_further_than_an_import_may_bring(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bot.lore.service.MAX_LORE_ENTRIES", 2)
    lore, ref = LoreService(database), BookRef(character="Aqua")
    await aqua(database)
    for n in range(2):
        await lore.add_entry(1, ref, EntryDraft(content=f"Fact {n}.", keys=("fact",)), caller=OWNER)
    with pytest.raises(InvalidInput, match="2 entries"):
        await lore.add_entry(1, ref, EntryDraft(content="One more.", keys=("fact",)), caller=OWNER)
    book = await lore.book(1, ref)
    assert book is not None and len(book.book.entries) == 2
