"""Real-world cards bend the spec; these are the bends we accept and how we read them."""

from __future__ import annotations

import base64
import codecs
import json
from typing import Any

import pytest

from bot.cards import parse_card
from tests.cards.builders import (
    DATA_V2,
    V1_DOCUMENT,
    b64,
    image_png,
    to_json,
    v2_document,
    v3_document,
)


def parse_v2(**data: Any) -> Any:
    return parse_card(to_json({"spec": "chara_card_v2", "spec_version": "2.0", "data": data}))


def test_nulls_read_as_empty_and_defaults() -> None:
    card = parse_v2(
        name="Nul",
        description=None,
        personality=None,
        alternate_greetings=None,
        tags=None,
        extensions=None,
        character_book=None,
        creator=None,
        character_version=None,
    )
    assert (card.description, card.personality, card.creator, card.character_version) == (
        "",
        "",
        "",
        "",
    )
    assert card.alternate_greetings == () and card.tags == () and card.extensions == {}
    assert card.character_book is None


def test_missing_optional_fields_take_spec_defaults() -> None:
    card = parse_v2(name="Min")
    assert card.first_mes == "" and card.system_prompt == "" and card.extensions == {}


@pytest.mark.parametrize(("raw", "text"), [(1.2, "1.2"), (3, "3"), ("v1.0", "v1.0"), (1.0, "1.0")])
def test_character_version_as_a_number_becomes_text(raw: object, text: str) -> None:
    assert parse_v2(name="V", character_version=raw).character_version == text


def test_tags_as_a_comma_string() -> None:
    assert parse_v2(name="T", tags="fantasy, knight,, female ").tags == (
        "fantasy",
        "knight",
        "female",
    )


def test_a_lone_greeting_string_is_one_greeting_even_with_commas() -> None:
    card = parse_v2(name="G", alternate_greetings="Hi, there.", group_only_greetings="")
    assert card.alternate_greetings == ("Hi, there.",)
    assert card.group_only_greetings == ()


def test_null_items_in_lists_are_dropped_and_numbers_become_text() -> None:
    assert parse_v2(name="L", tags=["a", None, 7]).tags == ("a", "7")


def test_extensions_as_an_empty_array_mean_empty() -> None:
    assert parse_v2(name="E", extensions=[]).extensions == {}


def test_sloppy_lorebook() -> None:
    book = {
        "entries": {
            "0": {"keys": "castle, keep", "content": "c", "enabled": None, "insertion_order": "5"},
            "1": {
                "keys": ["x"],
                "content": None,
                "position": 1,
                "secondary_keys": "a,b",
                "priority": "",
                "case_sensitive": "false",
                "id": "abc",
            },
            "2": {"keys": [], "content": "z", "position": "sideways", "insertion_order": None},
        },
        "extensions": None,
        "scan_depth": "4",
    }
    card = parse_v2(name="B", character_book=book)
    first, second, third = card.character_book.entries  # type: ignore[union-attr]
    assert first.keys == ("castle", "keep") and first.enabled is True
    assert first.insertion_order == 5
    assert second.content == "" and second.position == "after_char"
    assert second.secondary_keys == ("a", "b") and second.priority is None
    assert second.case_sensitive is False and second.id == "abc"
    assert third.position is None and third.insertion_order == 0
    assert card.character_book.scan_depth == 4  # type: ignore[union-attr]


def test_name_is_trimmed() -> None:
    assert parse_v2(name="  Alice\n").name == "Alice"


def test_v2_without_spec_is_read_from_data() -> None:
    card = parse_card(to_json({"data": dict(DATA_V2)}))
    assert card.spec_version == "2.0" and card.name == "Alice"


def test_v2_data_missing_a_v1_field_takes_it_from_the_root() -> None:
    document = v2_document()
    del document["data"]["scenario"]
    document["scenario"] = "From the root."
    assert parse_card(to_json(document)).scenario == "From the root."


