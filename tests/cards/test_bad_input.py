"""Every way a card file can be wrong gives InvalidInput with a sentence naming the problem."""

from __future__ import annotations

import base64
import io
import json
import struct
import time
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image, PngImagePlugin

from bot.cards import CharacterCard, LoreBook, LoreEntry, export_card_png, parse_card
from bot.cards.limits import (
    DEFAULT_MAX_BYTES,
    MAX_LIST_ITEMS,
    MAX_LORE_ENTRIES,
    MAX_NAME_CHARS,
    MAX_TEXT_CHARS,
    MAX_TOTAL_CHARS,
)
from bot.errors import InvalidInput
from testkit.png_files import chunk, raw_png, zlib_bomb
from tests.cards.builders import (
    V1_DOCUMENT,
    b64,
    image_png,
    to_json,
    v2_document,
    v3_document,
)


def refused(data: bytes, *fragments: str, filename: str | None = None, **kwargs: Any) -> str:
    """Parse ``data``, expect InvalidInput whose message contains every fragment."""
    with pytest.raises(InvalidInput) as caught:
        parse_card(data, filename, **kwargs)
    message = caught.value.user_message
    for fragment in fragments:
        assert fragment in message, message
    return message


def card_png(value: str, keyword: str = "chara") -> bytes:
    return image_png(chunks=[(keyword, value, "tEXt")])


# --- the file as a whole ------------------------------------------------------------------


def test_file_over_the_size_limit() -> None:
    refused(to_json(V1_DOCUMENT), "over the 100 bytes limit", max_bytes=100)


def test_file_over_the_default_limit() -> None:
    refused(b"{" + b" " * DEFAULT_MAX_BYTES, "20.0 MiB limit")


def test_empty_file() -> None:
    refused(b"", "empty")


@pytest.mark.parametrize(
    ("data", "filename", "fragment"),
    [
        (b"hello, I am just some text", None, "neither a PNG, WebP or CHARX card nor a JSON"),
        (b"\xff\xd8\xff\xe0" + bytes(64), "alice.jpg", "a JPEG image without a card"),
        (b"GIF89a" + bytes(64), None, "a GIF image"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 " + bytes(64), "alice.webp", "a WebP image but is damaged"),
        (b"PK\x03\x04" + bytes(64), "alice.charx", "CHARX (zip) file is damaged"),
        (b"PK\x03\x04" + bytes(64), "alice.zip", "CHARX (zip) file is damaged"),
        (b"not a charx", "alice.charx", "named like a CHARX card but is not a zip"),
        (b"not a png at all", "alice.png", "named like a PNG but is not a PNG"),
    ],
)
def test_not_a_png_nor_json(data: bytes, filename: str | None, fragment: str) -> None:
    refused(data, fragment, filename=filename)


# --- broken PNGs --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def good_png() -> bytes:
    return image_png(size=(64, 64), chunks=[("chara", b64(v2_document()), "tEXt")])


@pytest.mark.parametrize("keep", [4, 8, 20, 40, 0.5, -13, -12])
def test_truncated_png(good_png: bytes, keep: float) -> None:
    cut = int(len(good_png) * keep) if isinstance(keep, float) else keep
    refused(good_png[:cut], "truncated or damaged")


def test_png_with_a_bad_checksum(good_png: bytes) -> None:
    damaged = bytearray(good_png)
    damaged[40] ^= 0xFF  # inside the first chunk after IHDR
    refused(bytes(damaged), "truncated or damaged")


def test_png_with_garbage_image_data() -> None:
    refused(raw_png(8, 8, idat=b"definitely not zlib"), "truncated or damaged")


def test_png_without_a_card_chunk() -> None:
    refused(image_png(), "no character card in it")


def test_png_with_only_other_text_chunks() -> None:
    png = image_png(chunks=[("Software", "Paint", "tEXt"), ("Comment", "hi", "zTXt")])
    refused(png, "no character card in it")


# --- the card chunk -----------------------------------------------------------------------


def test_invalid_base64() -> None:
    refused(card_png("this is not base64!"), "not valid base64")


def test_base64_of_something_that_is_not_text() -> None:
    refused(card_png(base64.b64encode(b"\xff\xfe\x00garbage\x80").decode()), "not valid UTF-8")


def test_base64_of_invalid_json() -> None:
    refused(card_png(base64.b64encode(b'{"name": "Alice",').decode()), "not valid JSON")


def test_both_chunks_broken_reports_the_ccv3_problem() -> None:
    png = image_png(chunks=[("ccv3", "!!!", "tEXt"), ("chara", "###", "tEXt")])
    refused(png, "'ccv3'", "not valid base64")


# --- the JSON -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b'{"name": "Alice", }', "not valid JSON"),
        (b'{"name": NaN, "description": "x"}', "not valid JSON"),
        (b'{"name": "x", "n": 1' + b"1" * 5000 + b"}", "not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"name": "x", "extensions": ' + b'{"a": ' * 70 + b"1" + b"}" * 71, "nested too deeply"),
        (b"\x80\x81{}", "not valid UTF-8"),
    ],
    ids=["syntax", "nan", "huge-int", "recursion", "depth", "utf8"],
)
def test_invalid_json(data: bytes, fragment: str) -> None:
    refused(data, fragment, filename="card.json")


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        ([V1_DOCUMENT], "not a character card: it is a list"),
        ("just a string", "not a character card"),
        ({"foo": 1, "bar": [2]}, "not a character card"),
        ({"entries": [{"keys": ["a"], "content": "b"}]}, "lorebook"),
        ({"spec": "lorebook_v3", "data": {"entries": []}}, "lorebook"),
        ({"spec": "something_else", "data": {}}, "not a character card"),
        ({"spec": 2, "data": {"name": "x"}}, "not a character card"),
        ({"spec": "chara_card_v2", "spec_version": "2.0"}, "no 'data' object"),
        ({"spec": "chara_card_v3", "data": "Alice"}, "no 'data' object"),
    ],
)
def test_json_that_is_not_a_card(document: object, fragment: str) -> None:
    refused(json.dumps(document).encode(), fragment, filename="card.json")


