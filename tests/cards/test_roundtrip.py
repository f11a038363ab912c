"""Import every card version and format, export again, import that: nothing changes."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import pytest
from PIL import Image

from bot.cards import (
    CharacterCard,
    LoreBook,
    LoreEntry,
    export_card_json,
    export_card_png,
    import_card_async,
    parse_card,
)
from tests.cards.builders import (
    DATA_V2,
    DATA_V3,
    V1_DOCUMENT,
    b64,
    gradient,
    image_png,
    insert_before_iend,
    png_text,
    text_chunk,
    to_json,
    v2_document,
    v3_document,
)


def plain(value: object) -> object:
    """Tuples as lists, the way the JSON had them."""
    if isinstance(value, tuple | list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def assert_has_data(card: CharacterCard, data: dict[str, Any]) -> None:
    """Every key of a card's ``data`` object landed in the matching typed field."""
    for key, expected in data.items():
        if key == "character_book":
            assert card.character_book is not None
            assert_book(card.character_book, expected)
        elif key == "assets":
            assert card.assets is not None
            assert [a.model_dump() for a in card.assets] == expected
        else:
            assert plain(getattr(card, key)) == expected, key


def assert_book(book: LoreBook, expected: dict[str, Any]) -> None:
    for key, value in expected.items():
        if key == "entries":
            assert len(book.entries) == len(value)
            for entry, expected_entry in zip(book.entries, value, strict=True):
                assert_entry(entry, expected_entry)
        else:
            assert plain(getattr(book, key)) == value, key


def assert_entry(entry: LoreEntry, expected: dict[str, Any]) -> None:
    for key, value in expected.items():
        assert plain(getattr(entry, key)) == value, key


def chunk_document(png: bytes, keyword: str) -> dict[str, Any]:
    return json.loads(base64.b64decode(png_text(png)[keyword]))


# --- V1 -----------------------------------------------------------------------------------


def test_v1_json_maps_every_field() -> None:
    card = parse_card(to_json(V1_DOCUMENT), "bob.json")
    assert card.spec_version == "1.0"
    assert_has_data(card, V1_DOCUMENT)
    assert card.avatar_png is None
    assert card.character_book is None
    assert card.alternate_greetings == () and card.tags == () and card.extensions == {}


@pytest.mark.parametrize("version", [2, 3])
def test_v1_card_exports_and_imports_unchanged(version: int) -> None:
    card = parse_card(to_json(V1_DOCUMENT))
    again = parse_card(export_card_json(card, version))  # type: ignore[arg-type]
    assert again == card.model_copy(update={"spec_version": f"{version}.0"})


# --- V2 -----------------------------------------------------------------------------------


def test_v2_json_maps_every_field() -> None:
    card = parse_card(to_json(v2_document()), "alice.json")
    assert card.spec_version == "2.0"
    assert_has_data(card, DATA_V2)
    entry = card.character_book.entries[1]  # type: ignore[union-attr]
    # Optional entry fields the card did not have stay unset, so export leaves them out.
    assert entry.name is None and entry.secondary_keys is None and entry.use_regex is False
    assert card.nickname is None and card.assets is None and card.group_only_greetings == ()


def test_v2_json_export_reproduces_the_document_exactly() -> None:
    document = v2_document()
    card = parse_card(to_json(document))
    exported = export_card_json(card, 2)
    assert json.loads(exported) == document  # unknown extension keys included
    assert parse_card(exported) == card


def test_v2_png_maps_the_same_card_and_keeps_a_clean_avatar() -> None:
    document = v2_document()
    png = image_png(chunks=[("chara", b64(document), "tEXt")])
    card = parse_card(png, "alice.png")
    assert card.model_copy(update={"avatar_png": None}) == parse_card(to_json(document))
    assert card.avatar_png is not None
    assert png_text(card.avatar_png) == {}  # the card chunks are gone from the avatar
    with Image.open(io.BytesIO(card.avatar_png)) as avatar:
        assert avatar.tobytes() == gradient((24, 32), "RGB").tobytes()


def test_v2_png_export_writes_only_chara_and_imports_unchanged() -> None:
    document = v2_document()
    card = parse_card(image_png(chunks=[("chara", b64(document), "tEXt")]))
    exported = export_card_png(card, 2)
    assert set(png_text(exported)) == {"chara"}
    assert chunk_document(exported, "chara") == document
    assert parse_card(exported) == card


# --- V3 -----------------------------------------------------------------------------------


def test_v3_json_maps_every_field() -> None:
    card = parse_card(to_json(v3_document()))
    assert card.spec_version == "3.0"
    assert_has_data(card, DATA_V3)
    assert card.display_name == "Ali"


def test_v3_json_export_reproduces_the_document_exactly() -> None:
    document = v3_document()
    card = parse_card(to_json(document))
    exported = export_card_json(card, 3)
    assert json.loads(exported) == document
    assert parse_card(exported) == card


def test_v3_png_prefers_ccv3_over_chara() -> None:
    fallback = v2_document(name="Alice (V2 copy)")
    png = image_png(chunks=[("chara", b64(fallback), "tEXt"), ("ccv3", b64(v3_document()), "tEXt")])
    card = parse_card(png)
    assert card.spec_version == "3.0"
    assert card.name == "Alice"
    assert_has_data(card, DATA_V3)