def test_data_wins_over_the_root_copy() -> None:
    document = v2_document()
    document["description"] = "stale root copy"
    assert parse_card(to_json(document)).description == DATA_V2["description"]


@pytest.mark.parametrize("version", [None, "2", "2.1", 2, 2.0])
def test_v2_spec_version_variants(version: object) -> None:
    document = v2_document()
    if version is None:
        del document["spec_version"]
    else:
        document["spec_version"] = version
    assert parse_card(to_json(document)).spec_version == "2.0"


@pytest.mark.parametrize("version", [None, "3", "3.5", 3.0])
def test_v3_spec_version_variants(version: object) -> None:
    document = v3_document()
    if version is None:
        del document["spec_version"]
    else:
        document["spec_version"] = version
    assert parse_card(to_json(document)).spec_version == "3.0"


def test_pygmalion_field_names() -> None:
    document = {
        "char_name": "Pyg",
        "char_persona": "A persona.",
        "world_scenario": "A world.",
        "char_greeting": "Hello.",
        "example_dialogue": "<START>\nYou: hi",
    }
    card = parse_card(to_json(document))
    assert (card.name, card.description, card.scenario, card.first_mes, card.mes_example) == (
        "Pyg",
        "A persona.",
        "A world.",
        "Hello.",
        "<START>\nYou: hi",
    )
    assert card.spec_version == "1.0"


def test_v1_app_metadata_is_not_carried_over() -> None:
    document = {**V1_DOCUMENT, "avatar": "bob.png", "chat": "Bob - 2023", "talkativeness": "0.5"}
    card = parse_card(to_json(document))
    assert card.extra_fields == {} and card.extensions == {}


def test_utf8_bom_and_leading_whitespace() -> None:
    assert parse_card(codecs.BOM_UTF8 + b"\n  " + to_json(V1_DOCUMENT)).name == "Bob"


def test_utf16_json_from_a_windows_editor() -> None:
    data = json.dumps(V1_DOCUMENT, ensure_ascii=False).encode("utf-16")
    assert parse_card(data, "bob.json").name == "Bob"


def test_non_ascii_text_survives() -> None:
    card = parse_v2(name="Ærøskøbing 東京", description="émoji 🐉")
    assert card.name == "Ærøskøbing 東京" and card.description == "émoji 🐉"
    png = image_png(chunks=[("chara", b64(v2_document(name="東京")), "tEXt")])
    assert parse_card(png).name == "東京"


@pytest.mark.parametrize(
    "encode",
    [
        lambda raw: base64.b64encode(raw).decode().rstrip("="),  # padding dropped
        lambda raw: base64.encodebytes(raw).decode(),  # wrapped at 76 columns
        lambda raw: base64.urlsafe_b64encode(raw).decode(),  # URL-safe alphabet
        lambda raw: raw.decode("utf-8"),  # the JSON itself, no base64 at all
    ],
    ids=["unpadded", "wrapped", "urlsafe", "raw-json"],
)
def test_chunk_encoding_variants(encode: Any) -> None:
    value = encode(to_json(v2_document(description="ascii only >>> ???")))
    png = image_png(chunks=[("chara", value, "iTXt")])
    assert parse_card(png).name == "Alice"


def test_keyword_case_is_ignored() -> None:
    png = image_png(chunks=[("Chara", b64(v2_document()), "tEXt")])
    assert parse_card(png).name == "Alice"


def test_a_broken_ccv3_falls_back_to_chara() -> None:
    png = image_png(
        chunks=[("ccv3", "not base64 !!!", "tEXt"), ("chara", b64(v2_document()), "tEXt")]
    )
    card = parse_card(png)
    assert card.spec_version == "2.0" and card.name == "Alice"


def test_v3_json_in_a_chara_chunk_is_read_as_v3() -> None:
    png = image_png(chunks=[("chara", b64(v3_document()), "tEXt")])
    assert parse_card(png).spec_version == "3.0"
