"""Between character cards and Galatea's characters: what an import stores, what an export writes.

An imported character keeps the card it came from: the fields Galatea uses become the
character's own (editable) fields, the lorebook goes to the lore tables, and the whole card
document (less image and lorebook) is kept as it was. An export starts from that document
and lays the character's current fields over it, so a card that was not edited comes out
exactly as it went in, and an edited one carries the edits. A character made in Discord
exports as a card built from its fields.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from bot.cards import CharacterCard, LoreBook
from bot.characters.lookalike import visible_name
from bot.values import Character

CardFormat = Literal["png", "json"]
DEFAULT_TALKATIVENESS = 0.5  # SillyTavern's and Galatea's default
# Fields that live elsewhere: the image in the characters table, the lorebook in its own.
_NOT_IN_DOCUMENT = {"avatar_png", "character_book"}


def card_document(card: CharacterCard) -> dict[str, Any]:
    """What is kept of an imported card, as JSON: everything but its image and lorebook."""
    return card.model_dump(mode="json", exclude=_NOT_IN_DOCUMENT)


def card_for_export(
    character: Character,
    document: dict[str, Any] | None,
    book: LoreBook | None,
    avatar_png: bytes | None,
) -> CharacterCard:
    """The card to export for ``character``: its stored card with the current fields over it
    (or a card built from the fields alone), its lorebook and its avatar."""
    stored = document or {}
    original = CharacterCard.model_validate(stored) if document else None
    fields: dict[str, Any] = {
        "name": _kept(original, "name", character.name, visible_name),  # as clean_name stores it
        "scenario": _kept(original, "scenario", character.scenario),
        "first_mes": _kept(original, "first_mes", character.greeting),
        "mes_example": _kept(original, "mes_example", character.example_dialogue),
        "system_prompt": _kept(original, "system_prompt", character.system_prompt),
        "post_history_instructions": _kept(
            original, "post_history_instructions", character.post_history_instructions
        ),
        "alternate_greetings": _kept(
            original,
            "alternate_greetings",
            character.alternate_greetings,
            lambda greetings: tuple(g.strip() for g in greetings if g.strip()),
        ),
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


def _kept(
    original: CharacterCard | None,
    field: str,
    current: Any,
    normalize: Callable[[Any], Any] = lambda value: value.strip(),
) -> Any:
    """The card's own value while the character still has it (Galatea stores fields trimmed
    and normalised), else the character's current value."""
    if original is None:
        return current
    value = getattr(original, field)
    return value if normalize(value) == current else current