def test_v3_png_export_writes_ccv3_and_a_v2_compatible_chara() -> None:
    card = parse_card(image_png(chunks=[("ccv3", b64(v3_document()), "tEXt")]))
    exported = export_card_png(card, 3)
    assert set(png_text(exported)) == {"chara", "ccv3"}
    assert chunk_document(exported, "ccv3") == v3_document()
    v2 = chunk_document(exported, "chara")
    assert (v2["spec"], v2["spec_version"]) == ("chara_card_v2", "2.0")
    assert parse_card(exported) == card
    # An app that reads only `chara` still gets the whole card, V3 fields included.
    only_chara = image_png(chunks=[("chara", png_text(exported)["chara"], "tEXt")])
    from_chara = parse_card(only_chara)
    assert from_chara.spec_version == "2.0"
    assert from_chara.model_copy(update={"spec_version": "3.0", "avatar_png": None}) == (
        card.model_copy(update={"avatar_png": None})
    )


@pytest.mark.parametrize("version", [2, 3])
def test_json_card_exported_as_png_gets_a_placeholder_and_imports_unchanged(version: int) -> None:
    card = parse_card(to_json(v3_document() if version == 3 else v2_document()))
    again = parse_card(export_card_png(card, version))  # type: ignore[arg-type]
    assert again.avatar_png is not None
    with Image.open(io.BytesIO(again.avatar_png)) as placeholder:
        assert placeholder.size == (400, 600)
    assert again.model_copy(update={"avatar_png": None}) == card


@pytest.mark.parametrize("version", [2, 3])
def test_exporting_an_imported_png_twice_gives_the_same_bytes(version: int) -> None:
    card = parse_card(image_png(chunks=[("ccv3", b64(v3_document()), "tEXt")]))
    first = export_card_png(card, version)  # type: ignore[arg-type]
    second = export_card_png(parse_card(first), version)  # type: ignore[arg-type]
    assert first == second


# --- where and how the chunk is stored ----------------------------------------------------


@pytest.mark.parametrize("kind", ["tEXt", "zTXt", "iTXt"])
@pytest.mark.parametrize("keyword", ["chara", "ccv3"])
def test_card_chunk_may_be_any_text_chunk_type(kind: str, keyword: str) -> None:
    png = image_png(chunks=[(keyword, b64(v3_document()), kind)])  # type: ignore[list-item]
    assert_has_data(parse_card(png), DATA_V3)


def test_card_chunk_after_the_image_data_is_found() -> None:
    # SillyTavern writes its chunks just before IEND, after the pixels.
    png = insert_before_iend(image_png(), text_chunk("chara", b64(v2_document())))
    assert_has_data(parse_card(png), DATA_V2)


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "LA", "P", "1", "I;16"])
def test_avatar_survives_import_and_export_in_every_png_mode(mode: str) -> None:
    png = image_png(mode=mode, chunks=[("chara", b64(v2_document()), "tEXt")])
    card = parse_card(png)
    assert card.avatar_png is not None
    with Image.open(io.BytesIO(png)) as original, Image.open(io.BytesIO(card.avatar_png)) as avatar:
        assert avatar.mode == original.mode
        assert avatar.convert("RGBA").tobytes() == original.convert("RGBA").tobytes()
    again = parse_card(export_card_png(card, 3))
    assert again.avatar_png == card.avatar_png
    assert again.model_copy(update={"spec_version": "2.0"}) == card


def test_animated_card_imports_with_its_first_frame_as_avatar() -> None:
    frames = [gradient((16, 16), "RGB"), Image.new("RGB", (16, 16), "red")]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="PNG", save_all=True, append_images=frames[1:], duration=100)
    png = insert_before_iend(buffer.getvalue(), text_chunk("chara", b64(v2_document())))
    card = parse_card(png)
    assert_has_data(card, DATA_V2)
    with Image.open(io.BytesIO(card.avatar_png)) as avatar:  # type: ignore[arg-type]
        assert not getattr(avatar, "is_animated", False)
        assert avatar.tobytes() == frames[0].tobytes()


def test_export_converts_a_jpeg_avatar_to_png() -> None:
    buffer = io.BytesIO()
    gradient((30, 20), "RGB").save(buffer, format="JPEG")
    card = CharacterCard(name="Jay", avatar_png=buffer.getvalue())
    again = parse_card(export_card_png(card, 2))
    with Image.open(io.BytesIO(again.avatar_png)) as avatar:  # type: ignore[arg-type]
        assert (avatar.format, avatar.size) == ("PNG", (30, 20))


# --- what no spec names -------------------------------------------------------------------


def test_unknown_keys_survive_import_and_export() -> None:
    book = {**DATA_V2["character_book"], "x_book": [1, 2]}
    book["entries"] = [{**book["entries"][0], "x_entry": {"a": None}}]
    document = v2_document(character_book=book, x_app_data={"mood": "happy"})
    card = parse_card(to_json(document))
    assert card.extra_fields == {"x_app_data": {"mood": "happy"}}
    assert card.character_book.extra_fields == {"x_book": [1, 2]}  # type: ignore[union-attr]
    assert card.character_book.entries[0].extra_fields == {"x_entry": {"a": None}}  # type: ignore[union-attr]
    for version in (2, 3):
        exported = json.loads(export_card_json(card, version))  # type: ignore[arg-type]
        assert exported["data"]["x_app_data"] == {"mood": "happy"}
        assert exported["data"]["character_book"]["x_book"] == [1, 2]
        assert exported["data"]["character_book"]["entries"][0]["x_entry"] == {"a": None}
    assert parse_card(export_card_json(card, 2)) == card


def test_lone_surrogate_from_a_cut_emoji_survives_json_export() -> None:
    document = v2_document(description="half an emoji: \ud83d")
    card = parse_card(json.dumps(document).encode("ascii"))
    exported = export_card_json(card, 2)
    assert parse_card(exported) == card
    assert parse_card(export_card_png(card, 2)).description == card.description


async def test_import_card_async_runs_the_parser_in_a_thread() -> None:
    png = image_png(chunks=[("chara", b64(v2_document()), "tEXt")])
    assert await import_card_async(png, "alice.png") == parse_card(png)
