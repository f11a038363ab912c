"""``parse_card``: the bytes of a character card (PNG, WebP, CHARX, JSON), any spec version, to a
CharacterCard.

Everything that can go wrong with an uploaded file ends as ``InvalidInput`` carrying a
sentence that names the problem; nothing from Pillow, pydantic, json or base64 escapes.
Parsing is CPU work: call ``parse_card`` in a worker thread, or await ``import_card_async``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import codecs
import logging
import unicodedata
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

from pydantic import ValidationError

from bot.cards import limits
from bot.cards.containers import looks_like_zip, read_charx, read_webp
from bot.cards.json_text import decode_json
from bot.cards.model import Asset, CharacterCard, LoreBook, LoreEntry, SpecVersion
from bot.cards.png_chunks import CARD_KEYWORDS, DAMAGED_PNG, read_png
from bot.cards.schema import CardData, WireBook, WireEntry, extra_of
from bot.common.images import sniff_format
from bot.errors import InvalidInput

log = logging.getLogger(__name__)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

V1_FIELDS = ("name", "description", "personality", "scenario", "first_mes", "mes_example")
# The older Pygmalion / oobabooga character JSON names the same six things differently.
PYGMALION_FIELDS = {
    "char_name": "name",
    "char_persona": "description",
    "world_scenario": "scenario",
    "char_greeting": "first_mes",
    "example_dialogue": "mes_example",
}
_SPEC_MAJOR = {"chara_card_v2": 2, "chara_card_v3": 3}

_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_URLSAFE_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
# Base64 of the largest card JSON we accept, plus slack for line wrapping.
_MAX_BASE64_BYTES = limits.MAX_CARD_JSON_BYTES * 4 // 3 + 4096

_NOT_A_CARD_FILE = "That file is neither a PNG, WebP or CHARX card nor a JSON character card."
_OTHER_FORMATS = (
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"BM", "a BMP image"),
    (b"%PDF", "a PDF document"),
)


def parse_card(
    data: bytes, filename: str | None = None, *, max_bytes: int = limits.DEFAULT_MAX_BYTES
) -> CharacterCard:
    """Read a character card from the bytes of a PNG, WebP, CHARX or JSON file.

    PNG cards carry base64 JSON in a ``ccv3`` (V3) or ``chara`` (V1/V2) tEXt, zTXt or iTXt
    chunk; ``ccv3`` wins when both are there. WebP cards (TavernAI 1.x) carry it in EXIF
    UserComment; CHARX is the V3 zip with ``card.json`` (also after a JPEG). JSON cards may
    be V1 (flat), V2 or V3.
    ``filename`` only sharpens error messages. Raises ``InvalidInput`` for anything that is
    not a readable card within the limits of ``bot.cards.limits``.
    """
    blob = bytes(data)
    if len(blob) > max_bytes:
        raise InvalidInput(
            f"That file is {_size(len(blob))}, over the {_size(max_bytes)} limit for "
            "character cards."
        )
    if not blob:
        raise InvalidInput("That file is empty.")
    if _is_png(blob):
        return _card_from_png(blob)
    if looks_like_zip(blob):
        found = read_charx(blob)
        return card_from_json(found.document, avatar_png=found.image_png)
    if sniff_format(blob) == "WEBP":
        found = read_webp(blob)
        return card_from_json(
            decode_json(_chunk_json(found.raw, "UserComment", "WebP image")),
            avatar_png=found.image_png,
        )
    if _is_json(blob, filename):
        return card_from_json(decode_json(blob))
    raise InvalidInput(_not_a_card_message(blob, filename))


async def import_card_async(
    data: bytes, filename: str | None = None, *, max_bytes: int = limits.DEFAULT_MAX_BYTES
) -> CharacterCard:
    """``parse_card`` in a worker thread, so decoding a big PNG never blocks the event loop."""
    return await asyncio.to_thread(parse_card, data, filename, max_bytes=max_bytes)


def card_from_json(document: object, avatar_png: bytes | None = None) -> CharacterCard:
    """Map a decoded card JSON document (any version) to a CharacterCard."""
    if not isinstance(document, dict):
        kind = "a list" if isinstance(document, list) else "a single value"
        raise InvalidInput(f"That JSON is not a character card: it is {kind}, not an object.")
    version, data, where = _locate_data(document)
    _check_entry_count(data)
    try:
        wire = CardData.model_validate(data)
    except ValidationError as e:
        raise InvalidInput(_validation_message(e, where)) from None
    try:
        return _to_card(wire, version, avatar_png)
    except ValidationError as e:  # defensive: the wire schema already produced valid types
        raise InvalidInput(_validation_message(e, where)) from None


def _check_entry_count(data: dict[str, Any]) -> None:
    """Refuse an over-long lorebook before a model is built for each of its entries."""
    book = data.get("character_book")
    entries = book.get("entries") if isinstance(book, dict) else None
    if isinstance(entries, list | dict) and len(entries) > limits.MAX_LORE_ENTRIES:
        raise InvalidInput(
            f"The character card's lorebook has too many entries: {len(entries):,} "
            f"(the limit is {limits.MAX_LORE_ENTRIES:,})."
        )


def _card_from_png(blob: bytes) -> CharacterCard:
    found = read_png(blob)
    if not found.chunks:
        raise InvalidInput(
            "That PNG image has no character card in it (no 'chara' or 'ccv3' metadata). "
            "It may have been re-saved by an app that strips image metadata."
        )
    first_error: InvalidInput | None = None
    for keyword in CARD_KEYWORDS:
        raw = found.chunks.get(keyword)
        if raw is None:
            continue
        try:
            document = decode_json(_chunk_json(raw, keyword))
            card = card_from_json(document, avatar_png=found.avatar_png)
        except InvalidInput as e:
            # A broken ccv3 next to a good chara chunk still gives the user their card.
            first_error = first_error or e
            continue
        if first_error is not None:
            log.info(
                "Card PNG: the %s chunk could not be read, so the %s chunk was used instead",
                CARD_KEYWORDS[0],
                keyword,
            )
        return card
    assert first_error is not None  # chunks was not empty, so one keyword was tried
    raise first_error


def _chunk_json(raw: bytes, keyword: str, container: str = "PNG") -> bytes:
    """The JSON bytes inside a card chunk: base64 per the specs, raw JSON from a few tools."""
    stripped = raw.strip()
    if stripped.startswith(b"{"):
        return stripped
    if len(stripped) > _MAX_BASE64_BYTES:  # before decoding: base64 is 4/3 of its JSON
        raise InvalidInput(
            f"The character card data in that {container} is too large "
            f"(the limit is {_size(limits.MAX_CARD_JSON_BYTES)} of JSON)."
        )
    # Some writers wrap lines, drop the padding or use the URL-safe alphabet.
    compact = b"".join(stripped.split()).translate(_URLSAFE_TO_STANDARD)
    compact += b"=" * (-len(compact) % 4)
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(
            f"The character card data in that {container}'s '{keyword}' metadata is not valid "
            "base64."
        ) from None


def _locate_data(document: dict[str, Any]) -> tuple[SpecVersion, dict[str, Any], str]:
    """Which spec the card follows, its character data, and where that sits (for messages)."""
    spec = document.get("spec")
    if spec is None:
        data = document.get("data")
        if isinstance(data, dict) and "name" in data:  # a V2 card whose editor dropped `spec`
            return "2.0", _with_root_fields(data, document), "data."
        if any(k in document for k in (*V1_FIELDS, *PYGMALION_FIELDS)):
            return "1.0", _v1_fields(document), ""
        if "entries" in document:
            raise InvalidInput(_LOREBOOK)
        raise InvalidInput(
            "That JSON is not a character card: it has none of the fields a card has "
            "(such as name, description and first_mes)."
        )
    if not isinstance(spec, str):
        raise InvalidInput("That JSON is not a character card: its 'spec' is not text.")
    key = spec.strip().lower()
    if key == "chara_card_v1":
        return "1.0", _v1_fields(document), ""
    major = _SPEC_MAJOR.get(key)
    if major is None:
        if key.startswith("chara_card_v"):
            raise InvalidInput(_unsupported(spec, document.get("spec_version")))
        if "lorebook" in key or "world" in key:
            raise InvalidInput(_LOREBOOK)
        raise InvalidInput(
            f"That JSON is not a character card: its spec is {_shown(spec)}, not "
            "chara_card_v2 or chara_card_v3."
        )
    _check_spec_version(major, spec, document.get("spec_version"))
    data = document.get("data")
    if not isinstance(data, dict):
        raise InvalidInput(
            f"That card says it is {_shown(spec)} but has no 'data' object with the character."
        )
    version: SpecVersion = "2.0" if major == 2 else "3.0"
    return version, _with_root_fields(data, document), "data."


_LOREBOOK = (
    "That JSON looks like a lorebook (world info), not a character card. Import a character "
    "card (PNG or JSON) instead."
)


def _check_spec_version(major: int, spec: str, raw: object) -> None:
    if raw is None:
        return  # older editors wrote no spec_version
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        raw = str(raw)
    try:
        version = float(raw) if isinstance(raw, str) else float("nan")
    except ValueError:
        version = float("nan")
    # Minor versions are additive by both specs; another major version is another format.
    if not major <= version < major + 1:
        raise InvalidInput(_unsupported(spec, raw))


def _unsupported(spec: str, version: object) -> str:
    shown = _shown(spec) if version is None else f"{_shown(spec)} version {_shown(version)}"
    return (
        f"That card uses character card spec {shown}, which Galatea doesn't support. "
        "Export it from your app as a V2 or V3 card (PNG or JSON) and try again."
    )


def _with_root_fields(data: dict[str, Any], document: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` is canonical; V1 fields only it lacks are taken from the root, as editors do."""
    merged = dict(data)
    for field in V1_FIELDS:
        if field not in merged and field in document:
            merged[field] = document[field]
    return merged


