"""Cards in and out of the store: import keeps everything, export gives the card back."""

from __future__ import annotations

import io
from dataclasses import replace
from typing import Any

import pytest
from PIL import Image

from bot.cards import CharacterCard, parse_card
from bot.cards.entry_ids import for_sillytavern
from bot.characters.service import CharacterDraft, CharacterService
from bot.errors import AlreadyExists, InvalidInput
from bot.lore.service import BookRef, EntryDraft, LoreService
from bot.policy import OPERATOR, Caller
from bot.store import Database
from bot.values import ExampleMode
from tests.cards.builders import (
    V1_DOCUMENT,
    b64,
    image_png,
    to_json,
    v2_document,
    v3_document,
)

OWNER = Caller(user_id=10, display_name="Owner")


def comparable(card: CharacterCard) -> dict[str, Any]:
    """A card's content: not the image (re-encoded on import) nor the spec it was read from;
    its lorebook as every export writes it (unique ids, SillyTavern's title and case fields)."""
    if card.character_book is not None:
        card = card.model_copy(update={"character_book": for_sillytavern(card.character_book)})
    return card.model_dump(exclude={"avatar_png", "spec_version"})


def png_card(document: dict[str, Any], keyword: str = "chara") -> bytes:
    """A card PNG larger than an avatar, so the import has to scale it down."""
    return image_png(size=(600, 800), chunks=[(keyword, b64(document), "tEXt")])


@pytest.mark.parametrize(
    ("data", "filename", "version"),
    [
        (png_card(v2_document(name="Lyra")), "lyra.png", 2),
        (png_card(v3_document(name="Lyra"), "ccv3"), "lyra.png", 3),
        (to_json(v2_document(name="Lyra")), "lyra.json", 2),
        (to_json(v3_document(name="Lyra")), "lyra.json", 3),
        (to_json({**V1_DOCUMENT, "name": "Lyra"}), "lyra.json", 2),
    ],
)
async def test_import_then_export_gives_the_same_card(
    database: Database, data: bytes, filename: str, version: int
) -> None:
    service = CharacterService(database)
    original = parse_card(data, filename)
    character = await service.import_card(1, 10, data, filename, caller=OPERATOR)
    assert character.name == "Lyra"
    for fmt in ("png", "json"):
        exported, name = await service.export_card(character.id, fmt, version)  # type: ignore[arg-type]
        assert name == f"Lyra.{fmt}"
        again = parse_card(exported, name)
        assert comparable(again) == comparable(original)


async def test_an_imported_card_becomes_a_character_with_its_lore_and_avatar(
    database: Database,
) -> None:
    service = CharacterService(database)
    character = await service.import_card(
        1, 10, png_card(v2_document(name="Lyra")), "c.png", caller=OPERATOR
    )
    assert character.persona == (
        "{{char}} is a knight. <BOT> guards {{user}}.\n{{char}}'s personality: brave, dry humour"
    )
    assert character.greeting == "*salutes* Halt, {{user}}."
    assert character.alternate_greetings == ("*waves*", "Oh, it's you, {{user}}. Again.")
    assert character.system_prompt == "You are {{char}}. {{original}}"
    assert character.post_history_instructions == "Stay in character. {{original}}"
    assert character.example_mode is ExampleMode.GRADUAL
    avatar = await service.avatar(character.id)
    assert avatar is not None
    with Image.open(io.BytesIO(avatar)) as image:
        assert max(image.size) <= 512  # normalised like any avatar
    book = await LoreService(database).book(1, BookRef(character="Lyra"))
    assert book is not None and [e.keys for e in book.book.entries] == [
        ("castle", "keep"),
        ("moon",),
    ]


async def test_a_bad_file_is_refused_and_nothing_is_stored(database: Database) -> None:
    service = CharacterService(database)
    for data, name in (
        (b"\xff\xd8\xff\xe0 a jpeg", "x.jpg"),
        (b'{"spec": "chara_card_v2"}', "x.json"),
        (image_png(), "plain.png"),
    ):
        with pytest.raises(InvalidInput):
            await service.import_card(1, 10, data, name, caller=OPERATOR)
    assert await service.count(1) == 0


async def test_a_name_clash_suggests_another_name_and_name_overrides(
    database: Database,
) -> None:
    service = CharacterService(database)
    data = to_json(v2_document(name="Lyra"))
    await service.import_card(1, 10, data, "c.json", caller=OPERATOR)
    with pytest.raises(AlreadyExists, match="`name`"):
        await service.import_card(1, 11, data, "c.json", caller=OPERATOR)
    second = await service.import_card(
        1, 11, data, "c.json", name="Lyra the Second", nsfw=True, caller=OPERATOR
    )
    assert second.name == "Lyra the Second" and second.nsfw
    assert await service.count(1) == 2


async def test_a_card_name_galatea_cannot_use_asks_for_another(database: Database) -> None:
    service = CharacterService(database)
    data = to_json(v2_document(name="Dr. Who: Origins"))
    with pytest.raises(InvalidInput, match="another name"):
        await service.import_card(1, 10, data, "c.json", caller=OPERATOR)
    character = await service.import_card(1, 10, data, "c.json", name="Dr Who", caller=OPERATOR)
    exported, _ = await service.export_card(character.id, "json", 2)
    assert parse_card(exported).name == "Dr Who"


async def test_edits_after_import_reach_the_export_and_the_rest_stays(
    database: Database,
) -> None:
    service = CharacterService(database)
    original = parse_card(to_json(v3_document(name="Lyra")))
    character = await service.import_card(
        1, 10, to_json(v3_document(name="Lyra")), "c.json", caller=OPERATOR
    )
    edited = replace(CharacterDraft.of(character), persona="A retired knight.", greeting="Hello.")
    await service.update(character.id, edited, caller=OWNER)
    exported = parse_card((await service.export_card(character.id, "json", 3))[0])
    assert (exported.description, exported.personality) == ("A retired knight.", "")
    assert exported.first_mes == "Hello."
    unchanged = comparable(original)
    for field in ("description", "personality", "first_mes"):
        unchanged.pop(field)
    after = comparable(exported)
    assert {k: after[k] for k in unchanged} == unchanged


async def test_a_character_made_in_discord_exports_with_its_lore(database: Database) -> None:
    service = CharacterService(database)
    character = await service.create(
        1,
        10,
        CharacterDraft(
            name="Aqua",
            persona="A water goddess.",
            greeting="Hi {{user}}!",
            scenario="The guild.",
            example_dialogue="<START>\n{{user}}: hi\n{{char}}: hello",
        ),
        caller=OPERATOR,
    )
    await LoreService(database).add_entry(
        1,
        BookRef(character="Aqua"),
        EntryDraft(content="Eggs hatch in holy water.", keys=("egg",)),
        caller=OWNER,
    )
    card = parse_card((await service.export_card(character.id, "png", 2))[0])
    assert (card.name, card.description, card.first_mes, card.scenario) == (
        "Aqua",
        "A water goddess.",
        "Hi {{user}}!",
        "The guild.",
    )
    assert card.mes_example == "<START>\n{{user}}: hi\n{{char}}: hello"
    assert card.character_book is not None
    assert card.character_book.entries[0].content == "Eggs hatch in holy water."
    assert card.avatar_png is not None  # a placeholder image carries the card


async def test_export_versions_other_than_2_and_3_are_refused(database: Database) -> None:
    service = CharacterService(database)
    character = await service.create(
        1, 10, CharacterDraft(name="Aqua", persona="Goddess."), caller=OPERATOR
    )
    with pytest.raises(InvalidInput):
        await service.export_card(character.id, "json", 4)