@pytest.mark.parametrize(
    "document",
    [
        {**V1_DOCUMENT, "name": ""},
        {k: v for k, v in V1_DOCUMENT.items() if k != "name"},
        {**V1_DOCUMENT, "name": "   \n"},
        {**V1_DOCUMENT, "name": None},
        v2_document(name=""),
        {"spec": "chara_card_v3", "spec_version": "3.0", "data": {"description": "nameless"}},
    ],
    ids=["v1-empty", "v1-missing", "v1-blank", "v1-null", "v2-empty", "v3-missing"],
)
def test_card_without_a_name(document: dict[str, Any]) -> None:
    refused(to_json(document), "has no name")


def test_name_in_png_without_a_name() -> None:
    refused(card_png(b64(v3_document(name=""))), "has no name")


@pytest.mark.parametrize(
    ("spec", "version"),
    [
        ("chara_card_v4", "4.0"),
        ("chara_card_v3", "4.0"),
        ("chara_card_v3", "2.0"),
        ("chara_card_v2", "3.0"),
        ("chara_card_v2", "two"),
        ("chara_card_v2", True),
    ],
)
def test_unsupported_spec_version(spec: str, version: object) -> None:
    document = {"spec": spec, "spec_version": version, "data": {"name": "Future"}}
    refused(to_json(document), "doesn't support")


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("tags", {"a": 1}, "field 'data.tags' is not valid"),
        ("description", ["a", "b"], "field 'data.description' is not valid: expected text"),
        ("extensions", "nope", "field 'data.extensions' is not valid"),
        ("character_book", [1, 2], "field 'data.character_book' is not valid"),
        ("creation_date", "yesterday", "field 'data.creation_date"),
        ("assets", [{"type": "icon", "uri": ["x"]}], "field 'data.assets.0.uri' is not valid"),
    ],
)
def test_fields_of_the_wrong_type(field: str, value: object, fragment: str) -> None:
    refused(to_json(v3_document(**{field: value})), fragment)


def test_wrong_type_deep_in_the_lorebook() -> None:
    book = {"entries": [{"keys": ["a"], "content": "ok"}, {"keys": ["b"], "content": {"x": 1}}]}
    refused(to_json(v2_document(character_book=book)), "data.character_book.entries.1.content")


# --- absurd sizes -------------------------------------------------------------------------


TOO_LONG = MAX_TEXT_CHARS + 1
TOO_MANY = MAX_LIST_ITEMS + 1