def _v1_fields(document: Mapping[str, Any]) -> dict[str, Any]:
    """The six V1 fields (under their Pygmalion names if need be); other root keys are app
    metadata (chat file, avatar path, talkativeness...) that a card does not carry over."""
    fields = {new: document[old] for old, new in PYGMALION_FIELDS.items() if old in document}
    fields.update({field: document[field] for field in V1_FIELDS if field in document})
    return fields


def _to_card(wire: CardData, version: SpecVersion, avatar_png: bytes | None) -> CharacterCard:
    return CharacterCard(
        name=wire.name,
        description=wire.description,
        personality=wire.personality,
        scenario=wire.scenario,
        first_mes=wire.first_mes,
        mes_example=wire.mes_example,
        alternate_greetings=wire.alternate_greetings,
        system_prompt=wire.system_prompt,
        post_history_instructions=wire.post_history_instructions,
        creator_notes=wire.creator_notes,
        tags=wire.tags,
        creator=wire.creator,
        character_version=wire.character_version,
        character_book=None if wire.character_book is None else _to_book(wire.character_book),
        extensions=wire.extensions,
        nickname=wire.nickname,
        creator_notes_multilingual=wire.creator_notes_multilingual,
        source=wire.source,
        group_only_greetings=wire.group_only_greetings,
        creation_date=wire.creation_date,
        modification_date=wire.modification_date,
        assets=None
        if wire.assets is None
        else tuple(Asset.model_validate(a.model_dump()) for a in wire.assets),
        extra_fields=extra_of(wire),
        spec_version=version,
        avatar_png=avatar_png,
    )


