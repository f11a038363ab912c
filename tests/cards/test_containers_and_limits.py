"""WebP and CHARX cards, the bounds on zips and JSON, and the ccv3 / chara fallback."""

from __future__ import annotations

import io
import json
import logging
import struct
import zipfile
import zlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from bot.cards import limits, parse_card
from bot.cards.json_text import _count_values, decode_json
from bot.errors import InvalidInput
from tests.cards.builders import (
    b64,
    chunk,
    gradient,
    image_png,
    insert_before_iend,
    to_json,
    v2_document,
    v3_document,
)


def refused(data: bytes, *fragments: str, filename: str | None = None) -> str:
    with pytest.raises(InvalidInput) as caught:
        parse_card(data, filename)
    for fragment in fragments:
        assert fragment in caught.value.user_message, caught.value.user_message
    return caught.value.user_message


def comparable(card: Any) -> dict[str, Any]:
    return card.model_dump(exclude={"avatar_png", "spec_version"})


def charx(files: dict[str, bytes], *, before: bytes = b"") -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return before + out.getvalue()


def encoded(img: Image.Image, fmt: str, **params: Any) -> bytes:
    out = io.BytesIO()
    img.save(out, format=fmt, **params)
    return out.getvalue()


# --- CHARX --------------------------------------------------------------------------------


def test_charx_card_imports_with_its_main_icon_as_the_image() -> None:
    document = v3_document(
        assets=[
            {
                "type": "icon",
                "uri": "embeded://assets/icon/images/other.png",
                "name": "x",
                "ext": "png",
            },
            {
                "type": "icon",
                "uri": "embeded://assets/icon/images/main.png",
                "name": "main",
                "ext": "png",
            },
        ]
    )
    icon = encoded(gradient((30, 40), "RGB"), "PNG")
    other = encoded(gradient((50, 10), "RGB"), "PNG")
    data = charx(
        {
            "card.json": to_json(document),
            "assets/icon/images/main.png": icon,
            "assets/icon/images/other.png": other,
        }
    )
    card = parse_card(data, "alice.charx")
    assert comparable(card) == comparable(parse_card(to_json(document)))
    assert card.avatar_png is not None
    with Image.open(io.BytesIO(card.avatar_png)) as img:
        assert img.size == (30, 40)


def test_charx_after_a_jpeg_imports_with_the_jpeg_as_the_image() -> None:
    jpeg = encoded(gradient((64, 48), "RGB"), "JPEG")
    data = charx({"card.json": to_json(v2_document(name="Risu"))}, before=jpeg)
    card = parse_card(data, "risu.jpg")
    assert card.name == "Risu"
    assert card.avatar_png is not None
    with Image.open(io.BytesIO(card.avatar_png)) as img:
        assert img.size == (64, 48)


def test_a_plain_jpeg_is_still_refused_as_a_jpeg_without_a_card() -> None:
    refused(encoded(gradient((8, 8), "RGB"), "JPEG"), "a JPEG image without a card")


def test_zip_without_card_json_is_refused_naming_charx() -> None:
    refused(charx({"readme.txt": b"hi"}), "no card.json", "CHARX")


def test_charx_with_too_many_files_is_refused() -> None:
    files = {f"assets/other/{i}.txt": b"" for i in range(1001)}
    refused(charx({"card.json": b"{}", **files}), "too many files")


def test_charx_claiming_a_huge_unpacked_size_is_refused_before_inflating() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        with zf.open("card.json", "w", force_zip64=True) as member:
            for _ in range(300):
                member.write(b" " * limits.MIB)
    refused(out.getvalue(), "unpacks to 300 MiB")


def test_charx_whose_directory_lies_about_the_size_is_refused_as_damaged() -> None:
    # zipfile inflates no more than the size the entry claims (checked against our cap),
    # then finds the checksum wrong: the lie costs nothing.
    bomb = b'{"name": "x", "description": "' + b"a" * (limits.MAX_CARD_JSON_BYTES + 10) + b'"}'
    data = bytearray(charx({"card.json": bomb}))
    # Claim 2 bytes in both the local header and the central directory.
    local = data.index(b"PK\x03\x04")
    data[local + 22 : local + 26] = struct.pack("<I", 2)
    central = data.index(b"PK\x01\x02")
    data[central + 24 : central + 28] = struct.pack("<I", 2)
    refused(bytes(data), "card.json in that CHARX file is damaged")


@pytest.mark.parametrize("name", ["../evil.json", "/etc/passwd", "assets/../../x"])
def test_charx_with_an_unsafe_path_is_refused(name: str) -> None:
    refused(charx({"card.json": to_json(v2_document()), name: b"x"}), "unsafe path")


def test_charx_with_a_broken_card_json_names_the_json_problem() -> None:
    refused(charx({"card.json": b'{"name": '}), "not valid JSON")


# --- WebP (TavernAI 1.x: the card in EXIF UserComment) ------------------------------------


def webp_card(comment: bytes, *, exif_ifd: bool = False) -> bytes:
    exif = Image.Exif()
    if exif_ifd:
        exif.get_ifd(0x8769)[0x9286] = comment
    else:
        exif[0x9286] = comment
    return encoded(gradient((40, 30), "RGB"), "WEBP", exif=exif.tobytes())


