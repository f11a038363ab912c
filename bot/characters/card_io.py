"""Between character cards and Galatea's characters: what an import stores, what an export writes.

A card (``bot.cards.CharacterCard``) is the file's document; a character is Galatea's. An
imported character keeps the card it came from: the fields Galatea uses (those with a
``card_key`` in ``bot.values.CHARACTER_FIELDS``) become the character's own, editable
fields, the lorebook goes to the lore tables, and the rest of the card is kept as JSON
(``kept_card_json``). An export starts from that kept JSON and lays the character's current
fields over it, so a card that was not edited comes out exactly as it went in, and an edited
one carries the edits. A character made in Discord exports as a card built from its fields.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from bot.cards import CharacterCard, LoreBook
from bot.characters.fields import CARD_FIELDS
from bot.characters.lookalike import visible_name
from bot.values import CharacterFields, FieldKind, FieldSpec

CardFormat = Literal["png", "json"]
DEFAULT_TALKATIVENESS = 0.5  # SillyTavern's and Galatea's default
# Fields that live elsewhere: the image in the characters table, the lorebook in its own.
_NOT_KEPT = {"avatar_png", "character_book"}


def kept_card_json(card: CharacterCard) -> dict[str, Any]:
    """What a character keeps of the card it was imported from, as JSON: everything but its
    image and lorebook (the store holds it; ``card_for_export`` reads it back)."""
    return card.model_dump(mode="json", exclude=_NOT_KEPT)


def card_texts(card: CharacterCard) -> dict[str, Any]:
    """The character fields a card gives, by field name: its name, persona (description and
    personality together), greetings, scenario, examples and prompts."""
    return {spec.name: getattr(card, _card_key(spec)) for spec in CARD_FIELDS}


def lives_outside_persona(card: CharacterCard) -> bool:
    """A lorebook-only card: the character lives in its book, scenario or first message, so
    it needs no persona."""
    return bool(
        card.first_mes.strip()
        or card.scenario.strip()
        or (card.character_book is not None and card.character_book.entries)
    )


def card_for_export(
    character: CharacterFields,
    kept: dict[str, Any] | None,
    book: LoreBook | None,
    avatar_png: bytes | None,
) -> CharacterCard:
    """The card to export for ``character``: the card JSON it kept with the current fields
    over it (or a card built from the fields alone), its lorebook and its avatar."""
    stored = kept or {}
    original = CharacterCard.model_validate(stored) if kept else None
    fields: dict[str, Any] = {
        _card_key(spec): _kept(original, spec, getattr(character, spec.name))
        for spec in CARD_FIELDS
        if spec.name != "persona"
    }
    if original is None or original.persona.strip() != character.persona:
        # Galatea keeps one persona; an edited one replaces description and personality.
        fields["description"], fields["personality"] = character.persona, ""
    extensions = _with_talkativeness(original, stored.get("extensions"), character.talkativeness)
    if extensions is not None:
        fields["extensions"] = extensions
    return CharacterCard.model_validate(
        {**stored, **fields, "character_book": book, "avatar_png": avatar_png}
    )


def card_talkativeness(card: CharacterCard) -> float:
    """``data.extensions.talkativeness`` (SillyTavern writes "0.5" or 0.5), within 0-1; the
    default 0.5 when absent or unreadable."""
    raw = card.extensions.get("talkativeness")
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        return DEFAULT_TALKATIVENESS
    try:
        value = float(raw)
    except ValueError:
        return DEFAULT_TALKATIVENESS
    if value != value:  # NaN
        return DEFAULT_TALKATIVENESS
    return min(1.0, max(0.0, value))


def _with_talkativeness(
    original: CharacterCard | None, extensions: Any, talkativeness: float
) -> dict[str, Any] | None:
    """The card's extensions with the character's talkativeness, or None to keep them as they
    are (an unchanged value keeps the card's own spelling of it, "0.5" or 0.5)."""
    if original is not None and card_talkativeness(original) == talkativeness:
        return None
    current = dict(extensions) if isinstance(extensions, dict) else {}
    was_number = isinstance(current.get("talkativeness"), int | float) and not isinstance(
        current.get("talkativeness"), bool
    )
    # SillyTavern's own cards hold it as text; a card that held a number gets a number back.
    current["talkativeness"] = talkativeness if was_number else format(talkativeness, "g")
    return current


def export_filename(name: str, fmt: CardFormat) -> str:
    """A file name for an exported card: the character's name, safe on every system."""
    stem = "".join(c if c.isalnum() or c in "-_ " else "_" for c in name).strip()
    return f"{'_'.join(stem.split()) or 'character'}.{fmt}"


def _card_key(spec: FieldSpec) -> str:
    if spec.card_key is None:
        raise ValueError(f"{spec.name} is not on cards")
    return spec.card_key


def _normalized(spec: FieldSpec) -> Callable[[Any], Any]:
    """How Galatea stores a card's value of the field (see bot.characters.validation)."""
    if spec.name == "name":
        return visible_name  # as clean_name stores it
    if spec.kind is FieldKind.TEXTS:
        return lambda texts: tuple(t.strip() for t in texts if t.strip())
    return lambda text: text.strip()


def _kept(original: CharacterCard | None, spec: FieldSpec, current: Any) -> Any:
    """The card's own value while the character still has it (Galatea stores fields trimmed
    and normalised), else the character's current value."""
    if original is None:
        return current
    value = getattr(original, _card_key(spec))
    return value if _normalized(spec)(value) == current else current
