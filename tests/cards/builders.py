"""Cards, card documents and PNG files built by hand for the card tests.

The documents here are written out field by field, not produced by ``bot.cards.export``, so
import is tested against what other apps write rather than against our own exporter.
Malicious PNGs (huge dimensions, bombs) are written chunk by chunk with Pillow's ``putchunk``,
which computes the CRCs.
"""

from __future__ import annotations

import base64
import copy
import io
import json
import struct
from typing import Any, Literal

from PIL import Image, PngImagePlugin

from testkit.png_files import PNG_SIGNATURE, chunk

ENTRY_V2: dict[str, Any] = {
    "keys": ["castle", "keep"],
    "content": "The castle of {{char}} stands on a cliff.",
    "extensions": {"position": 0, "depth": 4, "probability": 100, "x/unknown": {"deep": [1, 2]}},
    "enabled": True,
    "insertion_order": 100,
    "case_sensitive": False,
    "name": "Castle",
    "priority": 10,
    "id": 7,
    "comment": "the keep",
    "selective": True,
    "secondary_keys": ["gate", "tower"],
    "constant": False,
    "position": "after_char",
}

ENTRY_V2_MINIMAL: dict[str, Any] = {
    "keys": ["moon"],
    "content": "Two moons.",
    "extensions": {},
    "enabled": False,
    "insertion_order": 5,
}

BOOK_V2: dict[str, Any] = {
    "name": "Alice's world",
    "description": "Places and people",
    "scan_depth": 3,
    "token_budget": 512,
    "recursive_scanning": True,
    "extensions": {"sillytavern/world": "alice", "nested": {"a": [1, 2.5, None, True]}},
    "entries": [ENTRY_V2, ENTRY_V2_MINIMAL],
}

DATA_V2: dict[str, Any] = {
    "name": "Alice",
    "description": "{{char}} is a knight. <BOT> guards {{user}}.",
    "personality": "brave, dry humour",
    "scenario": "{{user}} meets {{char}} at the gate.",
    "first_mes": "*salutes* Halt, {{user}}.",
    "mes_example": "<START>\n{{user}}: hi\n{{char}}: Hello.",
    "creator_notes": "Works best with long replies.",
    "system_prompt": "You are {{char}}. {{original}}",
    "post_history_instructions": "Stay in character. {{original}}",
    "alternate_greetings": ["*waves*", "Oh, it's you, {{user}}. Again."],
    "character_book": BOOK_V2,
    "tags": ["fantasy", "knight", "female"],
    "creator": "someone",
    "character_version": "1.2",
    "extensions": {
        "talkativeness": "0.5",
        "fav": False,
        "world": "alice",
        "depth_prompt": {"prompt": "be brief", "depth": 4, "role": "system"},
        "x-unknown-app": {"list": [1, "two", {"three": 3.0}], "null": None},
    },
}

# Every V3 field; the V3 entry adds use_regex and a string id.
ENTRY_V3: dict[str, Any] = {**ENTRY_V2, "use_regex": True, "id": "entry-7"}
BOOK_V3: dict[str, Any] = {
    **BOOK_V2,
    "entries": [ENTRY_V3, {**ENTRY_V2_MINIMAL, "use_regex": False}],
}
DATA_V3: dict[str, Any] = {
    **DATA_V2,
    "character_book": BOOK_V3,
    "nickname": "Ali",
    "creator_notes_multilingual": {
        "en": "Works best with long replies.",
        "fr": "Réponses longues.",
    },
    "source": ["https://example.org/alice", "id:1234"],
    "group_only_greetings": ["*nods to everyone*"],
    "creation_date": 1700000000,
    "modification_date": 1710000000,
    "assets": [
        {"type": "icon", "uri": "ccdefault:", "name": "main", "ext": "png"},
        {"type": "background", "uri": "https://example.org/bg.webp", "name": "main", "ext": "webp"},
    ],
}

V1_DOCUMENT: dict[str, Any] = {
    "name": "Bob",
    "description": "{{char}} is a baker.",
    "personality": "cheerful",
    "scenario": "A bakery at dawn.",
    "first_mes": "Fresh bread, {{user}}?",
    "mes_example": "<START>\n<USER>: hi\n<BOT>: Morning!",
}


def v2_document(**data_changes: Any) -> dict[str, Any]:
    """A V2 card document (root V1 mirror included, as SillyTavern writes it)."""
    data = copy.deepcopy(DATA_V2)
    data.update(data_changes)
    return _document("chara_card_v2", "2.0", data)


def v3_document(**data_changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(DATA_V3)
    data.update(data_changes)
    return _document("chara_card_v3", "3.0", data)


def _document(spec: str, version: str, data: dict[str, Any]) -> dict[str, Any]:
    root = {k: data[k] for k in V1_DOCUMENT if k in data}
    return {**root, "spec": spec, "spec_version": version, "data": data}


def to_json(document: object) -> bytes:
    return json.dumps(document, ensure_ascii=False).encode("utf-8")


def b64(document: object) -> str:
    return base64.b64encode(to_json(document)).decode("ascii")


ChunkKind = Literal["tEXt", "zTXt", "iTXt"]


def image_png(
    size: tuple[int, int] = (24, 32),
    mode: str = "RGB",
    chunks: list[tuple[str, str, ChunkKind]] | None = None,
) -> bytes:
    """A small gradient image with the given text chunks (written before the image data)."""
    img = gradient(size, mode)
    info = PngImagePlugin.PngInfo()
    for keyword, value, kind in chunks or []:
        if kind == "iTXt":
            info.add_itxt(keyword, value, zip=True)
        else:
            info.add_text(keyword, value, zip=kind == "zTXt")
    params: dict[str, Any] = {}
    if mode == "P":
        params["transparency"] = 0
    buffer = io.BytesIO()
    img.save(buffer, format="PNG", pnginfo=info, **params)
    return buffer.getvalue()


def gradient(size: tuple[int, int], mode: str) -> Image.Image:
    width, height = size
    img = Image.new("RGBA", size)
    img.putdata(
        [
            (x * 255 // width, y * 255 // height, (x + y) % 256, 128 + x % 128)
            for y in range(height)
            for x in range(width)
        ]
    )
    if mode == "P":
        return img.convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    if mode == "I;16":
        return img.convert("L").convert("I;16")
    return img.convert(mode)


def text_chunk(keyword: str, value: str) -> bytes:
    return chunk(b"tEXt", keyword.encode("latin-1") + b"\0" + value.encode("latin-1"))


def insert_before_iend(png: bytes, *chunks: bytes) -> bytes:
    """Chunks placed after the image data, where SillyTavern writes its card chunks."""
    assert png.endswith(chunk(b"IEND", b""))
    return png[:-12] + b"".join(chunks) + png[-12:]


def png_text(png: bytes) -> dict[str, str]:
    """All text chunks of a PNG, as Pillow reads them."""
    with Image.open(io.BytesIO(png)) as img:
        img.load()
        return dict(img.text)


def split_chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    """(type, payload) of every chunk of a well-formed PNG; for fuzzing tests only."""
    assert png.startswith(PNG_SIGNATURE)
    chunks, pos = [], len(PNG_SIGNATURE)
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        chunks.append((png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    return chunks


def join_chunks(chunks: list[tuple[bytes, bytes]]) -> bytes:
    """A PNG from (type, payload) pairs, every CRC correct."""
    return PNG_SIGNATURE + b"".join(chunk(cid, payload) for cid, payload in chunks)