def _to_book(book: WireBook) -> LoreBook:
    if len(book.entries) > limits.MAX_LORE_ENTRIES:  # before building a model per entry
        raise InvalidInput(
            f"The character card's lorebook has too many entries: {len(book.entries):,} "
            f"(the limit is {limits.MAX_LORE_ENTRIES:,})."
        )
    return LoreBook(
        name=book.name,
        description=book.description,
        scan_depth=book.scan_depth,
        token_budget=book.token_budget,
        recursive_scanning=book.recursive_scanning,
        extensions=book.extensions,
        entries=tuple(_to_entry(e) for e in book.entries),
        extra_fields=extra_of(book),
    )


def _to_entry(entry: WireEntry) -> LoreEntry:
    fields = entry.model_dump(exclude=set(entry.model_extra or ()))
    return LoreEntry.model_validate({**fields, "extra_fields": extra_of(entry)})


def _validation_message(error: ValidationError, where: str) -> str:
    first = error.errors(include_url=False, include_input=False, include_context=False)[0]
    path = ".".join(str(part) for part in first["loc"])
    problem = first["msg"].removeprefix("Value error, ")
    problem = problem[:1].lower() + problem[1:]
    return f"The character card's field {_shown(where + path)} is not valid: {problem}."


def _is_png(blob: bytes) -> bool:
    if blob.startswith(PNG_SIGNATURE):
        return True
    if PNG_SIGNATURE.startswith(blob[:8]):  # a PNG cut off inside its own signature
        raise InvalidInput(DAMAGED_PNG)
    return False


def _is_json(blob: bytes, filename: str | None) -> bool:
    if blob.startswith(_UTF16_BOMS):
        return True
    first = blob.removeprefix(codecs.BOM_UTF8).lstrip(b" \t\r\n")[:1]
    return first in (b"{", b"[") or _suffix(filename) == ".json"


def _not_a_card_message(blob: bytes, filename: str | None) -> str:
    suffix = _suffix(filename)
    if suffix == ".charx":
        return "That file is named like a CHARX card but is not a zip archive."
    kind = next((name for magic, name in _OTHER_FORMATS if blob.startswith(magic)), None)
    if kind is not None:
        return (
            f"That file is {kind} without a card in it; character cards are PNG or WebP images "
            "with the card embedded, CHARX files, or JSON files."
        )
    if suffix == ".png":
        return "That file is named like a PNG but is not a PNG image."
    return _NOT_A_CARD_FILE


def _suffix(filename: str | None) -> str:
    return PurePath(filename).suffix.lower() if filename else ""


def _shown(value: object) -> str:
    """A user-supplied value made safe to quote in a message: one short line, no markdown."""
    text = "".join(c for c in str(value) if unicodedata.category(c)[0] != "C")
    text = text.replace("`", "'")
    return f"'{text[:60]}…'" if len(text) > 60 else f"'{text}'"


def _size(n: int) -> str:
    if n >= limits.MIB:
        return f"{n / limits.MIB:.1f} MiB"
    if n >= 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n} bytes"