def book(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"character_book": {"entries": list(entries)}}


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"name": "N" * (MAX_NAME_CHARS + 1)}, "name is too long"),
        ({"name": "Two\nlines"}, "one line of text"),
        ({"description": "d" * TOO_LONG}, "description is too long: 100,001 characters"),
        ({"first_mes": "f" * TOO_LONG}, "first message (first_mes) is too long"),
        ({"alternate_greetings": ["hi"] * TOO_MANY}, "too many alternate greetings"),
        ({"alternate_greetings": ["", "g" * TOO_LONG]}, "alternate greeting 2 is too long"),
        ({"tags": ["t"] * TOO_MANY}, "too many tags"),
        ({"nickname": "n" * TOO_LONG}, "nickname is too long"),
        (
            book(*[{"keys": ["k"], "content": "c"}] * (MAX_LORE_ENTRIES + 1)),
            "lorebook has too many entries: 1,001",
        ),
        (book({"keys": ["k"], "content": "c" * TOO_LONG}), "lorebook entry 1 content is too long"),
        (book({"keys": ["k"] * TOO_MANY, "content": ""}), "too many keys in lorebook entry 1"),
        (
            {
                "alternate_greetings": ["g" * MAX_TEXT_CHARS]
                * (MAX_TOTAL_CHARS // MAX_TEXT_CHARS + 1)
            },
            "too large overall",
        ),
        ({"extensions": {"blob": "x" * (MAX_TOTAL_CHARS + 1)}}, "too large overall"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_fields_of_absurd_size(changes: dict[str, Any], fragment: str) -> None:
    refused(to_json(v3_document(**changes)), fragment)


def test_card_json_over_its_own_limit_inside_a_png() -> None:
    # The file is small enough; the base64 in it claims more JSON than any card may have.
    compressed = zlib.compress(b"A" * (23 * 1024 * 1024))
    info = PngImagePlugin.PngInfo()
    info.add(b"zTXt", b"chara\0\0" + compressed)
    buffer = io.BytesIO()
    Image.new("L", (4, 4)).save(buffer, format="PNG", pnginfo=info)
    refused(buffer.getvalue(), "too large")


def test_building_an_absurd_card_in_code_is_refused_too() -> None:
    with pytest.raises(InvalidInput, match="has no name"):
        CharacterCard(name=" ")
    too_many = tuple(LoreEntry(keys=("k",)) for _ in range(MAX_LORE_ENTRIES + 1))
    with pytest.raises(InvalidInput, match="too many entries"):
        CharacterCard(name="Big", character_book=LoreBook(entries=too_many))


def test_export_refuses_an_unreadable_avatar() -> None:
    card = CharacterCard(name="Broken", avatar_png=b"\x89PNG\r\n\x1a\nnope")
    with pytest.raises(InvalidInput, match="avatar image could not be read"):
        export_card_png(card, 2)


# --- decompression bombs ------------------------------------------------------------------


@pytest.fixture
def fast() -> Iterator[None]:
    start = time.perf_counter()
    yield
    assert time.perf_counter() - start < 2.0, "a bomb must be refused quickly"


@pytest.mark.parametrize(
    ("width", "height"),
    [(5000, 5000), (100_000, 100_000), (2**31 - 1, 2**31 - 1), (1, 20_000_000)],
)
@pytest.mark.usefixtures("fast")
@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_tiny_png_claiming_huge_dimensions(width: int, height: int) -> None:
    png = raw_png(width, height, chunk(b"tEXt", b"chara\0" + b64(V1_DOCUMENT).encode()))
    assert len(png) < 50_000
    refused(png, "too large")


@pytest.fixture(scope="module")
def gigabyte_of_zeros() -> bytes:
    return zlib_bomb(1024)


@pytest.mark.parametrize("chunk_type", ["zTXt", "iTXt"])
@pytest.mark.parametrize("after_image_data", [False, True])
@pytest.mark.usefixtures("fast")
def test_text_chunk_that_inflates_to_a_gigabyte(
    gigabyte_of_zeros: bytes, chunk_type: str, after_image_data: bool
) -> None:
    if chunk_type == "zTXt":
        bomb = chunk(b"zTXt", b"chara\0\0" + gigabyte_of_zeros)
    else:
        bomb = chunk(b"iTXt", b"chara\0\x01\x00\0\0" + gigabyte_of_zeros)
    assert len(bomb) < 1_200_000
    if after_image_data:
        png = raw_png(4, 4)
        png = png[:-12] + bomb + png[-12:]
    else:
        png = raw_png(4, 4, bomb)
    refused(png, "embedded text is too large")


@pytest.mark.usefixtures("fast")
def test_many_text_chunks_that_inflate_past_the_total_text_limit() -> None:
    each = zlib_bomb(20)  # 20 MiB each: under the one-chunk limit, over the total by the 4th
    chunks = [chunk(b"zTXt", f"note{i}".encode() + b"\0\0" + each) for i in range(4)]
    refused(raw_png(4, 4, *chunks), "embedded text is too large")


@pytest.mark.usefixtures("fast")
def test_animation_claiming_a_million_frames() -> None:
    actl = chunk(b"acTL", struct.pack(">II", 1_000_000, 0))
    fctl = chunk(b"fcTL", struct.pack(">IIIIIHHBB", 0, 64, 64, 0, 0, 1, 10, 0, 0))
    idat = zlib.compress(b"\0" * (65 * 64))
    refused(raw_png(64, 64, actl, fctl, idat=idat), "animated image is too large")
