"""Cards out again: V2 or V3, as JSON bytes or as a PNG with the card embedded.

The V2 document also carries the V3-only fields a card has (nickname, group-only greetings,
...) inside ``data``: V2 readers ignore keys they do not know, and nothing is lost. Both
documents repeat the six V1 fields at the root, as SillyTavern does, for V1-only readers.

A V2 PNG has a ``chara`` chunk; a V3 PNG has ``chara`` (the V2 document) and ``ccv3`` (the V3
document), exactly what SillyTavern writes, so older apps still read it.
"""

from __future__ import annotations

import base64
from typing import Literal

from pydantic import JsonValue

from bot.cards.json_text import encode_json
from bot.cards.model import CharacterCard, LoreBook, LoreEntry
from bot.cards.png_chunks import encode_png, open_avatar, placeholder_image

CardVersion = Literal[2, 3]
_SPEC = {2: ("chara_card_v2", "2.0"), 3: ("chara_card_v3", "3.0")}
_V1_FIELDS = ("name", "description", "personality", "scenario", "first_mes", "mes_example")


def export_card_json(card: CharacterCard, version: CardVersion) -> bytes:
    """The card as a V2 or V3 JSON document (UTF-8, indented)."""
    return encode_json(card_file_json(card, version), indent=2) + b"\n"


def export_card_png(card: CharacterCard, version: CardVersion) -> bytes:
    """The card's avatar (or a plain placeholder) as PNG with the card embedded.

    V2 writes a ``chara`` chunk; V3 writes ``chara`` (V2-compatible) and ``ccv3``.
    Raises InvalidInput if ``card.avatar_png`` is not an image Pillow can read.
    """
    if card.avatar_png is None:
        image = placeholder_image(card.name)
    else:
        image = open_avatar(card.avatar_png)
    chunks = [("chara", _base64_json(card_file_json(card, 2)))]
    if _checked(version) == 3:
        chunks.append(("ccv3", _base64_json(card_file_json(card, 3))))
    return encode_png(image, chunks)


def card_file_json(card: CharacterCard, version: CardVersion) -> dict[str, JsonValue]:
    """The JSON a V2 or V3 card file holds (the PNG's chunks hold it base64-encoded), as
    Python values: the card spec's document, not what a character keeps of its card
    (bot.characters.card_io.kept_card_json)."""
    spec, spec_version = _SPEC[_checked(version)]
    data = _data(card, version)
    document: dict[str, JsonValue] = {"spec": spec, "spec_version": spec_version}
    document.update({field: data[field] for field in _V1_FIELDS})
    document["data"] = data
    return document


def _checked(version: int) -> CardVersion:
    if version not in (2, 3):
        raise ValueError(f"cards export as version 2 or 3, not {version!r}")
    return 2 if version == 2 else 3


def _base64_json(document: dict[str, JsonValue]) -> str:
    return base64.b64encode(encode_json(document)).decode("ascii")


def _data(card: CharacterCard, version: CardVersion) -> dict[str, JsonValue]:
    data: dict[str, JsonValue] = {
        "name": card.name,
        "description": card.description,
        "personality": card.personality,
        "scenario": card.scenario,
        "first_mes": card.first_mes,
        "mes_example": card.mes_example,
        "creator_notes": card.creator_notes,
        "system_prompt": card.system_prompt,
        "post_history_instructions": card.post_history_instructions,
        "alternate_greetings": list(card.alternate_greetings),
    }
    if card.character_book is not None:
        data["character_book"] = _book(card.character_book, version)
    data["tags"] = list(card.tags)
    data["creator"] = card.creator
    data["character_version"] = card.character_version
    data["extensions"] = card.extensions
    # group_only_greetings is required in V3; in V2 it is written only when there are some.
    if version == 3 or card.group_only_greetings:
        data["group_only_greetings"] = list(card.group_only_greetings)
    _put_optional(data, "nickname", card.nickname)
    notes = card.creator_notes_multilingual
    _put_optional(data, "creator_notes_multilingual", None if notes is None else dict(notes))
    _put_optional(data, "source", None if card.source is None else list(card.source))
    _put_optional(data, "creation_date", card.creation_date)
    _put_optional(data, "modification_date", card.modification_date)
    if card.assets is not None:
        data["assets"] = [asset.model_dump() for asset in card.assets]
    return _with_extra(data, card.extra_fields)


def _book(book: LoreBook, version: CardVersion) -> dict[str, JsonValue]:
    data: dict[str, JsonValue] = {}
    _put_optional(data, "name", book.name)
    _put_optional(data, "description", book.description)
    _put_optional(data, "scan_depth", book.scan_depth)
    _put_optional(data, "token_budget", book.token_budget)
    _put_optional(data, "recursive_scanning", book.recursive_scanning)
    data["extensions"] = book.extensions
    data["entries"] = [_entry(entry, version) for entry in book.entries]
    return _with_extra(data, book.extra_fields)


def _entry(entry: LoreEntry, version: CardVersion) -> dict[str, JsonValue]:
    data: dict[str, JsonValue] = {
        "keys": list(entry.keys),
        "content": entry.content,
        "extensions": entry.extensions,
        "enabled": entry.enabled,
        "insertion_order": entry.insertion_order,
    }
    _put_optional(data, "case_sensitive", entry.case_sensitive)
    # use_regex is required in V3 and unknown to V2, where it is written only when true.
    if version == 3 or entry.use_regex:
        data["use_regex"] = entry.use_regex
    _put_optional(data, "constant", entry.constant)
    _put_optional(data, "name", entry.name)
    _put_optional(data, "priority", entry.priority)
    _put_optional(data, "id", entry.id)
    _put_optional(data, "comment", entry.comment)
    _put_optional(data, "selective", entry.selective)
    _put_optional(
        data,
        "secondary_keys",
        None if entry.secondary_keys is None else list(entry.secondary_keys),
    )
    _put_optional(data, "position", entry.position)
    return _with_extra(data, entry.extra_fields)


def _put_optional(data: dict[str, JsonValue], key: str, value: JsonValue) -> None:
    # Optional spec fields the card did not have stay absent rather than becoming null.
    if value is not None:
        data[key] = value


def _with_extra(data: dict[str, JsonValue], extra: dict[str, JsonValue]) -> dict[str, JsonValue]:
    # Keys no spec names go back where they came from; a known field always wins a clash.
    for key, value in extra.items():
        data.setdefault(key, value)
    return data
