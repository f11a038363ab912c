"""Lore written in Galatea reads right in SillyTavern: unique ids, comment, case sensitivity."""

from __future__ import annotations

import json

from sqlalchemy import select

from bot.cards import LoreBook, LoreEntry
from bot.cards.entry_ids import fill_ids, for_sillytavern
from bot.characters.service import CharacterService
from bot.lore.service import BookRef, EntryDraft, LoreService
from bot.lore.world_file import WORLD_FILE_MAX_BYTES, encode_world_file
from bot.policy import OPERATOR, Caller
from bot.store import Database
from bot.store.models import LoreEntryRow
from tests.cards.builders import to_json, v2_document

OWNER = Caller(user_id=10, display_name="Owner")
ADMIN = Caller(user_id=30, display_name="Admin", is_admin=True)


def test_new_ids_follow_the_largest_and_clashes_get_fresh_ones() -> None:
    assert fill_ids([1, 2, 3], [None]) == ([1, 2, 3], [4])
    assert fill_ids([], [None, None]) == ([], [0, 1])
    assert fill_ids([5, "5", None], [5]) == ([5, 6, 7], [8])  # "5" is 5 to SillyTavern
    assert fill_ids(["entry-7", None], ["entry-7"]) == (["entry-7", 0], [1])


def test_an_export_mirrors_titles_and_case_sensitivity_where_sillytavern_reads_them() -> None:
    book = LoreBook(
        entries=(
            LoreEntry(keys=("a",), content="x", name="Title", case_sensitive=True, id=3),
            LoreEntry(keys=("b",), content="y", comment="Own", name="Other", id=3),
        )
    )
    first, second = for_sillytavern(book).entries
    assert (first.comment, first.extensions["case_sensitive"], first.id) == ("Title", True, 3)
    assert (second.comment, second.id) == ("Own", 4)


async def test_a_new_entry_on_a_card_whose_ids_run_1_to_n_gets_n_plus_1(
    database: Database,
) -> None:
    entries = [{"keys": [f"k{i}"], "content": f"E{i}", "id": i} for i in (1, 2, 3)]
    card = v2_document(name="Lyra", character_book={"entries": entries})
    characters = CharacterService(database)
    lyra = await characters.import_card(
        1, OWNER.user_id, to_json(card), "lyra.json", caller=OPERATOR
    )
    await LoreService(database).add_entry(
        1,
        BookRef(character="Lyra"),
        EntryDraft(content="New.", keys=("new",), title="Fresh", case_sensitive=True),
        caller=OWNER,
    )
    exported, _ = await characters.export_card(lyra.id, "json", 2)
    written = json.loads(exported)["data"]["character_book"]["entries"]
    assert [e["id"] for e in written] == [1, 2, 3, 4]
    new = written[3]
    assert new["comment"] == "Fresh" and new["extensions"]["case_sensitive"] is True
    again, _ = await characters.export_card(lyra.id, "json", 2)
    assert again == exported  # stable


async def test_entries_stored_before_ids_get_them_once_and_keep_them(database: Database) -> None:
    lore = LoreService(database)
    for word in ("moon", "sun"):
        await lore.add_entry(
            1, BookRef(world="Axel"), EntryDraft(content=word, keys=(word,)), caller=ADMIN
        )
    async with database.write() as uow:  # as a store written before ids were given
        for row in (await uow.session.scalars(select(LoreEntryRow))).all():
            row.data = {k: v for k, v in row.data.items() if k != "id"}
    before = await lore.book(1, BookRef(world="Axel"))
    assert before is not None and [e.id for e in before.book.entries] == [None, None]
    exported = json.loads(encode_world_file(before.book, WORLD_FILE_MAX_BYTES))
    assert sorted(exported["entries"]) == ["0", "1"]
    await lore.add_entry(
        1, BookRef(world="Axel"), EntryDraft(content="star", keys=("s",)), caller=ADMIN
    )
    after = await lore.book(1, BookRef(world="Axel"))
    assert after is not None and [e.id for e in after.book.entries] == [0, 1, 2]
