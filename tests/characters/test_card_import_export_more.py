"""Cards through the store, the parts SillyTavern users notice: lorebook-only characters,
talkativeness, the card's own image on export, more containers, and every card of the test
corpus round-tripping through SillyTavern's documented fields."""

from __future__ import annotations

import base64
import io
import json
import zipfile
from dataclasses import replace
from typing import Any

import pytest
from PIL import Image

from bot.characters.service import CharacterDraft, CharacterService
from bot.errors import InvalidInput
from bot.policy import OPERATOR, Caller
from bot.store import Database
from tests.cards.builders import (
    V1_DOCUMENT,
    b64,
    gradient,
    image_png,
    to_json,
    v2_document,
    v3_document,
)

OWNER = Caller(user_id=10, display_name="Owner")
# SillyTavern's documented card fields (the V2 spec's data object, which V3 extends).
SILLYTAVERN_FIELDS = (
    "name",
    "description",
    "personality",
    "scenario",
    "first_mes",
    "mes_example",
    "creator_notes",
    "system_prompt",
    "post_history_instructions",
    "alternate_greetings",
    "character_book",
    "tags",
    "creator",
    "character_version",
    "extensions",
)


def lorebook_only(**changes: Any) -> dict[str, Any]:
    return v2_document(description="", personality="", **changes)


def png_of(document: dict[str, Any], size: tuple[int, int] = (64, 64)) -> bytes:
    return image_png(size=size, chunks=[("chara", b64(document), "tEXt")])


def read_png_document(png: bytes, keyword: str = "chara") -> dict[str, Any]:
    with Image.open(io.BytesIO(png)) as img:
        img.load()
        return dict(json.loads(base64.b64decode(img.text[keyword])))


# --- lorebook-only cards -------------------------------------------------------------------


async def test_a_lorebook_only_card_is_imported(database: Database) -> None:
    service = CharacterService(database)
    character = await service.import_card(
        1, 10, to_json(lorebook_only(name="Vell")), "v.json", caller=OPERATOR
    )
    assert character.persona == ""
    assert character.greeting.startswith("*salutes*")
    # An edit of something else keeps the empty persona acceptable.
    edited = await service.update(
        character.id, replace(CharacterDraft.of(character), scenario="At night."), caller=OWNER
    )
    assert edited.scenario == "At night." and edited.persona == ""


async def test_a_lorebook_only_card_replaces_a_character_too(database: Database) -> None:
    service = CharacterService(database)
    character = await service.import_card(
        1, 10, to_json(lorebook_only(name="Vell")), "v.json", caller=OPERATOR
    )
    again = lorebook_only(name="Vell", scenario="At dawn.")
    replaced = await service.replace_from_card(1, "Vell", to_json(again), "v.json", caller=OWNER)
    assert (replaced.id, replaced.persona, replaced.scenario) == (character.id, "", "At dawn.")


async def test_a_card_with_nothing_at_all_still_needs_a_persona(database: Database) -> None:
    empty = {"name": "Blank", "description": "", "first_mes": ""}
    with pytest.raises(InvalidInput, match="needs a persona"):
        await CharacterService(database).import_card(
            1, 10, to_json(empty), "b.json", caller=OPERATOR
        )


async def test_a_character_made_in_discord_still_needs_a_persona(database: Database) -> None:
    with pytest.raises(InvalidInput, match="needs a persona"):
        await CharacterService(database).create(
            1, 10, CharacterDraft(name="X", persona=" "), caller=OPERATOR
        )


async def test_a_card_name_with_invisible_characters_exports_as_the_card_wrote_it(
    database: Database,
) -> None:
    service = CharacterService(database)
    document = v2_document(name="Ve\u200bll")
    character = await service.import_card(1, 10, to_json(document), "v.json", caller=OPERATOR)
    assert character.name == "Vell"
    exported, _ = await service.export_card(character.id, "json", 2)
    assert json.loads(exported)["data"]["name"] == "Ve\u200bll"


# --- talkativeness --------------------------------------------------------------------------


@pytest.mark.parametrize(("stored", "expected"), [("0.3", 0.3), (0.8, 0.8), ("7", 1.0), ("x", 0.5)])
async def test_talkativeness_is_imported_from_the_cards_extensions(
    database: Database, stored: object, expected: float
) -> None:
    document = v2_document(name="T", extensions={"talkativeness": stored})
    character = await CharacterService(database).import_card(
        1, 10, to_json(document), "t.json", caller=OPERATOR
    )
    assert character.talkativeness == expected


@pytest.mark.parametrize(("stored", "written"), [("0.3", "0.9"), (0.3, 0.9)])
async def test_talkativeness_round_trips_and_an_edit_is_written_back(
    database: Database, stored: object, written: object
) -> None:
    service = CharacterService(database)
    document = v2_document(name="T", extensions={"talkativeness": stored, "fav": True})
    character = await service.import_card(1, 10, to_json(document), "t.json", caller=OPERATOR)
    unchanged, _ = await service.export_card(character.id, "json", 2)
    assert json.loads(unchanged)["data"]["extensions"] == document["data"]["extensions"]
    await service.update(
        character.id, replace(CharacterDraft.of(character), talkativeness=0.9), caller=OWNER
    )
    edited, _ = await service.export_card(character.id, "json", 3)
    extensions = json.loads(edited)["data"]["extensions"]
    assert extensions == {**document["data"]["extensions"], "talkativeness": written}


# --- the card's own image -------------------------------------------------------------------