@pytest.mark.parametrize(
    "comment",
    [
        to_json(v2_document(name="Tavern")),
        b64(v2_document(name="Tavern")).encode(),
        b"ASCII\0\0\0" + to_json(v2_document(name="Tavern")),
        b"UNICODE\0" + json.dumps(v2_document(name="Tavern")).encode("utf-16-le"),
    ],
    ids=["json", "base64", "ascii-prefix", "unicode-prefix"],
)
@pytest.mark.parametrize("exif_ifd", [False, True], ids=["ifd0", "exif-ifd"])
def test_webp_card_imports_from_its_exif_user_comment(comment: bytes, exif_ifd: bool) -> None:
    card = parse_card(webp_card(comment, exif_ifd=exif_ifd), "tavern.webp")
    assert comparable(card) == comparable(parse_card(to_json(v2_document(name="Tavern"))))
    assert card.avatar_png is not None


def test_webp_without_a_card_is_refused_naming_webp() -> None:
    refused(encoded(gradient((8, 8), "RGB"), "WEBP"), "That WebP image has no character card")


def test_webp_with_broken_base64_names_the_webp_metadata() -> None:
    refused(webp_card(b"not base64 at all!"), "WebP image's 'UserComment'", "not valid base64")


# --- ccv3 and chara ------------------------------------------------------------------------


def test_ccv3_wins_when_the_two_chunks_disagree() -> None:
    png = image_png(
        chunks=[
            ("chara", b64(v2_document(name="Old")), "tEXt"),
            ("ccv3", b64(v3_document(name="New")), "tEXt"),
        ]
    )
    assert parse_card(png).name == "New"


def test_a_broken_ccv3_falls_back_to_chara_with_a_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    png = image_png(
        chunks=[
            ("ccv3", "%%% broken %%%", "tEXt"),
            ("chara", b64(v2_document(name="Kept")), "tEXt"),
        ]
    )
    with caplog.at_level(logging.INFO, logger="bot.cards.parse"):
        card = parse_card(png)
    assert card.name == "Kept"
    assert any("ccv3 chunk could not be read" in r.getMessage() for r in caplog.records)


# --- JSON counted before it is parsed ------------------------------------------------------


def test_json_with_too_many_values_is_refused_before_parsing() -> None:
    document = b'{"name": "x", "extensions": {"a": [' + b"[]," * 400_000 + b"0]}}"
    refused(document, "too many values", filename="card.json")


def test_utf16_json_with_too_many_values_is_refused_too() -> None:
    document = '{"name": "x", "extensions": {"a": [' + "[]," * 400_000 + "0]}}"
    refused(document.encode("utf-16"), "too many values", filename="card.json")


def test_commas_brackets_and_escaped_quotes_inside_text_are_not_counted() -> None:
    text = 'She said \\"a, [b], {c}\\" \\\\' + ", [x], {y}" * 100_000
    raw = ('{"name": "x", "description": "' + text + '"}').encode()
    assert decode_json(raw) == {"name": "x", "description": json.loads(f'"{text}"')}


def test_a_lorebook_with_too_many_entries_is_refused_before_its_entries_are_built() -> None:
    document = v2_document(character_book={"entries": [{}] * (limits.MAX_LORE_ENTRIES + 1)})
    refused(to_json(document), "too many entries: 1,001")


def test_a_png_whose_ztxt_inflates_to_16_mib_of_json_is_refused_before_parsing() -> None:
    # Time and memory are measured in bench/hostile_uploads.py (python -m bench uploads).
    json_text = b'{"name":"x","extensions":{"a":[' + b"[]," * (5 * limits.MIB) + b"0]}}"
    png = image_png(chunks=[])
    bomb = chunk(b"zTXt", b"chara\0\0" + zlib.compress(json_text, 9))
    assert len(bomb) < 100_000
    refused(insert_before_iend(png, bomb), "too many values")


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=40,
)


def values_in(value: object) -> int:
    if isinstance(value, dict):
        return 1 + sum(values_in(v) for v in value.values())
    if isinstance(value, list):
        return 1 + sum(values_in(v) for v in value)
    return 1


@given(JSON_VALUES, st.booleans())
@settings(max_examples=300, deadline=None)
def test_the_value_count_from_the_text_is_never_below_the_real_count(
    value: object, ascii_only: bool
) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only)
    assert _count_values(text.encode("utf-8", "surrogatepass")) >= values_in(value)


def test_charx_with_a_bzip2_card_json_is_refused_before_inflating() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_BZIP2) as zf:
        zf.writestr("card.json", to_json(v2_document()))
    refused(out.getvalue(), "only stored or deflated")


def test_charx_with_a_damaged_deflate_stream_is_refused_as_damaged() -> None:
    data = bytearray(charx({"card.json": to_json(v2_document()) * 3}))
    start = data.index(b"card.json") + len(b"card.json")
    data[start + 5 : start + 40] = bytes(35)  # zero out part of the deflate stream
    refused(bytes(data), "damaged")
