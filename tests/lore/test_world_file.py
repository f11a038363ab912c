"""World info files: SillyTavern's world JSON and chub's lorebook in, SillyTavern's out."""

from __future__ import annotations

import codecs
import json
from typing import Any

import pytest

from bot.cards import limits
from bot.errors import InvalidInput
from bot.lore.scan import scan_book
from bot.lore.world_file import (
    MAX_WORLD_CONTAINERS,
    WORLD_FILE_MAX_BYTES,
    encode_world_file,
    parse_world_file,
    world_info_document,
)
from tests.lore.worlds import CHUB_LOREBOOK, ST_WORLD, st_entry, st_world, to_bytes


def test_a_sillytavern_world_round_trips_with_every_field_sillytavern_documents() -> None:
    book = parse_world_file(to_bytes(ST_WORLD))
    assert len(book.entries) == 3
    again = json.loads(encode_world_file(book, WORLD_FILE_MAX_BYTES))
    assert again == ST_WORLD


def test_an_imported_world_scans_as_sillytavern_would() -> None:
    book = parse_world_file(to_bytes(ST_WORLD))
    found = scan_book(
        book, ["Bob: the castle keep", "Bob: a DRAKE by the gate"], char="Aqua", user="Bob"
    )
    # castle + gate (AND ALL), the regex key; the moon entry is disabled
    assert [a.content for a in found] == [
        "The castle of Aqua stands on a cliff.",
        "Dragons breathe fire.",
    ]
    assert [a.before_char for a in found] == [True, False]  # position 0, then 4 (at depth)


def test_a_chub_lorebook_imports_with_its_settings_and_exports_for_sillytavern() -> None:
    book = parse_world_file(to_bytes(CHUB_LOREBOOK))
    assert (book.name, book.scan_depth, book.token_budget, book.recursive_scanning) == (
        "Axel",
        6,
        400,
        True,
    )
    lake = book.entries[1]
    assert lake.extensions["selectiveLogic"] == 3  # chub writes it beside the fields
    found = scan_book(book, ["Bob: the lake at night"], char="A", user="B")
    assert [a.content for a in found] == ["The lake glows at night."]
    st = world_info_document(book)["entries"]
    assert isinstance(st, dict)
    guild = st["1"]
    assert isinstance(guild, dict)
    assert (guild["key"], guild["comment"], guild["position"], guild["order"]) == (
        ["guild", "adventurers"],
        "Guild",
        1,
        10,
    )
    assert st["2"]["comment"] == "Lake"  # type: ignore[index]  # the name, where ST reads it


def test_a_v3_lorebook_file_reads_too() -> None:
    document = {"spec": "lorebook_v3", "data": CHUB_LOREBOOK}
    assert len(parse_world_file(to_bytes(document)).entries) == 2


def test_exported_uids_are_unique_whole_numbers() -> None:
    book = parse_world_file(
        to_bytes({"entries": [{**CHUB_LOREBOOK["entries"][0], "id": "risu-uuid"}] * 3})
    )
    uids = [e["uid"] for e in world_info_document(book)["entries"].values()]  # type: ignore[union-attr]
    assert sorted(uids) == [0, 1, 2]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not valid JSON"),
        (b"\xff\xfe\x00garbage", "not"),
        (b'{"entries": ', "not valid JSON"),
        (b"[1, 2]", "no object"),
        (b'{"name": "x"}', "no `entries`"),
        (b'{"spec": "chara_card_v2", "data": {"name": "x"}}', "/character import"),
        (to_bytes({"entries": {"0": "text"}}), "Entry 1"),
        (to_bytes({"entries": {"0": st_entry(0, order="soon")}}), "Entry 1"),
        (b"[" * 100 + b"]" * 100, "nested too deeply"),
    ],
)
def test_bad_files_get_a_sentence_naming_the_problem(data: bytes, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as caught:
        parse_world_file(data)
    assert "\n" not in caught.value.user_message


def test_sizes_and_counts_are_checked_before_entries_are_built() -> None:
    with pytest.raises(InvalidInput, match="at most 10 MiB"):
        parse_world_file(b" " * (WORLD_FILE_MAX_BYTES + 1))
    many: dict[str, Any] = {"entries": [{"keys": ["a"], "content": "x"}] * 1_001}
    with pytest.raises(InvalidInput, match="1,001 entries"):
        parse_world_file(to_bytes(many))
    keys = st_world(**{"9": st_entry(9, key=["k"] * (limits.MAX_LIST_ITEMS + 1))})
    with pytest.raises(InvalidInput, match="1,001 keys"):
        parse_world_file(to_bytes(keys))
    long_text = {"entries": [{"keys": ["a"], "content": "x" * (limits.MAX_TEXT_CHARS + 1)}]}
    with pytest.raises(InvalidInput, match="100,001 characters"):
        parse_world_file(to_bytes(long_text))


@pytest.mark.parametrize("bom", [b"", codecs.BOM_UTF16_LE])
def test_a_file_of_empty_lists_and_objects_is_refused_before_it_is_parsed(bom: bytes) -> None:
    # 10 MiB of "{}," parsed would take over 500 MB; counted first, it takes a few.
    body = b'{"entries": [' + b"{}," * (MAX_WORLD_CONTAINERS + 1) + b"{}]}"
    data = bom + body.decode().encode("utf-16-le") if bom else body
    with pytest.raises(InvalidInput, match="too many lists and objects"):
        parse_world_file(data)
    world = {"entries": [{**st_entry(i), "extensions": {"a": [{}] * 20}} for i in range(1_000)]}
    assert len(parse_world_file(to_bytes(world)).entries) == 1_000  # a rich world still reads


def test_an_export_too_large_for_discord_is_refused_politely() -> None:
    book = parse_world_file(to_bytes(ST_WORLD))
    with pytest.raises(InvalidInput, match="Discord lets a bot send"):
        encode_world_file(book, 500)
    indented = encode_world_file(book, WORLD_FILE_MAX_BYTES)
    compact = encode_world_file(book, len(indented) - 1)  # falls back to compact JSON
    assert json.loads(compact) == json.loads(indented) and len(compact) < len(indented)