async def test_export_carries_the_cards_own_image_not_the_discord_thumbnail(
    database: Database,
) -> None:
    service = CharacterService(database)
    upload = png_of(v2_document(name="Big"), size=(900, 1200))
    character = await service.import_card(1, 10, upload, "big.png", caller=OPERATOR)
    thumbnail = await service.avatar(character.id)
    assert thumbnail is not None
    with Image.open(io.BytesIO(thumbnail)) as img:
        assert max(img.size) == 512
    exported, _ = await service.export_card(character.id, "png", 3)
    with Image.open(io.BytesIO(exported)) as img:
        assert img.size == (900, 1200)
        original = gradient((900, 1200), "RGB")
        assert img.convert("RGB").getpixel((450, 600)) == original.getpixel((450, 600))


async def test_a_new_avatar_is_also_the_image_the_card_exports_with(database: Database) -> None:
    service = CharacterService(database)
    character = await service.import_card(
        1, 10, png_of(v2_document(name="Re"), (900, 1200)), "r.png", caller=OPERATOR
    )
    new_avatar = Image.new("RGB", (100, 50), "red")
    buffer = io.BytesIO()
    new_avatar.save(buffer, format="PNG")
    await service.update(
        character.id, CharacterDraft.of(character), avatar_png=buffer.getvalue(), caller=OWNER
    )
    exported, _ = await service.export_card(character.id, "png", 2)
    with Image.open(io.BytesIO(exported)) as img:
        assert img.size == (100, 50)


async def test_a_card_replacing_a_character_brings_its_own_image_for_export(
    database: Database,
) -> None:
    service = CharacterService(database)
    await service.import_card(
        1, 10, png_of(v2_document(name="Re"), (900, 1200)), "r.png", caller=OPERATOR
    )
    await service.replace_from_card(
        1, "Re", png_of(v2_document(name="Re"), (700, 800)), caller=OWNER
    )
    character = await service.find(1, "Re")
    exported, _ = await service.export_card(character.id, "png", 2)
    with Image.open(io.BytesIO(exported)) as img:
        assert img.size == (700, 800)


# --- more containers, through the service ---------------------------------------------------


async def test_charx_and_webp_cards_import_as_characters(database: Database) -> None:
    service = CharacterService(database)
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as zf:
        zf.writestr("card.json", to_json(v3_document(name="Zip")))
    exif = Image.Exif()
    exif[0x9286] = to_json(v2_document(name="Webby"))
    webp = io.BytesIO()
    gradient((40, 40), "RGB").save(webp, format="WEBP", exif=exif.tobytes())
    assert (
        await service.import_card(1, 10, zipped.getvalue(), "zip.charx", caller=OPERATOR)
    ).name == "Zip"
    webby = await service.import_card(1, 10, webp.getvalue(), "w.webp", caller=OPERATOR)
    assert webby.name == "Webby" and webby.has_avatar


# --- the corpus round trip ------------------------------------------------------------------

# What SillyTavern's reader takes from each lorebook entry of a card (its world-info import).
ENTRY_FIELDS = ("keys", "secondary_keys", "content", "enabled", "insertion_order", "constant")


def entries_as_read(book: dict[str, Any]) -> list[dict[str, Any]]:
    return [{k: entry.get(k) for k in ENTRY_FIELDS} for entry in book["entries"]]


CORPUS = {
    "v1-json": (to_json(V1_DOCUMENT), "bob.json"),
    "v2-json": (to_json(v2_document()), "alice.json"),
    "v3-json": (to_json(v3_document()), "alice.json"),
    "v2-png": (png_of(v2_document()), "alice.png"),
    "v3-png": (image_png(chunks=[("ccv3", b64(v3_document()), "tEXt")]), "alice.png"),
    "lorebook-only": (to_json(lorebook_only()), "alice.json"),
    "talkative-number": (to_json(v2_document(extensions={"talkativeness": 0.25})), "a.json"),
}


@pytest.mark.parametrize("key", sorted(CORPUS))
@pytest.mark.parametrize(("fmt", "version"), [("json", 2), ("json", 3), ("png", 2), ("png", 3)])
async def test_every_corpus_card_round_trips_through_sillytaverns_documented_fields(
    database: Database, key: str, fmt: str, version: int
) -> None:
    data, filename = CORPUS[key]
    source = (
        json.loads(data)
        if filename.endswith(".json")
        else read_png_document(data, "ccv3" if key == "v3-png" else "chara")
    )
    source_data = source.get("data", source)  # V1 cards are flat
    service = CharacterService(database)
    character = await service.import_card(1, 10, data, filename, caller=OPERATOR)
    exported, _ = await service.export_card(character.id, fmt, version)  # type: ignore[arg-type]
    if fmt == "json":
        document = json.loads(exported)
    else:
        document = read_png_document(exported, "ccv3" if version == 3 else "chara")
        if version == 3:  # SillyTavern reads V2 from chara next to ccv3
            assert read_png_document(exported)["spec"] == "chara_card_v2"
    assert document["spec"] == f"chara_card_v{version}"
    assert document["spec_version"] == f"{version}.0"
    for field in SILLYTAVERN_FIELDS:
        if field == "character_book" and field in source_data:
            assert entries_as_read(document["data"][field]) == entries_as_read(source_data[field])
        elif field in source_data:
            assert document["data"][field] == source_data[field], field
    for field in ("name", "description", "personality", "scenario", "first_mes", "mes_example"):
        assert document[field] == document["data"][field]  # SillyTavern's root mirror
